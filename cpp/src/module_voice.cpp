#include "neurorave/module_voice.hpp"

#include <algorithm>

namespace neurorave {

float panel_position(const PanelControl& control, CvConvention convention) {
  // Voltages outside the convention's swing are clipped, as a panel input would.
  const float cv = convention == CvConvention::unipolar_10v
                       ? std::clamp(control.cv_volts, 0.0f, 10.0f)
                       : std::clamp(control.cv_volts, -5.0f, 5.0f);
  const float attenuverter = std::clamp(control.attenuverter, -1.0f, 1.0f);
  return std::clamp(control.knob + attenuverter * cv / 10.0f, 0.0f, 1.0f);
}

bool GateInput::rising(float volts) {
  if (high_) {
    high_ = volts >= kLowVolts;
    return false;
  }
  high_ = volts >= kHighVolts;
  return high_;
}

ModuleVoice::ModuleVoice(std::unique_ptr<Player> player, CvConvention convention,
                         const Playback& playback)
    : host_(std::move(player), playback), player_(&host_.player()), convention_(convention) {}

void ModuleVoice::set_panel(int descriptor, const PanelControl& control) {
  if (descriptor < 0 || descriptor >= descriptors()) return;
  const auto& range = info().descriptors[descriptor];
  const float value = range.at_position(panel_position(control, convention_));
  player_->set_control(descriptor, value);
  if (mode_ == VoiceMode::generate) player_->set_offset(descriptor, value - range.centre());
}

bool ModuleVoice::set_mode(VoiceMode mode) {
  if (mode == VoiceMode::generate && !can_generate()) return false;
  mode_ = mode;
  apply_mode();
  return true;
}

// Followed descriptors take the input's values in follow mode, the prior's bent by the
// panel in generate mode; in transfer mode nothing follows.
void ModuleVoice::apply_mode() {
  const bool generate = mode_ == VoiceMode::generate;
  player_->set_generate(generate);
  for (int d = 0; d < descriptors(); ++d) {
    player_->set_follow(d, mode_ != VoiceMode::transfer);
    player_->set_scale(d, 1.0f);
    player_->set_offset(d, generate ? player_->control(d) - info().descriptors[d].centre() : 0.0f);
  }
}

bool ModuleVoice::rose(GateInput& gate, const float* volts, int n) {
  bool any = false;
  if (volts != nullptr)
    for (int i = 0; i < n; ++i) any |= gate.rising(volts[i]);
  return any;
}

void ModuleVoice::process(const float* in, float* out, int n, const VoiceGates& gates) {
  if (gates.follow != nullptr) {
    bool toggle = false;
    for (int i = 0; i < n; ++i) toggle ^= follow_gate_.rising(gates.follow[i]);
    if (toggle && mode_ != VoiceMode::generate)
      set_mode(mode_ == VoiceMode::follow ? VoiceMode::transfer : VoiceMode::follow);
  }
  if (rose(phrase_gate_, gates.phrase, n) && can_generate()) {
    if (mode_ != VoiceMode::generate) set_mode(VoiceMode::generate);
    player_->new_phrase();
  }
  host_.process(in, out, n);
}

void ModuleVoice::wait_until_idle() const { host_.wait_until_idle(); }

}  // namespace neurorave
