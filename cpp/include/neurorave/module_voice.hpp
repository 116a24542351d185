#pragma once
// The logic of a hardware-style NeuroRave module, shared by the VCV Rack module and the
// embedded Eurorack program so that both behave the same: panel knobs and CVs become
// descriptor values, gates switch modes, and a Player makes the sound.

#include <memory>
#include <string>

#include "neurorave/host_player.hpp"
#include "neurorave/player.hpp"

namespace neurorave {

// How a CV input swings: -5..+5 V (bipolar, around the knob) or 0..10 V (unipolar,
// upwards from the knob); voltages beyond are clipped. Either way 10 V of CV sweeps a
// descriptor across its whole range at full attenuverter.
enum class CvConvention { bipolar_5v, unipolar_10v };

enum class VoiceMode {
  transfer,  // the input is re-synthesised; every descriptor comes from its panel control
  follow,    // every descriptor follows the input's analysed value (attribute transfer)
  generate,  // no input: the prior plays, and each panel control bends its descriptor's
             // curve (knob at centre: the prior's own curve); needs a model with a prior
};
constexpr int kVoiceModes = 3;
// The modes' names, in the enum's order, as maps, patches and panels spell them.
constexpr const char* kVoiceModeNames[kVoiceModes] = {"transfer", "follow", "generate"};
inline const char* voice_mode_name(VoiceMode mode) {
  return kVoiceModeNames[static_cast<int>(mode)];
}
// The mode named `name`; false if there is none.
inline bool parse_voice_mode(const std::string& name, VoiceMode& mode) {
  for (int m = 0; m < kVoiceModes; ++m) {
    if (name == kVoiceModeNames[m]) {
      mode = static_cast<VoiceMode>(m);
      return true;
    }
  }
  return false;
}

// Gate inputs, n samples of volts each, or nullptr where nothing is patched.
struct VoiceGates {
  const float* follow = nullptr;  // a rising edge toggles transfer <-> follow
  const float* phrase = nullptr;  // a rising edge starts a new phrase of the prior
};

// One descriptor's controls on the panel.
struct PanelControl {
  float knob = 0.5f;  // 0..1 across the descriptor's range
  float cv_volts = 0.0f;
  float attenuverter = 0.0f;  // -1..1: how much CV reaches the knob, and which way
};

// The control's position in its descriptor's range, 0..1 (clamped).
float panel_position(const PanelControl& control, CvConvention convention);

// A gate or trigger input with hysteresis, as Eurorack modules read them: high above
// 2 V, low again below 1 V, so noise around one threshold never retriggers.
class GateInput {
 public:
  static constexpr float kHighVolts = 2.0f;
  static constexpr float kLowVolts = 1.0f;

  // True for the sample at which the gate rises.
  bool rising(float volts);
  bool high() const { return high_; }

 private:
  bool high_ = false;
};

class ModuleVoice {
 public:
  // `playback`: the model in process() (synchronous, the default) or on a worker thread
  // running ahead by a latency budget (HostPlayer, choose_playback()).
  explicit ModuleVoice(std::unique_ptr<Player> player,
                       CvConvention convention = CvConvention::bipolar_5v,
                       const Playback& playback = {});

  const ModelInfo& info() const { return host_.info(); }
  int latency() const { return host_.latency(); }
  const Playback& playback() const { return host_.playback(); }
  int descriptors() const { return static_cast<int>(info().descriptors.size()); }
  bool can_generate() const { return info().has_prior; }
  // Calls the worker was late for (0 unless threaded).
  long underruns() const { return host_.underruns(); }

  // Real-time safe. Unknown descriptors are ignored; physical units reach the Player.
  void set_panel(int descriptor, const PanelControl& control);
  // The physical value the panel asks for (the Player's fader target).
  float panel_value(int descriptor) const { return player_->control(descriptor); }
  // Real-time safe. `generate` without a prior is refused (returns false, mode unchanged).
  bool set_mode(VoiceMode mode);
  VoiceMode mode() const { return mode_; }
  // Real-time safe: the prior's temperature (0: its most likely path) and random seed.
  void set_temperature(float temperature) { player_->set_temperature(temperature); }
  void set_seed(uint32_t seed) { player_->set_seed(seed); }

  // Real-time safe. Gate edges act from the next frame on: `follow` toggles transfer <->
  // follow (ignored while generating); `phrase` switches to generate, where the model can,
  // and starts a new phrase.
  void process(const float* in, float* out, int n, const VoiceGates& gates = {});
  // Not real-time: waits until the worker has played all it was given, so that an
  // offline render is the same on every machine. A no-op unless threaded.
  void wait_until_idle() const;

 private:
  static bool rose(GateInput& gate, const float* volts, int n);
  void apply_mode();

  HostPlayer host_;
  Player* player_;  // host_'s: control setters are atomic, the worker may be playing
  CvConvention convention_;
  VoiceMode mode_ = VoiceMode::transfer;
  GateInput follow_gate_;
  GateInput phrase_gate_;
};

}  // namespace neurorave
