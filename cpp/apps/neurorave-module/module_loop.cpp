#include "module_loop.hpp"

#include <algorithm>

#include "neurorave/engine.hpp"

namespace neurorave::module {

namespace {

// The loop's scratch buffers hold one chunk; longer periods are cut into chunks.
constexpr int kChunk = Player::kMaxBlock;

float knob_value(const KnobSource& source, const Hardware& hardware) {
  return source.hardware >= 0 ? hardware.knob(source.hardware) : source.value;
}

// With threaded_block, the worker runs one ALSA period ahead (in whole worker blocks): the
// loop plays a period at once, so that is the burst the worker must have ready; ALSA's
// other periods in the buffer are the worker's time to play the next one.
Playback playback(const ControlMap& map) {
  Playback playback;
  if (map.threaded_block <= 0) return playback;
  playback.threaded = true;
  playback.block = map.threaded_block;
  const int blocks = (map.audio.period + map.threaded_block - 1) / map.threaded_block;
  playback.budget = std::max(blocks, 1) * map.threaded_block;
  return playback;
}

}  // namespace

ModuleLoop::ModuleLoop(const ControlMap& map) : map_(map) {
  if (map_.model.empty())
    throw MapError(map_.file.empty() ? "(built-in control map)" : map_.file,
                   "no model: give \"model\" in the map or --model");
  auto player = std::make_unique<Player>(Engine::load(map_.model));
  check_against_model(map_, player->info());
  player->set_temperature(map_.temperature);
  player->set_seed(map_.seed);
  voice_ = std::make_unique<ModuleVoice>(std::move(player), map_.convention, playback(map_));
  voice_->set_mode(map_.mode);  // checked above: generate only with a prior
  published_mode_.store(voice_->mode());
  for (const auto& d : map_.descriptors)
    routes_.push_back({voice_->info().descriptor_index(d.name), d});
  for (auto* buffer : {&audio_in_, &audio_out_, &follow_volts_, &phrase_volts_})
    buffer->assign(kChunk, 0.0f);
}

void ModuleLoop::process(const float* in, float* out, int frames, const Hardware& hardware) {
  const int ins = map_.audio.input_channels;
  const int outs = map_.audio.output_channels;
  for (int done = 0; done < frames; done += kChunk)
    process_chunk(in + done * ins, out + done * outs, std::min(kChunk, frames - done), hardware);
  published_mode_.store(voice_->mode(), std::memory_order_relaxed);
}

// A CV is read once per chunk, as its mean: the Player reads controls once per frame anyway.
void ModuleLoop::read_panel(const float* in, int frames, const Hardware& hardware) {
  const int ins = map_.audio.input_channels;
  for (const Route& route : routes_) {
    PanelControl control;
    control.knob = knob_value(route.map.knob, hardware);
    control.attenuverter = knob_value(route.map.attenuverter, hardware);
    if (route.map.cv.channel >= 0 && frames > 0) {
      float sum = 0.0f;
      for (int i = 0; i < frames; ++i) sum += in[i * ins + route.map.cv.channel];
      control.cv_volts = sum / static_cast<float>(frames) * route.map.cv.scale;
    }
    voice_->set_panel(route.descriptor, control);
  }
}

void ModuleLoop::read_gate(const ChannelSource& gate, const float* in, int frames,
                           std::vector<float>& volts) const {
  const int ins = map_.audio.input_channels;
  for (int i = 0; i < frames; ++i) volts[i] = in[i * ins + gate.channel] * gate.scale;
}

void ModuleLoop::process_chunk(const float* in, float* out, int frames,
                               const Hardware& hardware) {
  const int ins = map_.audio.input_channels;
  const int outs = map_.audio.output_channels;
  read_panel(in, frames, hardware);
  VoiceGates gates;
  if (map_.follow_gate.channel >= 0) {
    read_gate(map_.follow_gate, in, frames, follow_volts_);
    gates.follow = follow_volts_.data();
  }
  if (map_.phrase_gate.channel >= 0) {
    read_gate(map_.phrase_gate, in, frames, phrase_volts_);
    gates.phrase = phrase_volts_.data();
  }
  for (int i = 0; i < frames; ++i) audio_in_[i] = in[i * ins + map_.audio.audio_in];
  voice_->process(audio_in_.data(), audio_out_.data(), frames, gates);
  std::fill(out, out + static_cast<size_t>(frames) * outs, 0.0f);
  for (int channel : map_.audio.audio_out)
    for (int i = 0; i < frames; ++i) out[i * outs + channel] = audio_out_[i];
}

Status ModuleLoop::status(long xruns) const {
  Status status;
  status.mode = published_mode_.load(std::memory_order_relaxed);
  for (int d = 0; d < voice_->descriptors(); ++d) {
    const auto& info = voice_->info().descriptors[d];
    status.values.push_back({info.name, info.unit, voice_->panel_value(d)});
  }
  status.underruns = voice_->underruns();
  status.xruns = xruns;
  return status;
}

}  // namespace neurorave::module
