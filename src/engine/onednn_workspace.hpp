#pragma once
// What a oneDNN plan is made of once compiled: steps (a primitive and where each of its arguments lives),
// packed constants, and the sizes of the activation buffers; and the per-caller workspaces that run it.
// Only the oneDNN backend includes this.

#include <oneapi/dnnl/dnnl.hpp>

#include <sys/mman.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dyndnn::engine {

// Every primitive gets its scratchpad from the caller's workspace: oneDNN's own (library-managed)
// scratchpad is shared between threads unless the library was built for concurrent execution, and
// concurrent infer() calls would corrupt each other's temporaries.
inline dnnl::primitive_attr userScratchpad(dnnl::primitive_attr attr = {}) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Where a primitive argument lives: a workspace activation buffer, a constant (packed weights), the
// caller's input/output, or the workspace's scratchpad.
struct Slot {
  enum Kind { Buffer, Constant, Input, Output, Scratch } kind = Buffer;
  int buffer = -1;
  dnnl::memory::desc md;
  dnnl::memory constant;
};

struct Step {
  dnnl::primitive primitive;
  std::vector<std::pair<int, Slot>> args;
  std::string what;  // the graph node it computes, for errors
};

// Page-granular memory straight from the kernel, returned to it the moment a plan goes away. (malloc keeps
// large freed blocks in its heap once its mmap threshold has grown, so plans evicted from the cache would
// keep the process's resident size up.) Whole 2 MB ranges are asked for as transparent huge pages: one page
// fault per 2 MB instead of one per 4 KB. Page faults were the largest part of building a plan and of its
// first run (measured: ~30%); plans therefore take their memory in few large pieces (Arena, one workspace
// block) rather than one mapping per layer.
class PageBuffer {
 public:
  explicit PageBuffer(std::size_t bytes);
  ~PageBuffer() { ::munmap(data_, size_); }
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
  void* get() const { return data_; }

 private:
  std::size_t size_;
  void* data_;
};

// Constants of one plan, packed one after another (64-byte aligned) into chunks of at least 4 MB.
class Arena {
 public:
  void* allocate(std::size_t bytes);
  std::size_t bytes() const { return bytes_; }

 private:
  std::vector<std::unique_ptr<PageBuffer>> chunks_;
  std::size_t capacity_ = 0, used_ = 0;  // of the newest chunk
  std::size_t bytes_ = 0;                // handed out
};

// One packed copy of a weight that several plans use (Node::shareable), found by what determines its bytes:
// the source view (address, shape, strides), the per-channel scale applied while packing, and the packed
// layout. Entries are weak: the copy lives as long as a plan that uses it. Thread-safe.
class SharedConstants {
 public:
  struct Packed {
    std::unique_ptr<PageBuffer> memory;
    std::size_t bytes = 0;
  };
  static SharedConstants& instance();
  /// The packed copy of the source `key` (address, shape, strides and scale, as bytes) in layout `packed`, or
  /// one made by `pack` (which fills the buffer it is given) and kept.
  std::shared_ptr<const Packed> get(const std::string& key, const dnnl::memory::desc& packed,
                                    const std::function<void(void*)>& pack);

 private:
  struct Entry {
    dnnl::memory::desc layout;  // compared with ==: oneDNN's own equality, not the struct's bytes
    std::weak_ptr<const Packed> packed;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<Entry>> entries_;
};

struct PlanParts {
  dnnl::engine engine;  // the one the primitives were created on: streams and memory must use it too
  std::vector<Step> steps;
  std::vector<std::size_t> buffer_sizes;
  std::unique_ptr<Arena> constants;
  std::vector<std::shared_ptr<const SharedConstants::Packed>> shared;  // packed once for several plans
  std::size_t constant_bytes = 0, scratch_bytes = 0;
};

// Per-call state: activation buffers and the memory objects bound to them. One per concurrent caller.
struct Workspace {
  std::unique_ptr<PageBuffer> memory;  // every activation buffer and the scratchpad, at offsets
  std::vector<std::unordered_map<int, dnnl::memory>> args;  // per step
  std::vector<dnnl::memory*> inputs, outputs;               // handles rebound on every call
  dnnl::stream stream;

  void bind(void* input, void* output) {
    for (auto* m : inputs) m->set_data_handle(input);
    for (auto* m : outputs) m->set_data_handle(output);
  }
};

// The compiled steps and a small pool of workspaces for them (callers on several threads each get one).
class WorkspacePool {
 public:
  explicit WorkspacePool(PlanParts parts);
  std::unique_ptr<Workspace> acquire() const;
  void release(std::unique_ptr<Workspace> ws) const;
  void execute(Workspace& ws) const;
  std::size_t bytes() const;

 private:
  std::unique_ptr<Workspace> make() const;

  dnnl::engine engine_;
  PlanParts parts_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<Workspace>> pool_;
};

}  // namespace dyndnn::engine
