#include "voice_loader.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
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
      thread_([this] { run(); }) {}

VoiceLoader::~VoiceLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void VoiceLoader::load(const std::string& path, neurorave::CvConvention convention,
                       Inference inference) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_ = Request{path, convention, inference};
    status_.loading = true;
  }
  version_.fetch_add(1, std::memory_order_acq_rel);
  wake_.notify_one();
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
    fresh.loading = pending_.has_value();
    status_ = std::move(fresh);
  }
  version_.fetch_add(1, std::memory_order_acq_rel);
  // What the display shows, in Rack's log too (a headless Rack has no display).
  INFO("NeuroRave display: %s", join(status_lines(status(), block_)).c_str());
}

void VoiceLoader::run() {
  using namespace std::chrono_literals;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!quit_) {
    wake_.wait_for(lock, 20ms, [this] { return quit_ || pending_.has_value(); });
    if (quit_) break;
    std::optional<Request> request = std::move(pending_);
    pending_.reset();
    lock.unlock();
    swap_.collect();  // frees the voice the last swap retired, here, off the audio thread
    const int burst = burst_.load(std::memory_order_relaxed);
    const int rate = rate_.load(std::memory_order_relaxed);
    // The engine's block size or rate changed: the playing model again, chosen anew.
    if (!request && playing_ && burst > 0 && (burst != built_burst_ || rate != built_rate_)) {
      request = playing_;
      built_burst_ = burst;  // once per change, even if the file has gone meanwhile
      built_rate_ = rate;
    }
    if (request) load_now(*request);
    lock.lock();
  }
}

void VoiceLoader::load_now(const Request& request) {
  using namespace std::chrono_literals;
  neurorave::LoadResult loaded = neurorave::load_player(request.path);
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
    load_now(Request{default_path_, request.convention, request.inference});
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
