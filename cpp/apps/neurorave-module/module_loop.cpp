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

// A voice for `player` as the map says (not real-time): prior settings, playback, mode.
// Throws MapError when the map does not fit the model.
std::unique_ptr<ModuleVoice> make_voice(const ControlMap& map, std::unique_ptr<Player> player) {
  check_against_model(map, player->info());
  player->set_temperature(map.temperature);
  player->set_seed(map.seed);
  auto voice = std::make_unique<ModuleVoice>(std::move(player), map.convention, playback(map));
  voice->set_mode(map.mode);  // checked above: generate only with a prior
  return voice;
}

}  // namespace

std::unique_ptr<Player> load_model(const std::string& path) {
  return std::make_unique<Player>(Engine::load(path));
}

ModuleLoop::ModuleLoop(const ControlMap& map, std::unique_ptr<Player> first)
    : ModuleLoop(map, make_voice(map, std::move(first))) {}

ModuleLoop::ModuleLoop(const ControlMap& map, std::unique_ptr<ModuleVoice> first)
    : map_(map),
      sample_rate_(first->info().sample_rate),
      descriptors_(first->info().descriptors),
      swap_(kChunk, static_cast<int>(kSwapFadeSeconds * sample_rate_)),
      values_(new std::atomic<float>[descriptors_.size()]) {
  for (const auto& d : map_.descriptors)
    routes_.push_back({first->info().descriptor_index(d.name), d});
  swap_.offer(std::move(first));
  swap_.take_offer();  // the first voice plays from the first period, no fade
  for (auto* buffer : {&audio_in_, &audio_out_, &follow_volts_, &phrase_volts_})
    buffer->assign(kChunk, 0.0f);
  publish();
}

void ModuleLoop::load(const std::string& path) {
  if (!loader_) loader_ = std::make_unique<neurorave::ModelLoader>();
  loader_->request(path);
}

std::string ModuleLoop::tend(bool wait) {
  swap_.collect();  // frees a model a swap retired, here rather than on the audio thread
  if (!loader_) return "";
  std::optional<LoadResult> loaded = wait ? loader_->wait() : loader_->take();
  if (!loaded) return "";
  if (!loaded->player) return loaded->error;
  try {
    offer(std::move(loaded->player));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

void ModuleLoop::offer(std::unique_ptr<Player> player) {
  const std::string path = player->info().path;
  std::unique_ptr<ModuleVoice> voice = make_voice(map_, std::move(player));
  const auto& fresh = voice->info();
  bool same = fresh.sample_rate == sample_rate_ && fresh.descriptors.size() == descriptors_.size();
  for (size_t d = 0; same && d < descriptors_.size(); ++d)
    same = fresh.descriptors[d].name == descriptors_[d].name;
  if (!same)
    throw MapError(path,
                   "cannot replace the playing model: a model played by this map must "
                   "have its rate and its descriptors, in the same order");
  swap_.offer(std::move(voice));  // frees an earlier offer the audio thread never took
}

// The display's values, from the audio thread: the display never touches a voice, which a
// swap may retire at any period.
void ModuleLoop::publish() {
  const ModuleVoice& voice = *swap_.current();
  for (size_t d = 0; d < descriptors_.size(); ++d)
    values_[d].store(voice.panel_value(static_cast<int>(d)), std::memory_order_relaxed);
  underruns_.store(voice.underruns(), std::memory_order_relaxed);
  published_mode_.store(voice.mode(), std::memory_order_relaxed);
}

void ModuleLoop::process(const float* in, float* out, int frames, const Hardware& hardware) {
  const int ins = map_.audio.input_channels;
  const int outs = map_.audio.output_channels;
  for (int done = 0; done < frames; done += kChunk)
    process_chunk(in + done * ins, out + done * outs, std::min(kChunk, frames - done), hardware);
  publish();
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
    swap_.for_each([&](ModuleVoice& voice) { voice.set_panel(route.descriptor, control); });
  }
}

void ModuleLoop::read_gate(const ChannelSource& gate, const float* in, int frames,
                           std::vector<float>& volts) const {
  const int ins = map_.audio.input_channels;
  for (int i = 0; i < frames; ++i) volts[i] = in[i * ins + gate.channel] * gate.scale;
}

void ModuleLoop::process_chunk(const float* in, float* out, int frames, const Hardware& hardware) {
  const int ins = map_.audio.input_channels;
  const int outs = map_.audio.output_channels;
  // Before the panel is read, so that a new model hears the controls from its first chunk.
  if (swap_.take_offer() && swap_.incoming())  // a new model plays the mode playing now
    swap_.incoming()->set_mode(swap_.current()->mode());
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
  swap_.process(audio_out_.data(), frames, [&](ModuleVoice& voice, float* out_samples) {
    voice.process(audio_in_.data(), out_samples, frames, gates);
  });
  std::fill(out, out + static_cast<size_t>(frames) * outs, 0.0f);
  for (int channel : map_.audio.audio_out)
    for (int i = 0; i < frames; ++i) out[i * outs + channel] = audio_out_[i];
}

Status ModuleLoop::status(long xruns) const {
  Status status;
  status.mode = published_mode_.load(std::memory_order_relaxed);
  for (size_t d = 0; d < descriptors_.size(); ++d) {
    const auto& info = descriptors_[d];
    status.values.push_back({info.name, info.unit, values_[d].load(std::memory_order_relaxed)});
  }
  status.underruns = underruns_.load(std::memory_order_relaxed);
  status.xruns = xruns;
  return status;
}

}  // namespace neurorave::module
