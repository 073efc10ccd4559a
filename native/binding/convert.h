// Conversions between JavaScript values and the engine's plain structs, on the JS thread.
#pragma once

#include <napi.h>

#include "../engine/engine.h"

namespace neural_style::binding {

StylizeOptions toStylizeOptions(const Napi::Object& options);
EvaluateOptions toEvaluateOptions(const Napi::Object& options);
SaveModelOptions toSaveModelOptions(const Napi::Object& options);
NormalizeModelOptions toNormalizeModelOptions(const Napi::Object& options);

// matchColours' arguments.
struct ColourMatch {
  RgbImage style;
  RgbImage content;
  ColourTransfer transfer;
};
ColourMatch toColourMatch(const Napi::Object& options);
Napi::Object fromPlanar(Napi::Env env, const PlanarImage& image);

Napi::Object fromLosses(Napi::Env env, const Losses& losses);
// Copies into a Node-owned Buffer: Electron refuses external memory.
Napi::Object fromRgb(Napi::Env env, const RgbImage& image);
Napi::Object fromProgress(Napi::Env env, const Progress& progress);
Napi::Object fromResult(Napi::Env env, const StylizeResult& result);
Napi::Object fromEvaluation(Napi::Env env, const Evaluation& evaluation);

// A failed run's error for JavaScript: with an EngineError, its kind as `code` (such as
// NEURAL_STYLE_IMAGE_TOO_SMALL) and its details as properties, for the TypeScript layer to say
// what to change in the caller's own words.
Napi::Error toError(Napi::Env env, const std::string& message, const std::optional<EngineError>& engine);

}  // namespace neural_style::binding
