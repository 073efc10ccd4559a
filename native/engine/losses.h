// The three terms of Gatys et al.'s objective, scaled as jcjohnson/neural-style scales them.
#pragma once

#include <torch/torch.h>

namespace neural_style::losses {

// Feature correlations of a [1, C, H, W] activation, normalised by its C*H*W elements.
inline torch::Tensor gram(const torch::Tensor& features) {
  const auto flat = features.flatten(2).squeeze(0);  // [C, H*W]
  return flat.mm(flat.t()) / features.numel();
}

// Mean squared difference between the activations and the content's activations.
inline torch::Tensor content(const torch::Tensor& features, const torch::Tensor& target) {
  return torch::mse_loss(features, target);
}

// Mean squared difference between the activations' Gram matrix and the style's.
inline torch::Tensor style(const torch::Tensor& features, const torch::Tensor& targetGram) {
  return torch::mse_loss(gram(features), targetGram);
}

// Half the sum of squared differences between each pixel and its right and lower neighbours,
// over the pixels that have both: the loss whose gradient jcjohnson's TVLoss applies.
inline torch::Tensor totalVariation(const torch::Tensor& image) {
  const int64_t h = image.size(2), w = image.size(3);
  using torch::indexing::Slice;
  const auto corner = image.index({Slice(), Slice(), Slice(0, h - 1), Slice(0, w - 1)});
  const auto right = image.index({Slice(), Slice(), Slice(0, h - 1), Slice(1, w)});
  const auto below = image.index({Slice(), Slice(), Slice(1, h), Slice(0, w - 1)});
  return 0.5 * ((corner - right).pow(2).sum() + (corner - below).pow(2).sum());
}

}  // namespace neural_style::losses
