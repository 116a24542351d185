#pragma once
// C += A * B for column-major float matrices, with Eigen's packing buffers owned by
// the caller and sized once. A plain Eigen product packs into temporaries that go
// to the heap past EIGEN_STACK_ALLOCATION_LIMIT, which the audio thread must never
// do. This is the one place that reaches into Eigen's internal GEMM, so a change of
// Eigen version touches this file only.

#include <algorithm>

#include "layers/layer.hpp"

namespace neurorave {

class Gemm {
 public:
  // Sizes the packing buffers for products of a rows x depth matrix by up to
  // depth x max_cols. Allocates; not real-time.
  void prepare(Eigen::Index rows, Eigen::Index max_cols, Eigen::Index depth) {
    Eigen::Index lhs_size = 0, rhs_size = 0;
    for (Eigen::Index cols = 4; cols <= max_cols; ++cols) {
      Eigen::Index kc = depth, mc = rows, nc = cols;
      Eigen::internal::computeProductBlockingSizes<float, float, 1>(kc, mc, nc, Eigen::Index(1));
      lhs_size = std::max(lhs_size, kc * mc);
      rhs_size = std::max(rhs_size, kc * nc);
    }
    blocking_.allocate(lhs_size, rhs_size);
  }

  // result (rows x cols, column stride result_stride) += lhs * rhs (depth x cols,
  // column stride rhs_stride). Real-time safe.
  void accumulate(const Matrix& lhs, const float* rhs, Eigen::Index rhs_stride,
                  Eigen::Index cols, float* result, Eigen::Index result_stride) {
    // Below four columns, packing the weights costs more than it saves: matrix-vector
    // products measured up to twice as fast there (and Eigen packs nothing for them).
    if (cols < 4) {
      for (Eigen::Index c = 0; c < cols; ++c)
        Eigen::Map<Vector>(result + c * result_stride, lhs.rows()).noalias() +=
            lhs * Eigen::Map<const Vector>(rhs + c * rhs_stride, lhs.cols());
      return;
    }
    // Blocking sized for this product, as Eigen would choose it: sizing it once for the
    // largest block made 2 to 16 frame calls slower than one frame at a time.
    blocking_.fit(lhs.rows(), cols, lhs.cols());
    Product::run(lhs.rows(), cols, lhs.cols(), lhs.data(), lhs.rows(), rhs, rhs_stride, result,
                 1, result_stride, 1.0f, blocking_);
  }

 private:
  // Eigen's blocking with caller-owned buffers and per-product block sizes.
  class Blocking : public Eigen::internal::level3_blocking<float, float> {
   public:
    void allocate(Eigen::Index lhs_size, Eigen::Index rhs_size) {
      lhs_ = Vector::Zero(std::max<Eigen::Index>(lhs_size, 1));
      rhs_ = Vector::Zero(std::max<Eigen::Index>(rhs_size, 1));
      m_blockA = lhs_.data();
      m_blockB = rhs_.data();
    }
    void fit(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
      m_kc = depth;
      m_mc = rows;
      m_nc = cols;
      Eigen::internal::computeProductBlockingSizes<float, float, 1>(m_kc, m_mc, m_nc,
                                                                    Eigen::Index(1));
    }

   private:
    Vector lhs_, rhs_;
  };

  using Product = Eigen::internal::general_matrix_matrix_product<
      Eigen::Index, float, Eigen::ColMajor, false, float, Eigen::ColMajor, false, Eigen::ColMajor,
      1>;
  Blocking blocking_;
};

}  // namespace neurorave
