#pragma once
// Handing a freshly loaded object (a ModuleVoice, a Player) from a loader thread to the
// audio thread, and the object it replaces back to a thread that may free it, without a
// lock and without the audio thread ever allocating or freeing. Used by hosts whose audio
// thread runs while a model loads (the VCV Rack module, the embedded program).
//
//   loader thread:  handover.offer(std::move(fresh));   // frees what it gets back
//   audio thread:   handover.swap_into(current);        // at the top of a block
//   any other:      handover.collect();                 // frees the retired object
//
// One loader (or loaders that take turns) and one audio thread. The audio thread swaps
// only once the previous retired object has been collected, so nothing is ever freed on
// it and no object is lost.

#include <atomic>
#include <memory>

namespace neurorave {

template <class T>
class Handover {
 public:
  Handover() = default;
  Handover(const Handover&) = delete;
  Handover& operator=(const Handover&) = delete;
  ~Handover() {
    delete_later(incoming_.exchange(nullptr));
    delete_later(retired_.exchange(nullptr));
  }

  // Not real-time. Offers `fresh` to the audio thread; returns the object offered before
  // that the audio thread has not taken yet (it was never played), for the caller to free.
  std::unique_ptr<T> offer(std::unique_ptr<T> fresh) {
    return std::unique_ptr<T>(incoming_.exchange(fresh.release(), std::memory_order_acq_rel));
  }

  // Real-time safe (two atomic operations). If an object is on offer and the last
  // retired one has been collected, `current` becomes the new object and the old one is
  // retired. Returns true when `current` changed.
  bool swap_into(std::unique_ptr<T>& current) {
    if (retired_.load(std::memory_order_acquire) != nullptr) return false;
    T* fresh = incoming_.exchange(nullptr, std::memory_order_acq_rel);
    if (fresh == nullptr) return false;
    retired_.store(current.release(), std::memory_order_release);
    current.reset(fresh);  // `current` was released just above: nothing is freed here
    return true;
  }

  // Not real-time. The object the audio thread retired (null if none), to be freed by the
  // caller, which lets the audio thread take the next offer.
  std::unique_ptr<T> collect() {
    return std::unique_ptr<T>(retired_.exchange(nullptr, std::memory_order_acq_rel));
  }

  bool offered() const { return incoming_.load(std::memory_order_acquire) != nullptr; }

 private:
  static void delete_later(T* object) { std::unique_ptr<T> owned(object); }

  std::atomic<T*> incoming_{nullptr};
  std::atomic<T*> retired_{nullptr};
};

}  // namespace neurorave
