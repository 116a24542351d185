// libFuzzer target: any bytes as a model file. The loader must either refuse them with
// one ModelError (one short line of valid UTF-8 naming the file) or give a model whose
// Player plays finite samples. Anything else (a crash, a sanitizer report, another
// exception, a message or an output out of contract) stops the fuzzer with the input saved.

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "neurorave/engine.hpp"
#include "neurorave/error.hpp"
#include "neurorave/player.hpp"

namespace {

const std::string& scratch_path() {
  static const std::string path = "/tmp/neurorave_fuzz_" + std::to_string(::getpid()) + ".nrv";
  return path;
}

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "contract broken: %s\n", what.c_str());
  std::abort();
}

void check_message(const neurorave::ModelError& error) {
  const std::string message = error.what();
  if (message.rfind(scratch_path() + ": ", 0) != 0) broken("message without the file: " + message);
  if (message.size() > 420) broken("message of " + std::to_string(message.size()) + " bytes");
  if (neurorave::printable(message, message.size() + 1) != message)
    broken("message not printable UTF-8: " + neurorave::printable(message, 400));
}

// Two frames of a loud, bright signal, in blocks of 64 as a host would.
void play(neurorave::Player& player) {
  const int samples = 2 * player.info().compression;
  std::vector<float> in(static_cast<size_t>(samples)), out(in.size());
  for (int n = 0; n < samples; ++n) in[n] = std::sin(0.05f * n) + 0.5f * std::sin(1.3f * n);
  for (int done = 0; done < samples; done += 64) {
    const int n = std::min(64, samples - done);
    player.process(in.data() + done, out.data() + done, n);
  }
  for (const float v : out)
    if (!std::isfinite(v)) broken("a loaded model played a non-finite sample");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream file(scratch_path(), std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    neurorave::Player player(neurorave::Engine::load(scratch_path(), 4));
    play(player);
  } catch (const neurorave::ModelError& error) {
    check_message(error);
  }
  return 0;
}
