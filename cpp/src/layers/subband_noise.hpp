#pragma once
// Each band's noise split into sub-bands with a gain each, every frame: the reference is
// python/neurorave/nn/layers.py (subband_noise, WaveformHead). Sub-band k of band b is
// uniform noise at 1 / subbands of the band rate (hash_noise of index // subbands and
// channel b * subbands + k) through synthesis kernel k; it is a function of the sample
// index alone, so it needs no state but the head's counter.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "layers/gemm_kernel.hpp"
#include "layers/layer.hpp"

namespace neurorave {

class SubbandNoise {
 public:
  // `kernels`: subbands x (subbands * taps), row-major, as stored.
  SubbandNoise(int bands, int subbands, int taps, int frame, const float* kernels)
      : bands_(bands), subbands_(subbands), taps_(taps), frame_(frame) {
    // kernels[k][phase + t * subbands] as by_phase_[phase][t][k]: what one sample reads.
    const int length = subbands * taps;
    by_phase_.resize(static_cast<size_t>(subbands) * length);
    for (int phase = 0; phase < subbands; ++phase)
      for (int t = 0; t < taps; ++t)
        for (int k = 0; k < subbands; ++k)
          by_phase_[(static_cast<size_t>(phase) * taps + t) * subbands + k] =
              kernels[static_cast<size_t>(k) * length + phase + t * subbands];
    filtered_.assign(static_cast<size_t>(subbands), 0.0f);
  }

  int channels() const { return bands_ * subbands_; }

  void prepare(int max_band_samples) {
    drawn_ = Matrix::Zero(channels(), max_band_samples / subbands_ + taps_ + 1);
    scale_ = Matrix::Zero(channels(), max_band_samples / frame_ + 1);
  }

  // Band samples `first`.. of each band's noise into `out` (bands x samples, column-major),
  // the sub-bands scaled by 2 sigmoid(gains), one column of gains per `frame` samples.
  void render(int64_t first, const View& gains, Eigen::Index samples, float* out) {
    const int64_t slow_first = floor_div(first, subbands_) - (taps_ - 1);
    const Eigen::Index drawn = floor_div(first + samples - 1, subbands_) - slow_first + 1;
    gemm_kernel::stream_ops().hash_noise_block(slow_first, channels(), drawn, drawn_.data());
    const Eigen::Index frames = (samples + frame_ - 1) / frame_;
    scale_.leftCols(frames) = 2.0f * gains.leftCols(frames).array().logistic();
    for (Eigen::Index n = 0; n < samples; ++n) {
      const int64_t index = first + n;
      const int64_t slow = floor_div(index, subbands_);
      const int phase = static_cast<int>(index - slow * subbands_);
      const float* noise = drawn_.col(slow - slow_first).data();  // lag t: t columns back
      const float* scale = scale_.col(n / frame_).data();
      const float* kernel = by_phase_.data() + static_cast<size_t>(phase) * taps_ * subbands_;
      for (int b = 0; b < bands_; ++b) {
        // Sub-bands innermost: kernel, noise and gains each contiguous, so it vectorises.
        float* filtered = filtered_.data();
        std::fill(filtered, filtered + subbands_, 0.0f);
        for (int t = 0; t < taps_; ++t) {
          const float* taps = kernel + t * subbands_;
          const float* drawn_at = noise + b * subbands_ - t * channels();
          for (int k = 0; k < subbands_; ++k) filtered[k] += taps[k] * drawn_at[k];
        }
        float sum = 0.0f;
        for (int k = 0; k < subbands_; ++k) sum += scale[b * subbands_ + k] * filtered[k];
        out[n * bands_ + b] = sum;
      }
    }
  }

 private:
  static int64_t floor_div(int64_t a, int64_t b) {
    const int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
  }

  int bands_, subbands_, taps_, frame_;
  std::vector<float> by_phase_;  // subbands (phase) x taps x subbands (k)
  std::vector<float> filtered_;  // one band's sub-bands, one sample
  Matrix drawn_;                 // channels x slow samples
  Matrix scale_;                 // channels x frames
};

}  // namespace neurorave
