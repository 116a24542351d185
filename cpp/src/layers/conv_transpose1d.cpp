#include "layers/conv_transpose1d.hpp"

#include <algorithm>

namespace neurorave {

ConvTranspose1d::ConvTranspose1d(int in, int out, int kernel, int stride, const float* weight,
                                 const float* bias)
    : in_(in), out_(out), kernel_(kernel), stride_(stride), tail_(kernel - stride),
      has_bias_(bias != nullptr) {
  weight_.resize(kernel * out, in);
  for (int c = 0; c < in; ++c)
    for (int o = 0; o < out; ++o)
      for (int k = 0; k < kernel; ++k) weight_(k * out + o, c) = weight[(c * out + o) * kernel + k];
  bias_ = has_bias_ ? Vector(Eigen::Map<const Vector>(bias, out)) : Vector::Zero(out);
}

void ConvTranspose1d::prepare(int max_in_frames) {
  taps_ = Matrix::Zero(kernel_ * out_, max_in_frames);
  gemm_.prepare(kernel_ * out_, max_in_frames, in_);
  accumulator_ = Matrix::Zero(out_, tail_ + max_in_frames * stride_ + stride_);
  output_ = Matrix::Zero(out_, max_in_frames * stride_);
}

void ConvTranspose1d::reset() { accumulator_.setZero(); }

View ConvTranspose1d::process(const View& in) {
  const int frames = static_cast<int>(in.cols());
  const int length = frames * stride_;
  taps_.leftCols(frames).setZero();
  gemm_.accumulate(weight_, in.data(), in.rows(), frames, taps_.data(), taps_.rows());
  // Columns [0, tail) hold the carry; everything after it starts from zero.
  accumulator_.middleCols(tail_, length).setZero();
  // Overlap-add, one tap at a time: tap k of input frame t lands on column t * stride + k.
  using Strided = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;
  for (int k = 0; k < kernel_; ++k)
    Strided(accumulator_.data() + static_cast<ptrdiff_t>(k) * out_, out_, frames,
            Eigen::OuterStride<>(static_cast<Eigen::Index>(stride_) * out_)) +=
        taps_.block(k * out_, 0, out_, frames);
  output_.leftCols(length) = accumulator_.leftCols(length);
  if (has_bias_) output_.leftCols(length).colwise() += bias_;
  float* data = accumulator_.data();
  std::copy(data + static_cast<ptrdiff_t>(length) * out_,
            data + static_cast<ptrdiff_t>(length + tail_) * out_, data);
  return leading_columns(output_, length);
}

}  // namespace neurorave
