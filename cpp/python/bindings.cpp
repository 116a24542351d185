// neurorave._core: the C++ core seen from Python. Binding code only.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <stdexcept>

#include "neurorave/descriptor_analyser.hpp"
#include "neurorave/engine.hpp"
#include "neurorave/error.hpp"
#include "neurorave/kernels.hpp"
#include "neurorave/messages.hpp"
#include "neurorave/player.hpp"

namespace py = pybind11;
using neurorave::DescriptorAnalyser;
using neurorave::Engine;
using neurorave::ModelInfo;
using neurorave::Player;
using neurorave::StreamKind;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

namespace {

py::dict info_dict(const ModelInfo& info) {
  py::list descriptors;
  for (const auto& d : info.descriptors) {
    py::dict entry;
    entry["name"] = d.name;
    entry["unit"] = d.unit;
    entry["range"] = py::make_tuple(d.minimum, d.maximum);
    entry["bins"] = d.bins;
    descriptors.append(entry);
  }
  py::dict out;
  out["path"] = info.path;
  out["architecture"] = info.architecture;
  out["description"] = info.description_json;
  out["format_version"] = info.format_version;
  out["sample_rate"] = info.sample_rate;
  out["compression"] = info.compression;
  out["latent_size"] = info.latent_size;
  out["bands"] = info.bands;
  out["causal"] = info.causal;
  out["noise"] = info.noise;
  out["encode_delay_frames"] = info.encode_delay_frames;
  out["decode_delay_samples"] = info.decode_delay_samples;
  out["forward_delay_samples"] = info.forward_delay_samples;
  out["has_prior"] = info.has_prior;
  out["half_weights"] = info.half_weights;
  out["weight_bytes"] = info.weight_bytes;
  out["streamed_weights"] = info.streamed_weights;
  out["descriptors"] = descriptors;
  out["description_json"] = info.description_json;
  return out;
}

int whole_frames(const Engine& engine, py::ssize_t samples) {
  const int c = engine.info().compression;
  if (samples % c)
    throw std::invalid_argument("audio length must be a multiple of " + std::to_string(c) +
                                " samples (whole frames)");
  return static_cast<int>(samples / c);
}

const float* controls_pointer(const std::optional<FloatArray>& controls, const Engine& engine,
                              int frames) {
  if (!controls) return nullptr;
  const auto count = static_cast<py::ssize_t>(engine.info().descriptors.size());
  if (controls->ndim() != 2 || controls->shape(0) != frames || controls->shape(1) != count)
    throw std::invalid_argument("controls must have shape (frames, descriptors) = (" +
                                std::to_string(frames) + ", " + std::to_string(count) + ")");
  return controls->data();
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  // The words every host uses (neurorave/messages.hpp), for Python's own errors.
  m.def("no_such_descriptor_message", [](const Player& p, const std::string& name) {
    return neurorave::messages::no_such_descriptor(p.info(), name);
  });
  m.def("no_prior_message",
        [](const Player& p) { return neurorave::messages::no_prior(p.info()); });
  m.def("active_kernel", &neurorave::active_kernel,
        "The GEMM kernel models loaded now use, e.g. 'avx512 (16 lanes, reads fp16 weights)'.");
  m.def("runnable_kernels", &neurorave::runnable_kernels,
        "The kernels this build carries that this CPU runs, narrowest first.");
  m.def("peak_multiply_adds_per_second", &neurorave::peak_multiply_adds_per_second,
        "The active kernel's FMA throughput on one thread, measured now.");
  m.def("use_kernel", &neurorave::use_kernel, py::arg("name"),
        "Makes NAME the kernel of models loaded from now on; False if there is none.");
  m.doc() = "NeuroRave's C++ streaming core";
  py::register_exception<neurorave::ModelError>(m, "ModelError", PyExc_ValueError);

  py::enum_<StreamKind>(m, "StreamKind")
      .value("forward", StreamKind::forward)
      .value("decode", StreamKind::decode);

  py::class_<Engine>(m, "Engine")
      .def(py::init(&Engine::load), py::arg("path"), py::arg("max_frames_per_call") = 64)
      .def_property_readonly("info", [](const Engine& e) { return info_dict(e.info()); })
      .def_property_readonly("max_frames", &Engine::max_frames)
      .def("reset", &Engine::reset, py::arg("kind") = StreamKind::forward)
      .def(
          "encode",
          [](Engine& e, FloatArray audio) {
            const int frames = whole_frames(e, audio.size());
            FloatArray z({frames, e.info().latent_size});
            e.encode(audio.data(), frames, z.mutable_data());
            return z;
          },
          py::arg("audio"), "audio (frames * compression,) -> z (frames, latent)")
      .def(
          "decode",
          [](Engine& e, FloatArray z, std::optional<FloatArray> controls) {
            if (z.ndim() != 2 || z.shape(1) != e.info().latent_size)
              throw std::invalid_argument("z must have shape (frames, latent_size)");
            const int frames = static_cast<int>(z.shape(0));
            FloatArray audio(static_cast<py::ssize_t>(frames) * e.info().compression);
            e.decode(z.data(), controls_pointer(controls, e, frames), frames, audio.mutable_data());
            return audio;
          },
          py::arg("z"), py::arg("controls") = py::none())
      .def(
          "forward",
          [](Engine& e, FloatArray audio, std::optional<FloatArray> controls) {
            const int frames = whole_frames(e, audio.size());
            FloatArray out(audio.size());
            e.forward(audio.data(), controls_pointer(controls, e, frames), frames,
                      out.mutable_data());
            return out;
          },
          py::arg("audio"), py::arg("controls") = py::none())
      .def(
          "prior_step",
          [](Engine& e, FloatArray noise, float temperature) {
            const auto& info = e.info();
            const auto descriptors = static_cast<py::ssize_t>(info.descriptors.size());
            if (noise.ndim() != 1 || noise.shape(0) != info.latent_size + descriptors)
              throw std::invalid_argument("noise must have shape (latent_size + descriptors,)");
            FloatArray z(info.latent_size), values(descriptors);
            e.prior_step(noise.data(), temperature, z.mutable_data(), values.mutable_data());
            return py::make_tuple(z, values);
          },
          py::arg("noise"), py::arg("temperature"),
          "one prior step -> (z (latent,), descriptor values (descriptors,), physical)")
      .def("prior_reset", &Engine::prior_reset);

  py::class_<Player>(m, "Player")
      .def(py::init([](const std::string& path) {
             return std::make_unique<Player>(Engine::load(path));
           }),
           py::arg("path"))
      .def_property_readonly("info", [](const Player& p) { return info_dict(p.info()); })
      .def_property_readonly("latency", &Player::latency)
      .def_property_readonly("nonfinite_resets", &Player::nonfinite_resets)
      .def("set_control", &Player::set_control, py::arg("descriptor"), py::arg("value"))
      .def("control", &Player::control, py::arg("descriptor"))
      .def("set_smoothing_ms", &Player::set_smoothing_ms, py::arg("milliseconds"))
      .def("set_follow", &Player::set_follow, py::arg("descriptor"), py::arg("follow"))
      .def("set_offset", &Player::set_offset, py::arg("descriptor"), py::arg("offset"))
      .def("set_scale", &Player::set_scale, py::arg("descriptor"), py::arg("scale"))
      .def("follows", &Player::follows, py::arg("descriptor"))
      .def("set_generate", &Player::set_generate, py::arg("generate"))
      .def_property_readonly("generating", &Player::generating)
      .def("new_phrase", &Player::new_phrase)
      .def("set_seed", &Player::set_seed, py::arg("seed"))
      .def("set_temperature", &Player::set_temperature, py::arg("temperature"))
      .def("reset", &Player::reset)
      .def(
          "process",
          [](Player& p, FloatArray audio) {
            FloatArray out(audio.size());
            {
              py::gil_scoped_release release;
              p.process(audio.data(), out.mutable_data(), static_cast<int>(audio.size()));
            }
            return out;
          },
          py::arg("audio"));

  py::class_<DescriptorAnalyser>(m, "DescriptorAnalyser",
                                 "Streaming descriptors of docs/descriptors.md, one row a frame")
      .def(py::init<int, int, std::vector<std::string>>(), py::arg("sample_rate"),
           py::arg("compression"), py::arg("names"))
      .def_property_readonly_static("known_names",
                                    [](py::object) { return DescriptorAnalyser::known_names(); })
      .def_property_readonly("sample_rate", &DescriptorAnalyser::sample_rate)
      .def_property_readonly("compression", &DescriptorAnalyser::compression)
      .def_property_readonly("window", &DescriptorAnalyser::window)
      .def_property_readonly("names", &DescriptorAnalyser::names)
      .def_property_readonly("pending", &DescriptorAnalyser::pending)
      .def("reset", &DescriptorAnalyser::reset)
      .def(
          "push",
          [](DescriptorAnalyser& a, FloatArray audio) {
            if (audio.ndim() != 1) throw std::invalid_argument("audio must be 1-D");
            if (audio.size() > std::numeric_limits<int>::max())
              throw std::invalid_argument("audio too long for one call");
            const int n = static_cast<int>(audio.size());
            // frames_for(n) is exactly what push() completes: no trimming needed.
            const auto frames = static_cast<py::ssize_t>(a.frames_for(n));
            py::array_t<double> values({frames, static_cast<py::ssize_t>(a.size())});
            int done = 0;
            {
              py::gil_scoped_release release;
              done = a.push(audio.data(), n, values.mutable_data());
            }
            if (done != frames) throw std::logic_error("DescriptorAnalyser: frame count mismatch");
            return values;
          },
          py::arg("audio"), "audio (n,) float32 -> values (frames completed, len(names)) float64");
}
