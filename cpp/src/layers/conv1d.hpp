#pragma once
// Conv1d with cached history: a stream cut into any blocks (each a multiple of the
// stride) gives exactly the causal offline result.

#include "layers/gemm.hpp"
#include "layers/layer.hpp"
#include "layers/stream_window.hpp"

namespace neurorave {

struct ConvShape {
  int in = 1, out = 1, kernel = 1, stride = 1, dilation = 1, groups = 1;
};

class Conv1d final : public Layer {
 public:
  // `weight` is torch's layout (out, in / groups, kernel), row-major; `bias` may be empty.
  Conv1d(const ConvShape& shape, const float* weight, const float* bias, WeightLayout layout = {});

  int in_channels() const override { return shape_.in; }
  int out_channels() const override { return shape_.out; }
  int out_frames(int frames) const override { return frames / shape_.stride; }
  int downsampling() const override { return shape_.stride; }
  int history() const { return history_; }
  // The input is copied into the window anyway, so the activation rides along.
  bool take_input_slope(float slope) override {
    window_.take_slope(slope);
    return true;
  }

  void prepare(int max_in_frames) override;
  void reset() override;
  View process(const View& in) override;

 private:
  ConvShape shape_;
  int history_;
  Vector bias_;  // zeros when the conv has none
  // Per group, its (out / groups) x (kernel * in / groups) weights, reading the window in place.
  std::vector<Gemm> gemms_;
  StreamWindow window_;  // in x (history + max frames)
  Matrix output_;
};

}  // namespace neurorave
