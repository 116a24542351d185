#pragma once
// Reading checked values out of the module's JSON files: every problem becomes a
// MapError naming the file and the key path ("descriptors.rms.cv.channel: ...").

#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

#include "control_map.hpp"

namespace neurorave::module {

class JsonReader {
 public:
  explicit JsonReader(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }
  [[noreturn]] void fail(const std::string& where, const std::string& problem) const;

  // The whole text as JSON (syntax errors name the byte).
  nlohmann::json parse(const std::string& text) const;
  // The file's text; a missing or unreadable file is named.
  static std::string read_text(const std::string& path);

  // `value` must be an object with no keys outside `allowed` (typos are errors).
  void expect_object(const nlohmann::json& value, const std::string& where,
                     std::initializer_list<const char*> allowed) const;
  double number(const nlohmann::json& value, const std::string& where, double low,
                double high) const;
  int integer(const nlohmann::json& value, const std::string& where, int low, int high) const;
  std::string string(const nlohmann::json& value, const std::string& where) const;

 private:
  std::string file_;
};

// "a.b" for nested keys; just "b" at the top.
std::string join_key(const std::string& where, const std::string& key);

}  // namespace neurorave::module
