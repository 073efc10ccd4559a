// The optimisation of Gatys et al.: find the image whose VGG activations match the content
// image's at the content layers and whose Gram matrices match the style images' at the style
// layers, smoothed by total variation.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <numeric>
#include <sstream>
#include <thread>

#include "colour.h"
#include "cpu_memory.h"
#include "cuda_memory.h"
#include "engine.h"
#include "losses.h"
#include "vgg.h"

namespace neural_style {
namespace {

using Clock = std::chrono::steady_clock;

torch::Device resolveDevice(const DeviceChoice& requested) {
  using Kind = DeviceChoice::Kind;
  if (requested.kind == Kind::Cpu) return torch::kCPU;
  if (requested.kind == Kind::Auto) return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  const std::string name = requested.cudaIndex ? "cuda:" + std::to_string(*requested.cudaIndex) : "cuda";
  if (!torch::cuda::is_available()) {
    throw std::runtime_error("Device " + name +
                             " was requested, but CUDA is not available: this LibTorch has no "
                             "CUDA support or no GPU is visible (use device 'cpu' or 'auto')");
  }
  if (!requested.cudaIndex) return torch::kCUDA;
  if (*requested.cudaIndex >= static_cast<int>(torch::cuda::device_count())) {
    throw std::runtime_error("Device " + name + " does not exist: " +
                             std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(*requested.cudaIndex));
}

std::string describe(const torch::Device& device) {
  if (device.is_cuda()) return "cuda:" + std::to_string(device.has_index() ? device.index() : 0);
  return "cpu";
}

// Grad mode and the OpenMP thread count belong to the calling thread: set them for this run.
void prepareThread(int threads) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  at::set_num_threads(threads > 0 ? threads : static_cast<int>(cores));
}

torch::Tensor fromRgb(const RgbImage& image, const torch::Device& device) {
  auto bytes = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                                {image.height, image.width, 3}, torch::kUInt8);
  return bytes.permute({2, 0, 1}).unsqueeze(0).to(device, torch::kFloat).div(255).contiguous();
}

torch::Tensor fromPlanar(const PlanarImage& image, const torch::Device& device) {
  return torch::from_blob(const_cast<float*>(image.values.data()),
                          {1, 3, image.height, image.width}, torch::kFloat)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

RgbImage toRgb(const torch::Tensor& rgb) {
  auto bytes = rgb.detach().squeeze(0).clamp(0, 1).mul(255).round().to(torch::kUInt8)
                   .permute({1, 2, 0}).contiguous().cpu();
  RgbImage image{static_cast<int>(bytes.size(1)), static_cast<int>(bytes.size(0)), {}};
  image.pixels.assign(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel());
  return image;
}

struct Terms {
  torch::Tensor total;
  Losses values;
};

// Past float32's range the optimisation cannot recover, and would only write noise.
void checkFinite(const Losses& losses, int iteration) {
  if (std::isfinite(losses.total)) return;
  std::ostringstream message;
  message << "The loss is no longer finite at iteration " << iteration << " (content "
          << losses.content << ", style " << losses.style << ", tv " << losses.tv << ")";
  throw EngineError(EngineError::Kind::LossNotFinite, message.str(), {{"iteration", static_cast<double>(iteration)}});
}

class Objective {
 public:
  // Computes the content activations and the blended style Gram matrices once.
  Objective(const Vgg& vgg, const LossOptions& options, const torch::Tensor& content,
            const std::vector<torch::Tensor>& styles)
      : vgg_(vgg), options_(options) {
    if (!options.styleBlendWeights.empty() && options.styleBlendWeights.size() != styles.size()) {
      throw std::runtime_error("styleBlendWeights has " +
                               std::to_string(options.styleBlendWeights.size()) +
                               " entries for " + std::to_string(styles.size()) + " style images");
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
    for (const auto& layer : options.contentLayers) contentTargets_.push_back(contentFeatures[layer]);
    for (size_t i = 0; i < styles.size(); ++i) {
      auto styleFeatures = vgg.features(styles[i], options.styleLayers);
      for (size_t j = 0; j < options.styleLayers.size(); ++j) {
        auto gram = losses::gram(styleFeatures[options.styleLayers[j]]) * (blend[i] / blendSum);
        if (i == 0) {
          styleTargets_.push_back(gram);
        } else {
          styleTargets_[j] += gram;
        }
      }
    }
  }

  Terms operator()(const torch::Tensor& image) const {
    auto features = vgg_.features(image, layers_);
    auto content = torch::zeros({}, image.options());
    for (size_t i = 0; i < contentTargets_.size(); ++i) {
      const auto& layer = features[options_.contentLayers[i]];
      content = content + losses::content(normalized(layer, options_.contentWeight), contentTargets_[i]);
    }
    auto style = torch::zeros({}, image.options());
    for (size_t i = 0; i < styleTargets_.size(); ++i) {
      const auto& layer = features[options_.styleLayers[i]];
      style = style + losses::style(normalized(layer, options_.styleWeight), styleTargets_[i]);
    }
    content = content * options_.contentWeight;
    style = style * options_.styleWeight;
    auto tv = losses::totalVariation(image) * options_.tvWeight;
    Terms terms{content + style + tv, {}};
    terms.values = {terms.total.item<double>(), content.item<double>(), style.item<double>(),
                    tv.item<double>()};
    return terms;
  }

 private:
  // jcjohnson/neural-style's -normalize_gradients: the gradient a layer's loss sends back is
  // weight * g / (|g|_1 + 1e-8), g being the unweighted loss's own gradient. A view gives the
  // loss a branch of its own, so that its hook sees that loss's gradient alone; the values of
  // the losses are unchanged.
  torch::Tensor normalized(const torch::Tensor& activation, double weight) const {
    if (!options_.normalizeGradients || weight == 0) return activation;
    auto branch = activation.view_as(activation);
    branch.register_hook([weight](const torch::Tensor& weighted) {
      return weighted / (weighted.abs().sum() / weight + 1e-8);
    });
    return branch;
  }

  const Vgg& vgg_;
  const LossOptions& options_;
  std::vector<std::string> layers_;
  std::vector<torch::Tensor> contentTargets_;
  std::vector<torch::Tensor> styleTargets_;
};

// torch reports its own errors with a C++ backtrace appended: keep the message only.
template <typename Work>
auto withReadableErrors(Work work) {
  try {
    return work();
  } catch (const c10::OutOfMemoryError& error) {
    // Only LibTorch's CUDA allocator throws this: CPU memory runs out as CpuMemoryExhausted or
    // bad_alloc.
    throw EngineError(EngineError::Kind::OutOfGpuMemory,
                      std::string("Out of GPU memory (") + error.what_without_backtrace() + ")");
  } catch (const c10::Error& error) {
    throw std::runtime_error(error.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw EngineError(EngineError::Kind::OutOfMemory, "Out of memory: this image size needs more memory than is available");
  }
}

}  // namespace

StylizeResult stylize(const StylizeOptions& options, const ProgressCallback& onProgress,
                      const std::atomic<bool>& cancelled) {
  return withReadableErrors([&] {
    const CpuMemoryReuse memory(options.availableMemory);
    const auto start = Clock::now();
    const auto elapsedMs = [&] {
      return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    };
    prepareThread(options.threads);
    torch::AutoGradMode gradients(true);
    const torch::Device device = resolveDevice(options.device);
    const CudaCacheRelease releaseCudaCache(device);

    const Vgg vgg(options.model, device);
    const auto contentRgb = fromRgb(options.content, device);
    const auto content = vgg.preprocess(contentRgb);
    std::vector<torch::Tensor> styles;
    for (const auto& style : options.styles) styles.push_back(vgg.preprocess(fromRgb(style, device)));
    const Objective objective(vgg, options.losses, content, styles);
    styles.clear();

    torch::Tensor image;
    if (options.init == Init::Random) {
      // Small noise around the mean pixel, as jcjohnson/neural-style starts.
      auto generator = at::detail::createCPUGenerator(options.seed);
      image = (torch::randn(content.sizes(), generator) * 0.001).to(device);
    } else if (options.initImage) {
      const RgbImage& start = *options.initImage;
      if (start.width != options.content.width || start.height != options.content.height) {
        throw std::runtime_error("The init image is " + std::to_string(start.width) + "x" +
                                 std::to_string(start.height) + " pixels, not the content's " +
                                 std::to_string(options.content.width) + "x" +
                                 std::to_string(options.content.height));
      }
      image = vgg.preprocess(fromRgb(start, device));
    } else {
      image = content.clone();
    }
    image.set_requires_grad(true);

    // The image as the caller sees it: RGB, with the content's colours when asked for.
    const auto picture = [&] {
      torch::NoGradGuard noGrad;
      const auto rgb = vgg.deprocess(image);
      return toRgb(options.originalColors ? colour::withContentColours(rgb, contentRgb) : rgb);
    };

    int iteration = 0;
    Losses last;
    // One evaluation of the objective and its gradient: what counts as an iteration.
    auto evaluateStep = [&]() -> torch::Tensor {
      if (cancelled.load()) throw Cancelled();
      torch::AutoGradMode enable(true);
      if (image.grad().defined()) image.mutable_grad().zero_();
      Terms terms = objective(image);
      terms.total.backward();
      last = terms.values;
      ++iteration;
      checkFinite(last, iteration);
      const bool previewDue = options.previewInterval > 0 && iteration % options.previewInterval == 0;
      if (previewDue || iteration % options.progressInterval == 0 || iteration == options.iterations) {
        Progress progress{iteration, last, elapsedMs(), std::nullopt};
        if (previewDue) progress.preview = picture();
        onProgress(progress);
      }
      return terms.total;
    };

    if (options.optimizer == Optimizer::Lbfgs) {
      // No line search and no stopping tolerances: every iteration is one evaluation, and all
      // of them run, as in jcjohnson/neural-style.
      torch::optim::LBFGS optimizer({image}, torch::optim::LBFGSOptions(1)
                                                 .max_iter(options.iterations)
                                                 .max_eval(options.iterations * 2)
                                                 .tolerance_grad(-1)
                                                 .tolerance_change(-1)
                                                 .history_size(options.lbfgsHistory));
      optimizer.step(evaluateStep);
    } else {
      torch::optim::Adam optimizer({image}, torch::optim::AdamOptions(options.learningRate));
      while (iteration < options.iterations) {
        evaluateStep();
        optimizer.step();
      }
    }
    return StylizeResult{picture(), last, iteration, elapsedMs(), describe(device)};
  });
}

Evaluation evaluate(const EvaluateOptions& options) {
  return withReadableErrors([&] {
    const CpuMemoryReuse memory(/*availableBytes=*/0);
    prepareThread(options.threads);
    torch::AutoGradMode gradients(true);
    const torch::Device device = torch::kCPU;
    const Vgg vgg(options.model, device);
    std::vector<torch::Tensor> styles;
    for (const auto& style : options.styles) styles.push_back(vgg.preprocess(fromPlanar(style, device)));
    const Objective objective(vgg, options.losses,
                              vgg.preprocess(fromPlanar(options.content, device)), styles);

    auto image = fromPlanar(options.image, device).set_requires_grad(true);
    Terms terms = objective(vgg.preprocess(image));
    terms.total.backward();

    auto gradient = image.grad().contiguous();
    Evaluation evaluation{terms.values, {options.image.width, options.image.height, {}}};
    evaluation.gradient.values.assign(gradient.data_ptr<float>(),
                                      gradient.data_ptr<float>() + gradient.numel());
    return evaluation;
  });
}

RuntimeInfo runtimeInfo() {
  return {TORCH_VERSION,
          torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0,
          heldCpuBytes(), reservedCudaBytes()};
}

}  // namespace neural_style
