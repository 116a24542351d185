#include "neurorave/player.hpp"

#include <algorithm>
#include <cmath>

namespace neurorave {

namespace {

// The model's descriptors the analyser can follow; a model may name others (a newer
// descriptor, say): those keep their faders and never follow.
std::vector<std::string> followable_names(const ModelInfo& info) {
  const auto& known = DescriptorAnalyser::known_names();
  std::vector<std::string> names;
  for (const auto& d : info.descriptors)
    if (std::find(known.begin(), known.end(), d.name) != known.end()) names.push_back(d.name);
  return names;
}

}  // namespace

Player::Player(std::unique_ptr<Engine> engine)
    : engine_(std::move(engine)),
      analyser_(std::make_unique<DescriptorAnalyser>(engine_->info().sample_rate,
                                                     engine_->info().compression,
                                                     followable_names(engine_->info()))),
      follow_(engine_->info().descriptors.size()),
      targets_(engine_->info().descriptors.size()),
      smoothed_(engine_->info().descriptors.size()) {
  const auto& info = engine_->info();
  for (size_t d = 0; d < targets_.size(); ++d) targets_[d].store(info.descriptors[d].centre());
  frame_controls_.resize(targets_.size() * engine_->max_frames());
  analysed_.resize(analyser_->size() * engine_->max_frames());
  for (const auto& d : info.descriptors) {
    const auto& names = analyser_->names();
    const auto found = std::find(names.begin(), names.end(), d.name);
    analysed_column_.push_back(found == names.end() ? -1 : static_cast<int>(found - names.begin()));
    own_column_.push_back(static_cast<int>(own_column_.size()));
  }
  noise_.resize(info.latent_size + info.descriptors.size());
  generated_latent_.resize(static_cast<size_t>(info.latent_size) * engine_->max_frames());
  generated_descriptors_.resize(info.descriptors.size() * engine_->max_frames());
  input_.resize(info.compression - 1 + kMaxBlock);
  output_.resize(2 * info.compression + kMaxBlock);
  reset();
}

void Player::set_control(int descriptor, float value) {
  if (valid(descriptor) && std::isfinite(value))
    targets_[descriptor].store(info().descriptors[descriptor].within_travel(value),
                               std::memory_order_relaxed);
}

float Player::control(int descriptor) const {
  return valid(descriptor) ? targets_[descriptor].load(std::memory_order_relaxed) : 0.0f;
}

void Player::set_follow(int descriptor, bool follow) {
  if (valid(descriptor)) follow_[descriptor].on.store(follow, std::memory_order_relaxed);
}

void Player::set_offset(int descriptor, float offset) {
  if (!valid(descriptor) || !std::isfinite(offset)) return;
  const auto& d = info().descriptors[descriptor];
  const float limit = kMaxOffsetSpans * (d.maximum - d.minimum);
  follow_[descriptor].offset.store(std::clamp(offset, -limit, limit), std::memory_order_relaxed);
}

void Player::set_scale(int descriptor, float scale) {
  if (valid(descriptor) && std::isfinite(scale))
    follow_[descriptor].scale.store(std::clamp(scale, -kMaxScale, kMaxScale),
                                    std::memory_order_relaxed);
}

bool Player::any_follows() const {
  for (const auto& f : follow_)
    if (f.on.load(std::memory_order_relaxed)) return true;
  return false;
}

bool Player::follows(int descriptor) const {
  return valid(descriptor) && follow_[descriptor].on.load(std::memory_order_relaxed);
}

void Player::set_smoothing_ms(float milliseconds) {
  smoothing_ms_.store(std::max(0.0f, milliseconds), std::memory_order_relaxed);
}

bool Player::set_generate(bool generate) {
  if (generate && !info().has_prior) return false;
  generate_.store(generate, std::memory_order_relaxed);
  return true;
}

void Player::new_phrase() { phrase_requested_.store(true, std::memory_order_relaxed); }

void Player::set_seed(uint32_t seed) {
  seed_.store(seed, std::memory_order_relaxed);
  reseed_requested_.store(true, std::memory_order_relaxed);
  phrase_requested_.store(true, std::memory_order_relaxed);
}

void Player::set_temperature(float temperature) {
  if (std::isfinite(temperature))
    temperature_.store(std::max(0.0f, temperature), std::memory_order_relaxed);
}

void Player::reset() {
  switch_stream();
  input_fill_ = 0;
  std::fill(output_.begin(), output_.end(), 0.0f);
  output_fill_ = info().compression;  // one frame of silence
  snap_controls_ = true;
}

void Player::read_controls(int frames, const float* followed, int stride, const int* columns) {
  const auto& info = engine_->info();
  const float frame_ms = 1000.0f * info.compression / info.sample_rate;
  const float tau = smoothing_ms_.load(std::memory_order_relaxed);
  const float smooth_step = tau <= 0.0f ? 1.0f : 1.0f - std::exp(-frame_ms / tau);
  // A snap (after reset) jumps at the first frame only, so that followed curves, which
  // change every frame, are smoothed alike whatever the number of frames per call.
  const bool snap = snap_controls_;
  snap_controls_ = false;
  const size_t count = targets_.size();
  for (size_t d = 0; d < count; ++d) {
    const int column = followed ? columns[d] : -1;
    const bool follow = column >= 0 && follow_[d].on.load(std::memory_order_relaxed);
    const float offset = follow_[d].offset.load(std::memory_order_relaxed);
    const float scale = follow_[d].scale.load(std::memory_order_relaxed);
    const float fader = targets_[d].load(std::memory_order_relaxed);
    const DescriptorInfo& range = info.descriptors[d];
    for (int t = 0; t < frames; ++t) {
      const float target =
          follow ? range.within_travel(offset + scale * followed[t * stride + column]) : fader;
      // A snap lands on the target exactly (s + (t - s) may miss it by a rounding), so a
      // reset replays a phrase sample for sample whatever the controls were before.
      if (snap && t == 0)
        smoothed_[d] = target;
      else
        smoothed_[d] += smooth_step * (target - smoothed_[d]);
      frame_controls_[t * count + d] = smoothed_[d];
    }
  }
}

void Player::process(const float* in, float* out, int n) {
  for (int done = 0; done < n; done += kMaxBlock)
    process_block(in + done, out + done, std::min(kMaxBlock, n - done));
}

void Player::process_block(const float* in, float* out, int n) {
  if (generate_.load(std::memory_order_relaxed) != generating_) switch_stream();
  const int compression = info().compression;
  copy_input(in, n);
  int consumed = 0;
  while (input_fill_ - consumed >= compression) {
    const int frames = std::min((input_fill_ - consumed) / compression, engine_->max_frames());
    float* frame_out = output_.data() + output_fill_;
    if (generating_)
      generate_frames(frame_out, frames);  // the input only keeps time
    else
      run_frames(input_.data() + consumed, frame_out, frames);
    guard_output(frame_out, frames * compression);
    consumed += frames * compression;
    output_fill_ += frames * compression;
  }
  std::copy(input_.begin() + consumed, input_.begin() + input_fill_, input_.begin());
  input_fill_ -= consumed;
  // The primed frame guarantees n samples are ready (see the header).
  std::copy(output_.begin(), output_.begin() + n, out);
  std::copy(output_.begin() + n, output_.begin() + output_fill_, output_.begin());
  output_fill_ -= n;
}

void Player::copy_input(const float* in, int n) {
  float* into = input_.data() + input_fill_;
  for (int i = 0; i < n; ++i)
    into[i] = std::fabs(in[i]) <= kMaxInputMagnitude ? in[i] : 0.0f;  // NaN fails too
  input_fill_ += n;
}

void Player::guard_output(float* out, int samples) {
  bool broken = false;
  for (int i = 0; i < samples; ++i) broken |= !(std::fabs(out[i]) <= kMaxOutputMagnitude);
  if (!broken) return;
  std::fill(out, out + samples, 0.0f);
  restart_streams();
  nonfinite_resets_.fetch_add(1, std::memory_order_relaxed);
}

void Player::switch_stream() {
  generating_ = generate_.load(std::memory_order_relaxed);
  restart_streams();
}

void Player::restart_streams() {
  engine_->reset(generating_ ? StreamKind::decode : StreamKind::forward);
  analyser_->reset();
  phrase_requested_.store(true, std::memory_order_relaxed);
}

void Player::run_frames(const float* in, float* out, int frames) {
  // The analyser sees exactly the engine's frames, so followed values stay in step.
  const bool analysed = any_follows();  // read once: a flag flipping now waits a block
  analyser_->push(in, frames * info().compression, analysed ? analysed_.data() : nullptr);
  read_controls(frames, analysed ? analysed_.data() : nullptr, analyser_->size(),
                analysed_column_.data());
  engine_->forward(in, frame_controls_.data(), frames, out);
}

void Player::generate_frames(float* out, int frames) {
  const int latent = info().latent_size;
  const size_t count = targets_.size();
  const float temperature = temperature_.load(std::memory_order_relaxed);
  for (int t = 0; t < frames; ++t) {
    if (phrase_requested_.exchange(false, std::memory_order_relaxed)) {
      if (reseed_requested_.exchange(false, std::memory_order_relaxed)) {
        random_.seed(seed_.load(std::memory_order_relaxed));
        normal_.reset();
      }
      engine_->prior_reset();
    }
    for (float& draw : noise_) draw = normal_(random_);
    engine_->prior_step(noise_.data(), temperature, generated_latent_.data() + t * latent,
                        generated_descriptors_.data() + t * count);
  }
  read_controls(frames, generated_descriptors_.data(), static_cast<int>(count), own_column_.data());
  engine_->decode(generated_latent_.data(), frame_controls_.data(), frames, out);
}

}  // namespace neurorave
