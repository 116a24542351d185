// The GEMM kernel for AVX-512, compiled with -mavx512f -mfma whatever the rest of the build uses
// (CMakeLists.txt, vcv_plugin/Makefile); chosen at run time only on a CPU that has it.
// Nothing but intrinsics and the templates of gemm_tile.hpp and stream_ops.hpp here (see
// gemm_tile.hpp why).

#include "layers/gemm_kernel.hpp"
#include "layers/stream_ops.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace neurorave::gemm_kernel {

namespace {

struct Avx512 {
  using Packet = __m512;
  using Weight = float;
  static constexpr int kLanes = 16;
  static Packet load_weights(const float* p) { return _mm512_loadu_ps(p); }
  static Packet broadcast(float v) { return _mm512_set1_ps(v); }
  static Packet multiply_add(Packet a, Packet b, Packet c) { return _mm512_fmadd_ps(a, b, c); }
  static void add_into(float* out, Packet v) {
    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), v));
  }
  static void store(float* out, Packet v) { _mm512_storeu_ps(out, v); }
  // stream_ops.hpp
  using Bits = uint32_t __attribute__((vector_size(64)));
  static Packet load(const float* p) { return _mm512_loadu_ps(p); }
  // The zero-masked form for the reason load_weights gives below.
  static Packet max(Packet a, Packet b) { return _mm512_maskz_max_ps(0xFFFF, a, b); }
  static Packet multiply(Packet a, Packet b) { return _mm512_mul_ps(a, b); }
  static Packet add(Packet a, Packet b) { return _mm512_add_ps(a, b); }
};

// Half-size weights, widened by VCVTPH2PS (part of AVX-512F) as they load.
struct Avx512Half : Avx512 {
  using Weight = Half;
  static Packet load_weights(const Half* p) {
    // The zero-masked form with every lane set is the same instruction; the plain one
    // trips GCC 12's -Wmaybe-uninitialized inside its own header.
    return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};

}  // namespace

const Level& avx512_level() {
  static const Level level{
      "avx512",           Avx512::kLanes,
      &multiply<Avx512>,  &multiply<Avx512Half>,
      &fma_burst<Avx512>, {&leaky_relu<Avx512>, &add<Avx512>, &hash_noise_block<Avx512>}};
  return level;
}

}  // namespace neurorave::gemm_kernel
#endif
