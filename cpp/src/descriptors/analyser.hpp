#pragma once
// Internals of DescriptorAnalyser (cpp/include/neurorave/descriptor_analyser.hpp):
// the descriptors of one analysis frame, as docs/descriptors.md defines them.

#include <array>
#include <complex>
#include <string>
#include <vector>

#include <unsupported/Eigen/FFT>

namespace neurorave::descriptors {

enum class Kind { rms, centroid, bandwidth, rolloff, flatness, sharpness, boominess };
constexpr int kKinds = 7;

// "rms", "centroid", ... in the order of Kind.
const std::vector<std::string>& kind_names();
// Throws std::invalid_argument naming `name` and the known names.
Kind kind_of(const std::string& name);

// N: the smallest power of two >= max(2 C, 1024).
int window_length(int compression);

// Zwicker's critical-band edges in Hz: band z holds lo_z <= f < hi_z.
constexpr int kBands = 24;
constexpr std::array<double, kBands + 1> kBandEdgesHz = {
    0,    100,  200,  300,  400,  510,  630,  770,  920,  1080, 1270,  1480, 1720,
    2000, 2320, 2700, 3150, 3700, 4400, 5300, 6400, 7700, 9500, 12000, 15500};

// The values of one frame of N samples. Construction allocates (window, FFT plan and
// buffers, with one warm-up transform); analyse() then never does.
class FrameAnalyser {
 public:
  FrameAnalyser(int sample_rate, int window);

  int window() const { return n_; }

  // frame: N samples, oldest first. out[static_cast<int>(kind)] = the value of `kind`.
  // `want` (bit i = Kind i) may skip the spectral work nobody asked for; kinds not in
  // `want` are left unwritten.
  void analyse(const double* frame, double* out, unsigned want = (1u << kKinds) - 1);

 private:
  int sample_rate_;
  int n_;
  int bins_;                                    // N / 2 + 1
  std::vector<double> hann_;                    // periodic, length N
  std::vector<double> freq_;                    // f_k = k sr / N
  std::array<int, kBands + 1> band_bin_{};      // band z = bins [band_bin_[z], band_bin_[z + 1])
  std::vector<double> windowed_;                // N
  std::vector<std::complex<double>> spectrum_;  // N / 2 + 1
  std::vector<double> magnitude_;               // S_k
  Eigen::FFT<double> fft_;
};

}  // namespace neurorave::descriptors
