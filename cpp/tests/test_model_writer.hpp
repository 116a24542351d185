#pragma once
// Writes small, valid .nrv files (safetensors + a NeuroRave description) for the
// tests, in steps that a test can interrupt to spoil the file in a controlled way:
//
//   ModelSpec spec = test_model();          // description + tensors, in memory
//   Safetensors st = to_safetensors(spec);  // header JSON + data section
//   std::string bytes = st.bytes();         // the file's bytes
//
// The description follows python/neurorave/format/nrv.py `describe()`.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

namespace neurorave_tests {

using json = nlohmann::json;

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
  bool half = false;  // written as F16, each value rounded to binary16
};

struct ModelSpec {
  json description;
  std::map<std::string, Tensor> tensors;
};

struct Safetensors {
  json header;       // tensor entries and "__metadata__"
  std::string data;  // the data section the offsets point into

  // 8-byte little-endian header length, the header, the data.
  std::string bytes() const {
    const std::string text = header.dump();
    std::string out(8, '\0');
    uint64_t size = text.size();
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((size >> (8 * i)) & 0xFF);
    return out + text + data;
  }
};

inline Safetensors to_safetensors(const ModelSpec& spec) {
  Safetensors st;
  st.header = json::object();
  for (const auto& [name, tensor] : spec.tensors) {
    const uint64_t begin = st.data.size();
    if (tensor.half) {
      const std::vector<Eigen::half> halves(tensor.values.begin(), tensor.values.end());
      st.data.append(reinterpret_cast<const char*>(halves.data()), halves.size() * 2);
    } else {
      st.data.append(reinterpret_cast<const char*>(tensor.values.data()),
                     tensor.values.size() * sizeof(float));
    }
    st.header[name] = {{"dtype", tensor.half ? "F16" : "F32"},
                       {"shape", tensor.shape},
                       {"data_offsets", {begin, static_cast<uint64_t>(st.data.size())}}};
  }
  st.header["__metadata__"] = {{"neurorave", spec.description.dump()}};
  return st;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A file in the temporary folder, unique to this process, removed when it goes.
class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : path_((std::filesystem::temp_directory_path() /
               ("neurorave_tests_" + std::to_string(::getpid()) + "_" + name))
                  .string()) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }

  const std::string& path() const { return path_; }
  const std::string& write(const std::string& bytes) const {
    write_bytes(path_, bytes);
    return path_;
  }
  const std::string& write(const ModelSpec& spec) const {
    return write(to_safetensors(spec).bytes());
  }

 private:
  std::string path_;
};

// Deterministic weights: uniform in [-scale, scale), from a 32-bit LCG.
class WeightSource {
 public:
  explicit WeightSource(uint32_t seed) : state_(seed) {}
  float next(float scale) {
    state_ = state_ * 1664525u + 1013904223u;
    return scale * (static_cast<float>(state_ >> 8) * (2.0f / 16777216.0f) - 1.0f);
  }

 private:
  uint32_t state_;
};

// Adds ops to a description and their tensors to the spec, like nrv.py's _Collector.
class ModelBuilder {
 public:
  explicit ModelBuilder(ModelSpec& spec, uint32_t seed = 1) : spec_(spec), weights_(seed) {}

  json conv(const std::string& name, int in, int out, int kernel, int stride = 1, int dilation = 1,
            int groups = 1, bool bias = true) {
    const float scale = 1.0f / static_cast<float>(std::max(1, in / groups * kernel));
    add(name + ".weight", {out, in / groups, kernel}, 1.7f * std::sqrt(scale));
    if (bias) add(name + ".bias", {out}, 0.1f);
    return {{"op", "conv"},         {"name", name},     {"in", in},
            {"out", out},           {"kernel", kernel}, {"stride", stride},
            {"dilation", dilation}, {"groups", groups}, {"bias", bias}};
  }

  json conv_transpose(const std::string& name, int in, int out, int kernel, int stride,
                      bool bias = true) {
    const float scale = static_cast<float>(stride) / static_cast<float>(in * kernel);
    add(name + ".weight", {in, out, kernel}, 1.7f * std::sqrt(scale));
    if (bias) add(name + ".bias", {out}, 0.1f);
    return {{"op", "conv_transpose"}, {"name", name},     {"in", in},    {"out", out},
            {"kernel", kernel},       {"stride", stride}, {"bias", bias}};
  }

  // A GRU prior over frames of `frame` values (latent + descriptors), like prior.py's.
  json gru_prior(int frame, int hidden, int layers) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(hidden));
    for (int l = 0; l < layers; ++l) {
      const std::string suffix = "_l" + std::to_string(l);
      add("prior.gru.weight_ih" + suffix, {3 * hidden, l == 0 ? frame : hidden}, scale);
      add("prior.gru.weight_hh" + suffix, {3 * hidden, hidden}, scale);
      add("prior.gru.bias_ih" + suffix, {3 * hidden}, scale);
      add("prior.gru.bias_hh" + suffix, {3 * hidden}, scale);
    }
    add("prior.head.weight", {2 * frame, hidden}, scale);
    add("prior.head.bias", {2 * frame}, scale);
    return {{"type", "gru"}, {"hidden", hidden}, {"layers", layers}};
  }

  static json leaky_relu(double slope = 0.2) { return {{"op", "leaky_relu"}, {"slope", slope}}; }
  static json residual(int delay, json branch) {
    return {{"op", "residual"}, {"delay", delay}, {"branch", std::move(branch)}};
  }
  static json waveform_head(int bands, bool noise) {
    return {{"op", "waveform_head"}, {"bands", bands}, {"noise", noise}};
  }

 private:
  void add(const std::string& name, std::vector<int64_t> shape, float scale) {
    int64_t count = 1;
    for (const int64_t dim : shape) count *= dim;
    Tensor tensor{std::move(shape), std::vector<float>(static_cast<size_t>(count))};
    for (float& v : tensor.values) v = weights_.next(scale);
    spec_.tensors[name] = std::move(tensor);
  }

  ModelSpec& spec_;
  WeightSource weights_;
};

// The description every test model shares; the callers give what differs.
inline json describe_model(int sample_rate, int compression, int latent_size, json latency,
                           int noise_lead, json descriptors, json pqmf, json encoder,
                           json decoder) {
  return {{"format_version", 1},         {"architecture", "neurorave-vae"},
          {"sample_rate", sample_rate},  {"compression", compression},
          {"latent_size", latent_size},  {"causal", false},
          {"latency", latency},          {"noise_lead", noise_lead},
          {"descriptors", descriptors},  {"pqmf", pqmf},
          {"encoder", encoder},          {"decoder", decoder},
          {"provenance", json::object()}};
}

// Shape of the test model, for the tests that check info().
struct TestModelShape {
  static constexpr int sample_rate = 44100;
  static constexpr int bands = 4;
  static constexpr int compression = 16;  // pqmf stride 4 * encoder strides 2 * 2
  static constexpr int latent_size = 8;
  static constexpr int descriptors = 2;
  static constexpr int encode_frames = 2;
  static constexpr int decode_samples = 40;
  static constexpr int forward_samples = 72;
  static constexpr int noise_lead = 8;
};

// A small model with every op the engine knows: a PQMF-like strided analysis conv and
// transposed synthesis, strided and grouped convs (16..64 channels), transposed convs,
// residuals with dilation and delay, a waveform head with noise, two descriptors.
inline ModelSpec test_model(uint32_t seed = 1) {
  using S = TestModelShape;
  ModelSpec spec;
  ModelBuilder b(spec, seed);
  json pqmf = {{"bands", S::bands},
               {"analysis", b.conv("pqmf.analysis", 1, S::bands, 16, S::bands, 1, 1, false)},
               {"synthesis", b.conv_transpose("pqmf.synthesis", S::bands, 1, 16, S::bands, false)}};
  json encoder = json::array({
      b.conv("encoder.0", S::bands, 16, 5),
      ModelBuilder::leaky_relu(),
      b.conv("encoder.2", 16, 32, 4, 2),
      ModelBuilder::leaky_relu(),
      b.conv("encoder.4", 32, 64, 4, 2, 1, 2),
      ModelBuilder::leaky_relu(),
      b.conv("encoder.6", 64, S::latent_size, 3),
  });
  json decoder = json::array({
      b.conv("decoder.0", S::latent_size + S::descriptors, 64, 3),
      ModelBuilder::leaky_relu(),
      b.conv_transpose("decoder.2", 64, 32, 4, 2),
      ModelBuilder::residual(
          1, json::array({ModelBuilder::leaky_relu(), b.conv("decoder.3.1", 32, 32, 3),
                          ModelBuilder::leaky_relu(), b.conv("decoder.3.3", 32, 32, 1)})),
      ModelBuilder::leaky_relu(),
      b.conv_transpose("decoder.5", 32, 16, 4, 2),
      ModelBuilder::residual(
          3, json::array({ModelBuilder::leaky_relu(), b.conv("decoder.6.1", 16, 16, 3, 1, 3),
                          ModelBuilder::leaky_relu(), b.conv("decoder.6.3", 16, 16, 1)})),
      ModelBuilder::leaky_relu(),
      b.conv("decoder.8", 16, 3 * S::bands, 3),
      ModelBuilder::waveform_head(S::bands, true),
  });
  const json latency = {{"encode_frames", S::encode_frames},
                        {"decode_samples", S::decode_samples},
                        {"forward_samples", S::forward_samples}};
  const json descriptors = json::array({{{"name", "rms"},
                                         {"unit", "dBFS"},
                                         {"range", {-60.0, 0.0}},
                                         {"bins", {-60.0, -45.0, -30.0, -15.0, 0.0}}},
                                        {{"name", "centroid"},
                                         {"unit", "Hz"},
                                         {"range", {200.0, 8000.0}},
                                         {"bins", {200.0, 2150.0, 4100.0, 6050.0, 8000.0}}}});
  spec.description = describe_model(S::sample_rate, S::compression, S::latent_size, latency,
                                    S::noise_lead, descriptors, pqmf, encoder, decoder);
  return spec;
}

// The test model with a two-layer GRU prior.
inline ModelSpec test_model_with_prior(uint32_t seed = 1) {
  using S = TestModelShape;
  ModelSpec spec = test_model(seed);
  ModelBuilder b(spec, seed + 1000);
  spec.description["prior"] = b.gru_prior(S::latent_size + S::descriptors, 24, 2);
  return spec;
}

// A model with the frame size of the full-scale configurations (python/neurorave/
// config.py "v1": 16 bands, compression 2048 = 16 * 4 * 4 * 4 * 2, PQMF kernel 128),
// but only 16..64 channels, so that it loads and runs in milliseconds.
struct WideModelShape {
  static constexpr int sample_rate = 44100;
  static constexpr int bands = 16;
  static constexpr int compression = 2048;
  static constexpr int latent_size = 8;
};

inline ModelSpec wide_model(uint32_t seed = 3) {
  using S = WideModelShape;
  ModelSpec spec;
  ModelBuilder b(spec, seed);
  using B = ModelBuilder;
  json pqmf = {
      {"bands", S::bands},
      {"analysis", b.conv("pqmf.analysis", 1, S::bands, 128, S::bands, 1, 1, false)},
      {"synthesis", b.conv_transpose("pqmf.synthesis", S::bands, 1, 128, S::bands, false)}};
  json encoder = json::array({
      b.conv("encoder.0", S::bands, 32, 7),
      B::leaky_relu(),
      b.conv("encoder.2", 32, 32, 8, 4),
      B::leaky_relu(),
      b.conv("encoder.4", 32, 64, 8, 4),
      B::leaky_relu(),
      b.conv("encoder.6", 64, 64, 8, 4),
      B::leaky_relu(),
      b.conv("encoder.8", 64, 64, 4, 2),
      B::leaky_relu(),
      b.conv("encoder.10", 64, S::latent_size, 3),
  });
  json decoder = json::array({
      b.conv("decoder.0", S::latent_size + 1, 64, 3),
      B::leaky_relu(),
      b.conv_transpose("decoder.2", 64, 64, 4, 2),
      B::residual(1, json::array({B::leaky_relu(), b.conv("decoder.3.1", 64, 64, 3)})),
      B::leaky_relu(),
      b.conv_transpose("decoder.5", 64, 64, 8, 4),
      B::leaky_relu(),
      b.conv_transpose("decoder.7", 64, 64, 8, 4),
      B::leaky_relu(),
      b.conv_transpose("decoder.9", 64, 64, 8, 4),
      B::residual(3, json::array({B::leaky_relu(), b.conv("decoder.10.1", 64, 64, 3, 1, 3),
                                  B::leaky_relu(), b.conv("decoder.10.3", 64, 64, 1)})),
      B::leaky_relu(),
      b.conv("decoder.12", 64, 3 * S::bands, 3),
      B::waveform_head(S::bands, true),
  });
  const json latency = {{"encode_frames", 1}, {"decode_samples", 300}, {"forward_samples", 2348}};
  const json descriptors = json::array(
      {{{"name", "rms"}, {"unit", "dBFS"}, {"range", {-60.0, 0.0}}, {"bins", json::array()}}});
  spec.description = describe_model(S::sample_rate, S::compression, S::latent_size, latency, 128,
                                    descriptors, pqmf, encoder, decoder);
  return spec;
}

// The layer shapes python/neurorave/nn/model.py builds for a configuration
// (python/neurorave/config.py), with made-up weights: what a trained model looks like
// to the engine.
struct Preset {
  int sample_rate;
  int bands;
  int taps_per_band;
  std::vector<int> ratios;
  int capacity;
  int latent_size;
  std::vector<int> dilations;
  int descriptors;

  int compression() const {
    int c = bands;
    for (const int r : ratios) c *= r;
    return c;
  }
};

// config.py "small": the embedded module's model, about 1.5 M parameters.
inline Preset small_preset() { return {44100, 16, 8, {4, 4, 2}, 44, 8, {1, 3, 9}, 5}; }

inline ModelSpec preset_model(const Preset& p, uint32_t seed = 4) {
  using B = ModelBuilder;
  ModelSpec spec;
  ModelBuilder b(spec, seed);
  std::vector<int> channels;
  for (size_t i = 0; i <= p.ratios.size(); ++i) channels.push_back(p.capacity << i);
  const int taps = p.bands * p.taps_per_band;
  json pqmf = {{"bands", p.bands},
               {"analysis", b.conv("pqmf.analysis", 1, p.bands, taps, p.bands, 1, 1, false)},
               {"synthesis", b.conv_transpose("pqmf.synthesis", p.bands, 1, taps, p.bands, false)}};
  json encoder = json::array({b.conv("encoder.0", p.bands, channels[0], 7)});
  for (size_t i = 0; i < p.ratios.size(); ++i) {
    encoder.push_back(B::leaky_relu());
    encoder.push_back(b.conv("encoder." + std::to_string(encoder.size()), channels[i],
                             channels[i + 1], 2 * p.ratios[i] + 1, p.ratios[i]));
  }
  encoder.push_back(B::leaky_relu());
  encoder.push_back(
      b.conv("encoder." + std::to_string(encoder.size()), channels.back(), p.latent_size, 3));
  std::vector<int> down(channels.rbegin(), channels.rend());
  json decoder = json::array({b.conv("decoder.0", p.latent_size + p.descriptors, down[0], 7)});
  for (size_t i = 0; i < p.ratios.size(); ++i) {
    const int ratio = p.ratios[p.ratios.size() - 1 - i];
    decoder.push_back(B::leaky_relu());
    decoder.push_back(b.conv_transpose("decoder." + std::to_string(decoder.size()), down[i],
                                       down[i + 1], 2 * ratio, ratio));
    for (const int d : p.dilations) {
      const std::string name = "decoder." + std::to_string(decoder.size());
      decoder.push_back(B::residual(
          d, json::array({B::leaky_relu(), b.conv(name + ".1", down[i + 1], down[i + 1], 3, 1, d),
                          B::leaky_relu(), b.conv(name + ".3", down[i + 1], down[i + 1], 1)})));
    }
  }
  decoder.push_back(B::leaky_relu());
  decoder.push_back(
      b.conv("decoder." + std::to_string(decoder.size()), down.back(), 3 * p.bands, 7));
  decoder.push_back(B::waveform_head(p.bands, true));
  json descriptors = json::array();
  for (int d = 0; d < p.descriptors; ++d)
    descriptors.push_back({{"name", "d" + std::to_string(d)}, {"unit", ""}, {"range", {0.0, 1.0}}});
  const json latency = {{"encode_frames", 2}, {"decode_samples", 1000}, {"forward_samples", 2000}};
  spec.description = describe_model(p.sample_rate, p.compression(), p.latent_size, latency, 100,
                                    descriptors, pqmf, encoder, decoder);
  return spec;
}

// A deterministic test signal: a few sines and some hashed noise, within [-1, 1].
inline std::vector<float> test_signal(size_t samples, uint32_t seed = 7) {
  std::vector<float> x(samples);
  WeightSource noise(seed);
  for (size_t n = 0; n < samples; ++n) {
    const double t = static_cast<double>(n);
    x[n] = static_cast<float>(0.5 * std::sin(0.031 * t) + 0.25 * std::sin(0.27 * t + 1.0)) +
           noise.next(0.2f);
  }
  return x;
}

}  // namespace neurorave_tests
