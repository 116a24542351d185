#pragma once
// The board's own controls: knobs and a display. A board port implements this class
// (e.g. over an I2C ADC and an OLED); audio, CV and gates come through the audio
// interface instead (see audio_alsa.hpp).

#include <string>
#include <vector>

#include "neurorave/module_voice.hpp"

namespace neurorave::module {

// What the module is doing, for the display.
struct Status {
  VoiceMode mode = VoiceMode::transfer;
  struct Value {
    std::string name, unit;
    float value = 0.0f;  // the panel's target, physical units
  };
  std::vector<Value> values;
  long underruns = 0;  // blocks the model's worker was late for (threaded mode)
  long xruns = 0;      // ALSA over/underruns
};

class Hardware {
 public:
  virtual ~Hardware() = default;
  // Knob `index` in 0..1. Called on the audio thread once per period, so it must return
  // at once: a board scans its ADC on a thread of its own and keeps the latest values.
  virtual float knob(int index) const = 0;
  // Called from the control thread a few times a second (never the audio thread).
  virtual void display(const Status& status) = 0;
};

// Knobs held where the command line put them (0.5 otherwise); the display is a line on
// stderr whenever the status changes. For a board with no knobs or a desk test.
class ConsoleHardware : public Hardware {
 public:
  explicit ConsoleHardware(std::vector<float> knobs = {}, bool quiet = false)
      : knobs_(std::move(knobs)), quiet_(quiet) {}
  float knob(int index) const override;
  void display(const Status& status) override;

 private:
  std::vector<float> knobs_;
  bool quiet_;
  std::string last_;
};

// Knobs the offline render sets block by block; no display.
class ScriptedHardware : public Hardware {
 public:
  explicit ScriptedHardware(int knobs) : knobs_(static_cast<size_t>(knobs), 0.5f) {}
  void set_knob(int index, float value) { knobs_.at(static_cast<size_t>(index)) = value; }
  float knob(int index) const override;
  void display(const Status&) override {}

 private:
  std::vector<float> knobs_;
};

std::string format_status(const Status& status);

}  // namespace neurorave::module
