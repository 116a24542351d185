#pragma once

#include "layers/gemm_kernel.hpp"
#include "layers/layer.hpp"

namespace neurorave {

class LeakyRelu final : public Layer {
 public:
  LeakyRelu(int channels, float slope) : channels_(channels), slope_(slope) {}

  int in_channels() const override { return channels_; }
  int out_channels() const override { return channels_; }
  float slope() const { return slope_; }
  void prepare(int max_in_frames) override { output_ = Matrix::Zero(channels_, max_in_frames); }
  void reset() override {}
  View process(const View& in) override {
    gemm_kernel::stream_ops().leaky_relu(in.data(), in.size(), slope_, output_.data());
    return leading_columns(output_, in.cols());
  }

 private:
  int channels_;
  float slope_;
  Matrix output_;
};

}  // namespace neurorave
