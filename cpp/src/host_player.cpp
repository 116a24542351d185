#include "neurorave/host_player.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace neurorave {

const char* playback_name(const Playback& playback) {
  return playback.threaded ? "threaded" : "synchronous";
}

double measure_frame_seconds(Player& player) {
  using Clock = std::chrono::steady_clock;
  const int frame = player.info().compression;
  const std::vector<float> silence(static_cast<size_t>(frame), 0.0f);
  std::vector<float> out(silence.size());
  double best = 1e9;
  // The first frames warm caches and page in the weights; the best of the rest is what
  // the model costs when the machine lets it run.
  for (int k = 0; k < 6; ++k) {
    const auto start = Clock::now();
    player.process(silence.data(), out.data(), frame);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (k >= 2) best = std::min(best, seconds);
  }
  player.reset();
  return best;
}

namespace {
int round_up(double samples, int block) {
  const int whole = static_cast<int>(std::ceil(samples / block));
  return std::max(whole, 1) * block;
}
}  // namespace

int threaded_budget(int burst, int block, int sample_rate, double frame_seconds) {
  block = std::clamp(block, 1, Player::kMaxBlock);
  const double worker = (kWorkerWakeSeconds + 2.0 * frame_seconds) * sample_rate;
  return round_up(std::max(burst, 1), block) + round_up(worker, block);
}

Playback threaded_playback(int burst, int block, int sample_rate, double frame_seconds) {
  Playback playback;
  playback.threaded = true;
  playback.frame_seconds = frame_seconds;
  playback.block = std::clamp(block, 1, Player::kMaxBlock);
  playback.budget = threaded_budget(burst, playback.block, sample_rate, frame_seconds);
  return playback;
}

Playback choose_playback(int burst, int block, int sample_rate, double frame_seconds) {
  Playback playback = threaded_playback(burst, block, sample_rate, frame_seconds);
  const double burst_seconds = static_cast<double>(std::max(burst, 1)) / sample_rate;
  if (frame_seconds <= kSynchronousShare * burst_seconds) {
    playback.threaded = false;
    playback.budget = 0;
  }
  return playback;
}

HostPlayer::HostPlayer(std::unique_ptr<Player> player, const Playback& playback)
    : player_(player.get()), playback_(playback) {
  if (playback.threaded)
    threaded_ =
        std::make_unique<ThreadedPlayer>(std::move(player), playback.block, playback.budget);
  else
    own_ = std::move(player);
  if (threaded_) playback_.budget = threaded_->budget();  // as ThreadedPlayer settled it
}

void HostPlayer::process(const float* in, float* out, int n) {
  if (!threaded_) {
    player_->process(in, out, n);
    return;
  }
  const int block = playback_.block;
  for (int done = 0; done < n; done += block)
    threaded_->process(in + done, out + done, std::min(block, n - done));
}

void HostPlayer::wait_until_idle() const {
  if (threaded_) threaded_->wait_until_idle();
}

std::unique_ptr<Player> HostPlayer::release() {
  if (threaded_) {
    own_ = threaded_->release();
    threaded_.reset();
  }
  return std::move(own_);
}

}  // namespace neurorave
