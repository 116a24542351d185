#pragma once
// What a host needs to know about a loaded model, in plain types.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace neurorave {

// The file name a host's package gives the model it plays when none is named (the VCV
// plugin in res/, the Pd package next to the object).
constexpr const char* kDefaultModelFile = "default.nrv";

struct DescriptorInfo {
  std::string name;
  std::string unit;
  float minimum = 0.0f;  // physical value that the decoder sees as -1
  float maximum = 1.0f;  // physical value that the decoder sees as +1
  std::vector<float> bins;

  // The three ways a value is spoken of: physical (dB, Hz, ...), a position 0..1 along the
  // range (a knob), normalised -1..1 (what the decoder sees).
  float normalise(float physical) const {
    return 2.0f * (physical - minimum) / (maximum - minimum) - 1.0f;
  }
  float denormalise(float normalised) const { return at_position(0.5f * (normalised + 1.0f)); }
  float at_position(float position) const { return minimum + position * (maximum - minimum); }
  float position_of(float physical) const { return (physical - minimum) / (maximum - minimum); }
  float centre() const { return 0.5f * (minimum + maximum); }
  // A fader's value kept to the travel the decoder can take: its range and half the
  // range again beyond either end (normalised -2..2). NaN goes to the bottom.
  float within_travel(float physical) const {
    const float overshoot = kFaderOvershoot * (maximum - minimum);
    return std::fmin(std::fmax(physical, minimum - overshoot), maximum + overshoot);
  }
  static constexpr float kFaderOvershoot = 0.5f;
};

struct ModelInfo {
  std::string path;
  std::string architecture;
  int format_version = 0;
  int sample_rate = 0;
  int compression = 0;  // audio samples per latent frame
  int latent_size = 0;
  int bands = 0;
  bool causal = false;
  bool noise = false;
  int encode_delay_frames = 0;    // streaming encoder lag behind offline, in frames
  int decode_delay_samples = 0;   // streaming decoder lag behind offline, in samples
  int forward_delay_samples = 0;  // encode + decode
  bool has_prior = false;         // the model can generate with no input
  // Some weights are stored as binary16 (`export --weights fp16`); they play half-size
  // where the active kernel reads fp16 (active_kernel() says so), else widened at load.
  bool half_weights = false;
  uint64_t weight_bytes = 0;  // every tensor as stored
  // Too many weights to stay in cache between calls: the kernels fetch them ahead as they
  // read them (see streams_weights in network_builder.hpp).
  bool streamed_weights = false;
  std::vector<DescriptorInfo> descriptors;
  std::string description_json;  // the whole JSON description, for `info`

  int descriptor_index(const std::string& name) const {
    for (size_t i = 0; i < descriptors.size(); ++i)
      if (descriptors[i].name == name) return static_cast<int>(i);
    return -1;
  }
};

}  // namespace neurorave
