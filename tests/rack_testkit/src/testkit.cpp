// Test-only modules for running NeuroRave in a real Rack (tests/test_vcv_rack.py).
// Files are raw little-endian float32; their paths come from the patch (module data), so
// a test writes a patch and reads the result. Rack's audio is +-5 V for +-1.
//
// FilePlayer: plays "path" (mono) from engine frame "start" on, once, at 5 V per unit;
//             its second output is 10 V from that frame on (a gate marking the start).
// Recorder:   records its 6 inputs (volts), interleaved, and writes "path" when the
//             module is destroyed (Rack's exit): nothing is written on the audio thread.

#include <rack.hpp>

#include <cstdio>
#include <string>
#include <vector>

using namespace rack;

Plugin* pluginInstance;

namespace {

constexpr float kVolts = 5.0f;

std::vector<float> read_floats(const std::string& path) {
  std::vector<float> data;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    float buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, sizeof(float), 4096, f)) > 0)
      data.insert(data.end(), buffer, buffer + n);
    std::fclose(f);
  } else {
    WARN("FilePlayer: cannot read %s", path.c_str());
  }
  return data;
}

struct FilePlayer : Module {
  std::vector<float> samples;
  std::string path;
  int64_t start = 0;
  size_t position = 0;
  int64_t frame = 0;

  FilePlayer() { config(0, 0, 2, 0); }

  void process(const ProcessArgs&) override {
    const bool playing = frame >= start;
    const float value = playing && position < samples.size() ? samples[position++] : 0.0f;
    outputs[0].setVoltage(kVolts * value);
    outputs[1].setVoltage(playing ? 10.0f : 0.0f);
    ++frame;
  }

  json_t* dataToJson() override {
    json_t* root = json_object();
    json_object_set_new(root, "path", json_string(path.c_str()));
    json_object_set_new(root, "start", json_integer(start));
    return root;
  }
  void dataFromJson(json_t* root) override {
    if (const char* p = json_string_value(json_object_get(root, "path"))) {
      path = p;
      samples = read_floats(path);
    }
    start = json_integer_value(json_object_get(root, "start"));
  }
};

struct Recorder : Module {
  static constexpr int kChannels = 6;
  std::vector<float> data;
  std::string path;

  Recorder() {
    config(0, kChannels, 0, 0);
    data.reserve(static_cast<size_t>(kChannels) * 48000 * 120);  // no allocation while recording
  }
  ~Recorder() override {
    if (path.empty()) return;
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(data.data(), sizeof(float), data.size(), f);
      std::fclose(f);
      INFO("Recorder: %zu frames to %s", data.size() / kChannels, path.c_str());
    }
  }

  void process(const ProcessArgs&) override {
    if (data.size() + kChannels > data.capacity()) return;
    for (int c = 0; c < kChannels; ++c) data.push_back(inputs[c].getVoltage());
  }

  json_t* dataToJson() override {
    json_t* root = json_object();
    json_object_set_new(root, "path", json_string(path.c_str()));
    return root;
  }
  void dataFromJson(json_t* root) override {
    if (const char* p = json_string_value(json_object_get(root, "path"))) path = p;
  }
};

struct BlankWidget : app::ModuleWidget {
  explicit BlankWidget(Module* module, int inputs, int outputs) {
    setModule(module);
    box.size = Vec(RACK_GRID_WIDTH * 4, RACK_GRID_HEIGHT);
    for (int i = 0; i < inputs; ++i)
      addInput(createInputCentered<componentlibrary::PJ301MPort>(Vec(30, 60 + 40 * i), module, i));
    for (int i = 0; i < outputs; ++i)
      addOutput(
          createOutputCentered<componentlibrary::PJ301MPort>(Vec(30, 260 + 40 * i), module, i));
  }
};
struct FilePlayerWidget : BlankWidget {
  explicit FilePlayerWidget(FilePlayer* m) : BlankWidget(m, 0, 2) {}
};
struct RecorderWidget : BlankWidget {
  explicit RecorderWidget(Recorder* m) : BlankWidget(m, Recorder::kChannels, 0) {}
};

}  // namespace

void init(Plugin* p) {
  pluginInstance = p;
  p->addModel(createModel<FilePlayer, FilePlayerWidget>("FilePlayer"));
  p->addModel(createModel<Recorder, RecorderWidget>("Recorder"));
}
