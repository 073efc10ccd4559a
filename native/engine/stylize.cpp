// The optimisation of Gatys et al.: find the image whose VGG activations match the content
// image's at the content layers and whose Gram matrices match the style images' at the style
// layers, smoothed by total variation.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>

#include "colour.h"
#include "cpu_memory.h"
#include "cuda_memory.h"
#include "engine.h"
#include "objective.h"
#include "vgg.h"
#include "vgg_format.h"

namespace neural_style {
namespace {

using Clock = std::chrono::steady_clock;

torch::Device resolveDevice(const DeviceChoice& requested) {
  using Kind = DeviceChoice::Kind;
  if (requested.kind == Kind::Cpu) return torch::kCPU;
  if (requested.kind == Kind::Auto) return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  const std::string name = requested.cudaIndex ? "cuda:" + std::to_string(*requested.cudaIndex) : "cuda";
  if (!torch::cuda::is_available()) {
    throw EngineError(EngineError::Kind::DeviceUnavailable,
                      "Device " + name +
                          " was requested, but CUDA is not available: this LibTorch has no CUDA support or no GPU is "
                          "visible",
                      {{"cudaDevices", 0.0}});
  }
  if (!requested.cudaIndex) return torch::kCUDA;
  if (*requested.cudaIndex >= static_cast<int>(torch::cuda::device_count())) {
    const auto count = static_cast<double>(torch::cuda::device_count());
    throw EngineError(
        EngineError::Kind::DeviceUnavailable,
        "Device " + name + " does not exist: " + std::to_string(torch::cuda::device_count()) + " CUDA device(s)",
        {{"cudaDevices", count}});
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
  auto bytes =
      torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, torch::kUInt8);
  return bytes.permute({2, 0, 1}).unsqueeze(0).to(device, torch::kFloat).div(255).contiguous();
}

torch::Tensor fromGrey(const GreyImage& image, const torch::Device& device) {
  auto bytes =
      torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {1, 1, image.height, image.width}, torch::kUInt8);
  return bytes.to(device, torch::kFloat).div(255).contiguous();
}

torch::Tensor fromPlanar(const PlanarImage& image, const torch::Device& device) {
  return torch::from_blob(const_cast<float*>(image.values.data()), {1, 3, image.height, image.width}, torch::kFloat)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

RgbImage toRgb(const torch::Tensor& rgb) {
  auto bytes =
      rgb.detach().squeeze(0).clamp(0, 1).mul(255).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous().cpu();
  RgbImage image{static_cast<int>(bytes.size(1)), static_cast<int>(bytes.size(0)), {}};
  image.pixels.assign(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel());
  return image;
}

// Past float32's range the optimisation cannot recover, and would only write noise.
void checkFinite(const Losses& losses, int iteration) {
  if (std::isfinite(losses.total)) return;
  std::ostringstream message;
  message << "The loss is no longer finite at iteration " << iteration << " (content " << losses.content << ", style "
          << losses.style << ", tv " << losses.tv << ")";
  throw EngineError(EngineError::Kind::LossNotFinite, message.str(), {{"iteration", static_cast<double>(iteration)}});
}

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
    throw EngineError(EngineError::Kind::OutOfMemory,
                      "Out of memory: this image size needs more memory than is available");
  }
}

}  // namespace

StylizeResult stylize(const StylizeOptions& options, const ProgressCallback& onProgress,
                      const std::atomic<bool>& cancelled) {
  return withReadableErrors([&] {
    const CpuMemoryReuse memory(options.availableMemory);
    const auto start = Clock::now();
    const auto elapsedMs = [&] { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); };
    prepareThread(options.threads);
    torch::AutoGradMode gradients(true);
    const torch::Device device = resolveDevice(options.device);
    const CudaCacheRelease releaseCudaCache(device);

    Vgg vgg(options.model, device);
    const auto contentRgb = fromRgb(options.content, device);
    const bool luminanceOnly = options.colourMode == ColourMode::Luminance;
    const auto content = vgg.preprocess(luminanceOnly ? colour::grey(contentRgb) : contentRgb);
    std::vector<torch::Tensor> styles;
    for (const auto& style : options.styles) {
      const auto styleRgb = fromRgb(style, device);
      switch (options.colourMode) {
        case ColourMode::Rgb:
          styles.push_back(vgg.preprocess(styleRgb));
          break;
        case ColourMode::Luminance:
          styles.push_back(vgg.preprocess(colour::greyMatched(styleRgb, contentRgb)));
          break;
        case ColourMode::Histogram:
          styles.push_back(vgg.preprocess(colour::matchHistogram(styleRgb, contentRgb, options.colourTransfer)));
          break;
      }
    }
    if (options.normalizeNetwork) {
      std::vector<torch::Tensor> calibration;
      for (const auto& image : options.calibration) calibration.push_back(vgg.preprocess(fromRgb(image, device)));
      if (calibration.empty()) {
        calibration = styles;
        calibration.push_back(content);
      }
      vgg.normalize(calibration);
    }
    std::vector<torch::Tensor> masks;
    for (const auto& mask : options.styleMasks) {
      if (mask.width != options.content.width || mask.height != options.content.height) {
        throw std::runtime_error("A style mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) +
                                 " pixels, not the content's " + std::to_string(options.content.width) + "x" +
                                 std::to_string(options.content.height));
      }
      masks.push_back(fromGrey(mask, device));
    }
    const Objective objective(vgg, options.losses, content, styles, masks);
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
                                 std::to_string(options.content.width) + "x" + std::to_string(options.content.height));
      }
      image = vgg.preprocess(fromRgb(start, device));
    } else {
      image = content.clone();
    }
    image.set_requires_grad(true);

    // An image as the caller sees it: RGB, with the content's colours when asked for.
    const bool contentColours = options.originalColors || luminanceOnly;
    const auto picture = [&](const torch::Tensor& optimised) {
      torch::NoGradGuard noGrad;
      const auto rgb = vgg.deprocess(optimised);
      return toRgb(contentColours ? colour::withContentColours(rgb, contentRgb) : rgb);
    };

    int iteration = 0;
    Losses last;
    // The optimisers move the image after its last evaluation: the result is the image whose
    // loss was measured, kept at each evaluation, as jcjohnson/neural-style saves inside its.
    torch::Tensor evaluated;
    // One evaluation of the objective and its gradient: what counts as an iteration.
    auto evaluateStep = [&]() -> torch::Tensor {
      if (cancelled.load()) throw Cancelled();
      torch::AutoGradMode enable(true);
      if (image.grad().defined()) image.mutable_grad().zero_();
      Terms terms = objective(image);
      terms.total.backward();
      ++iteration;
      checkFinite(terms.values, iteration);
      last = terms.values;
      evaluated = image.detach().clone();
      const bool previewDue = options.previewInterval > 0 && iteration % options.previewInterval == 0;
      if (previewDue || iteration % options.progressInterval == 0 || iteration == options.iterations) {
        Progress progress{iteration, last, elapsedMs(), std::nullopt};
        if (previewDue) progress.preview = picture(evaluated);
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
      for (evaluateStep(); iteration < options.iterations; evaluateStep()) optimizer.step();
    }
    return StylizeResult{picture(evaluated), last, iteration, elapsedMs(), describe(device)};
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
    const Objective objective(vgg, options.losses, vgg.preprocess(fromPlanar(options.content, device)), styles);

    auto image = fromPlanar(options.image, device).set_requires_grad(true);
    Terms terms = objective(vgg.preprocess(image));
    terms.total.backward();

    auto gradient = image.grad().contiguous();
    Evaluation evaluation{terms.values, {options.image.width, options.image.height, {}}};
    evaluation.gradient.values.assign(gradient.data_ptr<float>(), gradient.data_ptr<float>() + gradient.numel());
    return evaluation;
  });
}

PlanarImage matchColours(const RgbImage& style, const RgbImage& content, ColourTransfer transfer) {
  return withReadableErrors([&] {
    const auto matched =
        colour::matchHistogram(fromRgb(style, torch::kCPU), fromRgb(content, torch::kCPU), transfer).contiguous();
    PlanarImage result{style.width, style.height, {}};
    result.values.assign(matched.data_ptr<float>(), matched.data_ptr<float>() + matched.numel());
    return result;
  });
}

void saveNormalizedVgg19(const NormalizeModelOptions& options) {
  withReadableErrors([&] {
    const CpuMemoryReuse memory(/*availableBytes=*/0);
    Vgg vgg(options.model, torch::kCPU);
    std::vector<torch::Tensor> calibration;
    for (const auto& image : options.calibration) calibration.push_back(vgg.preprocess(fromRgb(image, torch::kCPU)));
    vgg.normalize(calibration);
    saveVgg19({vgg.convolutions(), vgg.preprocessing(), options.path});
    return true;
  });
}

ModelInfo modelInfo(const std::string& path) {
  return withReadableErrors([&] {
    ModelOptions options;
    options.path = path;
    const Vgg vgg(options, torch::kCPU);
    ModelInfo info{vgg.describe(), vgg.preprocessingRecorded() ? nameOf(vgg.preprocessing()) : "", 0};
    for (const auto& layer : info.layers) {
      info.parameters += layer.outChannels * layer.inChannels * 9 + layer.outChannels;
    }
    return info;
  });
}

RuntimeInfo runtimeInfo() {
  RuntimeInfo info{TORCH_VERSION, torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0,
                   heldCpuBytes(), reservedCudaBytes()};
  info.cxx11Abi = _GLIBCXX_USE_CXX11_ABI != 0;
  // Looked up, not linked: LibTorch's BLAS may be another library, which has no such function.
  using CoreName = const char* (*)();
  if (const auto coreName = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))) {
    info.openblasCore = coreName();
  }
  info.buildConfig = at::show_config();
  return info;
}

}  // namespace neural_style
