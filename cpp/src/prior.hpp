#pragma once
// The optional prior: a GRU that plays latent frames and normalised descriptor values
// together, one frame per step, so a model can make sound with no input.
//
// One step reads the previous frame x (zeros at a phrase's start) and returns the next:
//   h_l = GRU_l(h_l, input_l)        input_0 = x, input_l = h_(l-1)
//   mean, log_scale = head(h_top)    log_scale clamped to [kMinLogScale, kMaxLogScale]
//   x = mean + temperature * exp(log_scale) * noise, descriptors clamped to [-1, 1]
// python/neurorave/nn/prior.py is the reference; tests hold the two equal.

#include <memory>
#include <vector>

#include "layers/layer.hpp"
#include "model_file.hpp"

namespace neurorave {

class Prior {
 public:
  static constexpr float kMinLogScale = -7.0f;
  static constexpr float kMaxLogScale = 2.0f;

  // Reads the description's "prior" section and the prior.* tensors, or fails naming
  // the file and the problem. `frame_size`: latent size + descriptors.
  static std::unique_ptr<Prior> read(const ModelFile& file, int latent_size, int descriptors);

  int frame_size() const { return latent_size_ + descriptors_; }
  // Real-time safe: `noise` holds frame_size() standard normal draws; writes frame_size()
  // values, the latent frame then the normalised descriptors.
  void step(const float* noise, float temperature, float* frame);
  void reset();  // a new phrase: zero state, zero previous frame

 private:
  struct GruLayer {
    Matrix input_weights;   // 3H x in, gates r, z, n as torch orders them
    Matrix hidden_weights;  // 3H x H
    Vector input_bias, hidden_bias;
    Vector state, input_gates, hidden_gates;  // H, 3H, 3H: sized at load
  };
  void gru_step(GruLayer& layer, const Vector& input);

  int latent_size_ = 0;
  int descriptors_ = 0;
  std::vector<GruLayer> layers_;
  Matrix head_weights;  // 2F x H
  Vector head_bias, head_out, previous_;
};

}  // namespace neurorave
