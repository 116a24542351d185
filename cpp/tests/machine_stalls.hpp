#pragma once
// How long the machine itself held back a real-time thread while a real-time test ran:
// the C++ twin of tests/machine_stalls.py (see there why: a virtual machine can stop its
// cores for tens of milliseconds, and no budget of a threaded player covers that). One
// watcher thread per core, pinned to it, at a real-time priority where the process may
// ask for one (above the player's worker, so that it cannot be what delays the watcher),
// sleeps 1 ms at a time and records every wake-up later than a threshold.

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace neurorave_tests {

class MachineStalls {
 public:
  explicit MachineStalls(double threshold_seconds = 0.005) : threshold_(threshold_seconds) {
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned core = 0; core < cores; ++core)
      watchers_.emplace_back([this, core] { watch(core); });
  }
  MachineStalls(const MachineStalls&) = delete;
  MachineStalls& operator=(const MachineStalls&) = delete;
  ~MachineStalls() {
    stop_ = true;
    for (auto& watcher : watchers_) watcher.join();
  }

  // The longest time one core held its watcher back beyond its 1 ms sleep.
  double longest_seconds() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return longest_;
  }
  int count() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }

 private:
  void watch(unsigned core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);  // may fail: then unpinned
    sched_param priority{};
    priority.sched_priority = 50;
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &priority);  // may fail: reports more
    using Clock = std::chrono::steady_clock;
    const auto sleep = std::chrono::milliseconds(1);
    while (!stop_) {
      const auto due = Clock::now() + sleep;
      std::this_thread::sleep_for(sleep);
      const double late = std::chrono::duration<double>(Clock::now() - due).count();
      if (late > threshold_) {
        const std::lock_guard<std::mutex> lock(mutex_);
        longest_ = std::max(longest_, late);
        ++count_;
      }
    }
  }

  const double threshold_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  double longest_ = 0.0;
  int count_ = 0;
  std::vector<std::thread> watchers_;
};

}  // namespace neurorave_tests
