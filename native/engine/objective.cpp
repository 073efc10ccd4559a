#include "objective.h"

#include <map>
#include <numeric>

#include "losses.h"

namespace neural_style {

Objective::Objective(const Vgg& vgg, const LossOptions& options, const torch::Tensor& content,
                     const std::vector<torch::Tensor>& styles, const std::vector<torch::Tensor>& masks)
    : vgg_(vgg), options_(options) {
  if (!masks.empty() && masks.size() != styles.size()) {
    throw std::runtime_error("styleMasks has " + std::to_string(masks.size()) + " masks for " +
                             std::to_string(styles.size()) + " style images");
  }
  if (!options.styleBlendWeights.empty() && options.styleBlendWeights.size() != styles.size()) {
    throw std::runtime_error("styleBlendWeights has " + std::to_string(options.styleBlendWeights.size()) +
                             " entries for " + std::to_string(styles.size()) + " style images");
  }
  if (!options.styleLayerWeights.empty() && options.styleLayerWeights.size() != options.styleLayers.size()) {
    throw std::runtime_error("styleLayerWeights has " + std::to_string(options.styleLayerWeights.size()) +
                             " entries for " + std::to_string(options.styleLayers.size()) + " style layers");
  }
  std::vector<double> blend = options.styleBlendWeights;
  if (blend.empty()) blend.assign(styles.size(), 1.0);
  const double blendSum = std::accumulate(blend.begin(), blend.end(), 0.0);

  layers_ = options.contentLayers;
  layers_.insert(layers_.end(), options.styleLayers.begin(), options.styleLayers.end());
  // The image being optimised has the content's size, and so must reach every layer.
  vgg.checkSize(content, layers_, "content");
  for (size_t i = 0; i < styles.size(); ++i) {
    vgg.checkSize(styles[i], options.styleLayers, "style", styles.size() > 1 ? static_cast<int>(i + 1) : 0);
  }

  torch::NoGradGuard noGrad;
  auto contentFeatures = vgg.features(content, options.contentLayers);
  for (const auto& layer : options.contentLayers) contentTargets_.push_back(contentFeatures[layer].to(torch::kFloat));
  // Each mask at each style layer's size, the size the optimised image's activations have there.
  std::map<std::string, torch::Tensor> layerSizes;
  if (!masks.empty()) {
    layerSizes = vgg.features(content, options.styleLayers);
    guided_.resize(options.styleLayers.size());
  }
  for (size_t i = 0; i < styles.size(); ++i) {
    auto styleFeatures = vgg.features(styles[i], options.styleLayers);
    if (!masks.empty()) {
      for (size_t j = 0; j < options.styleLayers.size(); ++j) {
        const auto& features = styleFeatures[options.styleLayers[j]];
        const auto& at = layerSizes[options.styleLayers[j]];
        const auto mask =
            torch::nn::functional::interpolate(masks[i], torch::nn::functional::InterpolateFuncOptions()
                                                             .size(std::vector<int64_t>{at.size(2), at.size(3)})
                                                             .mode(torch::kArea));
        guided_[j].emplace_back(losses::gram(features), mask);
        if (i == 0) styleScales_.push_back(layerScale(j, features.size(1)));
      }
      continue;
    }
    for (size_t j = 0; j < options.styleLayers.size(); ++j) {
      const auto& features = styleFeatures[options.styleLayers[j]];
      auto gram = losses::gram(features) * (blend[i] / blendSum);
      if (i == 0) {
        styleTargets_.push_back(gram);
        styleScales_.push_back(layerScale(j, features.size(1)));
      } else {
        styleTargets_[j] += gram;
      }
    }
  }
  // Finite weights can still be large enough that the activations overflow (a damaged or
  // wrongly scaled model): found here, from the images' own targets, rather than as a loss of
  // NaN at the first iteration.
  const auto checkFinite = [](const torch::Tensor& target, const std::string& layer, const std::string& image) {
    if (torch::isfinite(target).all().item<bool>()) return;
    throw EngineError(EngineError::Kind::ActivationsNotFinite,
                      "activations that are not finite numbers at layer " + layer + " for the " + image + " image",
                      {{"layer", layer}});
  };
  for (size_t i = 0; i < contentTargets_.size(); ++i)
    checkFinite(contentTargets_[i], options.contentLayers[i], "content");
  for (size_t j = 0; j < styleTargets_.size(); ++j) checkFinite(styleTargets_[j], options.styleLayers[j], "style");
  for (size_t j = 0; j < guided_.size(); ++j) {
    for (const auto& [gram, mask] : guided_[j]) checkFinite(gram, options.styleLayers[j], "style");
  }
}

Terms Objective::operator()(const torch::Tensor& image) const {
  auto features = vgg_.features(image, layers_);
  auto content = torch::zeros({}, image.options());
  for (size_t i = 0; i < contentTargets_.size(); ++i) {
    const auto& layer = features[options_.contentLayers[i]];
    content = content + losses::content(normalized(layer, options_.contentWeight), contentTargets_[i]);
  }
  auto style = torch::zeros({}, image.options());
  for (size_t i = 0; i < styleTargets_.size(); ++i) {
    const auto& layer = features[options_.styleLayers[i]];
    style = style + losses::style(normalized(layer, options_.styleWeight * styleScales_[i]), styleTargets_[i]) *
                        styleScales_[i];
  }
  for (size_t i = 0; i < guided_.size(); ++i) {
    const auto layer = normalized(features[options_.styleLayers[i]], options_.styleWeight * styleScales_[i]);
    for (const auto& [gram, mask] : guided_[i]) {
      style = style + torch::mse_loss(losses::guidedGram(layer, mask), gram) * styleScales_[i];
    }
  }
  content = content * options_.contentWeight;
  style = style * options_.styleWeight;
  auto tv = losses::totalVariation(image) * options_.tvWeight;
  Terms terms{content + style + tv, {}};
  terms.values = {terms.total.item<double>(), content.item<double>(), style.item<double>(), tv.item<double>()};
  return terms;
}

// A style layer's weight, times 1/(4N²M²) over the C·H·W normalisation where the paper's scale
// is asked for: the losses differ by N²/4, N being the layer's channels (see losses::gram).
double Objective::layerScale(size_t layer, int64_t channels) const {
  const double weight = options_.styleLayerWeights.empty() ? 1.0 : options_.styleLayerWeights[layer];
  const double n = static_cast<double>(channels);
  return options_.styleNormalization == StyleNormalization::Paper ? weight * n * n / 4 : weight;
}

// jcjohnson/neural-style's -normalize_gradients: the gradient a layer's loss sends back is
// weight * g / (|g|_1 + 1e-8), g being the unweighted loss's own gradient. A view gives the
// loss a branch of its own, so that its hook sees that loss's gradient alone; the values of
// the losses are unchanged.
torch::Tensor Objective::normalized(const torch::Tensor& activation, double weight) const {
  if (!options_.normalizeGradients || weight == 0) return activation;
  auto branch = activation.view_as(activation);
  branch.register_hook(
      [weight](const torch::Tensor& weighted) { return weighted / (weighted.abs().sum() / weight + 1e-8); });
  return branch;
}

}  // namespace neural_style
