#include "network_builder.hpp"

#include "layers/leaky_relu.hpp"
#include "layers/residual.hpp"
#include "layers/waveform_head.hpp"

namespace neurorave {

int NetworkBuilder::positive(const nlohmann::json& op, const char* key,
                             const std::string& where) const {
  if (!op.contains(key) || !op[key].is_number_integer() || op[key].get<int64_t>() < 1 ||
      op[key].get<int64_t>() > (1 << 20))
    file_.fail(where + ": '" + key + "' must be an integer from 1 to 2^20");
  return op[key].get<int>();
}

const float* NetworkBuilder::bias(const nlohmann::json& op, int out) {
  if (!op.value("bias", false)) return nullptr;
  return file_.tensor(op["name"].get<std::string>() + ".bias", {out}).values.data();
}

std::unique_ptr<Conv1d> NetworkBuilder::conv(const nlohmann::json& op, int in_channels,
                                             const std::string& where) {
  ConvShape s;
  s.in = positive(op, "in", where);
  s.out = positive(op, "out", where);
  s.kernel = positive(op, "kernel", where);
  s.stride = op.contains("stride") ? positive(op, "stride", where) : 1;
  s.dilation = op.contains("dilation") ? positive(op, "dilation", where) : 1;
  s.groups = op.contains("groups") ? positive(op, "groups", where) : 1;
  if (s.in != in_channels)
    file_.fail(where + ": conv expects " + std::to_string(s.in) + " input channels but gets " +
               std::to_string(in_channels));
  if (s.in % s.groups || s.out % s.groups)
    file_.fail(where + ": channels are not divisible by groups");
  if (!op.contains("name") || !op["name"].is_string()) file_.fail(where + ": conv has no name");
  const auto name = op["name"].get<std::string>();
  const auto& weight = file_.tensor(name + ".weight", {s.out, s.in / s.groups, s.kernel});
  return std::make_unique<Conv1d>(s, weight.values.data(), bias(op, s.out));
}

std::unique_ptr<ConvTranspose1d> NetworkBuilder::conv_transpose(const nlohmann::json& op,
                                                                int in_channels,
                                                                const std::string& where) {
  const int in = positive(op, "in", where), out = positive(op, "out", where);
  const int kernel = positive(op, "kernel", where), stride = positive(op, "stride", where);
  if (in != in_channels)
    file_.fail(where + ": transposed conv expects " + std::to_string(in) +
               " input channels but gets " + std::to_string(in_channels));
  if (kernel < stride) file_.fail(where + ": transposed conv kernel is shorter than its stride");
  if (!op.contains("name") || !op["name"].is_string())
    file_.fail(where + ": transposed conv has no name");
  const auto name = op["name"].get<std::string>();
  const auto& weight = file_.tensor(name + ".weight", {in, out, kernel});
  return std::make_unique<ConvTranspose1d>(in, out, kernel, stride, weight.values.data(),
                                           bias(op, out));
}

std::unique_ptr<Layer> NetworkBuilder::layer(const nlohmann::json& op, int in_channels,
                                             const std::string& where) {
  const std::string kind = op.value("op", "");
  if (kind == "conv") return conv(op, in_channels, where);
  if (kind == "conv_transpose") return conv_transpose(op, in_channels, where);
  if (kind == "leaky_relu") {
    if (!op.contains("slope") || !op["slope"].is_number())
      file_.fail(where + ": leaky_relu needs a numeric slope");
    return std::make_unique<LeakyRelu>(in_channels, op["slope"].get<float>());
  }
  if (kind == "residual") {
    if (!op.contains("delay") || !op["delay"].is_number_integer() || op["delay"].get<int>() < 0)
      file_.fail(where + ": residual needs a delay >= 0");
    auto branch = sequence(op.value("branch", nlohmann::json::array()), in_channels,
                           where + ".branch");
    if (branch->out_channels() != in_channels)
      file_.fail(where + ": residual branch changes the channel count");
    if (branch->downsampling() != 1 || branch->upsampling() != 1)
      file_.fail(where + ": residual branch changes the frame rate");
    return std::make_unique<Residual>(std::move(branch), op["delay"].get<int>());
  }
  if (kind == "waveform_head") {
    const int bands = positive(op, "bands", where);
    const bool noise = op.value("noise", false);
    auto head = std::make_unique<WaveformHead>(bands, noise);
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
  for (size_t i = 0; i < ops.size(); ++i) {
    if (!ops[i].is_object()) file_.fail(where + "[" + std::to_string(i) + "]: not an object");
    layers.push_back(layer(ops[i], in_channels, where + "[" + std::to_string(i) + "]"));
    in_channels = layers.back()->out_channels();
  }
  fuse_activations(layers);
  return std::make_unique<Sequence>(std::move(layers));
}

}  // namespace neurorave
