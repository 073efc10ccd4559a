#include "convert.h"

#include <array>
#include <string_view>
#include <utility>

namespace neural_style::binding {
namespace {

// The TypeScript layer validates every option first; these checks only keep a direct caller
// of the addon from reading garbage.
Napi::Value field(const Napi::Object& object, const char* name) {
  Napi::Value value = object.Get(name);
  if (value.IsUndefined()) {
    throw Napi::TypeError::New(object.Env(), std::string("Missing option ") + name);
  }
  return value;
}

double number(const Napi::Object& object, const char* name) {
  Napi::Value value = field(object, name);
  if (!value.IsNumber()) {
    throw Napi::TypeError::New(object.Env(), std::string("Expected a number for ") + name);
  }
  return value.As<Napi::Number>().DoubleValue();
}

int integer(const Napi::Object& object, const char* name) { return static_cast<int>(number(object, name)); }

bool boolean(const Napi::Object& object, const char* name) {
  Napi::Value value = field(object, name);
  if (!value.IsBoolean()) {
    throw Napi::TypeError::New(object.Env(), std::string("Expected a boolean for ") + name);
  }
  return value.As<Napi::Boolean>().Value();
}

std::string string(const Napi::Object& object, const char* name) {
  Napi::Value value = field(object, name);
  if (!value.IsString()) {
    throw Napi::TypeError::New(object.Env(), std::string("Expected a string for ") + name);
  }
  return value.As<Napi::String>().Utf8Value();
}

// The engine's value for the name at `name`, as sharp's AttrAsEnum reads one: strings end here, and
// a name the engine does not know is an error, never a fallback.
template <typename Enum, size_t Count>
Enum choice(const Napi::Object& object, const char* name,
            const std::array<std::pair<std::string_view, Enum>, Count>& names) {
  const std::string value = string(object, name);
  std::string expected;
  for (const auto& [text, item] : names) {
    if (value == text) return item;
    expected += (expected.empty() ? "" : ", ") + std::string(text);
  }
  throw Napi::TypeError::New(object.Env(),
                             "Expected one of " + expected + " for " + name + " but received '" + value + "'");
}

constexpr std::array<std::pair<std::string_view, Pooling>, 2> kPoolings{
    {{"avg", Pooling::Average}, {"max", Pooling::Max}}};
constexpr std::array<std::pair<std::string_view, Precision>, 2> kPrecisions{
    {{"float32", Precision::Float32}, {"bfloat16", Precision::Bfloat16}}};
constexpr std::array<std::pair<std::string_view, Preprocessing>, 2> kPreprocessings{
    {{"torchvision", Preprocessing::Torchvision}, {"caffe", Preprocessing::Caffe}}};
constexpr std::array<std::pair<std::string_view, Optimizer>, 2> kOptimizers{
    {{"lbfgs", Optimizer::Lbfgs}, {"adam", Optimizer::Adam}}};
constexpr std::array<std::pair<std::string_view, Init>, 2> kInits{{{"random", Init::Random}, {"image", Init::Image}}};
constexpr std::array<std::pair<std::string_view, StyleNormalization>, 2> kStyleNormalizations{
    {{"chw", StyleNormalization::Chw}, {"paper", StyleNormalization::Paper}}};
constexpr std::array<std::pair<std::string_view, ColourMode>, 3> kColourModes{
    {{"rgb", ColourMode::Rgb}, {"luminance", ColourMode::Luminance}, {"histogram", ColourMode::Histogram}}};
constexpr std::array<std::pair<std::string_view, ColourTransfer>, 3> kColourTransfers{
    {{"cholesky", ColourTransfer::Cholesky}, {"pca", ColourTransfer::Pca}, {"symmetric", ColourTransfer::Symmetric}}};

// The codes JavaScript sees for the engine's kinds of error.
constexpr std::array<std::pair<EngineError::Kind, std::string_view>, 8> kErrorCodes{{
    {EngineError::Kind::ImageTooSmall, "NEURAL_STYLE_IMAGE_TOO_SMALL"},
    {EngineError::Kind::LayerMissing, "NEURAL_STYLE_LAYER_MISSING"},
    {EngineError::Kind::LossNotFinite, "NEURAL_STYLE_LOSS_NOT_FINITE"},
    {EngineError::Kind::OutOfMemory, "NEURAL_STYLE_OUT_OF_MEMORY"},
    {EngineError::Kind::OutOfGpuMemory, "NEURAL_STYLE_OUT_OF_GPU_MEMORY"},
    {EngineError::Kind::DeviceUnavailable, "NEURAL_STYLE_DEVICE_UNAVAILABLE"},
    {EngineError::Kind::PreprocessingMismatch, "NEURAL_STYLE_PREPROCESSING_MISMATCH"},
    {EngineError::Kind::ActivationsNotFinite, "NEURAL_STYLE_ACTIVATIONS_NOT_FINITE"},
}};

// "auto", "cpu", "cuda" or "cuda:N".
DeviceChoice device(const Napi::Object& object, const char* name) {
  const std::string value = string(object, name);
  if (value == "auto") return {DeviceChoice::Kind::Auto, std::nullopt};
  if (value == "cpu") return {DeviceChoice::Kind::Cpu, std::nullopt};
  if (value == "cuda") return {DeviceChoice::Kind::Cuda, std::nullopt};
  const std::string_view prefix = "cuda:";
  const std::string index = value.substr(std::min(value.size(), prefix.size()));
  if (value.rfind(prefix, 0) == 0 && !index.empty() && index.size() < 10 &&
      index.find_first_not_of("0123456789") == std::string::npos) {
    return {DeviceChoice::Kind::Cuda, std::stoi(index)};
  }
  throw Napi::TypeError::New(object.Env(), std::string("Expected one of auto, cpu, cuda, cuda:N for ") + name +
                                               " but received '" + value + "'");
}

Napi::Array array(const Napi::Object& object, const char* name) {
  Napi::Value value = field(object, name);
  if (!value.IsArray()) {
    throw Napi::TypeError::New(object.Env(), std::string("Expected an array for ") + name);
  }
  return value.As<Napi::Array>();
}

std::vector<std::string> strings(const Napi::Object& object, const char* name) {
  Napi::Array values = array(object, name);
  std::vector<std::string> result;
  for (uint32_t i = 0; i < values.Length(); ++i) {
    result.push_back(values.Get(i).As<Napi::String>().Utf8Value());
  }
  return result;
}

std::vector<double> numbers(const Napi::Object& object, const char* name) {
  Napi::Array values = array(object, name);
  std::vector<double> result;
  for (uint32_t i = 0; i < values.Length(); ++i) {
    result.push_back(values.Get(i).As<Napi::Number>().DoubleValue());
  }
  return result;
}

Napi::Object asObject(const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(value.Env(), "Expected an object");
  return value.As<Napi::Object>();
}

// An image's size and its `channels` bytes a pixel, copied: `what` names it in errors.
template <typename Image>
Image toPixels(const Napi::Value& value, size_t channels, const char* what) {
  Napi::Object image = asObject(value);
  Image result{integer(image, "width"), integer(image, "height"), {}};
  Napi::Value data = field(image, "data");
  if (!data.IsBuffer()) throw Napi::TypeError::New(image.Env(), std::string("Expected a Buffer for ") + what + " data");
  auto buffer = data.As<Napi::Buffer<uint8_t>>();
  if (buffer.Length() != static_cast<size_t>(result.width) * result.height * channels) {
    throw Napi::RangeError::New(
        image.Env(), std::string(what) + " data does not hold width * height * " + std::to_string(channels) + " bytes");
  }
  result.pixels.assign(buffer.Data(), buffer.Data() + buffer.Length());
  return result;
}

RgbImage toRgb(const Napi::Value& value) { return toPixels<RgbImage>(value, 3, "image"); }
GreyImage toGrey(const Napi::Value& value) { return toPixels<GreyImage>(value, 1, "mask"); }

// A Float32Array of exactly `length` values, copied.
std::vector<float> floats(const Napi::Object& object, const char* name, size_t length) {
  Napi::Value data = field(object, name);
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(object.Env(), std::string("Expected a Float32Array for ") + name);
  }
  auto values = data.As<Napi::Float32Array>();
  if (values.ElementLength() != length) {
    throw Napi::RangeError::New(object.Env(), std::string("Expected ") + std::to_string(length) + " values in " + name);
  }
  return std::vector<float>(values.Data(), values.Data() + length);
}

PlanarImage toPlanar(const Napi::Value& value) {
  Napi::Object image = asObject(value);
  PlanarImage result{integer(image, "width"), integer(image, "height"), {}};
  result.values = floats(image, "data", static_cast<size_t>(result.width) * result.height * 3);
  return result;
}

Convolution toConvolution(const Napi::Value& value) {
  Napi::Object object = asObject(value);
  Convolution result;
  result.outChannels = integer(object, "outChannels");
  result.inChannels = integer(object, "inChannels");
  result.weight = floats(object, "weight", static_cast<size_t>(result.outChannels * result.inChannels * 9));
  result.bias = floats(object, "bias", static_cast<size_t>(result.outChannels));
  return result;
}

template <typename Item>
std::vector<Item> items(const Napi::Object& options, const char* name, Item (*convert)(const Napi::Value&)) {
  Napi::Array values = array(options, name);
  std::vector<Item> result;
  for (uint32_t i = 0; i < values.Length(); ++i) result.push_back(convert(values.Get(i)));
  return result;
}

// A model file (modelPath) or random weights (randomWeightsSeed): one of the two.
ModelOptions toModelOptions(const Napi::Object& options) {
  ModelOptions model;
  if (options.Has("randomWeightsSeed")) {
    model.randomSeed = static_cast<uint64_t>(number(options, "randomWeightsSeed"));
  } else {
    model.path = string(options, "modelPath");
  }
  model.preprocess = options.Get("preprocess").IsUndefined() ? Preprocessing::FromModel
                                                             : choice(options, "preprocess", kPreprocessings);
  model.pooling = choice(options, "pooling", kPoolings);
  model.precision = choice(options, "precision", kPrecisions);
  return model;
}

LossOptions toLossOptions(const Napi::Object& options) {
  LossOptions losses;
  losses.contentLayers = strings(options, "contentLayers");
  losses.styleLayers = strings(options, "styleLayers");
  losses.contentWeight = number(options, "contentWeight");
  losses.styleWeight = number(options, "styleWeight");
  losses.tvWeight = number(options, "tvWeight");
  losses.styleBlendWeights = numbers(options, "styleBlendWeights");
  losses.normalizeGradients = boolean(options, "normalizeGradients");
  losses.styleLayerWeights = numbers(options, "styleLayerWeights");
  losses.styleNormalization = choice(options, "styleNormalization", kStyleNormalizations);
  return losses;
}

}  // namespace

StylizeOptions toStylizeOptions(const Napi::Object& options) {
  StylizeOptions result;
  result.model = toModelOptions(options);
  result.losses = toLossOptions(options);
  result.content = toRgb(field(options, "content"));
  result.styles = items(options, "styles", toRgb);
  result.styleMasks = items(options, "styleMasks", toGrey);
  result.iterations = integer(options, "iterations");
  result.optimizer = choice(options, "optimizer", kOptimizers);
  result.learningRate = number(options, "learningRate");
  result.lbfgsHistory = integer(options, "lbfgsHistory");
  result.init = choice(options, "init", kInits);
  if (!options.Get("initImage").IsUndefined()) result.initImage = toRgb(options.Get("initImage"));
  result.seed = static_cast<uint64_t>(number(options, "seed"));
  result.normalizeNetwork = boolean(options, "normalizeNetwork");
  result.calibration = items(options, "calibration", toRgb);
  result.originalColors = boolean(options, "originalColors");
  result.colourMode = choice(options, "colorMode", kColourModes);
  result.colourTransfer = choice(options, "colorTransfer", kColourTransfers);
  result.device = device(options, "device");
  result.threads = integer(options, "threads");
  result.availableMemory = static_cast<size_t>(number(options, "availableMemory"));
  result.progressInterval = integer(options, "progressInterval");
  result.previewInterval = integer(options, "previewInterval");
  return result;
}

EvaluateOptions toEvaluateOptions(const Napi::Object& options) {
  EvaluateOptions result;
  result.model = toModelOptions(options);
  result.losses = toLossOptions(options);
  result.content = toPlanar(field(options, "content"));
  result.styles = items(options, "styles", toPlanar);
  result.image = toPlanar(field(options, "image"));
  result.threads = integer(options, "threads");
  return result;
}

NormalizeModelOptions toNormalizeModelOptions(const Napi::Object& options) {
  NormalizeModelOptions result;
  result.model = toModelOptions(options);
  result.calibration = items(options, "calibration", toRgb);
  result.path = string(options, "path");
  return result;
}

ColourMatch toColourMatch(const Napi::Object& options) {
  return {toRgb(field(options, "style")), toRgb(field(options, "content")),
          choice(options, "colorTransfer", kColourTransfers)};
}

Napi::Object fromPlanar(Napi::Env env, const PlanarImage& image) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("width", image.width);
  object.Set("height", image.height);
  auto data = Napi::Float32Array::New(env, image.values.size());
  std::copy(image.values.begin(), image.values.end(), data.Data());
  object.Set("data", data);
  return object;
}

SaveModelOptions toSaveModelOptions(const Napi::Object& options) {
  SaveModelOptions result;
  result.convolutions = items(options, "convolutions", toConvolution);
  result.preprocess = choice(options, "preprocess", kPreprocessings);
  result.path = string(options, "path");
  return result;
}

Napi::Object fromLosses(Napi::Env env, const Losses& losses) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("loss", losses.total);
  object.Set("content", losses.content);
  object.Set("style", losses.style);
  object.Set("tv", losses.tv);
  return object;
}

Napi::Object fromRgb(Napi::Env env, const RgbImage& image) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("width", image.width);
  object.Set("height", image.height);
  object.Set("data", Napi::Buffer<uint8_t>::Copy(env, image.pixels.data(), image.pixels.size()));
  return object;
}

Napi::Object fromProgress(Napi::Env env, const Progress& progress) {
  Napi::Object object = fromLosses(env, progress.losses);
  object.Set("iteration", progress.iteration);
  object.Set("elapsedMs", progress.elapsedMs);
  if (progress.preview) object.Set("preview", fromRgb(env, *progress.preview));
  return object;
}

Napi::Object fromResult(Napi::Env env, const StylizeResult& result) {
  Napi::Object object = fromLosses(env, result.losses);
  object.Set("image", fromRgb(env, result.image));
  object.Set("iterations", result.iterations);
  object.Set("elapsedMs", result.elapsedMs);
  object.Set("device", result.device);
  return object;
}

Napi::Object fromEvaluation(Napi::Env env, const Evaluation& evaluation) {
  Napi::Object object = fromLosses(env, evaluation.losses);
  const auto& values = evaluation.gradient.values;
  auto gradient = Napi::Float32Array::New(env, values.size());
  std::copy(values.begin(), values.end(), gradient.Data());
  object.Set("gradient", gradient);
  return object;
}

Napi::Error toError(Napi::Env env, const std::string& message, const std::optional<EngineError>& engine) {
  Napi::Error error = Napi::Error::New(env, message);
  if (!engine) return error;
  for (const auto& [kind, code] : kErrorCodes) {
    if (kind == engine->kind) error.Set("code", Napi::String::New(env, std::string(code)));
  }
  for (const auto& [name, value] : engine->details) {
    if (const auto* number = std::get_if<double>(&value)) {
      error.Set(name, Napi::Number::New(env, *number));
    } else {
      error.Set(name, Napi::String::New(env, std::get<std::string>(value)));
    }
  }
  return error;
}

}  // namespace neural_style::binding
