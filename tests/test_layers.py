"""Layer properties that the parity tests cannot see (they compare two runs of one layer)."""

import math

import pytest
import torch
from conftest import SHIPPED_BLOCKERS
from neurorave.config import CONFIGS, TrainConfig, get_config
from neurorave.nn.layers import (
    ConvTranspose,
    DelayTracker,
    dc_block,
    dc_block_span,
    strip_weight_norm,
)
from neurorave.nn.model import NeuroRave


def _ripple(layer: ConvTranspose, stride: int) -> float:
    """How much a constant input comes out varying within each period of `stride`,
    relative to its level (the first and last frames, the edges, left out)."""
    with torch.no_grad():
        steady = layer(torch.ones(1, 6, 24))[..., 2 * stride:-2 * stride]
    return (steady.std(dim=-1) / steady.abs().mean(dim=-1)).max().item()


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "centred"])
def test_a_held_upsampling_kernel_plays_a_steady_input_steadily(causal):
    stride = 4
    torch.manual_seed(0)
    free = ConvTranspose(DelayTracker(causal), 6, 5, 2 * stride, stride)
    torch.manual_seed(0)
    held = ConvTranspose(DelayTracker(causal), 6, 5, 2 * stride, stride, hold=True)
    assert _ripple(free, stride) > 0.05, "a free kernel ripples at the frame rate"
    assert _ripple(held, stride) < 1e-5


def test_a_held_kernel_folds_into_the_plain_kernel_that_it_equals():
    torch.manual_seed(0)
    layer = ConvTranspose(DelayTracker(True), 6, 5, 8, 4, hold=True)
    signal = torch.randn(2, 6, 30)
    with torch.no_grad():
        before = layer(signal)
        strip_weight_norm(layer)
        after = layer(signal)
    assert layer.conv.weight.shape == (6, 5, 8)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)


def test_a_held_kernel_must_span_two_strides():
    with pytest.raises(ValueError, match="two strides"):
        ConvTranspose(DelayTracker(True), 6, 5, 12, 4, hold=True)


def test_a_run_holds_its_kernels_when_asked_and_its_record_says_so():
    held = TrainConfig(config="tiny", held_upsampling=True)
    assert TrainConfig.from_dict(held.to_dict()).model_config().held_upsampling
    assert get_config("tiny", held_upsampling=True).to_dict()["held_upsampling"]
    older_run = TrainConfig(config="tiny").to_dict()
    del older_run["held_upsampling"]  # a train.json written before the option
    assert not TrainConfig.from_dict(older_run).model_config().held_upsampling


@pytest.mark.parametrize("period", [1, 16])
def test_the_dc_blocker_is_the_one_pole_recurrence_in_any_chunks_and_learns(period):
    """dc_block's closed form against y[n] = g (x[n] - x[n-P]) + pole y[n-P], run sample
    by sample (g = 1 for P = 1, (1 + pole) / 2 for the comb); a pole of 0.5 makes its span
    865 steps, so 1900 steps on each phase cross three spans."""
    pole, gain = 0.5, 1.0 if period == 1 else 0.75
    assert dc_block_span(pole) == 865
    x = torch.randn(2, 3, 1900 * period) + 0.7
    expected = torch.zeros_like(x, dtype=torch.float64)
    last_in = torch.zeros(2, 3, period, dtype=torch.float64)
    last_out = torch.zeros_like(last_in)
    for n in range(x.shape[-1]):
        p = n % period
        last_out[..., p] = gain * (x[..., n].double() - last_in[..., p]) + pole * last_out[..., p]
        last_in[..., p] = x[..., n].double()
        expected[..., n] = last_out[..., p]
    at_rest = torch.zeros(2, 3, period, dtype=torch.float64)
    whole = dc_block(x, at_rest, at_rest, pole, period)[0]
    assert torch.allclose(whole.double(), expected, atol=1e-6, rtol=0)
    pieces, state = [], (at_rest, at_rest)
    for chunk in torch.split(x, [period * n for n in (1, 999, 600, 300)], dim=-1):
        y, *state = dc_block(chunk, *state, pole, period)
        pieces.append(y)
    assert torch.equal(torch.cat(pieces, dim=-1), whole)
    leaf = x.clone().requires_grad_(True)
    dc_block(leaf, at_rest, at_rest, pole, period)[0].sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()
    if period > 1:
        with pytest.raises(ValueError, match="takes whole periods, got 17 samples"):
            dc_block(x[..., :17], at_rest, at_rest, pole, period)


@pytest.mark.parametrize("preset", list(CONFIGS))
def test_every_presets_filter_bank_gives_back_a_bright_tone(preset):
    """Analysis then synthesis of a 110 Hz tone with partials up to Nyquist, lined up at the
    bank's delay, keeps it within 40 dB: the model's own output can be no cleaner than its
    bank. (4 taps per band, `lowlatency`'s first bank, kept 17.5 dB on the test notes.)"""
    model = NeuroRave(get_config(preset)).eval()
    rate = model.config.sample_rate
    t = torch.arange(rate // 2) / rate
    tone = sum(torch.sin(2 * math.pi * 110 * k * t) / k for k in range(1, rate // 220))
    with torch.no_grad():
        out = model.pqmf_synthesis(model.pqmf_analysis(tone[None, None]))[0, 0]
    taps = model.config.n_bands * model.config.pqmf_taps_per_band
    inner = slice(2 * taps, len(tone) - 4 * taps)
    kept = max(float(tone[inner].square().sum() /
                     (out[lag:][inner] - tone[inner]).square().sum())
               for lag in range(2 * taps))
    assert 10 * math.log10(kept) > 40


def test_a_head_with_the_dc_blocker_plays_no_tone_at_the_band_edge():
    """A lopsided wave (a band with a mean) plays 44100 / 8 Hz out of the synthesis
    (test_losses); the presets' head takes it out, and a sine in the band stays."""
    model = NeuroRave(get_config("lowlatency")).eval()
    head = model.decoder.layers[-1]
    assert head.dc_pole == pytest.approx(math.exp(-2 * math.pi * 10 / 5512.5))
    n = 16384
    wave = torch.full((1, 8, n), 0.5)                      # tanh(0.5): a mean of 0.46
    wave[:, 0] += torch.sin(2 * math.pi * 500 / 5512.5 * torch.arange(n))  # 500 Hz in band 0
    amplitude = torch.full((1, 8, n), 4.0)
    noise_off = torch.full((1, 8, n), -40.0)
    with torch.no_grad():
        bands = head(torch.cat([wave, amplitude, noise_off], dim=1))
        out = model.pqmf_synthesis(bands)[0, 0, n:]         # the second half of 8 n
    spectrum = torch.fft.rfft(out * torch.hann_window(len(out))).abs()

    def near(hz: float) -> float:
        b = round(hz * len(out) / 44100)
        return float(spectrum[b - 2:b + 3].max())
    assert near(5512.5) < 1e-3 * near(500)


def test_the_frame_comb_takes_out_what_the_decoder_repeats_each_frame():
    """A pattern each band repeats every frame (16 band samples: the upsampling's phase
    pattern, rectified) plays as lines at every multiple of the frame rate, 44100 / 128
    Hz; the shipped default's blockers (every 4 band samples at 10 Hz, then every frame at
    3 Hz) take them out, and a sine between two of them keeps its level within 0.1 dB."""
    n, frame = 16384, 16
    pattern = 0.3 * torch.rand(8, frame, generator=torch.Generator().manual_seed(0))
    wave = pattern.repeat(1, n // frame)[None].clone()
    wave[:, 0] += 0.5 * torch.sin(2 * math.pi * 500 / 5512.5 * torch.arange(n))
    head_in = torch.cat([wave, torch.full((1, 8, n), 4.0), torch.full((1, 8, n), -40.0)], 1)
    spectra = []
    for blockers in ({}, SHIPPED_BLOCKERS):
        model = NeuroRave(get_config("lowlatency", **blockers)).eval()
        head = model.decoder.layers[-1]
        assert (head.dc_period, head.comb_period, head.comb_pole > 0) == (
            (4, frame, True) if blockers else (1, frame, False))
        with torch.no_grad():
            out = model.pqmf_synthesis(head(head_in))[0, 0, n:]
        spectra.append(torch.fft.rfft(out * torch.hann_window(len(out))).abs())

    def near(spectrum: torch.Tensor, hz: float) -> float:
        b = round(hz * len(out) / 44100)
        return float(spectrum[b - 2:b + 3].max())
    lines = [[near(s, k * 44100 / 128) for k in range(1, 64)] for s in spectra]
    assert max(lines[0]) > 0.1 * near(spectra[0], 500), "the pattern must play as lines"
    assert max(lines[1]) < 1e-3 * near(spectra[1], 500)
    assert 20 * math.log10(near(spectra[1], 500) / near(spectra[0], 500)) == pytest.approx(
        0, abs=0.1)
    with pytest.raises(ValueError, match=r"band_comb_cutoff_hz must lie in \[0, 86.1328\) Hz"):
        get_config("lowlatency", band_comb_cutoff_hz=100)
    with pytest.raises(ValueError, match="band_dc_period must divide a frame's 16 band samples"):
        get_config("lowlatency", band_dc_period=3)


def test_a_run_keeps_the_dc_blocker_it_started_with():
    """A new run writes the preset's cutoff and filter bank into its record; a record from
    before the blocker reads as none, and a `lowlatency` one from before its longer bank as
    4 taps per band, so that such a run resumes with the model it trained."""
    new = TrainConfig(config="tiny").resolved()
    assert new.band_dc_cutoff_hz == 10.0 and new.model_config().band_dc_pole > 0
    before = {k: v for k, v in new.to_dict().items() if k != "band_dc_cutoff_hz"}
    assert TrainConfig.from_stored(before).model_config().band_dc_pole == 0.0
    assert TrainConfig.from_stored(new.to_dict()) == new
    ll = TrainConfig(config="lowlatency").resolved()
    assert ll.pqmf_taps_per_band == 8
    before = {k: v for k, v in ll.to_dict().items() if k != "pqmf_taps_per_band"}
    assert TrainConfig.from_stored(before).model_config().pqmf_taps_per_band == 4
    assert TrainConfig.from_stored(ll.to_dict()) == ll
    combs = TrainConfig(config="tiny", band_dc_period=2, band_comb_cutoff_hz=3).model_config()
    assert combs.band_dc_period == 2 and combs.band_comb_period == 4 and combs.band_comb_pole


def _band_noise_spectrum(gains: torch.Tensor | None, subbands: int, frames: int = 512
                         ) -> torch.Tensor:
    """The power spectrum (rfft bins) of band 0's noise under constant sub-band `gains`,
    through the head of a causal `tiny` model (4 band samples a frame); white band noise
    where `subbands` is 1."""
    head = NeuroRave(get_config("tiny", causal=True, noise_subbands=subbands)).decoder.layers[-1]
    frame = head.frame
    x = torch.zeros(1, 3 * head.bands, frames * frame)
    x[:, 2 * head.bands:] = 50.0                       # the noise at full level, no wave
    x[:, head.bands:2 * head.bands] = -50.0
    shaped = None if gains is None else \
        gains.reshape(1, -1, 1).expand(1, head.bands * subbands, frames)
    head.dc_pole = head.comb_pole = 0.0
    noise = head(x, shaped)[0, 0]
    segments = noise.reshape(-1, 256) * torch.hann_window(256)
    return torch.fft.rfft(segments, dim=-1).abs().square().mean(0)


def test_sub_band_noise_at_equal_gains_is_the_white_band_and_one_gain_shapes_it():
    """At gains of 0 (2 sigmoid = 1) the sub-bands add up to the white band's power and
    spectrum; with one sub-band's gain up and the others down, 90 % of the band's noise
    lies within that sub-band's span and its neighbours, 70 % within its own (measured:
    78-84 %, the rest in the neighbours: 8 taps per sub-band)."""
    subbands = 4
    flat = _band_noise_spectrum(torch.zeros(subbands * 4), subbands)
    white = _band_noise_spectrum(None, 1)
    assert flat.sum().item() == pytest.approx(white.sum().item(), rel=0.05)
    quarters = flat[:128].reshape(subbands, -1).sum(-1)
    assert (quarters.max() / quarters.min()).item() < 1.3, "equal gains play a flat band"
    for k in range(subbands):
        gains = torch.full((4, subbands), -12.0)
        gains[:, k] = 6.0
        spectrum = _band_noise_spectrum(gains, subbands)[:128]
        span = spectrum.reshape(subbands, -1).sum(-1)
        own, near = span[k] / span.sum(), span[max(0, k - 1):k + 2].sum() / span.sum()
        assert own.item() > 0.7 and near.item() > 0.9, f"sub-band {k}: {span}"


def test_sub_band_noise_needs_a_causal_model_with_noise():
    for fields in ({"causal": False}, {"causal": True, "noise": False}):
        with pytest.raises(ValueError, match="noise_subbands must be 1, or more in a causal "):
            get_config("tiny", noise_subbands=4, **fields)
