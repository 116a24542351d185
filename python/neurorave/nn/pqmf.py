"""Pseudo-QMF filter bank: a cosine-modulated Kaiser prototype (Lin & Vaidyanathan 1998).

Analysis is a strided conv (one output channel per band) and synthesis a strided
transposed conv, so the streaming machinery of `layers.py` and the C++ core serve
the filter bank as they serve the network. The coefficients are computed here once
and stored in the model file; the C++ core never designs filters.
"""

from __future__ import annotations

import numpy as np


def _prototype(taps: int, cutoff: float, beta: float) -> np.ndarray:
    n = np.arange(taps) - (taps - 1) / 2
    return cutoff / np.pi * np.sinc(cutoff / np.pi * n) * np.kaiser(taps, beta)


def _reconstruction_error(h: np.ndarray, bands: int) -> float:
    """Worst deviation of |H(w)|^2 + |H(pi/M - w)|^2 from 1 over the first band."""
    spectrum = np.abs(np.fft.rfft(h, 1 << 14)) ** 2
    edge = (len(spectrum) - 1) // bands  # the bin of pi / M
    band = spectrum[: edge + 1]
    return float(np.max(np.abs(band + band[::-1] - 1.0)))


def design_prototype(bands: int, taps: int, beta: float = 9.0) -> np.ndarray:
    """Kaiser-windowed sinc whose cutoff best satisfies the power-complementary condition."""
    cutoffs = np.linspace(0.5, 1.5, 401) * np.pi / (2 * bands)
    errors = [_reconstruction_error(_prototype(taps, c, beta), bands) for c in cutoffs]
    return _prototype(taps, cutoffs[int(np.argmin(errors))], beta)


def pqmf_filters(bands: int, taps_per_band: int) -> tuple[np.ndarray, np.ndarray]:
    """Analysis and synthesis filters, each (bands, taps), as true convolution kernels."""
    taps = bands * taps_per_band
    h = design_prototype(bands, taps)
    n = np.arange(taps) - (taps - 1) / 2
    k = np.arange(bands)[:, None]
    phase = (2 * k + 1) * np.pi / (2 * bands) * n[None, :]
    sign = np.where(k % 2 == 0, 1.0, -1.0) * np.pi / 4
    analysis = 2 * h * np.cos(phase + sign)
    # Decimation keeps 1/M of the energy per band; the synthesis gain gives it back.
    synthesis = 2 * bands * h * np.cos(phase - sign)
    return analysis, synthesis
