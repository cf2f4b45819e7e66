// Owns one mmap'd region.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <utility>

namespace maptrail {

class MappedRegion {
 public:
  MappedRegion() = default;
  // addr as mmap returned it (MAP_FAILED holds nothing)
  MappedRegion(void* addr, size_t size)
      : addr_(addr == MAP_FAILED ? nullptr : addr), size_(addr_ ? size : 0) {}
  MappedRegion(MappedRegion&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedRegion& operator=(MappedRegion&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;
  ~MappedRegion() { reset(); }

  void* get() const { return addr_; }
  size_t size() const { return size_; }
  bool valid() const { return addr_ != nullptr; }
  void reset() {
    if (addr_) ::munmap(addr_, size_);
    addr_ = nullptr;
    size_ = 0;
  }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace maptrail
