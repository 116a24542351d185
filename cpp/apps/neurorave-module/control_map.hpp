#pragma once
// The module's control map: which input channel of the audio interface drives which
// descriptor, where the gates come in, and how the voice runs. Read from a JSON file
// (format in README.md, "The embedded module"; an example in examples/).

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "neurorave/model_info.hpp"
#include "neurorave/module_voice.hpp"

namespace neurorave::module {

// A control map or control script that cannot be used: names the file and the problem.
class MapError : public std::runtime_error {
 public:
  MapError(const std::string& file, const std::string& problem)
      : std::runtime_error(file + ": " + problem) {}
};

// A panel value: fixed in the map, or read from one of the board's knobs.
struct KnobSource {
  float value = 0.5f;
  int hardware = -1;  // >= 0: index of a board knob (Hardware::knob), overrides value
};

// A DC-coupled input channel carrying volts as sample * scale (an ES-8 delivers +-10 V
// as +-1.0 full scale: scale 10).
struct ChannelSource {
  int channel = -1;  // -1: nothing patched
  float scale = 10.0f;
};

struct DescriptorMap {
  std::string name;
  KnobSource knob;  // 0..1 across the descriptor's range
  ChannelSource cv;
  KnobSource attenuverter{1.0f};  // -1..1
};

struct AudioMap {
  std::string device = "default";  // an ALSA PCM name: "hw:ES8", "plughw:1,0", ...
  int period = 256;                // frames per ALSA period, the loop's block
  int periods = 2;                 // ALSA buffer = periods x period
  int input_channels = 1;
  int output_channels = 1;
  int audio_in = 0;               // the input channel the model listens to
  std::vector<int> audio_out{0};  // the output channels that carry its sound
};

struct ControlMap {
  std::string file;   // where it was read from ("" for the built-in map)
  std::string model;  // .nrv path, relative paths from the map's folder
  AudioMap audio;
  CvConvention convention = CvConvention::bipolar_5v;
  VoiceMode mode = VoiceMode::transfer;
  int threaded_block = 0;  // > 0: the model runs on a worker thread (ModuleVoice)
  float temperature = 1.0f;
  uint32_t seed = 0;
  std::vector<DescriptorMap> descriptors;
  ChannelSource follow_gate;  // rising edge: transfer <-> follow
  ChannelSource phrase_gate;  // rising edge: a new phrase of the prior
};

// Parses `text`; `file` names it in errors. Throws MapError.
ControlMap parse_control_map(const std::string& text, const std::string& file);
ControlMap read_control_map(const std::string& path);

// Every descriptor of `model` on a knob (board knob d), CV on channel d + 1, then the
// follow and phrase gates: the layout of an 8-input interface such as the ES-8.
ControlMap default_control_map(const ModelInfo& model);

// Throws MapError if `map` names a descriptor `model` lacks, or asks for generate mode
// from a model without a prior.
void check_against_model(const ControlMap& map, const ModelInfo& model);

}  // namespace neurorave::module
