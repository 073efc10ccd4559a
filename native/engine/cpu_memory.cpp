#include "cpu_memory.h"

#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/mman.h>

#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine.h"

namespace neural_style {
namespace {

constexpr size_t kAlignment = 64;  // what c10's own CPU allocator guarantees
constexpr size_t kNoBudget = SIZE_MAX;
// Blocks from this size up are mapped and unmapped by the pool itself. From glibc's heaps, where
// its raised mmap threshold puts them after a first run, freed activations stayed resident past
// the trim at a run's end now and then: 12 to 50 MB after 1 run in 6 at 256x192 (LibTorch 2.6).
constexpr size_t kMappedFrom = size_t{1} << 20;

void* systemAllocate(size_t size) {
  if (size >= kMappedFrom) {
    void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return data == MAP_FAILED ? nullptr : data;
  }
  void* data = nullptr;
  return posix_memalign(&data, kAlignment, size) == 0 ? data : nullptr;
}

void systemFree(void* data, size_t size) {
  if (size >= kMappedFrom) {
    munmap(data, size);
  } else {
    std::free(data);
  }
}

// LibTorch 2.3 made Allocator::allocate non-const.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define NEURAL_STYLE_ALLOCATE_QUALIFIER
#else
#define NEURAL_STYLE_ALLOCATE_QUALIFIER const
#endif

struct Pool {
  std::mutex mutex;
  std::unordered_map<void*, size_t> sizes;                    // every block handed out
  std::unordered_map<size_t, std::vector<void*>> freeBlocks;  // kept for reuse, by size
  size_t heldBytes = 0;                                       // the sizes of every block handed out
  size_t budget = kNoBudget;                                  // the most heldBytes may reach while runs are active
  int activeRuns = 0;
};

Pool& pool() {
  static Pool* instance = new Pool();  // never destroyed: tensors may outlive static teardown
  return *instance;
}

// Returns the blocks kept for reuse to the system. The caller holds the pool's lock.
void releaseFreeBlocks(Pool& p) {
  for (auto& [size, blocks] : p.freeBlocks) {
    for (void* data : blocks) {
      p.sizes.erase(data);
      p.heldBytes -= size;
      systemFree(data, size);
    }
  }
  p.freeBlocks.clear();
}

std::string gib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

// The deleter gets the data pointer itself: oneDNN frees through raw_deleter() that way, and
// may so free memory that c10's default allocator (posix_memalign as well) handed out before
// this one was installed: unknown pointers go straight back to the system.
void giveBack(void* data) {
  Pool& p = pool();
  size_t size = 0;  // stays 0 for a pointer the pool did not hand out
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto known = p.sizes.find(data);
    if (known != p.sizes.end()) {
      size = known->second;
      if (p.activeRuns > 0) {
        p.freeBlocks[size].push_back(data);
        return;
      }
      p.heldBytes -= size;
      p.sizes.erase(known);
    }
  }
  systemFree(data, size);
}

class ReusingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t size) NEURAL_STYLE_ALLOCATE_QUALIFIER override {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (size == 0) return {nullptr, cpu};
    void* data = takeCached(size);
    if (data == nullptr) data = allocateFresh(size);
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

  static void* allocateFresh(size_t size) {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.activeRuns > 0 && p.heldBytes + size > p.budget) {
      // Kept blocks only save time: give them back before refusing.
      releaseFreeBlocks(p);
      if (p.heldBytes + size > p.budget) {
        throw EngineError(
            EngineError::Kind::OutOfMemory,
            "Out of memory: the run holds " + gib(p.heldBytes) + " and needs more, but only " + gib(p.budget) +
                " can be had without the system killing the process",
            {{"heldBytes", static_cast<double>(p.heldBytes)}, {"budgetBytes", static_cast<double>(p.budget)}});
      }
    }
    void* data = systemAllocate(size);
    if (data == nullptr) throw std::bad_alloc();
    p.sizes[data] = size;
    p.heldBytes += size;
    return data;
  }
};

}  // namespace

CpuMemoryReuse::CpuMemoryReuse(size_t availableBytes) {
  static ReusingCpuAllocator allocator;
  static std::once_flag installed;
  std::call_once(installed, [] { c10::SetCPUAllocator(&allocator, /*priority=*/1); });
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  ++p.activeRuns;
  if (availableBytes > 0) {
    // What the process allocates besides tensors (oneDNN's code and caches, thread stacks, the
    // JavaScript heap) comes out of the same memory.
    const size_t reserve = std::max<size_t>(size_t{64} << 20, availableBytes / 20);
    p.budget = p.heldBytes + (availableBytes > reserve ? availableBytes - reserve : 0);
  }
}

CpuMemoryReuse::~CpuMemoryReuse() {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (--p.activeRuns > 0) return;
    releaseFreeBlocks(p);
    p.budget = kNoBudget;
  }
#ifdef __GLIBC__
  // The pool's small blocks, and what LibTorch and oneDNN allocate outside it, come from glibc's
  // heaps, which keep freed pages resident (before the pool mapped its large blocks, 30 runs at
  // 256x192 in one process grew by about 250 MB every other run). Give them back as the last run ends.
  malloc_trim(0);
#endif
}

size_t heldCpuBytes() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.heldBytes;
}

}  // namespace neural_style
