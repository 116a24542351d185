"""The numpy descriptors reference (docs/descriptors.md): known signals, silence, shapes,
causality, data-set statistics, and agreement with librosa on real audio (fluidsynth notes
and espeak-ng speech)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import load_mono, render_gm_notes, render_speech
from neurorave import descriptors as D

SR, C = 16000, 512            # N = 1024
SR_HI, C_HI = 44100, 2048     # N = 4096
NAMES = list(D.DESCRIPTOR_NAMES)
ROW = {name: i for i, name in enumerate(NAMES)}


def sine(freq: float, seconds: float, sr: int = SR, amp: float = 1.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)


def steady(values: np.ndarray, compression: int) -> np.ndarray:
    """The frames whose window lies wholly inside the signal."""
    first = D.window_length(compression) // compression
    return values[..., first:]


# ---- frames and API ---------------------------------------------------------------------

@pytest.mark.parametrize(("compression", "n"), [(1, 1024), (256, 1024), (512, 1024),
                                                (600, 2048), (1024, 2048), (2048, 4096)])
def test_window_length(compression, n):
    assert D.window_length(compression) == n


def test_frame_count_and_shapes():
    rng = np.random.default_rng(0)
    for length in (0, C - 1, C, 5 * C + 7, 40 * C):
        x = 0.1 * rng.standard_normal(length)
        out = D.compute(x, SR, C)
        assert out.shape == (7, length // C) and out.dtype == np.float64
        assert D.compute(np.stack([x, x]), SR, C).shape == (2, 7, length // C)
    assert D.compute(np.zeros(10 * C), SR, C, names=["flatness", "rms"]).shape == (2, 10)


def test_batch_equals_single_and_names_select_rows():
    rng = np.random.default_rng(1)
    batch = np.stack([0.3 * rng.standard_normal(30 * C), sine(440, 30 * C / SR),
                      np.zeros(30 * C)])
    together = D.compute(batch, SR, C)
    for b in range(3):
        np.testing.assert_allclose(together[b], D.compute(batch[b], SR, C), rtol=1e-12, atol=0)
    picked = D.compute(batch[0], SR, C, names=["boominess", "centroid"])
    np.testing.assert_allclose(picked, together[0][[ROW["boominess"], ROW["centroid"]]],
                               rtol=1e-12, atol=0)
    # float32 input is analysed in float64 the same way
    np.testing.assert_allclose(D.compute(batch[0].astype(np.float32), SR, C),
                               D.compute(batch[0].astype(np.float32).astype(np.float64), SR, C),
                               rtol=0, atol=0)


def test_chunking_does_not_change_values(monkeypatch):
    x = np.random.default_rng(2).standard_normal((2, 50 * C))
    whole = D.compute(x, SR, C)
    monkeypatch.setattr(D, "_CHUNK_SAMPLES", 3 * 1024)
    np.testing.assert_allclose(D.compute(x, SR, C), whole, rtol=1e-12, atol=1e-12)


def test_unknown_name_is_named():
    with pytest.raises(ValueError, match="loudness"):
        D.compute(np.zeros(4 * C), SR, C, names=["rms", "loudness"])


def test_causal_frames():
    """Frame t depends only on samples before (t + 1) C, and on the N before that."""
    rng = np.random.default_rng(3)
    x = 0.2 * rng.standard_normal(40 * C)
    ref = D.compute(x, SR, C)
    t = 20
    y = x.copy()
    y[(t + 1) * C:] = rng.standard_normal(len(x) - (t + 1) * C)
    changed = D.compute(y, SR, C)
    np.testing.assert_array_equal(changed[:, :t + 1], ref[:, :t + 1])
    assert np.all(changed[ROW["rms"], t + 1:] != ref[ROW["rms"], t + 1:])
    z = x.copy()
    z[:(t + 1) * C - D.window_length(C)] = 0.0   # before frame t's window
    np.testing.assert_array_equal(D.compute(z, SR, C)[:, t], ref[:, t])


# ---- known signals ------------------------------------------------------------------------

def test_full_scale_sine_rms():
    # 1000 Hz at 16 kHz: a whole number of periods in N = 1024 and N = 4096 samples
    for sr, c, freq in ((SR, C, 1000.0), (SR, C, 250.0), (SR_HI, C_HI, 441.0 * 2)):
        rms = steady(D.compute(sine(freq, 2.0, sr), sr, c, names=["rms"])[0], c)
        np.testing.assert_allclose(rms, 10 * np.log10(0.5), atol=0.01)
    half = steady(D.compute(sine(1000.0, 1.0, amp=0.5), SR, C, names=["rms"])[0], C)
    np.testing.assert_allclose(half, 10 * np.log10(0.125), atol=0.01)


@pytest.mark.parametrize(("sr", "c", "freq"), [(SR, C, 1000.0), (SR, C, 1234.5), (SR, C, 333.3),
                                               (SR_HI, C_HI, 440.0), (SR_HI, C_HI, 5432.1)])
def test_sine_centroid_and_bandwidth(sr, c, freq):
    out = steady(D.compute(sine(freq, 2.0, sr, amp=0.5), sr, c), c)
    bin_hz = sr / D.window_length(c)
    np.testing.assert_allclose(out[ROW["centroid"]], freq, rtol=0.01)
    assert np.all(out[ROW["bandwidth"]] < max(0.02 * freq, 3 * bin_hz))
    assert np.all(np.abs(out[ROW["rolloff"]] - freq) <= 2 * bin_hz)
    assert np.all(out[ROW["flatness"]] < 1e-3)


def test_white_noise_flatness():
    # the periodogram of Gaussian white noise is exponential: E[gm / am] -> exp(-gamma)
    x = 0.3 * np.random.default_rng(4).standard_normal(200 * C)
    flat = steady(D.compute(x, SR, C, names=["flatness"])[0], C)
    assert abs(flat.mean() - np.exp(-np.euler_gamma)) < 0.02
    assert np.all((flat > 0.45) & (flat < 0.65))


def test_boominess_rises_with_low_band_loudness():
    high = sine(2000.0, 1.0, amp=0.1)
    values = [steady(D.compute(high + sine(80.0, 1.0, amp=a), SR, C,
                               names=["boominess"])[0], C).mean()
              for a in (0.0, 0.01, 0.1, 0.5)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False)), values
    # 600 Hz and above: no boom beyond leakage
    assert values[0] < 0.2 * values[-1]


def test_sharpness_rises_with_high_frequency_energy():
    base = sine(500.0, 1.0, SR_HI, amp=0.3)
    values = [steady(D.compute(base + sine(7000.0, 1.0, SR_HI, amp=a), SR_HI, C_HI,
                               names=["sharpness"])[0], C_HI).mean()
              for a in (0.0, 0.01, 0.1, 0.3)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False)), values
    low, high = (steady(D.compute(sine(f, 1.0, SR_HI, amp=0.3), SR_HI, C_HI,
                                  names=["sharpness"])[0], C_HI).mean() for f in (300.0, 9000.0))
    assert high > 1.5 * low


def test_silence_gives_the_floors():
    floors = np.array([D.SILENT_VALUES[n] for n in NAMES])
    assert floors[ROW["rms"]] == pytest.approx(-100.0)
    for sr, c in ((SR, C), (SR_HI, C_HI)):
        for x in (np.zeros(20 * c), 1e-15 * np.random.default_rng(5).standard_normal(20 * c)):
            out = D.compute(x, sr, c)
            np.testing.assert_allclose(out, np.repeat(floors[:, None], 20, axis=1), atol=1e-9)


def test_never_nan_or_inf():
    rng = np.random.default_rng(6)
    signals = [
        np.zeros(30 * C_HI),
        np.ones(30 * C_HI),                                   # DC only
        np.sin(2 * np.pi * 18000.0 / SR_HI * np.arange(30 * C_HI)),  # above every band
        1e-6 * rng.standard_normal(30 * C_HI),                # just above the silence floor
        np.concatenate([np.zeros(15 * C_HI), rng.standard_normal(15 * C_HI)]),
        np.where(np.arange(30 * C_HI) % 997 == 0, 1.0, 0.0),  # clicks
    ]
    for sr, c in ((SR, C), (SR_HI, C_HI)):
        out = D.compute(np.stack(signals), sr, c)
        assert np.all(np.isfinite(out))
    broken = signals[4].copy()
    broken[[100, 20 * C_HI, 20 * C_HI + 5]] = [np.nan, np.inf, -np.inf]
    fixed = np.where(np.isfinite(broken), broken, 0.0)
    np.testing.assert_array_equal(D.compute(broken, SR_HI, C_HI), D.compute(fixed, SR_HI, C_HI))
    only_high = D.compute(signals[2], SR_HI, C_HI)
    # only window leakage, below -100 dB, reaches the critical bands: no loudness there,
    # so sharpness sits at its floor instead of rating the leakage
    assert np.all(steady(only_high[ROW["sharpness"]], C_HI) == 0.0)
    assert np.all(steady(only_high[ROW["centroid"]], C_HI) > 17000.0)


# ---- data-set statistics ------------------------------------------------------------------

def test_descriptor_statistics_entries():
    rng = np.random.default_rng(7)
    a = rng.uniform(0, 100, size=(2, 3000))
    b = rng.uniform(0, 100, size=(2, 1000))
    entries = D.descriptor_statistics([a, b], ["rms", "centroid"])
    both = np.concatenate([a, b], axis=1)
    assert [e["name"] for e in entries] == ["rms", "centroid"]
    assert entries[1]["unit"] == "Hz"
    for i, entry in enumerate(entries):
        np.testing.assert_allclose(entry["range"], np.percentile(both[i], [1, 99]))
        assert len(entry["bins"]) == D.N_BINS + 1
        assert np.all(np.diff(entry["bins"]) >= 0)
        counts = np.bincount(D.quantise(both[i], entry["bins"]), minlength=D.N_BINS)
        assert counts.shape == (D.N_BINS,) and counts.min() > 200   # quantiles: ~250 each
    # (batch, n, frames) as compute returns gives the same as (n, frames)
    batched = D.descriptor_statistics(both.reshape(2, 2, 2000).transpose(1, 0, 2),
                                      ["rms", "centroid"])
    np.testing.assert_allclose(batched[0]["range"], entries[0]["range"])


def test_fader_ranges_and_bins_come_from_sounding_frames():
    """Silent frames (rms -100 dB, centroid 0 Hz) set neither a range nor a bin edge."""
    rng = np.random.default_rng(3)
    sounding = np.stack([rng.uniform(-40, -10, 3000), rng.uniform(500, 4000, 3000)])
    silent = np.stack([np.full(3000, -100.0), np.zeros(3000)])
    entries = D.descriptor_statistics([sounding, silent], ["rms", "centroid"])
    for i, entry in enumerate(entries):
        np.testing.assert_allclose(entry["range"], np.percentile(sounding[i], [1, 99]))
        assert entry["bins"][0] == sounding[i].min()
    # rms given apart (a set that keeps no rms curve) gates the same way
    alone = D.descriptor_statistics([sounding[1:], silent[1:]], ["centroid"],
                                    rms=[sounding[:1], silent[:1]])
    assert alone[0]["range"] == entries[1]["range"]


def test_statistics_of_a_constant_descriptor_are_usable():
    entry = D.descriptor_statistics(np.full((1, 500), -100.0), ["rms"])[0]
    lo, hi = entry["range"]
    assert lo < -100.0 < hi and hi - lo < 1e-3
    assert entry["bins"][0] < entry["bins"][-1]
    norm = D.normalise(np.array([-100.0]), entry["range"])
    assert np.all(np.isfinite(norm)) and abs(norm[0]) < 1e-6
    q = D.quantise(np.array([-200.0, -100.0, 0.0]), entry["bins"])
    assert q.tolist()[0] == 0 and q.tolist()[2] == D.N_BINS - 1


def test_quantise_and_normalise():
    bins = np.linspace(0.0, 16.0, 17)
    q = D.quantise(np.array([-5.0, 0.0, 0.5, 1.0, 15.99, 16.0, 99.0]), bins)
    assert q.tolist() == [0, 0, 0, 1, 15, 15, 15]
    np.testing.assert_allclose(D.normalise(np.array([2.0, 4.0, 6.0]), (2.0, 6.0)),
                               [-1.0, 0.0, 1.0])
    stats = D.DescriptorStats.from_values("flatness", np.linspace(0, 1, 1601))
    assert stats.entry()["unit"] == "" and stats.quantise(np.array([0.5]))[0] == 8


def test_default_entries_cover_every_descriptor():
    for name in NAMES:
        entry = D.default_descriptor_entry(name)
        assert entry["range"][0] < entry["range"][1] and len(entry["bins"]) == D.N_BINS + 1


# ---- agreement with librosa on real audio --------------------------------------------------

@pytest.fixture(scope="session")
def real_audio(tmp_path_factory) -> dict[tuple[str, int], Path]:
    """GM notes (fluidsynth, FluidR3_GM) and espeak-ng speech at 16 and 44.1 kHz."""
    folder = tmp_path_factory.mktemp("real_audio")
    return {("notes", sr): render_gm_notes(folder, sr) for sr in (SR, SR_HI)} | {
        ("speech", sr): render_speech(folder, sr) for sr in (SR, SR_HI)}


@pytest.mark.parametrize("source", ["notes", "speech"])
@pytest.mark.parametrize(("sr", "c"), [(SR, C), (SR_HI, C_HI)])
def test_agrees_with_librosa_on_real_audio(real_audio, source, sr, c):
    import librosa  # a test dependency (scripts/run.sh): missing, the test fails
    x = load_mono(real_audio[(source, sr)], sr)
    assert len(x) > 2 * sr, "the rendering is unexpectedly short"
    n = D.window_length(c)
    ours = D.compute(x, sr, c)
    y = np.concatenate([np.zeros(n - c), x])   # causal frames = librosa's uncentred ones
    kw = {"y": y, "n_fft": n, "hop_length": c, "window": "hann", "center": False}
    rms = librosa.feature.rms(y=y, frame_length=n, hop_length=c, center=False,
                              dtype=np.float64)[0]
    ref = {
        "rms": 20 * np.log10(np.maximum(rms, 1e-300)),
        "centroid": librosa.feature.spectral_centroid(sr=sr, **kw)[0],
        "bandwidth": librosa.feature.spectral_bandwidth(sr=sr, **kw)[0],
        "rolloff": librosa.feature.spectral_rolloff(sr=sr, **kw)[0],
        "flatness": librosa.feature.spectral_flatness(**kw)[0],
    }
    assert ref["rms"].shape == (len(x) // c,)
    loud = ours[ROW["rms"]] > -60.0
    assert loud.sum() > 0.3 * loud.size, "too few non-silent frames to compare"
    np.testing.assert_allclose(ours[ROW["rms"]][loud], ref["rms"][loud], atol=0.1, rtol=0)
    for name in ("centroid", "bandwidth", "rolloff", "flatness"):
        np.testing.assert_allclose(ours[ROW[name]][loud], ref[name][loud], rtol=0.01, atol=0,
                                   err_msg=f"{name} ({source}, {sr} Hz, C = {c})")
