// The style-transfer engine's public face. Plain C++ only: the binding layer includes this
// header without pulling in LibTorch, so only the engine's own sources pay for torch headers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace neural_style {

// An RGB image, row-major, interleaved channels, one byte per channel.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
};

// A one-channel image, row-major, one byte per pixel: a mask, 255 where it applies fully.
struct GreyImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height
};

// A float image in 0..1, planar: 3 planes of height * width (the layout of a CHW tensor).
struct PlanarImage {
  int width = 0;
  int height = 0;
  std::vector<float> values;  // 3 * height * width
};

// The choices a run makes, as the binding reads them from the caller's names. Every field below
// is set by the binding: what a run does when the caller says nothing is decided in TypeScript.
enum class Pooling { Average, Max };
enum class Precision { Float32, Bfloat16 };  // of the network's layers
// How a model's input is normalised; FromModel: as its metadata says, else as torchvision's.
enum class Preprocessing { FromModel, Torchvision, Caffe };
enum class Optimizer { Lbfgs, Adam };
enum class Init { Random, Image };
// How a style layer's loss is scaled: by the Gram matrix's C·H·W, as jcjohnson/neural-style does,
// or by 1/(4N²M²) of the unnormalised Gram matrix, as Gatys et al. write it.
enum class StyleNormalization { Chw, Paper };
// Gatys et al. 2017, section 5: keep the content's colours by transferring luminance only, or by
// matching the style images' colour histograms (mean and covariance) to the content's first.
enum class ColourMode { Rgb, Luminance, Histogram };
// The matrix A of the histogram match x' = A (x - mean_style) + mean_content, A Σ_style Aᵀ = Σ_content.
enum class ColourTransfer { Cholesky, Pca, Symmetric };

struct DeviceChoice {
  enum class Kind { Auto, Cpu, Cuda } kind{};  // Auto: CUDA device 0 when there is one
  std::optional<int> cudaIndex;                // with Cuda: the device, else LibTorch's current
};

struct ModelOptions {
  std::string path;                    // a TorchScript file, unless randomSeed is set
  std::optional<uint64_t> randomSeed;  // set: a VGG-19 with random weights drawn from it
  Preprocessing preprocess{};
  Pooling pooling{};
  Precision precision{};
};

struct LossOptions {
  std::vector<std::string> contentLayers;
  std::vector<std::string> styleLayers;
  double contentWeight = 0;
  double styleWeight = 0;
  double tvWeight = 0;
  std::vector<double> styleBlendWeights;  // one per style image; empty means equal
  std::vector<double> styleLayerWeights;  // one per style layer; empty means 1 each
  StyleNormalization styleNormalization{};
  bool normalizeGradients = false;  // each layer's gradient scaled to unit L1 norm
};

struct StylizeOptions {
  ModelOptions model;
  LossOptions losses;
  RgbImage content;
  std::vector<RgbImage> styles;
  // Gatys et al. 2017's spatial control: one mask per style image, at the content's size, saying
  // where in the result that style applies (guided Gram matrices). Empty: every style everywhere.
  std::vector<GreyImage> styleMasks;
  int iterations = 0;
  Optimizer optimizer{};
  double learningRate = 0;  // Adam's step size (L-BFGS takes unit steps)
  int lbfgsHistory = 0;
  Init init{};
  std::optional<RgbImage> initImage;  // with Init::Image: the start, instead of the content
  uint64_t seed = 0;                  // of the initial noise
  bool normalizeNetwork = false;      // Vgg::normalize first, on the calibration images
  std::vector<RgbImage> calibration;  // with normalizeNetwork; empty: the content and style images
  bool originalColors = false;        // after the run, the content's chrominance with the result's luminance
  ColourMode colourMode{};
  ColourTransfer colourTransfer{};  // with ColourMode::Histogram
  DeviceChoice device;
  int threads = 0;             // 0: all cores
  size_t availableMemory = 0;  // bytes the system can still give the process; 0: unknown
  int progressInterval = 0;    // progress after every this many iterations, and the last
  int previewInterval = 0;     // and with the image after every this many; 0: no previews
};

struct Losses {
  double total = 0;
  double content = 0;
  double style = 0;
  double tv = 0;
};

struct Progress {
  int iteration = 0;
  Losses losses;
  double elapsedMs = 0;
  std::optional<RgbImage> preview;
};

struct StylizeResult {
  RgbImage image;
  Losses losses;
  int iterations = 0;
  double elapsedMs = 0;
  std::string device;
};

// A failure whose remedy is a change of options: the engine says what happened, with its numbers,
// and the caller's layer, which knows what the caller calls each option, says what to change.
struct EngineError : std::runtime_error {
  enum class Kind {
    ImageTooSmall,
    LayerMissing,
    LossNotFinite,
    OutOfMemory,
    OutOfGpuMemory,
    DeviceUnavailable,
    PreprocessingMismatch,
    ActivationsNotFinite
  };
  using Detail = std::variant<double, std::string>;

  EngineError(Kind kind, const std::string& message, std::vector<std::pair<std::string, Detail>> details = {})
      : std::runtime_error(message), kind(kind), details(std::move(details)) {}

  Kind kind;
  std::vector<std::pair<std::string, Detail>> details;
};

// Thrown when the caller's cancellation flag was seen set.
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("The operation was aborted") {}
};

using ProgressCallback = std::function<void(const Progress&)>;

// Runs the whole optimisation. Errors (torch's included) surface as std::runtime_error with a
// message fit for users; a set `cancelled` flag ends the run with Cancelled within one iteration.
StylizeResult stylize(const StylizeOptions& options, const ProgressCallback& onProgress,
                      const std::atomic<bool>& cancelled);

// One evaluation of the objective at `image` (0..1 RGB), for checking the engine against a
// reference: the losses and the gradient of the total loss with respect to `image`.
struct Evaluation {
  Losses losses;
  PlanarImage gradient;
};

struct EvaluateOptions {
  ModelOptions model;
  LossOptions losses;
  PlanarImage content;
  std::vector<PlanarImage> styles;
  PlanarImage image;
  int threads = 0;
};

Evaluation evaluate(const EvaluateOptions& options);

// The style image with its colours matched to the content's (ColourMode::Histogram), unclamped.
PlanarImage matchColours(const RgbImage& style, const RgbImage& content, ColourTransfer transfer);

// A VGG-19 to be written as TorchScript: its 16 convolutions in order, 3x3, each reading the
// previous one's channels (3 for the first).
struct Convolution {
  int64_t outChannels = 0;
  int64_t inChannels = 0;
  std::vector<float> weight;  // outChannels * inChannels * 3 * 3
  std::vector<float> bias;    // outChannels
};

struct SaveModelOptions {
  std::vector<Convolution> convolutions;
  Preprocessing preprocess{};  // recorded in the file: Torchvision or Caffe
  std::string path;
};

// Writes a TorchScript module that this engine, and PyTorch's torch.jit.load, load as VGG-19
// features: children conv1_1, relu1_1, ..., pool5, and the preprocessing in its metadata.
void saveVgg19(const SaveModelOptions& options);

struct NormalizeModelOptions {
  ModelOptions model;
  std::vector<RgbImage> calibration;  // the images whose mean activations become 1
  std::string path;
};

// Loads a VGG-19, normalises it on the calibration images and writes it as saveVgg19 does.
void saveNormalizedVgg19(const NormalizeModelOptions& options);

// What a model file holds, as this engine reads it.
struct ModelLayer {
  std::string name;         // conv1_1, relu1_1, pool1, ...
  int64_t inChannels = 0;   // convolutions only
  int64_t outChannels = 0;  // convolutions only
};

struct ModelInfo {
  std::vector<ModelLayer> layers;
  std::string preprocessing;  // what its metadata records ("torchvision", "caffe"), or ""
  int64_t parameters = 0;     // the convolutions' weights and biases
};

ModelInfo modelInfo(const std::string& path);

struct RuntimeInfo {
  std::string torchVersion;
  int cudaDevices = 0;
  size_t heldCpuBytes = 0;       // CPU tensor memory still held by the engine
  size_t reservedCudaBytes = 0;  // GPU memory LibTorch's CUDA allocator holds
  bool cxx11Abi = false;         // the libstdc++ ABI the addon (and so its LibTorch) was built with
  std::string openblasCore;      // the core type OpenBLAS chose, when LibTorch's BLAS is OpenBLAS
  std::string buildConfig;       // LibTorch's own account of its build (at::show_config)
};

RuntimeInfo runtimeInfo();

}  // namespace neural_style
