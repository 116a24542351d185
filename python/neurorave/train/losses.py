"""Training losses: spectral reconstruction, KL, latent confusion, hinge GAN, feature matching."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

DEFAULT_SCALES = (2048, 1024, 512, 256, 128)


def multiscale_spectral_distance(x: Tensor, y: Tensor, scales: Sequence[int] = DEFAULT_SCALES,
                                 band_limits: Tensor | None = None,
                                 log_weight: float = 1.0) -> Tensor:
    """Mean over STFT sizes of the relative linear distance plus the log-magnitude L1.

    x, y: (batch, 1, T). Sizes longer than T are left out. band_limits (batch,): the share
    of the Nyquist frequency each of x's windows carries (a pitch shift down empties the
    top); bins above it are left out of both terms. log_weight scales the log term.
    Computed in float32 even under mixed precision: small magnitudes underflow in half
    precision.
    """
    x, y = x.float().flatten(0, 1), y.float().flatten(0, 1)
    usable = [s for s in scales if s <= x.shape[-1]]
    if not usable:
        raise ValueError(f"signal of {x.shape[-1]} samples is shorter than every STFT size")
    total = x.new_zeros(())
    with torch.autocast(device_type=x.device.type, enabled=False):
        for size in usable:
            window = torch.hann_window(size, device=x.device)
            sx, sy = (torch.stft(s, size, size // 4, window=window, return_complex=True).abs()
                      for s in (x, y))
            count = sx.numel()
            if band_limits is not None:   # both zeroed there: neither term sees those bins
                share = torch.linspace(0.0, 1.0, sx.shape[1], device=x.device)
                priced = (share[None, :, None] <= band_limits.float()[:, None, None]).float()
                sx, sy = sx * priced, sy * priced
                count = priced.sum() * sx.shape[-1]
            linear = (sx - sy).norm() / (sx.norm() + 1e-7)
            log = (torch.log(sx + 1e-7) - torch.log(sy + 1e-7)).abs().sum() / count
            total = total + linear + log_weight * log
    return total / len(usable)


FRAME_LINE_MARGIN = 2.0   # nats of power (8.7 dB): a bin of noise passes it 1 time in 1600


def frame_line_excess(x: Tensor, y: Tensor, compression: int, guard: int = 3,
                      reach: int = 10, margin: float = FRAME_LINE_MARGIN,
                      geometric_floor: bool = False) -> Tensor:
    """How far y's lines at the frame rate's multiples rise above their neighbourhood,
    beyond x's and a margin (natural log of power, mean over batch and multiples).

    x, y: (batch, 1, T), T a whole number of frames, so that every multiple of the frame
    rate falls on a bin of the window-long spectrum. The neighbourhood (bins guard to
    reach away, past the Hann window's main lobe) is y's own and held fixed: the loss
    lowers the line, it does not raise the floor around it. The margin keeps it off the
    chance peaks of a noisy spectrum, and a dip that x has at a multiple is not asked of
    y: either would reward a comb filter with nulls at the frame rate's multiples.

    geometric_floor: the neighbourhood's level is the mean of its log power rather than
    the log of its mean, as `fidelity.frame_rate_line_excess_db` takes a median: one
    partial's lobe among the neighbours then no longer hides a line between partials,
    which at the training window is where the lines the evaluation counts stand. Chance
    peaks of noise reach 2 nats above that floor 1 time in 60 (the log of an exponential
    variable)."""
    frames = x.shape[-1] // compression
    if frames * compression != x.shape[-1]:
        raise ValueError(f"{x.shape[-1]} samples are not a whole number of frames")
    with torch.autocast(device_type=x.device.type, enabled=False):
        window = torch.hann_window(x.shape[-1], device=x.device)
        power = [torch.fft.rfft(s.float().flatten(0, 1) * window).abs().pow(2) + 1e-12
                 for s in (x, y)]
        lines = torch.arange(frames, power[0].shape[-1] - reach, frames, device=x.device)
        side = torch.arange(guard, reach + 1, device=x.device)
        around = lines[:, None] + torch.cat([-side, side])[None]

        def strength(p: Tensor, floor_grad: bool) -> Tensor:
            neighbours = p[:, around] if floor_grad else p[:, around].detach()
            floor = (neighbours.log().mean(-1) if geometric_floor
                     else neighbours.mean(-1).log())
            return torch.log(p[:, lines]) - floor

        allowed = strength(power[0], True).clamp(min=0.0) + margin
        return F.relu(strength(power[1], False) - allowed).mean()


PERIOD_FRAME = 2048          # 46 ms at 44.1 kHz: two periods of the lowest pitch searched
PERIOD_LOWEST_HZ = 50.0
PERIOD_HIGHEST_HZ = 2000.0
PERIOD_GATE_DB = -60.0       # frames of the target quieter than this are not scored


def _frames(s: Tensor, frame: int) -> Tensor:
    """(batch, 1, T) -> (batch, frames, frame) as float, hop a quarter of a frame."""
    return s.float().flatten(0, 1).unfold(-1, frame, frame // 4)


def _hann_frames(s: Tensor, window: Tensor) -> Tensor:
    """(batch, 1, T) -> (batch, frames, len(window)): `_frames`, windowed."""
    return _frames(s, window.shape[-1]) * window


def _level_db(frames: Tensor, window: Tensor) -> Tensor:
    """Each windowed frame's mean power in dB, the window's own energy divided out."""
    return 10.0 * torch.log10(frames.pow(2).sum(-1) / window.pow(2).sum() + 1e-12)


def periodicity_distance(x: Tensor, y: Tensor, sample_rate: int, frame: int = PERIOD_FRAME,
                         gate_db: float = PERIOD_GATE_DB) -> Tensor:
    """Mean |r_x - r_y| of the frames' normalised autocorrelations over the lags of the
    periods a pitch tracker searches (50 Hz to 2 kHz), on frames where x sounds.

    x, y: (batch, 1, T), T >= frame. A tracker (YIN) reads the pitch off these lags: an
    output that plays the note an octave up peaks at half the period where the input dips,
    though its spectrum differs from the input's in a few partials among thousands of
    bins, which the spectral distance prices little. Normalised by each frame's energy:
    the loudness is the spectral distance's business. Invariant to phase (the
    autocorrelation is the power spectrum's transform).
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        window = torch.hann_window(frame, device=x.device)

        def autocorrelation(f: Tensor) -> Tensor:
            power = torch.fft.rfft(f, n=2 * frame).abs().pow(2)
            r = torch.fft.irfft(power, n=2 * frame)[..., :frame]
            return r / (r[..., :1] + 1e-9)

        fx, fy = _hann_frames(x, window), _hann_frames(y, window)
        lags = slice(int(sample_rate / PERIOD_HIGHEST_HZ), int(sample_rate / PERIOD_LOWEST_HZ) + 1)
        gap = (autocorrelation(fx)[..., lags] - autocorrelation(fy)[..., lags]).abs().mean(-1)
        sounding = (_level_db(fx, window) > gate_db).float()
        return (gap * sounding).sum() / sounding.sum().clamp(min=1.0)


PARTIAL_FRAME = 4096           # 93 ms at 44.1 kHz: partials of 65 Hz and up resolved
PARTIAL_PEAK_HZ = 170.0        # a bin against its neighbours this far around: is it a peak?
PARTIAL_ENVELOPE_HZ = 3000.0   # the spectral envelope: is there sound in this region at all?
PARTIAL_TOP_HZ = 6000.0
PARTIAL_FLOOR_DB = -30.0       # envelopes further below the frame's loudest: not scored
PARTIAL_PEAK_RATIO = 4.0       # a peak: 4 x its neighbours' mean (noise: 1 bin in 55) ...
PARTIAL_PEAK_DB = -40.0        # ... within 40 dB of the frame's loudest bin (a noise floor's: not)


def _moving_mean(power: Tensor, hz: float, frame: int, sample_rate: int) -> Tensor:
    """Each bin's mean over the bins within `hz` around it (fewer at the edges), of power
    spectra (..., bins) of `frame`-sample frames."""
    span = 2 * round(hz / 2 * frame / sample_rate) + 1
    return F.avg_pool1d(power.flatten(0, 1)[:, None], span, 1, span // 2,
                        count_include_pad=False).view(power.shape)


def partial_distance(x: Tensor, y: Tensor, sample_rate: int, frame: int = PARTIAL_FRAME,
                     gate_db: float = PERIOD_GATE_DB, where: Tensor | None = None,
                     peak_hz: float = PARTIAL_PEAK_HZ) -> Tensor:
    """Mean |p_x - p_y| over the bins where either signal has a partial: p = r / (1 + r),
    r a bin's power over its neighbours' mean (`peak_hz` around it), whatever the
    level there. A partial: r above PARTIAL_PEAK_RATIO within 40 dB of the frame's loudest
    bin; y's partials count up to x's highest only. Scored below PARTIAL_TOP_HZ, where
    both signals' envelopes (PARTIAL_ENVELOPE_HZ wide) are within 30 dB of their loudest,
    in frames where both sound (and, given `where`, (batch, 1, T) bool, whose every
    sample is in it).

    x, y: (batch, 1, T); a T shorter than frame takes the longest power of two it holds.
    The pitch without the spectral envelope: a y asked for another brightness, bandwidth
    or loudness than x's (drawn control curves) moves its envelope and keeps x's partials
    where they are (a darker, brighter or quieter copy of a harmonic note scores 0.005 at
    most); a y an octave up lacks every other partial of x, one an octave down has
    partials between x's (0.2-0.45 from 110 Hz to 1 kHz). The normalised autocorrelation
    (periodicity_distance) reads the envelope too: a darker copy scores there like an
    octave. Neighbourhoods and masks are held fixed under the gradient, which moves y's
    partials, not its envelope.
    """
    if x.shape[-1] < frame:
        frame = 1 << (x.shape[-1].bit_length() - 1)
    with torch.autocast(device_type=x.device.type, enabled=False):
        window = torch.hann_window(frame, device=x.device)
        top = int(PARTIAL_TOP_HZ * frame / sample_rate)
        floor = 10.0 ** (PARTIAL_FLOOR_DB / 10.0)

        def analyse(s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            frames = _hann_frames(s, window)
            power = torch.fft.rfft(frames).abs().pow(2)[..., :top]
            neighbours = _moving_mean(power.detach(), peak_hz, frame, sample_rate)
            ratio = power / neighbours.clamp(min=1e-20)
            loud = power.detach() > 10.0 ** (PARTIAL_PEAK_DB / 10.0) * power.detach().amax(
                -1, keepdim=True)
            peak = loud & (ratio.detach() > PARTIAL_PEAK_RATIO)
            envelope = _moving_mean(power.detach(), PARTIAL_ENVELOPE_HZ, frame,
                                    sample_rate)
            sounding = _level_db(frames.detach(), window)[..., None] > gate_db
            scored = (envelope > floor * envelope.amax(-1, keepdim=True)) & sounding
            return ratio, scored, peak

        (rx, sx, peak_x), (ry, sy, peak_y) = analyse(x), analyse(y)
        # y's partials above x's highest are a brighter sound, not another pitch: priced,
        # a copy brightened by partials cost 0.26 at 110 Hz (an octave's price), by noise 0.
        bins = torch.arange(peak_x.shape[-1], device=x.device)
        highest = torch.where(peak_x, bins, -1).amax(-1, keepdim=True)
        within = bins <= highest + round(peak_hz / 2 * frame / sample_rate)
        scored = sx & sy & (peak_x | (peak_y & within))
        if where is not None:
            inside = _frames(where, frame).amin(-1) > 0.5
            scored = scored & inside[..., None]
        scored = scored.float()
        gap = (rx / (1.0 + rx) - ry / (1.0 + ry)).abs()
        return (gap * scored).sum() / scored.sum().clamp(min=1.0)


PARTIAL_LEVEL_FRAME = 2048     # 21.5 Hz bins at 44.1 kHz: partials of 90 Hz and up apart
PARTIAL_LEVEL_SPAN = 2         # bins either side at least: a Hann window's main lobe
PARTIAL_LEVEL_CENTS = 17.0     # and this far either side (1 %): a partial's pitch error
PARTIAL_LEVEL_FLOOR = 1e-4     # y's energy around a partial counts from 40 dB under x's


def partial_level_distance(x: Tensor, y: Tensor, sample_rate: int,
                           frame: int = PARTIAL_LEVEL_FRAME,
                           gate_db: float = PERIOD_GATE_DB) -> Tensor:
    """Mean |log| of the ratio of y's energy to x's around each of x's partials (in nats
    of magnitude), on frames where x sounds: the partials' levels, each partial weighed
    alike whatever its level.

    x, y: (batch, 1, T); a T shorter than frame takes the longest power of two it holds.
    A partial of x: a local maximum PARTIAL_PEAK_RATIO x its neighbours' mean
    (PARTIAL_PEAK_HZ around) within 40 dB of the frame's loudest bin. Its energy is the
    power summed over PARTIAL_LEVEL_SPAN bins or PARTIAL_LEVEL_CENTS either side,
    whichever is wider, so a partial of y a little off in pitch still counts whole.
    Among the thousands of bins of the spectral distance the partials are a few, and the
    highest are where a decoder whose pitch wavers by a few cents hedges: there a weaker
    partial costs the log and linear terms less than one in the wrong bins (the default
    played partials above 4 kHz 5-6 dB under its training notes',
    docs/experiments/2026-12-06-the-partials-levels.md).
    """
    if x.shape[-1] < frame:
        frame = 1 << (x.shape[-1].bit_length() - 1)
    with torch.autocast(device_type=x.device.type, enabled=False):
        window = torch.hann_window(frame, device=x.device)
        fx = _hann_frames(x.detach(), window)
        px = torch.fft.rfft(fx).abs().pow(2)
        py = torch.fft.rfft(_hann_frames(y, window)).abs().pow(2)
        local_mean = _moving_mean(px, PARTIAL_PEAK_HZ, frame, sample_rate)
        local_max = F.max_pool1d(px.flatten(0, 1)[:, None], 3, 1, 1).view(px.shape)
        peak = ((px >= local_max) & (px > PARTIAL_PEAK_RATIO * local_mean)
                & (px > 10.0 ** (PARTIAL_PEAK_DB / 10.0) * px.amax(-1, keepdim=True))
                & (_level_db(fx, window) > gate_db)[..., None])
        bins = torch.arange(px.shape[-1], device=x.device)
        reach = torch.maximum(torch.full_like(bins, PARTIAL_LEVEL_SPAN),
                              (bins * (2.0 ** (PARTIAL_LEVEL_CENTS / 1200.0) - 1.0)).long())
        low = (bins - reach).clamp(min=0)
        high = (bins + reach + 1).clamp(max=px.shape[-1])

        def energy(power: Tensor) -> Tensor:
            cumulative = F.pad(power.cumsum(-1), (1, 0))
            return cumulative[..., high] - cumulative[..., low]

        # y's energy counts from 40 dB under x's up: a partial y lacks costs 4.6 nats at
        # most, its gradient still pulling, and no few missing partials drown the rest.
        ex = energy(px)
        floor = PARTIAL_LEVEL_FLOOR * ex + 1e-12
        gap = 0.5 * (torch.log(energy(py) + floor) - torch.log(ex + floor)).abs()
        peak = peak.float()
        return (gap * peak).sum() / peak.sum().clamp(min=1.0)


BAND_DC_FLOOR_DB = -50.0   # the data's own bands, over whole notes: -46 to -67 dB of DC


def band_dc_excess(bands: Tensor, reference: Tensor, floor_db: float = BAND_DC_FLOOR_DB
                   ) -> Tensor:
    """How far each band signal's mean stands above the reference band's (or `floor_db`,
    whichever is higher), as a share of the band's power, in tens of dB (mean over batch
    and bands; 0 below).

    bands, reference: (batch, n_bands, T), before the PQMF synthesis and after the
    analysis of the target. A band's DC comes out of the synthesis as a steady tone at the
    band's edge, a multiple of sample_rate / n_bands (5.5, 11 and 16.5 kHz at 44.1 kHz and
    8 bands), and out of band 0 as DC. The reference keeps what a short crop of a low
    note has as its mean.
    """
    def share_db(b: Tensor) -> Tensor:
        b = b.float()
        share = b.mean(-1).pow(2) / (b.pow(2).mean(-1) + 1e-12)
        return 10.0 * torch.log10(share + 1e-12)

    allowed = share_db(reference.detach()).clamp(min=floor_db)
    return F.relu(share_db(bands) - allowed).mean() / 10.0


def kl_divergence(mean: Tensor, std: Tensor, free_bits: float = 0.0) -> Tensor:
    """KL(N(mean, std^2) || N(0, 1)), summed over latent channels, averaged over frames.

    `free_bits` (nats): a channel's average KL below it costs nothing (Kingma et al.
    2016), so the prior cannot pull every channel down to carrying nothing.
    """
    var = std.pow(2)
    per_channel = 0.5 * (mean.pow(2) + var - torch.log(var) - 1).mean(dim=(0, 2))
    if free_bits > 0:
        per_channel = per_channel.clamp(min=free_bits)
    return per_channel.sum()


ACTIVE_VARIANCE = 0.01   # a latent channel whose posterior mean varies less is inactive


@torch.no_grad()
def latent_statistics(mean: Tensor, std: Tensor) -> dict[str, Tensor]:
    """How much the latent carries, from a batch of posteriors (B, latent, F).

    active_dims: channels whose posterior mean varies over the batch's frames by more
    than ACTIVE_VARIANCE (Burda et al. 2016's activity). latent_mi: the mutual
    information between input frame and z, in nats, for Gaussian posteriors and a
    Gaussian fit of their mixture: sum over channels of 0.5 log(total / within), where
    within is the mean posterior variance and total adds the means' variance.
    """
    mean, var = mean.float(), std.float().pow(2)
    between = mean.var(dim=(0, 2), unbiased=False)
    within = var.mean(dim=(0, 2))
    return {"active_dims": (between > ACTIVE_VARIANCE).sum().float(),
            "latent_mi": 0.5 * torch.log1p(between / within).sum()}


def descriptor_cross_entropy(logits: Sequence[Tensor], bins: Tensor) -> Tensor:
    """Mean over descriptors of the frame-wise cross-entropy; logits[i]: (B, classes, F)."""
    return torch.stack([F.cross_entropy(lg, bins[:, i]) for i, lg in enumerate(logits)]).mean()


def confusion_loss(logits: Sequence[Tensor]) -> Tensor:
    """Cross-entropy of the discriminator's guesses against the uniform distribution.

    The bins are data-set quantiles, so every class is equally frequent: a latent that
    carries nothing about a descriptor leaves the discriminator no better than uniform.
    The loss is 0 exactly there (log(classes) is subtracted) and bounded below, unlike
    maximising the discriminator's own loss, which rewards confidently wrong guesses.
    """
    terms = [-F.log_softmax(lg.float(), dim=1).mean(1).mean() - math.log(lg.shape[1])
             for lg in logits]
    return torch.stack(terms).mean()


def bin_accuracy(logits: Sequence[Tensor], bins: Tensor) -> Tensor:
    """(descriptors,) share of frames whose bin the discriminator guessed right."""
    return torch.stack([(lg.argmax(1) == bins[:, i]).float().mean()
                        for i, lg in enumerate(logits)])


def hinge_discriminator(real: Sequence[Tensor], fake: Sequence[Tensor]) -> Tensor:
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake,
                                                                             strict=True))


def hinge_generator(fake: Sequence[Tensor]) -> Tensor:
    return sum(-f.mean() for f in fake)


def feature_matching(real_features: Sequence[Tensor], fake_features: Sequence[Tensor]
                     ) -> Tensor:
    """L1 between the discriminators' inner features of real and generated audio."""
    pairs = list(zip(real_features, fake_features, strict=True))
    return sum((r.detach() - f).abs().mean() for r, f in pairs) / max(1, len(pairs))
