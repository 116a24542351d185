"""The C++ streaming descriptor analyser against the numpy reference (docs/descriptors.md).

Both compute in double precision from the same float32 audio; they may differ by the FFT
(pocketfft against kissfft) and the order of additions. A value `a` (C++) matches the
reference `b` when |a - b| <= RTOL * max(|b|, SCALE[name]): 1e-4 relative, and below
SCALE an absolute floor of RTOL * SCALE (1e-3 dB, 0.1 Hz, 1e-6 flatness, 1e-5 acum, ...).
"""

from __future__ import annotations

import audio_fixtures
import numpy as np
import pytest
from neurorave import _core
from neurorave.descriptors import compute

NAMES = ["rms", "centroid", "bandwidth", "rolloff", "flatness", "sharpness", "boominess"]
RTOL = 1e-4
SCALE = {"rms": 10.0, "centroid": 1000.0, "bandwidth": 1000.0, "rolloff": 1000.0,
         "flatness": 0.01, "sharpness": 0.1, "boominess": 0.1}
BLOCKS = [1, 64, 2048, 3000]
# (sample rate, compression): the tiny model, the small model, a 44.1 kHz model.
CONFIGS = [(16000, 16), (16000, 512), (44100, 2048)]


# ---- signals ------------------------------------------------------------------------

def _synthetic(sample_rate: int, seconds: float = 1.5, seed: int = 0) -> dict[str, np.ndarray]:
    """Harmonic, noisy, booming and silent material, with the edge cases in one stream."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate) + 123  # a partial last frame, dropped by both
    t = np.arange(n) / sample_rate
    # A harmonic tone gliding 110 -> 440 Hz, 12 partials (1/k), tremolo, attack and decay.
    f0 = 110 * 4 ** (t / t[-1])
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 13)
                    if k * f0.max() < sample_rate / 2)
    envelope = np.minimum(t / 0.05, 1) * np.exp(-1.5 * t) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t))
    tone = 0.3 * envelope * harmonics
    # Noise: low-passed bursts, and hiss.
    white = rng.standard_normal(n)
    lowpassed = np.convolve(white, np.ones(8) / 8, mode="same")
    bursts = (np.sin(2 * np.pi * 3 * t) > 0.3) * 0.5 * lowpassed + 0.02 * white
    # A kick: 150 -> 50 Hz sweep, repeated.
    local = t % 0.4
    kick = 0.8 * np.sin(2 * np.pi * (50 * local + 250 * (1 - np.exp(-local / 0.05)) * 0.05)) \
        * np.exp(-local / 0.15)
    # Edge cases: exact silence, then a whisper at -120 dBFS, then a loud tone.
    edges = np.zeros(n)
    third = n // 3
    edges[third:2 * third] = 1e-6 * white[third:2 * third]
    edges[2 * third:] = 0.99 * np.sin(2 * np.pi * 1000 * t[2 * third:])
    signals = {"tone": tone, "noise": bursts, "kick": kick, "edges": edges,
               "mix": 0.5 * (tone + bursts + kick)}
    return {k: v.astype(np.float32) for k, v in signals.items()}


@pytest.fixture(scope="module")
def signals(tmp_path_factory):
    """name -> float32 audio, per sample rate: GM notes (fluidsynth, FluidR3_GM), speech
    (espeak-ng) and the synthetic material. Rendered once per rate."""
    folder = tmp_path_factory.mktemp("descriptor_audio")
    cache: dict[int, dict[str, np.ndarray]] = {}

    def at(sample_rate: int) -> dict[str, np.ndarray]:
        if sample_rate not in cache:
            real = {
                "gm_notes": audio_fixtures.load_mono(
                    audio_fixtures.render_gm_notes(folder, sample_rate), sample_rate),
                "speech": audio_fixtures.load_mono(
                    audio_fixtures.render_speech(folder, sample_rate), sample_rate),
            }
            for name, audio in real.items():
                assert audio.size > sample_rate and np.abs(audio).max() > 0.01, name
            cache[sample_rate] = {name: audio.astype(np.float32) for name, audio in real.items()}
            cache[sample_rate].update(_synthetic(sample_rate))
        return cache[sample_rate]

    return at


# ---- helpers ------------------------------------------------------------------------

def _stream(analyser, audio: np.ndarray, block: int) -> np.ndarray:
    analyser.reset()
    rows = [analyser.push(audio[i:i + block]) for i in range(0, len(audio), block)]
    return np.concatenate(rows, axis=0)


def _errors(cpp: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Per descriptor, the largest |a - b| / max(|b|, SCALE): <= RTOL passes."""
    out = {}
    for i, name in enumerate(NAMES):
        denominator = np.maximum(np.abs(ref[i]), SCALE[name])
        out[name] = float(np.max(np.abs(cpp[:, i] - ref[i]) / denominator))
    return out


# ---- tests --------------------------------------------------------------------------

@pytest.mark.parametrize("sample_rate,compression", CONFIGS,
                         ids=[f"{sr}Hz-C{c}" for sr, c in CONFIGS])
def test_cpp_analyser_matches_reference(signals, sample_rate, compression):
    analyser = _core.DescriptorAnalyser(sample_rate, compression, NAMES)
    assert analyser.window == max(1024, 1 << (2 * compression - 1).bit_length())
    failures = []
    for signal, audio in signals(sample_rate).items():
        ref = np.asarray(compute(audio, sample_rate, compression, NAMES), dtype=np.float64)
        assert ref.shape == (len(NAMES), len(audio) // compression)
        assert np.all(np.isfinite(ref))
        for block in BLOCKS:
            cpp = _stream(analyser, audio, block)
            assert cpp.shape == ref.T.shape, (signal, block)
            assert np.all(np.isfinite(cpp))
            for name, error in _errors(cpp, ref).items():
                if error > RTOL:
                    failures.append(f"{signal}, block {block}, {name}: {error:.3g}")
    assert not failures, "beyond 1e-4:\n" + "\n".join(failures)


def test_cpp_analyser_order_and_subsets():
    """Any subset of names, in any order, gives the reference's rows in that order."""
    sample_rate, compression = 16000, 512
    audio = _synthetic(sample_rate, seconds=0.5)["mix"]
    names = ["boominess", "rms", "flatness"]
    cpp = _core.DescriptorAnalyser(sample_rate, compression, names).push(audio)
    ref = np.asarray(compute(audio, sample_rate, compression, names))
    assert cpp.shape == ref.T.shape
    for i, name in enumerate(names):
        scale = np.maximum(np.abs(ref[i]), SCALE[name])
        assert np.max(np.abs(cpp[:, i] - ref[i]) / scale) <= RTOL, name


def test_cpp_analyser_silence_and_errors():
    analyser = _core.DescriptorAnalyser(16000, 16, NAMES)
    values = analyser.push(np.zeros(4000, dtype=np.float32))
    assert values.shape == (250, 7) and values.dtype == np.float64
    np.testing.assert_array_equal(values, np.tile([-100, 0, 0, 0, 1, 0, 0], (250, 1)))
    assert analyser.push(np.zeros(15, dtype=np.float32)).shape == (0, 7)
    assert analyser.pending == 15
    with pytest.raises(ValueError, match="loudness"):
        _core.DescriptorAnalyser(16000, 16, ["rms", "loudness"])
