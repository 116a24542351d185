#pragma once
// How a host plays a Player: synchronously in its audio callback, or on a worker thread
// that runs ahead of the callback by a latency budget sized to the host's bursts
// (ThreadedPlayer). Every host (Pd, VCV Rack, the embedded program) chooses with the same
// functions here, and reports the choice with the same words.

#include <memory>

#include "neurorave/player.hpp"
#include "neurorave/threaded_player.hpp"

namespace neurorave {

struct Playback {
  bool threaded = false;
  int block = Player::kMaxBlock;  // threaded: the most samples per ThreadedPlayer call
  int budget = 0;                 // threaded: samples the worker runs ahead (added latency)
  double frame_seconds = 0.0;     // what one model frame was measured to cost (reported)
};

// The words hosts show for a Playback ("synchronous", "threaded").
const char* playback_name(const Playback& playback);

// A worker woken by the audio thread may wait this long for a core before it runs; the
// budget keeps this much time in hand on top of the burst and the frame's own cost.
constexpr double kWorkerWakeSeconds = 0.010;
// Synchronous play is chosen when one model frame costs at most this fraction of the
// time one host burst stands for: the frame then fits in the burst with room to spare.
constexpr double kSynchronousShare = 1.0 / 8.0;

// Not real-time: seconds one model frame costs here, the best of a few frames of silence
// played through `player`, which is reset afterwards (its streams back to silence).
double measure_frame_seconds(Player& player);

// The threaded budget for a host that calls process() with up to `block` samples and
// runs `burst` samples back to back between sleeps: the burst (in whole calls), plus time
// for the worker to wake and to play two frames, in whole calls.
int threaded_budget(int burst, int block, int sample_rate, double frame_seconds);

// Threaded, with threaded_budget(): for a host that asks for the worker (Pd's -threaded,
// the VCV menu), or when choose_playback() finds the frame too costly.
Playback threaded_playback(int burst, int block, int sample_rate, double frame_seconds);

// Synchronous where a frame costs far less than a burst's time (kSynchronousShare),
// otherwise threaded_playback().
Playback choose_playback(int burst, int block, int sample_rate, double frame_seconds);

// A Player as a host plays it. Control setters go to player() (atomic: any thread).
class HostPlayer {
 public:
  // Starts the worker when `playback` is threaded (may throw std::system_error).
  HostPlayer(std::unique_ptr<Player> player, const Playback& playback);

  const ModelInfo& info() const { return player_->info(); }
  Player& player() { return *player_; }
  const Playback& playback() const { return playback_; }
  bool threaded() const { return threaded_ != nullptr; }
  // Output sample n + latency() is the offline model's sample n (budget included).
  int latency() const { return threaded_ ? threaded_->latency() : player_->latency(); }
  long underruns() const { return threaded_ ? threaded_->underruns() : 0; }

  // Real-time safe; any n >= 0 (threaded: cut into calls of playback().block).
  void process(const float* in, float* out, int n);
  // Not real-time: waits until the worker has played all it was given (a no-op when
  // synchronous). For offline rendering, so that it is the same on every machine.
  void wait_until_idle() const;
  // Not real-time: stops the worker and hands the Player back (to play it another way).
  std::unique_ptr<Player> release();

 private:
  Player* player_;  // owned by threaded_ when threaded, else by own_
  std::unique_ptr<Player> own_;
  std::unique_ptr<ThreadedPlayer> threaded_;
  Playback playback_;
};

}  // namespace neurorave
