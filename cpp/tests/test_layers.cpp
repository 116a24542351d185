// Each streaming layer against values worked out by hand, and against itself cut into
// blocks. Inputs and weights are small integers or halves wherever the output is
// compared exactly, so every sum is exact whatever order Eigen adds in.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "layers/conv1d.hpp"
#include "layers/conv_transpose1d.hpp"
#include "layers/gemm.hpp"
#include "layers/gemm_kernel.hpp"
#include "layers/leaky_relu.hpp"
#include "layers/noise.hpp"
#include "layers/residual.hpp"
#include "layers/sequence.hpp"
#include "layers/subband_noise.hpp"
#include "layers/waveform_head.hpp"
#include "neurorave/kernels.hpp"
#include "test_model_writer.hpp"

using neurorave::Conv1d;
using neurorave::ConvShape;
using neurorave::ConvTranspose1d;
using neurorave::Layer;
using neurorave::LeakyRelu;
using neurorave::Matrix;
using neurorave::Residual;
using neurorave::Sequence;
using neurorave::View;
using neurorave::WaveformHead;
using neurorave::WeightPrecision;

namespace {

// A channels x frames matrix from its rows.
Matrix rows(std::initializer_list<std::initializer_list<float>> values) {
  const auto frames = static_cast<Eigen::Index>(values.begin()->size());
  Matrix m(static_cast<Eigen::Index>(values.size()), frames);
  Eigen::Index r = 0;
  for (const auto& row : values) {
    REQUIRE(static_cast<Eigen::Index>(row.size()) == frames);
    Eigen::Index c = 0;
    for (const float v : row) m(r, c++) = v;
    ++r;
  }
  return m;
}

std::string show(const Matrix& m) {
  std::ostringstream out;
  out << "(" << m.rows() << " x " << m.cols() << ")\n" << m;
  return out.str();
}

#define CHECK_SAME(actual, expected)                                                 \
  do {                                                                               \
    const Matrix a_ = (actual), e_ = (expected);                                     \
    const bool same_ = a_.rows() == e_.rows() && a_.cols() == e_.cols() && a_ == e_; \
    CHECK_MESSAGE(same_, "got " << show(a_) << "\nexpected " << show(e_));           \
  } while (false)

// Runs `layer` from a fresh state over `in`, in blocks of the given sizes (cycled).
Matrix stream(Layer& layer, const Matrix& in, std::vector<int> blocks) {
  layer.reset();
  Matrix out(layer.out_channels(), layer.out_frames(static_cast<int>(in.cols())));
  Eigen::Index read = 0, written = 0;
  for (size_t i = 0; read < in.cols(); ++i) {
    const auto n = std::min<Eigen::Index>(blocks[i % blocks.size()], in.cols() - read);
    const View y = layer.process(View(in.data() + read * in.rows(), in.rows(), n));
    out.middleCols(written, y.cols()) = y;
    read += n;
    written += y.cols();
  }
  REQUIRE(written == out.cols());
  return out;
}

Matrix one_shot(Layer& layer, const Matrix& in) {
  return stream(layer, in, {static_cast<int>(in.cols())});
}

// Integers in [-range, range], or halves of them: exact in float, and so are their sums.
std::vector<float> small_numbers(size_t count, int range, uint32_t seed, float step = 1.0f) {
  neurorave_tests::WeightSource source(seed);
  std::vector<float> v(count);
  for (float& x : v) x = step * std::round(source.next(static_cast<float>(range) + 0.49f));
  return v;
}

Matrix small_matrix(Eigen::Index channels, Eigen::Index frames, uint32_t seed) {
  const auto v = small_numbers(static_cast<size_t>(channels * frames), 4, seed);
  return Eigen::Map<const Matrix>(v.data(), channels, frames);
}

std::unique_ptr<Conv1d> make_conv(const ConvShape& s, const std::vector<float>& weight,
                                  const std::vector<float>& bias, int max_frames,
                                  WeightPrecision precision = WeightPrecision::f32) {
  REQUIRE(weight.size() == static_cast<size_t>(s.out * (s.in / s.groups) * s.kernel));
  auto conv =
      std::make_unique<Conv1d>(s, weight.data(), bias.empty() ? nullptr : bias.data(), precision);
  conv->prepare(max_frames);
  return conv;
}

ConvShape shape(int in, int out, int kernel, int stride = 1, int dilation = 1, int groups = 1) {
  ConvShape s;
  s.in = in;
  s.out = out;
  s.kernel = kernel;
  s.stride = stride;
  s.dilation = dilation;
  s.groups = groups;
  return s;
}

// torch's causal conv written out: y[o, t] = b[o] + sum w[o, c, k] x[c, t*stride + k*dil - hist].
Matrix direct_conv(const ConvShape& s, const std::vector<float>& w, const std::vector<float>& b,
                   const Matrix& x) {
  const int history = (s.kernel - 1) * s.dilation;
  const int in_per_group = s.in / s.groups, out_per_group = s.out / s.groups;
  Matrix y(s.out, x.cols() / s.stride);
  for (int o = 0; o < s.out; ++o) {
    const int g = o / out_per_group;
    for (Eigen::Index t = 0; t < y.cols(); ++t) {
      float sum = b.empty() ? 0.0f : b[o];
      for (int c = 0; c < in_per_group; ++c)
        for (int k = 0; k < s.kernel; ++k) {
          const Eigen::Index n = t * s.stride + k * s.dilation - history;
          if (n >= 0) sum += w[(o * in_per_group + c) * s.kernel + k] * x(g * in_per_group + c, n);
        }
      y(o, t) = sum;
    }
  }
  return y;
}

// Conv1d over whole signals and streamed in blocks, against the direct convolution.
// Small halves and integers: every product and sum is exact, and so is every weight in
// binary16, so any kernel must give the direct convolution bit for bit, in either precision.
void check_streamed_convolutions(WeightPrecision precision) {
  struct Case {
    ConvShape s;
    bool bias;
  };
  const std::vector<Case> cases = {
      {shape(3, 5, 3), true},
      {shape(4, 6, 3, 2, 2, 2), true},
      {shape(2, 3, 5, 1, 3), false},
      {shape(4, 4, 4, 4), true},
      {shape(6, 6, 1, 1, 1, 3), true},
      {shape(8, 4, 1), false},
      // Deep enough for several packed depth blocks, and rows that are no multiple of the
      // kernel's register panel: dilated (one block per tap) and contiguous taps.
      {shape(700, 50, 3, 1, 2), true},
      {shape(300, 100, 5, 2), false},
  };
  uint32_t seed = 11;
  for (const auto& c : cases) {
    const auto& s = c.s;
    CAPTURE(s.in);
    CAPTURE(s.out);
    CAPTURE(s.kernel);
    CAPTURE(s.stride);
    CAPTURE(s.dilation);
    CAPTURE(s.groups);
    const auto w =
        small_numbers(static_cast<size_t>(s.out * (s.in / s.groups) * s.kernel), 2, ++seed, 0.5f);
    const auto b =
        c.bias ? small_numbers(static_cast<size_t>(s.out), 3, ++seed) : std::vector<float>{};
    const Matrix x = small_matrix(s.in, 48 * s.stride, ++seed);
    auto conv = make_conv(s, w, b, static_cast<int>(x.cols()), precision);
    const Matrix whole = one_shot(*conv, x);
    CHECK_SAME(whole, direct_conv(s, w, b, x));
    const int st = s.stride;
    CHECK_SAME(stream(*conv, x, {st}), whole);
    CHECK_SAME(stream(*conv, x, {st, 3 * st, 2 * st, 7 * st, st, 16 * st}), whole);
    CHECK_SAME(stream(*conv, x, {24 * st}), whole);
    // Every remainder after AVX-512's 8-column tiles: 13 = 8 + 4 + 1, 11 = 8 + 3.
    CHECK_SAME(stream(*conv, x, {13 * st, 11 * st}), whole);
  }
}

}  // namespace

TEST_SUITE("layers") {
  TEST_CASE("Conv1d kernel 3: causal, zero history at the start") {
    // y[t] = 1 x[t-2] + 2 x[t-1] + 3 x[t] (torch correlates: the last tap meets x[t]).
    auto conv = make_conv(shape(1, 1, 3), {1, 2, 3}, {}, 8);
    CHECK(conv->history() == 2);
    CHECK_SAME(one_shot(*conv, rows({{1, 0, 0, 0}})), rows({{3, 2, 1, 0}}));
    CHECK_SAME(one_shot(*conv, rows({{1, 2, 3, 4}})), rows({{3, 8, 14, 20}}));
    // One frame at a time carries the history across calls.
    CHECK_SAME(stream(*conv, rows({{1, 2, 3, 4}}), {1}), rows({{3, 8, 14, 20}}));
    // Without reset() the history of the last call is still there ...
    const Matrix after = rows({{3, 4}});
    const Matrix again = conv->process(View(after.data(), 1, 2));
    CHECK_SAME(again, rows({{1 * 3 + 2 * 4 + 3 * 3, 1 * 4 + 2 * 3 + 3 * 4}}));
    // ... and reset() forgets it.
    conv->reset();
    const Matrix fresh = conv->process(View(after.data(), 1, 2));
    CHECK_SAME(fresh, rows({{9, 2 * 3 + 3 * 4}}));
  }

  TEST_CASE("Conv1d stride 2") {
    // Window [0, 0, x0, x1, ...]; output t sees window[2t .. 2t+2] = x[2t-2 .. 2t].
    auto conv = make_conv(shape(1, 1, 3, 2), {1, 2, 3}, {}, 8);
    CHECK(conv->out_frames(6) == 3);
    CHECK(conv->downsampling() == 2);
    const Matrix x = rows({{1, 2, 3, 4, 5, 6}});
    const Matrix expected = rows({{3, 1 * 1 + 2 * 2 + 3 * 3, 1 * 3 + 2 * 4 + 3 * 5}});
    CHECK_SAME(one_shot(*conv, x), expected);
    CHECK_SAME(stream(*conv, x, {2}), expected);
    CHECK_SAME(stream(*conv, x, {4, 2}), expected);
  }

  TEST_CASE("Conv1d dilation 2") {
    // y[t] = 1 x[t-4] + 2 x[t-2] + 3 x[t].
    auto conv = make_conv(shape(1, 1, 3, 1, 2), {1, 2, 3}, {}, 8);
    CHECK(conv->history() == 4);
    const Matrix x = rows({{1, 2, 3, 4, 5, 6}});
    const Matrix expected = rows({{3, 6, 2 + 9, 4 + 12, 1 + 6 + 15, 2 + 8 + 18}});
    CHECK_SAME(one_shot(*conv, x), expected);
    CHECK_SAME(stream(*conv, x, {1}), expected);
    CHECK_SAME(stream(*conv, x, {5, 1}), expected);
  }

  TEST_CASE("Conv1d groups 2 with bias") {
    // Weight (out 4, in/groups 1, kernel 2). Group 0 reads channel 0, group 1 channel 1.
    //   y0 = x0[t-1] + 0.5        y1 = x0[t] - 1
    //   y2 = x1[t-1] + x1[t]      y3 = 2 x1[t-1] - x1[t] + 10
    auto conv = make_conv(shape(2, 4, 2, 1, 1, 2), {1, 0, 0, 1, 1, 1, 2, -1}, {0.5f, -1, 0, 10}, 8);
    const Matrix x = rows({{1, 2, 3}, {10, 20, 30}});
    const Matrix expected = rows({{0.5f, 1.5f, 2.5f}, {0, 1, 2}, {10, 30, 50}, {0, 10, 20}});
    CHECK_SAME(one_shot(*conv, x), expected);
    CHECK_SAME(stream(*conv, x, {1}), expected);
  }

  TEST_CASE("Conv1d weight layout (out, in, kernel) with bias") {
    // y = 1 x0[t-1] + 2 x0[t] + 3 x1[t-1] + 4 x1[t] + 0.5
    auto conv = make_conv(shape(2, 1, 2), {1, 2, 3, 4}, {0.5f}, 8);
    const Matrix x = rows({{1, 2, 3}, {10, 20, 30}});
    const Matrix expected = rows({{42.5f, 115.5f, 188.5f}});
    CHECK_SAME(one_shot(*conv, x), expected);
    CHECK_SAME(stream(*conv, x, {1}), expected);
  }

  TEST_CASE("Conv1d kernel 1 (the pointwise path) with bias") {
    // y0 = x0 + 2 x1, y1 = -x0 + 0.5 x1 + 1
    auto conv = make_conv(shape(2, 2, 1), {1, 2, -1, 0.5f}, {0, 1}, 8);
    CHECK(conv->history() == 0);
    const Matrix x = rows({{1, 2}, {4, 8}});
    CHECK_SAME(one_shot(*conv, x), rows({{9, 18}, {2, 3}}));
    CHECK_SAME(stream(*conv, x, {1}), rows({{9, 18}, {2, 3}}));
  }

  TEST_CASE("Conv1d streamed in any blocks equals the whole signal at once, with every kernel") {
    const std::string chosen = neurorave::active_kernel();
    for (const std::string& kernel : neurorave::runnable_kernels()) {  // build, avx2, avx512
      CAPTURE(kernel);
      REQUIRE(neurorave::use_kernel(kernel));
      check_streamed_convolutions(WeightPrecision::f32);
      check_streamed_convolutions(WeightPrecision::f16);
    }
    REQUIRE(neurorave::use_kernel(chosen.substr(0, chosen.find(' '))));
  }

  TEST_CASE("fp16 weights play exactly as float weights rounded to binary16, with every kernel") {
    // Same kernel, same blocks of columns (so the same tiles, the same order of FMAs: a
    // tile of one or two columns adds in another order than a wider one): only where the
    // weights are widened differs (as the kernel loads them, or at packing where it cannot).
    const std::string chosen = neurorave::active_kernel();
    const ConvShape s = shape(96, 70, 3, 1, 2);
    neurorave_tests::WeightSource source(5);
    std::vector<float> w(static_cast<size_t>(s.out * s.in * s.kernel)), rounded(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      w[i] = source.next(0.3f);
      rounded[i] = static_cast<float>(Eigen::half(w[i]));
    }
    std::vector<float> b(static_cast<size_t>(s.out));
    for (float& v : b) v = source.next(0.1f);
    Matrix x(s.in, 40);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = source.next(1.0f);
    for (const std::string& kernel : neurorave::runnable_kernels()) {
      CAPTURE(kernel);
      REQUIRE(neurorave::use_kernel(kernel));
      auto half = make_conv(s, w, b, 40, WeightPrecision::f16);
      auto widened = make_conv(s, rounded, b, 40);
      CHECK_SAME(stream(*half, x, {1, 3, 8}), stream(*widened, x, {1, 3, 8}));
      ConvTranspose1d half_up(s.in, 20, 8, 4, w.data(), b.data(), WeightPrecision::f16);
      ConvTranspose1d widened_up(s.in, 20, 8, 4, rounded.data(), b.data());
      half_up.prepare(40);
      widened_up.prepare(40);
      CHECK_SAME(one_shot(half_up, x), one_shot(widened_up, x));
      // Rounding the weights moves the output by about binary16's step, 2^-11 relative.
      const Matrix exact = one_shot(*make_conv(s, w, b, 40), x), played = one_shot(*half, x);
      CHECK((played - exact).norm() < 2e-3 * exact.norm());
      CHECK((played - exact).norm() > 0.0f);
    }
    REQUIRE(neurorave::use_kernel(chosen.substr(0, chosen.find(' '))));
  }

  TEST_CASE("a product plus bias has the bits of the bias filled in then accumulated") {
    // 53 rows: a padded last packet at 4, 8 and 16 lanes; taps 7 rows apart in a 9-row
    // step: three blocks, the bias added by the first only; 11 columns: every tile width.
    // Streamed weights (fetched ahead) give the same bits.
    const std::string chosen = neurorave::active_kernel();
    const Eigen::Index rows = 53, taps = 3, tap_rows = 7, tap_step = 9, cols = 11;
    const Eigen::Index col_step = (taps - 1) * tap_step + tap_rows;
    neurorave_tests::WeightSource source(17);
    Matrix weights(rows, taps * tap_rows);
    for (Eigen::Index i = 0; i < weights.size(); ++i) weights.data()[i] = source.next(0.5f);
    std::vector<float> signal(static_cast<size_t>(col_step * cols)), bias(rows);
    for (float& v : signal) v = source.next(1.0f);
    for (float& v : bias) v = source.next(0.3f);
    for (const std::string& kernel : neurorave::runnable_kernels()) {
      CAPTURE(kernel);
      REQUIRE(neurorave::use_kernel(kernel));
      for (const WeightPrecision precision : {WeightPrecision::f32, WeightPrecision::f16}) {
        neurorave::Gemm gemm;
        gemm.pack(weights, neurorave::Taps{tap_rows, tap_step}, precision);
        std::vector<float> filled(static_cast<size_t>(rows * cols)), fused(filled.size(), 7.0f);
        for (Eigen::Index j = 0; j < cols; ++j)
          std::copy(bias.begin(), bias.end(), filled.begin() + j * rows);
        gemm.accumulate(signal.data(), col_step, cols, filled.data(), rows);
        gemm.product_plus_bias(signal.data(), col_step, cols, bias.data(), fused.data(), rows);
        CHECK(std::equal(filled.begin(), filled.end(), fused.begin(),
                         [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }));
        neurorave::Gemm streamed;
        streamed.pack(weights, neurorave::Taps{tap_rows, tap_step}, {precision, true});
        std::vector<float> fetched_ahead(filled.size(), 7.0f);
        streamed.product_plus_bias(signal.data(), col_step, cols, bias.data(), fetched_ahead.data(),
                                   rows);
        CHECK(std::equal(fused.begin(), fused.end(), fetched_ahead.begin(),
                         [](float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }));
      }
    }
    REQUIRE(neurorave::use_kernel(chosen.substr(0, chosen.find(' '))));
  }

  TEST_CASE("ConvTranspose1d kernel 4 stride 2: overlap-add across blocks") {
    // Each input frame t adds x[t] * [1, 2, 3, 4] at output samples 2t .. 2t+3.
    const std::vector<float> w = {1, 2, 3, 4};  // (in 1, out 1, kernel 4)
    ConvTranspose1d up(1, 1, 4, 2, w.data(), nullptr);
    up.prepare(4);
    CHECK(up.out_frames(3) == 6);
    CHECK(up.upsampling() == 2);
    const Matrix x = rows({{1, 10, 100}});
    // Samples 0..5 of the full output; 300 and 400 wait for the next call.
    const Matrix expected = rows({{1, 2, 3 + 10, 4 + 20, 30 + 100, 40 + 200}});
    CHECK_SAME(one_shot(up, x), expected);
    CHECK_SAME(stream(up, x, {1}), expected);
    CHECK_SAME(stream(up, x, {2, 1}), expected);
    // The carried tail comes out with the next frames, then nothing is left.
    const Matrix zeros = rows({{0, 0}});
    up.reset();
    (void)up.process(View(x.data(), 1, 3));
    CHECK_SAME(Matrix(up.process(View(zeros.data(), 1, 2))), rows({{300, 400, 0, 0}}));
    // reset() drops the tail.
    up.reset();
    CHECK_SAME(Matrix(up.process(View(zeros.data(), 1, 2))), rows({{0, 0, 0, 0}}));
  }

  TEST_CASE("ConvTranspose1d bias is added once per output sample") {
    const std::vector<float> w = {1, 2, 3, 4}, b = {0.5f};
    ConvTranspose1d up(1, 1, 4, 2, w.data(), b.data());
    up.prepare(4);
    const Matrix x = rows({{1, 10, 100}});
    const Matrix expected = rows({{1.5f, 2.5f, 13.5f, 24.5f, 130.5f, 240.5f}});
    CHECK_SAME(one_shot(up, x), expected);
    CHECK_SAME(stream(up, x, {1}), expected);
    // Silence in: only the bias, once, even where two frames overlap.
    const Matrix zeros = rows({{0, 0, 0}});
    CHECK_SAME(one_shot(up, zeros), rows({{0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}}));
  }

  TEST_CASE("ConvTranspose1d weight layout (in, out, kernel)") {
    // y_o[2t + k] = sum_c w[c, o, k] x_c[t]
    const std::vector<float> w = {1, 2, 3, 4, 5, 6, 7, 8};
    ConvTranspose1d up(2, 2, 2, 2, w.data(), nullptr);
    up.prepare(2);
    CHECK_SAME(one_shot(up, rows({{1}, {10}})), rows({{1 + 50, 2 + 60}, {3 + 70, 4 + 80}}));
  }

  TEST_CASE("ConvTranspose1d streamed in any blocks equals the whole signal at once") {
    struct Case {
      int in, out, kernel, stride;
    };
    // The last one is deep and tall enough for several packed blocks and partial panels.
    for (const Case c : {Case{3, 2, 7, 3}, Case{2, 3, 4, 4}, Case{600, 30, 8, 4}}) {
      CAPTURE(c.in);
      CAPTURE(c.kernel);
      const auto w = small_numbers(static_cast<size_t>(c.in * c.out * c.kernel), 2, 5, 0.5f);
      const auto b = small_numbers(static_cast<size_t>(c.out), 3, 6);
      ConvTranspose1d up(c.in, c.out, c.kernel, c.stride, w.data(), b.data());
      const Matrix x = small_matrix(c.in, 40, 9);
      up.prepare(40);
      // y_o[n] = b_o + sum_{t, k : stride t + k = n} sum_c w[c, o, k] x_c[t], for n < stride * 40.
      Matrix direct = Matrix::Zero(c.out, 40 * c.stride);
      for (int o = 0; o < c.out; ++o)
        for (int n = 0; n < 40 * c.stride; ++n) {
          float sum = b[o];
          for (int t = 0; t < 40; ++t)
            for (int i = 0; i < c.in; ++i) {
              const int k = n - c.stride * t;
              if (k >= 0 && k < c.kernel) sum += w[(i * c.out + o) * c.kernel + k] * x(i, t);
            }
          direct(o, n) = sum;
        }
      const Matrix whole = one_shot(up, x);
      CHECK_SAME(whole, direct);
      CHECK_SAME(stream(up, x, {1}), whole);
      CHECK_SAME(stream(up, x, {2, 5, 1, 9}), whole);
    }
  }

  TEST_CASE("LeakyRelu") {
    LeakyRelu relu(2, 0.25f);
    relu.prepare(4);
    CHECK(relu.in_channels() == 2);
    CHECK(relu.out_channels() == 2);
    CHECK_SAME(one_shot(relu, rows({{-1, 0, 2, -5}, {4, -8, 0.5f, -0.5f}})),
               rows({{-0.25f, 0, 2, -1.25f}, {4, -2, 0.5f, -0.125f}}));
  }

  TEST_CASE("A convolution that takes the input slope equals LeakyRelu then the convolution") {
    const Matrix x = small_matrix(4, 24, 31);
    LeakyRelu relu(4, 0.25f);
    relu.prepare(24);
    const Matrix activated = one_shot(relu, x);
    // Pointwise (normally read in place), windowed, strided and grouped.
    for (const ConvShape& s : {shape(4, 3, 1), shape(4, 3, 3, 1, 2), shape(4, 6, 3, 2, 1, 2)}) {
      CAPTURE(s.kernel);
      const auto w =
          small_numbers(static_cast<size_t>(s.out * (s.in / s.groups) * s.kernel), 2, 32, 0.5f);
      auto plain = make_conv(s, w, {}, 24);
      Conv1d fused(s, w.data(), nullptr);
      CHECK(fused.take_input_slope(0.25f));
      fused.prepare(24);
      const Matrix expected = one_shot(*plain, activated);
      CHECK_SAME(one_shot(fused, x), expected);
      CHECK_SAME(stream(fused, x, {s.stride, 3 * s.stride}), expected);
    }
    const auto w = small_numbers(4 * 2 * 6, 2, 33, 0.5f);
    ConvTranspose1d plain(4, 2, 6, 3, w.data(), nullptr), fused(4, 2, 6, 3, w.data(), nullptr);
    CHECK(fused.take_input_slope(0.25f));
    plain.prepare(24);
    fused.prepare(24);
    CHECK_SAME(stream(fused, x, {1, 5}), one_shot(plain, activated));
    CHECK_FALSE(relu.take_input_slope(0.5f));
  }

  TEST_CASE("Residual: x delayed by `delay` frames plus branch(x)") {
    auto make = [](int delay, std::vector<float> weight) {
      std::vector<std::unique_ptr<Layer>> layers;
      const int kernel = static_cast<int>(weight.size());
      layers.push_back(std::make_unique<Conv1d>(shape(1, 1, kernel), weight.data(), nullptr));
      auto branch = std::make_unique<Sequence>(std::move(layers));
      auto residual = std::make_unique<Residual>(std::move(branch), delay);
      residual->prepare(8);
      return residual;
    };
    const Matrix x = rows({{1, 2, 3, 4}});
    {
      // Branch 2 x[t], skip x[t - 2].
      auto r = make(2, {2});
      const Matrix expected = rows({{2, 4, 6 + 1, 8 + 2}});
      CHECK_SAME(one_shot(*r, x), expected);
      CHECK_SAME(stream(*r, x, {1}), expected);
      CHECK_SAME(stream(*r, x, {3, 1}), expected);
    }
    {
      // No delay: 3 x.
      auto r = make(0, {2});
      CHECK_SAME(stream(*r, x, {1}), rows({{3, 6, 9, 12}}));
    }
    {
      // A kernel-2 branch lags one frame; delay 1 aligns the skip with it:
      // y = x[t-1] + (x[t-1] + x[t]).
      auto r = make(1, {1, 1});
      const Matrix expected = rows({{1, 1 + 3, 2 + 5, 3 + 7}});
      CHECK_SAME(one_shot(*r, x), expected);
      CHECK_SAME(stream(*r, x, {1}), expected);
      // reset() clears the skip delay line too.
      r->reset();
      CHECK_SAME(one_shot(*r, x), expected);
    }
  }

  TEST_CASE("hash_noise equals the torch reference bit for bit") {
    // python/neurorave/nn/layers.py hash_noise(torch.tensor([0, 1, 2, 1000, -5, 2**33 + 7]), 3)
    const int64_t index[6] = {0, 1, 2, 1000, -5, (int64_t{1} << 33) + 7};
    const float reference[3][6] = {
        {0.026625633239746094f, -0.9278180599212646f, 0.39419472217559814f, 0.5350081920623779f,
         -0.9154247045516968f, -0.29467320442199707f},
        {-0.23272061347961426f, 0.082039475440979f, -0.8724042177200317f, 0.3008776903152466f,
         0.20490658283233643f, 0.7151843309402466f},
        {0.7771369218826294f, -0.11798393726348877f, 0.8500179052352905f, -0.9839528799057007f,
         -0.7852360010147095f, -0.16448438167572021f},
    };
    for (int band = 0; band < 3; ++band)
      for (int i = 0; i < 6; ++i) {
        CAPTURE(band);
        CAPTURE(index[i]);
        CHECK(neurorave::hash_noise(index[i], band) == reference[band][i]);
      }
    // Uniform in [-1, 1).
    float lo = 1, hi = -1;
    double mean = 0;
    for (int64_t n = 0; n < 20000; ++n) {
      const float v = neurorave::hash_noise(n, 1);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      mean += v;
    }
    CHECK(lo >= -1.0f);
    CHECK(hi < 1.0f);
    CHECK(lo < -0.99f);
    CHECK(hi > 0.99f);
    CHECK(std::abs(mean / 20000) < 0.02);
  }

  TEST_CASE("the elementwise passes give the same bits with every kernel") {
    // Lengths that leave a tail after whole packets of 4, 8 and 16 lanes.
    const std::string chosen = neurorave::active_kernel();
    neurorave_tests::WeightSource source(11);
    std::vector<float> a(37), b(37);
    for (float& v : a) v = source.next(1.0f);
    for (float& v : b) v = source.next(1.0f);
    for (const std::string& kernel : neurorave::runnable_kernels()) {
      CAPTURE(kernel);
      REQUIRE(neurorave::use_kernel(kernel));
      const auto& ops = neurorave::gemm_kernel::stream_ops();
      std::vector<float> out(a.size());
      ops.leaky_relu(a.data(), 37, 0.2f, out.data());
      for (size_t i = 0; i < a.size(); ++i) CHECK(out[i] == std::max(a[i], 0.2f * a[i]));
      ops.add(a.data(), b.data(), 37, out.data());
      for (size_t i = 0; i < a.size(); ++i) CHECK(out[i] == a[i] + b[i]);
      for (const int bands : {3, 16, 20}) {
        CAPTURE(bands);
        const int64_t first = (int64_t{1} << 33) - 2;  // crosses 2^32 and wraps like the reference
        std::vector<float> noise(static_cast<size_t>(bands) * 5);
        ops.hash_noise_block(first, bands, 5, noise.data());
        for (int t = 0; t < 5; ++t)
          for (int band = 0; band < bands; ++band)
            CHECK(noise[static_cast<size_t>(t * bands + band)] ==
                  neurorave::hash_noise(first + t, band));
      }
    }
    REQUIRE(neurorave::use_kernel(chosen.substr(0, chosen.find(' '))));
  }

  TEST_CASE("WaveformHead without noise: tanh(wave) * sigmoid(amplitude)") {
    WaveformHead head(1, false);
    CHECK(head.in_channels() == 2);
    CHECK(head.out_channels() == 1);
    head.prepare(4);
    // tanh(ln(3) / 2) = 1/2, sigmoid(ln 3) = 3/4, sigmoid(-ln 3) = 1/4, sigmoid(0) = 1/2.
    const float l = std::log(3.0f);
    const Matrix y = one_shot(head, rows({{0, l / 2, -l / 2, 20}, {3, l, 0, -l}}));
    REQUIRE(y.cols() == 4);
    CHECK(y(0, 0) == 0.0f);
    CHECK(y(0, 1) == doctest::Approx(0.375).epsilon(1e-6));
    CHECK(y(0, 2) == doctest::Approx(-0.25).epsilon(1e-6));
    CHECK(y(0, 3) == doctest::Approx(0.25).epsilon(1e-6));
  }

  TEST_CASE("WaveformHead with noise: sigmoid(gain - 5) * hash_noise(counter, band)") {
    WaveformHead head(3, true);
    CHECK(head.in_channels() == 9);
    CHECK(head.out_channels() == 3);
    head.prepare(8);
    // wave 0 and gain 5: the output is exactly half the noise.
    Matrix in = Matrix::Zero(9, 8);
    in.bottomRows(3).setConstant(5.0f);
    const auto half_noise = [](int64_t index, int band) {
      return 0.5f * neurorave::hash_noise(index, band);
    };
    const View three(in.data(), 9, 3), one(in.data(), 9, 1);

    // A fresh head counts from 0.
    Matrix y = head.process(three);
    for (int b = 0; b < 3; ++b)
      for (int t = 0; t < 3; ++t) CHECK(y(b, t) == half_noise(t, b));
    CHECK(y(0, 0) == 0.5f * 0.026625633239746094f);  // the reference values, once more
    CHECK(y(2, 2) == 0.5f * 0.8500179052352905f);
    // The counter goes on across calls.
    y = head.process(one);
    for (int b = 0; b < 3; ++b) CHECK(y(b, 0) == half_noise(3, b));

    // set_counter_start: the next sample draws that index, and so does the first after reset().
    head.set_counter_start(-5);
    y = head.process(one);
    CHECK(y(0, 0) == 0.5f * -0.9154247045516968f);
    CHECK(y(1, 0) == 0.5f * 0.20490658283233643f);
    CHECK(y(2, 0) == 0.5f * -0.7852360010147095f);
    y = head.process(one);
    CHECK(y(1, 0) == half_noise(-4, 1));
    head.reset();
    y = head.process(one);
    CHECK(y(1, 0) == 0.5f * 0.20490658283233643f);
    head.set_counter_start(1000);
    y = head.process(one);
    CHECK(y(2, 0) == 0.5f * -0.9839528799057007f);
    head.set_counter_start((int64_t{1} << 33) + 7);
    y = head.process(one);
    CHECK(y(1, 0) == 0.5f * 0.7151843309402466f);

    // Wave, amplitude and noise gain together; in blocks, the same as in one call.
    const auto values = small_numbers(9 * 8, 3, 21, 0.5f);
    in = Eigen::Map<const Matrix>(values.data(), 9, 8);
    head.set_counter_start(-3);
    const Matrix whole = one_shot(head, in);
    for (int b = 0; b < 3; ++b)
      for (int t = 0; t < 8; ++t) {
        const float sig_amp = 1.0f / (1.0f + std::exp(-in(3 + b, t)));
        const float sig_gain = 1.0f / (1.0f + std::exp(-(in(6 + b, t) - 5.0f)));
        const float expected =
            std::tanh(in(b, t)) * sig_amp + sig_gain * neurorave::hash_noise(t - 3, b);
        CHECK(whole(b, t) == doctest::Approx(expected).epsilon(1e-6));
      }
    CHECK_SAME(stream(head, in, {1}), whole);
    CHECK_SAME(stream(head, in, {3, 2}), whole);
  }

  TEST_CASE("WaveformHead with sub-band noise: hashed slow noise through each kernel, gained") {
    // 2 bands of 2 sub-bands, kernels of 2 taps per sub-band, a gain every 2 samples.
    constexpr int kBands = 2, kSub = 2, kTaps = 2, kFrame = 2, kSamples = 12;
    const std::vector<float> kernels = {1.0f, 0.5f, 0.25f, -0.5f, 0.0f, 1.0f, -1.0f, 0.5f};
    WaveformHead head(kBands, true);
    head.shape_noise(
        std::make_unique<neurorave::SubbandNoise>(kBands, kSub, kTaps, kFrame, kernels.data()));
    CHECK(head.noise_gain_channels() == 4);
    head.prepare(kSamples);
    Matrix in = Matrix::Zero(3 * kBands, kSamples);
    in.bottomRows(kBands).setConstant(5.0f);  // wave 0, noise at half
    const auto gain_values = small_numbers(4 * kSamples / kFrame, 5, 7, 0.5f);
    const Matrix gains = Eigen::Map<const Matrix>(gain_values.data(), 4, kSamples / kFrame);
    const auto floor_div = [](int64_t a, int64_t b) { return a / b - ((a % b) < 0 ? 1 : 0); };
    const int64_t first = -5 * kFrame;
    const auto expected = [&](int band, int64_t n) {
      const int64_t index = first + n, slow = floor_div(index, kSub);
      const int phase = static_cast<int>(index - slow * kSub);
      float sum = 0.0f;
      for (int k = 0; k < kSub; ++k) {
        float filtered = 0.0f;
        for (int t = 0; t < kTaps; ++t)
          filtered += kernels[k * kSub * kTaps + phase + t * kSub] *
                      neurorave::hash_noise(slow - t, band * kSub + k);
        sum += 2.0f / (1.0f + std::exp(-gains(band * kSub + k, n / kFrame))) * filtered;
      }
      return 0.5f * sum;
    };
    for (const int block : {kSamples, kFrame, 3 * kFrame}) {
      head.set_counter_start(first);
      for (int start = 0; start < kSamples; start += block) {
        const int n = std::min(block, kSamples - start);
        head.set_noise_gains(View(gains.col(start / kFrame).data(), 4, n / kFrame));
        const Matrix y = head.process(View(in.col(start).data(), 3 * kBands, n));
        for (int b = 0; b < kBands; ++b)
          for (int t = 0; t < n; ++t)
            CHECK(y(b, t) == doctest::Approx(expected(b, start + t)).epsilon(1e-6));
      }
    }
  }

  TEST_CASE("WaveformHead with a DC blocker: each band y[n] = x[n] - x[n-1] + pole * y[n-1]") {
    const double pole = 0.99;
    WaveformHead plain(2, false), blocked(2, false, {{pole, 1}});
    plain.prepare(4096);
    blocked.prepare(4096);
    // A lopsided wave: tanh(0.8) * sigmoid(2) has a mean the blocker must take away.
    Matrix in(4, 4096);
    for (Eigen::Index t = 0; t < in.cols(); ++t) {
      in(0, t) = 0.8f + 0.3f * std::sin(0.05f * static_cast<float>(t));
      in(1, t) = -0.5f + 0.2f * std::cos(0.11f * static_cast<float>(t));
      in.middleRows(2, 2).col(t).setConstant(2.0f);
    }
    const Matrix bands = one_shot(plain, in);
    const Matrix out = one_shot(blocked, in);
    for (int b = 0; b < 2; ++b) {
      double last_in = 0.0, last_out = 0.0;
      for (Eigen::Index t = 0; t < in.cols(); ++t) {
        last_out = (bands(b, t) - last_in) + pole * last_out;
        last_in = bands(b, t);
        CHECK(out(b, t) == static_cast<float>(last_out));
      }
      // The band had a mean of about 0.6 (or -0.4); the blocked one keeps under 1 % of it.
      CHECK(std::abs(bands.row(b).rightCols(2048).mean()) > 0.3);
      CHECK(std::abs(out.row(b).rightCols(2048).mean()) < 0.004);
    }
    CHECK_SAME(stream(blocked, in, {1}), out);
    CHECK_SAME(stream(blocked, in, {7, 300, 2}), out);  // reset() forgets the memory
  }

  TEST_CASE("WaveformHead, DC blocker every P samples: y[n] = g (x[n] - x[n-P]) + pole y[n-P]") {
    const double pole = 0.8;
    const int period = 16;
    WaveformHead plain(1, false), comb(1, false, {{pole, period}});
    plain.prepare(8192);
    comb.prepare(8192);
    // A pattern that repeats every period (what a decoder repeats each frame) over a wave
    // whose frequency is no multiple of 1 / period: the comb keeps the wave alone.
    Matrix in(2, 8192);
    std::vector<float> wave(8192);
    for (Eigen::Index t = 0; t < in.cols(); ++t) {
      wave[static_cast<size_t>(t)] = 0.3f * std::sin(0.3f * static_cast<float>(t));
      const float pattern = 0.2f * static_cast<float>(t % period) / period - 0.1f;
      in(0, t) = std::atanh(wave[static_cast<size_t>(t)] + pattern);
      in(1, t) = 30.0f;  // sigmoid(30) rounds to 1: the band is tanh(wave) alone
    }
    const Matrix bands = one_shot(plain, in);
    const Matrix out = one_shot(comb, in);
    std::vector<double> last_in(period, 0.0), last_out(period, 0.0);
    std::vector<double> pattern_in(period, 0.0), pattern_out(period, 0.0);
    double wave_power = 0.0, out_power = 0.0;
    for (Eigen::Index t = 0; t < in.cols(); ++t) {
      const size_t phase = static_cast<size_t>(t % period);
      last_out[phase] =
          (1.0 + pole) / 2.0 * (bands(0, t) - last_in[phase]) + pole * last_out[phase];
      last_in[phase] = bands(0, t);
      CHECK(out(0, t) == static_cast<float>(last_out[phase]));
      if (t >= 4096) {  // the second half: each phase's mean is the pattern
        pattern_in[phase] += bands(0, t) / (4096.0 / period);
        pattern_out[phase] += out(0, t) / (4096.0 / period);
        wave_power += std::pow(wave[static_cast<size_t>(t)], 2.0);
        out_power += std::pow(out(0, t), 2.0);
      }
    }
    for (int p = 0; p < period; ++p) {
      CAPTURE(p);
      const double pattern = 0.2 * p / period - 0.1;  // from -0.1 to 0.0875
      CHECK(std::abs(pattern_in[static_cast<size_t>(p)] - pattern) < 0.003);
      CHECK(std::abs(pattern_out[static_cast<size_t>(p)]) < 0.003);
    }
    CHECK(std::sqrt(out_power / wave_power) == doctest::Approx(1.0).epsilon(0.01));
    CHECK_SAME(stream(comb, in, {1}), out);
    CHECK_SAME(stream(comb, in, {7, 300, 2}), out);  // the phase runs on across blocks
  }

  TEST_CASE("PQMF-like: Haar analysis (strided conv) + synthesis (transposed conv) reconstruct") {
    // Analysis filters h0 = [1/2, 1/2], h1 = [1/2, -1/2], time-reversed as conv weights
    // (out 2, in 1, kernel 2). Output frame t sees (x[2t-1], x[2t]):
    //   low = (x[2t-1] + x[2t]) / 2, high = (x[2t] - x[2t-1]) / 2.
    auto analysis = make_conv(shape(1, 2, 2, 2), {0.5f, 0.5f, -0.5f, 0.5f}, {}, 64);
    // Synthesis (in 2, out 1, kernel 2, stride 2): sample 2t = low - high = x[2t-1],
    // sample 2t+1 = low + high = x[2t]. Perfect reconstruction, one sample late.
    const std::vector<float> g = {1, 1, -1, 1};
    ConvTranspose1d synthesis(2, 1, 2, 2, g.data(), nullptr);
    synthesis.prepare(32);

    // By hand: x = [1, 3, 5, 9] -> bands [[0.5, 4], [0.5, 1]] -> [0, 1, 3, 5].
    const Matrix bands = one_shot(*analysis, rows({{1, 3, 5, 9}}));
    CHECK_SAME(bands, rows({{0.5f, 4}, {0.5f, 1}}));
    CHECK_SAME(one_shot(synthesis, bands), rows({{0, 1, 3, 5}}));

    // Any signal, any even block sizes: out[n] = x[n - 1].
    const Matrix x = small_matrix(1, 64, 3);
    for (const int block : {2, 4, 6, 64}) {
      CAPTURE(block);
      analysis->reset();
      synthesis.reset();
      Matrix y(1, 64);
      for (Eigen::Index n = 0; n < 64; n += block) {
        const auto len = std::min<Eigen::Index>(block, 64 - n);
        const View b = analysis->process(View(x.data() + n, 1, len));
        y.middleCols(n, len) = synthesis.process(b);
      }
      CHECK(y(0, 0) == 0.0f);
      CHECK_SAME(y.rightCols(63), x.leftCols(63));
    }
  }

  TEST_CASE("Sequence chains layers and their rates") {
    std::vector<std::unique_ptr<Layer>> layers;
    const std::vector<float> w = {1, 1}, wt = {1, 1, 1, 1};
    layers.push_back(std::make_unique<Conv1d>(shape(1, 1, 2, 2), w.data(), nullptr));
    layers.push_back(std::make_unique<LeakyRelu>(1, 0.5f));
    layers.push_back(std::make_unique<ConvTranspose1d>(1, 1, 4, 4, wt.data(), nullptr));
    Sequence seq(std::move(layers));
    CHECK(seq.downsampling() == 2);
    CHECK(seq.upsampling() == 4);
    CHECK(seq.out_frames(6) == 12);
    seq.prepare(6);
    // Pairs (x[2t-1] + x[2t]) = [1, 5, -4]; leaky -> [1, 5, -2]; each held for 4 samples.
    CHECK_SAME(one_shot(seq, rows({{1, 2, 3, -1, -3, 0}})),
               rows({{1, 1, 1, 1, 5, 5, 5, 5, -2, -2, -2, -2}}));
  }

}  // TEST_SUITE
