#pragma once
// Reads an .nrv file (safetensors + JSON description) and checks every byte of it
// before anything is built from it. Sizes are checked against the file's length before
// anything is read, and nothing beyond the header and the tensors it names is read.

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace neurorave {

struct TensorEntry;

struct TensorData {
  std::vector<int64_t> shape;
  std::vector<float> values;  // widened to float when the file stores binary16
  bool half = false;          // stored as F16
};

class ModelFile {
 public:
  static ModelFile read(const std::string& path);

  const std::string& path() const { return path_; }
  const nlohmann::json& description() const { return description_; }
  bool has_half_tensors() const;
  // The bytes every tensor takes as stored (2 per binary16 value, 4 per float).
  uint64_t stored_bytes() const;

  // The tensor `name`, which must have exactly `shape`.
  const TensorData& tensor(const std::string& name, const std::vector<int64_t>& shape) const;

  [[noreturn]] void fail(const std::string& problem) const;
  // object[key], an integer from low to high, or a failure naming `where` and the key.
  int integer(const nlohmann::json& object, const char* key, int64_t low, int64_t high,
              const std::string& where) const;

 private:
  std::ifstream open(uint64_t& size) const;
  void read_bytes(std::ifstream& in, uint64_t offset, char* into, uint64_t count) const;
  nlohmann::json read_header(std::ifstream& in, uint64_t file_size, uint64_t& header_size) const;
  TensorEntry tensor_entry(const std::string& name, const nlohmann::json& entry,
                           uint64_t data_size) const;
  void read_tensor(std::ifstream& in, uint64_t data_start, const TensorEntry& entry);
  nlohmann::json read_description(const nlohmann::json& header) const;

  std::string path_;
  nlohmann::json description_;
  std::map<std::string, TensorData> tensors_;
};

std::string shape_to_string(const std::vector<int64_t>& shape);

}  // namespace neurorave
