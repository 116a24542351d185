#pragma once
// Loads model files on one persistent background thread, for hosts whose control thread
// is also their audio thread (Pd vanilla runs messages and DSP ticks in one thread) or
// must stay responsive (a VCV menu, the module's boot). Reading, checking and packing a
// model takes milliseconds to seconds; the host asks for a file, keeps playing the old
// model, and installs the new Player between two audio blocks once it is ready. Players
// the host is done with are handed back here, so that freeing them costs the host nothing.
//
// None of this is for the audio callback itself: request, take and discard may take a
// short uncontended lock. take() never waits for a load in progress.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "neurorave/player.hpp"

namespace neurorave {

struct LoadResult {
  std::string path;
  std::unique_ptr<Player> player;  // null when the file could not be used
  std::string error;               // then: the file and the problem, e.g. "m.nrv: truncated"
  // Seconds one model frame costs on this machine (measure_frame_seconds), for a host to
  // choose how to play it (choose_playback); measured here, off the audio thread.
  double frame_seconds = 0.0;
};

// Loads `path` at once, on the caller's thread: what the loader's worker does with a
// request. Never throws; a file that cannot be used comes back as `error`.
LoadResult load_player(const std::string& path);

class ModelLoader {
 public:
  ModelLoader();   // starts the worker
  ~ModelLoader();  // waits for a load in progress, then joins the worker
  ModelLoader(const ModelLoader&) = delete;
  ModelLoader& operator=(const ModelLoader&) = delete;

  // Asks for `path`; a request the worker has not started yet is replaced (the newest
  // wins), and a load in progress finishes and is reported before this one.
  void request(const std::string& path);
  // A finished load, oldest first, or nothing yet. Never waits for the worker.
  std::optional<LoadResult> take();
  // True while a request is pending or loading, or a result waits to be taken.
  bool busy() const;
  // Blocks until every request so far is loaded, and returns the last result (the
  // others are dropped). For offline rendering and tests, where the host may wait.
  std::optional<LoadResult> wait();
  // Frees `player` on the worker thread.
  void discard(std::unique_ptr<Player> player);

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the worker: a request, a discard or quit
  std::condition_variable done_;  // wait(): a result is ready
  std::optional<std::string> pending_;
  bool loading_ = false;
  std::vector<LoadResult> results_;
  std::vector<std::unique_ptr<Player>> trash_;
  bool quit_ = false;
  std::thread worker_;  // last: it starts once everything above exists
};

}  // namespace neurorave
