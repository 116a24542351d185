#pragma once
// --offline: the live loop with no hardware. The input file plays on the map's audio
// input channel, the script's CV and gate voltages on theirs (as sample = volts / scale,
// what the interface would deliver), its knob curves through ScriptedHardware, block by
// block; the first audio output channel is written as a 32-bit float WAV.

#include <memory>
#include <string>

#include "control_map.hpp"
#include "control_script.hpp"
#include "neurorave/player.hpp"

namespace neurorave::module {

// Plays `model` (loaded from map.model). Throws MapError, AudioFileError, or
// std::runtime_error for a scripted load, naming the file at fault.
void render_offline(const ControlMap& map, std::unique_ptr<Player> model,
                    const ControlScript& script, const std::string& input_path,
                    const std::string& output_path);

}  // namespace neurorave::module
