#include "cpu_memory.h"

#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace neural_style {
namespace {

constexpr size_t kAlignment = 64;  // what c10's own CPU allocator guarantees

// LibTorch 2.3 made Allocator::allocate non-const.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define NEURAL_STYLE_ALLOCATE_QUALIFIER
#else
#define NEURAL_STYLE_ALLOCATE_QUALIFIER const
#endif

struct Pool {
  std::mutex mutex;
  std::unordered_map<void*, size_t> sizes;                   // every block handed out
  std::unordered_map<size_t, std::vector<void*>> freeBlocks;  // kept for reuse, by size
  int activeRuns = 0;
};

Pool& pool() {
  static Pool* instance = new Pool();  // never destroyed: tensors may outlive static teardown
  return *instance;
}

// The deleter gets the data pointer itself: oneDNN frees through raw_deleter() that way, and
// may so free memory that c10's default allocator (posix_memalign as well) handed out before
// this one was installed: unknown pointers go straight back to the system.
void giveBack(void* data) {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto known = p.sizes.find(data);
    if (known != p.sizes.end()) {
      if (p.activeRuns > 0) {
        p.freeBlocks[known->second].push_back(data);
        return;
      }
      p.sizes.erase(known);
    }
  }
  std::free(data);
}

class ReusingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t size) NEURAL_STYLE_ALLOCATE_QUALIFIER override {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (size == 0) return {nullptr, cpu};
    void* data = takeCached(size);
    if (data == nullptr) {
      if (posix_memalign(&data, kAlignment, size) != 0) throw std::bad_alloc();
      std::lock_guard<std::mutex> lock(pool().mutex);
      pool().sizes[data] = size;
    }
    return {data, data, &giveBack, cpu};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &giveBack; }

  // LibTorch 2.2 and later declare this pure virtual (and so call it here); 1.13 has none.
  void copy_data(void* destination, const void* source, std::size_t count) const {
    std::memcpy(destination, source, count);
  }

 private:
  static void* takeCached(size_t size) {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    auto found = p.freeBlocks.find(size);
    if (found == p.freeBlocks.end() || found->second.empty()) return nullptr;
    void* data = found->second.back();
    found->second.pop_back();
    return data;
  }
};

}  // namespace

CpuMemoryReuse::CpuMemoryReuse() {
  static ReusingCpuAllocator allocator;
  static std::once_flag installed;
  std::call_once(installed, [] { c10::SetCPUAllocator(&allocator, /*priority=*/1); });
  std::lock_guard<std::mutex> lock(pool().mutex);
  ++pool().activeRuns;
}

CpuMemoryReuse::~CpuMemoryReuse() {
  std::vector<void*> released;
  {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (--p.activeRuns > 0) return;
    for (auto& [size, blocks] : p.freeBlocks) {
      for (void* data : blocks) {
        p.sizes.erase(data);
        released.push_back(data);
      }
    }
    p.freeBlocks.clear();
  }
  for (void* data : released) std::free(data);
}

size_t heldCpuBytes() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  size_t total = 0;
  for (const auto& [data, size] : p.sizes) total += size;
  return total;
}

}  // namespace neural_style
