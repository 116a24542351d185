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
    if (channel != map.audio.audio_in && channel < map.audio.input_channels) return;
    throw MapError(script.file, std::string(what) + "." + std::to_string(channel) +
                                    ": not a control input channel of the map (it has " +
                                    std::to_string(map.audio.input_channels) +
                                    " inputs, audio on " + std::to_string(map.audio.audio_in) +
                                    ")");
  };
  for (const auto& item : script.cv) check(item.first, "cv");
  for (const auto& item : script.gates) check(item.first, "gates");
}

// The interface's input for one block: the file on the audio channel, the script's CV
// (at the block's start) and gate voltages on theirs, everything else silent.
class InputChannels {
 public:
  InputChannels(const ControlMap& map, const ControlScript& script, const Audio& input, int block)
      : map_(map),
        script_(script),
        input_(input),
        samples_(static_cast<size_t>(block) * map.audio.input_channels) {}

  const float* fill(long start, int frames) {
    std::fill(samples_.begin(), samples_.end(), 0.0f);
    for (int i = 0; i < frames; ++i)
      at(i, map_.audio.audio_in) = input_.samples[(start + i) * input_.channels];
    for (const auto& [channel, curve] : script_.cv) {
      const float sample = curve.at(seconds(start)) / channel_scale(map_, channel);
      for (int i = 0; i < frames; ++i) at(i, channel) = sample;
    }
    for (const auto& item : script_.gates) {
      const float scale = channel_scale(map_, item.first);
      for (int i = 0; i < frames; ++i)
        at(i, item.first) = script_.gate_at(item.first, seconds(start + i)) / scale;
    }
    return samples_.data();
  }

 private:
  float& at(int frame, int channel) {
    return samples_[static_cast<size_t>(frame) * map_.audio.input_channels + channel];
  }
  double seconds(long sample) const { return sample / static_cast<double>(input_.sample_rate); }

  const ControlMap& map_;
  const ControlScript& script_;
  const Audio& input_;
  std::vector<float> samples_;
};

void move_knobs(const ControlScript& script, double seconds, ScriptedHardware& hardware) {
  for (const auto& [index, curve] : script.knobs) hardware.set_knob(index, curve.at(seconds));
}

int knob_count(const ControlScript& script) {
  int knobs = 0;
  for (const auto& item : script.knobs) knobs = std::max(knobs, item.first + 1);
  return knobs;
}

}  // namespace

void render_offline(const ControlMap& map, std::unique_ptr<Player> model,
                    const ControlScript& script, const std::string& input_path,
                    const std::string& output_path) {
  check_script(map, script);
  const Audio input = read_audio(input_path);
  ModuleLoop loop(map, std::move(model));
  if (input.sample_rate != loop.sample_rate())
    throw AudioFileError(input_path, "sample rate " + std::to_string(input.sample_rate) +
                                         " Hz, but the model plays at " +
                                         std::to_string(loop.sample_rate()) +
                                         " Hz (resample it first)");
  ScriptedHardware hardware(knob_count(script));
  const int block = script.block > 0 ? script.block : map.audio.period;
  InputChannels channels(map, script, input, block);
  const int outs = map.audio.output_channels;
  std::vector<float> out(static_cast<size_t>(block) * outs);
  Audio output{input.sample_rate, 1, {}};
  output.samples.reserve(static_cast<size_t>(input.frames()));
  size_t next_load = 0;
  for (long start = 0; start < input.frames(); start += block) {
    const int frames = static_cast<int>(std::min<long>(block, input.frames() - start));
    const double now = start / static_cast<double>(input.sample_rate);
    // A scripted load is offered at the first block at or after its time; the new model
    // hears the input from that block on and takes over once it sounds.
    const bool loading = next_load < script.loads.size() && script.loads[next_load].time <= now;
    for (; next_load < script.loads.size() && script.loads[next_load].time <= now; ++next_load)
      loop.load(script.loads[next_load].path);
    if (const std::string problem = loop.tend(loading); !problem.empty())
      throw std::runtime_error(problem);
    move_knobs(script, now, hardware);
    loop.process(channels.fill(start, frames), out.data(), frames, hardware);
    loop.wait_until_idle();
    for (int i = 0; i < frames; ++i)
      output.samples.push_back(out[static_cast<size_t>(i) * outs + map.audio.audio_out.front()]);
  }
  write_wav_float(output_path, output);
}

}  // namespace neurorave::module
