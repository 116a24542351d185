#include "voice_loader.hpp"

#include <exception>
#include <utility>

#include "neurorave/model_loader.hpp"

VoiceLoader::~VoiceLoader() {
  if (thread_.joinable()) thread_.join();
}

void VoiceLoader::load(const std::string& path, neurorave::CvConvention convention) {
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_.loading = true;
  }
  version_.fetch_add(1, std::memory_order_acq_rel);
  thread_ = std::thread([this, path, convention] { run(path, convention); });
}

VoiceLoader::Status VoiceLoader::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

void VoiceLoader::run(const std::string& path, neurorave::CvConvention convention) {
  neurorave::LoadResult loaded = neurorave::load_player(path);
  std::unique_ptr<neurorave::ModuleVoice> voice;
  std::string error = loaded.error;  // names the file and the problem
  if (loaded.player) {
    try {  // the voice's worker thread may fail to start
      voice = std::make_unique<neurorave::ModuleVoice>(std::move(loaded.player), convention,
                                                       threaded_block_);
    } catch (const std::exception& e) {
      error = path + ": " + e.what();
    }
  }
  Status fresh = status();
  fresh.loading = false;
  fresh.error = error;
  if (voice) {
    fresh.path = path;
    fresh.loaded = true;
    fresh.info = voice->info();
    fresh.voice_latency = voice->latency();
    handover_.collect();                   // frees the model replaced last time, if any
    handover_.offer(std::move(voice));     // frees an offer the audio thread never took
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = std::move(fresh);
  }
  version_.fetch_add(1, std::memory_order_acq_rel);
}
