// DescriptorAnalyser: docs/descriptors.md, streamed.
//  - known signals give the values the definitions promise (sine, silence, floors);
//  - every frame equals the page's formulas evaluated with a plain O(N^2) DFT, on the N
//    samples that end with the frame (the causal framing);
//  - the values do not depend on the block sizes, bit for bit;
//  - push() and reset() never touch the heap.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "descriptors/analyser.hpp"
#include "heap_watch.hpp"
#include "neurorave/descriptor_analyser.hpp"
#include "test_model_writer.hpp"

using neurorave::DescriptorAnalyser;

namespace {

constexpr double kPi = 3.14159265358979323846;

const std::vector<std::string>& all_names() { return DescriptorAnalyser::known_names(); }

int column(const std::string& name) {
  const auto& names = all_names();
  return static_cast<int>(std::find(names.begin(), names.end(), name) - names.begin());
}

// Pushes `in` in blocks of the given sizes (cycled; 0 allowed); all rows, frame after frame.
std::vector<double> analyse(DescriptorAnalyser& a, const std::vector<float>& in,
                            const std::vector<int>& blocks) {
  std::vector<double> values;
  std::vector<double> rows;
  size_t done = 0;
  for (size_t call = 0; done < in.size(); ++call) {
    const int n = static_cast<int>(
        std::min<size_t>(static_cast<size_t>(blocks[call % blocks.size()]), in.size() - done));
    rows.assign(static_cast<size_t>(a.max_frames_for(n) * a.size()), -12345.0);
    const int expected = a.frames_for(n);
    const int frames = a.push(in.data() + done, n, rows.data());
    REQUIRE(frames == expected);
    values.insert(values.end(), rows.begin(), rows.begin() + frames * a.size());
    done += static_cast<size_t>(n);
  }
  return values;
}

std::vector<double> analyse(int sample_rate, int compression, const std::vector<float>& in,
                            int block = 4096) {
  DescriptorAnalyser a(sample_rate, compression, all_names());
  return analyse(a, in, {block});
}

std::vector<float> sine(double frequency, int sample_rate, size_t samples, double amplitude = 1.0) {
  std::vector<float> x(samples);
  for (size_t n = 0; n < samples; ++n)
    x[n] = static_cast<float>(amplitude * std::sin(2.0 * kPi * frequency * n / sample_rate));
  return x;
}

// docs/descriptors.md, line by line, with a plain DFT: the values of the frame that ends
// just before sample `end` of `x`.
std::vector<double> reference_frame(const std::vector<float>& x, size_t end, int sample_rate,
                                    int n) {
  std::vector<double> frame(static_cast<size_t>(n), 0.0);
  for (int i = 0; i < n; ++i) {
    const long long at = static_cast<long long>(end) - n + i;
    if (at >= 0) frame[i] = x[static_cast<size_t>(at)];
  }
  std::vector<double> out(7);
  double ms = 0;
  for (double v : frame) ms += v * v;
  out[0] = 10 * std::log10(std::max(ms / n, 1e-10));
  const int bins = n / 2 + 1;
  std::vector<double> s(bins), f(bins);
  std::vector<std::complex<double>> twiddle(static_cast<size_t>(n));  // e^(-2 pi i m / N)
  for (int m = 0; m < n; ++m) {
    twiddle[m] = std::polar(1.0, -2 * kPi * m / n);
    frame[m] *= 0.5 - 0.5 * std::cos(2 * kPi * m / n);  // after the rms above
  }
  for (int k = 0; k < bins; ++k) {
    std::complex<double> sum = 0;
    for (int i = 0; i < n; ++i)
      sum += frame[i] * twiddle[static_cast<size_t>((static_cast<long long>(k) * i) % n)];
    s[k] = std::abs(sum);
    f[k] = static_cast<double>(k) * sample_rate / n;
  }
  double total = 0;
  for (double v : s) total += v;
  if (total < 1e-9) return {out[0], 0, 0, 0, 1, 0, 0};
  double c = 0, bw = 0;
  for (int k = 0; k < bins; ++k) c += f[k] * s[k] / total;
  for (int k = 0; k < bins; ++k) bw += s[k] * (f[k] - c) * (f[k] - c) / total;
  double running = 0, rolloff = -1;
  for (int k = 0; k < bins && rolloff < 0; ++k)
    if ((running += s[k]) >= 0.85 * total) rolloff = f[k];
  double log_mean = 0, mean = 0;
  for (double v : s) {
    log_mean += std::log(std::max(v * v, 1e-10)) / bins;
    mean += std::max(v * v, 1e-10) / bins;
  }
  const auto& edges = neurorave::descriptors::kBandEdgesHz;
  double loud = 0, sharp = 0, boom = 0;
  for (int z = 0; z < 24; ++z) {
    double e = 0;
    for (int k = 0; k < bins; ++k)
      if (f[k] >= edges[z] && f[k] < edges[z + 1]) e += 2 * s[k] * s[k] / (n / 2.0 * n / 2.0);
    const double l = e >= 1e-10 ? std::pow(e, 0.23) : 0.0, zc = z + 0.5;
    loud += l;
    sharp += l * (zc <= 15.8 ? 1.0 : 0.066 * std::exp(0.171 * zc)) * zc;
    boom += l * std::max(0.0, 1 - zc / 4);
  }
  return {out[0],
          c,
          std::sqrt(bw),
          rolloff,
          std::exp(log_mean) / mean,
          loud > 0 ? 0.11 * sharp / loud : 0.0,
          boom};
}

}  // namespace

TEST_SUITE("descriptors") {
  TEST_CASE("construction: window length, names, errors") {
    CHECK(DescriptorAnalyser(16000, 16, {"rms"}).window() == 1024);
    CHECK(DescriptorAnalyser(16000, 512, {"rms"}).window() == 1024);
    CHECK(DescriptorAnalyser(16000, 513, {"rms"}).window() == 2048);
    CHECK(DescriptorAnalyser(44100, 2048, {"rms"}).window() == 4096);
    CHECK(DescriptorAnalyser(44100, 1, {"rms"}).window() == 1024);
    const DescriptorAnalyser a(44100, 2048, {"sharpness", "rms", "sharpness"});
    CHECK(a.compression() == 2048);
    CHECK(a.sample_rate() == 44100);
    CHECK(a.size() == 3);
    CHECK(a.names() == std::vector<std::string>{"sharpness", "rms", "sharpness"});
    CHECK(all_names() == std::vector<std::string>{"rms", "centroid", "bandwidth", "rolloff",
                                                  "flatness", "sharpness", "boominess"});
    try {
      DescriptorAnalyser(16000, 16, {"rms", "loudness"});
      FAIL("an unknown descriptor was accepted");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("'loudness'") != std::string::npos);
      CHECK(std::string(e.what()).find("boominess") != std::string::npos);
    }
    CHECK_THROWS_AS(DescriptorAnalyser(0, 16, {"rms"}), std::invalid_argument);
    CHECK_THROWS_AS(DescriptorAnalyser(16000, 0, {"rms"}), std::invalid_argument);
  }

  TEST_CASE("frames complete as their last sample arrives") {
    DescriptorAnalyser a(16000, 512, {"rms"});
    std::vector<float> x(2000, 0.5f);
    double v[8];
    CHECK(a.frames_for(511) == 0);
    CHECK(a.push(x.data(), 511, v) == 0);
    CHECK(a.pending() == 511);
    CHECK(a.frames_for(1) == 1);
    CHECK(a.push(x.data(), 1, v) == 1);
    CHECK(a.pending() == 0);
    // The window (1024) is half full: mean square 0.25 / 2.
    CHECK(v[0] == doctest::Approx(10 * std::log10(0.125)).epsilon(1e-12));
    CHECK(a.push(x.data(), 0, v) == 0);
    CHECK(a.push(x.data(), 1536, v) == 3);
    CHECK(v[2] == doctest::Approx(10 * std::log10(0.25)).epsilon(1e-12));
    CHECK(a.max_frames_for(1) == 1);
    CHECK(a.max_frames_for(1025) == 3);
    CHECK(a.max_frames_for(0) == 0);
  }

  TEST_CASE("a sine: rms -3.01 dBFS, centroid and rolloff at its frequency, narrow, not flat") {
    struct Case {
      int sample_rate, compression;
      double frequency;
    };
    // 93 periods in 4096 samples exactly; then frequencies between bins.
    for (const Case c :
         {Case{44100, 2048, 93.0 * 44100 / 4096}, Case{44100, 2048, 440.0},
          Case{44100, 2048, 5000.0}, Case{16000, 512, 1234.5}, Case{16000, 16, 300.0}}) {
      CAPTURE(c.sample_rate);
      CAPTURE(c.compression);
      CAPTURE(c.frequency);
      const size_t samples = 8 * 4096;
      const auto v =
          analyse(c.sample_rate, c.compression, sine(c.frequency, c.sample_rate, samples));
      const int frames = static_cast<int>(samples) / c.compression;
      REQUIRE(static_cast<int>(v.size()) == frames * 7);
      const double* last = &v[(frames - 1) * 7];
      // A window of N samples holds a fraction of a period more or less: +-0.05 dB.
      CHECK(std::abs(last[column("rms")] + 3.0103) < 0.05);
      CHECK(std::abs(last[column("centroid")] / c.frequency - 1) < 0.01);
      CHECK(last[column("bandwidth")] < 0.05 * c.frequency + 50.0);
      CHECK(std::abs(last[column("rolloff")] - c.frequency) <= c.sample_rate / 1024.0);
      CHECK(last[column("flatness")] < 1e-3);
    }
    // Bin-centred: the mean square over the window is exactly 1/2.
    const auto v = analyse(44100, 2048, sine(93.0 * 44100 / 4096, 44100, 4096 * 3));
    CHECK(std::abs(v[v.size() - 7] - 10 * std::log10(0.5)) < 1e-6);
  }

  TEST_CASE("sharpness rises with frequency; boominess lives below 400 Hz") {
    std::vector<double> sharpness, boominess;
    for (const double f : {100.0, 250.0, 1000.0, 4000.0, 12000.0}) {
      const auto v = analyse(44100, 2048, sine(f, 44100, 4 * 4096, 0.5));
      sharpness.push_back(v[v.size() - 7 + column("sharpness")]);
      boominess.push_back(v[v.size() - 7 + column("boominess")]);
    }
    CHECK(std::is_sorted(sharpness.begin(), sharpness.end()));
    CHECK(boominess[0] > boominess[1]);
    CHECK(boominess[1] > 10 * boominess[2]);
    // A sine is one band: sharpness = 0.11 z_c (g = 1 up to 15.8 Bark). 1000 Hz is band 8.
    CHECK(sharpness[2] == doctest::Approx(0.11 * 8.5).epsilon(0.05));
  }

  TEST_CASE("silence and the floors: never NaN") {
    const std::vector<double> floors = {-100, 0, 0, 0, 1, 0, 0};
    for (const int compression : {16, 512, 2048}) {
      CAPTURE(compression);
      const auto v = analyse(16000, compression, std::vector<float>(5000, 0.0f));
      REQUIRE(!v.empty());
      for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == floors[i % 7]);
    }
    // Below the silence threshold, and above.
    for (const float level : {1e-30f, 1e-12f, 1e-6f, 1.0f, 1e30f}) {
      CAPTURE(level);
      std::vector<float> x = neurorave_tests::test_signal(3000);
      for (float& s : x) s *= level;
      for (const double value : analyse(16000, 512, x)) CHECK(std::isfinite(value));
    }
    // Nearly all the energy above 15500 Hz (no critical band). Only the window's leakage,
    // below -100 dB, reaches the bands: no loudness, so sharpness stays at its floor.
    const auto high = analyse(48000, 2048, sine(18000.0, 48000, 3 * 4096));
    for (const double value : high) CHECK(std::isfinite(value));
    CHECK(high[high.size() - 7 + column("boominess")] < 1e-4);
    CHECK(high[high.size() - 7 + column("sharpness")] == 0.0);
    // Non-finite input counts as silence.
    std::vector<float> broken(4096, std::nanf(""));
    broken[7] = INFINITY;
    const auto repaired = analyse(16000, 512, broken);
    REQUIRE(repaired.size() == 8 * 7);
    for (size_t i = 0; i < repaired.size(); ++i) CHECK(repaired[i] == floors[i % 7]);
  }

  TEST_CASE("every frame is the page's formulas on the N samples ending with it") {
    struct Case {
      int sample_rate, compression;
    };
    for (const Case c : {Case{16000, 16}, Case{16000, 512}, Case{44100, 2048}, Case{22050, 600}}) {
      CAPTURE(c.compression);
      const int n = neurorave::descriptors::window_length(c.compression);
      const auto x = neurorave_tests::test_signal(static_cast<size_t>(n + 3 * c.compression + 5));
      const auto v = analyse(c.sample_rate, c.compression, x, 777);
      const int frames = static_cast<int>(x.size()) / c.compression;
      REQUIRE(static_cast<int>(v.size()) == frames * 7);
      // The first frame (mostly zeros), one in the middle, the last ones.
      for (const int t : {0, 1, frames / 2, frames - 2, frames - 1}) {
        CAPTURE(t);
        const auto ref =
            reference_frame(x, static_cast<size_t>(t + 1) * c.compression, c.sample_rate, n);
        for (int d = 0; d < 7; ++d) {
          CAPTURE(all_names()[d]);
          CHECK(v[t * 7 + d] == doctest::Approx(ref[d]).epsilon(1e-9).scale(1.0));
        }
      }
    }
  }

  TEST_CASE("the same values, bit for bit, whatever the block sizes") {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> any(0, 5000);
    std::vector<int> mix(40);
    for (int& b : mix) b = any(rng);
    const std::vector<std::vector<int>> schedules = {{1}, {64}, {1000}, {2048}, {3000}, mix};
    for (const int compression : {16, 512, 2048}) {
      CAPTURE(compression);
      const auto x = neurorave_tests::test_signal(static_cast<size_t>(20000 + compression / 3));
      DescriptorAnalyser a(44100, compression, all_names());
      const auto whole = analyse(a, x, {static_cast<int>(x.size())});
      REQUIRE(whole.size() == x.size() / compression * 7);
      for (const auto& schedule : schedules) {
        CAPTURE(schedule.size());
        CAPTURE(schedule[0]);
        a.reset();
        const auto blocks = analyse(a, x, schedule);
        REQUIRE(blocks.size() == whole.size());
        CHECK(blocks == whole);  // exact
      }
      // float output: the double values, rounded.
      a.reset();
      std::vector<float> floats(
          static_cast<size_t>(a.max_frames_for(static_cast<int>(x.size())) * 7));
      const int frames = a.push(x.data(), static_cast<int>(x.size()), floats.data());
      REQUIRE(static_cast<size_t>(frames * 7) == whole.size());
      for (size_t i = 0; i < whole.size(); ++i) CHECK(floats[i] == static_cast<float>(whole[i]));
    }
  }

  TEST_CASE("columns follow names(); reset() is a new stream") {
    const auto x = neurorave_tests::test_signal(6000);
    const auto all = analyse(16000, 512, x);
    DescriptorAnalyser a(16000, 512, {"boominess", "rms", "rolloff", "rms"});
    std::vector<double> garbage(5000, 0.25f);
    analyse(a, std::vector<float>(garbage.begin(), garbage.end()), {700});  // half a frame left
    a.reset();
    CHECK(a.pending() == 0);
    const auto some = analyse(a, x, {333});
    REQUIRE(some.size() == all.size() / 7 * 4);
    for (size_t t = 0; t < all.size() / 7; ++t) {
      CHECK(some[t * 4 + 0] == all[t * 7 + column("boominess")]);
      CHECK(some[t * 4 + 1] == all[t * 7 + column("rms")]);
      CHECK(some[t * 4 + 2] == all[t * 7 + column("rolloff")]);
      CHECK(some[t * 4 + 3] == all[t * 7 + column("rms")]);
    }
  }

  TEST_CASE("push() and reset() never touch the heap") {
    const std::vector<int> blocks = {1, 64, 1000, 2048, 3000, 8192};
    for (const int compression : {16, 512, 2048}) {
      CAPTURE(compression);
      for (const auto& names : {all_names(), std::vector<std::string>{"rms"},
                                std::vector<std::string>{"flatness", "sharpness"}}) {
        CAPTURE(names.size());
        for (const int block : blocks) {
          CAPTURE(block);
          DescriptorAnalyser a(44100, compression, names);
          const auto x = neurorave_tests::test_signal(static_cast<size_t>(3 * block + 2 * 4096));
          std::vector<float> values(static_cast<size_t>(a.max_frames_for(block) * a.size()));
          std::vector<double> values64(values.size());
          neurorave_tests::HeapWatch watch;
          // No warm-up push: whatever the first call would allocate counts too.
          watch.start();
          int frames = 0;
          for (size_t done = 0; done + block <= x.size(); done += static_cast<size_t>(block)) {
            frames += a.push(x.data() + done, block, values.data());
            frames += a.push(x.data() + done, 0, values.data());
            if (done == static_cast<size_t>(block)) a.reset();
          }
          frames += a.push(x.data(), block, values64.data());
          const neurorave_tests::Heap heap = watch.stop();
          CHECK(frames > 0);
          CHECK_NO_HEAP(heap);
        }
      }
    }
  }

}  // TEST_SUITE
