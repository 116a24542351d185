#pragma once
// What a host plays: an Engine behind a block adapter, with descriptor faders.
//
// process() accepts any block size. Input is gathered into whole frames and output
// is served from a FIFO primed with one frame of silence, so the output lags the
// offline model by exactly latency() samples whatever the block sizes are.

#include <atomic>
#include <memory>
#include <vector>

#include "neurorave/descriptor_analyser.hpp"
#include "neurorave/engine.hpp"

namespace neurorave {

class Player {
 public:
  static constexpr int kMaxBlock = 8192;

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

  // Real-time safe; any n >= 0.
  void process(const float* in, float* out, int n);
  // Real-time safe: silence in the FIFOs, controls jump to their targets.
  void reset();

 private:
  void process_block(const float* in, float* out, int n);
  void read_controls(int frames, bool analysed);
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
};

}  // namespace neurorave
