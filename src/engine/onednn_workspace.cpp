#include "engine/execution_plan.hpp"  // DYNDNN_HAVE_ONEDNN comes from the build

#ifdef DYNDNN_HAVE_ONEDNN

#include "engine/onednn_workspace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "dyndnn/error.hpp"

namespace dyndnn::engine {

namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
std::size_t roundUp(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
}  // namespace

PageBuffer::PageBuffer(std::size_t bytes) : size_(roundUp(std::max<std::size_t>(bytes, 64), 4096)) {
  if (size_ < kHugePage) {  // populated at once: one call instead of a fault per page (it is all written next)
    data_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (data_ == MAP_FAILED) throw std::bad_alloc();
    return;
  }
  // Reserve 2 MB more than needed, keep the part that starts on a 2 MB boundary, give back the rest. (The tail
  // that does not fill a huge page stays in 4 KB pages: nothing resident is wasted.)
  void* raw = ::mmap(nullptr, size_ + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const auto aligned = roundUp(start, kHugePage);
  if (aligned > start) ::munmap(raw, aligned - start);
  if (const auto tail = start + size_ + kHugePage - (aligned + size_))
    ::munmap(reinterpret_cast<void*>(aligned + size_), tail);
  data_ = reinterpret_cast<void*>(aligned);
  ::madvise(data_, size_, MADV_HUGEPAGE);  // advice only: without THP it stays 4 KB pages
}

void* Arena::allocate(std::size_t bytes) {
  bytes = roundUp(std::max<std::size_t>(bytes, 1), 64);
  if (chunks_.empty() || used_ + bytes > capacity_) {
    capacity_ = roundUp(std::max(bytes, 2 * kHugePage), 4096);
    chunks_.push_back(std::make_unique<PageBuffer>(capacity_));
    used_ = 0;
  }
  void* p = static_cast<char*>(chunks_.back()->get()) + used_;
  used_ += bytes;
  bytes_ += bytes;
  return p;
}

SharedConstants& SharedConstants::instance() {
  static SharedConstants shared;
  return shared;
}

std::shared_ptr<const SharedConstants::Packed> SharedConstants::get(const std::string& key,
                                                                    const dnnl::memory::desc& layout,
                                                                    const std::function<void(void*)>& pack) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& entries = entries_[key];
  for (const auto& e : entries)
    if (e.layout == layout)
      if (auto alive = e.packed.lock()) return alive;
  auto packed = std::make_shared<Packed>();
  packed->bytes = layout.get_size();
  packed->memory = std::make_unique<PageBuffer>(packed->bytes);
  pack(packed->memory->get());
  // Forget what no plan uses any more (here, so the table never outgrows the plans alive).
  entries.erase(std::remove_if(entries.begin(), entries.end(), [](const Entry& e) { return e.packed.expired(); }),
                entries.end());
  entries.push_back(Entry{layout, packed});
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& list = it->second;
    list.erase(std::remove_if(list.begin(), list.end(), [](const Entry& e) { return e.packed.expired(); }), list.end());
    it = list.empty() ? entries_.erase(it) : std::next(it);
  }
  return packed;
}

WorkspacePool::WorkspacePool(PlanParts parts) : engine_(parts.engine), parts_(std::move(parts)) {
  release(make());  // the first caller does not pay for it
}

std::unique_ptr<Workspace> WorkspacePool::make() const {
  using dnnl::memory;
  auto ws = std::make_unique<Workspace>();
  ws->stream = dnnl::stream(engine_);
  // One block for all of it: buffer b at offsets[b], the scratchpad after the last buffer.
  std::vector<std::size_t> offsets;
  std::size_t total = 0;
  for (auto size : parts_.buffer_sizes) {
    offsets.push_back(total);
    total += roundUp(size, 64);
  }
  const std::size_t scratch_offset = total;
  ws->memory = std::make_unique<PageBuffer>(total + parts_.scratch_bytes);
  auto* base = static_cast<char*>(ws->memory->get());
  const auto& steps = parts_.steps;
  ws->args.resize(steps.size());
  for (std::size_t s = 0; s < steps.size(); ++s) {
    for (const auto& [arg, slot] : steps[s].args) {
      switch (slot.kind) {
        case Slot::Buffer:
          ws->args[s][arg] = memory(slot.md, engine_, base + offsets[static_cast<std::size_t>(slot.buffer)]);
          break;
        case Slot::Constant: ws->args[s][arg] = slot.constant; break;
        case Slot::Scratch: ws->args[s][arg] = memory(slot.md, engine_, base + scratch_offset); break;
        case Slot::Input:
        case Slot::Output: ws->args[s][arg] = memory(slot.md, engine_, DNNL_MEMORY_NONE); break;
      }
    }
  }
  // Pointers into the maps are stable: nothing is inserted after this point.
  for (std::size_t s = 0; s < steps.size(); ++s)
    for (const auto& [arg, slot] : steps[s].args) {
      if (slot.kind == Slot::Input) ws->inputs.push_back(&ws->args[s][arg]);
      if (slot.kind == Slot::Output) ws->outputs.push_back(&ws->args[s][arg]);
    }
  return ws;
}

std::unique_ptr<Workspace> WorkspacePool::acquire() const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!pool_.empty()) {
      auto ws = std::move(pool_.back());
      pool_.pop_back();
      return ws;
    }
  }
  return make();  // another thread holds the pooled one: concurrent callers get their own
}

void WorkspacePool::release(std::unique_ptr<Workspace> ws) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pool_.size() < 4) pool_.push_back(std::move(ws));
}

void WorkspacePool::execute(Workspace& ws) const {
  std::size_t s = 0;
  try {
    for (; s < parts_.steps.size(); ++s) parts_.steps[s].primitive.execute(ws.stream, ws.args[s]);
    ws.stream.wait();
  } catch (const dnnl::error& e) {
    throw Error(fmt::format("oneDNN failed running step {} of {} ({}): {} (status {})", s, parts_.steps.size(),
                            s < parts_.steps.size() ? parts_.steps[s].what : "wait", e.what(),
                            static_cast<int>(e.status)));
  }
}

std::size_t WorkspacePool::bytes() const {
  std::size_t activations = 0;
  for (auto s : parts_.buffer_sizes) activations += s;
  // Shared constants count in full for every plan that uses them: the plan cache's budget stays an upper bound.
  return parts_.constant_bytes + activations + parts_.scratch_bytes;
}

}  // namespace dyndnn::engine

#endif
