#pragma once
// Reads an .nrv file (safetensors + JSON description) and checks every byte of it
// before anything is built from it.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace neurorave {

struct TensorData {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

class ModelFile {
 public:
  static ModelFile read(const std::string& path);

  const std::string& path() const { return path_; }
  const nlohmann::json& description() const { return description_; }

  // The tensor `name`, which must have exactly `shape`.
  const TensorData& tensor(const std::string& name, const std::vector<int64_t>& shape) const;

  [[noreturn]] void fail(const std::string& problem) const;

 private:
  std::string path_;
  nlohmann::json description_;
  std::map<std::string, TensorData> tensors_;
};

std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace neurorave
