#include "network_builder.hpp"

#include "layers/leaky_relu.hpp"
#include "layers/residual.hpp"
#include "layers/waveform_head.hpp"
#include "model_limits.hpp"

namespace neurorave {

// Beyond this many bytes of weights a model is taken not to stay in cache from one call to
// the next, and its kernels fetch the weights ahead (gemm_tile.hpp, prefetch_ahead): few
// desktop cores reach more than 32 MB of L3. `v1` (68 MB, 34 in fp16) streams, `small` (6
// MB) does not: fetching ahead what is in cache already costs its fp16 build up to 8 % at
// blocks 64-256 (measured on a Zen 5 core). The caches of the CPU that plays are not read:
// in a virtual machine the OS reports the host's (384 MB of L3 on the Zen 5 here). A board
// without L3 (a Cortex-A72's 1 MB of L2) would gain from a lower bound; unmeasured there.
constexpr uint64_t kStreamedModelBytes = uint64_t{32} << 20;

bool streams_weights(uint64_t weight_bytes) { return weight_bytes > kStreamedModelBytes; }

NetworkBuilder::NetworkBuilder(const ModelFile& file)
    : file_(file), streamed_(streams_weights(file.stored_bytes())) {}

int NetworkBuilder::bounded(const nlohmann::json& op, const char* key, int64_t low, int64_t high,
                            const std::string& where) const {
  return file_.integer(op, key, low, high, where);
}

int NetworkBuilder::optional(const nlohmann::json& op, const char* key, int64_t high,
                             const std::string& where) const {
  return op.contains(key) ? bounded(op, key, 1, high, where) : 1;
}

void NetworkBuilder::check_history(int64_t channels, int64_t history,
                                   const std::string& where) const {
  if (history > limits::kMaxHistory || channels * history > limits::kMaxHistoryValues)
    file_.fail(where + ": keeps " + std::to_string(history) + " samples of history over " +
               std::to_string(channels) + " channels, beyond the loader's limits (" +
               std::to_string(limits::kMaxHistory) + " samples, " +
               std::to_string(limits::kMaxHistoryValues) + " values)");
}

// A weight stored as F16 plays as F16: packed half-size where the kernel reads it so.
WeightLayout NetworkBuilder::layout(const TensorData& weight) const {
  return {weight.half ? WeightPrecision::f16 : WeightPrecision::f32, streamed_};
}

const float* NetworkBuilder::bias(const nlohmann::json& op, int out) {
  if (!op.value("bias", false)) return nullptr;
  return file_.tensor(op["name"].get<std::string>() + ".bias", {out}).values.data();
}

std::unique_ptr<Conv1d> NetworkBuilder::conv(const nlohmann::json& op, int in_channels,
                                             const std::string& where) {
  ConvShape s;
  s.in = bounded(op, "in", 1, limits::kMaxChannels, where);
  s.out = bounded(op, "out", 1, limits::kMaxChannels, where);
  s.kernel = bounded(op, "kernel", 1, limits::kMaxKernel, where);
  s.stride = optional(op, "stride", limits::kMaxStride, where);
  s.dilation = optional(op, "dilation", limits::kMaxDilation, where);
  s.groups = optional(op, "groups", limits::kMaxChannels, where);
  check_history(s.in, int64_t{s.kernel - 1} * s.dilation, where);
  if (s.in != in_channels)
    file_.fail(where + ": conv expects " + std::to_string(s.in) + " input channels but gets " +
               std::to_string(in_channels));
  if (s.in % s.groups || s.out % s.groups)
    file_.fail(where + ": channels are not divisible by groups");
  if (!op.contains("name") || !op["name"].is_string()) file_.fail(where + ": conv has no name");
  const auto name = op["name"].get<std::string>();
  const auto& weight = file_.tensor(name + ".weight", {s.out, s.in / s.groups, s.kernel});
  return std::make_unique<Conv1d>(s, weight.values.data(), bias(op, s.out), layout(weight));
}

std::unique_ptr<ConvTranspose1d> NetworkBuilder::conv_transpose(const nlohmann::json& op,
                                                                int in_channels,
                                                                const std::string& where) {
  const int in = bounded(op, "in", 1, limits::kMaxChannels, where);
  const int out = bounded(op, "out", 1, limits::kMaxChannels, where);
  const int kernel = bounded(op, "kernel", 1, limits::kMaxKernel, where);
  const int stride = bounded(op, "stride", 1, limits::kMaxStride, where);
  if (in != in_channels)
    file_.fail(where + ": transposed conv expects " + std::to_string(in) +
               " input channels but gets " + std::to_string(in_channels));
  if (kernel < stride) file_.fail(where + ": transposed conv kernel is shorter than its stride");
  if (!op.contains("name") || !op["name"].is_string())
    file_.fail(where + ": transposed conv has no name");
  const auto name = op["name"].get<std::string>();
  const auto& weight = file_.tensor(name + ".weight", {in, out, kernel});
  return std::make_unique<ConvTranspose1d>(in, out, kernel, stride, weight.values.data(),
                                           bias(op, out), layout(weight));
}

std::unique_ptr<Layer> NetworkBuilder::layer(const nlohmann::json& op, int in_channels,
                                             const std::string& where) {
  const std::string kind = op.value("op", "");
  if (kind == "conv") return conv(op, in_channels, where);
  if (kind == "conv_transpose") return conv_transpose(op, in_channels, where);
  if (kind == "leaky_relu") {
    if (!op.contains("slope") || !op["slope"].is_number() ||
        !(op["slope"].get<double>() >= limits::kMinSlope &&
          op["slope"].get<double>() <= limits::kMaxSlope))
      file_.fail(where + ": leaky_relu needs a slope from 0 to 1");
    return std::make_unique<LeakyRelu>(in_channels, op["slope"].get<float>());
  }
  if (kind == "residual") {
    const int delay = bounded(op, "delay", 0, limits::kMaxHistory, where);
    check_history(in_channels, delay, where);
    if (++depth_ > limits::kMaxNesting)
      file_.fail(where + ": residuals nested more than " + std::to_string(limits::kMaxNesting) +
                 " deep");
    auto branch =
        sequence(op.value("branch", nlohmann::json::array()), in_channels, where + ".branch");
    --depth_;
    if (branch->out_channels() != in_channels)
      file_.fail(where + ": residual branch changes the channel count");
    if (branch->downsampling() != 1 || branch->upsampling() != 1)
      file_.fail(where + ": residual branch changes the frame rate");
    return std::make_unique<Residual>(std::move(branch), delay);
  }
  if (kind == "waveform_head") {
    const int bands = bounded(op, "bands", 1, limits::kMaxBands, where);
    const bool noise = op.value("noise", false);
    auto blocker = [&](const std::string& name) {
      WaveformHead::Blocker b{0.0, 1};
      const std::string pole = name + "_pole";
      if (op.contains(pole)) {
        if (!op[pole].is_number() ||
            !(op[pole].get<double>() >= 0.0 && op[pole].get<double>() < 1.0))
          file_.fail(where + ": waveform_head needs a " + pole + " from 0 up to (not including) 1");
        b.pole = op[pole].get<double>();
      }
      b.period = optional(op, (name + "_period").c_str(), limits::kMaxHistory, where);
      check_history(bands, b.period, where);
      return b;
    };
    auto head = std::make_unique<WaveformHead>(
        bands, noise, std::initializer_list<WaveformHead::Blocker>{blocker("dc"), blocker("comb")});
    const int subbands = optional(op, "subbands", limits::kMaxBands, where);
    if (subbands > 1) {
      if (!noise) file_.fail(where + ": waveform_head has sub-bands but no noise");
      const int taps = bounded(op, "subband_taps", 1, limits::kMaxKernel, where);
      const int frame = bounded(op, "frame", 1, limits::kMaxCompression, where);
      if (!op.contains("subband_filters") || !op["subband_filters"].is_string())
        file_.fail(where + ": waveform_head has sub-bands but names no subband_filters");
      const auto& kernels =
          file_.tensor(op["subband_filters"].get<std::string>(), {subbands, subbands * taps});
      head->shape_noise(
          std::make_unique<SubbandNoise>(bands, subbands, taps, frame, kernels.values.data()));
    }
    if (head->in_channels() != in_channels)
      file_.fail(where + ": waveform head needs " + std::to_string(head->in_channels()) +
                 " channels but gets " + std::to_string(in_channels));
    return head;
  }
  file_.fail(where + ": unknown op '" + kind + "'");
}

namespace {

// A LeakyReLU followed by a layer that copies its input anyway (a convolution into
// its window) is applied during that copy.
void fuse_activations(std::vector<std::unique_ptr<Layer>>& layers) {
  for (size_t i = 0; i + 1 < layers.size(); ++i) {
    const auto* relu = dynamic_cast<const LeakyRelu*>(layers[i].get());
    if (relu != nullptr && layers[i + 1]->take_input_slope(relu->slope()))
      layers.erase(layers.begin() + static_cast<ptrdiff_t>(i));
  }
}

}  // namespace

std::unique_ptr<Sequence> NetworkBuilder::sequence(const nlohmann::json& ops, int in_channels,
                                                   const std::string& where) {
  if (!ops.is_array() || ops.empty()) file_.fail(where + ": expected a non-empty list of ops");
  std::vector<std::unique_ptr<Layer>> layers;
  int64_t downsampling = 1, upsampling = 1;
  for (size_t i = 0; i < ops.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!ops[i].is_object()) file_.fail(at + ": not an object");
    if (++ops_ > limits::kMaxOps)
      file_.fail(at + ": more than " + std::to_string(limits::kMaxOps) + " ops");
    layers.push_back(layer(ops[i], in_channels, at));
    in_channels = layers.back()->out_channels();
    downsampling *= layers.back()->downsampling();
    upsampling *= layers.back()->upsampling();
    if (downsampling > limits::kMaxCompression || upsampling > limits::kMaxCompression)
      file_.fail(at + ": strides multiply beyond " + std::to_string(limits::kMaxCompression));
  }
  fuse_activations(layers);
  return std::make_unique<Sequence>(std::move(layers));
}

}  // namespace neurorave
