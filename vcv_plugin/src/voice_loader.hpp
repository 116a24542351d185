#pragma once
// Loads models into neurorave::ModuleVoices on the core's neurorave::ModelLoader thread
// and offers them to the audio thread through a neurorave::ModelSwap, which keeps the old
// model playing until the new one sounds and then crossfades: the audio thread never
// loads, allocates or frees, and a swap never leaves a hole. A file that fails to load
// leaves the playing model alone and reports why.
//
// How each voice plays (synchronously in Rack's engine thread, or on a worker running
// ahead by a latency budget) is chosen on the loader's thread for the engine's burst (its
// block size) and sample rate, which the audio thread reports; when they change, the
// model is loaded again and chosen anew. The loader's chore frees what the swap retired,
// so this works in a headless Rack too, where no UI step runs.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "neurorave/model_info.hpp"
#include "neurorave/model_loader.hpp"
#include "neurorave/model_swap.hpp"
#include "neurorave/module_voice.hpp"

// Where the model runs: chosen for the engine's block (automatic), or as the user asks.
enum class Inference { automatic, engine_thread, worker_thread };

class VoiceLoader {
 public:
  // What the display shows; `info`, `path` and `playback` are the last model that loaded.
  struct Status {
    std::string path;
    std::string error;  // the last load's failure, empty after a success
    bool loading = false;
    bool loaded = false;
    neurorave::ModelInfo info;
    neurorave::Playback playback;
    int voice_latency = 0;  // ModuleVoice::latency() of that model
  };

  // `block`: samples per ModuleVoice call (the module gathers them); `fade`: the swap's
  // crossfade in samples; `default_path`: the model played until one is chosen.
  VoiceLoader(int block, int fade, std::string default_path);
  ~VoiceLoader() = default;  // the loader goes first: it finishes a load in progress
  VoiceLoader(const VoiceLoader&) = delete;
  VoiceLoader& operator=(const VoiceLoader&) = delete;

  // Not the audio thread. Loads `path` (the newest request wins over one not started).
  void load(const std::string& path, neurorave::CvConvention convention,
            Inference inference = Inference::automatic);
  // Audio thread, real-time safe: the engine's block size and sample rate now.
  void set_timing(int burst, int sample_rate) {
    burst_.store(burst, std::memory_order_relaxed);
    rate_.store(sample_rate, std::memory_order_relaxed);
  }
  Status status() const;
  // Bumped whenever status() changes, so the UI refreshes its labels only then.
  long version() const { return version_.load(std::memory_order_acquire); }
  const std::string& default_path() const { return default_path_; }
  // The audio thread plays from it.
  neurorave::ModelSwap<neurorave::ModuleVoice>& swap() { return swap_; }

  // The display's lines about the model (file, latency, playback, error).
  static std::vector<std::string> status_lines(const Status& status, int block);

 private:
  struct Request {
    std::string path;
    neurorave::CvConvention convention;
    Inference inference;
  };
  // On the loader's thread, as are playing_ and built_*.
  void ask(const Request& request);
  void tend();
  void finish(const Request& request, neurorave::LoadResult loaded);
  void publish(Status fresh);

  const int block_;
  const std::string default_path_;
  neurorave::ModelSwap<neurorave::ModuleVoice> swap_;
  std::atomic<int> burst_{0};
  std::atomic<int> rate_{0};
  mutable std::mutex mutex_;  // guards status_; never the audio thread's
  Status status_;
  std::optional<Request> playing_;        // what the playing voice was loaded from
  int built_burst_ = 0, built_rate_ = 0;  // the timing its playback was chosen for
  std::atomic<long> version_{0};
  neurorave::ModelLoader loader_;  // last: its thread starts once everything above exists
};
