// N-API entry points: each call converts its options on the JS thread, runs the engine in an
// async worker and settles a promise; progress crosses back through the worker's queue.
#include <napi.h>

#include <memory>

#include "../engine/engine.h"
#include "convert.h"

namespace neural_style::binding {
namespace {

class StylizeWorker : public Napi::AsyncProgressQueueWorker<Progress> {
 public:
  StylizeWorker(Napi::Env env, StylizeOptions options, Napi::Value onProgress,
                std::shared_ptr<std::atomic<bool>> cancelled)
      : AsyncProgressQueueWorker(env, "neural-style:stylize"),
        deferred_(Napi::Promise::Deferred::New(env)),
        options_(std::move(options)),
        cancelled_(std::move(cancelled)) {
    if (onProgress.IsFunction()) onProgress_ = Napi::Persistent(onProgress.As<Napi::Function>());
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute(const ExecutionProgress& queue) override {
    try {
      result_ = stylize(options_, [&](const Progress& progress) { queue.Send(&progress, 1); },
                        *cancelled_);
    } catch (const Cancelled& error) {
      aborted_ = true;
      SetError(error.what());
    } catch (const std::exception& error) {
      SetError(error.what());
    }
  }

  void OnProgress(const Progress* events, size_t count) override {
    Napi::HandleScope scope(Env());
    if (onProgress_.IsEmpty() || !callbackError_.IsEmpty()) return;
    for (size_t i = 0; i < count; ++i) {
      try {
        onProgress_.Call({fromProgress(Env(), events[i])});
      } catch (const Napi::Error& error) {
        // A throwing progress callback ends the run and becomes its error.
        callbackError_ = Napi::Persistent(error.Value());
        cancelled_->store(true);
        return;
      }
    }
  }

  void OnOK() override {
    if (!callbackError_.IsEmpty()) return deferred_.Reject(callbackError_.Value());
    deferred_.Resolve(fromResult(Env(), result_));
  }

  void OnError(const Napi::Error& error) override {
    if (!callbackError_.IsEmpty()) return deferred_.Reject(callbackError_.Value());
    if (aborted_) error.Value().Set("name", "AbortError");
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  StylizeOptions options_;
  std::shared_ptr<std::atomic<bool>> cancelled_;
  Napi::FunctionReference onProgress_;
  Napi::ObjectReference callbackError_;
  StylizeResult result_;
  bool aborted_ = false;
};

class EvaluateWorker : public Napi::AsyncWorker {
 public:
  EvaluateWorker(Napi::Env env, EvaluateOptions options)
      : AsyncWorker(env, "neural-style:evaluate"),
        deferred_(Napi::Promise::Deferred::New(env)),
        options_(std::move(options)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      result_ = evaluate(options_);
    } catch (const std::exception& error) {
      SetError(error.what());
    }
  }
  void OnOK() override { deferred_.Resolve(fromEvaluation(Env(), result_)); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  EvaluateOptions options_;
  Evaluation result_;
};

Napi::Object requireObject(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(info.Env(), "Expected an options object");
  }
  return info[0].As<Napi::Object>();
}

// stylize(options, onProgress?) -> { promise, cancel() }
Napi::Value Stylize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  auto* worker = new StylizeWorker(env, toStylizeOptions(requireObject(info)), info[1], cancelled);
  Napi::Object job = Napi::Object::New(env);
  job.Set("promise", worker->Promise());
  job.Set("cancel", Napi::Function::New(env, [cancelled](const Napi::CallbackInfo&) {
            cancelled->store(true);
          }));
  worker->Queue();
  return job;
}

// evaluate(options) -> Promise<{ loss, content, style, tv, gradient }>
Napi::Value Evaluate(const Napi::CallbackInfo& info) {
  auto* worker = new EvaluateWorker(info.Env(), toEvaluateOptions(requireObject(info)));
  worker->Queue();
  return worker->Promise();
}

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  const auto runtime = runtimeInfo();
  Napi::Object object = Napi::Object::New(info.Env());
  object.Set("torchVersion", runtime.torchVersion);
  object.Set("cudaDevices", runtime.cudaDevices);
  object.Set("heldCpuBytes", static_cast<double>(runtime.heldCpuBytes));
  return object;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("stylize", Napi::Function::New(env, Stylize));
  exports.Set("evaluate", Napi::Function::New(env, Evaluate));
  exports.Set("runtimeInfo", Napi::Function::New(env, RuntimeInfo));
  return exports;
}

}  // namespace neural_style::binding

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return neural_style::binding::Init(env, exports);
}

NODE_API_MODULE(neural_style, InitModule)
