#include "voice_loader.hpp"

#include <exception>
#include <utility>

#include "neurorave/engine.hpp"
#include "neurorave/error.hpp"
#include "neurorave/player.hpp"

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
  std::unique_ptr<neurorave::ModuleVoice> voice;
  std::string error;
  try {
    auto player = std::make_unique<neurorave::Player>(neurorave::Engine::load(path));
    voice = std::make_unique<neurorave::ModuleVoice>(std::move(player), convention,
                                                     threaded_block_);
  } catch (const std::exception& e) {  // ModelError names the file and the problem
    error = e.what();
    if (error.find(path) == std::string::npos) error = path + ": " + error;
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
