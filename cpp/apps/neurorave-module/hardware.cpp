#include "hardware.hpp"

#include <cstdio>
#include <sstream>

namespace neurorave::module {

namespace {

float knob_at(const std::vector<float>& knobs, int index) {
  return index >= 0 && index < static_cast<int>(knobs.size()) ? knobs[index] : 0.5f;
}

}  // namespace

std::string format_status(const Status& status) {
  std::ostringstream line;
  line.precision(4);
  line << voice_mode_name(status.mode);
  for (const auto& v : status.values) {
    line << " | " << v.name << " " << v.value;
    if (!v.unit.empty()) line << " " << v.unit;
  }
  line << " | underruns " << status.underruns << " | xruns " << status.xruns;
  return line.str();
}

float ConsoleHardware::knob(int index) const { return knob_at(knobs_, index); }

void ConsoleHardware::display(const Status& status) {
  const std::string line = format_status(status);
  if (quiet_ || line == last_) return;
  last_ = line;
  std::fprintf(stderr, "%s\n", line.c_str());
}

float ScriptedHardware::knob(int index) const { return knob_at(knobs_, index); }

}  // namespace neurorave::module
