// The module logic the VCV module and the embedded program share: panel mappings, gates,
// modes, and that the voice sounds exactly like the Player it wraps.

#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "neurorave/engine.hpp"
#include "neurorave/module_voice.hpp"
#include "neurorave/player.hpp"
#include "test_model_writer.hpp"

using neurorave::CvConvention;
using neurorave::Engine;
using neurorave::GateInput;
using neurorave::ModuleVoice;
using neurorave::PanelControl;
using neurorave::Player;
using neurorave::VoiceMode;
using neurorave_tests::TempFile;

namespace {

std::unique_ptr<Player> test_player(const TempFile& file) {
  return std::make_unique<Player>(Engine::load(file.path()));
}

}  // namespace

TEST_SUITE("module voice") {
  TEST_CASE("knob, CV and attenuverter map to a position in the range") {
    using neurorave::panel_position;
    const auto bipolar = CvConvention::bipolar_5v;
    const auto unipolar = CvConvention::unipolar_10v;
    CHECK(panel_position({0.3f, 0.0f, 1.0f}, bipolar) == doctest::Approx(0.3f));
    CHECK(panel_position({0.5f, 5.0f, 1.0f}, bipolar) == doctest::Approx(1.0f));
    CHECK(panel_position({0.5f, -5.0f, 1.0f}, bipolar) == doctest::Approx(0.0f));
    CHECK(panel_position({0.5f, 2.0f, -0.5f}, bipolar) == doctest::Approx(0.4f));
    CHECK(panel_position({0.5f, 2.0f, 0.0f}, bipolar) == doctest::Approx(0.5f));
    CHECK(panel_position({0.5f, 9.0f, 1.0f}, bipolar) == doctest::Approx(1.0f));   // clipped at 5 V
    CHECK(panel_position({0.2f, 8.0f, 0.5f}, bipolar) == doctest::Approx(0.45f));  // 5 V reach
    CHECK(panel_position({0.0f, 10.0f, 1.0f}, unipolar) == doctest::Approx(1.0f));
    CHECK(panel_position({0.2f, 5.0f, 1.0f}, unipolar) == doctest::Approx(0.7f));
    CHECK(panel_position({0.2f, -3.0f, 1.0f}, unipolar) == doctest::Approx(0.2f));  // no negative
    CHECK(panel_position({0.9f, 10.0f, 1.0f}, unipolar) == doctest::Approx(1.0f));  // clamped
    CHECK(panel_position({0.5f, 0.0f, 7.0f}, bipolar) == doctest::Approx(0.5f));

    neurorave::DescriptorInfo centroid;
    centroid.minimum = 200.0f;
    centroid.maximum = 5200.0f;
    CHECK(centroid.at_position(0.0f) == doctest::Approx(200.0f));
    CHECK(centroid.at_position(0.5f) == doctest::Approx(2700.0f));
    CHECK(centroid.at_position(1.0f) == doctest::Approx(5200.0f));
  }

  TEST_CASE("a gate rises once per pulse, whatever noise rides on its thresholds") {
    GateInput gate;
    const std::vector<float> volts = {0.0f, 1.5f, 2.5f, 1.9f, 2.1f,  1.2f,
                                      5.0f, 0.9f, 1.5f, 2.0f, 10.0f, 0.0f};
    std::vector<int> rises;
    for (size_t i = 0; i < volts.size(); ++i)
      if (gate.rising(volts[i])) rises.push_back(static_cast<int>(i));
    CHECK(rises == std::vector<int>{2, 9});
    CHECK(!gate.high());
  }

  TEST_CASE("the panel drives the Player, and the voice sounds exactly like it") {
    const TempFile file("module_voice.nrv");
    file.write(neurorave_tests::test_model());
    ModuleVoice voice(test_player(file));
    Player reference(Engine::load(file.path()));
    REQUIRE(voice.descriptors() >= 2);
    CHECK(voice.latency() == reference.latency());
    const auto& range = voice.info().descriptors[1];
    voice.set_panel(1, {0.25f, 2.0f, 1.0f});  // 0.25 + 0.2 of the range
    const float expected = range.minimum + 0.45f * (range.maximum - range.minimum);
    CHECK(voice.panel_value(1) == doctest::Approx(expected));
    reference.set_control(1, expected);
    voice.set_panel(99, {});  // ignored

    const auto in = neurorave_tests::test_signal(40 * voice.info().compression);
    std::vector<float> out(in.size()), expected_out(in.size());
    for (size_t done = 0; done < in.size(); done += 100) {
      const int n = static_cast<int>(std::min<size_t>(100, in.size() - done));
      voice.process(in.data() + done, out.data() + done, n);
      reference.process(in.data() + done, expected_out.data() + done, n);
    }
    CHECK(out == expected_out);
  }

  TEST_CASE("modes: follow switches every descriptor; a gate toggles; generate needs a prior") {
    const TempFile file("module_voice_modes.nrv");
    file.write(neurorave_tests::test_model());
    auto player = test_player(file);
    Player* const seen = player.get();
    ModuleVoice voice(std::move(player));
    CHECK(voice.mode() == VoiceMode::transfer);
    CHECK(voice.set_mode(VoiceMode::follow));
    for (int d = 0; d < voice.descriptors(); ++d) CHECK(seen->follows(d));
    CHECK_FALSE(voice.set_mode(VoiceMode::generate));
    CHECK(voice.mode() == VoiceMode::follow);

    const int n = 64;
    std::vector<float> in(n, 0.0f), out(n), gate(n, 0.0f);
    for (int i = 10; i < 20; ++i) gate[i] = 5.0f;  // one pulse: back to the panel
    voice.process(in.data(), out.data(), n, {gate.data()});
    CHECK(voice.mode() == VoiceMode::transfer);
    for (int d = 0; d < voice.descriptors(); ++d) CHECK_FALSE(seen->follows(d));
    for (int i = 30; i < 40; ++i) gate[i] = 5.0f;  // two pulses in one block: no change
    voice.process(in.data(), out.data(), n, {gate.data()});
    CHECK(voice.mode() == VoiceMode::transfer);
  }

}  // TEST_SUITE
