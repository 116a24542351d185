#include "voice_loader.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>
#include <utility>

#include "neurorave/model_loader.hpp"
#include "plugin.hpp"

namespace {
std::string file_stem(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  return name.substr(0, name.rfind('.'));
}

std::string join(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += (text.empty() ? "" : " | ") + line;
  return text;
}
}  // namespace

VoiceLoader::VoiceLoader(int block, int fade, std::string default_path)
    : block_(block),
      default_path_(std::move(default_path)),
      swap_(block, fade),
      loader_([this] { tend(); }) {}

void VoiceLoader::load(const std::string& path, neurorave::CvConvention convention,
                       Inference inference) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_.loading = true;
  }
  version_.fetch_add(1, std::memory_order_acq_rel);
  ask(Request{path, convention, inference});
}

void VoiceLoader::ask(const Request& request) {
  loader_.request(request.path, [this, request](neurorave::LoadResult loaded) {
    finish(request, std::move(loaded));
  });
}

VoiceLoader::Status VoiceLoader::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

std::vector<std::string> VoiceLoader::status_lines(const Status& status, int block) {
  std::vector<std::string> lines;
  if (!status.loaded)
    lines.push_back(status.loading ? "loading..." : "no model: right-click > Load");
  if (status.loaded) {
    const auto& playback = status.playback;
    const int latency = status.voice_latency + block;  // the module gathers a block first
    lines.push_back(file_stem(status.path) + (status.loading ? " (loading...)" : ""));
    char text[160];
    std::snprintf(text, sizeof text, "latency %d smp, %.1f ms, %s", latency,
                  1000.0 * latency / status.info.sample_rate, neurorave::playback_name(playback));
    lines.push_back(text);
  }
  if (!status.error.empty()) lines.push_back("error: " + status.error);
  return lines;
}

void VoiceLoader::publish(Status fresh) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fresh.loading = loader_.pending();
    status_ = std::move(fresh);
  }
  version_.fetch_add(1, std::memory_order_acq_rel);
  // What the display shows, in Rack's log too (a headless Rack has no display).
  INFO("NeuroRave display: %s", join(status_lines(status(), block_)).c_str());
}

void VoiceLoader::tend() {
  swap_.collect();  // frees the voice the last swap retired, here, off the audio thread
  const int burst = burst_.load(std::memory_order_relaxed);
  const int rate = rate_.load(std::memory_order_relaxed);
  // The engine's block size or rate changed: the playing model again, chosen anew.
  if (!loader_.pending() && playing_ && burst > 0 &&
      (burst != built_burst_ || rate != built_rate_)) {
    built_burst_ = burst;  // once per change, even if the file has gone meanwhile
    built_rate_ = rate;
    ask(*playing_);
  }
}

void VoiceLoader::finish(const Request& request, neurorave::LoadResult loaded) {
  using namespace std::chrono_literals;
  // The playback is chosen for the engine's burst, which the audio thread reports from
  // its first block on: wait for it (briefly; a stopped engine gets Rack's usual 256).
  for (int i = 0; i < 200 && burst_.load(std::memory_order_relaxed) == 0; ++i)
    std::this_thread::sleep_for(10ms);
  const int burst = burst_.load(std::memory_order_relaxed);
  const int rate = rate_.load(std::memory_order_relaxed);
  const int burst_or_default = burst > 0 ? burst : 256;
  const int rate_or_model =
      rate > 0 ? rate : (loaded.player ? loaded.player->info().sample_rate : 44100);
  std::unique_ptr<neurorave::ModuleVoice> voice;
  std::string error = loaded.error;  // names the file and the problem
  if (loaded.player) {
    auto playback =
        neurorave::choose_playback(burst_or_default, block_, rate_or_model, loaded.frame_seconds);
    if (request.inference == Inference::engine_thread) playback = neurorave::Playback{};
    if (request.inference == Inference::worker_thread)
      playback = neurorave::threaded_playback(burst_or_default, block_, rate_or_model,
                                              loaded.frame_seconds);
    playback.frame_seconds = loaded.frame_seconds;
    try {  // the voice's worker thread may fail to start
      voice = std::make_unique<neurorave::ModuleVoice>(std::move(loaded.player), request.convention,
                                                       playback);
    } catch (const std::exception& e) {
      error = request.path + ": " + e.what();
    }
  }
  if (!voice && !playing_ && request.path != default_path_) {
    // Nothing plays yet (this request replaced the default's before it started): the
    // default plays, and the display says what went wrong.
    const Request fallback{default_path_, request.convention, request.inference};
    finish(fallback, neurorave::load_player(fallback.path));
  }
  Status fresh = status();
  fresh.error = error;
  if (voice) {
    fresh.path = request.path;
    fresh.loaded = true;
    fresh.info = voice->info();
    fresh.playback = voice->playback();
    fresh.voice_latency = voice->latency();
    playing_ = request;
    built_burst_ = burst_or_default;
    built_rate_ = rate_or_model;
    swap_.offer(std::move(voice));  // frees an earlier offer the audio thread never took
  }
  publish(std::move(fresh));
}
