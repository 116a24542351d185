#pragma once
// The one error type the core throws: a model file that cannot be used.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace neurorave {

// `text` made fit for a one-line message: valid UTF-8 kept, any other byte and every
// control character written as \xNN, then cut to at most `max_bytes` + 3 on a character
// boundary, "..." marking the cut: at the end, or at the start when `keep_end` (a path,
// whose file name is the part that tells).
std::string printable(const std::string& text, size_t max_bytes, bool keep_end = false);

class ModelError : public std::runtime_error {
 public:
  // A file name and a problem of any bytes and any length become one valid UTF-8 line of
  // at most a few hundred bytes (a parser's message may echo the raw bytes it choked on).
  static constexpr size_t kMaxFileBytes = 160;
  static constexpr size_t kMaxProblemBytes = 240;

  ModelError(const std::string& file, const std::string& problem)
      : ModelError(printable(file, kMaxFileBytes, true), printable(problem, kMaxProblemBytes), 0) {}

  const std::string& file() const { return file_; }
  const std::string& problem() const { return problem_; }

 private:
  ModelError(std::string file, std::string problem, int /*already printable*/)
      : std::runtime_error(file + ": " + problem),
        file_(std::move(file)),
        problem_(std::move(problem)) {}

  std::string file_;
  std::string problem_;
};

}  // namespace neurorave
