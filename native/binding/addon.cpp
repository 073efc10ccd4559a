// N-API entry points: each call converts its options on the JS thread, runs the engine in an
// async worker and settles a promise; progress crosses back through the worker's queue.
#include <napi.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../engine/engine.h"
#include "convert.h"

namespace neural_style::binding {
namespace {

using CancelFlag = std::shared_ptr<std::atomic<bool>>;

// Calls `callback` through the C API. While an environment shuts down (process.exit() in a
// worker thread, Worker.terminate()) calls into it fail, and node-addon-api, asked to make an
// Error of such a failure, aborts the process: here a failure only returns false. What the
// callback threw, if it threw, is left in `thrown`.
bool callIntoJs(napi_env env, napi_value callback, const std::vector<napi_value>& args, napi_value* thrown) {
  napi_value global = nullptr;
  napi_value result = nullptr;
  if (napi_get_global(env, &global) == napi_ok &&
      napi_call_function(env, global, callback, args.size(), args.data(), &result) == napi_ok) {
    return true;
  }
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, thrown);
  return false;
}

// What onProgress threw, as the run's error: an Error as it is, anything else wrapped in one that
// says so, with the value as its cause. Null when the environment can no longer make one.
napi_value callbackFailure(napi_env env, napi_value thrown) {
  bool isError = false;
  if (napi_is_error(env, thrown, &isError) != napi_ok) return nullptr;
  if (isError) return thrown;
  napi_value text = nullptr, message = nullptr, error = nullptr;
  size_t length = 0;
  std::string shown = "a value that is not an Error";
  if (napi_coerce_to_string(env, thrown, &text) == napi_ok &&
      napi_get_value_string_utf8(env, text, nullptr, 0, &length) == napi_ok) {
    shown.assign(length, '\0');
    napi_get_value_string_utf8(env, text, shown.data(), length + 1, &length);
  } else {
    bool pending = false;
    napi_value ignored = nullptr;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
      napi_get_and_clear_last_exception(env, &ignored);
  }
  const std::string said = "onProgress threw " + shown;
  if (napi_create_string_utf8(env, said.c_str(), said.size(), &message) != napi_ok ||
      napi_create_error(env, nullptr, message, &error) != napi_ok ||
      napi_set_named_property(env, error, "cause", thrown) != napi_ok) {
    return nullptr;
  }
  return error;
}

// The runs started from one JavaScript environment (the main thread, or a worker thread). When
// it shuts down, say by Worker.terminate(), its runs are cancelled so it need not wait for them.
using ActiveRuns = std::set<CancelFlag>;

// A worker whose promise is settled in OnOK alone, never through SetError: while an environment
// shuts down, every call into it can fail, and such a failure must end quietly, not abort Node.
template <typename Base>
class SettlingWorker : public Base {
 public:
  template <typename... Args>
  explicit SettlingWorker(Napi::Env env, Args&&... args)
      : Base(env, std::forward<Args>(args)...), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  // Resolves or rejects the promise on the JS thread.
  virtual void Settle(const Napi::Promise::Deferred& deferred) = 0;

  void OnOK() override {
    try {
      Napi::HandleScope scope(this->Env());
      Settle(deferred_);
    } catch (const Napi::Error&) {
      // The environment is going away: nothing is left to observe the promise.
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
};

class StylizeWorker : public SettlingWorker<Napi::AsyncProgressQueueWorker<Progress>> {
 public:
  StylizeWorker(Napi::Env env, StylizeOptions options, Napi::Value onProgress, std::shared_ptr<ActiveRuns> activeRuns)
      : SettlingWorker(env, "neural-style:stylize"),
        options_(std::move(options)),
        cancelled_(std::make_shared<std::atomic<bool>>(false)),
        activeRuns_(std::move(activeRuns)) {
    if (onProgress.IsFunction()) onProgress_ = Napi::Persistent(onProgress.As<Napi::Function>());
    // Called before each event is built: a call that fails says the environment is going away,
    // and nothing more may be made in it (a failure then would abort the process).
    probe_ = Napi::Persistent(Napi::Function::New(env, [](const Napi::CallbackInfo&) {}));
    activeRuns_->insert(cancelled_);
  }

  const CancelFlag& Cancelled() const { return cancelled_; }

 protected:
  void Execute(const ExecutionProgress& queue) override {
    try {
      result_ = stylize(
          options_, [&](const Progress& progress) { queue.Send(&progress, 1); }, *cancelled_);
    } catch (const neural_style::Cancelled& error) {
      aborted_ = true;
      failure_ = error.what();
    } catch (const EngineError& error) {
      failure_ = error.what();
      engineFailure_ = error;
    } catch (const std::exception& error) {
      failure_ = error.what();
    }
  }

  // Events the engine queued before a cancellation are dropped: once cancel() has returned on
  // this thread, the caller hears of the run only through its promise. Each delivery first checks
  // that the environment still runs JavaScript; when it does not, the run is cancelled.
  void OnProgress(const Progress* events, size_t count) override {
    const napi_env env = Env();
    napi_handle_scope scope = nullptr;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return cancelled_->store(true);
    for (size_t i = 0; i < count && !cancelled_->load(); ++i) {
      napi_value thrown = nullptr;
      if (!callIntoJs(env, probe_.Value(), {}, &thrown)) {
        cancelled_->store(true);
      } else if (!onProgress_.IsEmpty() &&
                 !callIntoJs(env, onProgress_.Value(), {fromProgress(Env(), events[i])}, &thrown)) {
        // A throwing progress callback ends the run and becomes its error.
        napi_value failure = thrown ? callbackFailure(env, thrown) : nullptr;
        napi_ref reference = nullptr;
        if (failure && napi_create_reference(env, failure, 1, &reference) == napi_ok) {
          callbackError_ = Napi::ObjectReference(env, reference);
        }
        cancelled_->store(true);
      }
    }
    napi_close_handle_scope(env, scope);
  }

  void Settle(const Napi::Promise::Deferred& deferred) override {
    activeRuns_->erase(cancelled_);
    if (!callbackError_.IsEmpty()) return deferred.Reject(callbackError_.Value());
    if (failure_.empty()) return deferred.Resolve(fromResult(Env(), result_));
    Napi::Error error = toError(Env(), failure_, engineFailure_);
    if (aborted_) error.Set("name", Napi::String::New(Env(), "AbortError"));
    deferred.Reject(error.Value());
  }

 private:
  StylizeOptions options_;
  CancelFlag cancelled_;
  std::shared_ptr<ActiveRuns> activeRuns_;
  Napi::FunctionReference onProgress_;
  Napi::FunctionReference probe_;
  Napi::ObjectReference callbackError_;
  StylizeResult result_;
  std::string failure_;
  std::optional<EngineError> engineFailure_;
  bool aborted_ = false;
};

// Runs `work` off the JS thread, then resolves with `present(result)` or rejects with its error.
template <typename Result>
class TaskWorker : public SettlingWorker<Napi::AsyncWorker> {
 public:
  using Present = Napi::Value (*)(Napi::Env, const Result&);

  TaskWorker(Napi::Env env, const char* name, std::function<Result()> work, Present present)
      : SettlingWorker(env, name), work_(std::move(work)), present_(present) {}

 protected:
  void Execute() override {
    try {
      result_ = work_();
    } catch (const EngineError& error) {
      failure_ = error.what();
      engineFailure_ = error;
    } catch (const std::exception& error) {
      failure_ = error.what();
    }
  }

  void Settle(const Napi::Promise::Deferred& deferred) override {
    if (failure_.empty()) return deferred.Resolve(present_(Env(), result_));
    deferred.Reject(toError(Env(), failure_, engineFailure_).Value());
  }

 private:
  std::function<Result()> work_;
  Present present_;
  Result result_{};
  std::string failure_;
  std::optional<EngineError> engineFailure_;
};

template <typename Result>
Napi::Promise runTask(Napi::Env env, const char* name, std::function<Result()> work,
                      typename TaskWorker<Result>::Present present) {
  auto* worker = new TaskWorker<Result>(env, name, std::move(work), present);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Object requireObject(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(info.Env(), "Expected an options object");
  }
  return info[0].As<Napi::Object>();
}

// stylize(options, onProgress?) -> { promise, cancel() }
Napi::Value Stylize(const Napi::CallbackInfo& info, const std::shared_ptr<ActiveRuns>& activeRuns) {
  Napi::Env env = info.Env();
  auto* worker = new StylizeWorker(env, toStylizeOptions(requireObject(info)), info[1], activeRuns);
  Napi::Object job = Napi::Object::New(env);
  job.Set("promise", worker->Promise());
  job.Set("cancel", Napi::Function::New(
                        env, [cancelled = worker->Cancelled()](const Napi::CallbackInfo&) { cancelled->store(true); }));
  worker->Queue();
  return job;
}

// evaluate(options) -> Promise<{ loss, content, style, tv, gradient }>
Napi::Value Evaluate(const Napi::CallbackInfo& info) {
  return runTask<Evaluation>(
      info.Env(), "neural-style:evaluate",
      [options = toEvaluateOptions(requireObject(info))] { return evaluate(options); },
      [](Napi::Env env, const Evaluation& evaluation) -> Napi::Value { return fromEvaluation(env, evaluation); });
}

// A task that writes a file and resolves with undefined.
template <typename Options>
Napi::Promise runWriteTask(const Napi::CallbackInfo& info, const char* name, Options options,
                           void (*write)(const Options&)) {
  return runTask<bool>(
      info.Env(), name,
      [options = std::move(options), write] {
        write(options);
        return true;
      },
      [](Napi::Env env, const bool&) { return env.Undefined(); });
}

// normalizeModel({ modelPath | randomWeightsSeed, preprocess?, pooling, precision, calibration, path }) ->
// Promise<undefined>
Napi::Value NormalizeModel(const Napi::CallbackInfo& info) {
  return runWriteTask(info, "neural-style:normalize-model", toNormalizeModelOptions(requireObject(info)),
                      saveNormalizedVgg19);
}

// matchColours({ style, content, colorTransfer }) -> Promise<{ width, height, data: Float32Array }>
Napi::Value MatchColours(const Napi::CallbackInfo& info) {
  return runTask<PlanarImage>(
      info.Env(), "neural-style:match-colours",
      [match = toColourMatch(requireObject(info))] { return matchColours(match.style, match.content, match.transfer); },
      [](Napi::Env env, const PlanarImage& image) -> Napi::Value { return fromPlanar(env, image); });
}

// saveModel(options) -> Promise<undefined>
Napi::Value SaveModel(const Napi::CallbackInfo& info) {
  return runWriteTask(info, "neural-style:save-model", toSaveModelOptions(requireObject(info)), saveVgg19);
}

// modelInfo(path) -> Promise<{ layers: [{ name, inChannels, outChannels }], preprocessing, parameters }>
Napi::Value DescribeModel(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "Expected a model path");
  return runTask<ModelInfo>(
      info.Env(), "neural-style:model-info",
      [path = info[0].As<Napi::String>().Utf8Value()] { return modelInfo(path); },
      [](Napi::Env env, const ModelInfo& model) -> Napi::Value {
        Napi::Object object = Napi::Object::New(env);
        Napi::Array layers = Napi::Array::New(env, model.layers.size());
        for (size_t i = 0; i < model.layers.size(); ++i) {
          Napi::Object layer = Napi::Object::New(env);
          layer.Set("name", model.layers[i].name);
          layer.Set("inChannels", static_cast<double>(model.layers[i].inChannels));
          layer.Set("outChannels", static_cast<double>(model.layers[i].outChannels));
          layers.Set(static_cast<uint32_t>(i), layer);
        }
        object.Set("layers", layers);
        object.Set("preprocessing", model.preprocessing);
        object.Set("parameters", static_cast<double>(model.parameters));
        return object;
      });
}

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  const auto runtime = runtimeInfo();
  Napi::Object object = Napi::Object::New(info.Env());
  object.Set("torchVersion", runtime.torchVersion);
  object.Set("cudaDevices", runtime.cudaDevices);
  object.Set("heldCpuBytes", static_cast<double>(runtime.heldCpuBytes));
  object.Set("reservedCudaBytes", static_cast<double>(runtime.reservedCudaBytes));
  object.Set("cxx11Abi", runtime.cxx11Abi);
  object.Set("openblasCore", runtime.openblasCore);
  object.Set("buildConfig", runtime.buildConfig);
  return object;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto activeRuns = std::make_shared<ActiveRuns>();
  env.AddCleanupHook([activeRuns] {
    for (const auto& cancelled : *activeRuns) cancelled->store(true);
  });
  exports.Set("stylize", Napi::Function::New(
                             env, [activeRuns](const Napi::CallbackInfo& info) { return Stylize(info, activeRuns); }));
  exports.Set("evaluate", Napi::Function::New(env, Evaluate));
  exports.Set("matchColours", Napi::Function::New(env, MatchColours));
  exports.Set("normalizeModel", Napi::Function::New(env, NormalizeModel));
  exports.Set("saveModel", Napi::Function::New(env, SaveModel));
  exports.Set("modelInfo", Napi::Function::New(env, DescribeModel));
  exports.Set("runtimeInfo", Napi::Function::New(env, RuntimeInfo));
  return exports;
}

}  // namespace neural_style::binding

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return neural_style::binding::Init(env, exports);
}

NODE_API_MODULE(neural_style, InitModule)
