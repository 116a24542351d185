#pragma once
// ConvTranspose1d streamed as a convolution over its input's history: output phase j
// of input frame t (sample t * stride + j) sums taps j, j + stride, j + 2 * stride, ...
// of frames t, t - 1, t - 2, ... So one product of (stride * out) weight rows with a
// sliding window of ceil(kernel / stride) input frames writes the output in place, and
// only input history is carried from block to block.

#include "layers/gemm.hpp"
#include "layers/layer.hpp"
#include "layers/stream_window.hpp"

namespace neurorave {

class ConvTranspose1d final : public Layer {
 public:
  // `weight` is torch's layout (in, out, kernel), row-major; `bias` may be null.
  ConvTranspose1d(int in, int out, int kernel, int stride, const float* weight, const float* bias,
                  WeightLayout layout = {});

  int in_channels() const override { return in_; }
  int out_channels() const override { return out_; }
  int out_frames(int frames) const override { return frames * stride_; }
  int upsampling() const override { return stride_; }
  // The input is copied into the window anyway, so the activation rides along.
  bool take_input_slope(float slope) override {
    window_.take_slope(slope);
    return true;
  }

  void prepare(int max_in_frames) override;
  void reset() override;
  View process(const View& in) override;

 private:
  int in_, out_, stride_, history_;  // history: input frames a block still reaches back to
  Vector row_bias_;  // per product row (stride phases x channels); zeros where the layer has none
  Gemm gemm_;        // (stride * out) x ((history + 1) * in) weights over the window
  StreamWindow window_;  // in x (history + max in frames)
  Matrix output_;        // out x (max in frames * stride)
};

}  // namespace neurorave
