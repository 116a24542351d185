"""Evaluation metrics, in numpy: reconstruction distances and control-curve agreement.

- `multiscale_stft_distance`: RAVE's training distance, summed over five STFT sizes
  (2048 ... 128, 75 % overlap): ||X - Y|| / ||X|| on magnitudes plus mean |log X - log Y|.
- `mel_l1`: mean |M_x - M_y| of power mel spectrograms, as the paper's evaluation measures
  it (n_fft 2048, hop 512; 128 mel bands instead of the paper's 512, which leaves many
  bands empty at 16 kHz).
- `curve_l1`, `pearson`, and `cosine_score`: the paper's correlation, the cosine
  similarity of the mean-removed target and achieved curves mapped to [0, 1]
  ((cos + 1) / 2: 1 = they move together, 0.5 = unrelated, 0 = opposite).
- Fader sweeps (a fader ramped from the bottom to the top of its range): `spearman`
  (does the output rise in the order asked?), `coverage` (how much of the span asked for
  does it travel?), `loudness_change_db` (how much does loudness move while a spectral
  fader does?) and `flatness_rise_db` (is brightness bought with noise?).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..descriptors import hann

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


# ---- fader sweeps ---------------------------------------------------------------------------

COVERAGE_FRACTION = 0.1   # the top and bottom tenths of the requested values


def spearman(requested: np.ndarray, achieved: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson's r of the ranks); NaN when either is constant."""
    from scipy.stats import rankdata

    requested, achieved = _as_pair(requested, achieved)
    return pearson(rankdata(requested.ravel()), rankdata(achieved.ravel()))


def coverage(requested: np.ndarray, achieved: np.ndarray,
             fraction: float = COVERAGE_FRACTION) -> float:
    """How far the output travels along a fader sweep, as a share of how far it was asked.

    The frames are split by their requested value: (mean achieved over the top `fraction`
    minus mean achieved over the bottom `fraction`) / (the same difference of the requested
    values). Means of tenths, not percentiles of the achieved values: the wobble of an
    output that does not follow the fader averages out, where a p95 - p5 span would count
    it as movement; and its own trend cancels when the ramp is also played down and pooled
    (`fader_sweep_scores`), so it scores 0. 1 = the whole span asked for, < 0 = the wrong
    way, > 1 = overshoot. NaN when the requested values do not vary.
    """
    requested, achieved = _as_pair(requested, achieved)
    r, a = requested.ravel(), achieved.ravel()
    count = max(1, int(round(fraction * r.size)))
    low, high = np.argsort(r, kind="stable")[:count], top_requested(r, fraction)
    asked = r[high].mean() - r[low].mean()
    if not asked > 1e-12 * max(1.0, np.abs(r).max(initial=0.0)):
        return float("nan")
    return float((a[high].mean() - a[low].mean()) / asked)


def top_requested(requested: np.ndarray, fraction: float = COVERAGE_FRACTION) -> np.ndarray:
    """Indices of the top `fraction` of `requested` (flattened; at least one), as
    `coverage` takes them."""
    r = np.asarray(requested).ravel()
    count = max(1, int(round(fraction * r.size)))
    return np.argsort(r, kind="stable")[-count:]


def flatness_rise_db(requested: np.ndarray, flatness: np.ndarray,
                     reference_flatness: np.ndarray,
                     fraction: float = COVERAGE_FRACTION) -> float:
    """How much flatter (noisier) the output is than the sound it follows where the fader
    asks for most: the mean of 10 log10(flatness / reference flatness) over the frames of
    the top `fraction` of the requested values. 0 = as tonal as its own sound; brightness
    bought with noise instead of partials shows as a rise of several dB (a tonal note's
    flatness lies near -30 dB, white noise's near -2.5). NaN when no frame has both."""
    top = top_requested(requested, fraction)
    out = np.asarray(flatness, np.float64).ravel()[top]
    ref = np.asarray(reference_flatness, np.float64).ravel()[top]
    both = np.isfinite(out) & np.isfinite(ref) & (out > 0) & (ref > 0)
    if not both.any():
        return float("nan")
    return float(np.mean(10.0 * np.log10(out[both] / ref[both])))


def moving_average(values: np.ndarray, frames: int) -> np.ndarray:
    """Means over `frames` consecutive values (only whole spans: no edge bias); the mean of
    all of them when there are fewer."""
    v = np.asarray(values, np.float64).ravel()
    frames = max(1, int(frames))
    if v.size <= frames:
        return v.mean(keepdims=True) if v.size else v
    return np.convolve(v, np.full(frames, 1.0 / frames), mode="valid")


def loudness_change_db(rms_db: np.ndarray, reference_db: np.ndarray | None = None,
                       smooth_frames: int = 1) -> float:
    """max - min of the smoothed level (dB) over a sweep; 0 for a constant level.

    With `reference_db` (the same frames of the output when the faders follow the input)
    the level is taken relative to it, so only the loudness the sweep adds or removes
    counts, not the input's own dynamics. A moving average of the dB values over
    `smooth_frames` keeps single frames (an onset, a window edge) from setting the span.
    Frames must be sounding ones: a -100 dB floor is not a level.
    """
    level = np.asarray(rms_db, np.float64).ravel()
    if reference_db is not None:
        level = level - np.asarray(reference_db, np.float64).ravel()
    smoothed = moving_average(level, smooth_frames)
    return float(smoothed.max() - smoothed.min()) if smoothed.size else 0.0


def level_span_db(level_db: np.ndarray, low: float = 5.0, high: float = 95.0) -> float:
    """How far a level moves (dB): its `high` minus its `low` percentile, so one onset or
    one frame at a note's end sets no span. 0 for a steady level; NaN for no frames."""
    level = np.asarray(level_db, np.float64).ravel()
    if not level.size:
        return math.nan
    return float(np.percentile(level, high) - np.percentile(level, low))


def fader_sweep_scores(requested: np.ndarray, achieved: np.ndarray, sounding: np.ndarray,
                       level_db: np.ndarray | None = None,
                       reference_db: np.ndarray | None = None, smooth_frames: int = 1,
                       min_frames: int = 8, flatness: np.ndarray | None = None,
                       reference_flatness: np.ndarray | None = None
                       ) -> dict[str, float | None] | None:
    """One window of a fader sweep, scored on its `sounding` frames; None when fewer than
    `min_frames` sound.

    requested, achieved, sounding, level_db: (frames,) for one play of the window, or
    (plays, frames) for several, e.g. the ramp up and the same ramp down. Spearman and
    coverage pool the plays: with an up and a down ramp, whatever the output does on its
    own over the window (the input's dynamics) appears at both ends of the ramp and
    cancels, so an output that ignores the fader scores 0 on both, not the input's trend.
    An output that does not move at all scores Spearman 0 (not NaN).

    loudness_change_db: per play, of `level_db` relative to `reference_db` (frames,), see
    `loudness_change_db`, over the sounding frames where both are finite (NaN marks a
    silent reference); the mean over plays. None when no level is given (the rms fader's
    own sweep, whose loudness change is what was asked) or when no frame has both.
    flatness_rise_db: `flatness_rise_db` of `flatness` (as `level_db`) against
    `reference_flatness` (frames,), pooled over the plays' sounding frames; None likewise.
    """
    mask = np.asarray(sounding, bool)
    if mask.sum() < min_frames:
        return None
    r, a = np.asarray(requested)[mask], np.asarray(achieved)[mask]
    rho, span = spearman(r, a), coverage(r, a)
    loudness = None
    if level_db is not None:
        level = np.atleast_2d(np.asarray(level_db, np.float64))
        reference = np.broadcast_to(np.zeros(level.shape[-1]) if reference_db is None
                                    else np.asarray(reference_db, np.float64), level.shape)
        both = np.atleast_2d(mask) & np.isfinite(level) & np.isfinite(reference)
        changes = [loudness_change_db(lv[m], rf[m], smooth_frames)
                   for lv, rf, m in zip(level, reference, both, strict=True) if m.any()]
        loudness = float(np.mean(changes)) if changes else None
    rise = None
    if flatness is not None and reference_flatness is not None:
        reference = np.broadcast_to(np.asarray(reference_flatness, np.float64),
                                    np.shape(flatness))
        rise = flatness_rise_db(r, np.asarray(flatness)[mask], reference[mask])
    return {"spearman": 0.0 if math.isnan(rho) else rho,
            "coverage": None if math.isnan(span) else span,
            "loudness_change_db": loudness,
            "flatness_rise_db": None if rise is None or math.isnan(rise) else rise}

