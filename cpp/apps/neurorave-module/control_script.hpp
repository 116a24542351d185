#pragma once
// What moves the controls in an offline render (--offline): keyframes of board knobs and
// CV volts, linearly interpolated, and gate pulses, all in seconds. The offline render
// turns them into the same input channels and knob readings the live module gets.

#include <map>
#include <string>
#include <vector>

namespace neurorave::module {

struct Keyframe {
  double time = 0.0;  // seconds
  float value = 0.0f;
};

// Piecewise linear through its keyframes (times strictly increasing); held constant
// before the first and after the last.
class Curve {
 public:
  explicit Curve(std::vector<Keyframe> keys) : keys_(std::move(keys)) {}
  float at(double time) const;

 private:
  std::vector<Keyframe> keys_;
};

struct Pulse {
  double start = 0.0;   // seconds
  double length = 0.0;  // seconds
};

// A model loaded while playing, as `load` does live (SIGHUP in the live program).
struct ScriptedLoad {
  double time = 0.0;  // seconds
  std::string path;
};

struct ControlScript {
  std::string file;
  int block = 0;                            // samples per loop period; 0: the map's audio.period
  float gate_volts = 5.0f;                  // a pulse's height
  std::map<int, Curve> knobs;               // board knob index -> 0..1
  std::map<int, Curve> cv;                  // input channel -> volts
  std::map<int, std::vector<Pulse>> gates;  // input channel -> pulses
  std::vector<ScriptedLoad> loads;          // in time order

  // Volts on gate `channel` at `time`: gate_volts inside a pulse, else 0.
  float gate_at(int channel, double time) const;
};

// Throws MapError naming `file` and the problem.
ControlScript parse_control_script(const std::string& text, const std::string& file);
ControlScript read_control_script(const std::string& path);

}  // namespace neurorave::module
