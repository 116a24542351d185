// Engine semantics beyond the layers: how the entry points relate, the layout of the
// controls, and where the noise counter starts for each kind of stream.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "layers/noise.hpp"
#include "neurorave/engine.hpp"
#include "test_model_writer.hpp"

using neurorave::Engine;
using neurorave::StreamKind;
using neurorave_tests::json;
using neurorave_tests::ModelSpec;
using neurorave_tests::TempFile;

namespace {

float largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float worst = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

float peak(const std::vector<float>& a) {
  float p = 0.0f;
  for (const float v : a) p = std::max(p, std::abs(v));
  return p;
}

// A model whose sound is its noise alone, laid out so that it can be checked by hand:
// 2 bands, compression 2. The decoder is one pointwise conv with zero weights and a
// bias that sets wave 0, amplitude 0 and noise gain 5, so band b at frame t is
// sigmoid(0) * hash_noise(counter + t, b) = hash_noise(counter + t, b) / 2; the
// synthesis puts band b at audio sample 2t + b.
ModelSpec noise_only_model(int noise_lead) {
  ModelSpec spec;
  const auto tensor = [&](const std::string& name, std::vector<int64_t> shape,
                          std::vector<float> values) {
    spec.tensors[name] = {std::move(shape), std::move(values)};
  };
  tensor("pqmf.analysis.weight", {2, 1, 2}, {0.5f, 0.5f, -0.5f, 0.5f});
  tensor("pqmf.synthesis.weight", {2, 1, 2}, {1, 0, 0, 1});
  tensor("encoder.0.weight", {1, 2, 1}, {1, 1});
  tensor("decoder.0.weight", {6, 2, 1}, std::vector<float>(12, 0.0f));
  tensor("decoder.0.bias", {6}, {0, 0, 0, 0, 5, 5});
  const auto conv = [](const std::string& name, int in, int out, int kernel, int stride,
                       bool bias) {
    return json{{"op", "conv"},  {"name", name},     {"in", in},
                {"out", out},    {"kernel", kernel}, {"stride", stride},
                {"dilation", 1}, {"groups", 1},      {"bias", bias}};
  };
  spec.description = {
      {"format_version", 1},
      {"architecture", "noise-only"},
      {"sample_rate", 8000},
      {"compression", 2},
      {"latent_size", 1},
      {"causal", true},
      {"latency", {{"encode_frames", 0}, {"decode_samples", 0}, {"forward_samples", 0}}},
      {"noise_lead", noise_lead},
      {"descriptors", {{{"name", "x"}, {"unit", ""}, {"range", {0.0, 1.0}}}}},
      {"pqmf",
       {{"bands", 2},
        {"analysis", conv("pqmf.analysis", 1, 2, 2, 2, false)},
        {"synthesis",
         {{"op", "conv_transpose"},
          {"name", "pqmf.synthesis"},
          {"in", 2},
          {"out", 1},
          {"kernel", 2},
          {"stride", 2},
          {"bias", false}}}}},
      {"encoder", json::array({conv("encoder.0", 2, 1, 1, 1, false)})},
      {"decoder", json::array({conv("decoder.0", 2, 6, 1, 1, true),
                               {{"op", "waveform_head"}, {"bands", 2}, {"noise", true}}})},
  };
  return spec;
}

}  // namespace

TEST_SUITE("engine") {
  TEST_CASE("forward is encode then decode") {
    const TempFile file("engine_forward.nrv");
    file.write(neurorave_tests::test_model());
    auto a = Engine::load(file.path(), 8);
    auto b = Engine::load(file.path(), 8);
    const auto& info = a->info();
    const int frames = 8, samples = frames * info.compression;
    const auto in = neurorave_tests::test_signal(5 * samples);
    std::vector<float> out_a(samples), out_b(samples), z(frames * info.latent_size);
    b->reset(StreamKind::forward);
    for (int call = 0; call < 5; ++call) {
      a->forward(in.data() + call * samples, nullptr, frames, out_a.data());
      b->encode(in.data() + call * samples, frames, z.data());
      b->decode(z.data(), nullptr, frames, out_b.data());
      CAPTURE(call);
      CHECK(out_a == out_b);
    }
    CHECK(peak(out_a) > 0.01f);
  }

  TEST_CASE("no controls means every descriptor at the centre of its range") {
    const TempFile file("engine_centre.nrv");
    file.write(neurorave_tests::test_model());
    auto engine = Engine::load(file.path(), 16);
    const auto& info = engine->info();
    const int frames = 16;
    std::vector<float> z(frames * info.latent_size);
    neurorave_tests::WeightSource source(8);
    for (float& v : z) v = source.next(2.0f);
    std::vector<float> centres;
    for (int t = 0; t < frames; ++t)
      for (const auto& d : info.descriptors) centres.push_back(d.centre());
    std::vector<float> a(frames * info.compression), b(a.size());
    engine->reset(StreamKind::decode);
    engine->decode(z.data(), nullptr, frames, a.data());
    engine->reset(StreamKind::decode);
    engine->decode(z.data(), centres.data(), frames, b.data());
    CHECK(a == b);
  }

  TEST_CASE("controls are laid out frame after frame") {
    const TempFile file("engine_controls.nrv");
    file.write(neurorave_tests::test_model());
    auto engine = Engine::load(file.path(), 16);
    const auto& info = engine->info();
    const int frames = 16, descriptors = static_cast<int>(info.descriptors.size());
    std::vector<float> z(frames * info.latent_size);
    neurorave_tests::WeightSource source(9);
    for (float& v : z) v = source.next(2.0f);
    // Each descriptor sweeps its range, the two in opposite directions.
    std::vector<float> controls(frames * descriptors);
    for (int t = 0; t < frames; ++t)
      for (int d = 0; d < descriptors; ++d) {
        const auto& desc = info.descriptors[d];
        const float x = static_cast<float>(d == 0 ? t : frames - 1 - t) / (frames - 1);
        controls[t * descriptors + d] = desc.minimum + x * (desc.maximum - desc.minimum);
      }
    // All frames in one call ...
    std::vector<float> whole(frames * info.compression), single(whole.size());
    engine->reset(StreamKind::decode);
    engine->decode(z.data(), controls.data(), frames, whole.data());
    // ... and one frame a call, each with its own controls.
    engine->reset(StreamKind::decode);
    for (int t = 0; t < frames; ++t)
      engine->decode(z.data() + t * info.latent_size, controls.data() + t * descriptors, 1,
                     single.data() + t * info.compression);
    INFO("largest difference " << largest_difference(whole, single) << ", peak " << peak(whole));
    // Equal but for float rounding (Eigen adds in another order for one column).
    CHECK(largest_difference(whole, single) <= 1e-6f);
    CHECK(peak(whole) > 0.01f);
  }

  TEST_CASE("reset() forgets everything") {
    const TempFile file("engine_reset.nrv");
    file.write(neurorave_tests::test_model());
    auto engine = Engine::load(file.path(), 8);
    const int samples = 8 * engine->info().compression;
    const auto in = neurorave_tests::test_signal(3 * samples);
    std::vector<float> first(in.size()), second(in.size());
    for (int call = 0; call < 3; ++call)
      engine->forward(in.data() + call * samples, nullptr, 8, first.data() + call * samples);
    engine->reset();
    for (int call = 0; call < 3; ++call)
      engine->forward(in.data() + call * samples, nullptr, 8, second.data() + call * samples);
    CHECK(first == second);
  }

  TEST_CASE("the noise counter starts at 0 for decode and at -noise_lead for forward") {
    const int lead = 5;
    const TempFile file("engine_noise.nrv");
    file.write(noise_only_model(lead));
    auto engine = Engine::load(file.path(), 4);
    REQUIRE(engine->info().compression == 2);
    REQUIRE(engine->info().bands == 2);
    CHECK(engine->info().noise);
    const auto expected = [](int64_t first_index, size_t samples) {
      std::vector<float> audio(samples);
      for (size_t n = 0; n < samples; ++n)
        audio[n] = 0.5f * neurorave::hash_noise(first_index + static_cast<int64_t>(n / 2),
                                                static_cast<int>(n % 2));
      return audio;
    };
    const std::vector<float> z(4, 0.3f), in(24, 0.25f);
    std::vector<float> out(24);

    SUBCASE("decode") {
      engine->reset(StreamKind::decode);
      for (int call = 0; call < 3; ++call)
        engine->decode(z.data(), nullptr, 4, out.data() + 8 * call);
      CHECK(out == expected(0, 24));
      // The first samples are the torch reference's hash_noise([0, 1, 2], bands=2).
      CHECK(out[0] == 0.5f * 0.026625633239746094f);
      CHECK(out[1] == 0.5f * -0.23272061347961426f);
      CHECK(out[2] == 0.5f * -0.9278180599212646f);
      CHECK(out[5] == 0.5f * -0.8724042177200317f);
    }
    SUBCASE("forward") {
      engine->reset(StreamKind::forward);
      for (int call = 0; call < 3; ++call)
        engine->forward(in.data() + 8 * call, nullptr, 4, out.data() + 8 * call);
      CHECK(out == expected(-lead, 24));
      CHECK(out[0] == 0.5f * -0.9154247045516968f);  // hash_noise(-5, 0)
      CHECK(out[1] == 0.5f * 0.20490658283233643f);  // hash_noise(-5, 1)
    }
    SUBCASE("load starts a forward stream") {
      for (int call = 0; call < 3; ++call)
        engine->forward(in.data() + 8 * call, nullptr, 4, out.data() + 8 * call);
      CHECK(out == expected(-lead, 24));
    }
  }

}  // TEST_SUITE
