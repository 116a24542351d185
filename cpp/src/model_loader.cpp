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

ModelLoader::ModelLoader() : worker_([this] { run(); }) {}

ModelLoader::~ModelLoader() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

void ModelLoader::request(const std::string& path) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    pending_ = path;
  }
  wake_.notify_one();
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
    wake_.wait(lock, [this] { return quit_ || pending_ || !trash_.empty(); });
    std::vector<std::unique_ptr<Player>> trash = std::move(trash_);
    trash_.clear();
    if (!pending_) {
      lock.unlock();
      trash.clear();  // freed here, off the host's thread
      lock.lock();
      if (quit_) return;
      continue;
    }
    const std::string path = std::move(*pending_);
    pending_.reset();
    loading_ = true;
    lock.unlock();
    trash.clear();
    LoadResult result = load_player(path);
    lock.lock();
    results_.push_back(std::move(result));
    loading_ = false;
    done_.notify_all();
  }
}

}  // namespace neurorave
