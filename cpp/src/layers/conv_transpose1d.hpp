#pragma once
// ConvTranspose1d streamed by overlap-add: each block's overhang (kernel - stride
// samples) is carried into the next block. The bias is added once per output sample.

#include "layers/gemm.hpp"
#include "layers/layer.hpp"

namespace neurorave {

class ConvTranspose1d final : public Layer {
 public:
  // `weight` is torch's layout (in, out, kernel), row-major; `bias` may be null.
  ConvTranspose1d(int in, int out, int kernel, int stride, const float* weight,
                  const float* bias);

  int in_channels() const override { return in_; }
  int out_channels() const override { return out_; }
  int out_frames(int frames) const override { return frames * stride_; }
  int upsampling() const override { return stride_; }

  void prepare(int max_in_frames) override;
  void reset() override;
  View process(const View& in) override;

 private:
  int in_, out_, kernel_, stride_, tail_;
  Matrix weight_;       // (kernel * out) x in: every tap's contribution in one product
  Vector bias_;
  bool has_bias_;
  Gemm gemm_;
  Matrix taps_;         // (kernel * out) x max in frames
  Matrix accumulator_;  // out x (tail + max out frames); starts with the carried tail
  Matrix output_;
};

}  // namespace neurorave
