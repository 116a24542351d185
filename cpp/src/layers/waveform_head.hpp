#pragma once
// Band signals = tanh(wave) * sigmoid(amplitude) [+ sigmoid(noise_gain - 5) * noise].

#include <cmath>
#include <cstdint>

#include "layers/layer.hpp"
#include "layers/noise.hpp"

namespace neurorave {

class WaveformHead final : public Layer {
 public:
  WaveformHead(int bands, bool noise) : bands_(bands), noise_(noise) {}

  int in_channels() const override { return bands_ * (noise_ ? 3 : 2); }
  int out_channels() const override { return bands_; }
  void prepare(int max_in_frames) override { output_ = Matrix::Zero(bands_, max_in_frames); }
  void reset() override { counter_ = counter_start_; }
  // Where the noise counter starts after reset (see NeuroRave.init_decoder_state).
  void set_counter_start(int64_t start) { counter_start_ = counter_ = start; }

  View process(const View& in) override {
    const Eigen::Index frames = in.cols();
    for (Eigen::Index t = 0; t < frames; ++t) {
      for (int b = 0; b < bands_; ++b) {
        float value = std::tanh(in(b, t)) * sigmoid(in(bands_ + b, t));
        if (noise_) value += sigmoid(in(2 * bands_ + b, t) - 5.0f) * hash_noise(counter_ + t, b);
        output_(b, t) = value;
      }
    }
    counter_ += frames;
    return leading_columns(output_, frames);
  }

 private:
  static float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

  int bands_;
  bool noise_;
  int64_t counter_start_ = 0;
  int64_t counter_ = 0;
  Matrix output_;
};

}  // namespace neurorave
