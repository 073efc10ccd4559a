// Keeping the content image's colours (jcjohnson/neural-style's -original_colors): the result
// takes its luminance from the stylized image and its chrominance from the content, in the YUV
// space of ITU-R BT.601.
#pragma once

#include <torch/torch.h>

namespace neural_style::colour {

// Y of an RGB image in 0..1, shape [1, 3, H, W] -> [1, 1, H, W].
inline torch::Tensor luma(const torch::Tensor& rgb) {
  const auto weights = torch::tensor({0.299f, 0.587f, 0.114f}, rgb.options()).view({1, 3, 1, 1});
  return (rgb * weights).sum(1, /*keepdim=*/true);
}

// U and V are scaled differences B - Y and R - Y, so converting back to RGB adds Y to every
// channel alike: swapping the content's Y for the stylized image's is adding the difference.
inline torch::Tensor withContentColours(const torch::Tensor& stylized, const torch::Tensor& content) {
  return content + (luma(stylized) - luma(content));
}

}  // namespace neural_style::colour
