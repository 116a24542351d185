#include "prior.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "model_limits.hpp"

namespace neurorave {

namespace {

Matrix matrix(const ModelFile& file, const std::string& name, int64_t rows, int64_t cols) {
  // safetensors stores torch's row-major (rows x cols); Eigen here is column-major.
  const TensorData& t = file.tensor(name, {rows, cols});
  return Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      t.values.data(), rows, cols);
}

Vector vector(const ModelFile& file, const std::string& name, int64_t size) {
  const TensorData& t = file.tensor(name, {size});
  return Eigen::Map<const Vector>(t.values.data(), size);
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

std::unique_ptr<Prior> Prior::read(const ModelFile& file, int latent_size, int descriptors) {
  const auto& section = file.description().at("prior");
  if (!section.is_object() || section.value("type", "") != "gru")
    file.fail("the prior section must be an object of type \"gru\"");
  const int hidden = file.integer(section, "hidden", 1, limits::kMaxPriorHidden, "prior");
  const int count = file.integer(section, "layers", 1, limits::kMaxPriorLayers, "prior");
  auto prior = std::make_unique<Prior>();
  prior->latent_size_ = latent_size;
  prior->descriptors_ = descriptors;
  const int frame = latent_size + descriptors;
  for (int l = 0; l < count; ++l) {
    const std::string suffix = "_l" + std::to_string(l);
    GruLayer layer;
    layer.input_weights =
        matrix(file, "prior.gru.weight_ih" + suffix, 3 * hidden, l == 0 ? frame : hidden);
    layer.hidden_weights = matrix(file, "prior.gru.weight_hh" + suffix, 3 * hidden, hidden);
    layer.input_bias = vector(file, "prior.gru.bias_ih" + suffix, 3 * hidden);
    layer.hidden_bias = vector(file, "prior.gru.bias_hh" + suffix, 3 * hidden);
    layer.state = Vector::Zero(hidden);
    layer.input_gates = Vector::Zero(3 * hidden);
    layer.hidden_gates = Vector::Zero(3 * hidden);
    prior->layers_.push_back(std::move(layer));
  }
  prior->head_weights = matrix(file, "prior.head.weight", 2 * frame, hidden);
  prior->head_bias = vector(file, "prior.head.bias", 2 * frame);
  prior->head_out = Vector::Zero(2 * frame);
  prior->previous_ = Vector::Zero(frame);
  return prior;
}

void Prior::reset() {
  for (auto& layer : layers_) layer.state.setZero();
  previous_.setZero();
}

void Prior::gru_step(GruLayer& layer, const Vector& input) {
  const Eigen::Index h = layer.state.size();
  layer.input_gates.noalias() = layer.input_weights * input;
  layer.input_gates += layer.input_bias;
  layer.hidden_gates.noalias() = layer.hidden_weights * layer.state;
  layer.hidden_gates += layer.hidden_bias;
  for (Eigen::Index i = 0; i < h; ++i) {
    const float reset = sigmoid(layer.input_gates[i] + layer.hidden_gates[i]);
    const float update = sigmoid(layer.input_gates[h + i] + layer.hidden_gates[h + i]);
    const float candidate =
        std::tanh(layer.input_gates[2 * h + i] + reset * layer.hidden_gates[2 * h + i]);
    layer.state[i] = (1.0f - update) * candidate + update * layer.state[i];
  }
}

void Prior::step(const float* noise, float temperature, float* frame) {
  const Vector* input = &previous_;
  for (auto& layer : layers_) {
    gru_step(layer, *input);
    input = &layer.state;
  }
  head_out.noalias() = head_weights * *input;
  head_out += head_bias;
  const int size = frame_size();
  for (int i = 0; i < size; ++i) {
    const float log_scale = std::clamp(head_out[size + i], kMinLogScale, kMaxLogScale);
    float value = head_out[i] + temperature * std::exp(log_scale) * noise[i];
    if (i >= latent_size_) value = std::clamp(value, -1.0f, 1.0f);
    previous_[i] = value;
    frame[i] = value;
  }
}

}  // namespace neurorave
