#pragma once
// The one error type the core throws: a model file that cannot be used.

#include <stdexcept>
#include <string>

namespace neurorave {

class ModelError : public std::runtime_error {
 public:
  ModelError(const std::string& file, const std::string& problem)
      : std::runtime_error(file + ": " + problem), file_(file), problem_(problem) {}

  const std::string& file() const { return file_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string file_;
  std::string problem_;
};

}  // namespace neurorave
