"""Training for control: decode with drawn target curves and measure what comes out.

A fader is only as good as the decoder's obedience to it, and reconstruction alone never
asks the decoder to obey curves that disagree with the latent. So some steps decode the
latent with target curves drawn as the evaluation draws them (another window's curve, a
constant, a ramp, a sinusoid; 1-4 descriptors replaced), measure the output's descriptors
with the differentiable twins of the reference (`descriptors_torch`) and penalise the
mismatch in normalised units.

Two shortcuts are guarded against: silence (the rms term counts every frame, so a quiet
output cannot dodge a spectral target) and noise (brightness bought with a flatter
spectrum than the sound's own costs `noise_guard`). A latent-cycle term, the output
encoded again against the latent it was decoded from, keeps the rest of the sound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ..descriptors import SOUNDING_GATE_DB
from . import descriptors_torch

CURVE_KINDS = ("other", "constant", "ramp", "sine")


def _rand(generator: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(shape, generator=generator)


def drawn_curve(kind: str, curves: Tensor, row: int, item: int, generator: torch.Generator
                ) -> Tensor:
    """One target curve (frames,) in normalised units for `curves[item, row]`."""
    frames = curves.shape[-1]
    t = torch.linspace(0.0, 1.0, frames)
    lo, hi = (2.0 * _rand(generator, 2) - 1.0).unbind()
    if kind == "other":
        others = curves.shape[0] - 1
        if others == 0:
            return lo.expand(frames).clone()
        shift = 1 + int(_rand(generator, 1) * others) % others
        return curves[(item + shift) % curves.shape[0], row].detach().cpu()
    if kind == "constant":
        return lo.expand(frames).clone()
    if kind == "ramp":
        return lo + (hi - lo) * t
    cycles = 0.5 + 3.5 * _rand(generator, 1)
    amplitude = 0.5 * (1.0 - lo.abs()) + 0.5 * (1.0 - lo.abs()) * _rand(generator, 1)
    phase = 2.0 * math.pi * _rand(generator, 1)
    return lo + amplitude * torch.sin(2.0 * math.pi * cycles * t + phase)


def draw_targets(curves: Tensor, generator: torch.Generator, max_replaced: int = 4
                 ) -> tuple[Tensor, Tensor]:
    """curves (B, n, F) normalised -> (targets (B, n, F), replaced (B, n) bool).

    Each window gets 1..min(max_replaced, n) of its curves replaced, each by a curve of a
    kind drawn uniformly from CURVE_KINDS; the others follow the window.
    """
    batch, n, _ = curves.shape
    targets = curves.detach().clone()
    replaced = torch.zeros(batch, n, dtype=torch.bool)
    for item in range(batch):
        count = 1 + int(_rand(generator, 1) * min(max_replaced, n))
        for row in torch.randperm(n, generator=generator)[:count].tolist():
            kind = CURVE_KINDS[int(_rand(generator, 1) * len(CURVE_KINDS)) % len(CURVE_KINDS)]
            targets[item, row] = drawn_curve(kind, curves, row, item, generator).to(targets)
            replaced[item, row] = True
    return targets.to(curves.device), replaced.to(curves.device)


def released_followers(replaced: Tensor, names: Sequence[str],
                       pairs: Sequence[Sequence[str]]) -> Tensor:
    """(B, n) bool: the descriptors that follow their window (not `replaced`) while the
    other of one of their `pairs` is replaced."""
    released = torch.zeros_like(replaced)
    index = {name: i for i, name in enumerate(names)}
    for first, second in pairs:
        a, b = index[first], index[second]
        released[:, a] |= replaced[:, b] & ~replaced[:, a]
        released[:, b] |= replaced[:, a] & ~replaced[:, b]
    return released


def coupled_targets(targets: Tensor, replaced: Tensor, names: Sequence[str],
                    pairs: Sequence[Sequence[str]]) -> Tensor:
    """`targets` (B, n, F) where a window's draw replaced both descriptors of one of `pairs`:
    the second's target is the first's (in normalised units). Drawn apart, the two ask
    for spectra the data never holds (a dark centroid under a sharp sharpness), where an
    L1 error met half-way costs as much as one target met and the other ignored; drawn
    together, they agree as in the data."""
    index = {name: i for i, name in enumerate(names)}
    coupled = targets.clone()
    for first, second in pairs:
        a, b = index[first], index[second]
        both = replaced[:, a] & replaced[:, b]
        coupled[both, b] = targets[both, a]
    return coupled


def sounding_frames(targets: Tensor, names: Sequence[str], ranges: Tensor,
                    reference_rms_db: Tensor) -> Tensor:
    """(B, F) bool: frames whose requested loudness is above the sounding gate.

    The requested loudness is the rms target where rms is a fader, else the reference's.
    """
    requested = _rms_db(targets, names, ranges) if "rms" in names else reference_rms_db
    return requested >= SOUNDING_GATE_DB


def _rms_db(curves: Tensor, names: Sequence[str], ranges: Tensor) -> Tensor:
    """(B, F): the rms row of normalised curves (B, n, F), in dB."""
    return descriptors_torch.denormalise(curves, ranges)[:, list(names).index("rms")]


def kept_loud_enough(targets: Tensor, curves: Tensor, names: Sequence[str], ranges: Tensor,
                     compression: int, max_drop_db: float) -> Tensor | None:
    """(B, 1, T) bool over samples: where the requested rms lies no more than `max_drop_db`
    below the window's own (`curves`); None where rms is no fader or nothing is left out."""
    if "rms" not in names or math.isinf(max_drop_db):
        return None
    requested, own = _rms_db(targets, names, ranges), _rms_db(curves, names, ranges)
    return (requested >= own - max_drop_db).repeat_interleave(compression, dim=-1)[:, None]


def control_losses(output: Tensor, reference: Tensor, targets: Tensor, names: Sequence[str],
                   ranges: Tensor, sample_rate: int, compression: int, skip_frames: int = 0,
                   descriptor_weights: Sequence[float] | None = None,
                   noise_margin_db: float | None = None,
                   flatness_reference: Tensor | None = None,
                   released: Tensor | None = None, tolerance: float = 0.0
                   ) -> dict[str, Tensor]:
    """{"control", "noise_guard", "control_<name>" for each descriptor} for `output`
    (B, 1, T) decoded with `targets` (B, n, F).

    control: mean absolute error between the output's normalised descriptors and the
    targets (rms over every frame, the others over sounding frames), each descriptor's
    error scaled by its `descriptor_weights` entry (1 each by default; the mean is still
    over the unscaled count, so raising one weight leaves the others' pull as it was).
    control_<name>: that descriptor's unscaled mean error, for the logs. noise_guard: how
    much flatter than `reference` (the sound the latent came from) the output's spectrum
    is, on sounding frames: beyond a margin of 0.05 in linear flatness, or, given
    `noise_margin_db`, 10 log10 of the ratio beyond that many dB, in tens of dB. (A tonal
    note's flatness is near 0.001, -30 dB: the linear margin lets it rise 17 dB unpriced.)
    `flatness_reference`: the audio whose flatness the guard compares with (`reference`
    if None), e.g. the decoder's output under the window's own curves.
    `skip_frames`: leading frames left out (a decoder started from silence on a crop).
    `released` (B, n) bool: descriptors whose error is left out of a window (see
    `released_followers`). `tolerance`: the part of each frame's error priced is what
    exceeds it (normalised units), so frames already near their target stop pulling;
    control_<name> still logs the whole error.
    """
    names = list(names)
    step = descriptors_torch.analysis_step(compression)
    measured = descriptors_torch.compute(output, sample_rate, compression, names + ["flatness"],
                                         frame_step=step)
    with torch.no_grad():
        if flatness_reference is None:
            ref = descriptors_torch.compute(reference, sample_rate, compression,
                                            ["rms", "flatness"], frame_step=step)
        else:   # no spectrum of `reference`: its flatness would go unused
            ref = torch.cat([descriptors_torch.compute(audio, sample_rate, compression, [name],
                                                       frame_step=step)
                             for audio, name in ((reference, "rms"),
                                                 (flatness_reference, "flatness"))], dim=1)
    frames = slice(-(-skip_frames // step), None)   # analysed frame j is frame (j+1) step - 1
    achieved = descriptors_torch.normalise(measured[:, :len(names)], ranges)[..., frames]
    targets = targets[..., step - 1::step][..., :measured.shape[-1]][..., frames]
    sounding = sounding_frames(targets, names, ranges, ref[:, 0, frames]).float()
    error = (achieved - targets).abs()
    weights = torch.stack([torch.ones_like(sounding) if name == "rms" else sounding
                           for name in names], dim=1)
    if released is not None:
        weights = weights * (~released).to(weights)[..., None]
    whole = error * weights
    per_descriptor = whole.detach().sum((0, 2)) / weights.sum((0, 2)).clamp(min=1.0)
    masked = torch.relu(error - tolerance) * weights if tolerance > 0 else whole
    if descriptor_weights is not None:   # at 1 each, the sum below is the one before, bit for bit
        masked = masked * torch.tensor([float(w) for w in descriptor_weights]).to(error)[
            None, :, None]
    control = masked.sum() / weights.sum().clamp(min=1.0)
    if noise_margin_db is None:
        flatter = torch.relu(measured[:, -1, frames] - ref[:, 1, frames] - 0.05)
    else:
        rise_db = 10.0 * torch.log10(measured[:, -1, frames] / ref[:, 1, frames])
        flatter = torch.relu(rise_db - noise_margin_db) / 10.0
    noise_guard = (flatter * sounding).sum() / sounding.sum().clamp(min=1.0)
    return {"control": control, "noise_guard": noise_guard,
            **{f"control_{name}": per_descriptor[i] for i, name in enumerate(names)}}


__all__ = ["CURVE_KINDS", "control_losses", "coupled_targets", "draw_targets", "drawn_curve",
           "kept_loud_enough", "released_followers", "sounding_frames"]
