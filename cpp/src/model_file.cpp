#include "model_file.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include <Eigen/Core>

#include "model_limits.hpp"
#include "neurorave/error.hpp"

namespace neurorave {

static_assert(sizeof(Eigen::half) == 2, "F16 tensors are read straight into Eigen::half");

namespace {

constexpr const char* kMetadataKey = "neurorave";

uint64_t read_le64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

}  // namespace

// Where a tensor's values lie in the data section, checked against its shape.
struct TensorEntry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t begin = 0, count = 0;
  bool half = false;  // F16: binary16 values, widened to float as they are read
  uint64_t bytes() const { return count * (half ? 2 : sizeof(float)); }
};

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

void ModelFile::fail(const std::string& problem) const { throw ModelError(path_, problem); }

int ModelFile::integer(const nlohmann::json& object, const char* key, int64_t low, int64_t high,
                       const std::string& where) const {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number_integer() ||
      object[key].get<int64_t>() < low || object[key].get<int64_t>() > high)
    fail(where + ": '" + key + "' must be an integer from " + std::to_string(low) + " to " +
         std::to_string(high));
  return object[key].get<int>();
}

std::ifstream ModelFile::open(uint64_t& size) const {
  std::error_code error;
  const auto status = std::filesystem::status(path_, error);
  if (error || !std::filesystem::exists(status)) fail("no such file");
  if (std::filesystem::is_directory(status)) fail("is a folder, not a model file");
  if (!std::filesystem::is_regular_file(status)) fail("is not a regular file");
  size = std::filesystem::file_size(path_, error);
  std::ifstream in(path_, std::ios::binary);
  if (error || !in) fail("cannot be read (permissions?)");
  return in;
}

void ModelFile::read_bytes(std::ifstream& in, uint64_t offset, char* into, uint64_t count) const {
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(into, static_cast<std::streamsize>(count));
  if (!in || static_cast<uint64_t>(in.gcount()) != count)
    fail("read failed at byte " + std::to_string(offset) + " (file changed while loading?)");
}

nlohmann::json ModelFile::read_header(std::ifstream& in, uint64_t file_size,
                                      uint64_t& header_size) const {
  if (file_size < 8)
    fail("truncated file: " + std::to_string(file_size) +
         " bytes, too short for a safetensors header");
  char length[8];
  read_bytes(in, 0, length, 8);
  header_size = read_le64(length);
  if (header_size == 0 || header_size > limits::kMaxHeaderBytes || header_size > file_size - 8)
    fail("header length " + std::to_string(header_size) + " does not fit in a file of " +
         std::to_string(file_size) + " bytes (truncated or not a safetensors file)");
  std::string text(header_size, '\0');
  read_bytes(in, 8, text.data(), header_size);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail("header is not a JSON object");
  return header;
}

ModelFile ModelFile::read(const std::string& path) {
  ModelFile file;
  file.path_ = path;
  uint64_t file_size = 0, header_size = 0;
  std::ifstream in = file.open(file_size);
  const nlohmann::json header = file.read_header(in, file_size, header_size);
  const uint64_t data_start = 8 + header_size, data_size = file_size - data_start;
  std::vector<TensorEntry> entries;
  uint64_t data_end = 0;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    entries.push_back(file.tensor_entry(name, entry, data_size));
    data_end = std::max(data_end, entries.back().begin + entries.back().bytes());
  }
  if (data_end != data_size)
    file.fail(std::to_string(data_size - data_end) +
              " bytes after the last tensor (a model file holds its tensors and nothing else)");
  for (const TensorEntry& entry : entries) file.read_tensor(in, data_start, entry);
  file.description_ = file.read_description(header);
  return file;
}

TensorEntry ModelFile::tensor_entry(const std::string& name, const nlohmann::json& entry,
                                    uint64_t data_size) const {
  const auto where = "tensor '" + name + "': ";
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets") || !entry["shape"].is_array())
    fail(where + "entry lacks dtype, shape or data_offsets");
  if (entry["dtype"] != "F32" && entry["dtype"] != "F16")
    fail(where + "dtype " + entry["dtype"].dump() + " is not supported (only F32 or F16)");
  TensorEntry tensor{name, {}, 0, 1, entry["dtype"] == "F16"};
  const uint64_t element_size = tensor.bytes();  // count is still 1
  for (const auto& dim : entry["shape"]) {
    if (!dim.is_number_integer() || dim.get<int64_t>() < 0 ||
        (dim.get<uint64_t>() > 0 && tensor.count > data_size / element_size / dim.get<uint64_t>()))
      fail(where + "bad shape");  // negative, or more values than the data section holds
    tensor.shape.push_back(dim.get<int64_t>());
    tensor.count *= static_cast<uint64_t>(dim.get<int64_t>());
  }
  const auto& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    fail(where + "data_offsets must be two unsigned integers");
  const uint64_t begin = offsets[0], end = offsets[1];
  if (begin > end || end > data_size)
    fail(where + "data offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
         ") lie outside the " + std::to_string(data_size) +
         "-byte data section (truncated file or lying header)");
  if (end - begin != tensor.bytes())
    fail(where + "data offsets span " + std::to_string(end - begin) + " bytes but shape " +
         shape_to_string(tensor.shape) + " needs " + std::to_string(tensor.bytes()));
  tensor.begin = begin;
  return tensor;
}

void ModelFile::read_tensor(std::ifstream& in, uint64_t data_start, const TensorEntry& entry) {
  TensorData tensor;
  tensor.shape = entry.shape;
  tensor.half = entry.half;
  tensor.values.resize(entry.count);
  if (entry.half) {
    std::vector<Eigen::half> stored(entry.count);
    read_bytes(in, data_start + entry.begin, reinterpret_cast<char*>(stored.data()), entry.bytes());
    std::transform(stored.begin(), stored.end(), tensor.values.begin(),
                   [](Eigen::half v) { return static_cast<float>(v); });
  } else {
    read_bytes(in, data_start + entry.begin, reinterpret_cast<char*>(tensor.values.data()),
               entry.bytes());
  }
  for (const float v : tensor.values)
    if (!(std::fabs(v) <= limits::kMaxWeightMagnitude))  // NaN fails this too
      fail("tensor '" + entry.name + "' holds " +
           (std::isfinite(v) ? "a value beyond ±1e6" : "NaN or Inf") +
           " (a broken export; trained weights are far smaller)");
  tensors_.emplace(entry.name, std::move(tensor));
}

nlohmann::json ModelFile::read_description(const nlohmann::json& header) const {
  const auto metadata = header.find("__metadata__");
  if (metadata == header.end() || !metadata->is_object() || !metadata->contains(kMetadataKey) ||
      !(*metadata)[kMetadataKey].is_string())
    fail("no NeuroRave description in __metadata__ (not a NeuroRave model)");
  try {
    return nlohmann::json::parse((*metadata)[kMetadataKey].get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("model description is not valid JSON: ") + e.what());
  }
}

bool ModelFile::has_half_tensors() const {
  return std::any_of(tensors_.begin(), tensors_.end(),
                     [](const auto& named) { return named.second.half; });
}

uint64_t ModelFile::stored_bytes() const {
  uint64_t bytes = 0;
  for (const auto& named : tensors_)
    bytes += named.second.values.size() * (named.second.half ? 2 : 4);
  return bytes;
}

const TensorData& ModelFile::tensor(const std::string& name,
                                    const std::vector<int64_t>& shape) const {
  const auto found = tensors_.find(name);
  if (found == tensors_.end()) fail("missing tensor '" + name + "'");
  if (found->second.shape != shape)
    fail("tensor '" + name + "' has shape " + shape_to_string(found->second.shape) + ", expected " +
         shape_to_string(shape));
  return found->second;
}

}  // namespace neurorave
