// The three terms of Gatys et al.'s objective, scaled as jcjohnson/neural-style scales them.
#pragma once

#include <torch/torch.h>

namespace neural_style::losses {

// F Fᵀ for features F of shape [C, N], in F's precision. Autograd would differentiate the product
// as two matrix products, one for each operand, one of them in a transposed [N, C] layout, and add
// them; the gradient is one product, (dG + dGᵀ) F, in F's own layout, which saves a tenth of an
// iteration at 512 pixels on the CPU. For bfloat16 features both products are bfloat16 ones with
// float32 sums (oneDNN's on the CPU, about four times the speed of OpenBLAS's float32 ones).
struct GramProduct : torch::autograd::Function<GramProduct> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& flat) {
    context->save_for_backward({flat});
    return flat.mm(flat.t());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto flat = context->get_saved_variables()[0];
    const auto& gram = gradients[0];
    return {(gram + gram.t()).to(flat.scalar_type()).mm(flat)};
  }
};

// Feature correlations of a [1, C, H, W] activation, normalised by its C*H*W elements: float32.
inline torch::Tensor gram(const torch::Tensor& features) {
  const auto flat = features.flatten(2).squeeze(0);  // [C, H*W]
  return GramProduct::apply(flat).to(torch::kFloat) / features.numel();
}

// The guided Gram matrix of Gatys et al. 2017: the correlations of the features weighted by a
// [1, 1, H, W] mask, normalised by C times the mask's squared sum, so that a mask of ones gives
// gram(features). A mask that is zero everywhere gives zeros.
inline torch::Tensor guidedGram(const torch::Tensor& features, const torch::Tensor& mask) {
  const auto flat = (features.to(torch::kFloat) * mask).flatten(2).squeeze(0);
  const auto mass = mask.pow(2).sum().clamp_min(1e-8) * features.size(1);
  return GramProduct::apply(flat) / mass;
}

// Mean squared difference between the activations and the content's activations, in float32.
inline torch::Tensor content(const torch::Tensor& features, const torch::Tensor& target) {
  return torch::mse_loss(features.to(torch::kFloat), target);
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
