#pragma once
// A streaming layer: sized once by prepare(), then process() runs without allocating.
//
// Signals are column-major (channels x frames) matrices, so one time step is one
// contiguous column. A layer returns a view of its own output buffer, valid until
// its next call.

#include <Eigen/Core>

namespace neurorave {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using Vector = Eigen::VectorXf;
// A read-only window on contiguous columns: a layer's output or a host's buffer.
using View = Eigen::Map<const Matrix>;

inline View leading_columns(const Matrix& m, Eigen::Index cols) {
  return View(m.data(), m.rows(), cols);
}

class Layer {
 public:
  virtual ~Layer() = default;

  virtual int in_channels() const = 0;
  virtual int out_channels() const = 0;
  // Frames out for `frames` in (strided layers need `frames` a multiple of the stride).
  virtual int out_frames(int frames) const { return frames; }
  // Downsampling and upsampling factors (a strided conv divides, a transposed one multiplies).
  virtual int downsampling() const { return 1; }
  virtual int upsampling() const { return 1; }

  // Applies LeakyReLU(slope < 1) to the input as this layer reads it, saving the signal
  // a pass of its own; false where the layer cannot. Call before prepare().
  virtual bool take_input_slope(float /*slope*/) { return false; }

  virtual void prepare(int max_in_frames) = 0;  // allocates; not real-time
  virtual void reset() = 0;                     // forgets history; real-time safe
  virtual View process(const View& in) = 0;     // real-time safe
};

}  // namespace neurorave
