// GPU memory held by LibTorch's CUDA caching allocator. It keeps every block a run frees for
// the next allocation, and so, left alone, keeps a run's peak (gigabytes at 512 px) until the
// process exits: an app that has finished stylizing would hold the GPU memory other programs
// need. Built against the allocator only when LibTorch has CUDA (NEURAL_STYLE_WITH_CUDA).
#pragma once

#include <c10/core/Device.h>

#include <cstddef>

namespace neural_style {

// Held for the length of a run on `device` (construct it before any tensor of the run): when the
// run ends, however it ends, the blocks no tensor uses any more go back to the driver, as
// torch.cuda.empty_cache() does. A run still going on another thread keeps its blocks.
class CudaCacheRelease {
 public:
  explicit CudaCacheRelease(const c10::Device& device) : onCuda_(device.is_cuda()) {}
  ~CudaCacheRelease();
  CudaCacheRelease(const CudaCacheRelease&) = delete;
  CudaCacheRelease& operator=(const CudaCacheRelease&) = delete;

 private:
  [[maybe_unused]] bool onCuda_;
};

// Bytes the caching allocator holds on all CUDA devices, in use or cached: 0 until a run on
// CUDA has ended, and always 0 without CUDA.
size_t reservedCudaBytes();

}  // namespace neural_style
