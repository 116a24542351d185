#include "control_map.hpp"
#include "neurorave/messages.hpp"

#include <filesystem>

#include "json_read.hpp"

namespace neurorave::module {

namespace {

using nlohmann::json;

constexpr int kMaxChannels = 64;
constexpr int kMaxKnobs = 64;

// A number, or {"hardware": index[, "value": default]}.
KnobSource knob_source(const JsonReader& reader, const json& value, const std::string& where,
                       double low, double high) {
  KnobSource source;
  if (value.is_number()) {
    source.value = static_cast<float>(reader.number(value, where, low, high));
    return source;
  }
  reader.expect_object(value, where, {"hardware", "value"});
  if (!value.contains("hardware")) reader.fail(where, "needs \"hardware\": a knob index");
  source.hardware =
      reader.integer(value["hardware"], join_key(where, "hardware"), 0, kMaxKnobs - 1);
  if (value.contains("value"))
    source.value =
        static_cast<float>(reader.number(value["value"], join_key(where, "value"), low, high));
  return source;
}

// {"channel": n[, "scale": volts per unit sample]}.
ChannelSource channel_source(const JsonReader& reader, const json& value,
                             const std::string& where) {
  reader.expect_object(value, where, {"channel", "scale"});
  if (!value.contains("channel")) reader.fail(where, "needs \"channel\": an input channel");
  ChannelSource source;
  source.channel =
      reader.integer(value["channel"], join_key(where, "channel"), 0, kMaxChannels - 1);
  if (value.contains("scale"))
    source.scale = static_cast<float>(
        reader.number(value["scale"], join_key(where, "scale"), -1000.0, 1000.0));
  return source;
}

DescriptorMap descriptor_map(const JsonReader& reader, const std::string& name, const json& value,
                             const std::string& where) {
  reader.expect_object(value, where, {"knob", "cv", "attenuverter"});
  DescriptorMap map;
  map.name = name;
  if (value.contains("knob"))
    map.knob = knob_source(reader, value["knob"], join_key(where, "knob"), 0.0, 1.0);
  if (value.contains("cv")) map.cv = channel_source(reader, value["cv"], join_key(where, "cv"));
  if (value.contains("attenuverter"))
    map.attenuverter =
        knob_source(reader, value["attenuverter"], join_key(where, "attenuverter"), -1.0, 1.0);
  return map;
}

AudioMap audio_map(const JsonReader& reader, const json& value) {
  reader.expect_object(value, "audio",
                       {"device", "period", "periods", "input_channels", "output_channels",
                        "audio_in", "audio_out"});
  AudioMap audio;
  if (value.contains("device")) audio.device = reader.string(value["device"], "audio.device");
  if (value.contains("period"))
    audio.period = reader.integer(value["period"], "audio.period", 1, Player::kMaxBlock);
  if (value.contains("periods"))
    audio.periods = reader.integer(value["periods"], "audio.periods", 2, 16);
  if (value.contains("input_channels"))
    audio.input_channels =
        reader.integer(value["input_channels"], "audio.input_channels", 1, kMaxChannels);
  if (value.contains("output_channels"))
    audio.output_channels =
        reader.integer(value["output_channels"], "audio.output_channels", 1, kMaxChannels);
  if (value.contains("audio_in"))
    audio.audio_in = reader.integer(value["audio_in"], "audio.audio_in", 0, kMaxChannels - 1);
  if (value.contains("audio_out")) {
    const json& out = value["audio_out"];
    if (!out.is_array() || out.empty())
      reader.fail("audio.audio_out", "expected a list of output channels");
    audio.audio_out.clear();
    for (size_t i = 0; i < out.size(); ++i)
      audio.audio_out.push_back(reader.integer(out[i], "audio.audio_out", 0, kMaxChannels - 1));
  }
  return audio;
}

CvConvention convention(const JsonReader& reader, const json& value) {
  const std::string name = reader.string(value, "convention");
  if (name == "bipolar") return CvConvention::bipolar_5v;
  if (name == "unipolar") return CvConvention::unipolar_10v;
  reader.fail("convention",
              "\"" + name + "\" is neither \"bipolar\" (+-5 V) nor \"unipolar\" (0-10 V)");
}

VoiceMode mode(const JsonReader& reader, const json& value) {
  const std::string name = reader.string(value, "mode");
  VoiceMode mode = VoiceMode::transfer;
  if (parse_voice_mode(name, mode)) return mode;
  std::string names;
  for (const char* known : kVoiceModeNames)
    names += (names.empty() ? "" : ", ") + std::string(known);
  reader.fail("mode", "\"" + name + "\" is not one of " + names);
}

// Every channel the map reads or writes must exist on the interface.
void check_channels(const JsonReader& reader, const ControlMap& map) {
  const auto check = [&](int channel, int channels, const std::string& where) {
    if (channel >= channels)
      reader.fail(where, "channel " + std::to_string(channel) +
                             " does not exist: the interface has " + std::to_string(channels) +
                             " (audio.input_channels/output_channels)");
  };
  const int inputs = map.audio.input_channels;
  check(map.audio.audio_in, inputs, "audio.audio_in");
  for (int channel : map.audio.audio_out)
    check(channel, map.audio.output_channels, "audio.audio_out");
  for (const auto& d : map.descriptors)
    check(d.cv.channel, inputs, "descriptors." + d.name + ".cv");
  check(map.follow_gate.channel, inputs, "gates.follow");
  check(map.phrase_gate.channel, inputs, "gates.phrase");
}

void read_gates(const JsonReader& reader, const json& value, ControlMap& map) {
  reader.expect_object(value, "gates", {"follow", "phrase"});
  if (value.contains("follow"))
    map.follow_gate = channel_source(reader, value["follow"], "gates.follow");
  if (value.contains("phrase"))
    map.phrase_gate = channel_source(reader, value["phrase"], "gates.phrase");
}

}  // namespace

ControlMap parse_control_map(const std::string& text, const std::string& file) {
  const JsonReader reader(file);
  const json root = reader.parse(text);
  reader.expect_object(root, "",
                       {"model", "audio", "convention", "mode", "threaded_block", "temperature",
                        "seed", "descriptors", "gates"});
  ControlMap map;
  map.file = file;
  if (root.contains("model")) {
    const std::filesystem::path model = reader.string(root["model"], "model");
    map.model = model.is_absolute() || file.empty()
                    ? model.string()
                    : (std::filesystem::path(file).parent_path() / model).string();
  }
  if (root.contains("audio")) map.audio = audio_map(reader, root["audio"]);
  if (root.contains("convention")) map.convention = convention(reader, root["convention"]);
  if (root.contains("mode")) map.mode = mode(reader, root["mode"]);
  if (root.contains("threaded_block"))
    map.threaded_block =
        reader.integer(root["threaded_block"], "threaded_block", 0, Player::kMaxBlock);
  if (root.contains("temperature"))
    map.temperature = static_cast<float>(reader.number(root["temperature"], "temperature", 0, 10));
  if (root.contains("seed"))
    map.seed = static_cast<uint32_t>(reader.number(root["seed"], "seed", 0, 4294967295.0));
  if (root.contains("descriptors")) {
    const json& descriptors = root["descriptors"];
    if (!descriptors.is_object())
      reader.fail("descriptors", "expected an object: descriptor name -> its controls");
    for (const auto& item : descriptors.items())
      map.descriptors.push_back(
          descriptor_map(reader, item.key(), item.value(), "descriptors." + item.key()));
  }
  if (root.contains("gates")) read_gates(reader, root["gates"], map);
  check_channels(reader, map);
  return map;
}

ControlMap read_control_map(const std::string& path) {
  return parse_control_map(JsonReader::read_text(path), path);
}

ControlMap default_control_map(const ModelInfo& model) {
  ControlMap map;
  const int n = static_cast<int>(model.descriptors.size());
  for (int d = 0; d < n; ++d) {
    DescriptorMap descriptor;
    descriptor.name = model.descriptors[d].name;
    descriptor.knob.hardware = d;
    descriptor.cv.channel = d + 1;
    map.descriptors.push_back(descriptor);
  }
  map.follow_gate.channel = n + 1;
  map.phrase_gate.channel = n + 2;
  map.audio.input_channels = n + 3;
  return map;
}

void check_against_model(const ControlMap& map, const ModelInfo& model) {
  const std::string file = map.file.empty() ? "(built-in control map)" : map.file;
  for (const auto& d : map.descriptors) {
    if (model.descriptor_index(d.name) >= 0) continue;
    throw MapError(file,
                   "descriptors." + d.name + ": " + messages::no_such_descriptor(model, d.name));
  }
  if (map.mode == VoiceMode::generate && !model.has_prior)
    throw MapError(file, "mode: generate: " + messages::no_prior(model));
}

}  // namespace neurorave::module
