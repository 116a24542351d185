#pragma once
// A Player run by one persistent worker thread, for hosts whose audio callback must
// return at once (Pd's threaded mode, VCV Rack, the embedded module). The audio thread
// only copies samples into and out of lock-free rings and wakes the worker; the model
// runs on the worker.
//
// Hosts run their audio in bursts: Rack steps its engine once per device buffer (or
// several hundred frames at a time with no device), Pd computes every due block back to
// back after each sleep. During a burst the worker cannot keep up block by block, so it
// runs ahead of the audio thread by a latency budget: the output ring starts with
// `budget` samples of silence, and every sample played is the Player's output for the
// input given `budget` samples earlier. Choose the budget for the host's burst
// (threaded_budget() in host_player.hpp); latency() includes it exactly.
//
// If the worker is late anyway, the audio thread plays silence for that call, counts one
// underrun, and drops the late output when it arrives, so the latency never drifts.

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
  // `block_size`: the most samples one process() call takes, 1..Player::kMaxBlock.
  // `budget`: how far the worker runs ahead, in samples (the added latency); at least
  // `block_size` (0: `block_size`, one host block as before budgets existed).
  ThreadedPlayer(std::unique_ptr<Player> player, int block_size, int budget = 0);
  ~ThreadedPlayer();  // stops and joins the worker
  ThreadedPlayer(const ThreadedPlayer&) = delete;
  ThreadedPlayer& operator=(const ThreadedPlayer&) = delete;

  // Stops and joins the worker and hands the Player back (samples still in the rings are
  // dropped), e.g. to wrap it again for another block size. Not real-time. Afterwards
  // the ThreadedPlayer may only be destroyed.
  std::unique_ptr<Player> release();

  int block_size() const { return block_size_; }
  int budget() const { return budget_; }
  const ModelInfo& info() const { return player_->info(); }
  int latency() const { return player_->latency() + budget_; }
  // Its control setters are atomic: any thread may call them.
  Player& player() { return *player_; }
  // process() calls that played silence (or lost their input) because the worker was
  // late: one per call, however it was late.
  long underruns() const { return underruns_.load(std::memory_order_relaxed); }

  // Real-time safe (no allocation, no lock, no wait); 0 <= n <= block_size.
  void process(const float* in, float* out, int n);
  // Not real-time: blocks until the worker has played every sample given to it.
  // For offline rendering and tests, where the audio thread may wait.
  void wait_until_idle() const;

 private:
  void run();
  void stop();
  // Input to play, and room for its output: the worker never loses a sample.
  bool has_work() const { return input_.readable() > 0 && output_.writable() > 0; }

  std::unique_ptr<Player> player_;
  const int block_size_;
  const int budget_;
  SpscRing input_;
  SpscRing output_;
  std::vector<float> worker_in_, worker_out_;
  // Audio thread only: samples given to the worker whose output is not yet played or
  // dropped. `budget_` in the steady state.
  size_t in_flight_;
  std::atomic<long> underruns_{0};
  std::atomic<bool> busy_{false};
  std::atomic<bool> quit_{false};
  std::mutex wake_mutex_;  // the worker's only: the audio thread never takes it
  std::condition_variable wake_;
  std::thread worker_;  // last: it starts once everything above exists
};

}  // namespace neurorave
