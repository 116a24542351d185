#pragma once
// Swapping models while playing, without a hole: the one mechanism every host uses
// (Pd's `load`, the VCV module's model menu and patch, the embedded program).
//
// A newly loaded voice (a HostPlayer, a ModuleVoice) is offered from a loader thread.
// The audio thread starts feeding it the same input as the playing one at the next
// block, but keeps playing the old one until the new one's primed silence has passed
// (latency() samples: its first real output), then crossfades from old to new over
// kSwapFadeSeconds with equal-power gains, starting at a block boundary. The old voice
// is then retired and handed back through collect() to be freed off the audio thread.
//
//   loader thread:  swap.offer(std::move(voice));     // frees what it gets back
//   audio thread:   swap.process(out, n, play);       // play(T&, float* out) renders n
//   other thread:   swap.collect();                    // frees the retired voice
//
// One offering thread at a time and one audio thread. The audio thread takes an offer
// only once no swap is under way and the last retired voice was collected, so it never
// allocates or frees.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <vector>

namespace neurorave {

constexpr double kSwapFadeSeconds = 0.005;

template <class T>
class ModelSwap {
 public:
  // `max_block`: the most samples per process() call; `fade`: the crossfade's length.
  ModelSwap(int max_block, int fade) : scratch_(static_cast<size_t>(max_block)) {
    // Equal power: cos^2 + sin^2 = 1, so uncorrelated models keep their loudness.
    const int length = std::max(fade, 1);
    gains_.resize(static_cast<size_t>(length));
    for (int i = 0; i < length; ++i)
      gains_[static_cast<size_t>(i)] = static_cast<float>((i + 0.5) / length * M_PI / 2.0);
  }
  ~ModelSwap() {
    std::unique_ptr<T> offered(offered_.exchange(nullptr));
    std::unique_ptr<T> retired(retired_.exchange(nullptr));
  }
  ModelSwap(const ModelSwap&) = delete;
  ModelSwap& operator=(const ModelSwap&) = delete;

  // Not real-time. Offers `fresh` to the audio thread; returns an earlier offer it never
  // took (it was never played), for the caller to free.
  std::unique_ptr<T> offer(std::unique_ptr<T> fresh) {
    return std::unique_ptr<T>(offered_.exchange(fresh.release(), std::memory_order_acq_rel));
  }
  // Not real-time. The voice the audio thread retired after a swap (null if none).
  std::unique_ptr<T> collect() {
    return std::unique_ptr<T>(retired_.exchange(nullptr, std::memory_order_acq_rel));
  }
  // True while an offer waits, a swap is under way or a retired voice waits to be
  // collected: a host polling for the end of a swap stops when this turns false.
  bool pending() const {
    return offered_.load(std::memory_order_acquire) != nullptr || swapping_.load() ||
           retired_.load(std::memory_order_acquire) != nullptr;
  }

  // Audio thread (or a thread the audio thread is not running concurrently with).
  T* current() { return current_.get(); }
  T* incoming() { return incoming_.get(); }
  // Applies `f` to the playing voice and to the one fading in, so that both hear the
  // same controls during a swap.
  template <class F>
  void for_each(F&& f) {
    if (current_) f(*current_);
    if (incoming_) f(*incoming_);
  }

  // Only while process() cannot run (Pd between ticks with DSP off, before a host starts
  // its audio): `fresh` plays from the next block, without a crossfade. The voices it
  // replaces (the playing one, one fading in) go to remove(std::unique_ptr<T>).
  template <class Remove>
  void replace(std::unique_ptr<T> fresh, Remove&& remove) {
    if (current_) remove(std::move(current_));
    if (incoming_) remove(std::move(incoming_));
    current_ = std::move(fresh);
    swapping_.store(false);
  }
  // Only while process() cannot run (a host changing its block size): f(std::unique_ptr<T>&)
  // may replace the playing voice and the one fading in, e.g. to play them another way.
  template <class F>
  void rebuild(F&& f) {
    if (current_) f(current_);
    if (incoming_) f(incoming_);
  }

  // Real-time safe. Renders n samples (n <= max_block) into `out` with
  // play(T& voice, float* out), once per voice that plays. The first voice ever offered
  // plays at once; later ones swap in as described above.
  template <class Play>
  void process(float* out, int n, Play&& play) {
    take_offer();
    if (!current_) {
      std::fill(out, out + n, 0.0f);
      return;
    }
    play(*current_, out);
    if (!incoming_) return;
    float* fresh = scratch_.data();
    play(*incoming_, fresh);
    if (heard_ < incoming_->latency()) {  // still the new voice's primed silence
      heard_ += n;
      return;
    }
    const int length = static_cast<int>(gains_.size());
    for (int i = 0; i < n; ++i, ++faded_) {
      if (faded_ >= length) {
        out[i] = fresh[i];
        continue;
      }
      const float angle = gains_[static_cast<size_t>(faded_)];
      out[i] = std::cos(angle) * out[i] + std::sin(angle) * fresh[i];
    }
    if (faded_ >= length) finish();
  }

  // Real-time safe; process() calls it first. Takes an offered voice if no swap is under
  // way and the last retired one was collected: it becomes current() when nothing plays
  // (no fade), else incoming(). Returns true when it took one, so that a host can set
  // the new voice up (its mode, say) before it first plays.
  bool take_offer() {
    if (incoming_ || retired_.load(std::memory_order_acquire) != nullptr) return false;
    T* fresh = offered_.exchange(nullptr, std::memory_order_acq_rel);
    if (fresh == nullptr) return false;
    if (!current_) {
      current_.reset(fresh);  // nothing to fade from
      return true;
    }
    incoming_.reset(fresh);
    heard_ = 0;
    faded_ = 0;
    swapping_.store(true);
    return true;
  }

 private:
  // The old voice goes to retired_ (freed by collect()), the new one plays on alone.
  void finish() {
    retired_.store(current_.release(), std::memory_order_release);
    current_ = std::move(incoming_);
    swapping_.store(false);
  }

  std::vector<float> gains_;    // the fade's angles, 0..pi/2
  std::vector<float> scratch_;  // the incoming voice's block
  std::unique_ptr<T> current_;
  std::unique_ptr<T> incoming_;
  int heard_ = 0;  // samples the incoming voice has played so far
  int faded_ = 0;  // samples of the crossfade done
  std::atomic<T*> offered_{nullptr};
  std::atomic<T*> retired_{nullptr};
  std::atomic<bool> swapping_{false};
};

}  // namespace neurorave
