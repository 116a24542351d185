#include "wav_file.hpp"

#include <memory>

#include <sndfile.h>

namespace neurorave::module {

namespace {

struct CloseFile {
  void operator()(SNDFILE* file) const { sf_close(file); }
};
using File = std::unique_ptr<SNDFILE, CloseFile>;

}  // namespace

Audio read_audio(const std::string& path) {
  SF_INFO info{};
  const File file(sf_open(path.c_str(), SFM_READ, &info));
  if (!file) throw AudioFileError(path, std::string("cannot read audio: ") + sf_strerror(nullptr));
  if (info.frames <= 0) throw AudioFileError(path, "the file holds no audio");
  Audio audio;
  audio.sample_rate = info.samplerate;
  audio.channels = info.channels;
  audio.samples.resize(static_cast<size_t>(info.frames) * info.channels);
  const sf_count_t read = sf_readf_float(file.get(), audio.samples.data(), info.frames);
  if (read != info.frames)
    throw AudioFileError(path, "the file ends early (" + std::to_string(read) + " of " +
                                   std::to_string(info.frames) + " frames read)");
  return audio;
}

void write_wav_float(const std::string& path, const Audio& audio) {
  SF_INFO info{};
  info.samplerate = audio.sample_rate;
  info.channels = audio.channels;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  const File file(sf_open(path.c_str(), SFM_WRITE, &info));
  if (!file) throw AudioFileError(path, std::string("cannot write: ") + sf_strerror(nullptr));
  if (sf_writef_float(file.get(), audio.samples.data(), audio.frames()) != audio.frames())
    throw AudioFileError(path, std::string("write failed: ") + sf_strerror(file.get()));
}

}  // namespace neurorave::module
