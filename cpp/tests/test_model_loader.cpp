// ModelLoader: files load on its worker, bad ones come back as errors naming the file,
// and take() hands results over without waiting.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "neurorave/engine.hpp"
#include "neurorave/model_loader.hpp"
#include "test_model_writer.hpp"

using neurorave::LoadResult;
using neurorave::ModelLoader;
using neurorave::Player;
using neurorave_tests::TempFile;
using neurorave_tests::to_safetensors;

namespace {
// Polls as a host's clock would; gives up after 60 s (qemu is slow, never that slow).
std::optional<LoadResult> poll(ModelLoader& loader) {
  for (int tries = 0; tries < 60000; ++tries) {
    if (auto result = loader.take()) return result;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::nullopt;
}
}  // namespace

TEST_SUITE("model loader") {
  TEST_CASE("a model loads in the background and plays as one loaded directly") {
    const TempFile file("loader_good.nrv");
    file.write(neurorave_tests::test_model());
    ModelLoader loader;
    loader.request(file.path());
    auto result = poll(loader);
    REQUIRE(result);
    CHECK(result->error.empty());
    CHECK(result->path == file.path());
    REQUIRE(result->player);
    CHECK_FALSE(loader.busy());
    Player direct(neurorave::Engine::load(file.path()));
    const auto in = neurorave_tests::test_signal(1000);
    std::vector<float> a(in.size()), b(in.size());
    direct.process(in.data(), a.data(), static_cast<int>(in.size()));
    result->player->process(in.data(), b.data(), static_cast<int>(in.size()));
    CHECK(a == b);
    loader.discard(std::move(result->player));  // freed on the worker
  }

  TEST_CASE("with a finish, the result goes there on the worker; the chore runs between loads") {
    const TempFile file("loader_finish.nrv");
    file.write(neurorave_tests::test_model());
    std::atomic<int> chores{0};
    std::atomic<bool> finished{false};
    std::thread::id finish_thread;
    std::unique_ptr<Player> delivered;
    ModelLoader loader([&] { chores.fetch_add(1); }, std::chrono::milliseconds(1));
    loader.request(file.path(), [&](LoadResult result) {
      finish_thread = std::this_thread::get_id();
      delivered = std::move(result.player);
      finished.store(true);
    });
    for (int tries = 0; tries < 60000 && !(finished.load() && chores.load() > 2); ++tries)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(finished.load());
    CHECK(delivered);
    CHECK(finish_thread != std::this_thread::get_id());
    CHECK_FALSE(loader.take());  // nothing queued for take(): the finish had it
    CHECK(chores.load() > 2);    // idle, the worker keeps doing its chore
    CHECK_FALSE(loader.pending());
  }

  TEST_CASE("a missing or broken file comes back as an error naming it") {
    const TempFile broken("loader_broken.nrv");
    broken.write(to_safetensors(neurorave_tests::test_model()).bytes().substr(0, 100));
    const TempFile missing("loader_missing.nrv");
    ModelLoader loader;
    for (const std::string& path : {broken.path(), missing.path()}) {
      loader.request(path);
      const auto result = loader.wait();
      REQUIRE(result);
      CHECK_FALSE(result->player);
      CHECK(result->error.rfind(path + ": ", 0) == 0);
      CHECK(result->error.size() > path.size() + 2);
    }
    CHECK_FALSE(loader.take());
  }

  TEST_CASE("the newest request wins over one not yet started, and wait returns it") {
    const TempFile first("loader_first.nrv"), second("loader_second.nrv");
    first.write(neurorave_tests::test_model());
    second.write(neurorave_tests::test_model());
    ModelLoader loader;
    for (int i = 0; i < 20; ++i) loader.request(i % 2 ? first.path() : second.path());
    loader.request(second.path());
    const auto last = loader.wait();
    REQUIRE(last);
    CHECK(last->path == second.path());
    CHECK(last->player);
    CHECK_FALSE(loader.busy());
  }

  TEST_CASE("destroying the loader with work queued joins cleanly") {
    const TempFile file("loader_quit.nrv");
    file.write(neurorave_tests::test_model());
    auto loader = std::make_unique<ModelLoader>();
    loader->discard(std::make_unique<Player>(neurorave::Engine::load(file.path())));
    loader->request(file.path());
    loader.reset();
    CHECK_FALSE(loader);
  }

}  // TEST_SUITE
