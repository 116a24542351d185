// The prior: loading, its GRU step against a plain transcription of torch's equations,
// and generation through the Player and the ModuleVoice.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "heap_watch.hpp"
#include "neurorave/engine.hpp"
#include "neurorave/error.hpp"
#include "neurorave/module_voice.hpp"
#include "neurorave/player.hpp"
#include "test_model_writer.hpp"

using neurorave::Engine;
using neurorave::ModuleVoice;
using neurorave::Player;
using neurorave::StreamKind;
using neurorave::VoiceMode;
using neurorave_tests::ModelSpec;
using neurorave_tests::TempFile;
using neurorave_tests::TestModelShape;

namespace {

constexpr int kFrame = TestModelShape::latent_size + TestModelShape::descriptors;

// torch.nn.GRU and the head, one step, in plain loops over the spec's tensors.
class ReferencePrior {
 public:
  explicit ReferencePrior(const ModelSpec& spec)
      : spec_(spec),
        hidden_(spec.description["prior"]["hidden"].get<int>()),
        layers_(spec.description["prior"]["layers"].get<int>()),
        state_(layers_, std::vector<float>(hidden_, 0.0f)),
        previous_(kFrame, 0.0f) {}

  std::vector<float> step(const std::vector<float>& noise, float temperature) {
    std::vector<float> input = previous_;
    for (int l = 0; l < layers_; ++l) {
      const std::string s = "_l" + std::to_string(l);
      const auto gi = affine("prior.gru.weight_ih" + s, "prior.gru.bias_ih" + s, input);
      const auto gh = affine("prior.gru.weight_hh" + s, "prior.gru.bias_hh" + s, state_[l]);
      for (int i = 0; i < hidden_; ++i) {
        const double r = 1.0 / (1.0 + std::exp(-(gi[i] + gh[i])));
        const double z = 1.0 / (1.0 + std::exp(-(gi[hidden_ + i] + gh[hidden_ + i])));
        const double n = std::tanh(gi[2 * hidden_ + i] + r * gh[2 * hidden_ + i]);
        state_[l][i] = static_cast<float>((1.0 - z) * n + z * state_[l][i]);
      }
      input = state_[l];
    }
    const auto out = affine("prior.head.weight", "prior.head.bias", input);
    for (int i = 0; i < kFrame; ++i) {
      const double log_scale = std::clamp(out[kFrame + i], -7.0, 2.0);
      double x = out[i] + temperature * std::exp(log_scale) * noise[i];
      if (i >= TestModelShape::latent_size) x = std::clamp(x, -1.0, 1.0);
      previous_[i] = static_cast<float>(x);
    }
    return previous_;
  }

 private:
  std::vector<double> affine(const std::string& weight, const std::string& bias,
                             const std::vector<float>& x) const {
    const auto& w = spec_.tensors.at(weight);
    const auto& b = spec_.tensors.at(bias);
    const auto rows = static_cast<size_t>(w.shape[0]), cols = static_cast<size_t>(w.shape[1]);
    std::vector<double> y(rows);
    for (size_t r = 0; r < rows; ++r) {
      double sum = b.values[r];
      for (size_t c = 0; c < cols; ++c) sum += double(w.values[r * cols + c]) * x[c];
      y[r] = sum;
    }
    return y;
  }

  const ModelSpec& spec_;
  int hidden_, layers_;
  std::vector<std::vector<float>> state_;
  std::vector<float> previous_;
};

std::vector<float> noise_for(int step) {
  std::vector<float> noise(kFrame);
  for (int i = 0; i < kFrame; ++i) noise[i] = std::sin(0.7f * step + 1.3f * i) * 1.5f;
  return noise;
}

std::vector<float> generate(Player& player, int samples, int block = 100) {
  std::vector<float> in(static_cast<size_t>(samples), 0.0f), out(in.size());
  for (int done = 0; done < samples; done += block)
    player.process(in.data() + done, out.data() + done, std::min(block, samples - done));
  return out;
}

double max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - b[i]));
  return worst;
}

}  // namespace

TEST_SUITE("prior") {
  TEST_CASE("a model says whether it carries a prior") {
    const TempFile with("with_prior.nrv"), without("without_prior.nrv");
    with.write(neurorave_tests::test_model_with_prior());
    without.write(neurorave_tests::test_model());
    CHECK(Engine::load(with.path())->info().has_prior);
    CHECK(!Engine::load(without.path())->info().has_prior);
    Player player(Engine::load(without.path()));
    CHECK(!player.set_generate(true));
    CHECK(!player.generating());
    ModuleVoice voice(std::make_unique<Player>(Engine::load(without.path())));
    CHECK(!voice.set_mode(VoiceMode::generate));
  }

  TEST_CASE("a broken prior is refused by name") {
    const TempFile file("broken_prior.nrv");
    ModelSpec spec = neurorave_tests::test_model_with_prior();
    spec.tensors.erase("prior.gru.bias_hh_l1");
    file.write(spec);
    try {
      Engine::load(file.path());
      FAIL("loaded");
    } catch (const neurorave::ModelError& e) {
      CHECK(std::string(e.what()).find("prior.gru.bias_hh_l1") != std::string::npos);
    }
    spec = neurorave_tests::test_model_with_prior();
    spec.description["prior"]["hidden"] = 0;
    file.write(spec);
    CHECK_THROWS_WITH_AS(Engine::load(file.path()),
                         doctest::Contains("prior: 'hidden' must be an integer"),
                         neurorave::ModelError);
  }

  TEST_CASE("one prior step is torch's GRU and head, phrase after phrase") {
    const TempFile file("prior_step.nrv");
    const ModelSpec spec = neurorave_tests::test_model_with_prior();
    file.write(spec);
    auto engine = Engine::load(file.path());
    const auto& info = engine->info();
    for (const float temperature : {0.0f, 0.7f, 1.0f}) {
      ReferencePrior reference(spec);
      engine->prior_reset();
      for (int step = 0; step < 30; ++step) {
        const auto noise = noise_for(step);
        const auto expected = reference.step(noise, temperature);
        std::vector<float> z(info.latent_size), values(info.descriptors.size());
        engine->prior_step(noise.data(), temperature, z.data(), values.data());
        CAPTURE(temperature);
        CAPTURE(step);
        for (int i = 0; i < info.latent_size; ++i)
          CHECK(z[i] == doctest::Approx(expected[i]).epsilon(1e-5));
        for (size_t d = 0; d < values.size(); ++d) {
          const auto& range = info.descriptors[d];
          const float normalised = expected[info.latent_size + d];
          CHECK(range.normalise(values[d]) == doctest::Approx(normalised).epsilon(1e-4));
          CHECK(values[d] >= range.minimum - 1e-3f);
          CHECK(values[d] <= range.maximum + 1e-3f);
        }
      }
    }
  }

  TEST_CASE("generation is the decoder fed by the prior, one frame late") {
    const TempFile file("generate.nrv");
    file.write(neurorave_tests::test_model_with_prior());
    Player player(Engine::load(file.path()));
    REQUIRE(player.set_generate(true));
    player.set_temperature(0.0f);  // the noise then does not matter
    player.set_smoothing_ms(0.0f);
    player.set_control(1, 3000.0f);
    const int frames = 40, compression = player.info().compression;
    const auto out = generate(player, frames * compression);

    auto engine = Engine::load(file.path());
    engine->reset(StreamKind::decode);
    const auto& info = engine->info();
    std::vector<float> z(static_cast<size_t>(info.latent_size) * frames);
    std::vector<float> controls(info.descriptors.size() * frames),
        prior_values(info.descriptors.size());
    const std::vector<float> zero_noise(kFrame, 0.0f);
    for (int t = 0; t < frames; ++t) {
      engine->prior_step(zero_noise.data(), 0.0f, z.data() + t * info.latent_size,
                         prior_values.data());
      controls[t * 2] = info.descriptors[0].centre();
      controls[t * 2 + 1] = 3000.0f;
    }
    std::vector<float> expected(static_cast<size_t>(frames) * compression);
    engine->decode(z.data(), controls.data(), frames, expected.data());
    const std::vector<float> late(out.begin() + compression, out.end());
    CHECK(max_difference(late, expected) < 1e-6);
    CHECK(*std::max_element(expected.begin(), expected.end()) > 1e-3f);
  }

  TEST_CASE("a seed replays a phrase; a new phrase draws on") {
    const TempFile file("phrases.nrv");
    file.write(neurorave_tests::test_model_with_prior());
    auto seeded_player = [&file](uint32_t seed) {
      auto player = std::make_unique<Player>(Engine::load(file.path()));
      REQUIRE(player->set_generate(true));
      player->set_seed(seed);
      return player;
    };
    const int samples = 30 * TestModelShape::compression;
    auto player = seeded_player(11);
    const auto first = generate(*player, samples);
    const auto next = generate(*player, samples);  // the same phrase, going on
    player->new_phrase();
    const auto restarted = generate(*player, samples);
    CHECK(max_difference(first, generate(*seeded_player(11), samples)) == 0.0);
    CHECK(max_difference(first, generate(*seeded_player(12), samples)) > 1e-3);
    CHECK(max_difference(first, next) > 1e-3);
    CHECK(max_difference(first, restarted) > 1e-3);
  }

  TEST_CASE("followed, smoothed prior curves sound the same whatever the host's block size") {
    // The control snap after a reset jumps at the first frame only: with several frames per
    // call it used to jump at each, so followed curves depended on the block size.
    const TempFile file("blocks.nrv");
    file.write(neurorave_tests::test_model_with_prior());
    auto player_for = [&file] {
      auto player = std::make_unique<Player>(Engine::load(file.path()));
      player->set_smoothing_ms(10.0f);
      for (int d = 0; d < static_cast<int>(player->info().descriptors.size()); ++d)
        player->set_follow(d, true);
      REQUIRE(player->set_generate(true));
      player->set_seed(5);
      return player;
    };
    const int samples = 40 * TestModelShape::compression;
    const auto one_frame = generate(*player_for(), samples, TestModelShape::compression);
    for (const int block : {1, 100, 4 * TestModelShape::compression, samples}) {
      CAPTURE(block);
      CHECK(max_difference(one_frame, generate(*player_for(), samples, block)) < 1e-6);
    }
  }

  TEST_CASE("generating never touches the heap, nor do phrases, seeds and mode changes") {
    const TempFile file("generate_heap.nrv");
    file.write(neurorave_tests::test_model_with_prior());
    Player player(Engine::load(file.path()));
    const std::vector<float> in = neurorave_tests::test_signal(4096);
    std::vector<float> out(in.size());
    neurorave_tests::HeapWatch watch;
    watch.start();
    player.set_generate(true);
    for (int block : {1, 64, 1000}) {
      for (size_t done = 0; done + block <= in.size(); done += block)
        player.process(in.data() + done, out.data() + done, block);
      player.new_phrase();
      player.set_seed(static_cast<uint32_t>(block));
      player.set_temperature(0.5f);
      player.set_follow(0, block == 64);
    }
    player.set_generate(false);
    player.process(in.data(), out.data(), 1000);
    CHECK_NO_HEAP(watch.stop());
  }

  TEST_CASE("the phrase gate starts generation; the panel bends the prior's curves") {
    const TempFile file("voice_generate.nrv");
    file.write(neurorave_tests::test_model_with_prior());
    ModuleVoice voice(std::make_unique<Player>(Engine::load(file.path())));
    Player reference(Engine::load(file.path()));
    REQUIRE(voice.can_generate());
    voice.set_seed(5);
    reference.set_seed(5);
    voice.set_panel(1, {0.75f, 0.0f, 0.0f});
    const auto& centroid = voice.info().descriptors[1];
    const float bend = 0.25f * (centroid.maximum - centroid.minimum);
    const int n = 64, blocks = 40;
    std::vector<float> in(n, 0.0f), out(n), expected(n), gate(n, 0.0f);
    gate[0] = 5.0f;  // the first block carries the rising edge
    // The reference: every descriptor follows the prior, the centroid's bent up by a quarter.
    REQUIRE(reference.set_generate(true));
    reference.set_control(1, centroid.minimum + 0.75f * (centroid.maximum - centroid.minimum));
    for (int d = 0; d < 2; ++d) reference.set_follow(d, true);
    reference.set_offset(1, bend);
    double worst = 0.0;
    for (int b = 0; b < blocks; ++b) {
      voice.process(in.data(), out.data(), n, {nullptr, gate.data()});
      reference.process(in.data(), expected.data(), n);
      worst = std::max(worst, max_difference(out, expected));
      gate[0] = 0.0f;
    }
    CHECK(voice.mode() == VoiceMode::generate);
    CHECK(worst < 1e-6);
  }

  TEST_CASE("a threaded voice plays what the voice plays, one block later") {
    const TempFile file("voice_threaded.nrv");
    file.write(neurorave_tests::test_model_with_prior());
    const int block = 128;
    ModuleVoice direct(std::make_unique<Player>(Engine::load(file.path())));
    ModuleVoice threaded(std::make_unique<Player>(Engine::load(file.path())),
                         neurorave::CvConvention::bipolar_5v,
                         neurorave::Playback{true, block, block, 0.0});
    CHECK(threaded.latency() == direct.latency() + block);
    const auto in = neurorave_tests::test_signal(40 * block);
    std::vector<float> a(in.size()), b(in.size());
    for (size_t done = 0; done < in.size(); done += block) {
      direct.process(in.data() + done, a.data() + done, block);
      threaded.process(in.data() + done, b.data() + done, block);
      threaded.wait_until_idle();
    }
    CHECK(threaded.underruns() == 0);
    const std::vector<float> shifted(b.begin() + block, b.end());
    CHECK(max_difference(shifted, std::vector<float>(a.begin(), a.end() - block)) < 1e-6);
  }

}  // TEST_SUITE
