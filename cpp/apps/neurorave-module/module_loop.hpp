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
#include "neurorave/model_loader.hpp"
#include "neurorave/model_swap.hpp"
#include "neurorave/module_voice.hpp"

namespace neurorave::module {

class ModuleLoop {
 public:
  // Plays `first`, loaded from `map.model` (load_model), once the map is checked against
  // it (throws MapError) and the voice set up as the map says.
  ModuleLoop(const ControlMap& map, std::unique_ptr<Player> first);

  const ControlMap& map() const { return map_; }
  // The playing voice. Only before the audio runs, or on the audio thread: a swap
  // replaces it there.
  const ModuleVoice& voice() { return *swap_.current(); }
  int sample_rate() const { return sample_rate_; }

  // Not the audio thread: asks the core's ModelLoader for `path`; tend() offers it once
  // loaded. The playing model goes on until the new one, fed the same input from the
  // next period, sounds; then a crossfade (neurorave::ModelSwap), so a reload never
  // leaves a hole.
  void load(const std::string& path);
  // Not the audio thread (the display loop, the offline loop between periods): frees the
  // model a swap retired, and offers a finished load once it is checked against the map
  // and the playing model (the same descriptors in the same order, the same rate).
  // Returns why a load was refused (the file and the problem), or an empty string.
  // `wait`: first waits for a load in progress (offline, where time is the script's).
  std::string tend(bool wait = false);

  // Real-time safe: `in` holds frames x audio.input_channels samples, `out` frames x
  // audio.output_channels (both interleaved); any frames >= 0.
  void process(const float* in, float* out, int frames, const Hardware& hardware);
  // Not real-time: waits for the model's worker (threaded mode) to catch up, so that an
  // offline render does not depend on the machine's speed.
  void wait_until_idle() {
    swap_.for_each([](ModuleVoice& voice) { voice.wait_until_idle(); });
  }

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
  ModuleLoop(const ControlMap& map, std::unique_ptr<ModuleVoice> first);
  void publish();
  void offer(std::unique_ptr<Player> player);

  ControlMap map_;
  int sample_rate_ = 0;
  std::vector<DescriptorInfo> descriptors_;  // the first model's; every later one's too
  neurorave::ModelSwap<ModuleVoice> swap_;
  std::vector<Route> routes_;
  // What the display reads, published by the audio thread after every period.
  std::unique_ptr<std::atomic<float>[]> values_;
  std::atomic<long> underruns_{0};
  std::vector<float> audio_in_, audio_out_, follow_volts_, phrase_volts_;
  // The voice's mode as of the last period: gates change it on the audio thread.
  std::atomic<VoiceMode> published_mode_{VoiceMode::transfer};
  std::unique_ptr<neurorave::ModelLoader> loader_;  // made at the first load()
};

// Reads and checks a model file at once (throws neurorave::ModelError): the first model,
// before any audio runs.
std::unique_ptr<Player> load_model(const std::string& path);

}  // namespace neurorave::module
