"""Audio descriptors: the instrument's knobs.

Each descriptor gives one value per latent frame, in a physical unit. `compute` is the
numpy (float64) reference of docs/descriptors.md, the page the C++ streaming analyser
implements too; read that page for the frames, the spectrum and every formula.

A model trained on a data set stores that set's ranges and quantile bins
(`descriptor_statistics`) instead of the defaults of `DESCRIPTOR_SPECS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

N_BINS = 16


@dataclass(frozen=True)
class DescriptorSpec:
    name: str
    unit: str
    default_range: tuple[float, float]


# Default ranges: what typical music and speech span (measured on FluidR3_GM renderings
# and espeak-ng speech at 16 and 44.1 kHz; docs/descriptors.md lists the numbers).
DESCRIPTOR_SPECS: dict[str, DescriptorSpec] = {
    spec.name: spec
    for spec in (
        DescriptorSpec("rms", "dBFS", (-60.0, 0.0)),
        DescriptorSpec("centroid", "Hz", (200.0, 8000.0)),
        DescriptorSpec("bandwidth", "Hz", (100.0, 6000.0)),
        DescriptorSpec("rolloff", "Hz", (200.0, 12000.0)),
        DescriptorSpec("flatness", "", (0.0, 1.0)),
        DescriptorSpec("sharpness", "acum", (0.5, 3.0)),
        DescriptorSpec("boominess", "", (0.0, 1.0)),
    )
}

DESCRIPTOR_NAMES: tuple[str, ...] = tuple(DESCRIPTOR_SPECS)

# docs/descriptors.md, "Critical bands": Zwicker's 24 critical bands, edges in Hz.
BAND_EDGES_HZ: tuple[float, ...] = (
    0.0, 100.0, 200.0, 300.0, 400.0, 510.0, 630.0, 770.0, 920.0, 1080.0, 1270.0, 1480.0,
    1720.0, 2000.0, 2320.0, 2700.0, 3150.0, 3700.0, 4400.0, 5300.0, 6400.0, 7700.0, 9500.0,
    12000.0, 15500.0,
)
N_BANDS = len(BAND_EDGES_HZ) - 1

SILENCE = 1e-9          # sum_k S_k below this: the floors
RMS_FLOOR = 1e-10       # of the mean square
FLATNESS_FLOOR = 1e-10  # of S_k^2
ROLLOFF_PERCENT = 0.85
LOUDNESS_EXPONENT = 0.23
AUDIBLE_BAND_POWER = 1e-10  # -100 dB: quieter bands have no loudness
# Frames quieter than this (rms, dBFS) are silence: they set no fader range and no bin, so
# every position of a fader asks for a sound that occurs in the data.
SOUNDING_GATE_DB = -60.0
SILENT_VALUES: dict[str, float] = {
    "rms": 10.0 * np.log10(RMS_FLOOR), "centroid": 0.0, "bandwidth": 0.0, "rolloff": 0.0,
    "flatness": 1.0, "sharpness": 0.0, "boominess": 0.0,
}

# Work on at most this many frame samples at a time (float64: 64 MiB per copy).
_CHUNK_SAMPLES = 1 << 23


def spec_of(name: str) -> DescriptorSpec:
    if name not in DESCRIPTOR_SPECS:
        known = ", ".join(DESCRIPTOR_SPECS)
        raise ValueError(f"unknown descriptor {name!r}; known descriptors: {known}")
    return DESCRIPTOR_SPECS[name]


def default_descriptor_entry(name: str) -> dict:
    """The model-file entry of a descriptor before any data set has been seen."""
    spec = spec_of(name)
    lo, hi = spec.default_range
    return {"name": name, "unit": spec.unit, "range": [lo, hi],
            "bins": np.linspace(lo, hi, N_BINS + 1).tolist()}


# ---- analysis -------------------------------------------------------------------------

def window_length(compression: int) -> int:
    """The analysis window N: the smallest power of two >= max(2 C, 1024)."""
    compression = int(compression)
    if compression < 1:
        raise ValueError(f"compression must be >= 1, got {compression}")
    need = max(2 * compression, 1024)
    return 1 << (need - 1).bit_length()


def hann(n: int) -> np.ndarray:
    """Periodic Hann window: w[n] = 0.5 - 0.5 cos(2 pi n / N) (librosa's / scipy's 'hann')."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def band_of_bins(sample_rate: int, n: int) -> np.ndarray:
    """Critical band (0 .. 23) of each rfft bin k = 0 .. N/2; -1 at or above 15500 Hz."""
    freqs = np.arange(n // 2 + 1) * (sample_rate / n)
    band = np.searchsorted(np.asarray(BAND_EDGES_HZ), freqs, side="right") - 1
    band[freqs >= BAND_EDGES_HZ[-1]] = -1
    return band


def check_names(names: Sequence[str] | None) -> list[str]:
    """`names` as a list (every descriptor when None, one when a string); a ValueError for
    a name that is no descriptor."""
    if names is None:
        return list(DESCRIPTOR_NAMES)
    if isinstance(names, str):
        names = [names]
    names = list(names)
    for name in names:
        spec_of(name)
    return names


def _analyse(frames: np.ndarray, sample_rate: int, names: list[str],
             window: np.ndarray, band: np.ndarray) -> dict[str, np.ndarray]:
    """frames (..., N) -> {name: (...)} for the names asked (docs/descriptors.md)."""
    n = frames.shape[-1]
    out: dict[str, np.ndarray] = {}
    if "rms" in names:
        mean_square = np.mean(frames * frames, axis=-1)
        out["rms"] = 10.0 * np.log10(np.maximum(mean_square, RMS_FLOOR))
    spectral = [name for name in names if name != "rms"]
    if not spectral:
        return out

    mag = np.abs(np.fft.rfft(frames * window, axis=-1))   # S_k, (..., N/2 + 1)
    freqs = np.arange(mag.shape[-1]) * (sample_rate / n)  # f_k = k sr / N
    total = mag.sum(axis=-1)
    silent = ~(total >= SILENCE)                          # also catches a NaN spectrum
    safe_total = np.where(silent, 1.0, total)

    if "centroid" in spectral or "bandwidth" in spectral:
        centroid = (mag @ freqs) / safe_total
        out["centroid"] = centroid
        if "bandwidth" in spectral:
            deviation = freqs - centroid[..., None]
            out["bandwidth"] = np.sqrt(np.sum(mag * deviation * deviation, axis=-1)
                                       / safe_total)
    if "rolloff" in spectral:
        running = np.cumsum(mag, axis=-1)   # sequential: its last value is the threshold's
        reached = running >= ROLLOFF_PERCENT * running[..., -1:]
        out["rolloff"] = freqs[np.argmax(reached, axis=-1)]
    if "flatness" in spectral:
        q = np.maximum(mag * mag, FLATNESS_FLOOR)
        out["flatness"] = np.exp(np.mean(np.log(q), axis=-1)) / np.mean(q, axis=-1)
    if "sharpness" in spectral or "boominess" in spectral:
        power = (2.0 / (n / 2.0) ** 2) * (mag * mag)      # P_k = 2 |X_k|^2 / (sum w)^2
        member = (band[:, None] == np.arange(N_BANDS)[None, :]).astype(np.float64)
        energy = power @ member                            # E_z, (..., 24)
        # L_z, 0 for bands below -100 dB (inaudible; keeps rounding leakage out)
        loudness = np.where(energy >= AUDIBLE_BAND_POWER, energy, 0.0) ** LOUDNESS_EXPONENT
        zc = np.arange(N_BANDS) + 0.5
        if "sharpness" in spectral:
            g = np.where(zc <= 15.8, 1.0, 0.066 * np.exp(0.171 * zc))
            total_loudness = loudness.sum(axis=-1)
            has_loudness = total_loudness > 0.0
            sharp = 0.11 * (loudness @ (g * zc)) / np.where(has_loudness, total_loudness, 1.0)
            out["sharpness"] = np.where(has_loudness, sharp, 0.0)
        if "boominess" in spectral:
            out["boominess"] = loudness @ np.maximum(0.0, 1.0 - zc / 4.0)

    for name in spectral:
        out[name] = np.where(silent, SILENT_VALUES[name], out[name])
    return out


def compute(audio: np.ndarray, sample_rate: int, compression: int,
            names: Sequence[str] | None = None) -> np.ndarray:
    """Descriptors of `audio`, one value per latent frame (docs/descriptors.md).

    audio: (T,) or (batch, T) float samples (full scale = 1). Returns float64
    (n_descriptors, T // C) for 1-D input, else (batch, n_descriptors, T // C), the rows in
    the order of `names` (default: all seven, rms, centroid, bandwidth, rolloff, flatness,
    sharpness, boominess). Unknown names raise ValueError.

    Frame t analyses x[(t+1) C - N, (t+1) C) (zeros before the signal), N =
    `window_length(C)`: causal, the value is known once the frame's last sample is in.
    With S_k = |rfft(x_frame * hann)|, f_k = k sr / N, P_k = 2 S_k^2 / (N/2)^2:

    - rms (dBFS) = 10 log10(max(mean(x_frame^2), 1e-10)), unwindowed.
    - centroid (Hz) = sum f_k S_k / sum S_k (librosa.feature.spectral_centroid).
    - bandwidth (Hz) = sqrt(sum S_k (f_k - centroid)^2 / sum S_k) (librosa
      spectral_bandwidth, p = 2).
    - rolloff (Hz) = smallest f_k with sum_{j<=k} S_j >= 0.85 sum_j S_j (librosa
      spectral_rolloff).
    - flatness = exp(mean log Q_k) / mean Q_k, Q_k = max(S_k^2, 1e-10) (librosa
      spectral_flatness, power 2; Dubnov 2004's spectral flatness measure).
    - sharpness (acum) = 0.11 sum_z L_z g(z_c) z_c / sum_z L_z over Zwicker's 24 critical
      bands, L_z = E_z^0.23, E_z = sum of P_k in band z, z_c = z + 0.5 Bark, g = 1 up to
      15.8 Bark, else 0.066 exp(0.171 z_c) (Zwicker & Fastl, Psychoacoustics, ch. 8-9);
      0 when no band holds energy.
    - boominess = sum_z L_z max(0, 1 - z_c / 4): the loudness of the bands below 400 Hz
      (after Hatano & Hashimoto's booming index, 2000).

    A silent frame (sum S_k < 1e-9) gives rms -100, flatness 1 and 0 for the others.
    Non-finite samples count as 0, so no value is ever NaN or infinite.
    """
    names = check_names(names)
    sample_rate = int(sample_rate)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
    c = int(compression)
    n = window_length(c)
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"audio must be (T,) or (batch, T), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        x = np.where(np.isfinite(x), x, 0.0)   # a non-finite sample counts as silence
    single = x.ndim == 1
    if single:
        x = x[None, :]
    batch, length = x.shape
    n_frames = length // c
    result = np.empty((batch, len(names), n_frames), dtype=np.float64)
    if n_frames == 0 or not names:
        return result[0] if single else result

    padded = np.concatenate([np.zeros((batch, n - c)), x[:, :n_frames * c]], axis=1)
    frames = sliding_window_view(padded, n, axis=-1)[:, ::c]   # (batch, n_frames, N), a view
    window = hann(n)
    band = band_of_bins(sample_rate, n)
    step = max(1, _CHUNK_SAMPLES // (n * batch))
    for start in range(0, n_frames, step):
        stop = min(start + step, n_frames)
        values = _analyse(frames[:, start:stop], sample_rate, names, window, band)
        for row, name in enumerate(names):
            result[:, row, start:stop] = values[name]
    return result[0] if single else result


# ---- data-set statistics ----------------------------------------------------------------

def _widen(lo: float, hi: float) -> tuple[float, float]:
    """A usable [lo, hi]: widened around its centre when it has (almost) no width."""
    if hi - lo > 1e-9 * max(1.0, abs(lo), abs(hi)):
        return lo, hi
    eps = 1e-6 * max(1.0, abs(lo), abs(hi))
    centre = 0.5 * (lo + hi)
    return centre - eps, centre + eps


@dataclass(frozen=True)
class DescriptorStats:
    """A descriptor's statistics over a data set: its model-file entry.

    range: the 1st and 99th percentiles (a robust [min, max]); bins: 17 edges at the
    0, 1/16, ..., 1 quantiles for the latent discriminator's 16 classes.
    """

    name: str
    unit: str
    range: tuple[float, float]
    bins: tuple[float, ...]

    @classmethod
    def from_values(cls, name: str, values: np.ndarray) -> DescriptorStats:
        spec = spec_of(name)
        v = np.asarray(values, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        if v.size == 0:
            raise ValueError(f"no finite values of descriptor {name!r}")
        lo, hi = _widen(*(float(p) for p in np.percentile(v, [1.0, 99.0])))
        edges = np.quantile(v, np.linspace(0.0, 1.0, N_BINS + 1))
        if edges[-1] - edges[0] <= 1e-9 * max(1.0, abs(edges[0]), abs(edges[-1])):
            edges = np.linspace(lo, hi, N_BINS + 1)
        edges = np.maximum.accumulate(edges)   # guard against rounding in np.quantile
        return cls(name, spec.unit, (lo, hi), tuple(float(e) for e in edges))

    def entry(self) -> dict:
        """{name, unit, range: [p1, p99], bins: [17 edges]}, as the model file stores it."""
        return {"name": self.name, "unit": self.unit, "range": list(self.range),
                "bins": list(self.bins)}

    def normalise(self, values: np.ndarray) -> np.ndarray:
        return normalise(values, self.range)

    def quantise(self, values: np.ndarray) -> np.ndarray:
        return quantise(values, self.bins)


def descriptor_statistics(values: np.ndarray | Sequence[np.ndarray], names: Sequence[str],
                          rms: np.ndarray | Sequence[np.ndarray] | None = None,
                          gate_db: float = SOUNDING_GATE_DB) -> list[dict]:
    """Model-file entries of `names` from their values over a data set's sounding frames.

    values: (n_descriptors, n_frames_total), or a list of such arrays (one per file, their
    frames concatenated), or (batch, n_descriptors, frames) as `compute` returns. `rms`
    (the same frames, dBFS; taken from `values` when "rms" is among `names`) gates the
    frames: only those at or above `gate_db` count, unless none is. Returns one
    `DescriptorStats.entry()` per name.
    """
    names = list(names)
    stacked = _stack_frames(values, len(names), names)
    if rms is None and "rms" in names:
        level = stacked[names.index("rms")]
    else:
        level = None if rms is None else _stack_frames(rms, 1, ["rms"])[0]
    if level is not None:
        if level.shape != stacked.shape[1:]:
            raise ValueError(f"rms holds {level.shape[0]} frames, values {stacked.shape[1]}")
        sounding = level >= gate_db
        if sounding.any():
            stacked = stacked[:, sounding]
    return [DescriptorStats.from_values(name, stacked[i]).entry()
            for i, name in enumerate(names)]


def _stack_frames(values: np.ndarray | Sequence[np.ndarray], rows: int,
                  names: Sequence[str]) -> np.ndarray:
    """(rows, frames) from one array or a list of arrays, as descriptor_statistics takes."""
    parts = [values] if isinstance(values, np.ndarray) else [np.asarray(v) for v in values]
    stacked = []
    for part in parts:
        part = np.asarray(part, dtype=np.float64)
        if part.ndim == 3:
            part = np.moveaxis(part, 1, 0).reshape(part.shape[1], -1)
        if part.ndim == 1 and rows == 1:
            part = part[None, :]
        if part.ndim != 2 or part.shape[0] != rows:
            raise ValueError(f"values must be ({rows}, frames) for {list(names)}, "
                             f"got shape {part.shape}")
        stacked.append(part)
    return np.concatenate(stacked, axis=1)


def normalise(values: np.ndarray, value_range: Sequence[float]) -> np.ndarray:
    """What the decoder sees: 2 (v - min) / (max - min) - 1 (not clipped)."""
    lo, hi = _widen(float(value_range[0]), float(value_range[1]))
    return 2.0 * (np.asarray(values, dtype=np.float64) - lo) / (hi - lo) - 1.0


def denormalise(values: np.ndarray, value_range: Sequence[float]) -> np.ndarray:
    """The inverse of `normalise`: decoder units back to physical values."""
    lo, hi = _widen(float(value_range[0]), float(value_range[1]))
    return lo + (np.asarray(values, dtype=np.float64) + 1.0) / 2.0 * (hi - lo)


def quantise(values: np.ndarray, bins: Sequence[float]) -> np.ndarray:
    """Bin index 0 .. len(bins) - 2 of each value: edges[i] <= v < edges[i + 1].

    Values below the first edge fall in bin 0, at or above the last in the last bin.
    """
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError("bins must hold at least two edges")
    v = np.asarray(values, dtype=np.float64)
    return np.searchsorted(edges[1:-1], v, side="right").astype(np.int64)
