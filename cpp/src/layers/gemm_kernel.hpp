#pragma once
// The GEMM kernels this build carries, one per instruction set, and the one it uses:
// chosen once, at the first model load, from what the CPU runs (the widest), unless the
// environment variable NEURORAVE_KERNEL or use_kernel() names another. A packed weight
// matrix keeps the kernel it was packed for (the panel height depends on its lanes).

#include <cstdint>

#include "layers/gemm_tile.hpp"

namespace neurorave::gemm_kernel {

// gemm_tile.hpp's multiply: C += A * B, or C = bias + A * B where bias is not null; the
// weights fetched ahead where `prefetch` is set (a model too large to stay in cache).
using Multiply = const float* (*)(const float* a, Index rows, Index depth, const float* b,
                                  Index col_step, Index cols, float* c, Index c_stride,
                                  const float* bias, bool prefetch);

// The same over half-size weights; null where the level cannot widen them as it loads.
using MultiplyHalf = const Half* (*)(const Half* a, Index rows, Index depth, const float* b,
                                     Index col_step, Index cols, float* c, Index c_stride,
                                     const float* bias, bool prefetch);

using FmaBurst = void (*)(Index iterations, float* sink);

// The streaming layers' elementwise passes at the same width (stream_ops.hpp).
struct StreamOps {
  void (*leaky_relu)(const float* in, Index n, float slope, float* out);
  void (*add)(const float* a, const float* b, Index n, float* out);
  void (*hash_noise_block)(int64_t first, int bands, Index frames, float* out);
};

struct Level {
  const char* name;  // "build" (what the compiler flags give), "avx2", "avx512"
  int lanes;         // floats per packet
  Multiply multiply;
  MultiplyHalf multiply_half;
  FmaBurst fma_burst;  // iterations x kPeakChains x lanes multiply-adds
  StreamOps stream;
  int panel_rows() const { return kPanelPackets * lanes; }
};

const Level& active();

// The active level's elementwise passes: every level gives the same bits.
inline const StreamOps& stream_ops() { return active().stream; }

// Defined in gemm_avx2.cpp / gemm_avx512.cpp, compiled with those extensions (x86 only).
const Level& avx2_level();
const Level& avx512_level();

}  // namespace neurorave::gemm_kernel
