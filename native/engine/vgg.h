// VGG feature extractor: the convolution weights of a TorchScript VGG, run layer by layer so
// that pooling can be swapped and the pass can stop at the deepest layer a loss needs.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "engine.h"

namespace neural_style {

enum class LayerKind { Conv, Relu, Pool };

class Vgg {
 public:
  // Loads `options.path` (or builds random weights) onto `device`.
  Vgg(const ModelOptions& options, const torch::Device& device);

  // RGB in 0..1, shape [1, 3, H, W] -> the network's input space, and back.
  torch::Tensor preprocess(const torch::Tensor& rgb) const;
  torch::Tensor deprocess(const torch::Tensor& input) const;

  // Activations at `layers` for input `x`, computed up to the deepest of them only, in the
  // network's precision, and returned in float32.
  std::map<std::string, torch::Tensor> features(const torch::Tensor& x, const std::vector<std::string>& layers) const;

  // Throws an EngineError of kind ImageTooSmall unless `x` is large enough to reach `layers`: each
  // pooling halves the sides, and needs at least two pixels to pool. `image` is "content" or
  // "style"; `styleIndex`, from 1, tells one of several style images apart (0: the only one).
  void checkSize(const torch::Tensor& x, const std::vector<std::string>& layers, const std::string& image,
                 int styleIndex = 0) const;

  // Gatys et al.'s normalised network: scales each convolution's weights and bias so that each
  // filter's mean activation (after its ReLU) over the `calibration` inputs and their positions
  // is 1, with the next layer's weights scaled back to match, so that every activation is only
  // divided by its filter's mean and no ReLU changes; a filter that never fires is left alone.
  void normalize(const std::vector<torch::Tensor>& calibration);

  // Each layer with its channels, and whether the file recorded its preprocessing.
  std::vector<ModelLayer> describe() const;
  bool preprocessingRecorded() const { return preprocessingRecorded_; }

  // The convolutions in float32, on the CPU, and the preprocessing: what saveVgg19 writes.
  std::vector<Convolution> convolutions() const;
  Preprocessing preprocessing() const { return preprocess_; }

 private:
  struct Layer {
    std::string name;
    LayerKind kind;
    torch::Tensor weight, bias;  // convolutions only
  };

  void loadTorchScript(const std::string& path);
  void buildRandom(uint64_t seed);
  size_t indexOf(const std::string& layer) const;

  std::vector<Layer> layers_;
  Preprocessing preprocess_ = Preprocessing::FromModel;  // once loaded, Torchvision or Caffe
  bool preprocessingRecorded_ = false;                   // in the file's metadata
  bool maxPooling_;
  torch::ScalarType dtype_;
};

}  // namespace neural_style
