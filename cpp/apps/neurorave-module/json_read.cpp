#include "json_read.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

namespace neurorave::module {

std::string join_key(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

void JsonReader::fail(const std::string& where, const std::string& problem) const {
  throw MapError(file_, where.empty() ? problem : where + ": " + problem);
}

std::string JsonReader::read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw MapError(path, "cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw MapError(path, "cannot read the file");
  return text.str();
}

nlohmann::json JsonReader::parse(const std::string& text) const {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    fail("", std::string("not valid JSON (") + error.what() + ")");
  }
}

void JsonReader::expect_object(const nlohmann::json& value, const std::string& where,
                               std::initializer_list<const char*> allowed) const {
  if (!value.is_object()) fail(where, "expected an object, got " + value.dump());
  for (const auto& item : value.items()) {
    bool known = false;
    for (const char* key : allowed) known |= item.key() == key;
    if (!known) {
      std::string keys;
      for (const char* key : allowed) keys += std::string(keys.empty() ? "" : ", ") + key;
      fail(join_key(where, item.key()), "unknown key (expected one of: " + keys + ")");
    }
  }
}

double JsonReader::number(const nlohmann::json& value, const std::string& where, double low,
                          double high) const {
  if (!value.is_number()) fail(where, "expected a number, got " + value.dump());
  const double number = value.get<double>();
  if (!std::isfinite(number) || number < low || number > high) {
    std::ostringstream range;
    range << "value " << value.dump() << " is outside " << low << " .. " << high;
    fail(where, range.str());
  }
  return number;
}

int JsonReader::integer(const nlohmann::json& value, const std::string& where, int low,
                        int high) const {
  if (!value.is_number_integer()) fail(where, "expected an integer, got " + value.dump());
  return static_cast<int>(number(value, where, low, high));
}

std::string JsonReader::string(const nlohmann::json& value, const std::string& where) const {
  if (!value.is_string()) fail(where, "expected a string, got " + value.dump());
  return value.get<std::string>();
}

}  // namespace neurorave::module
