// ThreadedPlayer: the Player's output one host block later, whatever the block size,
// with nothing but ring copies on the audio thread.

#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "heap_watch.hpp"
#include "neurorave/engine.hpp"
#include "neurorave/spsc_ring.hpp"
#include "neurorave/threaded_player.hpp"
#include "test_model_writer.hpp"

using neurorave::Engine;
using neurorave::Player;
using neurorave::SpscRing;
using neurorave::ThreadedPlayer;
using neurorave_tests::HeapWatch;
using neurorave_tests::TempFile;

TEST_SUITE("threaded player") {
  TEST_CASE("the ring moves all or nothing, in order, across its wrap-around") {
    SpscRing ring(6);  // rounded up to 8
    CHECK(ring.capacity() == 8);
    const std::vector<float> a = {1, 2, 3, 4, 5};
    std::vector<float> got(5);
    CHECK(ring.push(a.data(), 5));
    CHECK_FALSE(ring.push(a.data(), 4));  // only 3 free
    CHECK(ring.pop(got.data(), 3));
    CHECK(got[0] == 1.0f);
    CHECK(got[2] == 3.0f);
    CHECK(ring.push(a.data(), 5));  // wraps
    CHECK(ring.readable() == 7);
    CHECK(ring.pop(nullptr, 2));  // drops 4, 5
    CHECK(ring.pop(got.data(), 5));
    CHECK(got == a);
    CHECK_FALSE(ring.pop(got.data(), 1));
  }

  TEST_CASE("output equals the synchronous Player's, one block later") {
    const TempFile file("threaded.nrv");
    file.write(neurorave_tests::test_model());
    for (const int block : {1, 64, 100, 1024}) {
      CAPTURE(block);
      ThreadedPlayer threaded(std::make_unique<Player>(Engine::load(file.path())), block);
      Player reference(Engine::load(file.path()));
      threaded.player().set_control(1, reference.info().descriptors[1].maximum);
      reference.set_control(1, reference.info().descriptors[1].maximum);
      CHECK(threaded.latency() == reference.latency() + block);
      const size_t total = 30 * static_cast<size_t>(reference.info().compression) + 7 * block;
      const auto in = neurorave_tests::test_signal(total);
      std::vector<float> out(total), expected(total);
      for (size_t done = 0; done + block <= total; done += block) {
        threaded.process(in.data() + done, out.data() + done, block);
        threaded.wait_until_idle();  // an offline render may wait; a host never does
        reference.process(in.data() + done, expected.data() + done, block);
      }
      CHECK(threaded.underruns() == 0);
      size_t equal = 0, compared = 0;
      for (size_t n = block; n + block <= total; ++n, ++compared)
        equal += out[n] == expected[n - block];
      CHECK(compared > 0);
      CHECK(equal == compared);
      for (int n = 0; n < block; ++n) CHECK(out[n] == 0.0f);
    }
  }

  TEST_CASE("release hands the Player back where the worker left it, for another block size") {
    const TempFile file("threaded_release.nrv");
    file.write(neurorave_tests::test_model());
    const int block = 64;
    auto threaded = std::make_unique<ThreadedPlayer>(
        std::make_unique<Player>(Engine::load(file.path())), block);
    CHECK(threaded->block_size() == block);
    Player reference(Engine::load(file.path()));
    const auto in = neurorave_tests::test_signal(40 * block);
    std::vector<float> out(block), expected(block);
    for (int k = 0; k < 20; ++k) {  // the worker plays blocks 0..19
      threaded->process(in.data() + k * block, out.data(), block);
      threaded->wait_until_idle();
      reference.process(in.data() + k * block, expected.data(), block);
    }
    std::unique_ptr<Player> player = threaded->release();
    threaded.reset();
    REQUIRE(player);
    ThreadedPlayer again(std::move(player), 2 * block);  // a new worker, another block size
    CHECK(again.latency() == reference.latency() + 2 * block);
    std::vector<float> out2(2 * block), expected2(2 * block);
    reference.process(in.data() + 20 * block, expected2.data(), 2 * block);
    again.process(in.data() + 20 * block, out2.data(), 2 * block);  // a block of silence
    again.wait_until_idle();
    again.process(in.data() + 22 * block, out2.data(), 2 * block);
    CHECK(out2 == expected2);
  }

  TEST_CASE("the audio side never allocates, and a late worker costs silence, not drift") {
    const TempFile file("threaded_rt.nrv");
    file.write(neurorave_tests::test_model());
    const int block = 64;
    ThreadedPlayer threaded(std::make_unique<Player>(Engine::load(file.path())), block);
    const auto in = neurorave_tests::test_signal(64 * block);
    std::vector<float> out(in.size());
    HeapWatch watch;
    watch.start();
    for (size_t done = 0; done < in.size(); done += block)
      threaded.process(in.data() + done, out.data() + done, block);  // no waiting: may underrun
    const auto heap = watch.stop();
    CHECK_NO_HEAP(heap);
    threaded.wait_until_idle();
    // However many blocks were late, the late output is dropped and the stream recovers:
    // once the worker keeps up again, no block is missed any more.
    MESSAGE("underruns in a burst without waiting: " << threaded.underruns());
    std::vector<float> tail(block);
    auto waited_block = [&] {
      threaded.process(in.data(), tail.data(), block);
      threaded.wait_until_idle();
    };
    for (int i = 0; i < 8; ++i) waited_block();
    const long settled = threaded.underruns();
    for (int i = 0; i < 8; ++i) waited_block();
    CHECK(threaded.underruns() == settled);
  }

}  // TEST_SUITE
