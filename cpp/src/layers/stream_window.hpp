#pragma once
// The history a streaming layer keeps: its last `history` input columns, then room for
// the new block. push() appends a block after the history (through the LeakyReLU the
// layer took over, if any), the layer reads the window, and advance() keeps the newest
// `history` columns for the next call. A stream cut into any blocks then sees exactly
// the columns the whole signal would.

#include <algorithm>

#include "layers/gemm_kernel.hpp"
#include "layers/layer.hpp"

namespace neurorave {

class StreamWindow {
 public:
  // Allocates; not real-time.
  void prepare(Eigen::Index channels, int history, int max_frames) {
    history_ = history;
    window_ = Matrix::Zero(channels, history + max_frames);
  }
  void reset() { window_.setZero(); }
  // From now on push() applies LeakyReLU(slope < 1) to what it appends.
  void take_slope(float slope) {
    slope_ = slope;
    activated_ = true;
  }
  bool activated() const { return activated_; }

  void push(const View& in) {
    float* block = window_.data() + history_ * window_.rows();
    if (activated_)
      gemm_kernel::stream_ops().leaky_relu(in.data(), in.size(), slope_, block);
    else
      std::copy(in.data(), in.data() + in.size(), block);
  }
  // The window's first `frames` columns: the history, then the block.
  View leading(Eigen::Index frames) const { return leading_columns(window_, frames); }
  const float* data() const { return window_.data(); }
  // After a block of `frames`: its last `history` columns become the history (a forward
  // copy, safe in place).
  void advance(Eigen::Index frames) {
    float* data = window_.data();
    const Eigen::Index channels = window_.rows();
    std::copy(data + frames * channels, data + (frames + history_) * channels, data);
  }

 private:
  Matrix window_;  // channels x (history + max frames)
  int history_ = 0;
  bool activated_ = false;
  float slope_ = 1.0f;
};

}  // namespace neurorave
