// The GEMM kernel for AVX2, compiled with -mavx2 -mfma -mf16c whatever the rest of the build
// uses (CMakeLists.txt, vcv_plugin/Makefile); chosen at run time only on a CPU that has it.
// Nothing but intrinsics and the templates of gemm_tile.hpp and stream_ops.hpp here (see
// gemm_tile.hpp why).

#include "layers/gemm_kernel.hpp"
#include "layers/stream_ops.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace neurorave::gemm_kernel {

namespace {

struct Avx2 {
  using Packet = __m256;
  using Weight = float;
  static constexpr int kLanes = 8;
  static Packet load_weights(const float* p) { return _mm256_loadu_ps(p); }
  static Packet broadcast(float v) { return _mm256_set1_ps(v); }
  static Packet multiply_add(Packet a, Packet b, Packet c) { return _mm256_fmadd_ps(a, b, c); }
  static void add_into(float* out, Packet v) {
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), v));
  }
  static void store(float* out, Packet v) { _mm256_storeu_ps(out, v); }
  // stream_ops.hpp
  using Bits = uint32_t __attribute__((vector_size(32)));
  static Packet load(const float* p) { return _mm256_loadu_ps(p); }
  static Packet max(Packet a, Packet b) { return _mm256_max_ps(a, b); }
  static Packet multiply(Packet a, Packet b) { return _mm256_mul_ps(a, b); }
  static Packet add(Packet a, Packet b) { return _mm256_add_ps(a, b); }
};

// Half-size weights, widened by F16C's VCVTPH2PS as they load (runnable() offers this
// level only on a CPU with F16C, which every AVX2 CPU has).
struct Avx2Half : Avx2 {
  using Weight = Half;
  static Packet load_weights(const Half* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

}  // namespace

const Level& avx2_level() {
  static const Level level{
      "avx2",           Avx2::kLanes,
      &multiply<Avx2>,  &multiply<Avx2Half>,
      &fma_burst<Avx2>, {&leaky_relu<Avx2>, &add<Avx2>, &hash_noise_block<Avx2>}};
  return level;
}

}  // namespace neurorave::gemm_kernel
#endif
