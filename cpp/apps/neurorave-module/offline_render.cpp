#include "offline_render.hpp"

#include <algorithm>
#include <vector>

#include "hardware.hpp"
#include "module_loop.hpp"
#include "wav_file.hpp"

namespace neurorave::module {

namespace {

// The channel's scale turns the interface's samples into volts; the script speaks volts.
float channel_scale(const ControlMap& map, int channel) {
  for (const auto& d : map.descriptors)
    if (d.cv.channel == channel) return d.cv.scale;
  if (map.follow_gate.channel == channel) return map.follow_gate.scale;
  if (map.phrase_gate.channel == channel) return map.phrase_gate.scale;
  return 1.0f;
}

void check_script(const ControlMap& map, const ControlScript& script) {
  const auto check = [&](int channel, const char* what) {
    if (channel == map.audio.audio_in || channel >= map.audio.input_channels)
      throw MapError(script.file, std::string(what) + "." + std::to_string(channel) +
                                      ": not a control input channel of the map (it has " +
                                      std::to_string(map.audio.input_channels) +
                                      " inputs, audio on " + std::to_string(map.audio.audio_in) + ")");
  };
  for (const auto& item : script.cv) check(item.first, "cv");
  for (const auto& item : script.gates) check(item.first, "gates");
}

// One block of interface input: audio, then the script's voltages at the block's start.
void fill_block(const ControlMap& map, const ControlScript& script, const Audio& input,
                long start, int frames, std::vector<float>& block) {
  const int ins = map.audio.input_channels;
  const double rate = input.sample_rate;
  std::fill(block.begin(), block.end(), 0.0f);
  for (int i = 0; i < frames; ++i)
    block[static_cast<size_t>(i) * ins + map.audio.audio_in] = input.samples[(start + i) * input.channels];
  for (const auto& [channel, curve] : script.cv) {
    const float sample = curve.at(start / rate) / channel_scale(map, channel);
    for (int i = 0; i < frames; ++i) block[static_cast<size_t>(i) * ins + channel] = sample;
  }
  for (const auto& item : script.gates) {
    const float scale = channel_scale(map, item.first);
    for (int i = 0; i < frames; ++i)
      block[static_cast<size_t>(i) * ins + item.first] = script.gate_at(item.first, (start + i) / rate) / scale;
  }
}

}  // namespace

void render_offline(const ControlMap& map, const ControlScript& script,
                    const std::string& input_path, const std::string& output_path) {
  check_script(map, script);
  const Audio input = read_audio(input_path);
  ModuleLoop loop(map);
  if (input.sample_rate != loop.sample_rate())
    throw AudioFileError(input_path, "sample rate " + std::to_string(input.sample_rate) +
                                         " Hz, but the model plays at " +
                                         std::to_string(loop.sample_rate()) + " Hz (resample it first)");
  int knobs = 0;
  for (const auto& item : script.knobs) knobs = std::max(knobs, item.first + 1);
  ScriptedHardware hardware(knobs);
  const int block = script.block > 0 ? script.block : map.audio.period;
  std::vector<float> in(static_cast<size_t>(block) * map.audio.input_channels);
  std::vector<float> out(static_cast<size_t>(block) * map.audio.output_channels);
  Audio output;
  output.sample_rate = input.sample_rate;
  output.channels = 1;
  output.samples.reserve(static_cast<size_t>(input.frames()));
  for (long start = 0; start < input.frames(); start += block) {
    const int frames = static_cast<int>(std::min<long>(block, input.frames() - start));
    for (const auto& [index, curve] : script.knobs) hardware.set_knob(index, curve.at(start / static_cast<double>(input.sample_rate)));
    fill_block(map, script, input, start, frames, in);
    loop.process(in.data(), out.data(), frames, hardware);
    loop.wait_until_idle();
    for (int i = 0; i < frames; ++i)
      output.samples.push_back(out[static_cast<size_t>(i) * map.audio.output_channels + map.audio.audio_out.front()]);
  }
  write_wav_float(output_path, output);
}

}  // namespace neurorave::module
