#pragma once
// Counter-based noise: the value for (sample index, band) is a hash, so any block
// size draws the same numbers, and they equal the torch reference
// (python/neurorave/nn/layers.py: hash_noise) bit for bit.

#include <cstdint>

namespace neurorave {

namespace noise_hash {

// On uint32 or a vector of them (GCC/Clang vector extensions: stream_ops.hpp), so that the
// scalar hash and each instruction set's packets compute it from one definition.
template <class Bits>
Bits mix(Bits h) {
  return (h + (h >> 16)) * 0x45D9F3Bu;
}

// Uniform in [-1, 1) from the low 32 bits of the index and the band; `Float` is float or
// the float vector with Bits' lane count. h >> 8 < 2^24, so its conversion is exact.
template <class Bits, class Float>
Float to_uniform(Bits index, Bits band) {
  Bits h = index * 0x2C1B3C6Du + (band * 0x297A2D39u + 0x68E31DA4u);
  h = mix(mix(mix(h)));
  if constexpr (sizeof(Bits) == sizeof(uint32_t)) {
    return static_cast<Float>(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
  } else {
    return __builtin_convertvector(h >> 8, Float) * (2.0f / 16777216.0f) - 1.0f;
  }
}

}  // namespace noise_hash

// Uniform in [-1, 1); `index` may be negative (wraps modulo 2^32 like the reference).
inline float hash_noise(int64_t index, int band) {
  return noise_hash::to_uniform<uint32_t, float>(static_cast<uint32_t>(index),
                                                 static_cast<uint32_t>(band));
}

}  // namespace neurorave
