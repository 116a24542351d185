"""Paired augmentation: random, smooth, time-varying transforms of training windows.

Training encodes one transformed copy of a window and rebuilds another copy from the
descriptor curves of that other copy. The decoder then sees latents and curves that
disagree, each with a real target, which is what a fader does at play time: the latent
says "this clarinet", the curves say "brighter and louder than it was".

Before either copy, a window may be pitch-shifted (`pitch_shifted_crops`): resampled, as
a tape played faster or slower, so that the model hears every pitch, not only the grid a
data set was recorded on.

Each transform is one time-varying gain mask on the STFT (overall gain, spectral tilt, a
low shelf and a low-pass sweep, each moving linearly from a random start to a random end
over the window), then, for some copies, a soft saturation that adds harmonics. Draws
come from a torch Generator, so a resumed run replays them exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import soxr
import torch
from torch import Tensor

# How far below the low-pass's cutoff a transformed copy is still priced: up to where it
# takes 20 dB (3.15 times the cutoff, second order).
LOWPASS_PRICED_DB = 20.0

# The share of the new Nyquist frequency soxr's anti-alias filter passes (the -40 dB point
# of its default quality on white noise sits at 0.983; the rest is the transition band).
RESAMPLED_PASSBAND = 0.97


@dataclass(frozen=True)
class AugmentConfig:
    gain_db: float = 12.0              # overall gain, +- at each end of the window
    tilt_db_per_octave: float = 3.0    # around 1 kHz, +- at each end
    shelf_db: float = 9.0              # low shelf below `shelf_hz`, +- (constant)
    shelf_hz: float = 250.0
    lowpass_probability: float = 0.5
    lowpass_min_hz: float = 1000.0     # sweep ends drawn log-uniformly up to Nyquist
    saturation_probability: float = 0.3
    max_drive: float = 6.0             # tanh drive at the window's peak
    n_fft: int = 1024
    peak: float = 0.99                 # a louder copy is scaled down to this peak


def _uniform(generator: torch.Generator, shape: tuple[int, ...], lo: float, hi: float
             ) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=generator, dtype=torch.float64)


def _gain_mask_db(batch: int, freqs: Tensor, frames: int, cfg: AugmentConfig,
                  generator: torch.Generator, nyquist: float) -> tuple[Tensor, Tensor]:
    """(batch, bins, frames) gain in dB: gain, tilt and low-pass moving over time; and
    (batch,) the share of the Nyquist frequency below which the low-pass, at its highest
    cutoff over the window, takes less than LOWPASS_PRICED_DB (1 without a low-pass)."""
    t = torch.linspace(0.0, 1.0, frames, dtype=torch.float64)[None, None, :]

    def moving(lo: float, hi: float) -> Tensor:  # start -> end, linear in time
        start, end = (_uniform(generator, (batch, 1, 1), lo, hi) for _ in range(2))
        return start + (end - start) * t

    f = freqs[None, :, None]
    octaves = torch.log2(f.clamp(min=50.0) / 1000.0)
    mask = moving(-cfg.gain_db, cfg.gain_db)
    mask = mask + moving(-cfg.tilt_db_per_octave, cfg.tilt_db_per_octave) * octaves
    shelf = _uniform(generator, (batch, 1, 1), -cfg.shelf_db, cfg.shelf_db)
    mask = mask + shelf / (1.0 + (f / cfg.shelf_hz) ** 2)
    log_lo, log_hi = torch.log(torch.tensor(cfg.lowpass_min_hz)), torch.log(torch.tensor(nyquist))
    cutoff = torch.exp(moving(float(log_lo), float(log_hi)))
    lowpass_db = -10.0 * torch.log10(1.0 + (f / cutoff) ** 4)   # second order
    use_lowpass = torch.rand((batch, 1, 1), generator=generator) < cfg.lowpass_probability
    reach = (10.0 ** (LOWPASS_PRICED_DB / 10.0) - 1.0) ** 0.25   # where it takes that much
    heard = (reach * cutoff.amax(dim=(1, 2)) / nyquist).clamp(max=1.0)
    heard = torch.where(use_lowpass[:, 0, 0], heard, torch.ones_like(heard))
    return mask + torch.where(use_lowpass, lowpass_db, torch.zeros_like(lowpass_db)), heard


def _saturate(audio: Tensor, cfg: AugmentConfig, generator: torch.Generator) -> Tensor:
    """Soft saturation at a level-independent drive: quiet notes get harmonics too."""
    batch = audio.shape[0]
    peak = audio.abs().amax(dim=-1, keepdim=True).clamp(min=1e-6)
    drive = _uniform(generator, (batch, 1), 1.0, cfg.max_drive).to(audio)
    saturated = torch.tanh(drive * audio / peak) / torch.tanh(drive) * peak
    use = (torch.rand((batch, 1), generator=generator) < cfg.saturation_probability).to(audio)
    return use * saturated + (1.0 - use) * audio


@torch.no_grad()
def random_transform(audio: Tensor, sample_rate: int, generator: torch.Generator,
                     cfg: AugmentConfig = AugmentConfig()) -> Tensor:
    """audio (B, T) or (B, 1, T) -> a transformed copy of the same shape and length."""
    return band_limited_transform(audio, sample_rate, generator, cfg)[0]


@torch.no_grad()
def band_limited_transform(audio: Tensor, sample_rate: int, generator: torch.Generator,
                           cfg: AugmentConfig = AugmentConfig()) -> tuple[Tensor, Tensor]:
    """`random_transform`, and (B,) the share of the Nyquist frequency its low-pass leaves
    within LOWPASS_PRICED_DB (1 where it drew none): above it, a copy is darker than its
    curves can tell, so a loss that prices those bins teaches every output a dim top."""
    shape = audio.shape
    x = audio.reshape(-1, shape[-1]).double()
    window = torch.hann_window(cfg.n_fft, dtype=torch.float64, device=x.device)
    hop = cfg.n_fft // 4
    spectrum = torch.stft(x, cfg.n_fft, hop, window=window, return_complex=True)
    freqs = torch.fft.rfftfreq(cfg.n_fft, 1.0 / sample_rate, dtype=torch.float64)
    mask_db, heard = _gain_mask_db(x.shape[0], freqs, spectrum.shape[-1], cfg, generator,
                                   sample_rate / 2.0)
    y = torch.istft(spectrum * 10.0 ** (mask_db.to(x.device) / 20.0), cfg.n_fft, hop,
                    window=window, length=x.shape[-1])
    y = _saturate(y, cfg, generator)
    peak = y.abs().amax(dim=-1, keepdim=True)
    y = torch.where(peak > cfg.peak, y * (cfg.peak / peak.clamp(min=1e-12)), y)
    return y.to(audio.dtype).reshape(shape), heard.to(audio.dtype).to(audio.device)


def pitch_shifted(signal: np.ndarray, semitones: float) -> np.ndarray:
    """`signal` resampled so that, played at its own rate, it sounds `semitones` higher
    (pitch and spectrum move together, as a tape's speed): fewer samples is higher."""
    return soxr.resample(np.asarray(signal, np.float64), 1.0, 2.0 ** (-semitones / 12.0))


def pitch_shifted_crops(audio: Tensor, crop: int, max_semitones: float, probability: float,
                        generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(batch, 1, T) -> (batch, 1, crop), (batch,): a random span of each window, which for
    a share `probability` of the windows is first resampled by a shift drawn uniformly
    within +-max_semitones (pitch and spectrum move together), and the share of the
    Nyquist frequency each span still carries: a window shifted down by s semitones holds
    nothing above 2^(-s/12) of it, so a loss must not ask the model for silence there.
    Raises ValueError where a window shifted up as far as it may go is shorter than
    `crop`."""
    shortest = math.floor(audio.shape[-1] * 2.0 ** (-max_semitones / 12.0))
    if probability > 0 and shortest < crop:
        raise ValueError(f"a window of {audio.shape[-1]} samples shifted up by "
                         f"{max_semitones} semitones is shorter than the {crop}-sample crop: "
                         "lower pitch_shift_semitones or crop_samples")
    spans, limits = [], []
    for window in audio.reshape(audio.shape[0], -1):
        signal, limit = window, 1.0
        if float(torch.rand((), generator=generator)) < probability:
            shift = (2.0 * float(torch.rand((), generator=generator)) - 1.0) * max_semitones
            signal = torch.from_numpy(pitch_shifted(window.detach().cpu().numpy(), shift)
                                      ).to(audio)
            limit = RESAMPLED_PASSBAND * min(1.0, 2.0 ** (shift / 12.0))
        start = int(torch.randint(0, signal.shape[-1] - crop + 1, (1,), generator=generator))
        spans.append(signal[start:start + crop])
        limits.append(limit)
    return torch.stack(spans)[:, None], torch.tensor(limits, dtype=audio.dtype,
                                                     device=audio.device)


def paired_transform(audio: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """T(x) of one signal (T,), drawn from `seed`: the transforms training sees, for the
    evaluation's paired transfer (decode z(x) with the curves of T(x), compare with T(x))."""
    x = torch.from_numpy(np.asarray(audio, np.float64).ravel())[None]
    return random_transform(x, sample_rate, torch.Generator().manual_seed(seed))[0].numpy()


__all__ = ["LOWPASS_PRICED_DB", "RESAMPLED_PASSBAND", "AugmentConfig", "band_limited_transform",
           "paired_transform", "pitch_shifted", "pitch_shifted_crops", "random_transform"]
