#include "neurorave/model_loader.hpp"

#include <exception>
#include <utility>

#include "neurorave/engine.hpp"
#include "neurorave/error.hpp"
#include "neurorave/host_player.hpp"

namespace neurorave {

LoadResult load_player(const std::string& path) {
  LoadResult result{path, nullptr, {}, 0.0};
  try {
    result.player = std::make_unique<Player>(Engine::load(path));
    result.frame_seconds = measure_frame_seconds(*result.player);
  } catch (const ModelError& e) {
    result.error = e.what();  // names the file already
  } catch (const std::exception& e) {
    result.error = path + ": " + e.what();
  }
  return result;
}

ModelLoader::ModelLoader(std::function<void()> chore, std::chrono::milliseconds period)
    : chore_(std::move(chore)), period_(period), worker_([this] { run(); }) {}

ModelLoader::~ModelLoader() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void ModelLoader::request(const std::string& path, Finish finish) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    pending_ = Request{path, std::move(finish)};
  }
  wake_.notify_one();
}

bool ModelLoader::pending() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return pending_.has_value();
}

std::optional<LoadResult> ModelLoader::take() {
  const std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
  if (!lock.owns_lock() || results_.empty()) return std::nullopt;
  LoadResult oldest = std::move(results_.front());
  results_.erase(results_.begin());
  return oldest;
}

bool ModelLoader::busy() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return pending_.has_value() || loading_ || !results_.empty();
}

std::optional<LoadResult> ModelLoader::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return !pending_ && !loading_; });
  if (results_.empty()) return std::nullopt;
  LoadResult last = std::move(results_.back());
  results_.clear();
  return last;
}

void ModelLoader::discard(std::unique_ptr<Player> player) {
  if (!player) return;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    trash_.push_back(std::move(player));
  }
  wake_.notify_one();
}

void ModelLoader::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    const auto woken = [this] { return quit_ || pending_ || !trash_.empty(); };
    if (chore_)
      wake_.wait_for(lock, period_, woken);
    else
      wake_.wait(lock, woken);
    if (quit_) return;
    std::vector<std::unique_ptr<Player>> trash = std::move(trash_);
    trash_.clear();
    std::optional<Request> request = std::move(pending_);
    pending_.reset();
    loading_ = request.has_value();
    lock.unlock();
    trash.clear();  // freed here, off the host's thread
    if (request) serve(*request);
    if (chore_) chore_();
    lock.lock();
  }
}

void ModelLoader::serve(Request& request) {
  LoadResult result = load_player(request.path);
  if (request.finish) request.finish(std::move(result));
  {
    // A result is taken and the loader idle in one step: busy() never sees one without
    // the other.
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!request.finish) results_.push_back(std::move(result));
    loading_ = false;
  }
  done_.notify_all();
}

}  // namespace neurorave
