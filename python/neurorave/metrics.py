"""Evaluation metrics, in numpy: reconstruction distances and control-curve agreement.

- `multiscale_stft_distance`: RAVE's training distance, summed over five STFT sizes
  (2048 ... 128, 75 % overlap): ||X - Y|| / ||X|| on magnitudes plus mean |log X - log Y|.
- `mel_l1`: mean |M_x - M_y| of power mel spectrograms, as the paper's evaluation measures
  it (n_fft 2048, hop 512; 128 mel bands instead of the paper's 512, which leaves many
  bands empty at 16 kHz).
- `curve_l1`, `pearson`, and `cosine_score`: the paper's correlation, the cosine
  similarity of the mean-removed target and achieved curves mapped to [0, 1]
  ((cos + 1) / 2: 1 = they move together, 0.5 = unrelated, 0 = opposite).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .descriptors import hann

STFT_SCALES: tuple[int, ...] = (2048, 1024, 512, 256, 128)
STFT_OVERLAP = 0.75
LOG_EPS = 1e-7      # inside the log of a magnitude: silence stays finite
NORM_EPS = 1e-7     # floor of ||X||: a silent reference does not divide by zero
COSINE_EPS = 1e-6   # floor of each norm in the cosine, as torch's CosineSimilarity


def _as_pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
    return x, y


def stft_magnitude(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| (..., frames, n_fft/2 + 1), Hann window, centred frames (reflect padding),
    scaled by 1/sqrt(n_fft) so that sizes compare (torch.stft's normalized=True)."""
    x = np.asarray(audio, np.float64)
    pad = n_fft // 2
    mode = "reflect" if x.shape[-1] > pad else "constant"
    x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode=mode)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[..., ::hop, :]
    return np.abs(np.fft.rfft(frames * hann(n_fft), axis=-1)) / np.sqrt(n_fft)


def multiscale_stft_distance(x: np.ndarray, y: np.ndarray,
                             scales: Sequence[int] = STFT_SCALES) -> float:
    """Sum over scales of ||X - Y||_F / ||X||_F + mean |log(X + eps) - log(Y + eps)|.

    x is the reference: identical signals give 0; the measure is not symmetric.
    """
    x, y = _as_pair(x, y)
    total = 0.0
    for n_fft in scales:
        hop = int(n_fft * (1 - STFT_OVERLAP))
        sx, sy = stft_magnitude(x, n_fft, hop), stft_magnitude(y, n_fft, hop)
        total += np.linalg.norm(sx - sy) / max(np.linalg.norm(sx), NORM_EPS)
        total += np.mean(np.abs(np.log(sx + LOG_EPS) - np.log(sy + LOG_EPS)))
    return float(total)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft/2 + 1) triangular filters, evenly spaced on the HTK mel scale."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(sample_rate / 2), n_mels + 2))
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - low) / (centre - low)
    falling = (high - freqs) / (high - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def mel_spectrogram(audio: np.ndarray, sample_rate: int, n_fft: int = 2048, hop: int = 512,
                    n_mels: int = 128) -> np.ndarray:
    """Power mel spectrogram (..., frames, n_mels) of samples at full scale 1."""
    power = (stft_magnitude(audio, n_fft, hop) ** 2) * n_fft   # undo the 1/sqrt(n) scaling
    return power @ mel_filters(sample_rate, n_fft, n_mels).T


def mel_l1(x: np.ndarray, y: np.ndarray, sample_rate: int, n_fft: int = 2048,
           hop: int = 512, n_mels: int = 128) -> float:
    """mean |mel(x) - mel(y)| of power mel spectrograms (the paper's 'mel' column)."""
    x, y = _as_pair(x, y)
    mx = mel_spectrogram(x, sample_rate, n_fft, hop, n_mels)
    my = mel_spectrogram(y, sample_rate, n_fft, hop, n_mels)
    return float(np.mean(np.abs(mx - my)))


def curve_l1(target: np.ndarray, achieved: np.ndarray) -> float:
    """mean |target - achieved| over every value given."""
    target, achieved = _as_pair(target, achieved)
    return float(np.mean(np.abs(target - achieved)))


def pearson(target: np.ndarray, achieved: np.ndarray) -> float:
    """Pearson's r over every value given (flattened); NaN when either is constant."""
    target, achieved = _as_pair(target, achieved)
    t = target.ravel() - target.mean()
    a = achieved.ravel() - achieved.mean()
    denominator = np.sqrt(np.sum(t * t) * np.sum(a * a))
    if denominator <= 1e-12 * max(1.0, t.size):
        return float("nan")
    return float(np.clip(np.sum(t * a) / denominator, -1.0, 1.0))


def cosine_score(target: np.ndarray, achieved: np.ndarray) -> float:
    """The paper's correlation: (1 + cos(t - mean t, a - mean a)) / 2 over every value.

    Given a batch of curves it pools them, as the paper's evaluation does per batch. Each
    norm is floored at 1e-6, so a constant curve scores 0.5 instead of failing.
    """
    target, achieved = _as_pair(target, achieved)
    t = target.ravel() - target.mean()
    a = achieved.ravel() - achieved.mean()
    norms = max(np.linalg.norm(t), COSINE_EPS) * max(np.linalg.norm(a), COSINE_EPS)
    return float((1.0 + np.clip(np.dot(t, a) / norms, -1.0, 1.0)) / 2.0)
