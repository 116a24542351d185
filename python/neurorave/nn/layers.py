"""Layers that run offline and streaming with one set of weights.

Offline, a layer sees a whole signal and pads it itself (causal or centred).
Streaming, every layer is causal: it keeps the end of what it has seen as explicit
state, so that a stream processed in chunks equals the offline output delayed by a
number of samples that the model builder tracks (`DelayTracker`).

The streaming state of a whole network is one flat `list[Tensor]`; every layer
consumes its slots in order. That single form serves the torch reference, the ONNX
graph (state as explicit inputs and outputs) and the TorchScript module (state
kept as attributes), so all three run the same code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

State = list[Tensor]


class DelayTracker:
    """Tracks how far the streaming signal lags the offline one, in its own samples.

    For a centred model each strided conv picks its right padding so that the lag
    after it stays a whole number of output frames; then streaming equals offline
    exactly, shifted by the final lag.
    """

    def __init__(self, causal: bool):
        self.causal = causal
        self.delay = 0

    def conv_right_pad(self, history: int, stride: int) -> int:
        if self.causal:
            return 0
        candidates = [p for p in range(history + 1) if (p + self.delay) % stride == 0]
        right_pad = min(candidates, key=lambda p: (abs(p - history / 2), p))
        self.delay = (self.delay + right_pad) // stride
        return right_pad

    def conv_transpose_crop(self, kernel: int, stride: int) -> int:
        crop = 0 if self.causal else (kernel - stride) // 2
        self.delay = self.delay * stride + crop
        return crop


class Conv(nn.Module):
    """Conv1d with cached history when streaming."""

    def __init__(self, tracker: DelayTracker, cin: int, cout: int, kernel: int,
                 stride: int = 1, dilation: int = 1, groups: int = 1, bias: bool = True,
                 norm: bool = True):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, stride, 0, dilation, groups, bias)
        if norm:
            self.conv = weight_norm(self.conv)
        self.history = (kernel - 1) * dilation
        self.right_pad = tracker.conv_right_pad(self.history, stride)

    def forward(self, x: Tensor) -> Tensor:
        pad = (self.history - self.right_pad, self.right_pad)
        return self.conv(nn.functional.pad(x, pad))

    def init_state(self, batch: int) -> State:
        if self.history == 0:
            return []
        return [torch.zeros(batch, self.conv.in_channels, self.history)]

    def stream(self, x: Tensor, state: State, i: int) -> tuple[Tensor, int]:
        if self.history == 0:
            return self.conv(x), i
        extended = torch.cat([state[i], x], -1)
        state[i] = extended[..., extended.shape[-1] - self.history:]
        return self.conv(extended), i + 1


class HeldKernel(nn.Module):
    """A weight-normed transposed-conv kernel (cin, cout, 2 * stride) made as a hold of
    `stride` samples followed by a (stride + 1)-tap filter.

    A free stride-s kernel is periodically time-varying: a constant input comes out
    with a ripple of period s, a buzz at the input's frame rate that training must
    learn to cancel. Every phase of a held kernel sums to the same value (the sum of
    its taps), so a constant comes out constant. Exported as the plain kernel it
    equals (nothing new to play).
    """

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def hold(self, taps: Tensor) -> Tensor:
        cin, cout, length = taps.shape
        box = torch.ones(1, 1, self.stride, dtype=taps.dtype, device=taps.device)
        held = nn.functional.conv1d(taps.reshape(-1, 1, length), box, padding=self.stride - 1)
        return held.reshape(cin, cout, -1)

    def forward(self, gain: Tensor, taps: Tensor) -> Tensor:
        kernel = self.hold(taps)
        return gain * kernel / kernel.norm(dim=(1, 2), keepdim=True).clamp(min=1e-12)

    def right_inverse(self, kernel: Tensor) -> tuple[Tensor, Tensor]:
        """(gain, taps) of the held kernel nearest to `kernel` (least squares)."""
        s = self.stride
        unit_taps = torch.eye(s + 1, dtype=kernel.dtype, device=kernel.device).reshape(
            s + 1, 1, s + 1)
        basis = self.hold(unit_taps).reshape(s + 1, 2 * s).T
        flat = kernel.detach().reshape(-1, 2 * s).T
        taps = torch.linalg.lstsq(basis, flat).solution.T.reshape(*kernel.shape[:2], s + 1)
        return self.hold(taps).norm(dim=(1, 2), keepdim=True), taps


class ConvTranspose(nn.Module):
    """ConvTranspose1d streamed by overlap-add with a carried tail.

    The bias lives outside the convolution so that overlapping frames do not add
    it twice. `hold`: the kernel is a HeldKernel (its length must be 2 * stride).
    """

    def __init__(self, tracker: DelayTracker, cin: int, cout: int, kernel: int, stride: int,
                 bias: bool = True, norm: bool = True, hold: bool = False):
        super().__init__()
        if kernel < stride:
            raise ValueError("transposed conv kernel must be at least its stride")
        self.conv = nn.ConvTranspose1d(cin, cout, kernel, stride, bias=False)
        self.held = hold
        if hold:
            if kernel != 2 * stride:
                raise ValueError("a held transposed conv kernel spans two strides")
            parametrize.register_parametrization(self.conv, "weight", HeldKernel(stride),
                                                 unsafe=True)
        elif norm:
            self.conv = weight_norm(self.conv)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.stride = stride
        self.tail = kernel - stride
        self.crop = tracker.conv_transpose_crop(kernel, stride)

    def _add_bias(self, y: Tensor) -> Tensor:
        bias = self.bias
        return y if bias is None else y + bias.unsqueeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[-1] * self.stride
        return self._add_bias(self.conv(x)[..., self.crop:self.crop + length])

    def init_state(self, batch: int) -> State:
        return [torch.zeros(batch, self.conv.out_channels, self.tail)] if self.tail else []

    def stream(self, x: Tensor, state: State, i: int) -> tuple[Tensor, int]:
        full = self.conv(x)
        length = x.shape[-1] * self.stride
        if self.tail == 0:
            return self._add_bias(full), i
        full = torch.cat([full[..., :self.tail] + state[i], full[..., self.tail:]], -1)
        state[i] = full[..., length:]
        return self._add_bias(full[..., :length]), i + 1


class LeakyReLU(nn.Module):
    def __init__(self, slope: float):
        super().__init__()
        self.slope = slope

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.leaky_relu(x, self.slope)

    def init_state(self, batch: int) -> State:
        return []

    def stream(self, x: Tensor, state: State, i: int) -> tuple[Tensor, int]:
        return self.forward(x), i


class Sequence(nn.Module):
    """Layers applied in order; streaming threads the flat state through them."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def init_state(self, batch: int) -> State:
        return [s for layer in self.layers for s in layer.init_state(batch)]

    def stream(self, x: Tensor, state: State, i: int) -> tuple[Tensor, int]:
        for layer in self.layers:
            x, i = layer.stream(x, state, i)
        return x, i


class Residual(nn.Module):
    """x + branch(x), the skip path delayed to stay aligned with the branch."""

    def __init__(self, tracker: DelayTracker, build_branch):
        super().__init__()
        delay_before = tracker.delay
        self.branch = Sequence(build_branch(tracker))
        self.delay = tracker.delay - delay_before
        self.channels = _channels_of(self.branch)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)

    def init_state(self, batch: int) -> State:
        skip = [torch.zeros(batch, self.channels, self.delay)] if self.delay else []
        return skip + self.branch.init_state(batch)

    def stream(self, x: Tensor, state: State, i: int) -> tuple[Tensor, int]:
        skip = x
        if self.delay > 0:
            extended = torch.cat([state[i], x], -1)
            skip = extended[..., :x.shape[-1]]
            state[i] = extended[..., x.shape[-1]:]
            i += 1
        y, i = self.branch.stream(x, state, i)
        return skip + y, i


def _channels_of(sequence: Sequence) -> int:
    for layer in sequence.layers:
        if isinstance(layer, (Conv, ConvTranspose)):
            return layer.conv.in_channels
    raise ValueError("a residual branch needs a convolution")


def _mix32(h: Tensor) -> Tensor:
    """One integer mixing round kept below 2**63 so int64 never overflows."""
    h = h + torch.div(h, 65536, rounding_mode="floor")
    return (h * 0x45D9F3B) % 4294967296


def hash_noise(index: Tensor, bands: int) -> Tensor:
    """Uniform noise in [-1, 1) from a counter-based hash of (sample index, band).

    Counter-based, so a stream cut into any chunks draws exactly the offline noise,
    and the C++ core draws the same numbers (see cpp/src/noise.hpp).
    Returns (bands, len(index)).
    """
    band = torch.arange(bands, dtype=torch.int64).unsqueeze(-1)
    h = (index.unsqueeze(0) % 4294967296) * 0x2C1B3C6D % 4294967296
    h = (h + band * 0x297A2D39 + 0x68E31DA4) % 4294967296
    h = _mix32(_mix32(_mix32(h)))
    top24 = torch.div(h, 256, rounding_mode="floor").to(torch.float32)
    return top24 * (2.0 / 16777216.0) - 1.0


# Taps per sub-band of the filter bank that shapes a band's noise (subband_noise): a
# prototype of 8 per band keeps 50 dB between sub-bands (the PQMF's own measure,
# docs/experiments/2026-12-06-a-sharper-filter-bank.md).
SUBBAND_NOISE_TAPS = 8


def subband_noise_filters(subbands: int) -> Tensor:
    """The synthesis kernels (subbands, subbands * SUBBAND_NOISE_TAPS) of a band's noise:
    a PQMF bank's, scaled so that the sub-bands of uniform noise in [-1, 1) add up to the
    power of one band of it, so that equal gains play what the white band did."""
    from .pqmf import pqmf_filters  # pqmf imports nothing from here; kept local all the same

    synthesis = torch.tensor(pqmf_filters(subbands, SUBBAND_NOISE_TAPS)[1], dtype=torch.float64)
    power = (synthesis ** 2).sum() / subbands   # per output sample, each input at power 1
    return (synthesis / power.sqrt()).to(torch.float32)


def subband_noise(index: Tensor, bands: int, filters: Tensor) -> Tensor:
    """The noise of each band split into sub-bands at band samples `index`, (bands,
    subbands, len(index)): sub-band k of band b is uniform noise at 1 / subbands of the
    band rate (hash_noise of sample index // subbands and channel b * subbands + k) through
    synthesis kernel k. A function of the index alone, so any cut of a stream draws the
    same numbers; the core computes the same sums (cpp/src/layers/subband_noise.hpp).
    """
    subbands, length = filters.shape
    taps = length // subbands
    slow = torch.div(index, subbands, rounding_mode="floor")
    phase = index - slow * subbands
    lag = torch.arange(taps, dtype=torch.int64)[:, None]
    # Each lag's draw hashed where it is read (no data-dependent sizes: ONNX traces it).
    drawn = hash_noise((slow[None, :] - lag).reshape(-1), bands * subbands)
    values = drawn.reshape(bands, subbands, taps, -1)
    kernel = filters[:, phase[None, :] + lag * subbands]     # (subbands, taps, len)
    return (values * kernel).sum(dim=2)


def dc_block_span(pole: float) -> int:
    """Samples `dc_block` takes in one closed-form pass: pole ** -span stays far inside
    float64's range. A traced graph (ONNX) plays calls of up to this many samples."""
    return max(1, int(600.0 / -math.log(pole)))


def _dc_block_pass(x: Tensor, previous_in: Tensor, previous_out: Tensor, pole: float,
                   gain: float) -> Tensor:
    n = torch.arange(x.shape[-1], dtype=torch.float64)
    growth = torch.pow(pole, n)
    step = gain * (x - torch.cat([previous_in, x[..., :-1]], dim=-1))
    return growth * (pole * previous_out + torch.cumsum(step / growth, dim=-1))


def dc_block(x: Tensor, previous_in: Tensor, previous_out: Tensor, pole: float,
             period: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """A one-pole DC blocker over the last axis, y[n] = x[n] - x[n-1] + pole * y[n-1],
    from the samples before (`previous_in`, `previous_out`: (..., P), float64).

    With a `period` P > 1, a comb: y[n] = g (x[n] - x[n-P]) + pole * y[n-P], the blocker
    on each of the P phases, a notch at every multiple of 1 / P cycles per sample. Its
    gain g = (1 + pole) / 2 passes what lies between the notches at unity (unscaled, the
    comb would lift it by up to 2 / (1 + pole), 0.8 dB at a frame-rate comb's 10 Hz); the
    one-sample blocker stays unscaled as models were trained with it (0.05 dB at its
    10 Hz). x (B, C, T) then holds whole periods.

    Returns (y in x's dtype, the last P x, the last P y in float64: the next call's
    previous_in and previous_out). In closed form, y[n] = pole^n * (pole * y[-1] +
    cumsum(pole^-k * (x[k] - x[k-1]))) on each phase, so that it back-propagates and
    traces to a graph (ONNX) without a loop over samples; in float64, so that it equals
    the core's recurrence to rounding. A call longer than `dc_block_span` periods goes
    span by span.
    """
    if period == 1:
        return _dc_block_phase(x, previous_in, previous_out, pole)
    if not torch.jit.is_tracing() and x.shape[-1] % period:
        raise ValueError(f"a DC blocker of period {period} takes whole periods, got "
                         f"{x.shape[-1]} samples")
    batch, channels = x.shape[0], x.shape[1]
    phases = x.reshape(batch, channels, -1, period).transpose(-1, -2)
    y, last_in, last_out = _dc_block_phase(phases, previous_in.unsqueeze(-1),
                                           previous_out.unsqueeze(-1), pole, comb_gain(pole))
    return (y.transpose(-1, -2).reshape(batch, channels, -1), last_in.squeeze(-1),
            last_out.squeeze(-1))


def comb_gain(pole: float) -> float:
    """The gain of `dc_block`'s comb: unity midway between its notches."""
    return (1.0 + pole) / 2.0


def _dc_block_phase(x: Tensor, previous_in: Tensor, previous_out: Tensor, pole: float,
                    gain: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """`dc_block` with period 1, its step scaled by `gain`."""
    x64 = x.to(torch.float64)
    span = dc_block_span(pole)
    if not torch.jit.is_tracing() and x.shape[-1] == 0:
        return x, previous_in, previous_out
    if torch.jit.is_tracing() or x.shape[-1] <= span:
        y = _dc_block_pass(x64, previous_in, previous_out, pole, gain)
    else:
        pieces = []
        for start in range(0, x.shape[-1], span):
            piece = _dc_block_pass(x64[..., start:start + span], previous_in, previous_out,
                                   pole, gain)
            previous_in, previous_out = x64[..., start + span - 1:start + span], piece[..., -1:]
            pieces.append(piece)
        y = torch.cat(pieces, dim=-1)
    return y.to(x.dtype), x64[..., -1:], y[..., -1:]


class WaveformHead(nn.Module):
    """Band signals = tanh(wave) * sigmoid(amp) [+ sigmoid(noise - 5) * noise], then,
    with `dc_pole` > 0, each band through a DC blocker (`dc_block`) whose steps are
    `dc_period` samples apart, then with `comb_pole` > 0 through a second one every
    `comb_period` samples (a frame's: a comb).

    Channels in: 2 * bands, or 3 * bands with the noise branch. With `subbands` > 1 each
    band's noise is `subband_noise`, sub-band k scaled by 2 sigmoid(gain k) (1 at a gain
    of 0: the white band), the gains (batch, bands * subbands, frames) given every frame
    of `frame` band samples by the model's noise shaper: a noise floor that follows the
    note within a band's 1 / subbands
    (docs/experiments/2026-12-06-a-noise-floor-that-follows-the-note.md).

    Why the blocker: a band signal's mean leaves the PQMF synthesis as a steady tone at
    the band's edge (5512.5 Hz and its multiples for 8 bands at 44.1 kHz), and tanh(wave)
    has a mean wherever the decoder makes it lopsided. The blocker removes it by
    construction, for a notch a few hertz wide at each band edge
    (docs/experiments/2026-12-03-a-dc-blocker-on-the-bands.md). Why the periods: what the
    decoder repeats every frame plays as lines at the frame rate's multiples, strongest
    at every fourth (the bands' centres and edges): a blocker every 4 band samples
    notches those at its cutoff, and a narrow comb every frame the rest, sparing the notes
    whose partials lie near a multiple (docs/experiments/2026-12-06-a-comb-at-the-frame-rate.md).
    Being recursive, they remember what a centred model's stream plays before it equals
    the offline output (its warm-up), for about period / (1 - pole) band samples.
    """

    def __init__(self, tracker: DelayTracker, bands: int, noise: bool, dc_pole: float = 0.0,
                 dc_period: int = 1, comb_pole: float = 0.0, comb_period: int = 1,
                 subbands: int = 1, frame: int = 1):
        super().__init__()
        for name, pole, period in (("dc", dc_pole, dc_period), ("comb", comb_pole, comb_period)):
            if not 0.0 <= pole < 1.0:
                raise ValueError(f"{name}_pole must lie in [0, 1), got {pole}")
            if period < 1:
                raise ValueError(f"{name}_period must be at least 1, got {period}")
        self.bands = bands
        self.noise = noise
        self.dc_pole, self.dc_period = float(dc_pole), int(dc_period)
        self.comb_pole, self.comb_period = float(comb_pole), int(comb_period)
        self.noise_offset = tracker.delay
        self.subbands, self.frame = int(subbands), int(frame)
        if self.subbands > 1 and (not noise or tracker.delay):
            raise ValueError("sub-band noise needs the noise branch and a decoder without "
                             "delay (a causal model): its gains come every frame")
        self.register_buffer("subband_filters", subband_noise_filters(self.subbands)
                             if self.subbands > 1 else torch.zeros(0, 0), persistent=False)
        self._offline_noise = (-1, torch.zeros(0))  # training draws one window's at each step

    def _band_noise(self, index: Tensor, gains: Tensor | None,
                    subband: Tensor | None = None) -> Tensor:
        """Each band's noise at `index`: (bands, T), or (batch, bands, T) shaped by `gains`
        from `subband` (subband_noise at `index`, if already drawn)."""
        if self.subbands <= 1:
            return hash_noise(index, self.bands)
        if gains is None:
            raise ValueError("sub-band noise needs the noise shaper's gains")
        if subband is None:
            subband = subband_noise(index, self.bands, self.subband_filters)
        # Each frame's gain held over its band samples (an expand: ONNX keeps T dynamic).
        scale = (2.0 * torch.sigmoid(gains)).unsqueeze(-1).expand(-1, -1, -1, self.frame)
        scale = scale.reshape(gains.shape[0], self.bands, self.subbands, -1)
        return (scale * subband).sum(dim=2)

    def _synthesize(self, x: Tensor, index: Tensor, gains: Tensor | None = None,
                    subband: Tensor | None = None) -> Tensor:
        b = self.bands
        out = torch.tanh(x[:, :b]) * torch.sigmoid(x[:, b:2 * b])
        if self.noise:
            noise = self._band_noise(index, gains, subband)
            out = out + torch.sigmoid(x[:, 2 * b:3 * b] - 5.0) * noise
        return out

    def _offline_subband_noise(self, index: Tensor) -> Tensor | None:
        """subband_noise of a whole signal, kept while its length stays the same."""
        if self.subbands <= 1 or torch.jit.is_tracing():
            return None
        if self._offline_noise[0] != len(index):
            self._offline_noise = (len(index), subband_noise(index, self.bands,
                                                             self.subband_filters))
        return self._offline_noise[1]

    def _blocker_state(self, batch: int, period: int) -> State:
        return [torch.zeros(batch, self.bands, period, dtype=torch.float64) for _ in range(2)]

    def forward(self, x: Tensor, gains: Tensor | None = None) -> Tensor:
        index = torch.arange(x.shape[-1], dtype=torch.int64) + self.noise_offset
        out = self._synthesize(x, index, gains, self._offline_subband_noise(index))
        if self.dc_pole:
            at_rest = self._blocker_state(x.shape[0], self.dc_period)
            out = dc_block(out, at_rest[0], at_rest[1], self.dc_pole, self.dc_period)[0]
        if self.comb_pole:
            at_rest = self._blocker_state(x.shape[0], self.comb_period)
            out = dc_block(out, at_rest[0], at_rest[1], self.comb_pole, self.comb_period)[0]
        return out

    def init_state(self, batch: int) -> State:
        """Each blocker's last inputs and outputs, then the noise counter (the last slot)."""
        dc = self._blocker_state(batch, self.dc_period) if self.dc_pole else []
        comb = self._blocker_state(batch, self.comb_period) if self.comb_pole else []
        return dc + comb + ([torch.zeros(1, dtype=torch.int64)] if self.noise else [])

    def stream(self, x: Tensor, state: State, i: int, gains: Tensor | None = None
               ) -> tuple[Tensor, int]:
        comb = i + (2 if self.dc_pole else 0)
        counter = comb + (2 if self.comb_pole else 0)
        if self.noise:
            index = torch.arange(x.shape[-1], dtype=torch.int64) + state[counter]
            state[counter] = state[counter] + x.shape[-1]
        else:
            index = torch.zeros(0, dtype=torch.int64)
        out = self._synthesize(x, index, gains)
        if self.dc_pole:
            out, state[i], state[i + 1] = dc_block(out, state[i], state[i + 1], self.dc_pole,
                                                   self.dc_period)
        if self.comb_pole:
            out, state[comb], state[comb + 1] = dc_block(out, state[comb], state[comb + 1],
                                                         self.comb_pole, self.comb_period)
        return out, counter + (1 if self.noise else 0)


def strip_weight_norm(model: nn.Module) -> None:
    """Fold weight-norm parametrizations into plain weights, in place."""
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
