#pragma once
// The streaming layers' elementwise passes, written once for every instruction set, like
// the GEMM tile: LeakyReLU as a window takes its input, a bias broadcast into the output
// columns, the residual sum, and the waveform head's noise. Without them a portable build
// runs this glue at its baseline width while the GEMM runs at the CPU's (measured: 2-3 %
// of `small`'s time at SSE2 width, a third of that at AVX-512).
//
// Everything is a template on S for the reason gemm_tile.hpp gives; the tails of each
// loop are scalar code inside those templates. Every pass gives the same bits at every
// width: no reassociation, no approximation.

#include "layers/gemm_tile.hpp"
#include "layers/noise.hpp"

namespace neurorave::gemm_kernel {

template <class S>
void leaky_relu(const float* in, Index n, float slope, float* out) {
  const typename S::Packet scale = S::broadcast(slope);
  Index i = 0;
  for (; i + S::kLanes <= n; i += S::kLanes) {
    const typename S::Packet x = S::load(in + i);
    S::store(out + i, S::max(x, S::multiply(x, scale)));
  }
  for (; i < n; ++i) out[i] = in[i] < in[i] * slope ? in[i] * slope : in[i];
}

template <class S>
void add(const float* a, const float* b, Index n, float* out) {
  Index i = 0;
  for (; i + S::kLanes <= n; i += S::kLanes)
    S::store(out + i, S::add(S::load(a + i), S::load(b + i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

// noise.hpp's hash for `bands` x `frames` (column-major), sample indices from `first`:
// S::Bits is a vector of S::kLanes uint32 lanes (GCC/Clang vector extensions). noise.hpp's
// templates take that vector type, not S: each width is instantiated by one file only
// (AVX2's 8 lanes, AVX-512's 16; the baseline hashes one value at a time), so they too
// cannot be shared across instruction sets.
template <class S>
void hash_noise_block(int64_t first, int bands, Index frames, float* out) {
  using Bits = typename S::Bits;
  Bits lane{};
  for (int l = 0; l < S::kLanes; ++l) lane[l] = static_cast<uint32_t>(l);
  for (Index t = 0; t < frames; ++t, out += bands) {
    const Bits index = Bits{} + static_cast<uint32_t>(first + t);
    for (int b = 0; b < bands; b += S::kLanes) {
      const typename S::Packet value =
          noise_hash::to_uniform<Bits, typename S::Packet>(index, lane + static_cast<uint32_t>(b));
      if (b + S::kLanes <= bands) {
        S::store(out + b, value);
      } else {  // the last bands: the lanes past them are computed and dropped
        float lanes[S::kLanes];
        S::store(lanes, value);
        for (int l = 0; b + l < bands; ++l) out[b + l] = lanes[l];
      }
    }
  }
}

}  // namespace neurorave::gemm_kernel
