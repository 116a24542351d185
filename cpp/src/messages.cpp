#include "neurorave/messages.hpp"

#include <cmath>

namespace neurorave::messages {

std::string no_such_descriptor(const ModelInfo& model, const std::string& name) {
  std::string names;
  for (const auto& d : model.descriptors) names += (names.empty() ? "" : ", ") + d.name;
  return model.path + ": the model has no descriptor '" + name +
         "'; it has: " + (names.empty() ? "none" : names);
}

std::string no_prior(const ModelInfo& model) {
  return model.path +
         ": the model has no prior to generate with (fit one with "
         "`neurorave train-prior RUN` and export again)";
}

std::string rate_mismatch(const ModelInfo& model, double host_rate, const std::string& host) {
  return model.path + ": the model runs at " + std::to_string(model.sample_rate) + " Hz but " +
         host + " at " + std::to_string(std::lround(host_rate)) + " Hz (no resampling)";
}

std::string rate_hint(const ModelInfo& model) {
  return "set the engine to " + std::to_string(model.sample_rate) + " Hz";
}

}  // namespace neurorave::messages
