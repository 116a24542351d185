#pragma once
// Band signals = tanh(wave) * sigmoid(amplitude) [+ sigmoid(noise_gain - 5) * noise],
// the noise white in each band or shaped by sub-band gains every frame (subband_noise.hpp),
// then each band through up to two DC blockers (every sample or every few: a comb): a
// band's mean would play as a steady tone at the band's edge, and whatever the decoder
// repeats each frame as lines at the frame rate's multiples (nn/layers.WaveformHead says
// more).

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "layers/dc_blocker.hpp"
#include "layers/gemm_kernel.hpp"
#include "layers/layer.hpp"
#include "layers/noise.hpp"
#include "layers/subband_noise.hpp"

namespace neurorave {

class WaveformHead final : public Layer {
 public:
  struct Blocker {
    double pole;  // 0: none
    int period;   // band samples between the two it compares
  };

  // The blockers run in the order given.
  WaveformHead(int bands, bool noise, std::initializer_list<Blocker> blockers = {})
      : bands_(bands), noise_(noise) {
    for (const Blocker& b : blockers)
      if (b.pole > 0.0) blockers_.emplace_back(bands, b.pole, b.period);
  }

  // Shapes the noise by sub-band (before prepare()); the gains then come from
  // set_noise_gains before each process().
  void shape_noise(std::unique_ptr<SubbandNoise> subbands) { subbands_ = std::move(subbands); }
  bool shaped_noise() const { return subbands_ != nullptr; }
  int noise_gain_channels() const { return subbands_ ? subbands_->channels() : 0; }
  // A view of the noise shaper's output (channels x frames of this call), kept until
  // process() has read it.
  void set_noise_gains(const View& gains) { new (&gains_) View(gains); }

  int in_channels() const override { return bands_ * (noise_ ? 3 : 2); }
  int out_channels() const override { return bands_; }
  void prepare(int max_in_frames) override {
    output_ = Matrix::Zero(bands_, max_in_frames);
    noise_values_ = Matrix::Zero(noise_ ? bands_ : 0, max_in_frames);
    if (subbands_) subbands_->prepare(max_in_frames);
  }
  void reset() override {
    counter_ = counter_start_;
    for (DcBlocker& blocker : blockers_) blocker.reset();
  }
  // Where the noise counter starts after reset (see NeuroRave.init_decoder_state).
  void set_counter_start(int64_t start) { counter_start_ = counter_ = start; }

  // Whole columns at a time: Eigen's vectorised tanh and logistic, not one libm call per
  // value (they agree with libm to a few float ulps).
  View process(const View& in) override {
    const Eigen::Index frames = in.cols();
    auto out = output_.leftCols(frames).array();
    out = in.topRows(bands_).array().tanh() * in.middleRows(bands_, bands_).array().logistic();
    if (noise_) {
      if (subbands_)
        subbands_->render(counter_, gains_, frames, noise_values_.data());
      else
        gemm_kernel::stream_ops().hash_noise_block(counter_, bands_, frames, noise_values_.data());
      out += (in.bottomRows(bands_).array() - 5.0f).logistic() *
             noise_values_.leftCols(frames).array();
    }
    counter_ += frames;
    for (DcBlocker& blocker : blockers_) blocker.process(output_, frames);
    return leading_columns(output_, frames);
  }

 private:
  int bands_;
  bool noise_;
  int64_t counter_start_ = 0;
  int64_t counter_ = 0;
  Matrix output_;
  Matrix noise_values_;  // bands x max frames
  std::unique_ptr<SubbandNoise> subbands_;
  View gains_{nullptr, 0, 0};
  std::vector<DcBlocker> blockers_;
};

}  // namespace neurorave
