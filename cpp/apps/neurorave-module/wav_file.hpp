#pragma once
// WAV (and whatever else libsndfile reads) in, 32-bit float WAV out, for --offline.

#include <stdexcept>
#include <string>
#include <vector>

namespace neurorave::module {

// An audio file that cannot be read or written: names the file and the problem.
class AudioFileError : public std::runtime_error {
 public:
  AudioFileError(const std::string& file, const std::string& problem)
      : std::runtime_error(file + ": " + problem) {}
};

struct Audio {
  int sample_rate = 0;
  int channels = 0;
  std::vector<float> samples;  // interleaved
  long frames() const { return channels > 0 ? static_cast<long>(samples.size()) / channels : 0; }
};

Audio read_audio(const std::string& path);
void write_wav_float(const std::string& path, const Audio& audio);

}  // namespace neurorave::module
