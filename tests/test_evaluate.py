"""Metrics on constructed cases, the aligned model against torch, and the whole report for
tiny random models on a tiny set (with a broken file that must be skipped, by name)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import export_random
from neurorave import evaluate as ev
from neurorave import metrics
from neurorave.cli import main
from neurorave.descriptors import compute

RATE = 16000


def tone(seconds: float, pitch: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """A harmonic tone whose brightness and loudness move: descriptors worth following."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    partials = sum(np.sin(2 * np.pi * k * pitch * t + rng.uniform(0, 6)) / k**(1 + t)
                   for k in range(1, 9))
    return 0.2 * partials * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t))


# ---- metrics ------------------------------------------------------------------------------

def test_identical_audio_has_zero_distance():
    x = tone(0.5, 220)
    assert metrics.multiscale_stft_distance(x, x) == 0.0
    assert metrics.mel_l1(x, x, RATE) == 0.0
    assert metrics.multiscale_stft_distance(x, tone(0.5, 330)) > 1.0


def test_mel_l1_of_a_louder_copy():
    """Twice the amplitude is four times the power: L1 = 3 x the mean mel power."""
    x = tone(0.5, 220)
    mel = metrics.mel_spectrogram(x, RATE)
    assert metrics.mel_l1(x, 2 * x, RATE) == pytest.approx(3 * mel.mean(), rel=1e-9)


def test_mel_filters_cover_the_spectrum():
    filters = metrics.mel_filters(RATE, 2048, 128)
    assert filters.shape == (128, 1025)
    assert np.all(filters.max(axis=1) > 0), "no empty mel band"


def test_curve_metrics_on_constructed_curves():
    curve = np.sin(np.linspace(0, 7, 200))
    assert metrics.pearson(curve, curve) == pytest.approx(1.0)
    assert metrics.cosine_score(curve, curve) == pytest.approx(1.0)
    assert metrics.cosine_score(curve, 3 * curve + 2) == pytest.approx(1.0)
    assert metrics.cosine_score(curve, -curve) == pytest.approx(0.0)
    assert metrics.pearson(curve, -curve) == pytest.approx(-1.0)
    assert metrics.curve_l1(curve, curve + 0.25) == pytest.approx(0.25)
    assert metrics.curve_l1(curve, curve - 0.5) == pytest.approx(0.5)
    flat = np.full(200, 0.3)
    assert metrics.cosine_score(flat, curve) == pytest.approx(0.5)   # the paper's eps
    assert math.isnan(metrics.pearson(flat, curve))
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.curve_l1(curve, curve[:10])


def test_target_pool_is_the_papers_mix():
    rng = np.random.default_rng(0)
    others = np.stack([np.full(50, -0.5), np.full(50, 0.5)])
    pool = ev.target_pool(50, others, rng)
    assert pool.shape == (75, 50) and np.all(np.abs(pool) <= 1.0)
    assert np.allclose(pool[25], -0.5) and np.allclose(pool[-1], 0.5)


# ---- data and model -----------------------------------------------------------------------

def write_set(root: Path) -> Path:
    """A tiny NSynth-layout set: a test split of tones and one broken file, a train split."""
    for split, pitches in (("train", (110,)), ("test", (220, 330, 440))):
        (root / split / "audio").mkdir(parents=True)
        for i, pitch in enumerate(pitches):
            sf.write(root / split / "audio" / f"tone_{pitch}.wav", tone(1.2, pitch, seed=i),
                     RATE, subtype="PCM_16")
    (root / "test" / "audio" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    return root


def test_the_test_split_is_used(tmp_path):
    files = ev.audio_files(write_set(tmp_path))
    assert sorted(f.name for f in files) == ["broken.wav", "tone_220.wav", "tone_330.wav",
                                             "tone_440.wav"]
    assert len(ev.audio_files(tmp_path / "train")) == 1
    with pytest.raises(ValueError, match="no audio files"):
        ev.audio_files((tmp_path / "empty").mkdir() or tmp_path / "empty")


def test_aligned_model_matches_torch_offline(tmp_path):
    """encode and decode, flushed and shifted, equal the offline torch model."""
    exported = export_random(tmp_path, "tiny", causal=False)
    model = ev.AlignedModel(exported.path)
    x = tone(0.5, 220)   # 8000 samples: whole frames
    z = model.encode(x)
    curves = compute(x, RATE, model.compression, model.descriptors)
    y = model.decode(z, curves)
    with torch.no_grad():
        z_ref = exported.model.encode(torch.tensor(x, dtype=torch.float32)[None, None])[0]
        y_ref = exported.model.decode(z_ref[None], torch.tensor(
            model.normalise(curves), dtype=torch.float32)[None])[0, 0].numpy()
    inner = slice(8, z.shape[1] - 8)   # the ends see different padding
    assert z.shape == tuple(z_ref.shape)
    np.testing.assert_allclose(z[:, inner], z_ref.numpy()[:, inner], atol=1e-4)
    inner = slice(8 * model.compression, len(y) - 16 * model.compression)
    np.testing.assert_allclose(y[inner], y_ref[inner], atol=1e-3)


# ---- the report ---------------------------------------------------------------------------

def test_report_end_to_end(tmp_path, capsys):
    data = write_set(tmp_path / "set")
    models = [export_random(tmp_path, "tiny", causal=c, seed=i).path
              for i, c in enumerate((False, True))]
    def run(out: Path) -> int:
        return main(["evaluate", *map(str, models), str(data), "-o", str(out), "--windows",
                     "4", "--window-seconds", "0.5", "--batch", "2", "--renders", "1"])

    out = tmp_path / "report"
    assert run(out) == 0
    assert "broken.wav: cannot read audio" in capsys.readouterr().err

    summary = json.loads((out / "results.json").read_text())
    names = ["tiny_centred", "tiny_causal"]
    assert list(summary["models"]) == names and summary["windows"] == 4
    assert summary["skipped"][0].startswith(str(data / "test" / "audio" / "broken.wav"))
    for result in summary["models"].values():
        recon = result["reconstruction"]
        assert recon["multiscale_stft"] > 0 and recon["mel_l1"] > 0
        records = result["control"]["records"]
        assert {r["replaced"] for r in records} == {1, 2, 3, 4}
        assert all(0 <= r["cosine"] <= 1 and r["l1"] >= 0 for r in records)
        for f in result["files"]:
            assert (out / f).stat().st_size > 1000, f
    report = (out / "report.md").read_text()
    for heading in ("## Reconstruction", "## Control: correlation", "## Control: L1"):
        assert heading in report
    assert all(f"| {n} |" in report for n in names)

    again = tmp_path / "again"   # the same seed gives the same numbers
    assert run(again) == 0
    assert json.loads((again / "results.json").read_text())["models"] == summary["models"]
