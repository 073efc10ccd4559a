// The objective of Gatys et al.: content loss at the content layers, style loss between Gram
// matrices at the style layers, and total variation, weighted and summed.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "engine.h"
#include "vgg.h"

namespace neural_style {

// The total loss, to differentiate, and its terms' values.
struct Terms {
  torch::Tensor total;
  Losses values;
};

class Objective {
 public:
  // Computes the content activations and the blended style Gram matrices once. With `masks`
  // ([1, 1, H, W] at the content's size, one per style), each style is matched within its mask
  // by guided Gram matrices instead of being blended.
  Objective(const Vgg& vgg, const LossOptions& options, const torch::Tensor& content,
            const std::vector<torch::Tensor>& styles, const std::vector<torch::Tensor>& masks = {});

  Terms operator()(const torch::Tensor& image) const;

 private:
  torch::Tensor normalized(const torch::Tensor& activation, double weight) const;
  double layerScale(size_t layer, int64_t channels) const;

  const Vgg& vgg_;
  const LossOptions& options_;
  std::vector<std::string> layers_;
  std::vector<torch::Tensor> contentTargets_;
  std::vector<torch::Tensor> styleTargets_;
  std::vector<double> styleScales_;  // each style layer's weight and normalisation
  // With masks: for each style layer, each style's Gram matrix and its mask at the layer's size.
  std::vector<std::vector<std::pair<torch::Tensor, torch::Tensor>>> guided_;
};

}  // namespace neural_style
