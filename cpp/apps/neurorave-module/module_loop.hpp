#pragma once
// One period of the module, the same for the live ALSA loop and the offline render:
// interleaved interface channels in, the board's knobs read, the ModuleVoice run,
// interleaved channels out. Routing only: every mapping, gate and buffering rule is the
// voice's (cpp/include/neurorave/module_voice.hpp).

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "control_map.hpp"
#include "hardware.hpp"
#include "neurorave/module_voice.hpp"

namespace neurorave::module {

class ModuleLoop {
 public:
  // Loads the model (`map.model`, throws neurorave::ModelError), checks the map against
  // it (throws MapError) and sets the voice up as the map says.
  explicit ModuleLoop(const ControlMap& map);

  const ControlMap& map() const { return map_; }
  const ModuleVoice& voice() const { return *voice_; }
  int sample_rate() const { return voice_->info().sample_rate; }

  // Real-time safe: `in` holds frames x audio.input_channels samples, `out` frames x
  // audio.output_channels (both interleaved); any frames >= 0.
  void process(const float* in, float* out, int frames, const Hardware& hardware);
  // Not real-time: waits for the model's worker (threaded mode) to catch up, so that an
  // offline render does not depend on the machine's speed.
  void wait_until_idle() const { voice_->wait_until_idle(); }

  // Any thread (the display's): what the audio thread last published.
  Status status(long xruns) const;

 private:
  struct Route {
    int descriptor;
    DescriptorMap map;
  };
  void process_chunk(const float* in, float* out, int frames, const Hardware& hardware);
  void read_panel(const float* in, int frames, const Hardware& hardware);
  void read_gate(const ChannelSource& gate, const float* in, int frames,
                 std::vector<float>& volts) const;

  ControlMap map_;
  std::unique_ptr<ModuleVoice> voice_;
  std::vector<Route> routes_;
  std::vector<float> audio_in_, audio_out_, follow_volts_, phrase_volts_;
  // The voice's mode as of the last period: gates change it on the audio thread.
  std::atomic<VoiceMode> published_mode_{VoiceMode::transfer};
};

}  // namespace neurorave::module
