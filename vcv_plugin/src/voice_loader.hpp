#pragma once
// Loads a model into a neurorave::ModuleVoice on a background thread and hands it to the
// audio thread through a neurorave::Handover: the audio thread never loads, allocates or
// frees. A file that fails to load leaves the playing model alone and reports why.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "neurorave/handover.hpp"
#include "neurorave/model_info.hpp"
#include "neurorave/module_voice.hpp"

class VoiceLoader {
 public:
  // What the UI shows; `info` and `path` are the last model that loaded.
  struct Status {
    std::string path;
    std::string error;  // the last load's failure, empty after a success
    bool loading = false;
    bool loaded = false;
    neurorave::ModelInfo info;
    int voice_latency = 0;  // ModuleVoice::latency() of that model
  };

  // `threaded_block`: ModuleVoice's worker block (0: inference in process()).
  explicit VoiceLoader(int threaded_block) : threaded_block_(threaded_block) {}
  ~VoiceLoader();  // waits for a load in progress
  VoiceLoader(const VoiceLoader&) = delete;
  VoiceLoader& operator=(const VoiceLoader&) = delete;

  // Not the audio thread. Starts loading `path` (after any load in progress finishes).
  void load(const std::string& path, neurorave::CvConvention convention);
  Status status() const;
  // Bumped whenever status() changes, so the UI refreshes its labels only then.
  long version() const { return version_.load(std::memory_order_acquire); }
  // The audio thread swaps from it; other threads collect what it retired.
  neurorave::Handover<neurorave::ModuleVoice>& handover() { return handover_; }

 private:
  void run(const std::string& path, neurorave::CvConvention convention);

  const int threaded_block_;
  neurorave::Handover<neurorave::ModuleVoice> handover_;
  mutable std::mutex mutex_;  // guards status_; never taken by the audio thread
  Status status_;
  std::atomic<long> version_{0};
  std::thread thread_;  // the load in progress, or the last one
};
