#pragma once
// A one-pole DC blocker on each row: y[n] = x[n] - x[n-1] + pole * y[n-1].
//
// Its memory is double, as the torch reference (nn/layers.dc_block) computes in float64:
// a pole near 1 sums many past samples, which float would round away from it.

#include <algorithm>
#include <vector>

#include "layers/layer.hpp"

namespace neurorave {

class DcBlocker {
 public:
  DcBlocker(int channels, double pole)
      : pole_(pole),
        last_in_(static_cast<size_t>(channels), 0.0),
        last_out_(static_cast<size_t>(channels), 0.0) {}

  void reset() {
    std::fill(last_in_.begin(), last_in_.end(), 0.0);
    std::fill(last_out_.begin(), last_out_.end(), 0.0);
  }

  // In place over the first `frames` columns of `signal` (channels x frames).
  void process(Matrix& signal, Eigen::Index frames) {
    const size_t channels = last_in_.size();
    for (Eigen::Index t = 0; t < frames; ++t) {
      float* column = signal.col(t).data();
      for (size_t c = 0; c < channels; ++c) {
        const double x = column[c];
        const double y = (x - last_in_[c]) + pole_ * last_out_[c];
        last_in_[c] = x;
        last_out_[c] = y;
        column[c] = static_cast<float>(y);
      }
    }
  }

 private:
  double pole_;
  std::vector<double> last_in_;
  std::vector<double> last_out_;
};

}  // namespace neurorave
