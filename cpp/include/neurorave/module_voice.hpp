#pragma once
// The logic of a hardware-style NeuroRave module, shared by the VCV Rack module and the
// embedded Eurorack program so that both behave the same: panel knobs and CVs become
// descriptor values, gates switch modes, and a Player makes the sound.

#include <memory>

#include "neurorave/player.hpp"

namespace neurorave {

// How a CV input swings: -5..+5 V (bipolar, around the knob) or 0..10 V (unipolar,
// upwards from the knob); voltages beyond are clipped. Either way 10 V of CV sweeps a
// descriptor across its whole range at full attenuverter.
enum class CvConvention { bipolar_5v, unipolar_10v };

enum class VoiceMode {
  transfer,  // the input is re-synthesised; every descriptor comes from its panel control
  follow,    // every descriptor follows the input's analysed value (attribute transfer)
  generate,  // no input: the prior plays (needs a model with a prior, issue 9)
};

// One descriptor's controls on the panel.
struct PanelControl {
  float knob = 0.5f;          // 0..1 across the descriptor's range
  float cv_volts = 0.0f;
  float attenuverter = 0.0f;  // -1..1: how much CV reaches the knob, and which way
};

// The control's position in its descriptor's range, 0..1 (clamped).
float panel_position(const PanelControl& control, CvConvention convention);
// Physical value (dB, Hz, ...) at `position` of `descriptor`'s range.
float physical_value(float position, const DescriptorInfo& descriptor);

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
  explicit ModuleVoice(std::unique_ptr<Player> player,
                       CvConvention convention = CvConvention::bipolar_5v);

  const ModelInfo& info() const { return player_->info(); }
  int latency() const { return player_->latency(); }
  int descriptors() const { return static_cast<int>(info().descriptors.size()); }
  bool can_generate() const { return false; }  // no model carries a prior yet

  // Real-time safe. Unknown descriptors are ignored; physical units reach the Player.
  void set_panel(int descriptor, const PanelControl& control);
  // The physical value the panel asks for (the Player's fader target).
  float panel_value(int descriptor) const { return player_->control(descriptor); }
  // Real-time safe. `generate` without a prior is refused (returns false, mode unchanged).
  bool set_mode(VoiceMode mode);
  VoiceMode mode() const { return mode_; }

  // Real-time safe. `follow_gate`: n samples of volts (or nullptr); each rising edge
  // switches every descriptor between its panel control and the input (transfer <->
  // follow), from the next frame on.
  void process(const float* in, float* out, int n, const float* follow_gate = nullptr);

 private:
  std::unique_ptr<Player> player_;
  CvConvention convention_;
  VoiceMode mode_ = VoiceMode::transfer;
  GateInput follow_gate_;
};

}  // namespace neurorave
