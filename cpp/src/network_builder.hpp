#pragma once
// Builds streaming layers from the model description, checking that every tensor
// exists with the right shape and that channel counts chain.

#include <cstdint>
#include <memory>
#include <string>

#include "layers/conv1d.hpp"
#include "layers/conv_transpose1d.hpp"
#include "layers/sequence.hpp"
#include "model_file.hpp"

namespace neurorave {

// Whether a model of `weight_bytes` (its tensors as stored) plays with its weights streamed
// from memory, fetched ahead (gemm_tile.hpp, prefetch_ahead).
bool streams_weights(uint64_t weight_bytes);

class NetworkBuilder {
 public:
  explicit NetworkBuilder(const ModelFile& file);

  // A list of ops ("conv", "conv_transpose", "leaky_relu", "residual", "waveform_head").
  std::unique_ptr<Sequence> sequence(const nlohmann::json& ops, int in_channels,
                                     const std::string& where);
  std::unique_ptr<Conv1d> conv(const nlohmann::json& op, int in_channels, const std::string& where);
  std::unique_ptr<ConvTranspose1d> conv_transpose(const nlohmann::json& op, int in_channels,
                                                  const std::string& where);

 private:
  std::unique_ptr<Layer> layer(const nlohmann::json& op, int in_channels, const std::string& where);
  const float* bias(const nlohmann::json& op, int out);
  WeightLayout layout(const TensorData& weight) const;
  // op[key], an integer from low to high.
  int bounded(const nlohmann::json& op, const char* key, int64_t low, int64_t high,
              const std::string& where) const;
  // op[key] from 1 to high, 1 when absent.
  int optional(const nlohmann::json& op, const char* key, int64_t high,
               const std::string& where) const;
  void check_history(int64_t channels, int64_t history, const std::string& where) const;

  const ModelFile& file_;
  const bool streamed_;  // the model's weights are too many to stay in cache between calls
  int ops_ = 0;          // built so far, every sequence together
  int depth_ = 0;        // of residuals
};

}  // namespace neurorave
