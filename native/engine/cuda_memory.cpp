#include "cuda_memory.h"

#include <atomic>

#ifdef NEURAL_STYLE_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace neural_style {
namespace {

// The allocator's statistics are an error to ask for before CUDA is initialised, which here
// happens only in a run.
std::atomic<bool> cudaRunEnded{false};

}  // namespace

CudaCacheRelease::~CudaCacheRelease() {
#ifdef NEURAL_STYLE_WITH_CUDA
  if (!onCuda_) return;
  cudaRunEnded = true;
  try {
    c10::cuda::CUDACachingAllocator::emptyCache();
  } catch (const c10::Error&) {
    // The blocks stay cached; the next run takes them again.
  }
#endif
}

size_t reservedCudaBytes() {
  size_t bytes = 0;
#ifdef NEURAL_STYLE_WITH_CUDA
  if (!cudaRunEnded) return 0;
  for (c10::DeviceIndex device = 0; device < c10::cuda::device_count(); ++device) {
    // Entry 0 of each statistic is the aggregate over the small and large block pools.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
    bytes += static_cast<size_t>(stats.reserved_bytes[0].current);
  }
#endif
  return bytes;
}

}  // namespace neural_style
