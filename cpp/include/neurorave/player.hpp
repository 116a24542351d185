#pragma once
// What a host plays: an Engine behind a block adapter, with descriptor faders.
//
// process() accepts any block size. Input is gathered into whole frames and output
// is served from a FIFO primed with one frame of silence, so the output lags the
// offline model by exactly latency() samples whatever the block sizes are.

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "neurorave/descriptor_analyser.hpp"
#include "neurorave/engine.hpp"

namespace neurorave {

class Player {
 public:
  static constexpr int kMaxBlock = 8192;
  // Input samples beyond this magnitude (60 dB over full scale), NaN and Inf are broken
  // signal, not sound: they are played as silence and never reach the model's state.
  static constexpr float kMaxInputMagnitude = 1000.0f;
  // Output beyond this (or non-finite) means the model's state has gone bad: the frame
  // is played as silence and the streams restart (counted by nonfinite_resets()).
  static constexpr float kMaxOutputMagnitude = 1000.0f;
  // Follow scales beyond +-kMaxScale and offsets beyond kMaxOffsetSpans ranges are
  // clamped; every control then stays within DescriptorInfo::within_travel.
  static constexpr float kMaxScale = 16.0f;
  static constexpr float kMaxOffsetSpans = 2.0f;

  explicit Player(std::unique_ptr<Engine> engine);

  const ModelInfo& info() const { return engine_->info(); }
  // Output sample n + latency() is the offline model's sample n.
  int latency() const { return info().compression + info().forward_delay_samples; }

  // Any thread: a descriptor's target value in physical units (dB, Hz, ...).
  void set_control(int descriptor, float physical_value);
  float control(int descriptor) const;
  // Any thread: a followed descriptor takes the live input's value, analysed frame by
  // frame, as offset + scale * value (attribute transfer); otherwise its fader's.
  void set_follow(int descriptor, bool follow);
  void set_offset(int descriptor, float offset);  // physical units
  void set_scale(int descriptor, float scale);
  bool follows(int descriptor) const;
  // Time constant of the per-frame control smoothing; 0 jumps at the next frame.
  void set_smoothing_ms(float milliseconds);

  // Generation (models with a prior, info().has_prior): the input is ignored and the
  // prior plays latent frames and descriptor curves; a followed descriptor then takes
  // the prior's value as offset + scale * value, the others their faders. Any thread;
  // takes effect at the next block, restarting the streams (a click, as a patch change).
  // Returns false, and changes nothing, when asked to generate without a prior.
  bool set_generate(bool generate);
  bool generating() const { return generate_.load(std::memory_order_relaxed); }
  // Any thread: the prior starts a new phrase at the next frame, drawing on from where
  // its random stream is; set_seed also restarts that stream, so a seed replays a phrase.
  void new_phrase();
  void set_seed(uint32_t seed);
  // Any thread: 0 plays the prior's most likely path, 1 samples it as trained.
  void set_temperature(float temperature);

  // Real-time safe; any n >= 0.
  void process(const float* in, float* out, int n);
  // Real-time safe: silence in the FIFOs, controls jump to their targets.
  void reset();
  // Any thread: how many times the output turned non-finite (or absurd) and the streams
  // were restarted. 0 for any model the loader accepts, fed anything, in every test.
  long nonfinite_resets() const { return nonfinite_resets_.load(std::memory_order_relaxed); }

 private:
  void process_block(const float* in, float* out, int n);
  // `followed`: per frame, the values followed descriptors take (nullptr: none), at
  // `columns[d]` of a row of `stride` values (-1: that descriptor cannot follow).
  void read_controls(int frames, const float* followed, int stride, const int* columns);
  void run_frames(const float* in, float* out, int frames);
  void generate_frames(float* out, int frames);
  // Takes the mode asked for and restarts the streams in it.
  void switch_stream();
  // Forgets the engine's and the analyser's history; the prior starts a new phrase.
  void restart_streams();
  void copy_input(const float* in, int n);
  // After the engine wrote `samples` to out: silence and a restart if any is broken.
  void guard_output(float* out, int samples);
  bool any_follows() const;
  bool valid(int descriptor) const {
    return descriptor >= 0 && descriptor < static_cast<int>(targets_.size());
  }

  struct Follow {
    std::atomic<bool> on{false};
    std::atomic<float> offset{0.0f};
    std::atomic<float> scale{1.0f};
  };

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<DescriptorAnalyser> analyser_;  // the input's values of the model's descriptors
  std::vector<float> analysed_;                   // max frames x analysed descriptors
  std::vector<int> analysed_column_;              // per model descriptor; -1: not analysed
  std::vector<int> own_column_;                   // 0, 1, 2, ...: a row of generated values
  std::vector<Follow> follow_;
  std::vector<std::atomic<float>> targets_;
  std::vector<float> smoothed_;
  std::atomic<float> smoothing_ms_{10.0f};
  bool snap_controls_ = true;
  std::vector<float> frame_controls_;  // descriptors x max frames
  std::vector<float> input_;
  int input_fill_ = 0;
  std::vector<float> output_;
  int output_fill_ = 0;
  std::atomic<bool> generate_{false};
  bool generating_ = false;  // audio thread's: what the streams now serve
  std::atomic<bool> phrase_requested_{true};
  std::atomic<bool> reseed_requested_{true};
  std::atomic<uint32_t> seed_{0};
  std::atomic<float> temperature_{1.0f};
  std::mt19937 random_;
  std::normal_distribution<float> normal_;
  std::vector<float> noise_;                  // one prior step's draws
  std::vector<float> generated_latent_;       // latent x max frames
  std::vector<float> generated_descriptors_;  // max frames x descriptors, physical
  std::atomic<long> nonfinite_resets_{0};
};

}  // namespace neurorave
