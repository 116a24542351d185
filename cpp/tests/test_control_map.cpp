// The embedded module's control map and control script parsers (cpp/apps/neurorave-module):
// what a good file gives, and that a bad one is refused with the file and key named.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>

#include "control_map.hpp"
#include "control_script.hpp"

using neurorave::module::ControlMap;
using neurorave::module::MapError;
using neurorave::module::parse_control_map;
using neurorave::module::parse_control_script;

namespace {

const char* const kMap = R"({
  "model": "models/m.nrv",
  "audio": {"device": "hw:ES8", "period": 128, "periods": 3, "input_channels": 8,
            "output_channels": 4, "audio_in": 0, "audio_out": [2, 3]},
  "convention": "unipolar", "mode": "follow", "threaded_block": 128,
  "temperature": 0.5, "seed": 7,
  "descriptors": {
    "rms": {"knob": {"hardware": 0}, "cv": {"channel": 1, "scale": 5}, "attenuverter": -0.5},
    "centroid": {"knob": 0.25, "attenuverter": {"hardware": 4, "value": 0.75}}
  },
  "gates": {"follow": {"channel": 6}, "phrase": {"channel": 7, "scale": 1}}
})";

// The message parse_control_map throws for `text`, "" if it accepts it.
std::string map_error(const std::string& text) {
  try {
    parse_control_map(text, "dir/map.json");
  } catch (const MapError& error) {
    return error.what();
  }
  return "";
}

std::string script_error(const std::string& text) {
  try {
    parse_control_script(text, "script.json");
  } catch (const MapError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_SUITE("module control map") {
  TEST_CASE("a full map is read as written") {
    const ControlMap map = parse_control_map(kMap, "dir/map.json");
    CHECK(map.model == "dir/models/m.nrv");  // relative to the map's folder
    CHECK(map.audio.device == "hw:ES8");
    CHECK(map.audio.period == 128);
    CHECK(map.audio.periods == 3);
    CHECK(map.audio.input_channels == 8);
    CHECK(map.audio.audio_out == std::vector<int>{2, 3});
    CHECK(map.convention == neurorave::CvConvention::unipolar_10v);
    CHECK(map.mode == neurorave::VoiceMode::follow);
    CHECK(map.threaded_block == 128);
    CHECK(map.temperature == doctest::Approx(0.5f));
    CHECK(map.seed == 7u);
    REQUIRE(map.descriptors.size() == 2);
    const auto& centroid = map.descriptors[0];  // JSON objects come back in key order
    const auto& rms = map.descriptors[1];
    CHECK(centroid.name == "centroid");
    CHECK(centroid.knob.hardware == -1);
    CHECK(centroid.knob.value == doctest::Approx(0.25f));
    CHECK(centroid.cv.channel == -1);
    CHECK(centroid.attenuverter.hardware == 4);
    CHECK(centroid.attenuverter.value == doctest::Approx(0.75f));
    CHECK(rms.knob.hardware == 0);
    CHECK(rms.cv.channel == 1);
    CHECK(rms.cv.scale == doctest::Approx(5.0f));
    CHECK(rms.attenuverter.value == doctest::Approx(-0.5f));
    CHECK(map.follow_gate.channel == 6);
    CHECK(map.follow_gate.scale == doctest::Approx(10.0f));  // the ES-8's +-10 V full scale
    CHECK(map.phrase_gate.scale == doctest::Approx(1.0f));
  }

  TEST_CASE("an empty map is the defaults") {
    const ControlMap map = parse_control_map("{}", "m.json");
    CHECK(map.audio.device == "default");
    CHECK(map.audio.period == 256);
    CHECK(map.convention == neurorave::CvConvention::bipolar_5v);
    CHECK(map.mode == neurorave::VoiceMode::transfer);
    CHECK(map.threaded_block == 0);
    CHECK(map.follow_gate.channel == -1);
    CHECK(map.descriptors.empty());
  }

  TEST_CASE("the built-in map puts every descriptor on a knob and a CV input") {
    neurorave::ModelInfo model;
    model.descriptors.resize(2);
    model.descriptors[0].name = "rms";
    model.descriptors[1].name = "centroid";
    const ControlMap map = neurorave::module::default_control_map(model);
    REQUIRE(map.descriptors.size() == 2);
    CHECK(map.descriptors[1].name == "centroid");
    CHECK(map.descriptors[1].knob.hardware == 1);
    CHECK(map.descriptors[1].cv.channel == 2);
    CHECK(map.follow_gate.channel == 3);
    CHECK(map.phrase_gate.channel == 4);
    CHECK(map.audio.input_channels == 5);
  }

  TEST_CASE("a map is checked against its model") {
    neurorave::ModelInfo model;
    model.path = "m.nrv";
    model.descriptors.resize(1);
    model.descriptors[0].name = "rms";
    ControlMap map = parse_control_map(R"({"descriptors": {"rms": {}}})", "m.json");
    CHECK_NOTHROW(check_against_model(map, model));
    map = parse_control_map(R"({"descriptors": {"loudness": {}}})", "m.json");
    CHECK_THROWS_WITH(check_against_model(map, model),
                      "m.json: descriptors.loudness: m.nrv: the model has no descriptor "
                      "'loudness'; it has: rms");
    map = parse_control_map(R"({"mode": "generate"})", "m.json");
    CHECK_THROWS_WITH(check_against_model(map, model),
                      "m.json: mode: generate: m.nrv: the model has no prior to generate with "
                      "(fit one with `neurorave train-prior RUN` and export again)");
  }

  TEST_CASE("a bad map names the file, the key and the problem") {
    CHECK(map_error("{").find("dir/map.json: not valid JSON") == 0);
    CHECK(map_error("[]") == "dir/map.json: expected an object, got []");
    CHECK(map_error(R"({"modle": "x"})").find("dir/map.json: modle: unknown key") == 0);
    CHECK(map_error(R"({"descriptors": {"rms": {"cv": {"chanel": 1}}}})")
              .find("dir/map.json: descriptors.rms.cv.chanel: unknown key") == 0);
    CHECK(map_error(R"({"descriptors": {"rms": {"cv": {"scale": 1}}}})") ==
          "dir/map.json: descriptors.rms.cv: needs \"channel\": an input channel");
    CHECK(map_error(R"({"descriptors": {"rms": {"knob": 1.5}}})") ==
          "dir/map.json: descriptors.rms.knob: value 1.5 is outside 0 .. 1");
    CHECK(map_error(R"({"descriptors": {"rms": {"cv": {"channel": 2}}}})") ==
          "dir/map.json: descriptors.rms.cv: channel 2 does not exist: the interface has 1 "
          "(audio.input_channels/output_channels)");
    CHECK(map_error(R"({"audio": {"period": "big"}})") ==
          "dir/map.json: audio.period: expected an integer, got \"big\"");
    CHECK(map_error(R"({"audio": {"period": 0}})") ==
          "dir/map.json: audio.period: value 0 is outside 1 .. 8192");
    CHECK(map_error(R"({"audio": {"audio_out": []}})") ==
          "dir/map.json: audio.audio_out: expected a list of output channels");
    CHECK(map_error(R"({"convention": "5V"})") ==
          "dir/map.json: convention: \"5V\" is neither \"bipolar\" (+-5 V) nor \"unipolar\" (0-10 "
          "V)");
    CHECK(map_error(R"({"mode": "play"})") ==
          "dir/map.json: mode: \"play\" is not one of transfer, follow, generate");
    CHECK(map_error(R"({"gates": {"follow": {"channel": 3}}})").find("gates.follow: channel 3") !=
          std::string::npos);
  }

  TEST_CASE("a missing map file is named") {
    CHECK_THROWS_WITH(neurorave::module::read_control_map("/nonexistent/map.json"),
                      "/nonexistent/map.json: cannot open the file");
  }

}  // TEST_SUITE

TEST_SUITE("module control script") {
  TEST_CASE("keyframes are interpolated linearly and held at both ends") {
    const auto script = parse_control_script(
        R"({"block": 64, "knobs": {"2": [[1.0, 0.2], [3.0, 0.6], [4.0, 0.0]]},
          "cv": {"5": [[0.5, -5.0]]}})",
        "s.json");
    CHECK(script.block == 64);
    const auto& knob = script.knobs.at(2);
    CHECK(knob.at(0.0) == doctest::Approx(0.2f));
    CHECK(knob.at(1.0) == doctest::Approx(0.2f));
    CHECK(knob.at(2.0) == doctest::Approx(0.4f));
    CHECK(knob.at(3.0) == doctest::Approx(0.6f));
    CHECK(knob.at(3.25) == doctest::Approx(0.45f));
    CHECK(knob.at(4.0) == doctest::Approx(0.0f));
    CHECK(knob.at(100.0) == doctest::Approx(0.0f));
    CHECK(script.cv.at(5).at(0.0) == doctest::Approx(-5.0f));  // a single key: constant
    CHECK(script.cv.at(5).at(9.0) == doctest::Approx(-5.0f));
  }

  TEST_CASE("gate pulses are high from their start for their length") {
    const auto script = parse_control_script(
        R"({"gate_volts": 8, "gates": {"6": [[1.0, 0.5], [2.0, 0.1]]}})", "s.json");
    CHECK(script.gate_at(6, 0.99) == 0.0f);
    CHECK(script.gate_at(6, 1.0) == 8.0f);
    CHECK(script.gate_at(6, 1.49) == 8.0f);
    CHECK(script.gate_at(6, 1.5) == 0.0f);
    CHECK(script.gate_at(6, 2.05) == 8.0f);
    CHECK(script.gate_at(7, 1.0) == 0.0f);  // no such gate: low
  }

  TEST_CASE("a bad script names the file, the key and the problem") {
    CHECK(script_error(R"({"knobs": {"0": [[1.0, 0.5], [1.0, 0.6]]}})") ==
          "script.json: knobs.0[1]: keyframe times must increase");
    CHECK(script_error(R"({"knobs": {"0": [[0.0, 2.0]]}})") ==
          "script.json: knobs.0[0]: value 2.0 is outside 0 .. 1");
    CHECK(script_error(R"({"cv": {"one": [[0.0, 1.0]]}})") ==
          "script.json: cv.one: key \"one\" is not an index 0..63");
    CHECK(script_error(R"({"cv": {"1": []}})") ==
          "script.json: cv.1: expected a list of [seconds, value] keyframes");
    CHECK(script_error(R"({"gates": {"1": [[0.5]]}})") ==
          "script.json: gates.1[0]: expected [start seconds, length seconds], got [0.5]");
    CHECK(script_error(R"({"blocks": 4})").find("script.json: blocks: unknown key") == 0);
    CHECK(script_error("").find("script.json: not valid JSON") == 0);
  }

  TEST_CASE("scripted loads: [seconds, model] in time order") {
    const auto script =
        parse_control_script(R"({"loads": [[0.5, "a.nrv"], [1.5, "b.nrv"]]})", "script.json");
    REQUIRE(script.loads.size() == 2);
    CHECK(script.loads[0].time == doctest::Approx(0.5));
    CHECK(script.loads[1].path == "b.nrv");
    CHECK(script_error(R"({"loads": [[1.0, "a.nrv"], [0.5, "b.nrv"]]})")
              .find("script.json: loads[1]: load times must not decrease") == 0);
    CHECK(script_error(R"({"loads": [[1.0]]})").find("script.json: loads[0]: expected") == 0);
  }

}  // TEST_SUITE
