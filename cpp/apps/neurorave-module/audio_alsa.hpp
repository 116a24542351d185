#pragma once
// The live loop: capture and playback on one ALSA device (the Eurorack audio interface),
// one period at a time through the ModuleLoop, on the calling thread.

#include <atomic>
#include <stdexcept>
#include <string>

#include "hardware.hpp"
#include "module_loop.hpp"

namespace neurorave::module {

// The device cannot be opened or configured as the map asks: names device and problem.
class AlsaError : public std::runtime_error {
 public:
  AlsaError(const std::string& device, const std::string& problem)
      : std::runtime_error("ALSA device " + device + ": " + problem) {}
};

struct LiveOptions {
  std::string device;    // overrides the map's audio.device when not empty
  double seconds = 0.0;  // > 0: stop after this much audio (tests, a soak run)
};

// Runs until `stop` is set (or `seconds` of audio have played), counting over/underruns
// in `xruns`; recovers from them by restarting the streams. Throws AlsaError before the
// first period if the device will not do what the map says.
void run_alsa(ModuleLoop& loop, const Hardware& hardware, const LiveOptions& options,
              const std::atomic<bool>& stop, std::atomic<long>& xruns);

}  // namespace neurorave::module
