// Reuse of CPU tensor memory within runs. Every iteration allocates the same activation sizes
// again; taking them fresh from the system costs a page fault per page (on the development
// machine a 50 MB buffer took 80 ms just to touch), so freed blocks are kept and handed out
// again while any run is active, and returned to the system when the last run ends.
//
// The same allocator keeps runs within the memory the system can give: past that point Linux
// kills the whole process (Node, or an Electron app) instead of failing an allocation.
#pragma once

#include <cstddef>

namespace neural_style {

// Held for the length of a run (construct it before any tensor of the run).
class CpuMemoryReuse {
 public:
  // `availableBytes`: what the system could still give the process as the run starts (0: no
  // limit). Tensor memory beyond it, less a reserve for everything else, is refused with an
  // EngineError of kind OutOfMemory.
  explicit CpuMemoryReuse(size_t availableBytes);
  ~CpuMemoryReuse();
  CpuMemoryReuse(const CpuMemoryReuse&) = delete;
  CpuMemoryReuse& operator=(const CpuMemoryReuse&) = delete;
};

// Bytes of CPU tensor memory this allocator holds, in use or kept for reuse: zero once no run is
// active and no tensor of a run survives it.
size_t heldCpuBytes();

}  // namespace neural_style
