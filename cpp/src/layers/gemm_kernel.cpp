#include "layers/gemm_kernel.hpp"
#include "layers/stream_ops.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "neurorave/kernels.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace neurorave::gemm_kernel {

namespace {

// Eigen's packets for the instruction set this file is compiled for: AVX-512, AVX, SSE,
// NEON, or one float where Eigen does not vectorise. This file and gemm.hpp are the
// only ones that use Eigen's internal packet API.
struct BuildSimd {
  using Packet = Eigen::internal::packet_traits<float>::type;
  using Weight = float;
  static constexpr int kLanes = Eigen::internal::packet_traits<float>::size;
  // Gemm's packed weights are aligned as Eigen aligns for this build.
  static Packet load_weights(const float* p) { return Eigen::internal::pload<Packet>(p); }
  static Packet broadcast(float v) { return Eigen::internal::pset1<Packet>(v); }
  static Packet multiply_add(Packet a, Packet b, Packet c) {
    return Eigen::internal::pmadd(a, b, c);
  }
  static void add_into(float* out, Packet v) {
    Eigen::internal::pstoreu(out, Eigen::internal::padd(Eigen::internal::ploadu<Packet>(out), v));
  }
  static void store(float* out, Packet v) { Eigen::internal::pstoreu(out, v); }
  // stream_ops.hpp
  static Packet load(const float* p) { return Eigen::internal::ploadu<Packet>(p); }
  static Packet max(Packet a, Packet b) { return Eigen::internal::pmax(a, b); }
  static Packet multiply(Packet a, Packet b) { return Eigen::internal::pmul(a, b); }
  static Packet add(Packet a, Packet b) { return Eigen::internal::padd(a, b); }
};

// The build's own flags may give no integer vectors: one value at a time (what the
// compiler vectorises of it, it may).
void hash_noise_values(int64_t first, int bands, Index frames, float* out) {
  for (Index t = 0; t < frames; ++t)
    for (int b = 0; b < bands; ++b) *out++ = hash_noise(first + t, b);
}

// Half-size weights where this build's own flags give an instruction that widens
// binary16 packets to this build's float packets; elsewhere Gemm widens them at load.
#if defined(EIGEN_VECTORIZE_AVX512)
#define NEURORAVE_BUILD_READS_HALF
struct BuildHalf : BuildSimd {
  using Weight = Half;
  static Packet load_weights(const Half* p) {
    // The zero-masked form with every lane set is the same instruction; the plain one
    // trips GCC 12's -Wmaybe-uninitialized inside its own header.
    return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};
#elif defined(EIGEN_VECTORIZE_AVX) && defined(__F16C__)
#define NEURORAVE_BUILD_READS_HALF
struct BuildHalf : BuildSimd {
  using Weight = Half;
  static Packet load_weights(const Half* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};
#elif defined(EIGEN_VECTORIZE_NEON) && defined(__aarch64__)
#define NEURORAVE_BUILD_READS_HALF
struct BuildHalf : BuildSimd {
  using Weight = Half;
  static Packet load_weights(const Half* p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
  }
};
#endif

#ifdef NEURORAVE_BUILD_READS_HALF
constexpr MultiplyHalf kBuildMultiplyHalf = &multiply<BuildHalf>;
#else
constexpr MultiplyHalf kBuildMultiplyHalf = nullptr;
#endif

const Level kBuild{"build",
                   BuildSimd::kLanes,
                   &multiply<BuildSimd>,
                   kBuildMultiplyHalf,
                   &fma_burst<BuildSimd>,
                   {&leaky_relu<BuildSimd>, &add<BuildSimd>, &hash_noise_values}};

#if defined(__x86_64__) || defined(_M_X64)
// CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not know "f16c").
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}
#endif

// Narrowest first; only what this CPU runs.
std::vector<const Level*> runnable() {
  std::vector<const Level*> levels{&kBuild};
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();  // libgcc also checks that the OS saves the wider registers
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c())
    levels.push_back(&avx2_level());
  if (__builtin_cpu_supports("avx512f")) levels.push_back(&avx512_level());
#endif
  return levels;
}

const Level* find(const std::string& name) {
  for (const Level* level : runnable())
    if (name == level->name) return level;
  return nullptr;
}

const Level* widest() {
  const Level* best = &kBuild;
  for (const Level* level : runnable())
    if (level->lanes >= best->lanes) best = level;  // a tie: the named instruction set
  return best;
}

std::atomic<const Level*>& chosen() {
  static std::atomic<const Level*> level{[] {
    const char* forced = std::getenv("NEURORAVE_KERNEL");
    const Level* named = forced ? find(forced) : nullptr;
    return named ? named : widest();
  }()};
  return level;
}

}  // namespace

const Level& active() { return *chosen().load(std::memory_order_acquire); }

}  // namespace neurorave::gemm_kernel

namespace neurorave {

std::string active_kernel() {
  const auto& level = gemm_kernel::active();
  return std::string(level.name) + " (" + std::to_string(level.lanes) + " lanes" +
         (level.multiply_half ? ", reads fp16 weights)" : ")");
}

std::vector<std::string> runnable_kernels() {
  std::vector<std::string> names;
  for (const auto* level : gemm_kernel::runnable()) names.emplace_back(level->name);
  return names;
}

double peak_multiply_adds_per_second() {
  const auto& level = gemm_kernel::active();
  float sink = 0.0f;
  double best = 0.0;
  for (gemm_kernel::Index iterations = 1 << 16; iterations <= (1 << 24); iterations *= 4) {
    const auto began = std::chrono::steady_clock::now();
    level.fma_burst(iterations, &sink);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
    best = std::max(best, static_cast<double>(iterations) * gemm_kernel::kPeakChains * level.lanes /
                              took.count());
    if (took.count() > 0.05) break;
  }
  return best;  // an indirect call into another file: the bursts cannot be dropped
}

bool use_kernel(const std::string& name) {
  const gemm_kernel::Level* level = gemm_kernel::find(name);
  if (level) gemm_kernel::chosen().store(level, std::memory_order_release);
  return level != nullptr;
}

}  // namespace neurorave
