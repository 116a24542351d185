#include "model_file.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "neurorave/error.hpp"

namespace neurorave {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the safetensors limit
constexpr const char* kMetadataKey = "neurorave";

std::vector<char> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(path, "cannot open file");
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

uint64_t read_le64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

}  // namespace

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

void ModelFile::fail(const std::string& problem) const { throw ModelError(path_, problem); }

ModelFile ModelFile::read(const std::string& path) {
  ModelFile file;
  file.path_ = path;
  const std::vector<char> bytes = read_whole_file(path);
  if (bytes.size() < 8) file.fail("truncated file: " + std::to_string(bytes.size()) +
                                  " bytes, too short for a safetensors header");
  const uint64_t header_size = read_le64(bytes.data());
  if (header_size == 0 || header_size > kMaxHeaderBytes || header_size > bytes.size() - 8)
    file.fail("header length " + std::to_string(header_size) + " does not fit in a file of " +
              std::to_string(bytes.size()) + " bytes (truncated or not a safetensors file)");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + header_size);
  } catch (const nlohmann::json::exception& e) {
    file.fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) file.fail("header is not a JSON object");

  const char* data = bytes.data() + 8 + header_size;
  const uint64_t data_size = bytes.size() - 8 - header_size;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const auto where = "tensor '" + name + "': ";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets"))
      file.fail(where + "entry lacks dtype, shape or data_offsets");
    if (entry["dtype"] != "F32")
      file.fail(where + "dtype " + entry["dtype"].dump() + " is not supported (only F32)");
    TensorData tensor;
    uint64_t count = 1;
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_integer() || dim.get<int64_t>() < 0 ||
          (dim.get<uint64_t>() > 0 && count > data_size / sizeof(float) / dim.get<uint64_t>()))
        file.fail(where + "bad shape");  // negative, or more values than the data section holds
      tensor.shape.push_back(dim.get<int64_t>());
      count *= static_cast<uint64_t>(dim.get<int64_t>());
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      file.fail(where + "data_offsets must be two unsigned integers");
    const uint64_t begin = offsets[0], end = offsets[1];
    if (begin > end || end > data_size)
      file.fail(where + "data offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                ") lie outside the " + std::to_string(data_size) +
                "-byte data section (truncated file or lying header)");
    if (end - begin != count * sizeof(float))
      file.fail(where + "data offsets span " + std::to_string(end - begin) +
                " bytes but shape " + shape_to_string(tensor.shape) + " needs " +
                std::to_string(count * sizeof(float)));
    tensor.values.resize(count);
    if (count) std::memcpy(tensor.values.data(), data + begin, count * sizeof(float));
    for (const float v : tensor.values)
      if (!std::isfinite(v)) file.fail(where + "contains NaN or Inf");
    file.tensors_.emplace(name, std::move(tensor));
  }

  const auto metadata = header.find("__metadata__");
  if (metadata == header.end() || !metadata->is_object() || !metadata->contains(kMetadataKey) ||
      !(*metadata)[kMetadataKey].is_string())
    file.fail("no NeuroRave description in __metadata__ (not a NeuroRave model)");
  try {
    file.description_ = nlohmann::json::parse((*metadata)[kMetadataKey].get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    file.fail(std::string("model description is not valid JSON: ") + e.what());
  }
  return file;
}

const TensorData& ModelFile::tensor(const std::string& name,
                                    const std::vector<int64_t>& shape) const {
  const auto found = tensors_.find(name);
  if (found == tensors_.end()) fail("missing tensor '" + name + "'");
  if (found->second.shape != shape)
    fail("tensor '" + name + "' has shape " + shape_to_string(found->second.shape) +
         ", expected " + shape_to_string(shape));
  return found->second;
}

}  // namespace neurorave
