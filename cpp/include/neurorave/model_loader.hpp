#pragma once
// Loads model files on one persistent background thread: the one way every host loads a
// model while it plays (Pd's `load`, the VCV module's menu and patch, the module
// program's reload). Reading, checking and packing a model takes milliseconds to
// seconds; the host asks for a file, keeps playing the old model, and the new one reaches
// the audio thread through a ModelSwap (model_swap.hpp), which crossfades.
//
// A finished load either waits for the host to take() it (Pd polls from a clock, the
// module program from its display loop), or goes to the request's Finish on the worker
// (VCV: there is no host thread to poll from in a headless Rack). A chore run on the
// worker between loads frees what a swap retired; players the host is done with can be
// handed back too (discard), so that freeing them costs the host nothing.
//
// None of this is for the audio callback itself: request, take and discard may take a
// short uncontended lock. take() never waits for a load in progress.

#include <chrono>
#include <condition_variable>
#include <functional>
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
  // What the worker does with a finished load instead of keeping it for take(): e.g.
  // build the host's voice and offer it to the audio thread. Runs on the worker.
  using Finish = std::function<void(LoadResult)>;

  // Starts the worker. `chore`, if any, runs on the worker every `period` while it is
  // idle and after each load; it may call request().
  explicit ModelLoader(std::function<void()> chore = nullptr,
                       std::chrono::milliseconds period = std::chrono::milliseconds(20));
  ~ModelLoader();  // waits for a load in progress, then joins the worker
  ModelLoader(const ModelLoader&) = delete;
  ModelLoader& operator=(const ModelLoader&) = delete;

  // Asks for `path`; a request the worker has not started yet is replaced (the newest
  // wins), and a load in progress finishes and is reported before this one. With
  // `finish`, the result goes there rather than to take().
  void request(const std::string& path, Finish finish = nullptr);
  // True while a request waits for the worker (not counting a load in progress).
  bool pending() const;
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
  struct Request {
    std::string path;
    Finish finish;
  };
  void run();
  void serve(Request& request);

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the worker: a request, a discard or quit
  std::condition_variable done_;  // wait(): a result is ready
  std::function<void()> chore_;
  std::chrono::milliseconds period_;
  std::optional<Request> pending_;
  bool loading_ = false;
  std::vector<LoadResult> results_;
  std::vector<std::unique_ptr<Player>> trash_;
  bool quit_ = false;
  std::thread worker_;  // last: it starts once everything above exists
};

}  // namespace neurorave
