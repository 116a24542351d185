#include "control_script.hpp"

#include "json_read.hpp"

namespace neurorave::module {

namespace {

using nlohmann::json;

constexpr double kMaxSeconds = 24 * 3600.0;

int index_key(const JsonReader& reader, const std::string& key, const std::string& where) {
  size_t used = 0;
  int index = -1;
  try {
    index = std::stoi(key, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != key.size() || index < 0 || index > 63)
    reader.fail(where, "key \"" + key + "\" is not an index 0..63");
  return index;
}

// [[time, value], ...] with increasing times.
Curve curve(const JsonReader& reader, const json& value, const std::string& where, double low,
            double high) {
  if (!value.is_array() || value.empty())
    reader.fail(where, "expected a list of [seconds, value] keyframes");
  std::vector<Keyframe> keys;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!value[i].is_array() || value[i].size() != 2)
      reader.fail(at, "expected [seconds, value], got " + value[i].dump());
    const double time = reader.number(value[i][0], at, 0.0, kMaxSeconds);
    if (!keys.empty() && time <= keys.back().time) reader.fail(at, "keyframe times must increase");
    keys.push_back({time, static_cast<float>(reader.number(value[i][1], at, low, high))});
  }
  return Curve(std::move(keys));
}

std::vector<Pulse> pulses(const JsonReader& reader, const json& value, const std::string& where) {
  if (!value.is_array()) reader.fail(where, "expected a list of [start, length] pulses");
  std::vector<Pulse> pulses;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!value[i].is_array() || value[i].size() != 2)
      reader.fail(at, "expected [start seconds, length seconds], got " + value[i].dump());
    pulses.push_back({reader.number(value[i][0], at, 0.0, kMaxSeconds),
                      reader.number(value[i][1], at, 0.0, kMaxSeconds)});
  }
  return pulses;
}

std::map<int, Curve> curves(const JsonReader& reader, const json& value, const std::string& where,
                            double low, double high) {
  if (!value.is_object()) reader.fail(where, "expected an object: index -> keyframes");
  std::map<int, Curve> curves;
  for (const auto& item : value.items()) {
    const std::string at = join_key(where, item.key());
    curves.emplace(index_key(reader, item.key(), at), curve(reader, item.value(), at, low, high));
  }
  return curves;
}

}  // namespace

float Curve::at(double time) const {
  if (time <= keys_.front().time) return keys_.front().value;
  if (time >= keys_.back().time) return keys_.back().value;
  size_t next = 1;
  while (keys_[next].time < time) ++next;
  const Keyframe& a = keys_[next - 1];
  const Keyframe& b = keys_[next];
  const double t = (time - a.time) / (b.time - a.time);
  return static_cast<float>(a.value + t * (b.value - a.value));
}

float ControlScript::gate_at(int channel, double time) const {
  const auto found = gates.find(channel);
  if (found == gates.end()) return 0.0f;
  for (const Pulse& pulse : found->second)
    if (time >= pulse.start && time < pulse.start + pulse.length) return gate_volts;
  return 0.0f;
}

ControlScript parse_control_script(const std::string& text, const std::string& file) {
  const JsonReader reader(file);
  const json root = reader.parse(text);
  reader.expect_object(root, "", {"block", "gate_volts", "knobs", "cv", "gates", "loads"});
  ControlScript script;
  script.file = file;
  if (root.contains("block")) script.block = reader.integer(root["block"], "block", 1, 8192);
  if (root.contains("gate_volts"))
    script.gate_volts = static_cast<float>(reader.number(root["gate_volts"], "gate_volts", 0, 12));
  if (root.contains("knobs")) script.knobs = curves(reader, root["knobs"], "knobs", 0.0, 1.0);
  if (root.contains("cv")) script.cv = curves(reader, root["cv"], "cv", -12.0, 12.0);
  if (root.contains("loads")) {
    const json& loads = root["loads"];
    if (!loads.is_array()) reader.fail("loads", "expected a list of [seconds, model path]");
    for (size_t i = 0; i < loads.size(); ++i) {
      const std::string at = "loads[" + std::to_string(i) + "]";
      if (!loads[i].is_array() || loads[i].size() != 2)
        reader.fail(at, "expected [seconds, model path], got " + loads[i].dump());
      const double time = reader.number(loads[i][0], at, 0.0, kMaxSeconds);
      if (!script.loads.empty() && time < script.loads.back().time)
        reader.fail(at, "load times must not decrease");
      script.loads.push_back({time, reader.string(loads[i][1], at)});
    }
  }
  if (root.contains("gates")) {
    const json& gates = root["gates"];
    if (!gates.is_object()) reader.fail("gates", "expected an object: channel -> pulses");
    for (const auto& item : gates.items()) {
      const std::string at = join_key("gates", item.key());
      script.gates[index_key(reader, item.key(), at)] = pulses(reader, item.value(), at);
    }
  }
  return script;
}

ControlScript read_control_script(const std::string& path) {
  return parse_control_script(JsonReader::read_text(path), path);
}

}  // namespace neurorave::module
