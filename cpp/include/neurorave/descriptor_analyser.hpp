#pragma once
// Streaming audio descriptors: one value per latent frame, as docs/descriptors.md defines.
//
// Frame t analyses the N samples that end with the last sample of latent frame t
// (N = the smallest power of two >= max(2 C, 1024), hop C = the compression; samples
// before the stream started are zeros). The value of a frame is therefore known as soon
// as its last sample has been pushed: no look-ahead, in step with the engine.
//
// Construction allocates everything (FFT plan, buffers); push() and reset() are then
// real-time safe: no allocation, lock, I/O or exception. The arithmetic of a frame does
// not depend on how the input was cut into blocks, so the values are identical, bit for
// bit, whatever the block sizes.

#include <memory>
#include <string>
#include <vector>

namespace neurorave {

class DescriptorAnalyser {
 public:
  // The descriptors this analyser knows, in the order of docs/descriptors.md.
  static const std::vector<std::string>& known_names();

  // names: any of known_names(), in any order (repeats allowed); the values of a frame
  // come in this order. Throws std::invalid_argument for an unknown name or a sample
  // rate or compression < 1.
  DescriptorAnalyser(int sample_rate, int compression, std::vector<std::string> names);
  ~DescriptorAnalyser();
  // Movable (a moved-from analyser may only be destroyed or assigned to), not copyable.
  DescriptorAnalyser(DescriptorAnalyser&&) noexcept;
  DescriptorAnalyser& operator=(DescriptorAnalyser&&) noexcept;
  DescriptorAnalyser(const DescriptorAnalyser&) = delete;
  DescriptorAnalyser& operator=(const DescriptorAnalyser&) = delete;

  int sample_rate() const;
  int compression() const;
  int window() const;  // N
  const std::vector<std::string>& names() const;
  int size() const { return static_cast<int>(names().size()); }  // values per frame

  // Samples of the current, incomplete frame already pushed (0 .. compression - 1).
  int pending() const;
  // Frames the next push of n samples will complete: (pending() + n) / compression.
  int frames_for(int n) const;
  // An upper bound of frames_for(n) whatever pending() is: (n + compression - 1) / compression.
  int max_frames_for(int n) const;

  // Real-time safe. Feeds n >= 0 samples (n <= 0 does nothing). For every frame completed
  // during this call, in order, writes one row of size() values to `values`, which must
  // have room for frames_for(n) rows. Returns the number of frames completed. With
  // `values` null the history advances but nothing is analysed: a host that follows no
  // descriptor pays almost nothing and still has the right history when it starts to.
  int push(const float* in, int n, float* values);
  int push(const float* in, int n, double* values);

  // Real-time safe: silence in the history, as at the start of a new stream.
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace neurorave
