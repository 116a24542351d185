#pragma once
// A single-producer, single-consumer ring of floats: the only link between a host's
// audio thread and the worker thread of ThreadedPlayer. Lock-free and allocation-free
// after construction; one thread may push while another pops.

#include <atomic>
#include <cstddef>
#include <vector>

namespace neurorave {

class SpscRing {
 public:
  explicit SpscRing(size_t min_capacity);

  size_t capacity() const { return buffer_.size(); }
  size_t readable() const;  // consumer side
  size_t writable() const;  // producer side
  // All n or nothing: false (and nothing written) when n does not fit.
  bool push(const float* data, size_t n);
  // All n or nothing: false when fewer are readable. `data` nullptr drops them.
  bool pop(float* data, size_t n);

 private:
  std::vector<float> buffer_;
  size_t mask_;
  // Apart, so that the two threads do not share a cache line.
  alignas(64) std::atomic<size_t> written_{0};
  alignas(64) std::atomic<size_t> read_{0};
};

}  // namespace neurorave
