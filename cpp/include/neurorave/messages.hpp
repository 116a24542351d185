#pragma once
// What every host says to its user about a model, in one place: Pd, VCV Rack, the
// module program and Python word these alike (each adds its own prefix).

#include <string>

#include "neurorave/model_info.hpp"

namespace neurorave::messages {

// "PATH: the model has no descriptor 'NAME'; it has: rms, centroid, ..."
std::string no_such_descriptor(const ModelInfo& model, const std::string& name);
// "PATH: the model has no prior to generate with (fit one with ... and export again)"
std::string no_prior(const ModelInfo& model);
// "PATH: the model runs at 44100 Hz but HOST at 48000 Hz (no resampling)"
std::string rate_mismatch(const ModelInfo& model, double host_rate, const std::string& host);
// The short form a panel shows: "set the engine to 44100 Hz".
std::string rate_hint(const ModelInfo& model);

}  // namespace neurorave::messages
