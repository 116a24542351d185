// Engine::load and ModelFile::read on a valid file and on files spoiled one way at a
// time: each must throw ModelError naming the file and the problem.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>

#include "model_file.hpp"
#include "neurorave/engine.hpp"
#include "neurorave/error.hpp"
#include "test_model_writer.hpp"

using neurorave::Engine;
using neurorave::ModelError;
using neurorave_tests::json;
using neurorave_tests::ModelSpec;
using neurorave_tests::Safetensors;
using neurorave_tests::TempFile;
using neurorave_tests::test_model;
using neurorave_tests::TestModelShape;
using neurorave_tests::to_safetensors;

namespace {

// The message of the ModelError that loading `path` throws ("" if it loads, or if
// something else is thrown: that fails the test).
std::string load_error(const std::string& path, int max_frames = 64) {
  try {
    Engine::load(path, max_frames);
  } catch (const ModelError& e) {
    CHECK(e.file() == path);
    CHECK(std::string(e.what()) == e.file() + ": " + e.problem());
    return e.what();
  } catch (const std::exception& e) {
    FAIL_CHECK("not a ModelError: " << std::string(e.what()));
    return "";
  }
  FAIL_CHECK("loaded without error: " << path);
  return "";
}

#define CHECK_LOAD_FAILS(path, phrase)                 \
  do {                                                 \
    const std::string message_ = load_error(path);     \
    INFO("message: " << message_);                     \
    CHECK(message_.find(path) != std::string::npos);   \
    CHECK(message_.find(phrase) != std::string::npos); \
  } while (false)

std::string spoiled(ModelSpec spec, const std::function<void(ModelSpec&)>& change) {
  change(spec);
  return to_safetensors(spec).bytes();
}

std::string spoiled_header(const std::function<void(Safetensors&)>& change) {
  Safetensors st = to_safetensors(test_model());
  change(st);
  return st.bytes();
}

}  // namespace

TEST_SUITE("loader") {
  TEST_CASE("a valid file loads and info() describes it") {
    using S = TestModelShape;
    const TempFile file("valid.nrv");
    file.write(test_model());
    const auto engine = Engine::load(file.path(), 32);
    REQUIRE(engine);
    const auto& info = engine->info();
    CHECK(info.path == file.path());
    CHECK(info.architecture == "neurorave-vae");
    CHECK(info.format_version == 1);
    CHECK(info.sample_rate == S::sample_rate);
    CHECK(info.compression == S::compression);
    CHECK(info.latent_size == S::latent_size);
    CHECK(info.bands == S::bands);
    CHECK(info.causal == false);
    CHECK(info.noise == true);
    CHECK(info.encode_delay_frames == S::encode_frames);
    CHECK(info.decode_delay_samples == S::decode_samples);
    CHECK(info.forward_delay_samples == S::forward_samples);
    REQUIRE(info.descriptors.size() == 2);
    CHECK(info.descriptors[0].name == "rms");
    CHECK(info.descriptors[0].unit == "dBFS");
    CHECK(info.descriptors[0].minimum == -60.0f);
    CHECK(info.descriptors[0].maximum == 0.0f);
    CHECK(info.descriptors[0].bins.size() == 5);
    CHECK(info.descriptors[1].name == "centroid");
    CHECK(info.descriptors[1].centre() == 4100.0f);
    CHECK(info.descriptors[1].normalise(8000.0f) == 1.0f);
    CHECK(info.descriptor_index("centroid") == 1);
    CHECK(info.descriptor_index("nope") == -1);
    CHECK(json::parse(info.description_json) == test_model().description);
    CHECK(engine->max_frames() == 32);

    // ModelFile gives the tensors back as written.
    const auto model = neurorave::ModelFile::read(file.path());
    const auto spec = test_model();
    const auto& weight = model.tensor("encoder.2.weight", {32, 16, 4});
    CHECK(weight.values == spec.tensors.at("encoder.2.weight").values);
  }

  TEST_CASE("a file that does not exist") {
    const TempFile file("never_written.nrv");
    CHECK_LOAD_FAILS(file.path(), "no such file");
  }

  TEST_CASE("truncated files") {
    const std::string bytes = to_safetensors(test_model()).bytes();
    const TempFile file("truncated.nrv");
    SUBCASE("cut in the data section") {
      file.write(bytes.substr(0, bytes.size() - 100));
      CHECK_LOAD_FAILS(file.path(), "outside");
    }
    SUBCASE("cut to 4 bytes") {
      file.write(bytes.substr(0, 4));
      CHECK_LOAD_FAILS(file.path(), "truncated file");
    }
    SUBCASE("empty") {
      file.write(std::string());
      CHECK_LOAD_FAILS(file.path(), "truncated file");
    }
    SUBCASE("cut in the header") {
      file.write(bytes.substr(0, 100));
      CHECK_LOAD_FAILS(file.path(), "does not fit");
    }
  }

  TEST_CASE("a header length field bigger than the file") {
    std::string bytes = to_safetensors(test_model()).bytes();
    const uint64_t lie = bytes.size();  // the header alone cannot be the whole file
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((lie >> (8 * i)) & 0xFF);
    const TempFile file("header_lies.nrv");
    file.write(bytes);
    CHECK_LOAD_FAILS(file.path(), "header length");
    CHECK_LOAD_FAILS(file.path(), "does not fit");
    // And one that is absurdly big.
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(0xFF);
    file.write(bytes);
    CHECK_LOAD_FAILS(file.path(), "does not fit");
  }

  TEST_CASE("data offsets outside the data section") {
    const TempFile file("offsets.nrv");
    SUBCASE("past the end") {
      file.write(spoiled_header([](Safetensors& st) {
        const uint64_t end = st.data.size();
        st.header["decoder.0.weight"]["data_offsets"] = {end, end + 64 * 10 * 3 * 4};
      }));
      CHECK_LOAD_FAILS(file.path(), "outside");
      CHECK_LOAD_FAILS(file.path(), "decoder.0.weight");
    }
    SUBCASE("begin after end") {
      file.write(spoiled_header([](Safetensors& st) {
        st.header["encoder.0.bias"]["data_offsets"] = {64, 0};
      }));
      CHECK_LOAD_FAILS(file.path(), "outside");
    }
    SUBCASE("a span that does not match the shape") {
      file.write(spoiled_header([](Safetensors& st) {
        st.header["encoder.0.bias"]["data_offsets"][1] =
            st.header["encoder.0.bias"]["data_offsets"][1].get<uint64_t>() - 4;
      }));
      CHECK_LOAD_FAILS(file.path(), "data offsets span");
    }
    SUBCASE("negative offsets") {
      file.write(spoiled_header([](Safetensors& st) {
        st.header["encoder.0.bias"]["data_offsets"] = {-4, 0};
      }));
      CHECK_LOAD_FAILS(file.path(), "two unsigned integers");
    }
  }

  TEST_CASE("a shape whose byte count overflows 64 bits") {
    // 2^62 floats are 2^64 bytes, which wraps to 0 and would match empty offsets.
    const TempFile file("overflow.nrv");
    file.write(spoiled_header([](Safetensors& st) {
      st.header["huge"] = {{"dtype", "F32"},
                           {"shape", {int64_t{1} << 31, int64_t{1} << 31}},
                           {"data_offsets", {0, 0}}};
    }));
    CHECK_LOAD_FAILS(file.path(), "tensor 'huge': bad shape");
    // Three dimensions whose product wraps to 0.
    file.write(spoiled_header([](Safetensors& st) {
      st.header["huge"] = {{"dtype", "F32"},
                           {"shape", {int64_t{1} << 32, int64_t{1} << 32, int64_t{1} << 32}},
                           {"data_offsets", {0, 0}}};
    }));
    CHECK_LOAD_FAILS(file.path(), "tensor 'huge': bad shape");
    // A negative dimension.
    file.write(
        spoiled_header([](Safetensors& st) { st.header["encoder.0.bias"]["shape"] = {-16}; }));
    CHECK_LOAD_FAILS(file.path(), "tensor 'encoder.0.bias': bad shape");
  }

  TEST_CASE("a missing tensor") {
    const TempFile file("missing.nrv");
    file.write(spoiled(test_model(), [](ModelSpec& s) { s.tensors.erase("decoder.3.1.bias"); }));
    CHECK_LOAD_FAILS(file.path(), "missing tensor 'decoder.3.1.bias'");
  }

  TEST_CASE("a tensor with the wrong shape") {
    const TempFile file("shape.nrv");
    // Same number of values, so the offsets still agree with the shape.
    file.write(spoiled(test_model(), [](ModelSpec& s) {
      s.tensors["encoder.0.weight"].shape = {16, 5, 4};
    }));
    CHECK_LOAD_FAILS(file.path(),
                     "tensor 'encoder.0.weight' has shape [16, 5, 4], expected [16, 4, 5]");
  }

  TEST_CASE("a tensor that is neither F32 nor F16") {
    const TempFile file("dtype.nrv");
    file.write(
        spoiled_header([](Safetensors& st) { st.header["encoder.0.bias"]["dtype"] = "BF16"; }));
    CHECK_LOAD_FAILS(file.path(), "not supported (only F32 or F16)");
  }

  TEST_CASE("F16 tensors play as the F32 file holding the same binary16 values") {
    ModelSpec half = test_model(), rounded = test_model();
    for (auto& [name, tensor] : half.tensors) tensor.half = true;
    for (auto& [name, tensor] : rounded.tensors)
      for (float& v : tensor.values) v = static_cast<float>(Eigen::half(v));
    const TempFile half_file("half.nrv"), rounded_file("rounded.nrv");
    half_file.write(half);
    rounded_file.write(rounded);
    CHECK(std::filesystem::file_size(half_file.path()) <
          std::filesystem::file_size(rounded_file.path()));
    const auto a = Engine::load(half_file.path(), 32), b = Engine::load(rounded_file.path(), 32);
    CHECK(a->info().half_weights);
    CHECK(!b->info().half_weights);
    const int frames = 8, samples = frames * a->info().compression;
    std::vector<float> in(samples), out_a(in.size()), out_b(in.size());
    for (int i = 0; i < samples; ++i) in[i] = 0.5f * std::sin(0.05f * static_cast<float>(i));
    a->forward(in.data(), nullptr, frames, out_a.data());
    b->forward(in.data(), nullptr, frames, out_b.data());
    CHECK(out_a == out_b);
    CHECK(std::any_of(out_a.begin(), out_a.end(), [](float v) { return v != 0.0f; }));
  }

  TEST_CASE("NaN or Inf in a tensor") {
    const TempFile file("nan.nrv");
    SUBCASE("NaN") {
      file.write(spoiled(test_model(), [](ModelSpec& s) {
        s.tensors["decoder.5.weight"].values[17] = std::numeric_limits<float>::quiet_NaN();
      }));
      CHECK_LOAD_FAILS(file.path(), "NaN");
      CHECK_LOAD_FAILS(file.path(), "decoder.5.weight");
    }
    SUBCASE("Inf") {
      file.write(spoiled(test_model(), [](ModelSpec& s) {
        s.tensors["pqmf.synthesis.weight"].values[0] = -std::numeric_limits<float>::infinity();
      }));
      CHECK_LOAD_FAILS(file.path(), "Inf");
    }
  }

  TEST_CASE("an unsupported format version") {
    const TempFile file("version.nrv");
    file.write(spoiled(test_model(), [](ModelSpec& s) { s.description["format_version"] = 2; }));
    CHECK_LOAD_FAILS(file.path(), "unsupported format version 2");
  }

  TEST_CASE("garbage bytes") {
    const TempFile file("garbage.nrv");
    SUBCASE("random bytes") {
      neurorave_tests::WeightSource source(99);
      std::string bytes(4096, '\0');
      for (char& c : bytes) c = static_cast<char>(static_cast<int>(128.0f + source.next(127.9f)));
      file.write(bytes);
      CHECK_LOAD_FAILS(file.path(), "not a safetensors file");
    }
    SUBCASE("a plausible length, then garbage") {
      std::string bytes(8, '\0');
      bytes[0] = 40;
      bytes += "{\"this is\": not JSON at all, \"x\": [1, 2 }......";
      file.write(bytes);
      CHECK_LOAD_FAILS(file.path(), "header is not valid JSON");
    }
    SUBCASE("valid JSON that is not an object") {
      std::string bytes(8, '\0');
      bytes[0] = 9;
      bytes += "[1, 2, 3]";
      file.write(bytes);
      CHECK_LOAD_FAILS(file.path(), "not a JSON object");
    }
  }

  TEST_CASE("the description itself is wrong") {
    const TempFile file("description.nrv");
    SUBCASE("no NeuroRave metadata") {
      file.write(spoiled_header([](Safetensors& st) { st.header.erase("__metadata__"); }));
      CHECK_LOAD_FAILS(file.path(), "not a NeuroRave model");
    }
    SUBCASE("metadata that is not JSON") {
      file.write(spoiled_header(
          [](Safetensors& st) { st.header["__metadata__"]["neurorave"] = "{format_version: 1"; }));
      CHECK_LOAD_FAILS(file.path(), "model description is not valid JSON");
    }
    SUBCASE("an unknown op") {
      file.write(spoiled(test_model(), [](ModelSpec& s) {
        s.description["decoder"][1] = {{"op", "gelu"}};
      }));
      CHECK_LOAD_FAILS(file.path(), "decoder[1]: unknown op 'gelu'");
    }
    SUBCASE("channels that do not chain") {
      file.write(spoiled(test_model(), [](ModelSpec& s) { s.description["latent_size"] = 7; }));
      CHECK_LOAD_FAILS(file.path(), "input channels");
    }
    SUBCASE("strides that do not multiply to the compression") {
      file.write(spoiled(test_model(), [](ModelSpec& s) { s.description["compression"] = 32; }));
      CHECK_LOAD_FAILS(file.path(), "compression ratio");
    }
    SUBCASE("a field of the wrong type") {
      file.write(
          spoiled(test_model(), [](ModelSpec& s) { s.description["sample_rate"] = "fast"; }));
      CHECK_LOAD_FAILS(file.path(), "sample_rate");
    }
    SUBCASE("a descriptor range upside down") {
      file.write(spoiled(test_model(), [](ModelSpec& s) {
        s.description["descriptors"][0]["range"] = {0.0, -60.0};
      }));
      CHECK_LOAD_FAILS(file.path(), "min < max");
    }
    SUBCASE("a non-numeric bin edge") {
      file.write(spoiled(test_model(),
                         [](ModelSpec& s) { s.description["descriptors"][1]["bins"][2] = "x"; }));
      CHECK_LOAD_FAILS(file.path(), "a bin edge must be a number");
    }
    SUBCASE("a decoder that does not end in a waveform head") {
      // The last conv makes `bands` channels itself, and the head is gone.
      file.write(spoiled(test_model(), [](ModelSpec& s) {
        auto& decoder = s.description["decoder"];
        decoder.erase(decoder.size() - 1);
        decoder.back()["out"] = TestModelShape::bands;
        s.tensors["decoder.8.weight"].shape = {TestModelShape::bands, 16, 3};
        s.tensors["decoder.8.weight"].values.resize(TestModelShape::bands * 16 * 3);
        s.tensors["decoder.8.bias"].shape = {TestModelShape::bands};
        s.tensors["decoder.8.bias"].values.resize(TestModelShape::bands);
      }));
      CHECK_LOAD_FAILS(file.path(), "does not end with a waveform_head");
    }
  }

  TEST_CASE("what is not a model file at all") {
    SUBCASE("a folder") {
      const std::string folder = std::filesystem::temp_directory_path().string();
      CHECK_LOAD_FAILS(folder, "is a folder");
    }
    SUBCASE("a device that never ends") { CHECK_LOAD_FAILS("/dev/zero", "not a regular file"); }
    SUBCASE("a valid model padded with zeros: refused, not read") {
      const TempFile file("padded.nrv");
      file.write(to_safetensors(test_model()).bytes() + std::string(1 << 20, '\0'));
      CHECK_LOAD_FAILS(file.path(), "1048576 bytes after the last tensor");
    }
  }

  TEST_CASE("sizes beyond the loader's limits are refused before anything is allocated") {
    const TempFile file("limits.nrv");
    SUBCASE("a residual delay near 2^31 (once: signed overflow, then bad_alloc)") {
      file.write(spoiled(test_model(),
                         [](ModelSpec& s) { s.description["decoder"][3]["delay"] = 2147483000; }));
      CHECK_LOAD_FAILS(file.path(), "decoder[3]: 'delay' must be an integer from 0 to 65536");
    }
    SUBCASE("a dilation whose history would take gigabytes") {
      file.write(spoiled(test_model(), [](ModelSpec& s) {
        s.description["decoder"][6]["branch"][1]["dilation"] = 4096;
        s.description["decoder"][6]["branch"][1]["kernel"] = 4096;
      }));
      CHECK_LOAD_FAILS(file.path(), "decoder[6].branch[1]: keeps 16773120 samples of history");
    }
    SUBCASE("a channel count beyond the limit") {
      file.write(spoiled(test_model(),
                         [](ModelSpec& s) { s.description["encoder"][0]["out"] = 1 << 20; }));
      CHECK_LOAD_FAILS(file.path(), "'out' must be an integer from 1 to 8192");
    }
    SUBCASE("strides that multiply beyond any compression ratio") {
      file.write(spoiled(test_model(), [](ModelSpec& s) {
        for (int i : {0, 2, 4}) s.description["encoder"][i]["stride"] = 256;
      }));
      CHECK_LOAD_FAILS(file.path(), "strides multiply beyond 65536");
    }
    SUBCASE("a sample rate of 0") {
      file.write(spoiled(test_model(), [](ModelSpec& s) { s.description["sample_rate"] = 0; }));
      CHECK_LOAD_FAILS(file.path(), "'sample_rate' must be an integer from 1000 to 768000");
    }
  }

  TEST_CASE("values that cannot play finitely are refused") {
    const TempFile file("values.nrv");
    SUBCASE("a weight of 3e38") {
      file.write(spoiled(test_model(),
                         [](ModelSpec& s) { s.tensors["decoder.0.weight"].values[3] = 3e38f; }));
      CHECK_LOAD_FAILS(file.path(), "tensor 'decoder.0.weight' holds a value beyond");
    }
    SUBCASE("a LeakyReLU slope of 3e38") {
      file.write(
          spoiled(test_model(), [](ModelSpec& s) { s.description["decoder"][1]["slope"] = 3e38; }));
      CHECK_LOAD_FAILS(file.path(), "decoder[1]: leaky_relu needs a slope from 0 to 1");
    }
    for (const double pole : {1.0, -0.5, 3e38}) {
      SUBCASE(("a DC blocker pole of " + std::to_string(pole)).c_str()) {
        file.write(spoiled(test_model(), [pole](ModelSpec& s) {
          s.description["decoder"].back()["dc_pole"] = pole;
        }));
        CHECK_LOAD_FAILS(file.path(), "waveform_head needs a dc_pole from 0 up to");
      }
    }
    SUBCASE("a comb pole of 1") {
      file.write(spoiled(test_model(),
                         [](ModelSpec& s) { s.description["decoder"].back()["comb_pole"] = 1.0; }));
      CHECK_LOAD_FAILS(file.path(), "waveform_head needs a comb_pole from 0 up to");
    }
    for (const int period : {0, 1 << 17}) {
      SUBCASE(("a DC blocker period of " + std::to_string(period)).c_str()) {
        file.write(spoiled(test_model(), [period](ModelSpec& s) {
          s.description["decoder"].back()["dc_pole"] = 0.9;
          s.description["decoder"].back()["dc_period"] = period;
        }));
        CHECK_LOAD_FAILS(file.path(), "dc_period");
      }
    }
    struct Range {
      double low, high;
      const char* phrase;
    };
    for (const Range& range : {Range{1e-40, 2e-40, "not a sliver"}, Range{0.0, 1e39, "range max"},
                               Range{-3e38, 3e38, "range min"}}) {
      CAPTURE(range.low);
      CAPTURE(range.high);
      file.write(spoiled(test_model(), [&](ModelSpec& s) {
        s.description["descriptors"][0]["range"] = {range.low, range.high};
      }));
      CHECK_LOAD_FAILS(file.path(), range.phrase);
    }
    SUBCASE("bin edges out of order") {
      file.write(spoiled(test_model(), [](ModelSpec& s) {
        s.description["descriptors"][0]["bins"] = {-60.0, -30.0, -45.0};
      }));
      CHECK_LOAD_FAILS(file.path(), "bin edges must ascend");
    }
  }

  bool valid_utf8_without_controls(const std::string& text) {
    return neurorave::printable(text, text.size() + 1) == text;
  }

  TEST_CASE("every error is one short line of valid UTF-8, whatever the bytes were") {
    const TempFile file("bytes\xc3\xa9.nrv");  // a name in UTF-8 is kept as it is
    std::string header = "{\"a\xff\xfe\x01\n\x80 ";
    header += std::string(5000, 'x') + "\xc3";  // long, and cut inside a character
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    file.write(bytes + header);
    const std::string message = load_error(file.path());
    INFO("message: " << message);
    CHECK(message.rfind(file.path() + ": header is not valid JSON", 0) == 0);
    CHECK(valid_utf8_without_controls(message));
    CHECK(message.size() <= 420);

    CHECK(neurorave::printable("d\xc3\xa9j\xc3\xa0 \xff\n", 100) ==
          "d\xc3\xa9j\xc3\xa0 \\xff\\x0a");
    CHECK(neurorave::printable("\xc3\xa9\xc3\xa9\xc3\xa9", 5) == "\xc3\xa9\xc3\xa9...");
    CHECK(neurorave::printable("/a/b/\xc3\xa9.nrv", 6, true) == "...\xc3\xa9.nrv");
  }

  TEST_CASE("max_frames_per_call below 1") {
    const TempFile file("frames.nrv");
    file.write(test_model());
    const std::string message = load_error(file.path(), 0);
    CHECK(message.find("max_frames_per_call") != std::string::npos);
  }

}  // TEST_SUITE
