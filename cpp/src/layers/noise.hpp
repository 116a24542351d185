#pragma once
// Counter-based noise: the value for (sample index, band) is a hash, so any block
// size draws the same numbers, and they equal the torch reference
// (python/neurorave/nn/layers.py: hash_noise) bit for bit.

#include <cstdint>

namespace neurorave {

inline uint32_t mix32(uint32_t h) { return (h + (h >> 16)) * 0x45D9F3Bu; }

// Uniform in [-1, 1); `index` may be negative (wraps modulo 2^32 like the reference).
inline float hash_noise(int64_t index, int band) {
  uint32_t h = static_cast<uint32_t>(index) * 0x2C1B3C6Du;
  h += static_cast<uint32_t>(band) * 0x297A2D39u + 0x68E31DA4u;
  h = mix32(mix32(mix32(h)));
  return static_cast<float>(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

}  // namespace neurorave
