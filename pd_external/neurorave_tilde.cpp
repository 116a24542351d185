// [neurorave~]: a NeuroRave model in Pure Data. A thin adapter over the core: a
// neurorave::HostPlayer (the Player, synchronous or on a worker thread) inside a
// neurorave::ModelSwap (models swapped without a hole). All block adaptation, descriptor
// analysis, generation, inference and crossfading live in the core (cpp/).
//
//   [neurorave~ -threaded model.nrv]   flags first; the path is looked up next to the
//                                      patch, then on Pd's path
//   -threaded:    the model runs on a worker thread that runs ahead of Pd by a latency
//                 budget: Pd's scheduler advance (-audiobuf; Pd computes that much audio
//                 back to back after a sleep) plus time for the worker to wake and play
//                 two frames (neurorave::threaded_budget). Set up in the dsp method,
//                 which knows the block size; `info` reports it
//   -inlets:      one signal inlet per descriptor of the model given at creation, in
//                 physical units, read once per Pd block as that descriptor's fader
//   left inlet:   audio to encode (and to follow); messages
//   left outlet:  the model's audio, `latency` samples behind the offline model
//   right outlet: answers to `info` and `latency`
//
// Pd vanilla runs messages and DSP ticks in one thread, so `load` hands the file to a
// ModelLoader thread and a clock offers the new model to the ModelSwap, which keeps the
// old one playing until the new one sounds and then crossfades; the old one is freed on
// the loader's thread. The perform routine never allocates, frees or locks. The one
// exception is `offline 1` (non-real-time rendering such as pd -batch only): `load` then
// waits for the file, and with -threaded perform waits for the worker.

#include <m_pd.h>
extern "C" {          // s_stuff.h has no C++ guards of its own
#include <s_stuff.h>  // get_sys_schedadvance: how far ahead Pd's scheduler computes
}

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "neurorave/host_player.hpp"
#include "neurorave/messages.hpp"
#include "neurorave/model_loader.hpp"
#include "neurorave/model_swap.hpp"
#include "neurorave/player.hpp"

static_assert(sizeof(t_sample) == sizeof(float), "neurorave~ needs a 32-bit float Pd");

namespace {

using neurorave::HostPlayer;
using neurorave::Playback;
using Swap = neurorave::ModelSwap<HostPlayer>;

t_class* neurorave_class = nullptr;

struct State {
  State()
      : swap(neurorave::Player::kMaxBlock,
             static_cast<int>(neurorave::kSwapFadeSeconds * std::max(sys_getsr(), 1.0f))),
        in(neurorave::Player::kMaxBlock) {}

  // The playing model (and, during a swap, the one fading in). Messages and perform run
  // in Pd's one thread, so messages reach both directly.
  Swap swap;
  std::vector<float> in;       // the block's input: both models of a swap read it
  bool want_threaded = false;  // the -threaded flag
  int inlets = 0;              // -inlets: descriptor signal inlets (after the main one)
  bool offline = false;        // `offline 1`: perform waits for the worker every block
  int block = 0;               // the Pd block size the last dsp call saw (0: none yet)
  float smoothing_ms = 10.0f;
  bool bypass = false;
  bool rate_reported = false;                      // the sample-rate mismatch error is printed once
  std::unique_ptr<neurorave::ModelLoader> loader;  // made at the first `load` message
  t_clock* poll = nullptr;                         // takes the loader's results

  HostPlayer* voice() { return swap.current(); }
  neurorave::Player* active() { return voice() ? &voice()->player() : nullptr; }
  template <class F>
  void each_player(F&& f) {
    swap.for_each([&](HostPlayer& v) { f(v.player()); });
  }
  int latency() { return voice() ? voice()->latency() : 0; }
};

struct t_neurorave {
  t_object obj;
  t_float f;  // the main signal inlet's scalar
  t_canvas* canvas;
  t_outlet* audio_out;
  t_outlet* info_out;
  State* state;
};

// The file `name` names: next to the patch or on Pd's search path if found there,
// otherwise as given (relative names next to the patch), so the error names it.
std::string resolve(t_neurorave* x, const char* name) {
  char dir[MAXPDSTRING];
  char* base = nullptr;
  const int fd = canvas_open(x->canvas, name, "", dir, &base, MAXPDSTRING, 1);
  if (fd >= 0) {
    sys_close(fd);
    return std::string(dir) + "/" + base;
  }
  if (name[0] == '/' || !x->canvas) return name;
  return std::string(canvas_getdir(x->canvas)->s_name) + "/" + name;
}

void check_rate(t_neurorave* x, float pd_rate) {
  const neurorave::Player* player = x->state->active();
  if (!player || pd_rate <= 0 || x->state->rate_reported) return;
  const int model_rate = player->info().sample_rate;
  if (static_cast<int>(pd_rate) != model_rate) {
    pd_error(x, "neurorave~: %s",
             neurorave::messages::rate_mismatch(player->info(), pd_rate, "Pd").c_str());
    x->state->rate_reported = true;
  }
}

// How this object plays a model whose frame costs `frame_seconds`: synchronously, or
// with -threaded on a worker running ahead by Pd's scheduler advance.
Playback playback_for(const State& s, int sample_rate, double frame_seconds) {
  Playback playback;
  playback.frame_seconds = frame_seconds;
  const int block = s.block > 0 ? s.block : sys_getblksize();
  if (!s.want_threaded || block > neurorave::Player::kMaxBlock) return playback;
  const double advance_seconds = *get_sys_schedadvance() * 1e-6;
  const int burst = static_cast<int>(advance_seconds * sample_rate + 0.5);
  return neurorave::threaded_playback(burst, block, sample_rate, frame_seconds);
}

// A HostPlayer for `player` as this object plays it (off the audio thread: dsp, load).
// Null, with a Pd error, if its worker cannot start; the Player is then lost.
std::unique_ptr<HostPlayer> host(t_neurorave* x, std::unique_ptr<neurorave::Player> player,
                                 double frame_seconds) {
  const Playback playback = playback_for(*x->state, player->info().sample_rate, frame_seconds);
  try {
    return std::make_unique<HostPlayer>(std::move(player), playback);
  } catch (const std::exception& e) {
    pd_error(x, "neurorave~: -threaded: %s", e.what());
    return nullptr;
  }
}

// Frees `voice` off Pd's thread where it can (its worker is joined here: quick).
void discard(t_neurorave* x, std::unique_ptr<HostPlayer> voice) {
  if (!voice) return;
  std::unique_ptr<neurorave::Player> player = voice->release();
  if (x->state->loader) x->state->loader->discard(std::move(player));
}

// The dsp method's half: each voice played as this block size and -threaded ask.
void prepare(t_neurorave* x, int block) {
  State& s = *x->state;
  s.block = block;
  auto rewrap = [&](HostPlayer* voice) -> std::unique_ptr<HostPlayer> {
    if (!voice) return nullptr;
    const Playback& now = voice->playback();
    const Playback wanted = playback_for(s, voice->info().sample_rate, now.frame_seconds);
    if (now.threaded == wanted.threaded && now.block == wanted.block && now.budget == wanted.budget)
      return nullptr;
    return host(x, voice->release(), now.frame_seconds);
  };
  s.swap.rebuild([&](std::unique_ptr<HostPlayer>& voice) {
    if (auto fresh = rewrap(voice.get())) voice = std::move(fresh);
  });
}

void poll_loader(t_neurorave* x);

// Offers `fresh` to the swap (between ticks, never in perform): it plays from the next
// tick alongside the old one, and replaces it with a crossfade once it sounds.
void install(t_neurorave* x, std::unique_ptr<neurorave::Player> fresh, double frame_seconds) {
  State& s = *x->state;
  fresh->set_smoothing_ms(s.smoothing_ms);
  std::unique_ptr<HostPlayer> voice = host(x, std::move(fresh), frame_seconds);
  if (!voice) return;  // the old model plays on
  if (canvas_dspstate && s.voice()) {
    discard(x, s.swap.offer(std::move(voice)));  // an earlier offer never played
    clock_delay(s.poll, 1.0);
  } else {  // nothing plays (yet): no fade, the new model is the one from the next tick
    s.swap.replace(std::move(voice),
                   [x](std::unique_ptr<HostPlayer> old) { discard(x, std::move(old)); });
  }
  s.rate_reported = false;
  if (canvas_dspstate) check_rate(x, sys_getsr());
}

bool take_result(t_neurorave* x, std::optional<neurorave::LoadResult> result) {
  if (!result) return false;
  if (result->player)
    install(x, std::move(result->player), result->frame_seconds);
  else  // the old model plays on
    pd_error(x, "neurorave~: %s", result->error.c_str());
  return true;
}

// The loader's answers and the swap's retired model go through this clock, in Pd's
// thread between two ticks.
void poll_loader(t_neurorave* x) {
  State& s = *x->state;
  if (s.loader)
    while (take_result(x, s.loader->take())) {
    }
  discard(x, s.swap.collect());
  if ((s.loader && s.loader->busy()) || s.swap.pending()) clock_delay(s.poll, 1.0);
}

// `load FILE`: read and checked on the loader's thread while the old model plays on;
// the new one starts from the tick after it is ready and takes over with a crossfade
// once it sounds. With `offline 1` (non-real-time rendering), the message waits for the
// file, so the new one starts at the next tick exactly.
void load(t_neurorave* x, t_symbol* file) {
  State& s = *x->state;
  if (!s.loader) s.loader = std::make_unique<neurorave::ModelLoader>();
  s.loader->request(resolve(x, file->s_name));
  if (s.offline) {
    take_result(x, s.loader->wait());
    return;
  }
  clock_delay(s.poll, 1.0);
}

// The model named at creation is loaded at once: the patch is being built, and the
// object's inlets depend on the model's descriptors.
// The model the Pd package carries next to the object (scripts/pd_package.sh puts it
// there), played when none is named; "" where there is none (a build folder).
std::string packaged_default_model() {
  const std::string path =
      std::string(class_gethelpdir(neurorave_class)) + "/" + neurorave::kDefaultModelFile;
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) ? path : "";
}

void load_at_creation(t_neurorave* x, t_symbol* file) {
  take_result(x, neurorave::load_player(resolve(x, file->s_name)));
}

int descriptor(t_neurorave* x, t_symbol* name, const char* what) {
  const neurorave::Player* player = x->state->active();
  if (!player) {
    pd_error(x, "neurorave~: %s: no model loaded", what);
    return -1;
  }
  const int index = player->info().descriptor_index(name->s_name);
  if (index < 0)
    pd_error(x, "neurorave~: %s: %s", what,
             neurorave::messages::no_such_descriptor(player->info(), name->s_name).c_str());
  return index;
}

// Applies set(player, index) to every playing model that has descriptor `name` (during
// a swap both hear it; the models may order their descriptors differently).
template <class Set>
void each_descriptor(t_neurorave* x, t_symbol* name, const char* what, Set&& set) {
  if (descriptor(x, name, what) < 0) return;
  x->state->each_player([&](neurorave::Player& player) {
    const int index = player.info().descriptor_index(name->s_name);
    if (index >= 0) set(player, index);
  });
}

void follow(t_neurorave* x, t_symbol* name, t_floatarg on) {
  each_descriptor(x, name, "follow",
                  [&](neurorave::Player& p, int d) { p.set_follow(d, on != 0); });
}

void offset(t_neurorave* x, t_symbol* name, t_floatarg value) {
  each_descriptor(x, name, "offset", [&](neurorave::Player& p, int d) { p.set_offset(d, value); });
}

void scale(t_neurorave* x, t_symbol* name, t_floatarg value) {
  each_descriptor(x, name, "scale", [&](neurorave::Player& p, int d) { p.set_scale(d, value); });
}

// `DESCRIPTOR VALUE`: a fader, in the descriptor's physical unit.
void anything(t_neurorave* x, t_symbol* s, int argc, t_atom* argv) {
  if (argc != 1 || argv[0].a_type != A_FLOAT) {
    pd_error(x, "neurorave~: '%s': expected a descriptor name and one number", s->s_name);
    return;
  }
  const float value = atom_getfloat(argv);
  each_descriptor(x, s, s->s_name, [&](neurorave::Player& p, int d) { p.set_control(d, value); });
}

void bypass(t_neurorave* x, t_floatarg on) { x->state->bypass = on != 0; }

void smoothing(t_neurorave* x, t_floatarg milliseconds) {
  x->state->smoothing_ms = milliseconds < 0 ? 0.0f : milliseconds;
  x->state->each_player(
      [&](neurorave::Player& player) { player.set_smoothing_ms(x->state->smoothing_ms); });
}

void reset(t_neurorave* x) {
  State& s = *x->state;
  // Player::reset is not for another thread: a worker is stopped first, then restarted.
  s.swap.rebuild([&](std::unique_ptr<HostPlayer>& voice) {
    const double frame = voice->playback().frame_seconds;
    std::unique_ptr<neurorave::Player> player = voice->release();
    player->reset();
    voice = host(x, std::move(player), frame);
  });
}

neurorave::Player* need_model(t_neurorave* x, const char* what) {
  neurorave::Player* player = x->state->active();
  if (!player) pd_error(x, "neurorave~: %s: no model loaded", what);
  return player;
}

// `mode generate`: the prior plays (the input is ignored); `mode transfer`: the input is
// encoded and resynthesised. Takes effect at the next block, restarting the streams.
void mode(t_neurorave* x, t_symbol* which) {
  neurorave::Player* player = need_model(x, "mode");
  if (!player) return;
  if (which == gensym("transfer")) {
    x->state->each_player([](neurorave::Player& p) { p.set_generate(false); });
  } else if (which == gensym("generate")) {
    bool refused = false;
    x->state->each_player([&](neurorave::Player& p) { refused |= !p.set_generate(true); });
    if (refused)
      pd_error(x, "neurorave~: %s", neurorave::messages::no_prior(player->info()).c_str());
  } else {
    pd_error(x, "neurorave~: mode: '%s': expected generate or transfer", which->s_name);
  }
}

void phrase(t_neurorave* x) {
  if (need_model(x, "phrase")) x->state->each_player([](neurorave::Player& p) { p.new_phrase(); });
}

void seed(t_neurorave* x, t_floatarg value) {
  auto* player = need_model(x, "seed");
  if (!player) return;
  const double clamped = value < 0 ? 0.0 : (value > 4294967295.0 ? 4294967295.0 : value);
  x->state->each_player([&](neurorave::Player& p) { p.set_seed(static_cast<uint32_t>(clamped)); });
}

void temperature(t_neurorave* x, t_floatarg value) {
  if (need_model(x, "temperature"))
    x->state->each_player([&](neurorave::Player& p) { p.set_temperature(value); });
}

// `offline 1`: `load` waits for its file, and with -threaded perform waits for the worker
// every block, so the output is exactly the Player's, `budget` samples later. Only for
// non-real-time rendering (pd -batch, or -nosound faster than real time): in a live
// patch it stalls the audio thread.
void offline(t_neurorave* x, t_floatarg on) { x->state->offline = on != 0; }

void out_info(t_neurorave* x, int argc, t_atom* argv) {
  outlet_anything(x->info_out, gensym("info"), argc, argv);
}

void info_number(t_neurorave* x, const char* key, t_float value) {
  t_atom a[2];
  SETSYMBOL(a, gensym(key));
  SETFLOAT(a + 1, value);
  out_info(x, 2, a);
}

void info(t_neurorave* x) {
  const neurorave::Player* player = x->state->active();
  if (!player) {
    pd_error(x, "neurorave~: info: no model loaded");
    return;
  }
  const auto& i = player->info();
  t_atom a[5];
  SETSYMBOL(a, gensym("path"));
  SETSYMBOL(a + 1, gensym(i.path.c_str()));
  out_info(x, 2, a);
  SETSYMBOL(a, gensym("architecture"));
  SETSYMBOL(a + 1, gensym(i.architecture.c_str()));
  out_info(x, 2, a);
  info_number(x, "sample_rate", i.sample_rate);
  info_number(x, "compression", i.compression);
  info_number(x, "latent_size", i.latent_size);
  info_number(x, "causal", i.causal ? 1 : 0);
  info_number(x, "latency", x->state->latency());
  info_number(x, "has_prior", i.has_prior ? 1 : 0);
  info_number(x, "generating", player->generating() ? 1 : 0);
  const HostPlayer& voice = *x->state->voice();
  info_number(x, "threaded", voice.threaded() ? 1 : 0);
  SETSYMBOL(a, gensym("playback"));
  SETSYMBOL(a + 1, gensym(neurorave::playback_name(voice.playback())));
  out_info(x, 2, a);
  info_number(x, "budget", voice.threaded() ? voice.playback().budget : 0);
  info_number(x, "frame_us", static_cast<t_float>(1e6 * voice.playback().frame_seconds));
  info_number(x, "underruns", voice.underruns());
  info_number(x, "nonfinite_resets", player->nonfinite_resets());
  for (const auto& d : i.descriptors) {
    SETSYMBOL(a, gensym("descriptor"));
    SETSYMBOL(a + 1, gensym(d.name.c_str()));
    SETSYMBOL(a + 2, gensym(d.unit.empty() ? "-" : d.unit.c_str()));
    SETFLOAT(a + 3, d.minimum);
    SETFLOAT(a + 4, d.maximum);
    out_info(x, 5, a);
  }
}

void latency(t_neurorave* x) {
  if (!x->state->active()) {
    pd_error(x, "neurorave~: latency: no model loaded");
    return;
  }
  t_atom a;
  SETFLOAT(&a, x->state->latency());
  outlet_anything(x->info_out, gensym("latency"), 1, &a);
}

// Where dsp() puts perform's arguments (w[0] is the routine itself); the descriptor
// inlets' signals follow from kFirstInletArg on.
enum PerformArg { kObjectArg = 1, kInputArg, kOutputArg, kBlockArg, kInletsArg, kFirstInletArg };

t_int* perform(t_int* w) {
  auto* x = reinterpret_cast<t_neurorave*>(w[kObjectArg]);
  const t_sample* in = reinterpret_cast<t_sample*>(w[kInputArg]);
  t_sample* out = reinterpret_cast<t_sample*>(w[kOutputArg]);
  const int n = static_cast<int>(w[kBlockArg]);
  const int inlets = static_cast<int>(w[kInletsArg]);
  State* state = x->state;
  // -inlets: each descriptor's fader, once per block (read before `out` is written: Pd
  // may give an inlet and the outlet the same buffer). Inlet d drives descriptor d.
  if (n > 0)
    state->each_player([&](neurorave::Player& player) {
      const int descriptors = static_cast<int>(player.info().descriptors.size());
      for (int d = 0; d < inlets && d < descriptors; ++d)
        player.set_control(d, reinterpret_cast<t_sample*>(w[kFirstInletArg + d])[0]);
    });
  if (state->bypass) {
    if (out != in) std::memmove(out, in, sizeof(t_sample) * n);
  } else if (n <= neurorave::Player::kMaxBlock) {
    // Pd may give the inlet and the outlet one buffer, and during a swap two models
    // read the input after the first has written its output: they read a copy.
    float* input = state->in.data();
    std::copy(in, in + n, input);
    state->swap.process(out, n, [&](HostPlayer& voice, float* o) {
      voice.process(input, o, n);
      // Offline rendering only (documented): the worker plays this block before the
      // next tick's messages, so the output is the Player's exactly, `budget` later.
      if (state->offline) voice.wait_until_idle();
    });
  } else {
    std::memset(out, 0, sizeof(t_sample) * n);
  }
  return w + kFirstInletArg + inlets;
}

void dsp(t_neurorave* x, t_signal** sp) {
  prepare(x, sp[0]->s_n);
  check_rate(x, sp[0]->s_sr);
  // Signals: the main inlet, the descriptor inlets, then the outlet. In PerformArg order.
  const int inlets = x->state->inlets;
  std::vector<t_int> args = {reinterpret_cast<t_int>(x), reinterpret_cast<t_int>(sp[0]->s_vec),
                             reinterpret_cast<t_int>(sp[inlets + 1]->s_vec),
                             static_cast<t_int>(sp[0]->s_n), static_cast<t_int>(inlets)};
  for (int d = 0; d < inlets; ++d) args.push_back(reinterpret_cast<t_int>(sp[d + 1]->s_vec));
  dsp_addv(perform, static_cast<int>(args.size()), args.data());
}

void* create(t_symbol*, int argc, t_atom* argv) {
  auto* x = reinterpret_cast<t_neurorave*>(pd_new(neurorave_class));
  x->canvas = canvas_getcurrent();
  // Pd allocates the C struct; it owns the C++ state through this pointer.
  x->state = std::make_unique<State>().release();
  x->state->poll = clock_new(x, reinterpret_cast<t_method>(poll_loader));
  x->audio_out = outlet_new(&x->obj, &s_signal);
  x->info_out = outlet_new(&x->obj, nullptr);
  t_symbol* model = nullptr;
  bool want_inlets = false;
  for (int i = 0; i < argc; ++i) {
    t_symbol* arg = atom_getsymbol(argv + i);
    if (argv[i].a_type != A_SYMBOL) {
      pd_error(x, "neurorave~: unexpected argument (expected [-threaded] [-inlets] model.nrv)");
    } else if (arg == gensym("-threaded")) {
      x->state->want_threaded = true;
    } else if (arg == gensym("-inlets")) {
      want_inlets = true;
    } else if (arg->s_name[0] == '-') {
      pd_error(x, "neurorave~: unknown flag '%s' (known: -threaded -inlets)", arg->s_name);
    } else {
      model = arg;
    }
  }
  if (model) {
    load_at_creation(x, model);
  } else if (const std::string fallback = packaged_default_model(); !fallback.empty()) {
    take_result(x, neurorave::load_player(fallback));
  }
  if (want_inlets) {
    if (const neurorave::Player* player = x->state->active()) {
      x->state->inlets = static_cast<int>(player->info().descriptors.size());
      for (int d = 0; d < x->state->inlets; ++d)
        inlet_new(&x->obj, &x->obj.ob_pd, &s_signal, &s_signal);
    } else {
      pd_error(x, "neurorave~: -inlets: needs a model at creation to know its descriptors");
    }
  }
  return x;
}

void destroy(t_neurorave* x) {
  clock_free(x->state->poll);
  std::unique_ptr<State> owned(x->state);
}

}  // namespace

// Pd 0.53 looks up `neurorave_tilde_setup` for a name ending in '~'; the hex-mangled
// `setup_neurorave0x7e` is exported too, for loaders that mangle every special character.
extern "C" __attribute__((visibility("default"))) void neurorave_tilde_setup(void) {
  if (neurorave_class) return;  // set up once, whichever name Pd called
  neurorave_class = class_new(
      gensym("neurorave~"), reinterpret_cast<t_newmethod>(reinterpret_cast<t_method>(create)),
      reinterpret_cast<t_method>(destroy), sizeof(t_neurorave), CLASS_DEFAULT, A_GIMME, 0);
  CLASS_MAINSIGNALIN(neurorave_class, t_neurorave, f);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(dsp), gensym("dsp"), A_CANT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(load), gensym("load"), A_SYMBOL, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(follow), gensym("follow"), A_SYMBOL,
                  A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(offset), gensym("offset"), A_SYMBOL,
                  A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(scale), gensym("scale"), A_SYMBOL,
                  A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(bypass), gensym("bypass"), A_FLOAT,
                  0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(smoothing), gensym("smoothing"),
                  A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(reset), gensym("reset"), A_NULL);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(info), gensym("info"), A_NULL);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(mode), gensym("mode"), A_SYMBOL, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(phrase), gensym("phrase"), A_NULL);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(seed), gensym("seed"), A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(temperature), gensym("temperature"),
                  A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(offline), gensym("offline"), A_FLOAT,
                  0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(latency), gensym("latency"), A_NULL);
  class_addanything(neurorave_class, reinterpret_cast<t_method>(anything));
}

extern "C" __attribute__((visibility("default"))) void setup_neurorave0x7e(void) {
  neurorave_tilde_setup();
}
