#include "layers/conv_transpose1d.hpp"

namespace neurorave {

ConvTranspose1d::ConvTranspose1d(int in, int out, int kernel, int stride, const float* weight,
                                 const float* bias, WeightLayout layout)
    : in_(in), out_(out), stride_(stride), history_((kernel + stride - 1) / stride - 1) {
  // Row j * out + o, column block m: tap j + (history - m) * stride (zero past the
  // kernel), applied to window frame t + m.
  Matrix w = Matrix::Zero(static_cast<Eigen::Index>(stride) * out,
                          static_cast<Eigen::Index>(history_ + 1) * in);
  for (int m = 0; m <= history_; ++m)
    for (int j = 0; j < stride; ++j) {
      const int k = j + (history_ - m) * stride;
      if (k >= kernel) continue;
      for (int c = 0; c < in; ++c)
        for (int o = 0; o < out; ++o)
          w(j * out + o, m * in + c) = weight[(c * out + o) * kernel + k];
    }
  // Window frames follow each other, so the taps are one contiguous run.
  gemm_.pack(w, Taps{in, in}, layout);
  // The product's rows are the stride's phases, each over every output channel.
  const Vector channel_bias =
      bias ? Vector(Eigen::Map<const Vector>(bias, out)) : Vector::Zero(out);
  row_bias_ = channel_bias.replicate(stride, 1);
}

void ConvTranspose1d::prepare(int max_in_frames) {
  window_.prepare(in_, history_, max_in_frames);
  output_ = Matrix::Zero(out_, static_cast<Eigen::Index>(max_in_frames) * stride_);
}

void ConvTranspose1d::reset() { window_.reset(); }

View ConvTranspose1d::process(const View& in) {
  const int frames = static_cast<int>(in.cols());
  const int length = frames * stride_;
  window_.push(in);
  // Output column t of the product is samples t * stride ... t * stride + stride - 1.
  gemm_.product_plus_bias(window_.data(), in_, frames, row_bias_.data(), output_.data(),
                          static_cast<Eigen::Index>(stride_) * out_);
  window_.advance(frames);
  return leading_columns(output_, length);
}

}  // namespace neurorave
