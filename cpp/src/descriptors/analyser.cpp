// DescriptorAnalyser: docs/descriptors.md in double precision, streaming.

#include "descriptors/analyser.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "neurorave/descriptor_analyser.hpp"

namespace neurorave {
namespace descriptors {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kSilence = 1e-9;         // sum_k S_k below this: the floors
constexpr double kRmsFloor = 1e-10;       // of the mean square
constexpr double kFlatnessFloor = 1e-10;  // of S_k^2
constexpr double kRolloff = 0.85;
constexpr double kLoudnessExponent = 0.23;
// Below -100 dB a band is inaudible: without this floor, rounding-level leakage would
// carry loudness through E^0.23 and give near-silent frames a sharpness.
constexpr double kAudibleBandPower = 1e-10;

constexpr unsigned bit(Kind kind) { return 1u << static_cast<int>(kind); }

constexpr unsigned kSpectral = bit(Kind::centroid) | bit(Kind::bandwidth) | bit(Kind::rolloff) |
                               bit(Kind::flatness) | bit(Kind::sharpness) | bit(Kind::boominess);
constexpr unsigned kBandsWanted = bit(Kind::sharpness) | bit(Kind::boominess);

double& at(double* out, Kind kind) { return out[static_cast<int>(kind)]; }

}  // namespace

const std::vector<std::string>& kind_names() {
  static const std::vector<std::string> names = {"rms",      "centroid",  "bandwidth", "rolloff",
                                                 "flatness", "sharpness", "boominess"};
  return names;
}

Kind kind_of(const std::string& name) {
  const auto& names = kind_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown descriptor '" + name + "'; known descriptors: " + known);
  }
  return static_cast<Kind>(it - names.begin());
}

int window_length(int compression) {
  const long long need = std::max(2LL * compression, 1024LL);
  long long n = 1;
  while (n < need) n *= 2;
  if (n > (1LL << 30)) throw std::invalid_argument("compression too large for the analysis window");
  return static_cast<int>(n);
}

FrameAnalyser::FrameAnalyser(int sample_rate, int window)
    : sample_rate_(sample_rate),
      n_(window),
      bins_(window / 2 + 1),
      hann_(window),
      freq_(bins_),
      windowed_(window),
      spectrum_(bins_),
      magnitude_(bins_) {
  if (window < 4 || (window & (window - 1)) != 0)
    throw std::invalid_argument("the analysis window must be a power of two >= 4");
  for (int i = 0; i < n_; ++i) hann_[i] = 0.5 - 0.5 * std::cos(2.0 * kPi * i / n_);
  // k sr / N is exact in double (N a power of two), so the band tests below are exact.
  for (int k = 0; k < bins_; ++k) freq_[k] = static_cast<double>(k) * sample_rate_ / n_;
  for (int z = 0; z <= kBands; ++z) {
    const auto first = std::lower_bound(freq_.begin(), freq_.end(), kBandEdgesHz[z]);
    band_bin_[z] = static_cast<int>(first - freq_.begin());
  }
  // Only the half spectrum k = 0 .. N/2 is written (N/2 + 1 bins).
  fft_.SetFlag(Eigen::FFT<double>::HalfSpectrum);
  // Warm-up: kissfft builds its plan and twiddles on the first transform of a size.
  std::fill(windowed_.begin(), windowed_.end(), 0.0);
  fft_.fwd(spectrum_.data(), windowed_.data(), n_);
}

void FrameAnalyser::analyse(const double* frame, double* out, unsigned want) {
  if (want & bit(Kind::rms)) {
    double energy = 0.0;
    for (int i = 0; i < n_; ++i) energy += frame[i] * frame[i];
    at(out, Kind::rms) = 10.0 * std::log10(std::max(energy / n_, kRmsFloor));
  }
  if ((want & kSpectral) == 0) return;

  for (int i = 0; i < n_; ++i) windowed_[i] = frame[i] * hann_[i];
  fft_.fwd(spectrum_.data(), windowed_.data(), n_);
  double total = 0.0;
  for (int k = 0; k < bins_; ++k) {
    // sqrt(re^2 + im^2) rather than std::abs's hypot: 3x faster; no overflow possible
    // from float input (|X_k| <= N * 3.4e38).
    const double re = spectrum_[k].real(), im = spectrum_[k].imag();
    magnitude_[k] = std::sqrt(re * re + im * im);
    total += magnitude_[k];
  }
  const double* s = magnitude_.data();
  const double* f = freq_.data();

  if (!(total >= kSilence)) {  // silence (or a non-finite spectrum): the floors
    at(out, Kind::centroid) = 0.0;
    at(out, Kind::bandwidth) = 0.0;
    at(out, Kind::rolloff) = 0.0;
    at(out, Kind::flatness) = 1.0;
    at(out, Kind::sharpness) = 0.0;
    at(out, Kind::boominess) = 0.0;
    return;
  }

  if (want & (bit(Kind::centroid) | bit(Kind::bandwidth))) {
    double moment = 0.0;
    for (int k = 0; k < bins_; ++k) moment += f[k] * s[k];
    const double centroid = moment / total;
    at(out, Kind::centroid) = centroid;
    if (want & bit(Kind::bandwidth)) {
      double spread = 0.0;
      for (int k = 0; k < bins_; ++k) spread += s[k] * (f[k] - centroid) * (f[k] - centroid);
      at(out, Kind::bandwidth) = std::sqrt(spread / total);
    }
  }

  if (want & bit(Kind::rolloff)) {
    // The running sum reaches `total` exactly at the last bin (same order of additions).
    const double threshold = kRolloff * total;
    double running = 0.0;
    int k = 0;
    for (; k < bins_ - 1; ++k) {
      running += s[k];
      if (running >= threshold) break;
    }
    at(out, Kind::rolloff) = f[k];
  }

  if (want & bit(Kind::flatness)) {
    double log_sum = 0.0, sum = 0.0;
    for (int k = 0; k < bins_; ++k) {
      const double q = std::max(s[k] * s[k], kFlatnessFloor);
      log_sum += std::log(q);
      sum += q;
    }
    at(out, Kind::flatness) = std::exp(log_sum / bins_) / (sum / bins_);
  }

  if (want & kBandsWanted) {
    // P_k = 2 S_k^2 / (sum_n w[n])^2, sum_n w[n] = N / 2.
    const double half = 0.5 * n_;
    const double scale = 2.0 / (half * half);
    double loudness = 0.0, weighted = 0.0, boom = 0.0;
    for (int z = 0; z < kBands; ++z) {
      double energy = 0.0;
      for (int k = band_bin_[z]; k < band_bin_[z + 1]; ++k) energy += scale * s[k] * s[k];
      const double l = energy >= kAudibleBandPower ? std::pow(energy, kLoudnessExponent) : 0.0;
      const double zc = z + 0.5;
      const double g = zc <= 15.8 ? 1.0 : 0.066 * std::exp(0.171 * zc);
      loudness += l;
      weighted += l * g * zc;
      boom += l * std::max(0.0, 1.0 - zc / 4.0);
    }
    // All the energy at or above 15500 Hz (no band): no loudness, sharpness 0.
    at(out, Kind::sharpness) = loudness > 0.0 ? 0.11 * weighted / loudness : 0.0;
    at(out, Kind::boominess) = boom;
  }
}

}  // namespace descriptors

// ---- DescriptorAnalyser ---------------------------------------------------------------

struct DescriptorAnalyser::Impl {
  Impl(int sample_rate, int compression, std::vector<std::string> names)
      : sample_rate(sample_rate),
        compression(compression),
        names(std::move(names)),
        frame(sample_rate, descriptors::window_length(compression)) {
    for (const auto& name : this->names) {
      const descriptors::Kind kind = descriptors::kind_of(name);
      kinds.push_back(static_cast<int>(kind));
      want |= 1u << static_cast<int>(kind);
    }
    history.assign(2 * static_cast<size_t>(frame.window()), 0.0);
  }

  void reset() {
    std::fill(history.begin(), history.end(), 0.0);
    position = 0;
    pending = 0;
  }

  template <typename Out>
  int push(const float* in, int n, Out* values) {
    const int window = frame.window();
    const size_t row = kinds.size();
    int frames = 0;
    // In runs that end where the ring wraps or a frame completes, so the copy loop is
    // tight (this runs on every sample, followed or not).
    for (int i = 0; i < n;) {
      const int run = std::min({n - i, window - position, compression - pending});
      // Mirrored ring: every sample is stored twice, N apart, so the N most recent
      // samples are always contiguous from history[position].
      double* first = history.data() + position;
      double* mirror = first + window;
      for (int r = 0; r < run; ++r) {
        // A non-finite sample (a broken host) counts as silence rather than poisoning N samples.
        const double x = std::isfinite(in[i + r]) ? static_cast<double>(in[i + r]) : 0.0;
        first[r] = x;
        mirror[r] = x;
      }
      i += run;
      position += run;
      if (position == window) position = 0;
      pending += run;
      if (pending == compression) {
        pending = 0;
        if (values != nullptr) {  // null: only keep the history current
          frame.analyse(history.data() + position, all);
          Out* out = values + frames * row;
          for (size_t j = 0; j < row; ++j) out[j] = static_cast<Out>(all[kinds[j]]);
        }
        ++frames;
      }
    }
    return frames;
  }

  int sample_rate;
  int compression;
  std::vector<std::string> names;
  std::vector<int> kinds;  // per output column, its Kind
  unsigned want = 0;
  descriptors::FrameAnalyser frame;
  std::vector<double> history;  // 2 N
  int position = 0;             // next write; the oldest of the last N samples
  int pending = 0;              // samples of the current frame so far
  double all[descriptors::kKinds] = {};
};

const std::vector<std::string>& DescriptorAnalyser::known_names() {
  return descriptors::kind_names();
}

DescriptorAnalyser::DescriptorAnalyser(int sample_rate, int compression,
                                       std::vector<std::string> names) {
  if (sample_rate < 1) throw std::invalid_argument("sample rate must be >= 1");
  if (compression < 1) throw std::invalid_argument("compression must be >= 1");
  impl_ = std::make_unique<Impl>(sample_rate, compression, std::move(names));
}

DescriptorAnalyser::~DescriptorAnalyser() = default;
DescriptorAnalyser::DescriptorAnalyser(DescriptorAnalyser&&) noexcept = default;
DescriptorAnalyser& DescriptorAnalyser::operator=(DescriptorAnalyser&&) noexcept = default;

int DescriptorAnalyser::sample_rate() const { return impl_->sample_rate; }
int DescriptorAnalyser::compression() const { return impl_->compression; }
int DescriptorAnalyser::window() const { return impl_->frame.window(); }
const std::vector<std::string>& DescriptorAnalyser::names() const { return impl_->names; }
int DescriptorAnalyser::pending() const { return impl_->pending; }

int DescriptorAnalyser::frames_for(int n) const {
  return n > 0 ? static_cast<int>((static_cast<long long>(impl_->pending) + n) / impl_->compression)
               : 0;
}

int DescriptorAnalyser::max_frames_for(int n) const {
  return n > 0 ? static_cast<int>((static_cast<long long>(n) + impl_->compression - 1) /
                                  impl_->compression)
               : 0;
}

int DescriptorAnalyser::push(const float* in, int n, float* values) {
  return impl_->push(in, n, values);
}

int DescriptorAnalyser::push(const float* in, int n, double* values) {
  return impl_->push(in, n, values);
}

void DescriptorAnalyser::reset() { impl_->reset(); }

}  // namespace neurorave
