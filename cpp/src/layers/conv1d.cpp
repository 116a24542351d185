#include "layers/conv1d.hpp"

namespace neurorave {

Conv1d::Conv1d(const ConvShape& shape, const float* weight, const float* bias, WeightLayout layout)
    : shape_(shape), history_((shape.kernel - 1) * shape.dilation) {
  bias_ = bias ? Vector(Eigen::Map<const Vector>(bias, shape.out)) : Vector::Zero(shape.out);
  const int in_per_group = shape.in / shape.groups;
  const int out_per_group = shape.out / shape.groups;
  // Tap k of output t reads window column t * stride + k * dilation: in the window's
  // memory, tap k starts k * dilation columns on.
  const Taps taps{in_per_group, static_cast<Eigen::Index>(shape.dilation) * shape.in};
  gemms_.resize(shape.groups);
  Matrix w(out_per_group, shape.kernel * in_per_group);  // packed, then dropped
  for (int g = 0; g < shape.groups; ++g) {
    for (int o = 0; o < out_per_group; ++o)
      for (int c = 0; c < in_per_group; ++c)
        for (int k = 0; k < shape.kernel; ++k)
          w(o, k * in_per_group + c) =
              weight[((g * out_per_group + o) * in_per_group + c) * shape.kernel + k];
    gemms_[g].pack(w, taps, layout);
  }
}

void Conv1d::prepare(int max_in_frames) {
  window_.prepare(shape_.in, history_, max_in_frames);
  const int max_out = max_in_frames / shape_.stride;
  output_ = Matrix::Zero(shape_.out, max_out);
}

void Conv1d::reset() { window_.reset(); }

View Conv1d::process(const View& in) {
  const int frames = static_cast<int>(in.cols());
  const int out_frames = frames / shape_.stride;
  const Eigen::Index col_step = static_cast<Eigen::Index>(shape_.stride) * shape_.in;
  if (history_ == 0 && shape_.groups == 1 && !window_.activated()) {  // read in place
    gemms_[0].product_plus_bias(in.data(), col_step, out_frames, bias_.data(), output_.data(),
                                output_.rows());
    return leading_columns(output_, out_frames);
  }
  window_.push(in);
  const int in_per_group = shape_.in / shape_.groups;
  const int out_per_group = shape_.out / shape_.groups;
  for (int g = 0; g < shape_.groups; ++g)
    gemms_[g].product_plus_bias(window_.data() + g * in_per_group, col_step, out_frames,
                                bias_.data() + g * out_per_group,
                                output_.data() + g * out_per_group, output_.rows());
  window_.advance(frames);
  return leading_columns(output_, out_frames);
}

}  // namespace neurorave
