#pragma once
// result += weights * signal for the layers, on Eigen's GEBP kernel.
//
// Streaming products are short and wide: a few hundred weight rows by only a few
// time columns. A plain Eigen product repacks the whole weight matrix on every call,
// which then costs about as much as the multiplication itself, so the weights are
// packed once, at load, into the kernel's layout; a call packs only the signal.
// The signal is read in place through a (tap, channel, column) addressing that
// covers a convolution's sliding window, so no layer builds an im2col copy.
//
// This is the one place that reaches into Eigen's internal GEMM, so a change of
// Eigen version touches this file only.

#include <algorithm>
#include <vector>

#include "layers/layer.hpp"

namespace neurorave {

// Where the depth x cols right-hand side lives: depth row tap * tap_rows + i of
// column j is data[tap * tap_step + i + j * col_step]. Consecutive taps may overlap
// or leave gaps (a dilated or strided convolution's window over its history).
struct Taps {
  Eigen::Index tap_rows;  // depth = taps * tap_rows
  Eigen::Index tap_step;
};

class Gemm {
 public:
  // Packs `weights` (rows x depth) for products with up to `max_cols` columns, the
  // depth read as `taps`. Allocates; not real-time.
  void prepare(const Matrix& weights, const Taps& taps, Eigen::Index max_cols) {
    rows_ = weights.rows();
    const Eigen::Index depth = weights.cols();
    Eigen::Index kc = depth, mc = rows_, nc = std::max<Eigen::Index>(max_cols, 1);
    Eigen::internal::computeProductBlockingSizes<float, float, 1>(kc, mc, nc, Eigen::Index(1));
    // Taps laid end to end are one run; otherwise a depth block must not cross a tap.
    const bool contiguous = taps.tap_step == taps.tap_rows;
    const Eigen::Index run = contiguous ? depth : taps.tap_rows;
    blocks_.clear();
    Eigen::Index packed_size = 0;
    for (Eigen::Index start = 0; start < depth; start += run)
      for (Eigen::Index k = 0; k < run; k += kc) {
        const Eigen::Index tap = start / taps.tap_rows;
        const Block b{start + k, tap * taps.tap_step + (contiguous ? start + k : k),
                      std::min(kc, run - k), packed_size};
        blocks_.push_back(b);
        // The kernel loads whole packets from aligned addresses.
        packed_size += (rows_ * b.depth + kAlign - 1) / kAlign * kAlign;
      }
    packed_.resize(static_cast<size_t>(packed_size));
    const LhsMapper lhs(weights.data(), rows_);
    for (const Block& b : blocks_)
      PackLhs()(packed_.data() + b.packed_offset, lhs.getSubMapper(0, b.depth_offset), b.depth,
                rows_);
    signal_ = Vector::Zero(kc * std::max<Eigen::Index>(max_cols, 1));
  }

  // result (rows x cols, column stride result_stride) += weights * signal, the signal
  // addressed as prepared with column stride col_step. Real-time safe.
  void accumulate(const float* signal, Eigen::Index col_step, Eigen::Index cols, float* result,
                  Eigen::Index result_stride) {
    const ResMapper res(result, result_stride);
    for (const Block& b : blocks_) {
      PackRhs()(signal_.data(), RhsMapper(signal + b.signal_offset, col_step), b.depth, cols);
      Kernel()(res, packed_.data() + b.packed_offset, signal_.data(), rows_, b.depth,
               cols, 1.0f);
    }
  }

 private:
  using Traits = Eigen::internal::gebp_traits<float, float>;
  using LhsMapper = Eigen::internal::const_blas_data_mapper<float, Eigen::Index, Eigen::ColMajor>;
  using RhsMapper = LhsMapper;
  using ResMapper =
      Eigen::internal::blas_data_mapper<float, Eigen::Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  using PackLhs =
      Eigen::internal::gemm_pack_lhs<float, Eigen::Index, LhsMapper, Traits::mr,
                                     Traits::LhsProgress, Traits::LhsPacket4Packing,
                                     Eigen::ColMajor>;
  using PackRhs = Eigen::internal::gemm_pack_rhs<float, Eigen::Index, RhsMapper, Traits::nr,
                                                 Eigen::ColMajor>;
  using Kernel = Eigen::internal::gebp_kernel<float, float, Eigen::Index, ResMapper, Traits::mr,
                                              Traits::nr, false, false>;

  // A run of weight columns packed together, where its signal rows start, and where
  // its packed weights start.
  struct Block {
    Eigen::Index depth_offset, signal_offset, depth, packed_offset;
  };
  static constexpr Eigen::Index kAlign = 16;  // floats: one AVX-512 packet, 64 bytes

  Eigen::Index rows_ = 0;
  std::vector<Block> blocks_;
  std::vector<float, Eigen::aligned_allocator<float>> packed_;
  Vector signal_;  // one depth block of the signal, packed
};

}  // namespace neurorave
