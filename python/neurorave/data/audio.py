"""Audio files in and out of the package: which files count as audio, reading one as mono
at a given rate, resampling, and when a stretch of audio counts as silent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

# What `neurorave preprocess` and `neurorave evaluate` take for audio in a folder: one
# list for both, the union of the two they once kept (evaluate's was a part of this one).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                            ".aifc", ".au", ".snd", ".w64", ".caf", ".rf64"})


def resample(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """soxr's high-quality resampler; a no-op when the rates agree."""
    if rate == target_rate:
        return np.asarray(audio)
    # Here, not at the top: a caller that never resamples does not need soxr.
    import soxr

    return soxr.resample(np.asarray(audio, np.float64), rate, target_rate, quality="HQ")


def load_mono(path: Path, sample_rate: int | None = None) -> np.ndarray:
    """float64 (T,) mono samples of `path`, resampled with soxr to `sample_rate` if given."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    x = data.mean(axis=1)
    if sample_rate is not None:
        x = resample(x, rate, sample_rate)
    return np.ascontiguousarray(x, dtype=np.float64)


def level_db(audio: np.ndarray) -> np.ndarray:
    """RMS level in dBFS over the last axis: one value per window (or frame) of `audio`."""
    audio = np.asarray(audio, np.float64)
    # The floor keeps digital silence finite: -200 dBFS, below any threshold in use.
    return 10 * np.log10(np.mean(audio * audio, axis=-1) + 1e-20)


def is_loud(audio: np.ndarray, floor_db: float) -> np.ndarray:
    """Whether each window (last axis) of `audio` reaches `floor_db` dBFS RMS; the silence
    test of preprocessing, evaluation and the demo."""
    return level_db(audio) >= floor_db


__all__ = ["AUDIO_SUFFIXES", "is_loud", "level_db", "load_mono", "resample"]
