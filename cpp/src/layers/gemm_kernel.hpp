#pragma once
// The register tile under Gemm: C (panel rows x tile columns) += A panel * B columns,
// A packed (depth x panel rows, row-fastest, zero rows padding the last packet), B read
// in place with one broadcast per value. A tile of kPanelPackets x kTileCols packets
// stays in registers for the whole depth: per depth step it loads kPanelPackets weight
// packets and broadcasts kTileCols signal values for kPanelPackets * kTileCols FMAs.

#include <Eigen/Core>

namespace neurorave::gemm_kernel {

using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int kLanes = Eigen::internal::packet_traits<float>::size;
constexpr int kPanelPackets = 3;
constexpr int kPanelRows = kPanelPackets * kLanes;
// 3 x 4 accumulators + 3 weights + 1 broadcast: 16 registers, what AVX2 has.
constexpr int kTileCols = 4;

// Pins a loaded weight packet to a register. Without it GCC 12 folds the load into
// every FMA that uses it, loading each packet once per column: that saturates the load
// ports (measured 21 instead of 50 GMAC/s on an AVX-512 Zen 4 core).
template <typename T>
inline void keep_in_register(T& value) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+v"(value));
#elif defined(__GNUC__) && (defined(__aarch64__) || defined(__ARM_NEON))
  __asm__("" : "+w"(value));
#else
  (void)value;
#endif
}

// C (valid_rows x Cols, column stride c_stride) += A (Packets packets of rows) * B.
template <int Packets, int Cols>
inline void tile(const float* a, Eigen::Index depth, const float* b, Eigen::Index col_step,
                 float* c, Eigen::Index c_stride, Eigen::Index valid_rows) {
  using namespace Eigen::internal;
  // The loops over p and j must unroll before GCC's scalar replacement runs, or the
  // accumulators live on the stack.
  Packet acc[Packets][Cols];
#pragma GCC unroll 4
  for (int p = 0; p < Packets; ++p)
#pragma GCC unroll 4
    for (int j = 0; j < Cols; ++j) acc[p][j] = pset1<Packet>(0.0f);
  const float* column[Cols];
#pragma GCC unroll 4
  for (int j = 0; j < Cols; ++j) column[j] = b + j * col_step;
  for (Eigen::Index k = 0; k < depth; ++k, a += Packets * kLanes) {
    Packet weight[Packets];
#pragma GCC unroll 4
    for (int p = 0; p < Packets; ++p) {
      weight[p] = pload<Packet>(a + p * kLanes);
      keep_in_register(weight[p]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < Cols; ++j) {
      const Packet x = pset1<Packet>(column[j][k]);
#pragma GCC unroll 4
      for (int p = 0; p < Packets; ++p) acc[p][j] = pmadd(weight[p], x, acc[p][j]);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < Cols; ++j)
#pragma GCC unroll 4
    for (int p = 0; p < Packets; ++p) {
      float* out = c + j * c_stride + p * kLanes;
      const Eigen::Index rows = valid_rows - p * kLanes;
      if (rows >= kLanes) {
        pstoreu(out, padd(ploadu<Packet>(out), acc[p][j]));
      } else {  // the padded last packet: only its valid rows exist in C
        alignas(alignof(Packet)) float lanes[kLanes];
        pstore(lanes, acc[p][j]);
        for (Eigen::Index r = 0; r < rows; ++r) out[r] += lanes[r];
      }
    }
}

// One panel against every column, kTileCols at a time.
template <int Packets>
inline void panel(const float* a, Eigen::Index depth, const float* b, Eigen::Index col_step,
                  Eigen::Index cols, float* c, Eigen::Index c_stride, Eigen::Index valid_rows) {
  Eigen::Index j = 0;
  for (; j + kTileCols <= cols; j += kTileCols)
    tile<Packets, kTileCols>(a, depth, b + j * col_step, col_step, c + j * c_stride, c_stride,
                             valid_rows);
  const float* bj = b + j * col_step;
  float* cj = c + j * c_stride;
  static_assert(kTileCols == 4, "the remainder below handles 1 to 3 columns");
  switch (cols - j) {
    case 3: tile<Packets, 3>(a, depth, bj, col_step, cj, c_stride, valid_rows); break;
    case 2: tile<Packets, 2>(a, depth, bj, col_step, cj, c_stride, valid_rows); break;
    case 1: tile<Packets, 1>(a, depth, bj, col_step, cj, c_stride, valid_rows); break;
    default: break;
  }
}

// C (rows x cols) += A * B for A packed as Gemm::pack lays out one block; returns
// where the next block's panels start.
inline const float* multiply(const float* a, Eigen::Index rows, Eigen::Index depth,
                             const float* b, Eigen::Index col_step, Eigen::Index cols, float* c,
                             Eigen::Index c_stride) {
  for (Eigen::Index row = 0; row < rows; row += kPanelRows) {
    const Eigen::Index valid = std::min<Eigen::Index>(kPanelRows, rows - row);
    const int packets = static_cast<int>((valid + kLanes - 1) / kLanes);
    switch (packets) {
      case 3: panel<3>(a, depth, b, col_step, cols, c + row, c_stride, valid); break;
      case 2: panel<2>(a, depth, b, col_step, cols, c + row, c_stride, valid); break;
      default: panel<1>(a, depth, b, col_step, cols, c + row, c_stride, valid); break;
    }
    a += static_cast<Eigen::Index>(packets) * kLanes * depth;
  }
  return a;
}

}  // namespace neurorave::gemm_kernel
