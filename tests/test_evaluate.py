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
from audio_fixtures import load_mono, render_gm_notes, render_speech
from conftest import export_random
from neurorave.cli import main
from neurorave.descriptors import compute, normalise
from neurorave.eval import evaluate as ev
from neurorave.eval import metrics
from neurorave.train.augment import paired_transform
from warm_up import warm_up_frames

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


# ---- fader sweeps and paired transfer ------------------------------------------------------

@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """espeak-ng speech at RATE: an input with its own dynamics, pauses included."""
    return load_mono(render_speech(tmp_path_factory.mktemp("speech"), RATE), RATE)


def up_and_down(frames: int) -> np.ndarray:
    ramp = np.linspace(-1.0, 1.0, frames)
    return np.stack([ramp, ramp[::-1]])


def own_curve(audio: np.ndarray, name: str, value_range: tuple[float, float]) -> np.ndarray:
    """What an output that ignores the fader does: the input's own curve, normalised."""
    return normalise(compute(audio, RATE, C_SWEEP, [name])[0], value_range)


C_SWEEP = 256


def test_spearman():
    assert metrics.spearman(np.array([3.0, 1.0, 1.0, 2.0]), np.array([4.0, 0.0, 0.0, 1.0])) \
        == pytest.approx(1.0)                                         # ties share a rank
    x = np.linspace(-1.0, 1.0, 50)
    assert metrics.spearman(x, np.exp(4 * x)) == pytest.approx(1.0)   # in order, not linear
    assert metrics.spearman(x, -(x**3)) == pytest.approx(-1.0)
    assert math.isnan(metrics.spearman(x, np.zeros(50)))


def test_sweep_scores_of_ignoring_and_following_outputs(speech):
    window = speech[2 * RATE: 3 * RATE]   # 1 s, 62 frames, across the comma's pause
    own = own_curve(window, "centroid", (300.0, 3000.0))
    sounding = compute(window, RATE, C_SWEEP, ["rms"])[0] >= -60.0
    assert 0.3 < sounding.mean() < 1.0, "the window should hold speech and a pause"
    requested = up_and_down(own.size)
    plays = np.broadcast_to(sounding, requested.shape)

    def scores(achieved: np.ndarray) -> dict:
        return metrics.fader_sweep_scores(requested, achieved, plays)

    # the output does what the input did, whatever the fader: both ends of the ramp see
    # the same frames, so its own movement cancels
    ignored = scores(np.stack([own, own]))
    assert abs(ignored["coverage"]) < 1e-6 and abs(ignored["spearman"]) < 1e-6
    assert scores(np.zeros_like(requested)) == {"spearman": 0.0, "coverage": 0.0,
                                                "loudness_change_db": None,
                                                "flatness_rise_db": None}
    obeyed = scores(requested)
    assert obeyed["coverage"] == pytest.approx(1.0) and obeyed["spearman"] == pytest.approx(1.0)
    # follows half way, on top of its own curve: coverage sees exactly the half; the
    # order is blurred by the input's own movement, so Spearman is lower but positive
    half = scores(0.5 * requested + own)
    assert half["coverage"] == pytest.approx(0.5, abs=1e-6) and 0.2 < half["spearman"] < 0.9
    reversed_ = scores(-requested)
    assert reversed_["coverage"] == pytest.approx(-1.0) and reversed_["spearman"] < -0.99
    assert metrics.fader_sweep_scores(requested, requested, np.zeros_like(plays)) is None


def test_loudness_change(tmp_path):
    # a sine sweep at constant amplitude: constant loudness, moving spectrum
    t = np.arange(2 * RATE) / RATE
    chirp = 0.5 * np.sin(2 * np.pi * (200.0 * t + 1900.0 * t**2 / 2.0))
    level = compute(chirp, RATE, C_SWEEP, ["rms"])[0][4:]
    assert metrics.loudness_change_db(level, smooth_frames=6) < 0.05
    # real notes: relative to themselves nothing changes; faded by 12 dB, 12 dB change
    notes = load_mono(render_gm_notes(tmp_path, RATE), RATE)[: 2 * RATE]
    fade = 10.0 ** (np.linspace(0.0, -12.0, notes.size) / 20.0)
    own, faded = (compute(x, RATE, C_SWEEP, ["rms"])[0] for x in (notes, notes * fade))
    sounding = own > -60.0
    assert metrics.loudness_change_db(own[sounding], own[sounding], 6) == 0.0
    change = metrics.loudness_change_db(faded[sounding], own[sounding], 6)
    assert 11.0 < change < 12.5, change
    assert 11.5 < metrics.loudness_change_db(faded[sounding], own[sounding]) < 12.5


def test_flatness_rise_tells_noise_from_partials(tmp_path):
    """Brightness bought with noise (hiss rising with the fader) reads tens of dB at the
    top of the sweep; driven harder into saturation (partials), a few; a gain, nothing."""
    notes = load_mono(render_gm_notes(tmp_path, RATE), RATE)[: 2 * RATE]
    rising = np.linspace(0.0, 1.0, notes.size)
    noisy = notes + rising * 0.3 * notes.std() * np.random.default_rng(0).standard_normal(
        notes.size)
    drive, peak = 1.0 + 6.0 * rising, np.abs(notes).max()
    saturated = np.tanh(drive * notes / peak) / np.tanh(drive) * peak

    def rise(played: np.ndarray) -> float:
        own, out = (compute(x, RATE, C_SWEEP, ["flatness"])[0] for x in (notes, played))
        return metrics.flatness_rise_db(np.linspace(-1.0, 1.0, own.size), out, own)

    assert rise(notes) == 0.0 and abs(rise(3.0 * notes)) < 0.1
    assert rise(noisy) > 20.0 and 1.0 < rise(saturated) < 10.0
    assert math.isnan(metrics.flatness_rise_db(np.zeros(4), np.full(4, np.nan), np.ones(4)))


class GainModel:
    """An AlignedModel stand-in whose latent is the audio itself: decode brings each
    frame's level to the rms curve asked (follow=True), or returns the audio untouched."""

    sample_rate, compression, warm_frames = RATE, C_SWEEP, 4
    descriptors = ["rms", "centroid"]
    ranges = [(-40.0, -10.0), (300.0, 3000.0)]

    def __init__(self, follow: bool):
        self.follow = follow

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        return compute(audio, self.sample_rate, self.compression, self.descriptors)

    def decode(self, z: np.ndarray, curves: np.ndarray) -> np.ndarray:
        if not self.follow:
            return z.copy()
        gain_db = np.minimum(curves[0] - self.analyse(z)[0], 40.0)   # pauses stay quiet
        return z * np.repeat(10.0 ** (gain_db / 20.0), self.compression)


def test_fader_sweep_on_speech(speech, tmp_path):
    length = 56 * C_SWEEP   # 0.9 s: four windows in the 3.9 s phrase
    windows = np.stack([speech[s: s + length] for s in range(0, 4 * length, length)])
    for follow in (True, False):
        model = GainModel(follow)
        played = ev.Played(list(windows), model.analyse(windows), windows.copy(),
                           model.analyse(windows)[:, 0])
        rms, centroid = (ev.fader_sweep(model, played, row, range(4)) for row in (0, 1))
        assert rms.achieved.shape == (4, 2, windows.shape[1] // C_SWEEP)
        assert rms.scores["windows"] == 4 and rms.scores["loudness_change_db"] is None
        if follow:   # the rms fader is obeyed
            assert 0.8 < rms.scores["coverage"] < 1.2 and rms.scores["spearman"] > 0.8
        else:        # nothing is: about 0, whatever the speech does by itself
            assert abs(rms.scores["coverage"]) < 1e-6 and abs(rms.scores["spearman"]) < 1e-6
            assert centroid.scores["loudness_change_db"] == 0.0
            assert centroid.scores["flatness_rise_db"] == 0.0
        assert abs(centroid.scores["coverage"]) < 0.1   # the gain leaves brightness alone
    for f in ev.write_sweep_plots(tmp_path, "gain", [rms, centroid]):
        assert (tmp_path / f).stat().st_size > 1000, f


def test_level_span_tells_a_fading_note_from_a_steady_one():
    frames = np.arange(200)
    assert metrics.level_span_db(np.full(200, -20.0)) == 0.0
    fading = -20.0 - 30.0 * frames / 199            # 30 dB down over the window
    assert metrics.level_span_db(fading) == pytest.approx(27.0, abs=0.2)  # p95 - p5
    onset = np.concatenate([[-90.0, -90.0], np.full(198, -20.0)])   # two frames: no span
    assert metrics.level_span_db(onset) == 0.0
    assert math.isnan(metrics.level_span_db(np.array([])))


def test_sweeps_are_also_summarised_over_steady_and_fading_notes():
    """Two steady notes and one fading 30 dB: each window's row carries its input's level
    span, and the summary keeps their scores apart."""
    length = 64 * C_SWEEP
    t = np.arange(length) / RATE

    def steady(pitch: float) -> np.ndarray:
        return 0.1 * sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 6))

    decay = 10 ** (-30 / 20 * t / t[-1])
    windows = np.stack([steady(220.0), steady(330.0), steady(220.0) * decay])
    model = GainModel(follow=True)
    played = ev.Played(list(windows), model.analyse(windows), windows.copy(),
                       model.analyse(windows)[:, 0])
    rms = ev.fader_sweep(model, played, 0, range(3))
    spans = [row["level_span_db"] for row in rms.by_window]
    assert spans[0] < 1 and spans[1] < 1 and spans[2] > 20, spans
    split = ev.summarise_sweeps([rms], ["a", "b", "c"])["by_level"]["rms"]
    assert split["steady"]["windows"] == 2 and split["fading"]["windows"] == 1
    assert split["fading"]["spearman"] == pytest.approx(rms.by_window[2]["spearman"])


class HissModel(GainModel):
    """GainModel that plays a fixed hiss at -50 dBFS wherever its input is silent, as a
    decoder plays silence's latent whatever the rms fader asks."""

    def decode(self, z: np.ndarray, curves: np.ndarray) -> np.ndarray:
        silent = np.repeat(self.analyse(z)[0] < -60.0, self.compression)
        hiss = 10 ** (-50 / 20) * np.random.default_rng(0).standard_normal(len(z))
        return np.where(silent, hiss, super().decode(z, curves))


def test_a_sweep_is_scored_where_the_note_sounds():
    """Windows whose note ends halfway: the half after it is not the fader's doing."""
    frames = 64
    note = tone(frames * C_SWEEP / RATE / 2, 220.0)
    windows = np.stack([np.concatenate([tone(len(note) / RATE, 220.0, seed=s),
                                        np.zeros(len(note))]) for s in range(3)])
    model = HissModel(follow=True)
    level = model.analyse(windows)[:, 0]
    played = ev.Played(list(windows), model.analyse(windows), windows.copy(), level)
    rms = ev.fader_sweep(model, played, 0, range(3))
    assert rms.scores["windows"] == 3
    assert 0.8 < rms.scores["coverage"] < 1.2 and rms.scores["spearman"] > 0.8, rms.scores
    # Scored on the hiss as well, the same sweep would read about a third of the range.
    heard = np.isfinite(rms.achieved[:, :, frames // 2 + 8:])
    assert not heard.any(), "frames after the note were scored"


class ScoredHissModel(HissModel):
    """HissModel with what `control_scores` reads besides decoding."""

    path = Path("hiss.nrv")
    normalise = ev.AlignedModel.normalise   # they read only `ranges`
    physical = ev.AlignedModel.physical


def test_a_fader_alone_is_also_scored_where_the_note_sounds():
    """The rms fader obeyed over the note and ignored over silence's latent (a hiss below
    the fader's range, at least 0.67 under any request): scored on every frame it misses,
    where the input sounds it follows."""
    frames = 64
    note = tone(frames * C_SWEEP / RATE / 2, 220.0)
    windows = np.stack([np.concatenate([tone(len(note) / RATE, 220.0 * (1 + s / 8), seed=s),
                                        np.zeros(len(note))]) for s in range(4)])
    model = ScoredHissModel(follow=True)
    played = ev.Played(list(windows), model.analyse(windows), windows.copy(),
                       model.analyse(windows)[:, 0])
    config = ev.EvalConfig(batch=2, max_replaced=1)
    records, _ = ev.control_scores(model, played, config)
    rms = [r for r in records if r.get("alone") and r["descriptor"] == "rms"]
    assert len(rms) == 2
    for record in rms:
        assert record["where_sounding"]["pearson"] > 0.95, record
        assert record["where_sounding"]["l1"] < 0.05 and record["l1"] > 0.3, record
    summary = ev.summarise_control(records, model.descriptors)
    scored = summary["alone_where_sounding"]["by_descriptor"]["rms"]["pearson"]
    assert scored == np.mean([r["where_sounding"]["pearson"] for r in rms])


def test_paired_transform(tmp_path):
    notes = load_mono(render_gm_notes(tmp_path, RATE), RATE)[: 2 * RATE]
    once = paired_transform(notes, RATE, seed=3)
    assert once.shape == notes.shape and np.array_equal(once,
                                                        paired_transform(notes, RATE, 3))
    assert not np.allclose(once, paired_transform(notes, RATE, 4))
    levels, centroids = [], []
    for seed in range(8):
        y = paired_transform(notes, RATE, seed)
        assert np.abs(y).max() <= 0.99 + 1e-12
        # zero phase: the copy lines up with the input, sample for sample
        lags = np.correlate(y[4000:12000], notes[4000 - 50: 12000 + 50], mode="valid")
        assert np.argmax(lags) == 50, seed
        ours, theirs = (compute(x, RATE, C_SWEEP, ["rms", "centroid"]) for x in (y, notes))
        sounding = theirs[0] > -60.0
        levels.append(np.median(ours[0, sounding] - theirs[0, sounding]))
        centroids.append(np.median(ours[1, sounding] / theirs[1, sounding]))
    # the curves of T(x) differ from x's: louder and quieter, brighter and darker copies
    assert min(levels) < -3.0 and max(levels) > 0.5, levels
    assert min(centroids) < 0.8 and max(centroids) > 1.0, centroids


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


def test_a_linked_audio_folder_is_read(tmp_path):
    """A split whose audio folder is a link (Path.rglob would not follow it)."""
    real = write_set(tmp_path / "real")
    (tmp_path / "linked" / "test").mkdir(parents=True)
    (tmp_path / "linked" / "test" / "audio").symlink_to(real / "test" / "audio",
                                                        target_is_directory=True)
    assert ([f.name for f in ev.audio_files(tmp_path / "linked")]
            == ["broken.wav", "tone_220.wav", "tone_330.wav", "tone_440.wav"])


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
    # the bands' DC blocker remembers the padding the offline forward saw at the start
    warm = warm_up_frames(exported.model.config, padding_frames=8)
    inner = slice(warm * model.compression, len(y) - 16 * model.compression)
    np.testing.assert_allclose(y[inner], y_ref[inner], atol=1e-3)


# ---- the report ---------------------------------------------------------------------------

def test_report_end_to_end(tmp_path, capsys):
    data = write_set(tmp_path / "set")
    models = [export_random(tmp_path, "tiny", causal=c, seed=i).path
              for i, c in enumerate((False, True))]
    def run(out: Path) -> int:
        return main(["evaluate", *map(str, models), str(data), "-o", str(out), "--windows",
                     "4", "--window-seconds", "0.5", "--batch", "2", "--renders", "1",
                     "--sweep-windows", "3"])

    out = tmp_path / "report"
    assert run(out) == 0
    assert "broken.wav: cannot read audio" in capsys.readouterr().err

    summary = json.loads((out / "results.json").read_text())
    names = ["tiny_centred", "tiny_causal"]
    assert list(summary["models"]) == names and summary["windows"] == 4
    assert summary["skipped"][0].startswith(str(data / "test" / "audio" / "broken.wav"))
    for name, result in summary["models"].items():
        recon = result["reconstruction"]
        assert recon["multiscale_stft"] > 0 and recon["mel_l1"] > 0
        records = result["control"]["records"]
        assert {r["replaced"] for r in records} == {1, 2, 3, 4}
        alone = [r for r in records if r.get("alone")]
        assert len(alone) == 2 * len(result["descriptors"])   # every fader in both batches
        assert {r["replaced"] for r in alone} == {1}
        assert set(result["control"]["alone"]["by_descriptor"]) == set(result["descriptors"])
        assert all("where_sounding" in r for r in alone)
        assert all(0 <= r["cosine"] <= 1 and r["l1"] >= 0 for r in records)
        sweeps = result["sweeps"]["by_descriptor"]
        assert list(sweeps) == result["descriptors"]
        for descriptor, scores in sweeps.items():   # random weights: any value, but defined
            assert scores["windows"] == 3 and -1.0 <= scores["spearman"] <= 1.0
            assert math.isfinite(scores["coverage"])
            assert (scores["loudness_change_db"] is None) == (descriptor == "rms")
            assert f"plots/{name}_sweep_{descriptor}.png" in result["files"]
            rows = result["sweeps"]["by_window"][descriptor]   # what the mean is made of
            assert len(rows) == 3 and {r["source"] for r in rows} <= set(summary["sources"])
            assert np.mean([r["spearman"] for r in rows]) == pytest.approx(scores["spearman"])
        paired = result["paired_transfer"]
        assert paired["multiscale_stft"] > 0 and paired["unchanged_multiscale_stft"] > 0
        for f in result["files"]:
            assert (out / f).stat().st_size > 1000, f
    report = (out / "report.md").read_text()
    for heading in ("## Reconstruction", "## Control: correlation", "## Control: L1",
                    "## Control, each fader alone: Pearson's r",
                    "## Control, each fader alone, where the input sounds: Pearson's r",
                    "corr / r / L1", "## Fader sweeps: Spearman", "## Fader sweeps: coverage",
                    "## Fader sweeps: loudness change", "## Paired transfer",
                    "## Fader sweeps: the window that obeys least",
                    "## Fader sweeps: notes that hold their level and notes that fade"):
        assert heading in report
    assert all(f"| {n} |" in report for n in names)

    again = tmp_path / "again"   # the same seed gives the same numbers
    assert run(again) == 0
    assert json.loads((again / "results.json").read_text())["models"] == summary["models"]
