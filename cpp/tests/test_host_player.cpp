// HostPlayer and ModelSwap: the threaded engine against bursty hosts at real-time pace,
// the choice between synchronous and threaded play, and swapping models without a hole.

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <thread>
#include <vector>

#include "heap_watch.hpp"
#include "machine_stalls.hpp"
#include "neurorave/engine.hpp"
#include "neurorave/host_player.hpp"
#include "neurorave/model_swap.hpp"
#include "test_model_writer.hpp"

using neurorave::Engine;
using neurorave::HostPlayer;
using neurorave::ModelSwap;
using neurorave::Playback;
using neurorave::Player;
using neurorave_tests::HeapWatch;
using neurorave_tests::TempFile;

TEST_SUITE("host player") {
  TEST_CASE("a threaded player survives bursty hosts at real-time pace with no underrun") {
    const TempFile file("bursts.nrv");
    file.write(neurorave_tests::test_model());
    for (const int burst : {1, 32, 64, 256, 735, 1024}) {
      CAPTURE(burst);
      auto player = std::make_unique<Player>(Engine::load(file.path()));
      const int rate = player->info().sample_rate;
      const double frame = neurorave::measure_frame_seconds(*player);
      const double frame_audio = static_cast<double>(player->info().compression) / rate;
      if (frame > 0.25 * frame_audio) {
        // Under an emulator (the aarch64 run under qemu) the model plays slower than real
        // time: no budget can hide that, and there is nothing to test at real-time pace.
        MESSAGE("skipped: a frame costs " << frame * 1e6 << " us for " << frame_audio * 1e6
                                          << " us of audio here");
        return;
      }
      Playback playback;
      playback.threaded = true;
      playback.block = std::min(burst, 64);  // the host's calls within a burst
      playback.budget = neurorave::threaded_budget(burst, playback.block, rate, frame);
      HostPlayer host(std::move(player), playback);
      CHECK(host.latency() == host.player().latency() + playback.budget);
      const auto in = neurorave_tests::test_signal(static_cast<size_t>(rate / 2));
      std::vector<float> out(in.size());
      // Like Rack's engine thread: a burst of frames back to back, then a sleep until the
      // burst's time has passed on the clock.
      const neurorave_tests::MachineStalls stalls;
      using Clock = std::chrono::steady_clock;
      auto due = Clock::now();
      for (size_t done = 0; done < in.size(); done += static_cast<size_t>(burst)) {
        const int n = static_cast<int>(std::min(in.size() - done, static_cast<size_t>(burst)));
        std::this_thread::sleep_until(due);
        host.process(in.data() + done, out.data() + done, n);
        due += std::chrono::nanoseconds(static_cast<long long>(1e9 * n / rate));
      }
      MESSAGE("burst " << burst << ": frame " << frame * 1e6 << " us, budget " << playback.budget
                       << " samples, underruns " << host.underruns() << "; the machine stalled "
                       << stalls.count() << " times, longest " << stalls.longest_seconds() * 1e3
                       << " ms");
      // No budget covers a stop of the machine as long as itself: only then may audio go.
      const double budget_seconds = static_cast<double>(playback.budget) / rate;
      if (stalls.longest_seconds() < 0.5 * budget_seconds) CHECK(host.underruns() == 0);
    }
  }

  TEST_CASE("a late worker counts one underrun per lost call, never more than the calls") {
    const TempFile file("late.nrv");
    file.write(neurorave_tests::test_model());
    Playback playback;
    playback.threaded = true;
    playback.block = 32;
    playback.budget = 32;
    HostPlayer host(std::make_unique<Player>(Engine::load(file.path())), playback);
    const auto in = neurorave_tests::test_signal(4096 * 32);
    std::vector<float> out(32);
    long calls = 0;
    for (size_t done = 0; done < in.size(); done += 32, ++calls)  // no pace: mostly late
      host.process(in.data() + done, out.data(), 32);
    CHECK(host.underruns() <= calls);
  }

  TEST_CASE("choose_playback: synchronous when a frame is cheap against the burst") {
    const auto cheap = neurorave::choose_playback(735, 32, 44100, 0.0002);
    CHECK_FALSE(cheap.threaded);
    CHECK(std::string(neurorave::playback_name(cheap)) == "synchronous");
    const auto dear = neurorave::choose_playback(32, 32, 44100, 0.0002);
    CHECK(dear.threaded);
    CHECK(std::string(neurorave::playback_name(dear)) == "threaded");
    // The burst in whole calls, then the wake-up allowance + two frames in whole calls.
    const double worker = (neurorave::kWorkerWakeSeconds + 0.0004) * 44100;
    CHECK(dear.budget == 32 + 32 * static_cast<int>(std::ceil(worker / 32)));
    CHECK(neurorave::threaded_budget(735, 32, 44100, 0.0) ==
          736 + 32 * static_cast<int>(std::ceil(neurorave::kWorkerWakeSeconds * 44100 / 32)));
  }

  namespace {
  // Plays `in` through `swap` in blocks, offering `fresh` before block `offer_block`.
  std::vector<float> play_swap(ModelSwap<HostPlayer>& swap, const std::vector<float>& in, int block,
                               int offer_block, std::unique_ptr<HostPlayer> fresh) {
    std::vector<float> out(in.size());
    for (size_t b = 0; (b + 1) * block <= in.size(); ++b) {
      if (static_cast<int>(b) == offer_block) CHECK(swap.offer(std::move(fresh)) == nullptr);
      const float* x = in.data() + b * block;
      swap.process(out.data() + b * block, block,
                   [&](HostPlayer& voice, float* o) { voice.process(x, o, block); });
    }
    return out;
  }
  }  // namespace

  TEST_CASE("a swap keeps the old model until the new one sounds, then crossfades") {
    const TempFile a_file("swap_a.nrv"), b_file("swap_b.nrv");
    a_file.write(neurorave_tests::test_model(1));
    b_file.write(neurorave_tests::test_model(2));
    auto make = [](const TempFile& f) {
      return std::make_unique<HostPlayer>(std::make_unique<Player>(Engine::load(f.path())),
                                          Playback{});
    };
    const int block = 64, fade = 100, offer_block = 20;
    ModelSwap<HostPlayer> swap(block, fade);
    swap.offer(make(a_file));
    const auto in = neurorave_tests::test_signal(120 * block);
    const auto out = play_swap(swap, in, block, offer_block, make(b_file));
    auto old = swap.collect();
    REQUIRE(old != nullptr);
    CHECK(old->info().path == a_file.path());
    CHECK(swap.current()->info().path == b_file.path());
    CHECK_FALSE(swap.pending());

    Player a(Engine::load(a_file.path())), b(Engine::load(b_file.path()));
    std::vector<float> alone_a(in.size()), alone_b(in.size());
    a.process(in.data(), alone_a.data(), static_cast<int>(in.size()));
    const size_t start = static_cast<size_t>(offer_block) * block;
    b.process(in.data() + start, alone_b.data() + start, static_cast<int>(in.size() - start));
    // The fade starts at the first block boundary after the new model's primed silence.
    const size_t fade_start = start + ((b.latency() + block - 1) / block) * block;
    for (size_t n = 0; n < in.size(); ++n) {
      const float expected =
          n < fade_start ? alone_a[n]
          : n >= fade_start + fade
              ? alone_b[n]
              : static_cast<float>(std::cos((n - fade_start + 0.5) / fade * M_PI / 2) * alone_a[n] +
                                   std::sin((n - fade_start + 0.5) / fade * M_PI / 2) * alone_b[n]);
      if (std::abs(out[n] - expected) > 1e-6f) {
        CAPTURE(n);
        CHECK(out[n] == doctest::Approx(expected).epsilon(1e-5));
        break;
      }
    }
    // No block of silence anywhere after the model first sounds.
    for (size_t b0 = static_cast<size_t>(a.latency() / block + 1) * block; b0 + block <= out.size();
         b0 += block) {
      bool silent = true;
      for (int i = 0; i < block; ++i) silent &= out[b0 + i] == 0.0f;
      CHECK_FALSE(silent);
    }
  }

  TEST_CASE("swapping never allocates or frees on the audio thread") {
    const TempFile a_file("swap_rt_a.nrv"), b_file("swap_rt_b.nrv");
    a_file.write(neurorave_tests::test_model(1));
    b_file.write(neurorave_tests::test_model(3));
    const int block = 32;
    ModelSwap<HostPlayer> swap(block, 64);
    swap.offer(std::make_unique<HostPlayer>(std::make_unique<Player>(Engine::load(a_file.path())),
                                            Playback{}));
    swap.offer(std::make_unique<HostPlayer>(std::make_unique<Player>(Engine::load(b_file.path())),
                                            Playback{}));  // replaces A before it played
    auto fresh = std::make_unique<HostPlayer>(std::make_unique<Player>(Engine::load(a_file.path())),
                                              Playback{});
    const auto in = neurorave_tests::test_signal(200 * block);
    std::vector<float> out(block);
    std::unique_ptr<HostPlayer> retired;
    HeapWatch watch;
    watch.start();
    for (int b = 0; b < 200; ++b) {
      if (b == 5) fresh = swap.offer(std::move(fresh));  // a pointer exchange, no allocation
      swap.process(out.data(), block, [&](HostPlayer& voice, float* o) {
        voice.process(in.data() + b * block, o, block);
      });
    }
    const auto heap = watch.stop();
    CHECK_NO_HEAP(heap);
    CHECK(fresh == nullptr);
    retired = swap.collect();
    REQUIRE(retired != nullptr);
    CHECK(retired->info().path == b_file.path());
  }

}  // TEST_SUITE
