#pragma once
// result += weights * signal for the layers: a small register-tiled kernel
// (gemm_tile.hpp) for the widest instruction set the CPU runs (gemm_kernel.hpp).
//
// Streaming products are short and wide: a few hundred weight rows by only a few
// time columns. So the weights are packed once, at load, into row panels laid out in
// the order the kernel reads them, and the signal is never packed: each column is read
// in place, through a (tap, channel, column) addressing that covers a convolution's
// sliding window, so no layer builds an im2col copy either. (Eigen's own GEBP kernel
// with prepacked weights measured at 77% of this core's FMA peak: GCC compiles it
// with every weight packet reloaded once per column, which saturates the load ports.)

#include <algorithm>
#include <vector>

#include "layers/gemm_kernel.hpp"
#include "layers/layer.hpp"

namespace neurorave {

// Where the depth x cols right-hand side lives: depth row tap * tap_rows + i of
// column j is data[tap * tap_step + i + j * col_step]. Consecutive taps may overlap
// or leave gaps (a dilated or strided convolution's window over its history).
struct Taps {
  Eigen::Index tap_rows;  // depth = taps * tap_rows
  Eigen::Index tap_step;
};

// How a layer's weights are held while it plays: float, or binary16 (half the bytes per
// product, which is what bounds a large model playing one frame per call). The kernel
// widens half weights to float as it loads them and accumulates in float.
enum class WeightPrecision { f32, f16 };

// What a layer's weights are held as, and whether they are streamed: part of a model too
// large for its weights to stay in cache from one call to the next, so that the kernel
// fetches them ahead as it reads them (gemm_tile.hpp, prefetch_ahead). The same sums
// either way.
struct WeightLayout {
  // Not explicit: a precision alone is a layout, unstreamed.
  WeightLayout(WeightPrecision precision = WeightPrecision::f32, bool streamed = false)
      : precision(precision), streamed(streamed) {}
  WeightPrecision precision;
  bool streamed;
};

class Gemm {
 public:
  // Packs `weights` (rows x depth), the depth read as `taps`; the caller may drop its
  // copy. f16 rounds each weight to the nearest binary16 (exact for weights read from an
  // F16 tensor); a kernel that cannot widen half weights as it loads keeps them as float,
  // with the same values. Allocates; not real-time.
  void pack(const Matrix& weights, const Taps& taps, WeightLayout layout = {}) {
    const WeightPrecision precision = layout.precision;
    level_ = &gemm_kernel::active();
    streamed_ = layout.streamed;
    half_ = precision == WeightPrecision::f16 && level_->multiply_half != nullptr;
    rows_ = weights.rows();
    const Eigen::Index depth = weights.cols();
    // Taps laid end to end are one run; otherwise a block must not cross a tap.
    const bool contiguous = taps.tap_step == taps.tap_rows;
    const Eigen::Index run = contiguous ? depth : taps.tap_rows;
    blocks_.clear();
    for (Eigen::Index start = 0; start < depth; start += run)
      blocks_.push_back({start, (start / taps.tap_rows) * taps.tap_step, run});
    if (half_) {
      lay_out(weights, packed_half_,
              [](float v) { return Eigen::numext::bit_cast<gemm_kernel::Half>(Eigen::half(v)); });
      packed_.clear();
    } else {
      const bool rounded = precision == WeightPrecision::f16;
      lay_out(weights, packed_,
              [rounded](float v) { return rounded ? static_cast<float>(Eigen::half(v)) : v; });
      packed_half_.clear();
    }
  }

  // result (rows x cols, column stride result_stride) += weights * signal, the signal
  // addressed as prepared with column stride col_step. Real-time safe.
  void accumulate(const float* signal, Eigen::Index col_step, Eigen::Index cols, float* result,
                  Eigen::Index result_stride) const {
    run(signal, col_step, cols, result, result_stride, nullptr);
  }

  // result = bias (one value per row) + weights * signal: the bits of filling result with
  // the bias and accumulating, without the filling pass. Real-time safe.
  void product_plus_bias(const float* signal, Eigen::Index col_step, Eigen::Index cols,
                         const float* bias, float* result, Eigen::Index result_stride) const {
    run(signal, col_step, cols, result, result_stride, bias);
  }

 private:
  // A run of weight columns packed together, and where its signal rows start.
  struct Block {
    Eigen::Index depth_offset, signal_offset, depth;
  };
  template <class T>
  using Packed = std::vector<T, Eigen::aligned_allocator<T>>;

  // Per block, per panel of up to level_->panel_rows() rows: depth x panel height,
  // row-fastest, each panel padded with zero rows to whole packets.
  template <class T, class Convert>
  void lay_out(const Matrix& weights, Packed<T>& packed, Convert convert) const {
    const Eigen::Index lanes = level_->lanes, panel_rows = level_->panel_rows();
    const Eigen::Index padded_rows = (rows_ + lanes - 1) / lanes * lanes;
    packed.assign(static_cast<size_t>(padded_rows * weights.cols()), convert(0.0f));
    T* out = packed.data();
    for (const Block& b : blocks_)
      for (Eigen::Index row = 0; row < rows_; row += panel_rows) {
        const Eigen::Index height = std::min<Eigen::Index>(panel_rows, padded_rows - row);
        for (Eigen::Index k = 0; k < b.depth; ++k, out += height)
          for (Eigen::Index r = 0; r < std::min(height, rows_ - row); ++r)
            out[r] = convert(weights(row + r, b.depth_offset + k));
      }
  }

  // The first block adds the bias where there is one, the next ones accumulate.
  void run(const float* signal, Eigen::Index col_step, Eigen::Index cols, float* result,
           Eigen::Index result_stride, const float* bias) const {
    if (half_)
      run(level_->multiply_half, packed_half_.data(), signal, col_step, cols, result, result_stride,
          bias);
    else
      run(level_->multiply, packed_.data(), signal, col_step, cols, result, result_stride, bias);
  }

  template <class Multiply, class T>
  void run(Multiply multiply, const T* panel, const float* signal, Eigen::Index col_step,
           Eigen::Index cols, float* result, Eigen::Index result_stride, const float* bias) const {
    for (const Block& b : blocks_) {
      panel = multiply(panel, rows_, b.depth, signal + b.signal_offset, col_step, cols, result,
                       result_stride, bias, streamed_);
      bias = nullptr;
    }
  }

  const gemm_kernel::Level* level_ = nullptr;  // the kernel the weights are packed for
  bool half_ = false;
  bool streamed_ = false;
  Eigen::Index rows_ = 0;
  std::vector<Block> blocks_;
  Packed<float> packed_;
  Packed<gemm_kernel::Half> packed_half_;
};

}  // namespace neurorave
