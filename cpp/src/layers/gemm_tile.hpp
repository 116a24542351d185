#pragma once
// The register tile under Gemm, written once for every instruction set: C (panel rows x
// tile columns) += A panel * B columns, A packed (depth x panel rows, row-fastest, zero
// rows padding the last packet), B read in place with one broadcast per value. A tile
// of Packets x Cols packets stays in registers for the whole depth: per depth step it
// loads Packets weight packets and broadcasts Cols signal values for Packets * Cols FMAs.
// A tile takes tile_cols<S>() columns: 4 where there are 16 vector registers (3 x 4
// accumulators + 3 weights + 1 broadcast), 8 with AVX-512's 32, which halves how often a
// weight packet is reloaded (measured on a Xeon core with two 512-bit FMA ports, 24
// columns: 66-83 against 48-54 G multiply-adds/s with the weights in L2 or L3; its peak is
// 115).
// `S::Weight` is how A is stored: float, or Half (IEEE binary16 bits) that S::load_weights
// widens to float as it loads, so that half-size weights halve the bytes read per product
// while the arithmetic and the accumulators stay float.
//
// `S` is one instruction set's packet operations (gemm_kernel.cpp: Eigen's packets for the
// build's own flags; gemm_avx2.cpp, gemm_avx512.cpp: intrinsics in files compiled with
// those extensions). Everything here is a template on S, so each instruction set gets
// functions of its own: nothing compiled for AVX-512 can be linked into the baseline.
// No standard or Eigen header is included for the same reason.

#include <cstddef>

namespace neurorave::gemm_kernel {

using Index = std::ptrdiff_t;
using Half = unsigned short;  // the bits of an IEEE binary16 value
constexpr int kPanelPackets = 3;

// 16 float lanes means AVX-512 (SSE and NEON have 4, AVX 8), and so 32 registers. NEON
// also has 32, but the wider tile is unmeasured on an ARM core.
template <class S>
constexpr int tile_cols() {
  return S::kLanes == 16 ? 8 : 4;
}

// Pins a loaded weight packet to a register. Without it GCC 12 folds the load into
// every FMA that uses it, loading each packet once per column: that saturates the load
// ports (measured 21 instead of 50 GMAC/s on an AVX-512 Zen 4 core).
template <class S>
inline void keep_in_register(typename S::Packet& value) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+v"(value));
#elif defined(__GNUC__) && (defined(__aarch64__) || defined(__ARM_NEON))
  __asm__("" : "+w"(value));
#else
  (void)value;
#endif
}

// A large model playing one frame per call reads each weight once per call from memory
// (`v1` at block 2048: 68 MB, or 34 in fp16), and a tile consumes its weights slower than
// the hardware prefetcher fetches ahead: too few lines are in flight to fill the memory
// bus. So a streamed layer's tiles also ask, each depth step, for the weights
// kPrefetchBytes ahead, into L2. Measured on a Zen 5 core streaming 40-80 MB of weights
// (G weights/s, fp32 / fp16): one column 9.6-11.2 / 17-20 before, 11.8 / 26 after; eight
// columns 6.2-8.2 / 7.0-9.2 before, 10.3 / 15.7 after (the fp16 one at the FMA peak). A
// prefetch never faults, past the last panel too; but for weights in cache already it
// is load-port work for nothing (`small`'s fp16 build up to 8 % slower), so only models
// too large to stay in cache stream (network_builder.cpp).
constexpr int kPrefetchBytes = 16384;

template <class Weight>
inline void prefetch_ahead(const Weight* a, int bytes) {
#if defined(__GNUC__)
  const char* ahead = reinterpret_cast<const char*>(a) + kPrefetchBytes;
#pragma GCC unroll 8
  for (int line = 0; line < bytes; line += 64) __builtin_prefetch(ahead + line, 0, 1);
#else
  (void)a;
  (void)bytes;
#endif
}

// The loops over p and j must unroll before GCC's scalar replacement runs, or the
// accumulators live on the stack.
template <class S, int Packets, int Cols>
inline void set_zero(typename S::Packet (&acc)[Packets][Cols]) {
#pragma GCC unroll 4
  for (int p = 0; p < Packets; ++p)
#pragma GCC unroll 8
    for (int j = 0; j < Cols; ++j) acc[p][j] = S::broadcast(0.0f);
}

// With one or two columns a tile has only Packets or 2 x Packets FMA chains, each waiting
// on its own last result: fewer than the FMA units' latency x throughput, so a tile whose
// weights come from cache waits on its own additions. There the depth steps go in pairs,
// the odd ones into accumulators of their own, summed at the end: twice the chains.
// Two columns only where there are 32 vector registers (with 16 the second set spills).
// Measured on a Zen 5 core, weights in L2 (G weights/s, fp32 / fp16): AVX-512 one
// column 22.5 / 41.9 before, 23.1 / 52.3 paired; two columns 24.0 / 39.7 and 24.6 / 47.6;
// AVX2 one column fp16 23.7 and 40.3 (two columns paired: 20.4 and 14.5, spilled).
template <class S, int Cols>
constexpr bool paired_depth() {
  return Cols == 1 || (Cols == 2 && tile_cols<S>() == 8);
}

// The paired depth steps of `tile` (all but an odd last one) into acc; returns how many.
template <class S, int Packets, int Cols, bool Prefetch>
inline Index multiply_depth_pairs(const typename S::Weight* a, Index depth,
                                  const float* const* column,
                                  typename S::Packet (&acc)[Packets][Cols]) {
  using Packet = typename S::Packet;
  constexpr int lanes = S::kLanes;
  Packet odd[Packets][Cols];
  set_zero<S>(odd);
  Index k = 0;
  for (; k + 2 <= depth; k += 2, a += 2 * Packets * lanes) {
    if constexpr (Prefetch) prefetch_ahead(a, 2 * Packets * lanes * sizeof(*a));
    Packet even_weight[Packets], odd_weight[Packets];
#pragma GCC unroll 4
    for (int p = 0; p < Packets; ++p) {
      even_weight[p] = S::load_weights(a + p * lanes);
      keep_in_register<S>(even_weight[p]);
      odd_weight[p] = S::load_weights(a + (Packets + p) * lanes);
      keep_in_register<S>(odd_weight[p]);
    }
#pragma GCC unroll 2
    for (int j = 0; j < Cols; ++j) {
      const Packet x = S::broadcast(column[j][k]);
      const Packet y = S::broadcast(column[j][k + 1]);
#pragma GCC unroll 4
      for (int p = 0; p < Packets; ++p) {
        acc[p][j] = S::multiply_add(even_weight[p], x, acc[p][j]);
        odd[p][j] = S::multiply_add(odd_weight[p], y, odd[p][j]);
      }
    }
  }
#pragma GCC unroll 4
  for (int p = 0; p < Packets; ++p)
#pragma GCC unroll 2
    for (int j = 0; j < Cols; ++j) acc[p][j] = S::add(acc[p][j], odd[p][j]);
  return k;
}

// C (valid_rows x Cols, column stride c_stride) += A (Packets packets of rows) * B, or,
// given a bias (one value per row), C = bias + A * B: the same sum as filling C with the
// bias first, bit for bit, without the pass over C that the filling costs. Prefetch: the
// weights are fetched ahead as they are read (prefetch_ahead); the same sums either way.
template <class S, int Packets, int Cols, bool Prefetch>
inline void tile(const typename S::Weight* a, Index depth, const float* b, Index col_step, float* c,
                 Index c_stride, Index valid_rows, const float* bias) {
  using Packet = typename S::Packet;
  constexpr int lanes = S::kLanes;
  Packet acc[Packets][Cols];
  set_zero<S>(acc);
  const float* column[Cols];
#pragma GCC unroll 8
  for (int j = 0; j < Cols; ++j) column[j] = b + j * col_step;
  Index k = 0;
  if constexpr (paired_depth<S, Cols>()) {
    k = multiply_depth_pairs<S, Packets, Cols, Prefetch>(a, depth, column, acc);
    a += k * Packets * lanes;
  }
  for (; k < depth; ++k, a += Packets * lanes) {
    if constexpr (Prefetch) prefetch_ahead(a, Packets * lanes * sizeof(*a));
    Packet weight[Packets];
#pragma GCC unroll 4
    for (int p = 0; p < Packets; ++p) {
      weight[p] = S::load_weights(a + p * lanes);
      keep_in_register<S>(weight[p]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < Cols; ++j) {
      const Packet x = S::broadcast(column[j][k]);
#pragma GCC unroll 4
      for (int p = 0; p < Packets; ++p) acc[p][j] = S::multiply_add(weight[p], x, acc[p][j]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < Cols; ++j)
#pragma GCC unroll 4
    for (int p = 0; p < Packets; ++p) {
      float* out = c + j * c_stride + p * lanes;
      const Index rows = valid_rows - p * lanes;
      if (rows >= lanes) {
        if (bias)
          S::store(out, S::add(S::load(bias + p * lanes), acc[p][j]));
        else
          S::add_into(out, acc[p][j]);
      } else {  // the padded last packet: only its valid rows exist in C
        float spilled[lanes];
        S::store(spilled, acc[p][j]);
        for (Index r = 0; r < rows; ++r)
          out[r] = (bias ? bias[p * lanes + r] : out[r]) + spilled[r];
      }
    }
}

// One panel against every column, tile_cols<S>() at a time, then 4 (where the tile is
// wider) and the last 1 to 3.
template <class S, int Packets, bool Prefetch>
inline void panel(const typename S::Weight* a, Index depth, const float* b, Index col_step,
                  Index cols, float* c, Index c_stride, Index valid_rows, const float* bias) {
  constexpr int wide = tile_cols<S>();
  static_assert(wide == 4 || wide == 8, "the remainders below handle 4 and then 1 to 3 columns");
  Index j = 0;
  for (; j + wide <= cols; j += wide)
    tile<S, Packets, wide, Prefetch>(a, depth, b + j * col_step, col_step, c + j * c_stride,
                                     c_stride, valid_rows, bias);
  if (wide == 8 && j + 4 <= cols) {
    tile<S, Packets, 4, Prefetch>(a, depth, b + j * col_step, col_step, c + j * c_stride, c_stride,
                                  valid_rows, bias);
    j += 4;
  }
  const float* bj = b + j * col_step;
  float* cj = c + j * c_stride;
  switch (cols - j) {
    case 3:
      tile<S, Packets, 3, Prefetch>(a, depth, bj, col_step, cj, c_stride, valid_rows, bias);
      break;
    case 2:
      tile<S, Packets, 2, Prefetch>(a, depth, bj, col_step, cj, c_stride, valid_rows, bias);
      break;
    case 1:
      tile<S, Packets, 1, Prefetch>(a, depth, bj, col_step, cj, c_stride, valid_rows, bias);
      break;
    default: break;
  }
}

template <class S, bool Prefetch>
const typename S::Weight* multiply_panels(const typename S::Weight* a, Index rows, Index depth,
                                          const float* b, Index col_step, Index cols, float* c,
                                          Index c_stride, const float* bias) {
  constexpr Index panel_rows = kPanelPackets * S::kLanes;
  for (Index row = 0; row < rows; row += panel_rows) {
    const Index valid = rows - row < panel_rows ? rows - row : panel_rows;
    const int packets = static_cast<int>((valid + S::kLanes - 1) / S::kLanes);
    const float* at = bias ? bias + row : nullptr;
    float* out = c + row;
    switch (packets) {
      case 3: panel<S, 3, Prefetch>(a, depth, b, col_step, cols, out, c_stride, valid, at); break;
      case 2: panel<S, 2, Prefetch>(a, depth, b, col_step, cols, out, c_stride, valid, at); break;
      default: panel<S, 1, Prefetch>(a, depth, b, col_step, cols, out, c_stride, valid, at); break;
    }
    a += static_cast<Index>(packets) * S::kLanes * depth;
  }
  return a;
}

// C (rows x cols) += A * B for A packed as Gemm::pack lays out one block (panels of
// kPanelPackets * S::kLanes rows), or C = bias + A * B given a bias (rows values), the
// weights prefetched ahead where `prefetch` says so; returns where the next block's panels
// start.
template <class S>
const typename S::Weight* multiply(const typename S::Weight* a, Index rows, Index depth,
                                   const float* b, Index col_step, Index cols, float* c,
                                   Index c_stride, const float* bias, bool prefetch) {
  return prefetch ? multiply_panels<S, true>(a, rows, depth, b, col_step, cols, c, c_stride, bias)
                  : multiply_panels<S, false>(a, rows, depth, b, col_step, cols, c, c_stride, bias);
}

// The FMA throughput ceiling: `iterations` x kChains x S::kLanes multiply-adds in
// independent chains (enough to cover an FMA's latency on two ports), summed into *sink
// so that nothing is optimised away.
constexpr int kPeakChains = 12;
template <class S>
void fma_burst(Index iterations, float* sink) {
  using Packet = typename S::Packet;
  Packet acc[kPeakChains];
#pragma GCC unroll 12
  for (int i = 0; i < kPeakChains; ++i) acc[i] = S::broadcast(0.001f * i);
  Packet scale = S::broadcast(0.999f), shift = S::broadcast(0.001f);
  keep_in_register<S>(scale);
  keep_in_register<S>(shift);
  for (Index n = 0; n < iterations; ++n)
#pragma GCC unroll 12
    for (int i = 0; i < kPeakChains; ++i) acc[i] = S::multiply_add(acc[i], scale, shift);
  float lanes[S::kLanes];
  for (int i = 0; i < kPeakChains; ++i) {
    S::store(lanes, acc[i]);
    for (int l = 0; l < S::kLanes; ++l) *sink += lanes[l];
  }
}

}  // namespace neurorave::gemm_kernel
