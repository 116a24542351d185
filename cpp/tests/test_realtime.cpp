// Real-time safety: once loaded, Engine and Player never touch the heap
// (operator new and Eigen's own mallocs are both watched: heap_watch.hpp).

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "heap_watch.hpp"
#include "model_file.hpp"
#include "network_builder.hpp"
#include "neurorave/engine.hpp"
#include "neurorave/player.hpp"
#include "test_model_writer.hpp"

namespace {

using neurorave::Engine;
using neurorave::Player;
using neurorave::StreamKind;
using neurorave_tests::Heap;
using neurorave_tests::HeapWatch;
using neurorave_tests::ModelSpec;
using neurorave_tests::TempFile;

// Block sizes a host may use, in samples.
const std::vector<int> kBlocks = {1, 64, 1000, 2048, 3000, 8192};

// Engine calls `frames` at a time, repeatedly, for every entry point.
Heap engine_heap(Engine& engine, int frames) {
  const auto& info = engine.info();
  const int samples = frames * info.compression;
  const int descriptors = static_cast<int>(info.descriptors.size());
  const std::vector<float> in = neurorave_tests::test_signal(static_cast<size_t>(samples));
  std::vector<float> out(static_cast<size_t>(samples));
  std::vector<float> z(static_cast<size_t>(frames * info.latent_size));
  std::vector<float> controls(static_cast<size_t>(frames * descriptors));
  for (int d = 0; d < descriptors; ++d)
    for (int t = 0; t < frames; ++t) controls[t * descriptors + d] = info.descriptors[d].centre();
  HeapWatch watch;
  watch.start();
  // No warm-up call before: whatever the first call would allocate counts too.
  engine.reset(StreamKind::forward);
  engine.forward(in.data(), controls.data(), frames, out.data());
  engine.forward(in.data(), nullptr, frames, out.data());
  engine.encode(in.data(), frames, z.data());
  engine.reset(StreamKind::decode);
  engine.decode(z.data(), controls.data(), frames, out.data());
  engine.decode(z.data(), nullptr, frames, out.data());
  return watch.stop();
}

// Player::process with `block` samples a call, over a few frames' worth of audio.
Heap player_heap(Player& player, int block) {
  const int compression = player.info().compression;
  const int total = std::max(3 * block, 4 * compression);
  const std::vector<float> in = neurorave_tests::test_signal(static_cast<size_t>(total));
  std::vector<float> out(static_cast<size_t>(total));
  HeapWatch watch;
  watch.start();
  player.reset();
  for (int done = 0; done < total; done += block) {
    const int n = std::min(block, total - done);
    if (done == 2 * block) {  // controls move while playing
      player.set_control(0, player.info().descriptors[0].minimum);
      player.set_smoothing_ms(5.0f);
    }
    player.process(in.data() + done, out.data() + done, n);
  }
  player.process(in.data(), out.data(), 0);
  return watch.stop();
}

// `max_frames`: the engine sizes to try (Engine::load's max_frames_per_call).
void check_model(const ModelSpec& spec, const std::string& name,
                 const std::vector<int>& engine_sizes) {
  const TempFile file(name);
  file.write(spec);

  SUBCASE("Engine::forward, encode and decode") {
    for (const int max_frames : engine_sizes) {
      auto engine = Engine::load(file.path(), max_frames);
      std::vector<int> frame_counts = {1, max_frames};
      const int compression = spec.description["compression"].get<int>();
      for (const int block : kBlocks)
        frame_counts.push_back(std::clamp(block / compression, 1, max_frames));
      std::sort(frame_counts.begin(), frame_counts.end());
      frame_counts.erase(std::unique(frame_counts.begin(), frame_counts.end()), frame_counts.end());
      for (const int frames : frame_counts) {
        CAPTURE(max_frames);
        CAPTURE(frames);
        CHECK_NO_HEAP(engine_heap(*engine, frames));
      }
    }
  }
  SUBCASE("Player::process") {
    Player player(Engine::load(file.path()));
    for (const int block : kBlocks) {
      CAPTURE(block);
      CHECK_NO_HEAP(player_heap(player, block));
    }
    // Longer than kMaxBlock: process() cuts it in pieces itself.
    CAPTURE(Player::kMaxBlock + 1000);
    CHECK_NO_HEAP(player_heap(player, Player::kMaxBlock + 1000));
  }
}

// Every conv and transposed conv of a model, alone: process() on `frames` engine frames'
// worth of columns, heap watched. Names the layers (and the product sizes) that allocate.
class LayerProbe {
 public:
  LayerProbe(const neurorave::ModelFile& file, int frames) : build_(file), frames_(frames) {}

  // One line per layer that allocated; empty if none did.
  const std::string& offenders() const { return offenders_; }

  void ops(const neurorave_tests::json& list, int channels, int columns_per_frame) {
    for (const auto& op : list) {
      const std::string kind = op.value("op", "");
      if (kind == "conv") {
        auto conv = build_.conv(op, channels, op["name"]);
        const int k = op["kernel"].get<int>() * channels / op.value("groups", 1);
        const int n = frames_ * columns_per_frame / op.value("stride", 1);
        probe(*conv, op["name"], channels, columns_per_frame,
              std::to_string(op["out"].get<int>() / op.value("groups", 1)) + " x " +
                  std::to_string(k) + " times " + std::to_string(k) + " x " + std::to_string(n));
        channels = conv->out_channels();
        columns_per_frame /= op.value("stride", 1);
      } else if (kind == "conv_transpose") {
        auto up = build_.conv_transpose(op, channels, op["name"]);
        const int m = op["kernel"].get<int>() * op["out"].get<int>();
        const int n = frames_ * columns_per_frame;
        probe(*up, op["name"], channels, columns_per_frame,
              std::to_string(m) + " x " + std::to_string(channels) + " times " +
                  std::to_string(channels) + " x " + std::to_string(n));
        channels = up->out_channels();
        columns_per_frame *= op["stride"].get<int>();
      } else if (kind == "residual") {
        ops(op["branch"], channels, columns_per_frame);
      } else if (kind == "waveform_head") {
        channels = op["bands"].get<int>();
      }
    }
  }

 private:
  void probe(neurorave::Layer& layer, const std::string& name, int channels, int columns_per_frame,
             const std::string& product) {
    const int columns = frames_ * columns_per_frame;
    layer.prepare(columns);
    const neurorave::Matrix in = neurorave::Matrix::Random(channels, columns);
    HeapWatch watch;
    watch.start();
    (void)layer.process(neurorave::View(in.data(), channels, columns));
    const Heap heap = watch.stop();
    if (heap.total() != 0)
      offenders_ += "\n  " + std::to_string(frames_) + " frames: " + name + ", product " + product +
                    ": " + std::to_string(heap.news + heap.deletes) + " new/delete, " +
                    std::to_string(heap.eigen_mallocs) + " Eigen malloc";
  }

  neurorave::NetworkBuilder build_;
  int frames_;
  std::string offenders_;
};

void check_layers(const ModelSpec& spec, const std::string& name, const std::vector<int>& frames) {
  const TempFile file(name);
  file.write(spec);
  const auto model = neurorave::ModelFile::read(file.path());
  const auto& d = model.description();
  const int compression = d["compression"].get<int>();
  const int bands = d["pqmf"]["bands"].get<int>();
  std::string offenders;
  for (const int f : frames) {
    LayerProbe probe(model, f);
    probe.ops(neurorave_tests::json::array({d["pqmf"]["analysis"]}), 1, compression);
    probe.ops(d["encoder"], bands, compression / bands);
    const int decoder_in = d["latent_size"].get<int>() + static_cast<int>(d["descriptors"].size());
    probe.ops(d["decoder"], decoder_in, 1);
    probe.ops(neurorave_tests::json::array({d["pqmf"]["synthesis"]}), bands, compression / bands);
    offenders += probe.offenders();
  }
  INFO("layers whose process() allocates (product: weights x columns):" << offenders);
  CHECK(offenders.empty());
}

}  // namespace

TEST_SUITE("realtime") {
  TEST_CASE("the heap watch sees operator new and Eigen's malloc") {
    HeapWatch watch;
    watch.start();
    int* volatile p = new int(3);  // volatile: the pair may not be optimised away
    delete p;
    Heap heap = watch.stop();
    CHECK(heap.news == 1);
    CHECK(heap.deletes == 1);
#ifdef NEURORAVE_TESTS_EIGEN_CHECKS
    watch.start();
    {
      Eigen::MatrixXf m(64, 64);  // Eigen's own aligned_malloc, not operator new
      m.setZero();
    }
    heap = watch.stop();
    CHECK(heap.news == 0);
    CHECK(heap.eigen_mallocs >= 1);
#else
    MESSAGE("built without NEURORAVE_TESTS_EIGEN_CHECKS: Eigen's own mallocs are not watched");
#endif
  }

  // Engine sizes: enough frames for Player's biggest block, and the default (what Player uses).

  TEST_CASE("no heap allocation after load: the test model (compression 16, 16..64 channels)") {
    check_model(neurorave_tests::test_model(), "realtime_test_model.nrv", {8192 / 16, 64});
  }

  TEST_CASE("no heap allocation after load: compression 2048, 16 bands, 16..64 channels") {
    check_model(neurorave_tests::wide_model(), "realtime_wide.nrv", {8192 / 2048, 64});
  }

  TEST_CASE("no heap allocation after load: the shapes of config 'small' (352 channels)") {
    // Compression 512. The default 64 frames would take seconds here; 16 frames cover
    // Player's biggest block.
    check_model(neurorave_tests::preset_model(neurorave_tests::small_preset()),
                "realtime_small_preset.nrv", {8192 / 512});
  }

  // The same models layer by layer, with the frames per call Player makes at its largest
  // block (kMaxBlock / compression, rounded up) and Engine's default 64: which layer
  // allocates, and for which product sizes.
  TEST_CASE("layer by layer: which products allocate") {
    SUBCASE("the test model") {
      check_layers(neurorave_tests::test_model(), "layers_test.nrv", {1, 512, 64});
    }
    SUBCASE("compression 2048") {
      check_layers(neurorave_tests::wide_model(), "layers_wide.nrv", {1, 4, 64});
    }
    SUBCASE("config 'small'") {
      check_layers(neurorave_tests::preset_model(neurorave_tests::small_preset()),
                   "layers_small.nrv", {1, 16, 64});
    }
  }

}  // TEST_SUITE
