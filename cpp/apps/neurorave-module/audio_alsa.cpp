#include "audio_alsa.hpp"

#include <alsa/asoundlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace neurorave::module {

namespace {

struct ClosePcm {
  void operator()(snd_pcm_t* pcm) const { snd_pcm_close(pcm); }
};
using Pcm = std::unique_ptr<snd_pcm_t, ClosePcm>;

// Formats in order of preference; interfaces such as the ES-8 offer S32 (24 bits used).
constexpr snd_pcm_format_t kFormats[] = {SND_PCM_FORMAT_FLOAT_LE, SND_PCM_FORMAT_S32_LE,
                                         SND_PCM_FORMAT_S16_LE};

void check(int result, const std::string& device, const char* what) {
  if (result < 0) throw AlsaError(device, std::string(what) + ": " + snd_strerror(result));
}

struct Stream {
  Pcm pcm;
  snd_pcm_format_t format = SND_PCM_FORMAT_UNKNOWN;
  int channels = 0;
  std::vector<unsigned char> raw;  // one period in the device's format
};

snd_pcm_format_t choose_format(snd_pcm_t* pcm, snd_pcm_hw_params_t* params) {
  for (const snd_pcm_format_t format : kFormats)
    if (snd_pcm_hw_params_test_format(pcm, params, format) == 0) return format;
  return SND_PCM_FORMAT_UNKNOWN;
}

// Exactly the map's rate, channels and period: a module's latency is part of its design.
Stream open_stream(const std::string& device, snd_pcm_stream_t direction, int channels, int rate,
                   const AudioMap& audio) {
  const char* side = direction == SND_PCM_STREAM_CAPTURE ? "capture" : "playback";
  snd_pcm_t* raw = nullptr;
  check(snd_pcm_open(&raw, device.c_str(), direction, 0), device, side);
  Stream stream;
  stream.pcm.reset(raw);
  snd_pcm_hw_params_t* params = nullptr;
  snd_pcm_hw_params_alloca(&params);
  snd_pcm_t* pcm = stream.pcm.get();
  check(snd_pcm_hw_params_any(pcm, params), device, side);
  check(snd_pcm_hw_params_set_access(pcm, params, SND_PCM_ACCESS_RW_INTERLEAVED), device,
        "interleaved access");
  stream.format = choose_format(pcm, params);
  if (stream.format == SND_PCM_FORMAT_UNKNOWN)
    throw AlsaError(device, std::string(side) + ": offers none of FLOAT_LE, S32_LE, S16_LE");
  check(snd_pcm_hw_params_set_format(pcm, params, stream.format), device, "format");
  if (snd_pcm_hw_params_set_channels(pcm, params, channels) < 0)
    throw AlsaError(device, std::string(side) + ": cannot open " + std::to_string(channels) +
                                " channels (audio.input_channels / output_channels)");
  if (snd_pcm_hw_params_set_rate(pcm, params, rate, 0) < 0)
    throw AlsaError(
        device, std::string(side) + ": cannot run at the model's " + std::to_string(rate) + " Hz");
  check(snd_pcm_hw_params_set_period_size(pcm, params, audio.period, 0), device,
        "period size (audio.period)");
  check(snd_pcm_hw_params_set_periods(pcm, params, audio.periods, 0), device,
        "periods (audio.periods)");
  check(snd_pcm_hw_params(pcm, params), device, side);
  stream.channels = channels;
  stream.raw.resize(static_cast<size_t>(audio.period) * channels *
                    snd_pcm_format_physical_width(stream.format) / 8);
  return stream;
}

void to_float(const Stream& s, float* out, int frames) {
  const size_t n = static_cast<size_t>(frames) * s.channels;
  if (s.format == SND_PCM_FORMAT_FLOAT_LE) {
    std::memcpy(out, s.raw.data(), n * sizeof(float));
  } else if (s.format == SND_PCM_FORMAT_S32_LE) {
    const auto* in = reinterpret_cast<const int32_t*>(s.raw.data());
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i] / 2147483648.0);
  } else {
    const auto* in = reinterpret_cast<const int16_t*>(s.raw.data());
    for (size_t i = 0; i < n; ++i) out[i] = in[i] / 32768.0f;
  }
}

void from_float(Stream& s, const float* in, int frames) {
  const size_t n = static_cast<size_t>(frames) * s.channels;
  if (s.format == SND_PCM_FORMAT_FLOAT_LE) {
    std::memcpy(s.raw.data(), in, n * sizeof(float));
  } else if (s.format == SND_PCM_FORMAT_S32_LE) {
    auto* out = reinterpret_cast<int32_t*>(s.raw.data());
    for (size_t i = 0; i < n; ++i)
      out[i] = static_cast<int32_t>(std::lrint(std::clamp(in[i], -1.0f, 1.0f) * 2147483520.0));
  } else {
    auto* out = reinterpret_cast<int16_t*>(s.raw.data());
    for (size_t i = 0; i < n; ++i)
      out[i] = static_cast<int16_t>(std::lrint(std::clamp(in[i], -1.0f, 1.0f) * 32767.0f));
  }
}

// Playback starts with the buffer full of silence, so that capture and playback run a
// whole buffer apart and a late period shows up as an xrun, not a click mid-buffer.
void prime(Stream& playback, const AudioMap& audio) {
  std::fill(playback.raw.begin(), playback.raw.end(), 0);
  for (int p = 0; p < audio.periods; ++p)
    snd_pcm_writei(playback.pcm.get(), playback.raw.data(), audio.period);
}

void restart(Stream& capture, Stream& playback, const AudioMap& audio) {
  snd_pcm_drop(playback.pcm.get());
  snd_pcm_drop(capture.pcm.get());
  snd_pcm_prepare(playback.pcm.get());
  snd_pcm_prepare(capture.pcm.get());
  prime(playback, audio);
  snd_pcm_start(capture.pcm.get());
}

}  // namespace

void run_alsa(ModuleLoop& loop, const Hardware& hardware, const LiveOptions& options,
              const std::atomic<bool>& stop, std::atomic<long>& xruns) {
  const AudioMap& audio = loop.map().audio;
  const std::string device = options.device.empty() ? audio.device : options.device;
  Stream capture =
      open_stream(device, SND_PCM_STREAM_CAPTURE, audio.input_channels, loop.sample_rate(), audio);
  Stream playback = open_stream(device, SND_PCM_STREAM_PLAYBACK, audio.output_channels,
                                loop.sample_rate(), audio);
  std::vector<float> in(static_cast<size_t>(audio.period) * audio.input_channels);
  std::vector<float> out(static_cast<size_t>(audio.period) * audio.output_channels);
  const long total = options.seconds > 0 ? std::lround(options.seconds * loop.sample_rate()) : -1;
  // Once, before the first period: what the device agreed to.
  std::fprintf(stderr,
               "neurorave-module: %s at %d Hz, %d in (%s) / %d out (%s), period %d x %d, "
               "model latency %d samples\n",
               device.c_str(), loop.sample_rate(), audio.input_channels,
               snd_pcm_format_name(capture.format), audio.output_channels,
               snd_pcm_format_name(playback.format), audio.period, audio.periods,
               loop.voice().latency());
  restart(capture, playback, audio);
  for (long played = 0; !stop.load(std::memory_order_relaxed) && (total < 0 || played < total);) {
    const snd_pcm_sframes_t got =
        snd_pcm_readi(capture.pcm.get(), capture.raw.data(), audio.period);
    if (got < 0) {
      xruns.fetch_add(1, std::memory_order_relaxed);
      restart(capture, playback, audio);
      continue;
    }
    const int frames = static_cast<int>(got);
    to_float(capture, in.data(), frames);
    loop.process(in.data(), out.data(), frames, hardware);
    from_float(playback, out.data(), frames);
    if (snd_pcm_writei(playback.pcm.get(), playback.raw.data(), frames) < 0) {
      xruns.fetch_add(1, std::memory_order_relaxed);
      restart(capture, playback, audio);
    }
    played += frames;
  }
}

}  // namespace neurorave::module
