// Handover: a loader thread hands objects to an audio thread, which never frees one.

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "heap_watch.hpp"
#include "neurorave/handover.hpp"

using neurorave::Handover;
using neurorave_tests::HeapWatch;

namespace {

// Counts live objects, so that a test sees every one freed exactly once.
struct Counted {
  explicit Counted(int v, std::atomic<int>& live) : value(v), live_(live) { ++live_; }
  ~Counted() { --live_; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  const int value;

 private:
  std::atomic<int>& live_;
};

}  // namespace

TEST_SUITE("handover") {
  TEST_CASE("an offer is taken once, and the old object comes back to be freed") {
    std::atomic<int> live{0};
    Handover<Counted> handover;
    std::unique_ptr<Counted> current;
    CHECK_FALSE(handover.swap_into(current));  // nothing on offer
    CHECK(handover.offer(std::make_unique<Counted>(1, live)) == nullptr);
    CHECK(handover.offered());
    CHECK(handover.swap_into(current));
    REQUIRE(current != nullptr);
    CHECK(current->value == 1);
    CHECK(handover.collect() == nullptr);  // nothing was playing before

    CHECK(handover.offer(std::make_unique<Counted>(2, live)) == nullptr);
    // A second offer before the audio thread looked replaces the first, never played.
    const auto unplayed = handover.offer(std::make_unique<Counted>(3, live));
    REQUIRE(unplayed != nullptr);
    CHECK(unplayed->value == 2);
    CHECK(handover.swap_into(current));
    CHECK(current->value == 3);
    CHECK(live.load() == 3);  // 1 retired, 2 with the caller, 3 playing

    // Until the retired object is collected, the audio thread leaves the next offer be.
    handover.offer(std::make_unique<Counted>(4, live));
    CHECK_FALSE(handover.swap_into(current));
    CHECK(current->value == 3);
    const auto retired = handover.collect();
    REQUIRE(retired != nullptr);
    CHECK(retired->value == 1);
    CHECK(handover.swap_into(current));
    CHECK(current->value == 4);
  }

  TEST_CASE("whatever is left in the handover is freed with it") {
    std::atomic<int> live{0};
    {
      Handover<Counted> handover;
      std::unique_ptr<Counted> current;
      handover.offer(std::make_unique<Counted>(1, live));
      handover.swap_into(current);
      handover.offer(std::make_unique<Counted>(2, live));
      handover.swap_into(current);                         // 1 retired
      handover.offer(std::make_unique<Counted>(3, live));  // on offer
      CHECK(live.load() == 3);
    }
    CHECK(live.load() == 0);
  }

  TEST_CASE("the audio side neither allocates nor frees") {
    std::atomic<int> live{0};
    Handover<Counted> handover;
    std::unique_ptr<Counted> current = std::make_unique<Counted>(0, live);
    handover.offer(std::make_unique<Counted>(1, live));
    HeapWatch watch;
    watch.start();
    const bool swapped = handover.swap_into(current);
    const bool again = handover.swap_into(current);
    const auto heap = watch.stop();
    CHECK(swapped);
    CHECK_FALSE(again);
    CHECK_NO_HEAP(heap);
    CHECK(handover.collect()->value == 0);
  }

  TEST_CASE("a loader and an audio thread racing lose and double-free nothing") {
    std::atomic<int> live{0};
    constexpr int kOffers = 20000;
    {
      Handover<Counted> handover;
      std::atomic<bool> done{false};
      std::atomic<long> swaps{0};
      std::atomic<bool> ordered{true};
      std::thread audio([&] {
        std::unique_ptr<Counted> current;
        int last = -1;
        while (!done.load()) {
          if (!handover.swap_into(current)) continue;
          ++swaps;
          if (current->value <= last) ordered = false;  // never an older object again
          last = current->value;
        }
        // `current` is freed here, off any real audio thread: the test's own choice.
      });
      for (int i = 0; i < kOffers; ++i) {
        handover.offer(std::make_unique<Counted>(i, live));  // an unplayed one is freed here
        handover.collect();
      }
      while (handover.offered()) handover.collect();
      done = true;
      audio.join();
      handover.collect();
      CHECK(ordered.load());
      CHECK(swaps.load() >= 1);
    }
    CHECK(live.load() == 0);
  }

}  // TEST_SUITE
