#pragma once
// x + branch(x), with the skip path delayed by the branch's streaming lag so both
// halves of the sum refer to the same offline instant.

#include <memory>

#include "layers/sequence.hpp"
#include "layers/stream_window.hpp"

namespace neurorave {

class Residual final : public Layer {
 public:
  Residual(std::unique_ptr<Sequence> branch, int delay)
      : branch_(std::move(branch)), delay_(delay) {}

  int in_channels() const override { return branch_->in_channels(); }
  int out_channels() const override { return branch_->out_channels(); }

  void prepare(int max_in_frames) override {
    branch_->prepare(max_in_frames);
    delay_line_.prepare(in_channels(), delay_, max_in_frames);
    output_ = Matrix::Zero(out_channels(), max_in_frames);
  }
  void reset() override {
    branch_->reset();
    delay_line_.reset();
  }
  View process(const View& in) override {
    const Eigen::Index frames = in.cols();
    delay_line_.push(in);
    const View branch = branch_->process(in);
    gemm_kernel::stream_ops().add(delay_line_.leading(frames).data(), branch.data(), branch.size(),
                                  output_.data());
    delay_line_.advance(frames);
    return leading_columns(output_, frames);
  }

 private:
  std::unique_ptr<Sequence> branch_;
  int delay_;
  StreamWindow delay_line_;  // the skip path, `delay` frames late
  Matrix output_;
};

}  // namespace neurorave
