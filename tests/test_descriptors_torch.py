"""The differentiable torch descriptors against the numpy reference: values on real audio
(fluidsynth notes, espeak-ng speech), silence, finite gradients, and gradients that point
the right way."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audio_fixtures import load_mono, render_gm_notes, render_speech
from neurorave import descriptors as D
from neurorave.train import descriptors_torch as DT

NAMES = list(D.DESCRIPTOR_NAMES)
ROW = {name: i for i, name in enumerate(NAMES)}
SMOOTH = [n for n in NAMES if n != "rolloff"]   # rolloff is a step: no gradient
# Relative tolerance, and the absolute floor (in each descriptor's own unit: dB, Hz, acum,
# ratio) under which a value counts as 0; the analysis runs in float64, so both are loose.
RTOL, ATOL = 1e-4, 1e-6
SETTINGS = [(16000, 16), (44100, 512)]


@pytest.fixture(scope="session")
def real_audio(tmp_path_factory) -> dict[tuple[str, int], np.ndarray]:
    """GM notes and speech at 16 and 44.1 kHz, float64 mono."""
    folder = tmp_path_factory.mktemp("torch_audio")
    out = {}
    for sr in (16000, 44100):
        out["notes", sr] = load_mono(render_gm_notes(folder, sr), sr)
        out["speech", sr] = load_mono(render_speech(folder, sr), sr)
    return out


def excerpt(x: np.ndarray, sr: int, c: int) -> np.ndarray:
    """At a small compression the frames are many: 2.5 s from the middle is plenty."""
    if c >= 256:
        return x
    start = len(x) // 2 - int(1.25 * sr)
    return x[start: start + int(2.5 * sr)]


def assert_matches_reference(ours: np.ndarray, reference: np.ndarray, label: str) -> None:
    for name, row in ROW.items():
        np.testing.assert_allclose(ours[..., row, :], reference[..., row, :], rtol=RTOL,
                                   atol=ATOL, err_msg=f"{name}: {label}")


# ---- values ---------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["notes", "speech"])
@pytest.mark.parametrize(("sr", "c"), SETTINGS)
def test_equals_reference_on_real_audio(real_audio, source, sr, c):
    x = excerpt(real_audio[source, sr], sr, c)
    reference = D.compute(x, sr, c, NAMES)
    sounding = reference[ROW["rms"]] > -60.0
    assert sounding.mean() > 0.3, "too few sounding frames to compare"
    ours = DT.compute(torch.from_numpy(x)[None], sr, c, NAMES)
    assert ours.shape == (1, len(NAMES), len(x) // c) and ours.dtype == torch.float64
    assert_matches_reference(ours[0].numpy(), reference, f"{source}, {sr} Hz, C = {c}")
    # float32 audio (as training passes it) is analysed like the same samples in numpy
    x32 = x.astype(np.float32)
    ours32 = DT.compute(torch.from_numpy(x32)[None, None], sr, c, NAMES)
    assert ours32.dtype == torch.float32
    assert_matches_reference(ours32[0].double().numpy(), D.compute(x32, sr, c, NAMES),
                             f"float32 {source}, {sr} Hz, C = {c}")


def test_batch_rows_and_names(real_audio):
    sr, c = 44100, 512
    notes, speech = real_audio["notes", sr], real_audio["speech", sr]
    length = min(len(notes), len(speech), 3 * sr)
    batch = np.stack([notes[:length], speech[:length], np.zeros(length)])
    picked = ["boominess", "rms", "rolloff"]
    ours = DT.compute(torch.from_numpy(batch), sr, c, picked).numpy()
    assert ours.shape == (3, 3, length // c)
    assert_matches_reference_rows(ours, D.compute(batch, sr, c, picked))
    with pytest.raises(ValueError, match="loudness"):
        DT.compute(torch.zeros(1, 4 * c), sr, c, ["rms", "loudness"])
    with pytest.raises(ValueError, match="shape"):
        DT.compute(torch.zeros(2, 2, 4 * c), sr, c, ["rms"])
    assert DT.compute(torch.zeros(2, c - 1), sr, c, picked).shape == (2, 3, 0)


def test_a_frame_step_analyses_every_kth_frame_of_the_reference(real_audio):
    """frame_step k gives frames k - 1, 2k - 1, ... exactly as the reference does."""
    sr, c = 16000, 16
    step = DT.analysis_step(c)
    assert step == 16 and DT.analysis_step(512) == 1
    x = real_audio["notes", sr][: sr]
    ours = DT.compute(torch.from_numpy(x)[None], sr, c, NAMES, frame_step=step)[0].numpy()
    reference = D.compute(x, sr, c, NAMES)[:, step - 1::step]
    assert ours.shape == (len(NAMES), len(x) // c // step)
    assert_matches_reference_rows(ours, reference[:, :ours.shape[-1]])


def assert_matches_reference_rows(ours: np.ndarray, reference: np.ndarray) -> None:
    np.testing.assert_allclose(ours, reference, rtol=RTOL, atol=ATOL)


def test_silence_and_half_silence_give_the_reference_floors(real_audio):
    sr, c = 44100, 512
    floors = np.array([D.SILENT_VALUES[n] for n in NAMES])
    n_frames = 40
    quiet = 1e-15 * np.random.default_rng(0).standard_normal(n_frames * c)
    for x in (np.zeros(n_frames * c), quiet):
        ours = DT.compute(torch.from_numpy(x)[None], sr, c, NAMES)[0].numpy()
        np.testing.assert_allclose(ours, np.repeat(floors[:, None], n_frames, axis=1),
                                   atol=1e-9)
    speech = real_audio["speech", sr]
    half = np.concatenate([np.zeros(n_frames * c), speech[: n_frames * c]])
    ours = DT.compute(torch.from_numpy(half)[None], sr, c, NAMES)[0].numpy()
    np.testing.assert_allclose(ours[:, :n_frames], np.repeat(floors[:, None], n_frames, 1),
                               atol=1e-9)
    assert_matches_reference(ours, D.compute(half, sr, c, NAMES), "half silent")


def test_non_finite_samples_count_as_zero():
    x = torch.randn(1, 20 * 512, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    broken = x.clone()
    broken[0, [5, 3000, 7000]] = torch.tensor([float("nan"), float("inf"), -float("inf")],
                                              dtype=torch.float64)
    fixed = torch.where(torch.isfinite(broken), broken, 0.0)
    torch.testing.assert_close(DT.compute(broken, 16000, 512, NAMES),
                               DT.compute(fixed, 16000, 512, NAMES), rtol=0, atol=0)


def test_normalise_follows_the_reference():
    values = torch.tensor([[[-60.0, -30.0, 0.0]], [[-100.0, -100.0, -99.9999]]])
    ranges = torch.tensor([[-60.0, 0.0]])
    np.testing.assert_allclose(DT.normalise(values, ranges).numpy(),
                               D.normalise(values.numpy(), (-60.0, 0.0)), rtol=1e-6)
    degenerate = np.array([[-100.0, -100.0], [0.0, 1e-12]])   # widened, as _widen does
    v = torch.tensor([[-100.0, -100.00005, 3.0], [0.0, 1e-7, -1e-6]], dtype=torch.float64)
    ours = DT.normalise(v, torch.from_numpy(degenerate)).numpy()
    expected = np.stack([D.normalise(v[i].numpy(), degenerate[i]) for i in range(2)])
    np.testing.assert_allclose(ours, expected, rtol=1e-9)
    back = np.stack([D.denormalise(ours[i], degenerate[i]) for i in range(2)])
    np.testing.assert_allclose(DT.denormalise(torch.from_numpy(ours), torch.from_numpy(degenerate)),
                               back, rtol=1e-12)
    with pytest.raises(ValueError, match="ranges"):
        DT.normalise(v, torch.zeros(3, 2))


# ---- gradients ---------------------------------------------------------------------------------

def gradient_of_every_descriptor(x: np.ndarray, sr: int, c: int,
                                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """d(sum of every smooth descriptor, each scaled to about 1)/d audio."""
    audio = torch.tensor(x, dtype=dtype)[None].requires_grad_(True)
    values = DT.compute(audio, sr, c, SMOOTH)
    scale = torch.tensor([60.0, 5000.0, 3000.0, 1.0, 2.0, 1.0], dtype=dtype)[:, None]
    (values / scale).sum().backward()
    return audio.grad[0]


@pytest.mark.parametrize(("sr", "c"), SETTINGS)
def test_gradients_are_finite(real_audio, sr, c):
    rng = np.random.default_rng(1)
    length = 24 * 1024
    speech = excerpt(real_audio["speech", sr], sr, c)[:length]
    cases = {
        "speech": speech,
        "silence": np.zeros(length),
        "1e-6 noise": 1e-6 * rng.standard_normal(length),
        "1e-6 sine": 1e-6 * np.sin(2 * np.pi * 440.0 / sr * np.arange(length)),
        "half silent": np.concatenate([np.zeros(length // 2), speech[: length // 2]]),
        "above every band": np.sin(2 * np.pi * 18000.0 / 44100 * np.arange(length)),
    }
    for label, x in cases.items():
        for dtype in (torch.float32, torch.float64):
            grad = gradient_of_every_descriptor(x, sr, c, dtype)
            assert torch.all(torch.isfinite(grad)), f"{label}, {dtype}"
            if label in ("speech", "1e-6 noise"):
                assert grad.abs().max() > 0, f"{label}: no gradient"
    # a single descriptor's gradient, one at a time, silence included
    for name in SMOOTH:
        audio = torch.zeros(1, 8 * c, requires_grad=True)
        DT.compute(audio, sr, c, [name]).sum().backward()
        assert torch.all(torch.isfinite(audio.grad)), name


def test_gradients_are_the_derivatives():
    """gradcheck (finite differences, float64) on noise, far from every floor."""
    x = 0.1 * torch.randn(1, 1536, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: DT.compute(a, 16000, 512, SMOOTH), (x,),
                                    eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)


def test_raising_a_sines_frequency_raises_its_centroid():
    sr, c = 16000, 512
    t = torch.arange(16 * c, dtype=torch.float64) / sr
    for start in (300.0, 1000.0, 3000.0):
        freq = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        audio = 0.5 * torch.sin(2 * torch.pi * freq * t)[None]
        centroid = DT.compute(audio, sr, c, ["centroid"])[0, 0, 2:].mean()  # whole windows
        centroid.backward()
        # a sine's centroid is its frequency: d centroid / d freq close to 1
        assert 0.5 < freq.grad.item() < 1.5, (start, freq.grad.item())


def test_optimising_noise_moves_its_centroid_to_a_target():
    sr, c, target = 16000, 512, 2000.0
    gen = torch.Generator().manual_seed(3)
    audio = (0.3 * torch.randn(1, 12 * c, generator=gen)).requires_grad_(True)
    optimiser = torch.optim.Adam([audio], lr=2e-2)

    def centroid() -> torch.Tensor:
        return DT.compute(audio, sr, c, ["centroid"])[0, 0, 2:]

    start = centroid().mean().item()   # white noise: about sr / 4
    assert start > 3500.0
    for _ in range(40):
        optimiser.zero_grad()
        loss = ((centroid() - target) / 1000.0).square().mean()
        loss.backward()
        optimiser.step()
    reached = D.compute(audio.detach().double().numpy()[0], sr, c, ["centroid"])[0, 2:]
    # the reference agrees the noise became darker, most of the way to the target
    assert abs(reached.mean() - target) < 0.1 * abs(start - target), (start, reached.mean())


def test_boominess_gradient_asks_for_more_bass():
    sr, c = 44100, 512
    t = torch.arange(24 * c, dtype=torch.float64) / sr
    bass = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    audio = (0.1 * torch.sin(2 * torch.pi * 2000.0 * t) + bass * torch.sin(2 * torch.pi * 80 * t))
    values = DT.compute(audio[None], sr, c, ["boominess", "sharpness"])[0, :, 2:].mean(-1)
    boom_grad, = torch.autograd.grad(values[0], bass, retain_graph=True)
    sharp_grad, = torch.autograd.grad(values[1], bass)
    assert boom_grad > 0 and sharp_grad < 0   # bass: more boom, less sharp
