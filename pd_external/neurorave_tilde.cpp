// [neurorave~]: a NeuroRave model in Pure Data. A thin adapter over neurorave::Player:
// all block adaptation, descriptor analysis and inference live in the core (cpp/).
//
//   [neurorave~ model.nrv]   the path is looked up next to the patch, then on Pd's path
//   left inlet:   audio to encode (and to follow); messages
//   left outlet:  the model's audio, latency() samples behind the offline model
//   right outlet: answers to `info` and `latency`
//
// Pd vanilla runs messages and DSP ticks in one thread, so a model is loaded in the
// message handler and swapped in between two ticks; the perform routine never allocates
// or frees.

#include <m_pd.h>

#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "neurorave/engine.hpp"
#include "neurorave/error.hpp"
#include "neurorave/player.hpp"

static_assert(sizeof(t_sample) == sizeof(float), "neurorave~ needs a 32-bit float Pd");

namespace {

t_class* neurorave_class = nullptr;

struct State {
  std::unique_ptr<neurorave::Player> player;
  float smoothing_ms = 10.0f;
  bool bypass = false;
  bool rate_reported = false;  // the sample-rate mismatch error is printed once
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
  const auto& player = x->state->player;
  if (!player || pd_rate <= 0 || x->state->rate_reported) return;
  const int model_rate = player->info().sample_rate;
  if (static_cast<int>(pd_rate) != model_rate) {
    pd_error(x, "neurorave~: %s: the model runs at %d Hz but Pd at %g Hz (no resampling)",
             player->info().path.c_str(), model_rate, pd_rate);
    x->state->rate_reported = true;
  }
}

void load(t_neurorave* x, t_symbol* file) {
  const std::string path = resolve(x, file->s_name);
  std::unique_ptr<neurorave::Player> fresh;
  try {
    fresh = std::make_unique<neurorave::Player>(neurorave::Engine::load(path));
  } catch (const neurorave::ModelError& e) {
    pd_error(x, "neurorave~: %s", e.what());
    return;
  } catch (const std::exception& e) {
    pd_error(x, "neurorave~: %s: %s", path.c_str(), e.what());
    return;
  }
  fresh->set_smoothing_ms(x->state->smoothing_ms);
  // Same thread as the DSP tick: the old player is freed here, never in perform.
  std::swap(x->state->player, fresh);
  x->state->rate_reported = false;
  if (canvas_dspstate) check_rate(x, sys_getsr());
}

int descriptor(t_neurorave* x, t_symbol* name, const char* what) {
  const auto& player = x->state->player;
  if (!player) {
    pd_error(x, "neurorave~: %s: no model loaded", what);
    return -1;
  }
  const int index = player->info().descriptor_index(name->s_name);
  if (index < 0) {
    std::string known;
    for (const auto& d : player->info().descriptors) known += " " + d.name;
    pd_error(x, "neurorave~: %s: the model has no descriptor '%s'; it has:%s", what,
             name->s_name, known.c_str());
  }
  return index;
}

void follow(t_neurorave* x, t_symbol* name, t_floatarg on) {
  const int d = descriptor(x, name, "follow");
  if (d >= 0) x->state->player->set_follow(d, on != 0);
}

void offset(t_neurorave* x, t_symbol* name, t_floatarg value) {
  const int d = descriptor(x, name, "offset");
  if (d >= 0) x->state->player->set_offset(d, value);
}

void scale(t_neurorave* x, t_symbol* name, t_floatarg value) {
  const int d = descriptor(x, name, "scale");
  if (d >= 0) x->state->player->set_scale(d, value);
}

// `DESCRIPTOR VALUE`: a fader, in the descriptor's physical unit.
void anything(t_neurorave* x, t_symbol* s, int argc, t_atom* argv) {
  if (argc != 1 || argv[0].a_type != A_FLOAT) {
    pd_error(x, "neurorave~: '%s': expected a descriptor name and one number", s->s_name);
    return;
  }
  const int d = descriptor(x, s, s->s_name);
  if (d >= 0) x->state->player->set_control(d, atom_getfloat(argv));
}

void bypass(t_neurorave* x, t_floatarg on) { x->state->bypass = on != 0; }

void smoothing(t_neurorave* x, t_floatarg milliseconds) {
  x->state->smoothing_ms = milliseconds < 0 ? 0.0f : milliseconds;
  if (x->state->player) x->state->player->set_smoothing_ms(x->state->smoothing_ms);
}

void reset(t_neurorave* x) {
  if (x->state->player) x->state->player->reset();
}

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
  const auto& player = x->state->player;
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
  info_number(x, "latency", player->latency());
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
  if (!x->state->player) {
    pd_error(x, "neurorave~: latency: no model loaded");
    return;
  }
  t_atom a;
  SETFLOAT(&a, x->state->player->latency());
  outlet_anything(x->info_out, gensym("latency"), 1, &a);
}

t_int* perform(t_int* w) {
  auto* x = reinterpret_cast<t_neurorave*>(w[1]);
  const t_sample* in = reinterpret_cast<t_sample*>(w[2]);
  t_sample* out = reinterpret_cast<t_sample*>(w[3]);
  const int n = static_cast<int>(w[4]);
  State* state = x->state;
  if (state->bypass) {
    if (out != in) std::memmove(out, in, sizeof(t_sample) * n);
  } else if (state->player) {
    state->player->process(in, out, n);  // in and out may be the same buffer: allowed
  } else {
    std::memset(out, 0, sizeof(t_sample) * n);
  }
  return w + 5;
}

void dsp(t_neurorave* x, t_signal** sp) {
  check_rate(x, sp[0]->s_sr);
  dsp_add(perform, 4, x, sp[0]->s_vec, sp[1]->s_vec, static_cast<t_int>(sp[0]->s_n));
}

void* create(t_symbol*, int argc, t_atom* argv) {
  auto* x = reinterpret_cast<t_neurorave*>(pd_new(neurorave_class));
  x->canvas = canvas_getcurrent();
  // Pd allocates the C struct; it owns the C++ state through this pointer.
  x->state = std::make_unique<State>().release();
  x->audio_out = outlet_new(&x->obj, &s_signal);
  x->info_out = outlet_new(&x->obj, nullptr);
  if (argc > 0 && argv[0].a_type == A_SYMBOL) load(x, atom_getsymbol(argv));
  return x;
}

void destroy(t_neurorave* x) { std::unique_ptr<State> owned(x->state); }

}  // namespace

// Pd 0.53 looks up `neurorave_tilde_setup` for a name ending in '~'; the hex-mangled
// `setup_neurorave0x7e` is exported too, for loaders that mangle every special character.
extern "C" __attribute__((visibility("default"))) void neurorave_tilde_setup(void) {
  if (neurorave_class) return;  // set up once, whichever name Pd called
  neurorave_class = class_new(gensym("neurorave~"), reinterpret_cast<t_newmethod>(
                                  reinterpret_cast<t_method>(create)),
                              reinterpret_cast<t_method>(destroy), sizeof(t_neurorave),
                              CLASS_DEFAULT, A_GIMME, 0);
  CLASS_MAINSIGNALIN(neurorave_class, t_neurorave, f);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(dsp), gensym("dsp"), A_CANT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(load), gensym("load"), A_SYMBOL,
                  0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(follow), gensym("follow"),
                  A_SYMBOL, A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(offset), gensym("offset"),
                  A_SYMBOL, A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(scale), gensym("scale"),
                  A_SYMBOL, A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(bypass), gensym("bypass"),
                  A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(smoothing), gensym("smoothing"),
                  A_FLOAT, 0);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(reset), gensym("reset"), A_NULL);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(info), gensym("info"), A_NULL);
  class_addmethod(neurorave_class, reinterpret_cast<t_method>(latency), gensym("latency"),
                  A_NULL);
  class_addanything(neurorave_class, reinterpret_cast<t_method>(anything));
}

extern "C" __attribute__((visibility("default"))) void setup_neurorave0x7e(void) {
  neurorave_tilde_setup();
}
