// The block adapter: whatever the host's block sizes, Player's output is Engine::forward
// on whole frames, one frame (compression samples) late.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "neurorave/engine.hpp"
#include "neurorave/player.hpp"
#include "test_model_writer.hpp"

using neurorave::Engine;
using neurorave::Player;
using neurorave::StreamKind;
using neurorave_tests::TempFile;

namespace {

using Controls = std::function<float(int frame, int descriptor)>;

// Every descriptor at the centre of its range, as a fresh Player has them.
Controls centred(const Engine& engine) {
  return [&engine](int, int d) { return engine.info().descriptors[d].centre(); };
}

// Engine::forward from a reset over whole frames of `in`, `schedule[i]` frames in call i
// (an empty schedule: as many frames a call as the engine takes); `controls` gives the
// physical descriptor values of each frame.
std::vector<float> engine_forward(Engine& engine, const std::vector<float>& in,
                                  const std::vector<int>& schedule, const Controls& controls) {
  const auto& info = engine.info();
  const int compression = info.compression;
  const int descriptors = static_cast<int>(info.descriptors.size());
  const int total_frames = static_cast<int>(in.size()) / compression;
  std::vector<float> out(in.size(), 0.0f);
  std::vector<float> frame_controls(static_cast<size_t>(engine.max_frames() * descriptors));
  engine.reset(StreamKind::forward);
  int frame = 0;
  for (size_t call = 0; frame < total_frames; ++call) {
    int frames = schedule.empty() ? engine.max_frames() : schedule.at(call);
    frames = std::min(frames, total_frames - frame);
    for (int t = 0; t < frames; ++t)
      for (int d = 0; d < descriptors; ++d)
        frame_controls[t * descriptors + d] = controls(frame + t, d);
    engine.forward(in.data() + static_cast<size_t>(frame) * compression, frame_controls.data(),
                   frames, out.data() + static_cast<size_t>(frame) * compression);
    frame += frames;
  }
  return out;
}

// Player::process over `in`, in blocks of the given sizes (cycled; 0 is allowed).
std::vector<float> play(Player& player, const std::vector<float>& in,
                        const std::vector<int>& blocks) {
  std::vector<float> out(in.size(), 123.0f);
  size_t done = 0;
  for (size_t i = 0; done < in.size(); ++i) {
    const size_t n =
        std::min<size_t>(static_cast<size_t>(blocks[i % blocks.size()]), in.size() - done);
    player.process(in.data() + done, out.data() + done, static_cast<int>(n));
    done += n;
  }
  return out;
}

// out[n + compression] == reference[n] (within `tolerance`: 0 for bit-exact), and the
// first frame is silence.
void check_one_frame_late(const std::vector<float>& out, const std::vector<float>& reference,
                          int compression, float tolerance = 0.0f) {
  REQUIRE(out.size() == reference.size());
  size_t silent = 0, equal = 0, first_bad = out.size();
  float worst = 0.0f, peak = 0.0f;
  for (size_t n = 0; n < static_cast<size_t>(compression); ++n) silent += out[n] == 0.0f;
  for (size_t n = compression; n < out.size(); ++n) {
    const float error = std::abs(out[n] - reference[n - compression]);
    worst = std::max(worst, error);
    peak = std::max(peak, std::abs(reference[n - compression]));
    if (error <= tolerance)
      ++equal;
    else if (first_bad == out.size())
      first_bad = n;
  }
  CHECK(silent == static_cast<size_t>(compression));
  CHECK(peak > 0.01f);  // the model does make a sound
  INFO("largest difference " << worst << " (peak " << peak << "); first beyond " << tolerance
                             << " at output sample " << first_bad);
  CHECK(equal == out.size() - compression);
}

// The frames per Engine::forward call that Player makes for these blocks: it runs the
// engine as soon as whole frames are in, at most max_frames at a time, and cuts blocks
// longer than kMaxBlock.
std::vector<int> player_schedule(const std::vector<int>& blocks, size_t total, int compression,
                                 int max_frames) {
  std::vector<int> schedule;
  size_t done = 0;
  int fill = 0;
  for (size_t i = 0; done < total; ++i) {
    const int n = static_cast<int>(
        std::min<size_t>(static_cast<size_t>(blocks[i % blocks.size()]), total - done));
    for (int piece = 0; piece < n; piece += Player::kMaxBlock) {
      fill += std::min(Player::kMaxBlock, n - piece);
      while (fill >= compression) {
        const int frames = std::min(fill / compression, max_frames);
        schedule.push_back(frames);
        fill -= frames * compression;
      }
    }
    done += static_cast<size_t>(n);
  }
  return schedule;
}

}  // namespace

TEST_SUITE("player") {
  TEST_CASE("latency is one frame plus the model's forward delay") {
    using S = neurorave_tests::TestModelShape;
    const TempFile file("player_latency.nrv");
    file.write(neurorave_tests::test_model());
    Player player(Engine::load(file.path()));
    CHECK(player.latency() == S::compression + S::forward_samples);
    CHECK(player.info().compression == S::compression);
  }

  TEST_CASE("Player output equals Engine::forward one frame late, for any block sizes") {
    const TempFile file("player_blocks.nrv");
    file.write(neurorave_tests::test_model());
    auto reference_engine = Engine::load(file.path());
    Player player(Engine::load(file.path()));
    const int compression = player.info().compression;
    // 750 frames: more than 64 frames (Engine::max_frames) at a time, and several 8192 blocks.
    const std::vector<float> in = neurorave_tests::test_signal(750 * compression);
    // The engine on whole frames, as many at a time as it takes.
    const std::vector<float> reference =
        engine_forward(*reference_engine, in, {}, centred(*reference_engine));

    neurorave_tests::WeightSource source(5);
    std::vector<int> random_mix;
    for (int i = 0; i < 200; ++i)
      random_mix.push_back(static_cast<int>(1500.0f + source.next(1500.0f)));
    random_mix[3] = 0;
    random_mix[10] = compression - 1;
    random_mix[11] = 1;

    const std::vector<std::vector<int>> schedules = {{1},
                                                     {64},
                                                     {2048},
                                                     {3000},
                                                     {compression},
                                                     {compression - 1},
                                                     {Player::kMaxBlock},
                                                     {Player::kMaxBlock + 1},
                                                     random_mix};
    for (const auto& blocks : schedules) {
      CAPTURE(blocks.size() == 1 ? blocks[0] : -1);  // -1: the random mix
      player.reset();
      const std::vector<float> out = play(player, in, blocks);
      // Bit for bit, against the engine fed the same whole frames in the same calls.
      const auto schedule = player_schedule(blocks, in.size(), compression, 64);
      check_one_frame_late(
          out, engine_forward(*reference_engine, in, schedule, centred(*reference_engine)),
          compression);
      // Against the engine fed 64 frames a call: equal up to float rounding, which depends
      // on how many frames go through Eigen's products at once.
      check_one_frame_late(out, reference, compression, 1e-6f);
    }
  }

  TEST_CASE("Player processes in place") {
    const TempFile file("player_in_place.nrv");
    file.write(neurorave_tests::test_model());
    auto reference_engine = Engine::load(file.path());
    Player player(Engine::load(file.path()));
    const int compression = player.info().compression;
    const std::vector<float> in = neurorave_tests::test_signal(100 * compression);
    const std::vector<float> reference =
        engine_forward(*reference_engine, in, player_schedule({100}, in.size(), compression, 64),
                       centred(*reference_engine));
    std::vector<float> buffer = in;
    for (size_t done = 0; done < buffer.size(); done += 100) {
      const auto n = std::min<size_t>(100, buffer.size() - done);
      player.process(buffer.data() + done, buffer.data() + done, static_cast<int>(n));
    }
    check_one_frame_late(buffer, reference, compression);
  }

  TEST_CASE("Player controls reach the decoder frame by frame") {
    const TempFile file("player_controls.nrv");
    file.write(neurorave_tests::test_model());
    auto reference_engine = Engine::load(file.path());
    Player player(Engine::load(file.path()));
    const auto& info = player.info();
    const int compression = info.compression;
    const std::vector<float> in = neurorave_tests::test_signal(40 * compression);

    CHECK(player.control(0) == info.descriptors[0].centre());
    CHECK(player.control(1) == info.descriptors[1].centre());
    CHECK(player.control(7) == 0.0f);

    // No smoothing: a control set before the call that completes frame f applies to frame f.
    // Whole numbers, so that the smoothing arithmetic (s + 1 * (target - s)) is exact.
    player.set_smoothing_ms(0.0f);
    const auto rms = [](int frame) { return frame < 10 ? -15.0f : frame < 25 ? -45.0f : -3.0f; };
    // One frame a call, as the Player below runs it.
    const std::vector<int> one_frame_each(40, 1);
    const auto reference =
        engine_forward(*reference_engine, in, one_frame_each,
                       [&](int frame, int d) { return d == 0 ? rms(frame) : 1000.0f; });
    player.reset();
    player.set_control(1, 1000.0f);
    std::vector<float> out(in.size());
    for (int frame = 0; frame < 40; ++frame) {
      player.set_control(0, rms(frame));
      player.process(in.data() + frame * compression, out.data() + frame * compression,
                     compression);
    }
    check_one_frame_late(out, reference, compression);
    CHECK(player.control(0) == -3.0f);

    // Non-finite values and unknown descriptors are ignored.
    player.set_control(0, std::numeric_limits<float>::quiet_NaN());
    player.set_control(5, 1.0f);
    player.set_control(-1, 1.0f);
    CHECK(player.control(0) == -3.0f);

    // The controls make a difference (else the test above proves nothing).
    const auto plain =
        engine_forward(*reference_engine, in, one_frame_each, centred(*reference_engine));
    CHECK(plain != reference);
  }

  TEST_CASE("Player smooths control changes frame by frame") {
    const TempFile file("player_smoothing.nrv");
    file.write(neurorave_tests::test_model());
    auto reference_engine = Engine::load(file.path());
    Player player(Engine::load(file.path()));
    const auto& info = player.info();
    const int compression = info.compression, frames = 60;
    const std::vector<float> in = neurorave_tests::test_signal(frames * compression);
    const float tau_ms = 5.0f;
    const double frame_ms = 1000.0 * compression / info.sample_rate;

    // The first frame after reset() jumps to the target; later ones move a fraction
    // 1 - exp(-frame / tau) of the way each frame.
    std::vector<double> rms(frames);
    for (int f = 0; f < frames; ++f) {
      const double target = f < 20 ? -15.0 : -45.0;
      const double step = 1.0 - std::exp(-frame_ms / tau_ms);
      rms[f] = f == 0 ? target : rms[f - 1] + step * (target - rms[f - 1]);
    }
    const std::vector<int> one_frame_each(frames, 1);
    const auto smoothed = engine_forward(*reference_engine, in, one_frame_each, [&](int f, int d) {
      return d == 0 ? static_cast<float>(rms[f]) : info.descriptors[d].centre();
    });
    const auto jumped = engine_forward(*reference_engine, in, one_frame_each, [&](int f, int d) {
      return d == 0 ? (f < 20 ? -15.0f : -45.0f) : info.descriptors[d].centre();
    });

    player.set_smoothing_ms(tau_ms);
    player.reset();
    std::vector<float> out(in.size());
    for (int f = 0; f < frames; ++f) {
      player.set_control(0, f < 20 ? -15.0f : -45.0f);
      player.process(in.data() + f * compression, out.data() + f * compression, compression);
    }
    // Equal up to the float rounding of the smoothing.
    check_one_frame_late(out, smoothed, compression, 1e-5f);
    // And that is not the same as jumping.
    float apart = 0.0f;
    for (size_t n = compression; n < out.size(); ++n)
      apart = std::max(apart, std::abs(out[n] - jumped[n - compression]));
    CHECK(apart > 1e-3f);
  }

  TEST_CASE("Player reset: the same input gives the same output again") {
    const TempFile file("player_reset.nrv");
    file.write(neurorave_tests::test_model());
    Player player(Engine::load(file.path()));
    const std::vector<float> in = neurorave_tests::test_signal(50 * player.info().compression);
    const auto first = play(player, in, {100, 7, 300});
    player.reset();
    const auto second = play(player, in, {100, 7, 300});
    CHECK(first == second);
  }

}  // TEST_SUITE

TEST_SUITE("player: bad signals") {
  TEST_CASE("NaN, Inf and 1e38 in the input play as the silence they replace") {
    const TempFile file("player_bursts.nrv");
    file.write(neurorave_tests::test_model());
    Player player(Engine::load(file.path()));
    const int compression = player.info().compression;
    const std::vector<float> clean = neurorave_tests::test_signal(60 * compression);
    const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                                std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(), 1e38f, -3e38f};
    std::vector<float> spoiled = clean, zeroed = clean;
    size_t n = 0;
    const size_t frame = static_cast<size_t>(compression);
    for (const size_t start : {size_t{100}, 17 * frame + 3, 40 * frame})
      for (size_t i = start; i < start + 2 * frame + 5; ++i, ++n) {
        spoiled[i] = bad_values[n % 5];
        zeroed[i] = 0.0f;
      }
    const std::vector<int> blocks = {64, 7, 300};
    const auto out = play(player, spoiled, blocks);
    player.reset();
    const auto expected = play(player, zeroed, blocks);
    CHECK(std::all_of(out.begin(), out.end(), [](float v) { return std::isfinite(v); }));
    CHECK(out == expected);  // sample for sample, not only from the next frame on
    CHECK(player.nonfinite_resets() == 0);
  }

  TEST_CASE("faders, offsets and scales at absurd values stay within the fader's travel") {
    const TempFile file("player_extremes.nrv");
    file.write(neurorave_tests::test_model());
    Player player(Engine::load(file.path()));
    const auto& info = player.info();
    const int compression = info.compression;
    const std::vector<float> in = neurorave_tests::test_signal(20 * compression);
    player.set_smoothing_ms(0.0f);
    const auto top = [&](int d) {
      const auto& r = info.descriptors[d];
      return r.maximum + neurorave::DescriptorInfo::kFaderOvershoot * (r.maximum - r.minimum);
    };

    player.set_control(0, top(0));
    player.set_control(1, top(1));
    const auto at_top = play(player, in, {64});
    for (const float absurd : {1e6f, 3e38f, std::numeric_limits<float>::max()}) {
      CAPTURE(absurd);
      player.reset();
      player.set_control(0, absurd);
      player.set_control(1, absurd);
      CHECK(player.control(1) == top(1));
      CHECK(play(player, in, {64}) == at_top);  // the same as the top of the travel
    }

    // Followed with absurd offsets and scales: finite, within the travel, and sound again at
    // once when set back.
    for (const float scale : {3e38f, -3e38f, 1e6f}) {
      for (int d = 0; d < 2; ++d) {
        player.set_follow(d, true);
        player.set_scale(d, scale);
        player.set_offset(d, -scale);
      }
      const auto out = play(player, in, {64});
      CHECK(std::all_of(out.begin(), out.end(), [](float v) { return std::isfinite(v); }));
      const float peak = std::abs(*std::max_element(
          out.begin(), out.end(), [](float a, float b) { return std::abs(a) < std::abs(b); }));
      CHECK(peak <= 4.0f);
    }
    for (int d = 0; d < 2; ++d) player.set_follow(d, false);
    player.set_control(0, top(0));
    player.set_control(1, top(1));
    player.reset();
    CHECK(play(player, in, {64}) == at_top);
    CHECK(player.nonfinite_resets() == 0);
  }

  TEST_CASE("a model whose state overflows plays silence and restarts, and says so") {
    // Accepted weights (within the loader's bound) that overflow float in the decoder.
    const TempFile file("player_overflow.nrv");
    auto spec = neurorave_tests::test_model();
    for (auto& [name, tensor] : spec.tensors)
      if (name.rfind("decoder.", 0) == 0)
        for (size_t i = 0; i < tensor.values.size(); ++i)  // signs from a hash: +inf meets -inf
          tensor.values[i] = ((i * 2654435761u) >> 13) % 2 ? 9e5f : -9e5f;
    file.write(spec);
    auto engine = Engine::load(file.path());
    const int compression = engine->info().compression;
    const std::vector<float> in = neurorave_tests::test_signal(8 * compression);
    std::vector<float> raw(in.size());
    engine->forward(in.data(), nullptr, 8, raw.data());
    REQUIRE_FALSE(std::all_of(raw.begin(), raw.end(), [](float v) { return std::isfinite(v); }));

    Player player(std::move(engine));
    const auto out = play(player, in, {64});
    CHECK(std::all_of(out.begin(), out.end(), [](float v) { return std::isfinite(v); }));
    CHECK(player.nonfinite_resets() > 0);
  }

}  // TEST_SUITE
