// Colour controls: keeping the content image's colours after the run (jcjohnson/neural-style's
// -original_colors), and Gatys et al. 2017's two ways of preserving them: luminance-only transfer
// and colour histogram matching. Luminance and chrominance are those of ITU-R BT.601's YUV.
#pragma once

#include <torch/torch.h>

#include "engine.h"

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

// The luminance as a grey RGB image, which the network reads as it reads any image.
inline torch::Tensor grey(const torch::Tensor& rgb) { return luma(rgb).expand_as(rgb).contiguous(); }

// The style's luminance shifted and scaled to the content's mean and standard deviation, so that
// luminance-only transfer keeps the content's brightness (section 5.1).
inline torch::Tensor greyMatched(const torch::Tensor& style, const torch::Tensor& content) {
  const auto styleY = luma(style), contentY = luma(content);
  const auto scale = contentY.std() / styleY.std().clamp_min(1e-6);
  return grey((styleY - styleY.mean()) * scale + contentY.mean());
}

namespace detail {

// A symmetric positive semi-definite matrix's square root, or its inverse's.
inline torch::Tensor sqrtSymmetric(const torch::Tensor& matrix, bool inverse) {
  auto [values, vectors] = at::linalg_eigh(matrix, "L");
  values = values.clamp_min(1e-12).sqrt();
  if (inverse) values = values.reciprocal();
  return vectors.matmul(torch::diag(values)).matmul(vectors.t());
}

}  // namespace detail

// The style's colours moved so that their mean and covariance are the content's (section 5.2):
// x' = A (x - mean_s) + mean_c, where A Σ_s Aᵀ = Σ_c. The three ways of choosing A differ in how
// they rotate the colours. Not clamped: the network reads values outside 0..1 as well.
inline torch::Tensor matchHistogram(const torch::Tensor& style, const torch::Tensor& content, ColourTransfer transfer) {
  // In double precision, and with a small ridge so that a grey image's covariance is invertible.
  const auto moments = [](const torch::Tensor& rgb) {
    const auto pixels = rgb.squeeze(0).flatten(1).to(torch::kDouble);  // [3, N]
    const auto mean = pixels.mean(1, /*keepdim=*/true);
    const auto centred = pixels - mean;
    const auto covariance = centred.matmul(centred.t()) / pixels.size(1) + 1e-8 * torch::eye(3, pixels.options());
    return std::make_tuple(centred, mean, covariance);
  };
  const auto [styleCentred, styleMean, styleCovariance] = moments(style);
  const auto [contentCentred, contentMean, contentCovariance] = moments(content);
  torch::Tensor transform;
  switch (transfer) {
    case ColourTransfer::Cholesky:
      transform = at::linalg_cholesky(contentCovariance).matmul(at::linalg_cholesky(styleCovariance).inverse());
      break;
    case ColourTransfer::Pca: {
      const auto [styleValues, styleVectors] = at::linalg_eigh(styleCovariance, "L");
      const auto [contentValues, contentVectors] = at::linalg_eigh(contentCovariance, "L");
      const auto ratio = (contentValues.clamp_min(0) / styleValues.clamp_min(1e-12)).sqrt();
      transform = contentVectors.matmul(torch::diag(ratio)).matmul(styleVectors.t());
      break;
    }
    case ColourTransfer::Symmetric: {
      const auto root = detail::sqrtSymmetric(styleCovariance, false);
      const auto inverseRoot = detail::sqrtSymmetric(styleCovariance, true);
      transform = inverseRoot.matmul(detail::sqrtSymmetric(root.matmul(contentCovariance).matmul(root), false))
                      .matmul(inverseRoot);
      break;
    }
  }
  const auto matched = transform.matmul(styleCentred) + contentMean;
  return matched.to(style.scalar_type()).view_as(style);
}

}  // namespace neural_style::colour
