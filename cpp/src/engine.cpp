#include "neurorave/engine.hpp"

#include <algorithm>
#include <cmath>

#include "layers/waveform_head.hpp"
#include "model_limits.hpp"
#include "network_builder.hpp"
#include "neurorave/error.hpp"
#include "prior.hpp"

namespace neurorave {

namespace {

constexpr int kFormatVersion = 1;

int require_int(const ModelFile& file, const nlohmann::json& object, const char* key, int64_t low,
                int64_t high) {
  return file.integer(object, key, low, high, "description");
}

float require_value(const ModelFile& file, const nlohmann::json& value, const std::string& what) {
  const double magnitude = value.is_number() ? std::fabs(value.get<double>()) : HUGE_VAL;
  if (!(magnitude <= limits::kMaxDescriptorMagnitude))
    file.fail(what + " must be a number within ±1e6");
  return value.get<float>();
}

// The range a fader spans and the decoder normalises by: finite, ordered and wide enough
// that normalising cannot blow a value up.
DescriptorInfo read_descriptor(const ModelFile& file, const nlohmann::json& entry) {
  DescriptorInfo d;
  if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string())
    file.fail("a descriptor entry has no name");
  d.name = entry["name"].get<std::string>();
  d.unit = entry.value("unit", "");
  const std::string where = "descriptor '" + d.name + "'";
  const auto& range = entry.value("range", nlohmann::json::array());
  if (!range.is_array() || range.size() != 2)
    file.fail(where + " needs a range [min, max] with min < max");
  d.minimum = require_value(file, range[0], where + ": range min");
  d.maximum = require_value(file, range[1], where + ": range max");
  const float largest = std::max({1.0f, std::fabs(d.minimum), std::fabs(d.maximum)});
  if (!(d.maximum - d.minimum >= limits::kMinRelativeSpan * largest))
    file.fail(where + " needs a range [min, max] with min < max (and not a sliver)");
  const auto& bins = entry.value("bins", nlohmann::json::array());
  if (!bins.is_array() || bins.size() > limits::kMaxBins)
    file.fail(where + ": bins must be a list of at most " + std::to_string(limits::kMaxBins));
  for (const auto& edge : bins) {
    d.bins.push_back(require_value(file, edge, where + ": a bin edge"));
    if (d.bins.size() > 1 && d.bins.back() < d.bins[d.bins.size() - 2])
      file.fail(where + ": bin edges must ascend");
  }
  return d;
}

ModelInfo read_info(const ModelFile& file) {
  const auto& desc = file.description();
  if (!desc.is_object()) file.fail("model description is not a JSON object");
  ModelInfo info;
  info.path = file.path();
  info.format_version = require_int(file, desc, "format_version", 0, 1 << 30);
  if (info.format_version != kFormatVersion)
    file.fail("unsupported format version " + std::to_string(info.format_version) +
              " (this build reads version " + std::to_string(kFormatVersion) + ")");
  info.architecture = desc.value("architecture", "");
  info.sample_rate =
      require_int(file, desc, "sample_rate", limits::kMinSampleRate, limits::kMaxSampleRate);
  info.compression = require_int(file, desc, "compression", 1, limits::kMaxCompression);
  info.latent_size = require_int(file, desc, "latent_size", 1, limits::kMaxLatent);
  info.causal = desc.value("causal", false);
  if (!desc.contains("latency") || !desc["latency"].is_object())
    file.fail("description has no latency section");
  const auto& latency = desc["latency"];
  info.encode_delay_frames = require_int(file, latency, "encode_frames", 0, limits::kMaxHistory);
  info.decode_delay_samples =
      require_int(file, latency, "decode_samples", 0, limits::kMaxLatencySamples);
  info.forward_delay_samples =
      require_int(file, latency, "forward_samples", 0, limits::kMaxLatencySamples);
  const auto& descriptors = desc.value("descriptors", nlohmann::json::array());
  if (!descriptors.is_array() || descriptors.size() > limits::kMaxDescriptors)
    file.fail("descriptors must be a list of at most " + std::to_string(limits::kMaxDescriptors));
  for (const auto& entry : descriptors) info.descriptors.push_back(read_descriptor(file, entry));
  info.description_json = desc.dump();
  info.half_weights = file.has_half_tensors();
  info.weight_bytes = file.stored_bytes();
  info.streamed_weights = streams_weights(info.weight_bytes);
  return info;
}

// The network that gives the head's sub-band noise its gains every frame, from the
// decoder's input; a head with white band noise has none.
std::unique_ptr<Sequence> build_noise_shaper(const ModelFile& file, NetworkBuilder& build,
                                             const WaveformHead& head, int in_channels) {
  const auto& desc = file.description();
  if (head.shaped_noise() != desc.contains("noise_shaper"))
    file.fail("the waveform head's sub-band noise and the noise_shaper come together");
  if (!head.shaped_noise()) return nullptr;
  auto shaper = build.sequence(desc["noise_shaper"], in_channels, "noise_shaper");
  if (shaper->out_channels() != head.noise_gain_channels() || shaper->downsampling() != 1 ||
      shaper->upsampling() != 1)
    file.fail("noise_shaper does not give " + std::to_string(head.noise_gain_channels()) +
              " gains every frame");
  return shaper;
}

}  // namespace

struct Engine::Impl {
  ModelInfo info;
  int max_frames = 0;
  int64_t noise_lead = 0;
  std::unique_ptr<Conv1d> analysis;
  std::unique_ptr<Sequence> encoder;
  std::unique_ptr<Sequence> decoder;
  std::unique_ptr<Sequence> noise_shaper;  // optional: the head's sub-band noise gains
  std::unique_ptr<ConvTranspose1d> synthesis;
  WaveformHead* head = nullptr;  // the decoder's last layer
  Matrix decoder_input;          // (latent + descriptors) x max frames
  Matrix latent;                 // latent x max frames, for forward()
  std::unique_ptr<Prior> prior;  // optional
  Vector prior_frame;            // latent + descriptors

  // At most max_frames frames each.
  void encode_chunk(const float* audio, int frames, float* z);
  void decode_chunk(const float* z, const float* controls, int frames, float* audio);
};

std::unique_ptr<Engine> Engine::load(const std::string& path, int max_frames_per_call) {
  const ModelFile file = ModelFile::read(path);
  auto impl = std::make_unique<Impl>();
  try {
    impl->info = read_info(file);
    const auto& desc = file.description();
    const auto& info = impl->info;
    if (!desc.contains("pqmf") || !desc["pqmf"].is_object()) file.fail("no pqmf section");
    NetworkBuilder build(file);
    const int bands = require_int(file, desc["pqmf"], "bands", 1, limits::kMaxBands);
    if (desc["pqmf"].at("analysis").value("op", "") != "conv" ||
        desc["pqmf"].at("synthesis").value("op", "") != "conv_transpose")
      file.fail("pqmf needs a conv analysis and a conv_transpose synthesis");
    impl->analysis = build.conv(desc["pqmf"].at("analysis"), 1, "pqmf.analysis");
    impl->encoder = build.sequence(desc.at("encoder"), bands, "encoder");
    const int descriptors = static_cast<int>(info.descriptors.size());
    impl->decoder = build.sequence(desc.at("decoder"), info.latent_size + descriptors, "decoder");
    impl->synthesis = build.conv_transpose(desc["pqmf"].at("synthesis"), bands, "pqmf.synthesis");
    if (impl->analysis->out_channels() != bands ||
        impl->encoder->out_channels() != info.latent_size)
      file.fail("encoder does not produce " + std::to_string(info.latent_size) +
                " latent channels");
    if (impl->decoder->out_channels() != bands || impl->synthesis->out_channels() != 1)
      file.fail("decoder does not end in " + std::to_string(bands) + " bands and one channel");
    if (impl->analysis->downsampling() * impl->encoder->downsampling() != info.compression ||
        impl->encoder->upsampling() != 1)
      file.fail("encoder strides do not multiply to the compression ratio");
    if (impl->decoder->upsampling() * impl->synthesis->upsampling() != info.compression ||
        impl->decoder->downsampling() != 1)
      file.fail("decoder upsampling does not multiply to the compression ratio");
    impl->head = dynamic_cast<WaveformHead*>(&impl->decoder->back());
    if (impl->head == nullptr) file.fail("decoder does not end with a waveform_head");
    impl->info.bands = bands;
    impl->noise_shaper =
        build_noise_shaper(file, build, *impl->head, info.latent_size + descriptors);
    impl->info.noise = impl->head->in_channels() == 3 * bands;
    impl->noise_lead = require_int(file, desc, "noise_lead", 0, limits::kMaxLatencySamples);
    if (desc.contains("prior")) {
      impl->prior = Prior::read(file, info.latent_size, descriptors);
      impl->prior_frame = Vector::Zero(impl->prior->frame_size());
      impl->info.has_prior = true;
    }
  } catch (const nlohmann::json::exception& e) {
    file.fail(std::string("malformed model description: ") + e.what());
  }
  if (max_frames_per_call < 1) throw ModelError(path, "max_frames_per_call must be >= 1");
  impl->max_frames = max_frames_per_call;
  const int frames = max_frames_per_call, compression = impl->info.compression;
  impl->analysis->prepare(frames * compression);
  impl->encoder->prepare(impl->analysis->out_frames(frames * compression));
  impl->decoder->prepare(frames);
  if (impl->noise_shaper) impl->noise_shaper->prepare(frames);
  impl->synthesis->prepare(impl->decoder->out_frames(frames));
  impl->decoder_input = Matrix::Zero(impl->decoder->in_channels(), frames);
  impl->latent = Matrix::Zero(impl->info.latent_size, frames);
  auto engine = std::unique_ptr<Engine>(new Engine(std::move(impl)));
  engine->reset();
  return engine;
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

const ModelInfo& Engine::info() const { return impl_->info; }
int Engine::max_frames() const { return impl_->max_frames; }

void Engine::reset(StreamKind kind) {
  impl_->analysis->reset();
  impl_->encoder->reset();
  impl_->decoder->reset();
  if (impl_->noise_shaper) impl_->noise_shaper->reset();
  impl_->synthesis->reset();
  if (impl_->prior) impl_->prior->reset();
  // Fed by the streaming encoder, the decoder input lags; the noise counter starts
  // earlier by as much so it draws what the offline model draws.
  impl_->head->set_counter_start(kind == StreamKind::forward ? -impl_->noise_lead : 0);
}

void Engine::prior_step(const float* noise, float temperature, float* z, float* descriptors) {
  const auto& info = impl_->info;
  const int latent = info.latent_size;
  if (!impl_->prior) {
    std::fill(z, z + latent, 0.0f);
    for (size_t d = 0; d < info.descriptors.size(); ++d)
      descriptors[d] = info.descriptors[d].centre();
    return;
  }
  float* frame = impl_->prior_frame.data();
  impl_->prior->step(noise, temperature, frame);
  std::copy(frame, frame + latent, z);
  for (size_t d = 0; d < info.descriptors.size(); ++d) {
    const auto& range = info.descriptors[d];
    descriptors[d] = range.denormalise(frame[latent + d]);
  }
}

void Engine::prior_reset() {
  if (impl_->prior) impl_->prior->reset();
}

void Engine::Impl::encode_chunk(const float* audio, int frames, float* z) {
  const View in(audio, 1, static_cast<Eigen::Index>(frames) * info.compression);
  const View band_signals = analysis->process(in);
  Eigen::Map<Matrix>(z, info.latent_size, frames) = encoder->process(band_signals);
}

void Engine::Impl::decode_chunk(const float* z, const float* controls, int frames, float* audio) {
  auto input = decoder_input.leftCols(frames);
  input.topRows(info.latent_size) = View(z, info.latent_size, frames);
  const size_t count = info.descriptors.size();
  for (size_t d = 0; d < count; ++d)
    for (int t = 0; t < frames; ++t)
      input(info.latent_size + d, t) =
          controls ? info.descriptors[d].normalise(controls[t * count + d]) : 0.0f;
  const View condition = leading_columns(decoder_input, frames);
  if (noise_shaper) head->set_noise_gains(noise_shaper->process(condition));
  const View band_signals = decoder->process(condition);
  Eigen::Map<Matrix>(audio, 1, static_cast<Eigen::Index>(frames) * info.compression) =
      synthesis->process(band_signals);
}

// The public calls take any number of frames, in pieces the buffers were sized for.
void Engine::encode(const float* audio, int frames, float* z) {
  const auto& info = impl_->info;
  for (int done = 0; done < frames; done += impl_->max_frames)
    impl_->encode_chunk(audio + static_cast<ptrdiff_t>(done) * info.compression,
                        std::min(impl_->max_frames, frames - done),
                        z + static_cast<ptrdiff_t>(done) * info.latent_size);
}

void Engine::decode(const float* z, const float* controls, int frames, float* audio) {
  const auto& info = impl_->info;
  const size_t count = info.descriptors.size();
  for (int done = 0; done < frames; done += impl_->max_frames)
    impl_->decode_chunk(z + static_cast<ptrdiff_t>(done) * info.latent_size,
                        controls ? controls + done * count : nullptr,
                        std::min(impl_->max_frames, frames - done),
                        audio + static_cast<ptrdiff_t>(done) * info.compression);
}

void Engine::forward(const float* audio, const float* controls, int frames, float* audio_out) {
  const auto& info = impl_->info;
  const size_t count = info.descriptors.size();
  for (int done = 0; done < frames; done += impl_->max_frames) {
    const int n = std::min(impl_->max_frames, frames - done);
    const ptrdiff_t offset = static_cast<ptrdiff_t>(done) * info.compression;
    impl_->encode_chunk(audio + offset, n, impl_->latent.data());
    impl_->decode_chunk(impl_->latent.data(), controls ? controls + done * count : nullptr, n,
                        audio_out + offset);
  }
}

}  // namespace neurorave
