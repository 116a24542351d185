// The counting replacements of the global allocation functions, and HeapWatch
// (heap_watch.hpp).

#include "heap_watch.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

#include <Eigen/Core>

#ifdef NEURORAVE_TESTS_EIGEN_CHECKS
#include "eigen_checks.hpp"
#endif

namespace {

std::atomic<bool> counting{false};
std::atomic<long> news{0};
std::atomic<long> deletes{0};

void* allocate(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) news.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}

void* allocate_aligned(std::size_t size, std::align_val_t alignment) {
  if (counting.load(std::memory_order_relaxed)) news.fetch_add(1, std::memory_order_relaxed);
  std::size_t align = static_cast<std::size_t>(alignment);
  if (align < sizeof(void*)) align = sizeof(void*);
  void* p = nullptr;
  return posix_memalign(&p, align, size == 0 ? 1 : size) == 0 ? p : nullptr;
}

void release(void* p) noexcept {
  if (p != nullptr && counting.load(std::memory_order_relaxed))
    deletes.fetch_add(1, std::memory_order_relaxed);
  std::free(p);
}

void* or_throw(void* p) {
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(std::size_t size) { return or_throw(allocate(size)); }
void* operator new[](std::size_t size) { return or_throw(allocate(size)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new(std::size_t size, std::align_val_t a) {
  return or_throw(allocate_aligned(size, a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return or_throw(allocate_aligned(size, a));
}
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned(size, a);
}

void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }

namespace neurorave_tests {

void HeapWatch::start() {
  news.store(0);
  deletes.store(0);
#ifdef NEURORAVE_TESTS_EIGEN_CHECKS
  reset_eigen_malloc_count();
  Eigen::internal::set_is_malloc_allowed(false);
#endif
  counting.store(true);
}

Heap HeapWatch::stop() {
  counting.store(false);
  Heap heap;
  heap.news = news.load();
  heap.deletes = deletes.load();
#ifdef NEURORAVE_TESTS_EIGEN_CHECKS
  Eigen::internal::set_is_malloc_allowed(true);
  heap.eigen_mallocs = eigen_malloc_count();
#endif
  return heap;
}

}  // namespace neurorave_tests
