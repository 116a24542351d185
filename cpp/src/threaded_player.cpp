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
}  // namespace

ThreadedPlayer::ThreadedPlayer(std::unique_ptr<Player> player, int block_size)
    : player_(std::move(player)),
      block_size_(checked_block(block_size)),
      input_(4 * static_cast<size_t>(block_size)),
      output_(8 * static_cast<size_t>(block_size)),
      worker_in_(static_cast<size_t>(block_size)),
      worker_out_(static_cast<size_t>(block_size)),
      in_flight_(static_cast<size_t>(block_size)) {
  // One block of silence first: the worker always has a whole block's time to answer.
  const std::vector<float> silence(static_cast<size_t>(block_size), 0.0f);
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
  if (input_.push(in, count))
    in_flight_ += count;
  else  // the worker is so late that its input is full: this block is lost
    underruns_.fetch_add(1, std::memory_order_relaxed);
  wake_.notify_one();  // no lock taken: a missed wake-up costs the worker 1 ms at most
  // Samples older than the latency allows are output that came too late: drop them.
  const size_t due = static_cast<size_t>(block_size_) + count;
  if (in_flight_ > due) {
    const size_t late = std::min(in_flight_ - due, output_.readable());
    output_.pop(nullptr, late);
    in_flight_ -= late;
  }
  if (in_flight_ >= due && output_.pop(out, count)) {
    in_flight_ -= count;
    return;
  }
  std::fill(out, out + count, 0.0f);  // not ready: silence now, dropped when it comes
  underruns_.fetch_add(1, std::memory_order_relaxed);
}

void ThreadedPlayer::run() {
  while (!quit_.load()) {
    if (has_block()) {
      busy_.store(true);
      input_.pop(worker_in_.data(), worker_in_.size());
      player_->process(worker_in_.data(), worker_out_.data(), block_size_);
      output_.push(worker_out_.data(), worker_out_.size());
      busy_.store(false);
      continue;
    }
    std::unique_lock<std::mutex> lock(wake_mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(1),
                   [this] { return quit_.load() || has_block(); });
  }
}

void ThreadedPlayer::wait_until_idle() const {
  while (has_block() || busy_.load()) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

}  // namespace neurorave
