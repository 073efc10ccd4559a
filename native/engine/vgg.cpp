#include "vgg.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "vgg_format.h"

namespace neural_style {
namespace {

// torchvision normalises RGB in 0..1 with ImageNet statistics; Caffe's VGG takes BGR in 0..255
// minus the mean pixel.
const std::vector<double> kImagenetMean = {0.485, 0.456, 0.406};
const std::vector<double> kImagenetStd = {0.229, 0.224, 0.225};
const std::vector<double> kCaffeMeanBgr = {103.939, 116.779, 123.68};

torch::Tensor channelVector(const std::vector<double>& values, const torch::Tensor& like) {
  return torch::tensor(values, like.options()).view({1, 3, 1, 1});
}

}  // namespace

Vgg::Vgg(const ModelOptions& options, const torch::Device& device)
    : maxPooling_(options.pooling == Pooling::Max),
      dtype_(options.precision == Precision::Bfloat16 ? torch::kBFloat16 : torch::kFloat) {
  if (options.randomSeed) {
    buildRandom(*options.randomSeed);
  } else {
    loadTorchScript(options.path);
  }
  // The model's own metadata is authoritative; the option serves models without it.
  if (preprocess_ == Preprocessing::FromModel) {
    preprocess_ = options.preprocess == Preprocessing::FromModel ? Preprocessing::Torchvision : options.preprocess;
  } else if (options.preprocess != Preprocessing::FromModel && options.preprocess != preprocess_) {
    throw EngineError(EngineError::Kind::PreprocessingMismatch,
                      "Model " + options.path + " was exported for " + nameOf(preprocess_) + " preprocessing",
                      {{"asked", nameOf(options.preprocess)}});
  }
  // Constants, not parameters: detached first, since a copy made by to() from a loaded
  // parameter would keep a grad_fn, and every backward pass would then compute weight gradients
  // (on a GPU, and sent back to the CPU's copy at that).
  for (auto& layer : layers_) {
    if (layer.kind != LayerKind::Conv) continue;
    // A convolution with under 16 channels in or out stays in float32 in a bfloat16 network:
    // oneDNN computes such bfloat16 convolutions wrongly on some CPUs with LibTorch 2.5 and 2.6
    // (pytorch/pytorch#163347; here, with 4 to 8 channels out, half the output was wrong, and
    // conv1_1's gradient with respect to the image, 3 channels, 8% off), and VGG's only such
    // layer, conv1_1, is a small part of the work.
    const bool narrow = layer.weight.size(0) < 16 || layer.weight.size(1) < 16;
    const auto dtype = narrow ? torch::kFloat : dtype_;
    layer.weight = layer.weight.detach().to(device, dtype);
    layer.bias = layer.bias.detach().to(device, dtype);
  }
}

void Vgg::loadTorchScript(const std::string& path) {
  torch::jit::ExtraFilesMap metadata{{kPreprocessEntry, ""}};
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU, metadata);
  } catch (const std::exception& error) {
    // Not only c10::Error, whose message is taken without its C++ backtrace: a damaged archive
    // can also fail in the TorchScript compiler, or in a lookup of the importer's.
    const auto* torchError = dynamic_cast<const c10::Error*>(&error);
    throw std::runtime_error("Could not load model " + path + " as TorchScript: " +
                             firstLine(torchError ? torchError->what_without_backtrace() : error.what()));
  }
  const std::string& preprocessing = metadata[kPreprocessEntry];
  if (preprocessing == "caffe" || preprocessing == "torchvision") {
    preprocess_ = preprocessing == "caffe" ? Preprocessing::Caffe : Preprocessing::Torchvision;
    preprocessingRecorded_ = true;
  } else if (!preprocessing.empty()) {
    throw std::runtime_error("Model " + path + " names an unknown preprocessing '" + preprocessing +
                             "': expected torchvision or caffe");
  }

  // A whole torchvision VGG keeps its convolutional part in `features`.
  for (const auto& child : module.named_children()) {
    if (child.name == "features") module = child.value;
  }

  int block = 1, indexInBlock = 0;
  auto notVgg = [&](const std::string& why) {
    return std::runtime_error("Model " + path + " is not a VGG network: " + why);
  };
  for (const auto& child : module.named_children()) {
    const std::string type = child.value.type()->name()->name();
    Layer layer;
    if (type == "Conv2d") {
      layer.kind = LayerKind::Conv;
      layer.name = "conv" + std::to_string(block) + "_" + std::to_string(++indexInBlock);
      layer.weight = child.value.attr("weight").toTensor();
      auto bias = child.value.attr("bias");
      layer.bias = bias.isNone() ? torch::zeros({layer.weight.size(0)}) : bias.toTensor();
      if (layer.weight.dim() != 4 || layer.weight.size(2) != 3 || layer.weight.size(3) != 3) {
        throw notVgg("layer " + child.name + " is not a 3x3 convolution");
      }
      // A damaged or badly converted file; left alone it would surface as a NaN loss.
      if (!allFinite(layer.weight) || !allFinite(layer.bias)) {
        throw std::runtime_error("Model " + path + " has weights that are not finite numbers in " + layer.name +
                                 ": the file is damaged or was converted wrongly");
      }
    } else if (type == "ReLU") {
      if (layers_.empty() || layers_.back().kind != LayerKind::Conv) {
        throw notVgg("layer " + child.name + " (ReLU) does not follow a convolution");
      }
      layer.kind = LayerKind::Relu;
      layer.name = "relu" + std::to_string(block) + "_" + std::to_string(indexInBlock);
    } else if (type == "MaxPool2d" || type == "AvgPool2d") {
      layer.kind = LayerKind::Pool;
      layer.name = "pool" + std::to_string(block++);
      indexInBlock = 0;
    } else {
      throw notVgg("layer " + child.name + " has type " + type +
                   ", expected only Conv2d, ReLU and MaxPool2d/AvgPool2d");
    }
    const bool numbered = child.name.find_first_not_of("0123456789") == std::string::npos;
    if (!numbered && child.name != layer.name) {
      throw notVgg("layer " + child.name + " sits where VGG has " + layer.name);
    }
    layers_.push_back(std::move(layer));
  }
  if (layers_.empty() || layers_.front().kind != LayerKind::Conv || layers_.front().weight.size(1) != 3) {
    throw notVgg("expected it to start with a convolution over 3 colour channels");
  }
}

void Vgg::buildRandom(uint64_t seed) {
  // Caffe's 0..255 input scale is the one the default loss weights were tuned for.
  preprocess_ = Preprocessing::Caffe;
  // He initialisation (fan-out), as torchvision initialises VGG, from a private generator so
  // that the same seed always gives the same network.
  auto generator = at::detail::createCPUGenerator(seed);
  int64_t channels = 3;
  forEachVgg19Layer([&](const std::string& name, LayerKind kind, int64_t width) {
    if (kind != LayerKind::Conv) return layers_.push_back({name, kind, {}, {}});
    const double stddev = std::sqrt(2.0 / static_cast<double>(width * 9));
    layers_.push_back({name, kind, torch::randn({width, channels, 3, 3}, generator) * stddev, torch::zeros({width})});
    channels = width;
  });
}

size_t Vgg::indexOf(const std::string& name) const {
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].name == name) return i;
  }
  std::string names;
  for (const auto& layer : layers_) names += (names.empty() ? "" : " ") + layer.name;
  throw EngineError(EngineError::Kind::LayerMissing, "Layer " + name + " is not in the model; it has " + names,
                    {{"layer", name}, {"modelLayers", names}});
}

void Vgg::checkSize(const torch::Tensor& x, const std::vector<std::string>& names, const std::string& image,
                    int styleIndex) const {
  const std::string what = image == "content" ? "content image"
                           : styleIndex > 0   ? "style image " + std::to_string(styleIndex)
                                              : "style image";
  for (const auto& name : names) {
    const size_t index = indexOf(name);
    int64_t poolings = 0;
    for (size_t i = 0; i < index; ++i) poolings += layers_[i].kind == LayerKind::Pool ? 1 : 0;
    const int64_t minimum = int64_t{1} << poolings;
    const int64_t height = x.size(2), width = x.size(3);
    if (height < minimum || width < minimum) {
      throw EngineError(EngineError::Kind::ImageTooSmall,
                        "The " + what + " is " + std::to_string(width) + "x" + std::to_string(height) +
                            " pixels, too small for layer " + name + ", which follows " + std::to_string(poolings) +
                            (poolings == 1 ? " pooling" : " poolings") + " and so needs at least " +
                            std::to_string(minimum) + " pixels on each side",
                        {{"image", image}, {"layer", name}, {"minimum", static_cast<double>(minimum)}});
    }
  }
}

torch::Tensor Vgg::preprocess(const torch::Tensor& rgb) const {
  if (preprocess_ == Preprocessing::Caffe) {
    return rgb.flip(1) * 255 - channelVector(kCaffeMeanBgr, rgb);
  }
  return (rgb - channelVector(kImagenetMean, rgb)) / channelVector(kImagenetStd, rgb);
}

torch::Tensor Vgg::deprocess(const torch::Tensor& input) const {
  if (preprocess_ == Preprocessing::Caffe) {
    return ((input + channelVector(kCaffeMeanBgr, input)) / 255).flip(1);
  }
  return input * channelVector(kImagenetStd, input) + channelVector(kImagenetMean, input);
}

std::map<std::string, torch::Tensor> Vgg::features(const torch::Tensor& x,
                                                   const std::vector<std::string>& names) const {
  size_t last = 0;
  for (const auto& name : names) last = std::max(last, indexOf(name));

  std::map<std::string, torch::Tensor> wanted;
  torch::Tensor activation = x;
  for (size_t i = 0; i <= last; ++i) {
    const Layer& layer = layers_[i];
    switch (layer.kind) {
      case LayerKind::Conv:
        // In the weights' precision, which is float32 for a narrow layer; the activations
        // between layers are in the network's.
        activation =
            torch::conv2d(activation.to(layer.weight.scalar_type()), layer.weight, layer.bias, 1, 1).to(dtype_);
        break;
      case LayerKind::Relu:
        activation = torch::relu(activation);
        break;
      case LayerKind::Pool:
        activation = maxPooling_ ? torch::max_pool2d(activation, 2, 2) : torch::avg_pool2d(activation, 2, 2);
        break;
    }
    // In the network's precision: the losses take them to float32 where they need it.
    if (std::find(names.begin(), names.end(), layer.name) != names.end()) wanted[layer.name] = activation;
  }
  return wanted;
}

void Vgg::normalize(const std::vector<torch::Tensor>& calibration) {
  torch::NoGradGuard noGrad;
  // Each filter's mean activation in the network as it is, over all images and positions.
  std::vector<torch::Tensor> means(layers_.size());
  std::vector<torch::Tensor> inputs;
  for (const auto& image : calibration) inputs.push_back(image.to(torch::kFloat));
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = layers_[i];
    if (layer.kind == LayerKind::Pool) {
      for (auto& x : inputs) x = maxPooling_ ? torch::max_pool2d(x, 2, 2) : torch::avg_pool2d(x, 2, 2);
    }
    if (layer.kind != LayerKind::Conv) continue;
    // In float32 whatever the network's precision: the means are the point.
    auto sums = torch::zeros({layer.weight.size(0)}, layer.weight.options().dtype(torch::kDouble));
    double positions = 0;
    for (auto& x : inputs) {
      x = torch::relu(torch::conv2d(x, layer.weight.to(torch::kFloat), layer.bias.to(torch::kFloat), 1, 1));
      sums += x.sum({0, 2, 3}).to(torch::kDouble);
      positions += static_cast<double>(x.size(0) * x.size(2) * x.size(3));
    }
    const auto mean = (sums / positions).to(torch::kFloat);
    means[i] = torch::where(mean > 0, mean, torch::ones_like(mean));
  }
  // Filter o of a layer divided by its mean, and each input channel multiplied by the mean of
  // the filter it comes from: every activation is the original one over its filter's mean, so
  // each mean becomes 1 and no ReLU changes sign.
  torch::Tensor incoming;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = layers_[i];
    if (layer.kind != LayerKind::Conv) continue;
    auto weight = layer.weight.to(torch::kFloat) / means[i].view({-1, 1, 1, 1});
    if (incoming.defined()) weight = weight * incoming.view({1, -1, 1, 1});
    layer.weight = weight.to(layer.weight.scalar_type());
    layer.bias = (layer.bias.to(torch::kFloat) / means[i]).to(layer.bias.scalar_type());
    incoming = means[i];
  }
}

std::vector<ModelLayer> Vgg::describe() const {
  std::vector<ModelLayer> result;
  for (const auto& layer : layers_) {
    const bool conv = layer.kind == LayerKind::Conv;
    result.push_back({layer.name, conv ? layer.weight.size(1) : 0, conv ? layer.weight.size(0) : 0});
  }
  return result;
}

std::vector<Convolution> Vgg::convolutions() const {
  std::vector<Convolution> result;
  for (const auto& layer : layers_) {
    if (layer.kind != LayerKind::Conv) continue;
    const auto weight = layer.weight.to(torch::kCPU, torch::kFloat).contiguous();
    const auto bias = layer.bias.to(torch::kCPU, torch::kFloat).contiguous();
    result.push_back({weight.size(0), weight.size(1),
                      std::vector<float>(weight.data_ptr<float>(), weight.data_ptr<float>() + weight.numel()),
                      std::vector<float>(bias.data_ptr<float>(), bias.data_ptr<float>() + bias.numel())});
  }
  return result;
}

}  // namespace neural_style
