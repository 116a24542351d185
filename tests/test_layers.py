"""Layer properties that the parity tests cannot see (they compare two runs of one layer)."""

import math

import pytest
import torch
from neurorave.config import TrainConfig, get_config
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


def test_the_dc_blocker_is_the_one_pole_recurrence_in_any_chunks_and_learns():
    """dc_block's closed form against y[n] = x[n] - x[n-1] + pole y[n-1], run sample by
    sample; a pole of 0.5 makes its span 865 samples, so 3000 cross three spans."""
    pole = 0.5
    assert dc_block_span(pole) == 865
    x = torch.randn(2, 3, 3000) + 0.7
    expected, last_in, last_out = torch.zeros_like(x, dtype=torch.float64), 0.0, 0.0
    for n in range(x.shape[-1]):
        last_out = x[..., n].double() - last_in + pole * last_out
        last_in = x[..., n].double()
        expected[..., n] = last_out
    at_rest = torch.zeros(2, 3, 1, dtype=torch.float64)
    whole = dc_block(x, at_rest, at_rest, pole)[0]
    assert torch.allclose(whole.double(), expected, atol=1e-6, rtol=0)
    pieces, state = [], (at_rest, at_rest)
    for chunk in torch.split(x, [1, 999, 1700, 300], dim=-1):
        y, *state = dc_block(chunk, *state, pole)
        pieces.append(y)
    assert torch.equal(torch.cat(pieces, dim=-1), whole)
    leaf = x.clone().requires_grad_(True)
    dc_block(leaf, at_rest, at_rest, pole)[0].sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()


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


def test_a_run_keeps_the_dc_blocker_it_started_with():
    """A new run writes the preset's cutoff into its record; a record from before the
    blocker reads as none, so that such a run resumes with the model it trained."""
    new = TrainConfig(config="tiny").resolved()
    assert new.band_dc_cutoff_hz == 10.0 and new.model_config().band_dc_pole > 0
    before = {k: v for k, v in new.to_dict().items() if k != "band_dc_cutoff_hz"}
    assert TrainConfig.from_stored(before).model_config().band_dc_pole == 0.0
    assert TrainConfig.from_stored(new.to_dict()) == new
