"""What a reconstruction keeps: the note's pitch, an active latent, no frame-rate buzz.

A decoder that also receives the descriptor curves can score a fair spectral distance
with a latent that carries nothing: loudness and brightness follow the curves, and the
rest is one repeated frame, a buzz at the frame rate. These measures tell that apart:

- pitch: YIN f0 of input and output on the frames where the input's f0 agrees with the
  note's MIDI pitch (so unpitched notes and attacks do not count); a note keeps its pitch
  when the output's median error there is within 50 cents. And the same with each note's
  latent decoded with the curves of another note of its instrument (another octave): the
  pitch should come from z, the faders from the curves.
- latent activity: per channel, the variance of the posterior mean over every frame of
  the set (active above train.losses.ACTIVE_VARIANCE), and how far a note's latent lies from
  silence's (Euclidean, in the prior's units: N(0, 1) per channel).
- frame-rate artefact: the output's spectral peaks at every multiple of the frame rate below
  Nyquist, in dB above the local spectral floor, beyond what the input has there: the
  largest (which reads 4-6 dB by chance), and how many stand beyond chance (10 dB).
- partial levels: how far each of the note's strong partials lies from the input's, frame
  by frame (the timbre, partial by partial, that the faders do not carry).
- seams between frames: the output's level halfway between the note's partials, against
  the partials, beyond the input's (a decoder that rebuilds the waveform frame by frame
  from a latent moving at audio rate sprays energy there where frames do not meet).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import descriptors as desc
from ..data.preprocess import read_mono
from ..nn.model import NeuroRave
from ..train.augment import pitch_shifted
from ..train.losses import ACTIVE_VARIANCE

PITCH_TOLERANCE_CENTS = 50.0
F0_RANGE_HZ = (30.0, 2100.0)


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def cents(f: np.ndarray, reference: np.ndarray | float) -> np.ndarray:
    return 1200.0 * np.log2(np.maximum(f, 1e-9) / np.maximum(reference, 1e-9))


def f0_track(audio: np.ndarray, sample_rate: int, hop: int) -> np.ndarray:
    import librosa

    return librosa.yin(np.asarray(audio, np.float64), fmin=F0_RANGE_HZ[0],
                       fmax=F0_RANGE_HZ[1], sr=sample_rate, frame_length=4096,
                       hop_length=hop, center=True)


def pitch_error_cents(x: np.ndarray, y: np.ndarray, sample_rate: int, midi_pitch: float,
                      hop: int = 512, min_frames: int = 5) -> float | None:
    """Median |cents| of y's f0 against x's on x's frames that play the note, or None
    when fewer than `min_frames` frames of x play it (an unpitched or silent note)."""
    fx, fy = (f0_track(a, sample_rate, hop) for a in (x, y))
    level = desc.compute(x[: len(x) // hop * hop], sample_rate, hop, ["rms"])[0]
    frames = min(len(fx), len(fy), len(level))
    playing = (np.abs(cents(fx[:frames], midi_to_hz(midi_pitch))) <= PITCH_TOLERANCE_CENTS) & (
        level[:frames] >= desc.SOUNDING_GATE_DB)
    if playing.sum() < min_frames:
        return None
    return float(np.median(np.abs(cents(fy[:frames][playing], fx[:frames][playing]))))


LINE_BEYOND_CHANCE_DB = 10.0   # a note against itself plus noise 50 dB under it: never


def frame_rate_line_excess_db(x: np.ndarray, y: np.ndarray, sample_rate: int,
                              compression: int, harmonics: int | None = None) -> np.ndarray:
    """Per multiple k * sample_rate / compression, k = 1 .. harmonics (None: every multiple
    below Nyquist, as a listener hears them all): how much further y's peak there stands
    above its neighbourhood (dB) than x's does."""
    n = 1 << 16
    if harmonics is None:
        harmonics = int(np.ceil(compression / 2)) - 1

    def peaks(a: np.ndarray) -> np.ndarray:
        if len(a) < n:
            a = np.pad(a, (0, n - len(a)))
        frames = np.lib.stride_tricks.sliding_window_view(a, n)[:: n // 2]
        power = (np.abs(np.fft.rfft(frames * np.hanning(n), axis=-1)) ** 2).mean(0)
        db = 10 * np.log10(power + 1e-20)
        out = []
        for k in range(1, harmonics + 1):
            b = int(round(k * sample_rate / compression * n / sample_rate))
            near = db[max(0, b - 3):b + 4].max()
            floor = np.median(db[max(0, b - 200):b + 200])
            out.append(near - floor)
        return np.array(out)
    return peaks(np.asarray(y, np.float64)) - peaks(np.asarray(x, np.float64))


def frame_rate_excess_db(x: np.ndarray, y: np.ndarray, sample_rate: int, compression: int,
                         harmonics: int | None = None) -> float:
    """The largest of `frame_rate_line_excess_db`: over 63 multiples it reads 4-6 dB by
    chance (a note against itself plus faint noise)."""
    return float(np.max(frame_rate_line_excess_db(x, y, sample_rate, compression, harmonics)))


def lines_beyond_chance(excess: np.ndarray) -> int:
    """How many of `frame_rate_line_excess_db`'s multiples carry a line beyond chance."""
    return int((excess > LINE_BEYOND_CHANCE_DB).sum())


def frame_rate_lines(x: np.ndarray, y: np.ndarray, sample_rate: int, compression: int) -> int:
    """Multiples of the frame rate where y has a line that x lacks, beyond chance."""
    return lines_beyond_chance(frame_rate_line_excess_db(x, y, sample_rate, compression))


SEAM_FFT = 8192           # 5.4 Hz bins at 44.1 kHz: a partial's Hann lobe spans 4
SEAM_TOP_HZ = 8000.0     # partials above it are few and faint in most notes
SEAM_MIN_SPACING_BINS = 8
PARTIAL_FFT = 4096         # 10.8 Hz bins at 44.1 kHz, a frame every 23 ms
PARTIAL_MIN_SPACING_BINS = 4
PARTIAL_RANGE_DB = 40.0    # the partials that carry the timbre: within this of the strongest
PARTIAL_FLOOR_DB = 60.0    # an output partial is read no lower than this under the strongest


def _partial_numbers(midi_pitch: float, sample_rate: int, n_fft: int, min_spacing: float
                     ) -> tuple[float, np.ndarray] | None:
    """(f0 in bins of an n_fft spectrum, the partials k below SEAM_TOP_HZ), or None where
    the partials lie closer than `min_spacing` bins or fewer than two fit."""
    f0 = midi_to_hz(midi_pitch)
    spacing, partials = f0 * n_fft / sample_rate, np.arange(1, int(SEAM_TOP_HZ / f0))
    return None if spacing < min_spacing or len(partials) < 2 else (spacing, partials)


def _frames(audio: np.ndarray, n_fft: int) -> np.ndarray:
    """n_fft-long frames every n_fft / 4 samples."""
    return np.lib.stride_tricks.sliding_window_view(np.asarray(audio, np.float64),
                                                    n_fft)[:: n_fft // 4]


def _partial_peaks(spectrum: np.ndarray, partials: np.ndarray, spacing: float) -> np.ndarray:
    """Each partial k's peak within 3 % of k f0 (inharmonic partials, a slight detune):
    spectrum (..., bins), spacing = f0 in bins -> (..., partials)."""
    return np.stack([spectrum[..., int(k * spacing * 0.97): int(np.ceil(k * spacing * 1.03)) + 1]
                     .max(axis=-1) for k in partials], axis=-1)


def between_partials_rise_db(x: np.ndarray, y: np.ndarray, sample_rate: int,
                             midi_pitch: float) -> float | None:
    """How much higher y's spectrum lies halfway between the note's partials, each against
    its partial, than x's does (dB; 0: as clean between them as the input). A waveform
    rebuilt frame by frame whose seams do not meet spreads energy there, which no pitch
    tracker and no frame-rate line sees. Mean power spectrum over the frames where x
    sounds (its rms over the frame at the descriptors' gate); partials k f0 below
    SEAM_TOP_HZ, each read as the peak within 3 % of k f0. None where the partials are
    closer than SEAM_MIN_SPACING_BINS, fewer than two fit, x does not sound, or y's
    partials lie 60 dB or more under x's (a silent output has no seams)."""
    n = SEAM_FFT
    grid = _partial_numbers(midi_pitch, sample_rate, n, SEAM_MIN_SPACING_BINS)
    if grid is None:
        return None
    spacing, partials = grid
    length = min(len(x), len(y))
    frames_x, frames_y = _frames(x[:length], n), _frames(y[:length], n)
    rms_db = 10 * np.log10(np.maximum(np.mean(frames_x ** 2, axis=-1), 1e-10))
    sounding = rms_db >= desc.SOUNDING_GATE_DB
    if not sounding.any():
        return None

    def partials_and_halfway_db(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        power = (np.abs(np.fft.rfft(frames[sounding] * np.hanning(n), axis=-1)) ** 2).mean(0)
        db = 10 * np.log10(power + 1e-20)
        halfway = np.array([db[int(round((k + 0.5) * spacing))] for k in partials])
        return _partial_peaks(db, partials, spacing), halfway

    (px, hx), (py, hy) = partials_and_halfway_db(frames_x), partials_and_halfway_db(frames_y)
    if py.max() < px.max() - 60.0:
        return None
    return float(np.mean((hy - py) - (hx - px)))


HIGH_PARTIALS_HZ = 4000.0  # where a decoder whose partials wander in pitch hedges them


def _partial_levels_db(x: np.ndarray, y: np.ndarray, sample_rate: int, midi_pitch: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(x's, y's partial levels in dB, each (frames, partials); which are x's strong ones)
    for the figures below: partials k f0 below SEAM_TOP_HZ, each the peak within 3 % of
    k f0; y's read no lower than PARTIAL_FLOOR_DB under x's strongest; strong: within
    PARTIAL_RANGE_DB of it. None where the partials lie closer than
    PARTIAL_MIN_SPACING_BINS or fewer than two fit."""
    n = PARTIAL_FFT
    grid = _partial_numbers(midi_pitch, sample_rate, n, PARTIAL_MIN_SPACING_BINS)
    if grid is None:
        return None
    spacing, partials = grid
    length = min(len(x), len(y))

    def levels_db(audio: np.ndarray) -> np.ndarray:
        spectrum = np.abs(np.fft.rfft(_frames(audio[:length], n) * np.hanning(n), axis=-1))
        return 20 * np.log10(_partial_peaks(spectrum, partials, spacing) + 1e-20)

    lx, ly = levels_db(x), levels_db(y)
    strongest = lx.max()
    return lx, np.maximum(ly, strongest - PARTIAL_FLOOR_DB), lx >= strongest - PARTIAL_RANGE_DB


def _level_error(levels: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> float | None:
    if levels is None:
        return None
    lx, ly, strong = levels
    return float(np.mean(np.abs(ly[strong] - lx[strong])))


def _high_bias(levels: tuple[np.ndarray, np.ndarray, np.ndarray] | None, midi_pitch: float
               ) -> float | None:
    if levels is None:
        return None
    lx, ly, strong = levels
    partials = np.arange(1, lx.shape[-1] + 1)
    strong = strong & (partials * midi_to_hz(midi_pitch) >= HIGH_PARTIALS_HZ)
    return float(np.mean(ly[strong] - lx[strong])) if strong.any() else None


def partial_level_error_db(x: np.ndarray, y: np.ndarray, sample_rate: int,
                           midi_pitch: float) -> float | None:
    """Mean |level of y's partial - x's| (dB), frame by frame, over x's strong partials
    (`_partial_levels_db`): the timbre the decoder rebuilds, partial by partial (a global
    gain error counts too); a missing partial costs PARTIAL_FLOOR_DB and no more."""
    return _level_error(_partial_levels_db(x, y, sample_rate, midi_pitch))


def high_partial_bias_db(x: np.ndarray, y: np.ndarray, sample_rate: int,
                         midi_pitch: float) -> float | None:
    """Mean level of y's partial - x's (dB, signed), frame by frame, over x's strong
    partials from HIGH_PARTIALS_HZ to SEAM_TOP_HZ: below 0 where the decoder plays its
    high partials weaker than the input's (docs/experiments/2026-12-06-the-partials-levels.md).
    None where no strong partial lies there."""
    return _high_bias(_partial_levels_db(x, y, sample_rate, midi_pitch), midi_pitch)


@dataclass
class Note:
    name: str
    audio: np.ndarray
    pitch: float


def load_notes(split_dir: Path, sample_rate: int, limit: int | None = None) -> list[Note]:
    """An NSynth-layout split (audio/*.wav + examples.json) at the model's rate; `limit`
    notes spread evenly over the sorted names (a prefix would be a few instrument families)."""
    examples = json.loads((split_dir / "examples.json").read_text())
    names = sorted(examples)
    if limit is not None and limit < len(names):
        names = [names[i * len(names) // limit] for i in range(limit)]
    return [Note(n, read_mono(split_dir / "audio" / f"{n}.wav", sample_rate),
                 float(examples[n]["pitch"])) for n in names]


@torch.no_grad()
def encode_with_curves(model: NeuroRave, entries: list[dict], audio: np.ndarray
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(posterior mean (1, latent, F), the input's own normalised curves (1, D, F) or None)."""
    cfg = model.config
    length = len(audio) // cfg.compression * cfg.compression
    x = np.asarray(audio[:length], np.float32)
    mean, _ = model.encode_distribution(torch.from_numpy(x)[None, None])
    if not cfg.descriptors:
        return mean, None
    curves = desc.compute(x, cfg.sample_rate, cfg.compression, list(cfg.descriptors))
    normalised = np.stack([desc.normalise(c, e["range"])
                           for c, e in zip(curves, entries, strict=True)])
    return mean, torch.from_numpy(normalised.astype(np.float32))[None]


@torch.no_grad()
def reconstruct(model: NeuroRave, entries: list[dict], audio: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """(output audio, posterior mean (latent, F)) with every descriptor following the input."""
    mean, cond = encode_with_curves(model, entries, audio)
    y = model.decode(mean, cond)[0, 0].numpy()
    return y, mean[0].numpy()


@torch.no_grad()
def pitch_kept_under_other_curves(model: NeuroRave, notes: list[Note],
                                  encoded: list[tuple[torch.Tensor, torch.Tensor | None]]
                                  ) -> float | None:
    """Share of (note, another note of its instrument) pairs in which the first's latent,
    decoded with the second's descriptor curves, keeps the first's pitch (as `fidelity`
    scores it). The faders carry brightness and loudness, and the latent the rest: a
    decoder that reads the register off the curves instead plays the other note's octave.
    `encoded`: encode_with_curves of each note. An instrument is the name before its first
    '-' (NSynth's); None without descriptors or without two pitched notes of one
    instrument."""
    groups: dict[str, list[tuple[Note, tuple]]] = {}
    for note, parts in zip(notes, encoded, strict=True):
        groups.setdefault(note.name.split("-")[0], []).append((note, parts))
    kept = []
    for group in groups.values():
        for note, (mean, _) in group:
            for other, (_, cond) in group:
                if other is note or cond is None:
                    continue
                frames = min(mean.shape[-1], cond.shape[-1])
                y = model.decode(mean[..., :frames], cond[..., :frames])[0, 0].numpy()
                error = pitch_error_cents(note.audio[: len(y)], y, model.config.sample_rate,
                                          note.pitch)
                if error is not None:
                    kept.append(error <= PITCH_TOLERANCE_CENTS)
    return float(np.mean(kept)) if kept else None


# Shifts (semitones) that take a note of NSynth's grid (C and E of each octave in the
# nsynth-like sets) to another pitch class, one per note in turn.
OFF_GRID_SHIFTS = (1, -2, 3, -5, 2, -1, 6, -3)


@torch.no_grad()
def pitch_kept_off_grid(model: NeuroRave, entries: list[dict], notes: list[Note]
                        ) -> float | None:
    """Share of pitched notes that keep their pitch (as `fidelity` scores it) when played
    OFF_GRID_SHIFTS[i] semitones away from where they were recorded: a data set of a few
    pitches per octave trains a model that may play only those."""
    kept = []
    for i, note in enumerate(notes):
        semitones = OFF_GRID_SHIFTS[i % len(OFF_GRID_SHIFTS)]
        x = pitch_shifted(note.audio, semitones).astype(np.float32)
        y, _ = reconstruct(model, entries, x)
        error = pitch_error_cents(x[: len(y)], y, model.config.sample_rate,
                                  note.pitch + semitones)
        if error is not None:
            kept.append(error <= PITCH_TOLERANCE_CENTS)
    return float(np.mean(kept)) if kept else None


@torch.no_grad()
def fidelity(model: NeuroRave, entries: list[dict], notes: list[Note]) -> dict:
    """The figures above over `notes`: pitch, latent activity, frame-rate excess."""
    cfg = model.config
    encoded = [encode_with_curves(model, entries, note.audio) for note in notes]
    errors, excess, means, seams, partial_errors, high = [], [], [], [], [], []
    for note, (latent, cond) in zip(notes, encoded, strict=True):
        y, mean = model.decode(latent, cond)[0, 0].numpy(), latent[0].numpy()
        x = note.audio[: len(y)]
        errors.append(pitch_error_cents(x, y, cfg.sample_rate, note.pitch))
        if errors[-1] is not None:
            seams.append(between_partials_rise_db(x, y, cfg.sample_rate, note.pitch))
            levels = _partial_levels_db(x, y, cfg.sample_rate, note.pitch)
            partial_errors.append(_level_error(levels))
            high.append(_high_bias(levels, note.pitch))
        excess.append(frame_rate_line_excess_db(x, y, cfg.sample_rate, cfg.compression))
        level = desc.compute(x, cfg.sample_rate, cfg.compression, ["rms"])[0]
        means.append(mean[:, level >= desc.SOUNDING_GATE_DB])
    _, silence = reconstruct(model, entries, np.zeros(16 * cfg.compression, np.float32))
    sounding = np.concatenate(means, axis=1)
    variance = sounding.var(axis=1)
    gap = np.linalg.norm(sounding - silence[:, -1:], axis=0)
    pitched = [e for e in errors if e is not None]
    seams = [r for r in seams if r is not None]
    partial_errors = [r for r in partial_errors if r is not None]
    high = [r for r in high if r is not None]
    return {
        "notes": len(notes), "pitched_notes": len(pitched),
        "pitch_kept": float(np.mean([e <= PITCH_TOLERANCE_CENTS for e in pitched]))
        if pitched else None,
        "pitch_kept_other_curves": pitch_kept_under_other_curves(model, notes, encoded),
        "pitch_kept_off_grid": pitch_kept_off_grid(model, entries, notes),
        "median_pitch_error_cents": float(np.median(pitched)) if pitched else None,
        "latent_variance": variance.tolist(),
        "active_dims": int((variance > ACTIVE_VARIANCE).sum()),
        "latent_size": int(cfg.latent_size),
        "note_to_silence": float(np.median(gap)),
        "frame_rate_excess_db": float(np.median([e.max() for e in excess])),
        "frame_rate_excess_db_max": float(np.max(excess)),
        "frame_rate_lines": float(np.median([lines_beyond_chance(e) for e in excess])),
        "between_partials_rise_db": float(np.median(seams)) if seams else None,
        "partial_level_error_db": float(np.median(partial_errors)) if partial_errors else None,
        "high_partial_bias_db": float(np.median(high)) if high else None,
    }


__all__ = ["OFF_GRID_SHIFTS", "between_partials_rise_db", "encode_with_curves", "fidelity",
           "frame_rate_excess_db", "frame_rate_line_excess_db", "frame_rate_lines",
           "high_partial_bias_db", "load_notes", "partial_level_error_db", "pitch_error_cents",
           "pitch_kept_off_grid", "pitch_kept_under_other_curves", "reconstruct"]
