// The NeuroRave module: wiring between Rack's ports and params and neurorave::ModuleVoice,
// which holds all of the module's logic (panel mappings, gates, modes), played through a
// neurorave::ModelSwap (models swapped with a crossfade, never a hole). Rack calls
// process() once per sample; the module gathers kBlock samples and plays them through the
// voice as one block, at kBlock samples of extra latency (reported on the display).
// Rack steps its engine in bursts (one per audio-device buffer); VoiceLoader chooses for
// that burst whether the model plays in the engine thread or on a worker running ahead.

#include <array>
#include <cstdlib>
#include <memory>
#include <string>

#include <osdialog.h>

#include "neurorave/messages.hpp"
#include "neurorave/module_voice.hpp"
#include "plugin.hpp"
#include "voice_loader.hpp"

using namespace rack;

namespace {

constexpr int kSlots = 6;   // descriptor controls on the panel
constexpr int kBlock = 32;  // samples per voice call, and the voice's worker block
// The model this module plays until another is chosen: shipped in the plugin's res/.
const std::string kDefaultModel = std::string("res/") + neurorave::kDefaultModelFile;
constexpr float kAudioVolts = 5.0f;  // Rack audio is +-5 V; the model plays +-1

// The patch's names for Inference (voice_loader.hpp), in its order.
const char* const kInferenceNames[] = {"auto", "engine", "worker"};

// A knob whose tooltip and typed-in value are the descriptor's physical value (dB, Hz,
// ...) over the loaded model's range; the param itself stays 0..1.
struct DescriptorQuantity : engine::ParamQuantity {
  neurorave::DescriptorInfo range;  // an unused slot keeps 0..1

  float getDisplayValue() override { return range.at_position(getValue()); }
  void setDisplayValue(float physical) override {
    setImmediateValue(math::clamp(range.position_of(physical), 0.0f, 1.0f));
  }
};

}  // namespace

struct NeuroRave : engine::Module {
  enum ParamId {
    KNOB_PARAM,
    AMOUNT_PARAM = KNOB_PARAM + kSlots,
    MODE_PARAM = AMOUNT_PARAM + kSlots,
    TEMPERATURE_PARAM,
    PARAMS_LEN
  };
  enum InputId {
    CV_INPUT,
    AUDIO_INPUT = CV_INPUT + kSlots,
    FOLLOW_INPUT,
    PHRASE_INPUT,
    INPUTS_LEN
  };
  enum OutputId { AUDIO_OUTPUT, OUTPUTS_LEN };
  enum LightId { TRANSFER_LIGHT, FOLLOW_LIGHT, GENERATE_LIGHT, READY_LIGHT, LIGHTS_LEN };

  NeuroRave() {
    config(PARAMS_LEN, INPUTS_LEN, OUTPUTS_LEN, LIGHTS_LEN);
    for (int i = 0; i < kSlots; ++i) {
      configParam<DescriptorQuantity>(KNOB_PARAM + i, 0.0f, 1.0f, 0.5f);
      configParam(AMOUNT_PARAM + i, -1.0f, 1.0f, 0.0f, "", "%", 0.0f, 100.0f);
      configInput(CV_INPUT + i);
    }
    label_slots(neurorave::ModelInfo{});
    configSwitch(MODE_PARAM, 0.0f, 2.0f, 0.0f, "Mode", {"Transfer", "Follow", "Generate"});
    configParam(TEMPERATURE_PARAM, 0.0f, 1.0f, 1.0f, "Temperature of the prior", "%", 0.0f, 100.0f);
    configInput(AUDIO_INPUT, "Audio (encoded, and analysed in follow mode)");
    configInput(FOLLOW_INPUT, "Follow gate (a rising edge toggles transfer / follow)");
    configInput(PHRASE_INPUT, "Phrase trigger (a rising edge generates a new phrase)");
    configOutput(AUDIO_OUTPUT, "Audio");
    configBypass(AUDIO_INPUT, AUDIO_OUTPUT);
    configLight(TRANSFER_LIGHT, "Transfer");
    configLight(FOLLOW_LIGHT, "Follow");
    configLight(GENERATE_LIGHT, "Generate");
    configLight(READY_LIGHT, "Model playing");
    load(loader.default_path());  // until the patch or the menu names another
  }

  // UI thread: names, units and ranges of the slots from `info` (unused slots say so).
  void label_slots(const neurorave::ModelInfo& info) {
    for (int i = 0; i < kSlots; ++i) {
      auto* knob = dynamic_cast<DescriptorQuantity*>(paramQuantities[KNOB_PARAM + i]);
      const bool used = i < static_cast<int>(info.descriptors.size());
      // An unused slot's panel label is its number alone (the tooltip says more).
      const std::string name = used ? info.descriptors[i].name : std::to_string(i + 1);
      knob->name = used ? name : "Slot " + name + " (unused by this model)";
      slot_titles[i] = name.substr(0, 10);
      knob->unit = used && !info.descriptors[i].unit.empty() ? " " + info.descriptors[i].unit : "";
      knob->range = used ? info.descriptors[i] : neurorave::DescriptorInfo{};
      knob->description = used ? "Knob across the model's range; CV adds 10 V per range" : "";
      paramQuantities[AMOUNT_PARAM + i]->name = name + " CV amount";
      inputInfos[CV_INPUT + i]->name = name + " CV";
    }
  }

  // UI thread: refreshes the labels when a load finished since the last call.
  void ui_step() {
    const long version = loader.version();
    if (version == labelled_version) return;
    labelled_version = version;
    const auto status = loader.status();
    if (status.loaded) label_slots(status.info);
  }

  neurorave::CvConvention convention() const {
    return unipolar_cv ? neurorave::CvConvention::unipolar_10v
                       : neurorave::CvConvention::bipolar_5v;
  }
  void load(const std::string& path) { loader.load(path, convention(), inference); }

  void process(const ProcessArgs& args) override {
    if (fill == 0) start_block(args);
    in[fill] = inputs[AUDIO_INPUT].getVoltage() / kAudioVolts;
    follow_volts[fill] = inputs[FOLLOW_INPUT].getVoltage();
    phrase_volts[fill] = inputs[PHRASE_INPUT].getVoltage();
    outputs[AUDIO_OUTPUT].setVoltage(out[fill] * kAudioVolts);
    if (++fill == kBlock) {
      play_block();
      fill = 0;
    }
  }

  // Audio thread, once per block: a freshly loaded voice, panel controls, mode switch.
  void start_block(const ProcessArgs& args) {
    // The burst the voice must be ready for: the engine's block (one device buffer).
    loader.set_timing(APP->engine->getBlockFrames(), static_cast<int>(args.sampleRate + 0.5f));
    auto& swap = loader.swap();
    if (swap.take_offer()) {  // a new voice: it plays the mode the module plays now
      neurorave::ModuleVoice* fresh = swap.incoming() ? swap.incoming() : swap.current();
      if (fresh == swap.current()) {
        applied_switch = -1;  // the first voice: the switch sets its mode below
      } else {
        fresh->set_mode(swap.current()->mode());
      }
    }
    neurorave::ModuleVoice* voice = swap.current();
    if (!voice) return;
    const float temperature = params[TEMPERATURE_PARAM].getValue();
    const int position = static_cast<int>(params[MODE_PARAM].getValue() + 0.5f);
    const bool switched =
        position != applied_switch;  // the switch sets the mode; gates change it later
    applied_switch = position;
    swap.for_each([&](neurorave::ModuleVoice& v) {
      const int slots = std::min(kSlots, v.descriptors());
      for (int i = 0; i < slots; ++i) {
        neurorave::PanelControl control;
        control.knob = params[KNOB_PARAM + i].getValue();
        control.cv_volts = inputs[CV_INPUT + i].getVoltage();
        control.attenuverter = params[AMOUNT_PARAM + i].getValue();
        v.set_panel(i, control);
      }
      if (switched) v.set_mode(static_cast<neurorave::VoiceMode>(position));
      v.set_temperature(temperature);
    });
  }

  void play_block() {
    auto& swap = loader.swap();
    neurorave::VoiceGates gates;
    if (inputs[FOLLOW_INPUT].isConnected()) gates.follow = follow_volts.data();
    if (inputs[PHRASE_INPUT].isConnected()) gates.phrase = phrase_volts.data();
    swap.process(out.data(), kBlock, [&](neurorave::ModuleVoice& v, float* o) {
      v.process(in.data(), o, kBlock, gates);
    });
    neurorave::ModuleVoice* voice = swap.current();
    if (!voice) return;
    const int mode = static_cast<int>(voice->mode());
    for (int m = 0; m < neurorave::kVoiceModes; ++m)
      lights[TRANSFER_LIGHT + m].setBrightness(m == mode ? 1.0f : 0.0f);
    lights[READY_LIGHT].setBrightness(1.0f);
    playing_mode.store(mode, std::memory_order_relaxed);
    underruns.store(voice->underruns(), std::memory_order_relaxed);
  }

  json_t* dataToJson() override {
    json_t* root = json_object();
    const auto status = loader.status();
    // The default model is not saved: the patch plays whatever default this plugin has.
    if (status.loaded && status.path != loader.default_path())
      json_object_set_new(root, "model", json_string(status.path.c_str()));
    json_object_set_new(root, "unipolarCv", json_boolean(unipolar_cv));
    json_object_set_new(root, "inference",
                        json_string(kInferenceNames[static_cast<int>(inference)]));
    return root;
  }

  void dataFromJson(json_t* root) override {
    if (json_t* unipolar = json_object_get(root, "unipolarCv"))
      unipolar_cv = json_boolean_value(unipolar);
    const Inference before = inference;
    if (const char* name = json_string_value(json_object_get(root, "inference")))
      for (int i = 0; i < 3; ++i)
        if (std::string(name) == kInferenceNames[i]) inference = static_cast<Inference>(i);
    const char* model = json_string_value(json_object_get(root, "model"));  // null if absent
    if (model != nullptr && *model != '\0')
      load(model);
    else if (inference != before)
      load(loader.default_path());
  }

  VoiceLoader loader{kBlock, static_cast<int>(neurorave::kSwapFadeSeconds * 44100),
                     asset::plugin(pluginInstance, kDefaultModel)};
  bool unipolar_cv = false;  // CV inputs swing 0..10 V instead of -5..+5 V
  Inference inference = Inference::automatic;
  std::atomic<int> playing_mode{0};
  std::atomic<long> underruns{0};
  std::array<std::string, kSlots> slot_titles;  // the panel's label above each column

 private:
  std::array<float, kBlock> in{}, out{}, follow_volts{}, phrase_volts{};
  int fill = 0;
  int applied_switch = -1;
  long labelled_version = -1;
};

namespace {

// Panel positions, mm; res/NeuroRave.svg draws the same layout.
constexpr float kColumn0 = 10.8f, kColumnStep = 16.0f;
constexpr float kLabelY = 33.0f, kKnobY = 41.0f, kAmountY = 53.0f, kCvY = 64.0f;
constexpr float kControlsY = 86.0f, kPortsY = 110.0f;

float column_x(int i) { return kColumn0 + kColumnStep * i; }

// Text drawn by the module (Rack's SVG renderer ignores <text>), in the panel's ink.
struct PanelText : widget::TransparentWidget {
  std::string text;
  float size = 9.0f;
  NVGcolor color = nvgRGB(0x20, 0x20, 0x28);

  void draw(const DrawArgs& args) override {
    std::shared_ptr<window::Font> font =
        APP->window->loadFont(asset::system("res/fonts/DejaVuSans.ttf"));
    if (!font) return;
    nvgFontFaceId(args.vg, font->handle);
    nvgFontSize(args.vg, size);
    nvgFillColor(args.vg, color);
    nvgTextAlign(args.vg, NVG_ALIGN_CENTER | NVG_ALIGN_MIDDLE);
    nvgText(args.vg, box.size.x / 2, box.size.y / 2, text.c_str(), nullptr);
  }
};

PanelText* panel_text(math::Vec centre_mm, const std::string& text, float size = 9.0f) {
  auto* label = createWidget<PanelText>(mm2px(centre_mm));
  label->box.size = mm2px(math::Vec(15.0f, 4.0f));
  label->box.pos = label->box.pos.minus(label->box.size.div(2));
  label->text = text;
  label->size = size;
  return label;
}

// Model name, latency, mode and any error, lit in the dark like a module's screen.
struct StatusDisplay : app::LedDisplay {
  NeuroRave* module = nullptr;

  std::vector<std::string> lines() const {
    if (!module) return {"NeuroRave", "no model: right-click,", "Load model..."};
    const auto status = module->loader.status();
    std::vector<std::string> text = VoiceLoader::status_lines(status, kBlock);
    if (status.loaded) {
      const auto& info = status.info;
      std::string mode = neurorave::kVoiceModeNames[module->playing_mode.load()];
      const bool wants_generate = module->params[NeuroRave::MODE_PARAM].getValue() > 1.5f;
      if (wants_generate && !info.has_prior) mode += " | no prior to generate";
      if (static_cast<int>(APP->engine->getSampleRate()) != info.sample_rate)
        mode += " | " + neurorave::messages::rate_hint(info);
      if (const long late = module->underruns.load()) mode += string::f(" | %ld late", late);
      text.insert(text.begin() + 2, mode);
    }
    return text;
  }

  void drawLayer(const DrawArgs& args, int layer) override {
    if (layer == 1) {
      std::shared_ptr<window::Font> font =
          APP->window->loadFont(asset::system("res/fonts/ShareTechMono-Regular.ttf"));
      if (!font) return;
      nvgScissor(args.vg, 0, 0, box.size.x, box.size.y);
      nvgFontFaceId(args.vg, font->handle);
      nvgFontSize(args.vg, 11.0f);
      nvgFillColor(args.vg, nvgRGB(0x7f, 0xe0, 0xd0));
      float y = 12.0f;
      for (const auto& line : lines()) {
        nvgText(args.vg, 5.0f, y, line.c_str(), nullptr);
        y += 12.0f;
      }
      nvgResetScissor(args.vg);
    }
    LedDisplay::drawLayer(args, layer);
  }
};

// The model's file, chosen in a dialog (the same one Rack uses for patches).
void choose_model(NeuroRave* module) {
  const auto status = module->loader.status();
  const std::string dir = status.loaded ? system::getDirectory(status.path) : asset::user("");
  osdialog_filters* filters = osdialog_filters_parse("NeuroRave model (.nrv):nrv;All files:*");
  char* chosen = osdialog_file(OSDIALOG_OPEN, dir.c_str(), nullptr, filters);
  osdialog_filters_free(filters);
  if (!chosen) return;
  const std::unique_ptr<char, decltype(&std::free)> owned(chosen, &std::free);
  module->load(chosen);
}

}  // namespace

struct NeuroRaveWidget : app::ModuleWidget {
  explicit NeuroRaveWidget(NeuroRave* module) {
    setModule(module);
    setPanel(createPanel(asset::plugin(pluginInstance, "res/NeuroRave.svg")));
    addChild(createWidget<componentlibrary::ScrewSilver>(Vec(RACK_GRID_WIDTH, 0)));
    addChild(createWidget<componentlibrary::ScrewSilver>(Vec(box.size.x - 2 * RACK_GRID_WIDTH, 0)));
    addChild(createWidget<componentlibrary::ScrewSilver>(
        Vec(RACK_GRID_WIDTH, RACK_GRID_HEIGHT - RACK_GRID_WIDTH)));
    addChild(createWidget<componentlibrary::ScrewSilver>(
        Vec(box.size.x - 2 * RACK_GRID_WIDTH, RACK_GRID_HEIGHT - RACK_GRID_WIDTH)));
    add_display(module);
    add_slots(module);
    add_controls(module);
  }

  void add_display(NeuroRave* module) {
    auto* display = createWidget<StatusDisplay>(mm2px(Vec(4.0f, 12.0f)));
    display->box.size = mm2px(Vec(93.6f, 16.0f));
    display->module = module;
    addChild(display);
  }

  void add_slots(NeuroRave* module) {
    using namespace componentlibrary;
    for (int i = 0; i < kSlots; ++i) {
      const float x = column_x(i);
      slot_labels[i] = panel_text(Vec(x, kLabelY), std::to_string(i + 1), 8.0f);
      addChild(slot_labels[i]);
      addParam(createParamCentered<RoundBlackKnob>(mm2px(Vec(x, kKnobY)), module,
                                                   NeuroRave::KNOB_PARAM + i));
      addParam(createParamCentered<Trimpot>(mm2px(Vec(x, kAmountY)), module,
                                            NeuroRave::AMOUNT_PARAM + i));
      addInput(
          createInputCentered<PJ301MPort>(mm2px(Vec(x, kCvY)), module, NeuroRave::CV_INPUT + i));
    }
  }

  void add_controls(NeuroRave* module) {
    using namespace componentlibrary;
    addParam(createParamCentered<CKSSThree>(mm2px(Vec(12.0f, kControlsY)), module,
                                            NeuroRave::MODE_PARAM));
    // CKSSThree's top position is its highest value: generate on top, transfer below.
    const float light_y[] = {kControlsY + 5.0f, kControlsY, kControlsY - 5.0f};
    for (int m = 0; m < 3; ++m)
      addChild(createLightCentered<SmallLight<GreenLight>>(mm2px(Vec(19.0f, light_y[m])), module,
                                                           NeuroRave::TRANSFER_LIGHT + m));
    addParam(createParamCentered<RoundSmallBlackKnob>(mm2px(Vec(42.0f, kControlsY)), module,
                                                      NeuroRave::TEMPERATURE_PARAM));
    addInput(createInputCentered<PJ301MPort>(mm2px(Vec(66.0f, kControlsY)), module,
                                             NeuroRave::FOLLOW_INPUT));
    addInput(createInputCentered<PJ301MPort>(mm2px(Vec(86.0f, kControlsY)), module,
                                             NeuroRave::PHRASE_INPUT));
    addInput(createInputCentered<PJ301MPort>(mm2px(Vec(15.0f, kPortsY)), module,
                                             NeuroRave::AUDIO_INPUT));
    addChild(createLightCentered<MediumLight<BlueLight>>(mm2px(Vec(50.8f, kPortsY)), module,
                                                         NeuroRave::READY_LIGHT));
    addOutput(createOutputCentered<PJ301MPort>(mm2px(Vec(86.0f, kPortsY)), module,
                                               NeuroRave::AUDIO_OUTPUT));
    add_labels();
  }

  void add_labels() {
    const struct {
      float x, y;
      const char* text;
    } labels[] = {{4.0f, kAmountY, "amt"},
                  {4.0f, kCvY, "CV"},
                  {12.0f, kControlsY - 9.0f, "mode"},
                  {42.0f, kControlsY - 9.0f, "temp"},
                  {66.0f, kControlsY - 9.0f, "follow"},
                  {86.0f, kControlsY - 9.0f, "phrase"},
                  {15.0f, kPortsY - 8.0f, "in"},
                  {50.8f, kPortsY - 6.0f, "model"},
                  {86.0f, kPortsY - 8.0f, "out"},
                  {24.0f, kControlsY - 5.0f, "gen"},
                  {24.0f, kControlsY, "fol"},
                  {24.0f, kControlsY + 5.0f, "tra"}};
    for (const auto& label : labels) addChild(panel_text(Vec(label.x, label.y), label.text, 8.0f));
    PanelText* title = panel_text(Vec(50.8f, 4.5f), "NEURORAVE", 12.0f);
    title->color = nvgRGB(0xe8, 0xe6, 0xe0);  // light on the dark top bar
    addChild(title);
  }

  void step() override {
    if (auto* module = dynamic_cast<NeuroRave*>(this->module)) {
      module->ui_step();
      for (int i = 0; i < kSlots; ++i) slot_labels[i]->text = module->slot_titles[i];
    }
    ModuleWidget::step();
  }

  void appendContextMenu(ui::Menu* menu) override {
    auto* module = dynamic_cast<NeuroRave*>(this->module);
    if (!module) return;
    const auto status = module->loader.status();
    menu->addChild(new ui::MenuSeparator);
    menu->addChild(createMenuLabel(status.loaded ? "Model: " + status.path : "No model loaded"));
    if (!status.error.empty()) menu->addChild(createMenuLabel("Error: " + status.error));
    menu->addChild(createMenuItem("Load model...", "", [=] { choose_model(module); }));
    menu->addChild(createIndexSubmenuItem(
        "CV inputs", {"-5..+5 V around the knob", "0..10 V up from the knob"},
        [=] { return static_cast<size_t>(module->unipolar_cv); },
        [=](size_t unipolar) {
          module->unipolar_cv = unipolar != 0;
          const auto now = module->loader.status();  // the voice takes it when built
          if (now.loaded) module->load(now.path);
        }));
    menu->addChild(createIndexSubmenuItem(
        "Model runs",
        {"Automatic (by the engine's block size)", "In Rack's engine thread",
         "On a worker thread, ahead by a latency budget"},
        [=] { return static_cast<size_t>(module->inference); },
        [=](size_t choice) {
          module->inference = static_cast<Inference>(choice);
          const auto now = module->loader.status();
          if (now.loaded) module->load(now.path);
        }));
  }

  std::array<PanelText*, kSlots> slot_labels{};  // owned by the widget tree
};

Model* modelNeuroRave = createModel<NeuroRave, NeuroRaveWidget>("NeuroRave");
