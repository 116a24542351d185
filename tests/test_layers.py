"""Layer properties that the parity tests cannot see (they compare two runs of one layer)."""

import pytest
import torch
from neurorave.config import TrainConfig, get_config
from neurorave.nn.layers import ConvTranspose, DelayTracker, strip_weight_norm


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
