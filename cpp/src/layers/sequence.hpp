#pragma once
// Layers run one after the other.

#include <memory>
#include <vector>

#include "layers/layer.hpp"

namespace neurorave {

class Sequence final : public Layer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Layer>> layers) : layers_(std::move(layers)) {}

  Layer& back() { return *layers_.back(); }

  int in_channels() const override { return layers_.front()->in_channels(); }
  int out_channels() const override { return layers_.back()->out_channels(); }
  int out_frames(int frames) const override {
    for (const auto& layer : layers_) frames = layer->out_frames(frames);
    return frames;
  }
  int downsampling() const override {
    int factor = 1;
    for (const auto& layer : layers_) factor *= layer->downsampling();
    return factor;
  }
  int upsampling() const override {
    int factor = 1;
    for (const auto& layer : layers_) factor *= layer->upsampling();
    return factor;
  }
  void prepare(int max_in_frames) override {
    for (const auto& layer : layers_) {
      layer->prepare(max_in_frames);
      max_in_frames = layer->out_frames(max_in_frames);
    }
  }
  void reset() override {
    for (const auto& layer : layers_) layer->reset();
  }
  View process(const View& in) override {
    View signal = in;
    // Re-seating a Map with placement new is the documented Eigen idiom.
    for (const auto& layer : layers_) new (&signal) View(layer->process(signal));
    return signal;
  }

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
};

}  // namespace neurorave
