#pragma once
// x + branch(x), with the skip path delayed by the branch's streaming lag so both
// halves of the sum refer to the same offline instant.

#include <algorithm>
#include <memory>

#include "layers/sequence.hpp"

namespace neurorave {

class Residual final : public Layer {
 public:
  Residual(std::unique_ptr<Sequence> branch, int delay)
      : branch_(std::move(branch)), delay_(delay) {}

  int in_channels() const override { return branch_->in_channels(); }
  int out_channels() const override { return branch_->out_channels(); }

  void prepare(int max_in_frames) override {
    branch_->prepare(max_in_frames);
    delay_line_ = Matrix::Zero(in_channels(), delay_ + max_in_frames);
    output_ = Matrix::Zero(out_channels(), max_in_frames);
  }
  void reset() override {
    branch_->reset();
    delay_line_.setZero();
  }
  View process(const View& in) override {
    const Eigen::Index frames = in.cols();
    delay_line_.middleCols(delay_, frames) = in;
    output_.leftCols(frames) = delay_line_.leftCols(frames) + branch_->process(in);
    float* data = delay_line_.data();
    std::copy(data + frames * in.rows(), data + (frames + delay_) * in.rows(), data);
    return leading_columns(output_, frames);
  }

 private:
  std::unique_ptr<Sequence> branch_;
  int delay_;
  Matrix delay_line_;  // channels x (delay + max frames)
  Matrix output_;
};

}  // namespace neurorave
