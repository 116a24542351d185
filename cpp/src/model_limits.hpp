#pragma once
// What the loader accepts: every size, count and value a model file may hold, bounded
// far above the largest model the project trains (v1: 1216 channels, kernel 128, stride
// 16, dilation 9) and far below what would exhaust memory or overflow an int. A file
// beyond a bound is refused at load with a ModelError naming the field.
// docs/model-format.md states the same bounds.

#include <cstdint>

namespace neurorave::limits {

constexpr uint64_t kMaxHeaderBytes = 16u << 20;
constexpr int kMaxOps = 4096;    // ops in the whole description, residual branches included
constexpr int kMaxNesting = 16;  // residuals inside residuals
constexpr int kMaxChannels = 8192;
constexpr int kMaxKernel = 4096;
constexpr int kMaxStride = 256;
constexpr int kMaxDilation = 4096;
constexpr int kMaxHistory = 1 << 16;  // samples of history a layer keeps (conv window, delay)
constexpr int64_t kMaxHistoryValues = 1 << 24;  // channels x history, per layer (64 MiB)
constexpr int kMaxBands = 256;
constexpr int kMaxLatent = 1024;
constexpr int kMaxCompression = 1 << 16;
constexpr int kMinSampleRate = 1000;
constexpr int kMaxSampleRate = 768000;
constexpr int kMaxLatencySamples = 1 << 24;
constexpr int kMaxDescriptors = 64;
constexpr int kMaxBins = 1024;
constexpr float kMaxDescriptorMagnitude = 1e6f;  // a range's ends, in its unit (Hz, dB, ...)
constexpr float kMinRelativeSpan = 1e-6f;        // of a range, relative to its largest end
constexpr float kMaxWeightMagnitude = 1e6f;      // trained models: a few hundred at most
constexpr float kMinSlope = 0.0f;                // LeakyReLU
constexpr float kMaxSlope = 1.0f;
constexpr int kMaxPriorHidden = 4096;
constexpr int kMaxPriorLayers = 16;

}  // namespace neurorave::limits
