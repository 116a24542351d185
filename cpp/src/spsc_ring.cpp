#include "neurorave/spsc_ring.hpp"

namespace neurorave {

namespace {
size_t power_of_two_at_least(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}
}  // namespace

SpscRing::SpscRing(size_t min_capacity)
    : buffer_(power_of_two_at_least(min_capacity), 0.0f), mask_(buffer_.size() - 1) {}

size_t SpscRing::readable() const {
  return written_.load(std::memory_order_acquire) - read_.load(std::memory_order_relaxed);
}

size_t SpscRing::writable() const {
  return capacity() -
         (written_.load(std::memory_order_relaxed) - read_.load(std::memory_order_acquire));
}

bool SpscRing::push(const float* data, size_t n) {
  if (n > writable()) return false;
  const size_t start = written_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) buffer_[(start + i) & mask_] = data[i];
  written_.store(start + n, std::memory_order_release);
  return true;
}

bool SpscRing::pop(float* data, size_t n) {
  if (n > readable()) return false;
  const size_t start = read_.load(std::memory_order_relaxed);
  if (data != nullptr)
    for (size_t i = 0; i < n; ++i) data[i] = buffer_[(start + i) & mask_];
  read_.store(start + n, std::memory_order_release);
  return true;
}

}  // namespace neurorave
