#pragma once
// C += A * B for column-major float matrices, with Eigen's packing buffers owned by
// the caller and sized once. A plain Eigen product packs into temporaries that go
// to the heap past EIGEN_STACK_ALLOCATION_LIMIT, which the audio thread must never
// do. This is the one place that reaches into Eigen's internal GEMM, so a change of
// Eigen version touches this file only.

#include <memory>

#include "layers/layer.hpp"

namespace neurorave {

class Gemm {
 public:
  // Sizes the packing buffers for products of a rows x depth matrix by up to
  // depth x max_cols. Allocates; not real-time.
  void prepare(Eigen::Index rows, Eigen::Index max_cols, Eigen::Index depth) {
    blocking_ = std::make_unique<Blocking>(rows, max_cols, depth, 1, true);
    blocking_->allocateAll();
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
    Product::run(lhs.rows(), cols, lhs.cols(), lhs.data(), lhs.rows(), rhs, rhs_stride, result,
                 1, result_stride, 1.0f, *blocking_);
  }

 private:
  using Blocking = Eigen::internal::gemm_blocking_space<Eigen::ColMajor, float, float,
                                                         Eigen::Dynamic, Eigen::Dynamic,
                                                         Eigen::Dynamic>;
  using Product = Eigen::internal::general_matrix_matrix_product<
      Eigen::Index, float, Eigen::ColMajor, false, float, Eigen::ColMajor, false, Eigen::ColMajor,
      1>;
  std::unique_ptr<Blocking> blocking_;
};

}  // namespace neurorave
