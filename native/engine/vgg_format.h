// How VGG networks are laid out in the files the engine reads (vgg.cpp) and writes
// (vgg_writer.cpp): VGG-19's layers and their names, and the metadata a file carries.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine.h"
#include "vgg.h"

namespace neural_style {

// The metadata entry a model file may carry to say how its inputs were normalised.
inline constexpr const char* kPreprocessEntry = "neural_style/preprocess";

// VGG-19's convolution widths, block by block; each block ends in a pooling layer.
inline const std::vector<std::vector<int64_t>> kVgg19Blocks = {
    {64, 64}, {128, 128}, {256, 256, 256, 256}, {512, 512, 512, 512}, {512, 512, 512, 512}};

// The first line with text: some of LibTorch's messages start with a newline.
inline std::string firstLine(const std::string& text) {
  const size_t start = std::min(text.find_first_not_of(" \n"), text.size());
  return text.substr(start, text.find('\n', start) - start);
}

inline bool allFinite(const torch::Tensor& tensor) { return torch::isfinite(tensor).all().item<bool>(); }

// The names a model file's metadata gives the preprocessings.
inline std::string nameOf(Preprocessing preprocessing) {
  return preprocessing == Preprocessing::Caffe ? "caffe" : "torchvision";
}

// Calls visit(name, kind, width) for each of VGG-19's layers in order, named the VGG way:
// conv{block}_{n}, relu{block}_{n}, pool{block}; width is a convolution's output channels.
template <typename Visit>
void forEachVgg19Layer(const Visit& visit) {
  for (size_t block = 0; block < kVgg19Blocks.size(); ++block) {
    const std::string suffix = std::to_string(block + 1) + "_";
    for (size_t i = 0; i < kVgg19Blocks[block].size(); ++i) {
      visit("conv" + suffix + std::to_string(i + 1), LayerKind::Conv, kVgg19Blocks[block][i]);
      visit("relu" + suffix + std::to_string(i + 1), LayerKind::Relu, int64_t{0});
    }
    visit("pool" + std::to_string(block + 1), LayerKind::Pool, int64_t{0});
  }
}

}  // namespace neural_style
