#pragma once
// A Player run by one persistent worker thread, for hosts whose audio callback must
// return at once (Pd's threaded mode, VCV Rack, the embedded module). The audio thread
// only copies samples into and out of lock-free rings and wakes the worker; the model
// runs on the worker. The price is one host block of extra latency.
//
// If the worker is late, the audio thread plays silence for that block, counts an
// underrun, and drops the late block when it arrives, so the latency never drifts.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "neurorave/player.hpp"
#include "neurorave/spsc_ring.hpp"

namespace neurorave {

class ThreadedPlayer {
 public:
  // `block_size`: the host's block, 1..Player::kMaxBlock; process() takes up to that.
  ThreadedPlayer(std::unique_ptr<Player> player, int block_size);
  ~ThreadedPlayer();  // stops and joins the worker
  ThreadedPlayer(const ThreadedPlayer&) = delete;
  ThreadedPlayer& operator=(const ThreadedPlayer&) = delete;

  // Stops and joins the worker and hands the Player back (samples still in the rings are
  // dropped), e.g. to wrap it again for another block size. Not real-time. Afterwards
  // the ThreadedPlayer may only be destroyed.
  std::unique_ptr<Player> release();

  int block_size() const { return block_size_; }
  const ModelInfo& info() const { return player_->info(); }
  int latency() const { return player_->latency() + block_size_; }
  // Its control setters are atomic: any thread may call them.
  Player& player() { return *player_; }
  long underruns() const { return underruns_.load(std::memory_order_relaxed); }

  // Real-time safe (no allocation, no lock, no wait); 0 <= n <= block_size.
  void process(const float* in, float* out, int n);
  // Not real-time: blocks until the worker has played every whole block given to it.
  // For offline rendering and tests, where the audio thread may wait.
  void wait_until_idle() const;

 private:
  void run();
  void stop();
  // A whole block is in, and room for its output: the worker never loses a sample.
  bool has_block() const {
    const auto block = static_cast<size_t>(block_size_);
    return input_.readable() >= block && output_.writable() >= block;
  }

  std::unique_ptr<Player> player_;
  const int block_size_;
  SpscRing input_;
  SpscRing output_;
  std::vector<float> worker_in_, worker_out_;
  // Audio thread only: samples given to the worker whose output is not yet played or
  // dropped. One block (the added latency) in the steady state.
  size_t in_flight_;
  std::atomic<long> underruns_{0};
  std::atomic<bool> busy_{false};
  std::atomic<bool> quit_{false};
  std::mutex wake_mutex_;  // the worker's only: the audio thread never takes it
  std::condition_variable wake_;
  std::thread worker_;  // last: it starts once everything above exists
};

}  // namespace neurorave
