#pragma once
// A one-pole DC blocker on each row, y[n] = g (x[n] - x[n-P]) + pole * y[n-P], with P the
// period: 1 (g = 1), or more, a comb with a notch at every multiple of the band rate / P
// and g = (1 + pole) / 2, unity between the notches (nn/layers.dc_block says why).
//
// Its memory is double, as the torch reference computes in float64: a pole near 1 sums
// many past samples, which float would round away from it.

#include <algorithm>
#include <vector>

#include "layers/layer.hpp"

namespace neurorave {

class DcBlocker {
 public:
  DcBlocker(int channels, double pole, int period = 1)
      : pole_(pole),
        gain_(period == 1 ? 1.0 : (1.0 + pole) / 2.0),
        channels_(static_cast<size_t>(channels)),
        period_(static_cast<size_t>(period)),
        last_in_(channels_ * period_, 0.0),
        last_out_(channels_ * period_, 0.0) {}

  void reset() {
    std::fill(last_in_.begin(), last_in_.end(), 0.0);
    std::fill(last_out_.begin(), last_out_.end(), 0.0);
    phase_ = 0;
  }

  // In place over the first `frames` columns of `signal` (channels x frames); the phase
  // runs on across calls of any length.
  void process(Matrix& signal, Eigen::Index frames) {
    for (Eigen::Index t = 0; t < frames; ++t) {
      float* column = signal.col(t).data();
      double* in = &last_in_[phase_ * channels_];
      double* out = &last_out_[phase_ * channels_];
      for (size_t c = 0; c < channels_; ++c) {
        const double x = column[c];
        const double y = gain_ * (x - in[c]) + pole_ * out[c];
        in[c] = x;
        out[c] = y;
        column[c] = static_cast<float>(y);
      }
      phase_ = phase_ + 1 == period_ ? 0 : phase_ + 1;
    }
  }

 private:
  double pole_;
  double gain_;
  size_t channels_;
  size_t period_;
  size_t phase_ = 0;
  std::vector<double> last_in_;   // period x channels: the input one period ago
  std::vector<double> last_out_;  // and the output
};

}  // namespace neurorave
