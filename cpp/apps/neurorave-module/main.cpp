// neurorave-module: the Eurorack module program. Live, it plays a model on an ALSA audio
// interface whose extra inputs carry CV and gates; --offline runs the same loop on files.
//
//   neurorave-module --map MAP.json [--model M.nrv] [--device hw:ES8] [--rt-priority 70]
//                    [--knob INDEX=VALUE]... [--seconds S] [--quiet]
//   neurorave-module --offline IN.wav --controls SCRIPT.json --out OUT.wav
//                    [--model M.nrv] [--map MAP.json]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "audio_alsa.hpp"
#include "control_map.hpp"
#include "control_script.hpp"
#include "hardware.hpp"
#include "module_loop.hpp"
#include "neurorave/engine.hpp"
#include "offline_render.hpp"
#include "realtime.hpp"

namespace {

using namespace neurorave::module;

struct Options {
  std::string map, model, device, offline, controls, out;
  std::vector<float> knobs;
  double seconds = 0.0;
  int rt_priority = 0;
  bool quiet = false;
};

// A command line that cannot be run: exit status 2 with the usage.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void set_knob(Options& options, const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos) throw UsageError("--knob wants INDEX=VALUE, got " + text);
  const int index = std::stoi(text.substr(0, equals));
  if (index < 0 || index > 63) throw UsageError("--knob index must be 0..63");
  if (options.knobs.size() <= static_cast<size_t>(index)) options.knobs.resize(index + 1, 0.5f);
  options.knobs[index] = std::stof(text.substr(equals + 1));
}

Options parse_args(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quiet") {
      options.quiet = true;
      continue;
    }
    if (i + 1 >= argc) throw UsageError("unknown or incomplete option " + arg);
    const std::string value = argv[++i];
    if (arg == "--map")
      options.map = value;
    else if (arg == "--model")
      options.model = value;
    else if (arg == "--device")
      options.device = value;
    else if (arg == "--offline")
      options.offline = value;
    else if (arg == "--controls")
      options.controls = value;
    else if (arg == "--out")
      options.out = value;
    else if (arg == "--seconds")
      options.seconds = std::stod(value);
    else if (arg == "--rt-priority")
      options.rt_priority = std::stoi(value);
    else if (arg == "--knob")
      set_knob(options, value);
    else
      throw UsageError("unknown option " + arg);
  }
  if (!options.offline.empty() && (options.controls.empty() || options.out.empty()))
    throw UsageError("--offline needs --controls SCRIPT.json and --out OUT.wav");
  if (options.offline.empty() && options.map.empty())
    throw UsageError("give --map MAP.json (live) or --offline IN.wav ...");
  return options;
}

// The map file, or the built-in layout for the model (--model replaces the map's), and
// the model, read once for both.
struct Setup {
  ControlMap map;
  std::unique_ptr<neurorave::Player> model;
};

Setup set_up(const Options& options) {
  if (options.map.empty() && options.model.empty())
    throw UsageError("--offline needs --model or a --map naming one");
  ControlMap map = options.map.empty() ? ControlMap{} : read_control_map(options.map);
  if (!options.model.empty()) map.model = options.model;
  if (map.model.empty()) throw MapError(map.file, "no model: give \"model\" in the map or --model");
  auto model = load_model(map.model);
  if (options.map.empty()) {
    map = default_control_map(model->info());
    map.model = options.model;
  }
  return {std::move(map), std::move(model)};
}

std::atomic<bool> stop_requested{false};
std::atomic<bool> reload_requested{false};
extern "C" void on_signal(int) { stop_requested.store(true); }
extern "C" void on_reload(int) { reload_requested.store(true); }

void warn(const std::string& problem) {
  if (!problem.empty()) std::fprintf(stderr, "neurorave-module: warning: %s\n", problem.c_str());
}

// The model's worker thread (threaded_block) starts with the loop and inherits this
// thread's scheduling: real time too, a little below the audio thread.
std::unique_ptr<ModuleLoop> make_loop(Setup setup, int rt_priority) {
  if (rt_priority <= 0) return std::make_unique<ModuleLoop>(setup.map, std::move(setup.model));
  warn(make_realtime(std::max(1, rt_priority - 5)));
  auto loop = std::make_unique<ModuleLoop>(setup.map, std::move(setup.model));
  make_normal();
  return loop;
}

void run_live(const Options& options, Setup setup) {
  const ControlMap map = setup.map;
  const std::unique_ptr<ModuleLoop> made = make_loop(std::move(setup), options.rt_priority);
  ModuleLoop& loop = *made;
  ConsoleHardware hardware(options.knobs, options.quiet);
  std::atomic<long> xruns{0};
  std::atomic<bool> finished{false};
  std::exception_ptr failure;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_reload);  // reload the map's model file (e.g. after replacing it)
  std::thread audio([&] {
    try {
      if (options.rt_priority > 0) warn(make_realtime(options.rt_priority));
      run_alsa(loop, hardware, {options.device, options.seconds}, stop_requested, xruns);
    } catch (...) {
      failure = std::current_exception();
    }
    finished.store(true);
  });
  while (!finished.load()) {                 // the display runs here, off the audio thread
    if (reload_requested.exchange(false)) {  // the old model plays on until the new one sounds
      loop.load(map.model);
      std::fprintf(stderr, "neurorave-module: reloading %s\n", map.model.c_str());
    }
    if (const std::string problem = loop.tend(); !problem.empty())
      warn("reload: " + problem + " (the old model plays on)");
    hardware.display(loop.status(xruns.load()));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  audio.join();
  hardware.display(loop.status(xruns.load()));
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse_args(argc, argv);
    Setup setup = set_up(options);
    if (options.offline.empty()) {
      run_live(options, std::move(setup));
    } else {
      render_offline(setup.map, std::move(setup.model), read_control_script(options.controls),
                     options.offline, options.out);
    }
    return 0;
  } catch (const UsageError& error) {
    std::fprintf(stderr,
                 "neurorave-module: %s\nusage:\n"
                 "  neurorave-module --map MAP.json [--model M.nrv] [--device DEV] "
                 "[--rt-priority P] [--knob I=V]... [--seconds S] [--quiet]\n"
                 "  neurorave-module --offline IN.wav --controls SCRIPT.json --out OUT.wav "
                 "[--model M.nrv] [--map MAP.json]\n",
                 error.what());
    return 2;
  } catch (const std::logic_error&) {  // std::stoi, std::stod
    std::fprintf(stderr, "neurorave-module: a number was expected on the command line\n");
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "neurorave-module: %s\n", error.what());
    return 1;
  }
}
