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

float physical_value(float position, const DescriptorInfo& descriptor) {
  return descriptor.minimum + position * (descriptor.maximum - descriptor.minimum);
}

bool GateInput::rising(float volts) {
  if (high_) {
    high_ = volts >= kLowVolts;
    return false;
  }
  high_ = volts >= kHighVolts;
  return high_;
}

ModuleVoice::ModuleVoice(std::unique_ptr<Player> player, CvConvention convention)
    : player_(std::move(player)), convention_(convention) {}

void ModuleVoice::set_panel(int descriptor, const PanelControl& control) {
  if (descriptor < 0 || descriptor >= descriptors()) return;
  player_->set_control(descriptor, physical_value(panel_position(control, convention_),
                                                  info().descriptors[descriptor]));
}

bool ModuleVoice::set_mode(VoiceMode mode) {
  if (mode == VoiceMode::generate && !can_generate()) return false;
  mode_ = mode;
  for (int d = 0; d < descriptors(); ++d) player_->set_follow(d, mode == VoiceMode::follow);
  return true;
}

void ModuleVoice::process(const float* in, float* out, int n, const float* follow_gate) {
  if (follow_gate != nullptr) {
    bool toggle = false;
    for (int i = 0; i < n; ++i) toggle ^= follow_gate_.rising(follow_gate[i]);
    if (toggle && mode_ != VoiceMode::generate)
      set_mode(mode_ == VoiceMode::follow ? VoiceMode::transfer : VoiceMode::follow);
  }
  player_->process(in, out, n);
}

}  // namespace neurorave
