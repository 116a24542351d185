#include "neurorave/threaded_player.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

namespace neurorave {

namespace {
int checked_block(int block_size) {
  if (block_size < 1 || block_size > Player::kMaxBlock)
    throw std::invalid_argument("ThreadedPlayer: block size " + std::to_string(block_size) +
                                " outside 1.." + std::to_string(Player::kMaxBlock));
  return block_size;
}

int checked_budget(int budget, int block_size) {
  // A call pops its output after pushing its input: with less than a call's worth of
  // output ready ahead, every call would have to wait for the worker.
  constexpr int kMaxBudget = 16 * Player::kMaxBlock;  // 3 s at 44.1 kHz: surely a mistake
  if (budget < 0 || budget > kMaxBudget)
    throw std::invalid_argument("ThreadedPlayer: latency budget " + std::to_string(budget) +
                                " outside 0.." + std::to_string(kMaxBudget));
  return std::max(budget, block_size);
}

// The worker plays what has arrived in pieces of at most this many samples, so that it
// starts on a burst's first samples while the audio thread is still pushing the rest.
constexpr size_t kWorkerChunk = 256;
}  // namespace

ThreadedPlayer::ThreadedPlayer(std::unique_ptr<Player> player, int block_size, int budget)
    : player_(std::move(player)),
      block_size_(checked_block(block_size)),
      budget_(checked_budget(budget, block_size_)),
      // Room for the budget and a few calls more: a push fails only when the worker is
      // later than anything the budget was chosen for.
      input_(2 * static_cast<size_t>(budget_) + 4 * static_cast<size_t>(block_size_)),
      output_(2 * static_cast<size_t>(budget_) + 4 * static_cast<size_t>(block_size_)),
      worker_in_(kWorkerChunk),
      worker_out_(kWorkerChunk),
      in_flight_(static_cast<size_t>(budget_)) {
  // The budget's silence first: the worker always has that long to answer.
  const std::vector<float> silence(static_cast<size_t>(budget_), 0.0f);
  output_.push(silence.data(), silence.size());
  worker_ = std::thread([this] { run(); });
}

ThreadedPlayer::~ThreadedPlayer() { stop(); }

void ThreadedPlayer::stop() {
  if (!worker_.joinable()) return;
  quit_.store(true);
  wake_.notify_one();
  worker_.join();
}

std::unique_ptr<Player> ThreadedPlayer::release() {
  stop();
  return std::move(player_);
}

void ThreadedPlayer::process(const float* in, float* out, int n) {
  const size_t count = static_cast<size_t>(std::clamp(n, 0, block_size_));
  bool late = false;
  if (input_.push(in, count))
    in_flight_ += count;
  else  // the worker is so late that its input is full: this call's input is lost
    late = true;
  wake_.notify_one();  // no lock taken: a missed wake-up costs the worker 1 ms at most
  // Samples older than the latency allows are output that came too late: drop them.
  const size_t due = static_cast<size_t>(budget_) + count;
  if (in_flight_ > due) {
    const size_t dropped = std::min(in_flight_ - due, output_.readable());
    output_.pop(nullptr, dropped);
    in_flight_ -= dropped;
  }
  if (in_flight_ >= due && output_.pop(out, count)) {
    in_flight_ -= count;
  } else {
    std::fill(out, out + count, 0.0f);  // not ready: silence now, dropped when it comes
    late = true;
  }
  if (late) underruns_.fetch_add(1, std::memory_order_relaxed);  // once per lost call
}

void ThreadedPlayer::run() {
  while (!quit_.load()) {
    if (has_work()) {
      busy_.store(true);
      const size_t n = std::min({input_.readable(), output_.writable(), kWorkerChunk});
      input_.pop(worker_in_.data(), n);
      player_->process(worker_in_.data(), worker_out_.data(), static_cast<int>(n));
      output_.push(worker_out_.data(), n);
      busy_.store(false);
      continue;
    }
    std::unique_lock<std::mutex> lock(wake_mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(1),
                   [this] { return quit_.load() || has_work(); });
  }
}

void ThreadedPlayer::wait_until_idle() const {
  while (has_work() || busy_.load()) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

}  // namespace neurorave
