#pragma once
// The streaming engine: one loaded model, run frame by frame.
//
// Every method below except load() and the constructor is real-time safe: no heap
// allocation, no lock, no I/O, no exception. Frames are `info().compression`
// samples; a call takes any number of whole frames, run max_frames() at a time.

#include <cstdint>
#include <memory>
#include <string>

#include "neurorave/model_info.hpp"

namespace neurorave {

enum class StreamKind {
  forward,  // audio -> encoder -> decoder -> audio
  decode,   // latent frames from the host -> decoder -> audio
};

class Engine {
 public:
  // Reads and checks `path`; throws ModelError naming the file and the problem.
  static std::unique_ptr<Engine> load(const std::string& path, int max_frames_per_call = 64);
  ~Engine();

  const ModelInfo& info() const;
  int max_frames() const;

  // audio: frames * compression samples. z: latent_size x frames, frame after frame.
  void encode(const float* audio, int frames, float* z);
  // controls: physical descriptor values, descriptors x frames, frame after frame
  // (nullptr: every descriptor at the centre of its range).
  void decode(const float* z, const float* controls, int frames, float* audio);
  void forward(const float* audio, const float* controls, int frames, float* audio_out);

  // The optional prior (info().has_prior). One step plays the next frame of the
  // current phrase: `noise` holds latent_size + descriptors standard normal draws;
  // writes the latent frame to `z` and the descriptor values, physical units, to
  // `descriptors`. Real-time safe; without a prior it writes zeros and centres.
  void prior_step(const float* noise, float temperature, float* z, float* descriptors);
  void prior_reset();  // the next step starts a new phrase

  // Forgets all history; `kind` says which stream the decoder will serve next.
  void reset(StreamKind kind = StreamKind::forward);

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace neurorave
