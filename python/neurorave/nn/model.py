"""The NeuroRave auto-encoder in torch: the reference for every layer the C++ core runs.

audio -> PQMF analysis -> encoder -> (mean, scale) -> z
z ++ normalised descriptor curves -> decoder -> waveform x amplitude (+ noise) -> PQMF synthesis

F-RAVE and C-RAVE share this decoder (descriptors concatenated to z); plain RAVE is
the same model with no descriptors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from .layers import (
    Conv,
    ConvTranspose,
    DelayTracker,
    LeakyReLU,
    Residual,
    Sequence,
    State,
    WaveformHead,
)
from .pqmf import pqmf_filters


@dataclass(frozen=True)
class Latency:
    """How far streaming lags offline: encoder in latent frames, the rest in samples."""

    encode_frames: int
    decode_samples: int
    forward_samples: int


def _fixed_pqmf(tracker: DelayTracker, cfg: ModelConfig) -> tuple[Conv, ConvTranspose]:
    analysis, synthesis = pqmf_filters(cfg.n_bands, cfg.pqmf_taps_per_band)
    taps = analysis.shape[1]
    conv = Conv(tracker, 1, cfg.n_bands, taps, stride=cfg.n_bands, bias=False, norm=False)
    # conv1d correlates, so the analysis kernels are stored time-reversed.
    conv.conv.weight.data = torch.tensor(analysis[:, None, ::-1].copy(), dtype=torch.float32)
    conv.requires_grad_(False)
    return conv, synthesis


def _residual_branch(cfg: ModelConfig, channels: int, dilation: int):
    def build(tracker: DelayTracker) -> list[nn.Module]:
        return [LeakyReLU(cfg.leaky_slope),
                Conv(tracker, channels, channels, cfg.residual_kernel, dilation=dilation),
                LeakyReLU(cfg.leaky_slope),
                Conv(tracker, channels, channels, 1)]
    return build


def _build_encoder(tracker: DelayTracker, cfg: ModelConfig) -> list[nn.Module]:
    channels = cfg.encoder_channels
    layers: list[nn.Module] = [Conv(tracker, cfg.n_bands, channels[0], cfg.encoder_kernel)]
    for ratio, cin, cout in zip(cfg.ratios, channels[:-1], channels[1:], strict=True):
        layers += [LeakyReLU(cfg.leaky_slope),
                   Conv(tracker, cin, cout, 2 * ratio + 1, stride=ratio)]
    layers += [Residual(tracker, _residual_branch(cfg, channels[-1], d))
               for d in cfg.encoder_residual_dilations]
    layers += [LeakyReLU(cfg.leaky_slope), Conv(tracker, channels[-1], 2 * cfg.latent_size, 3)]
    return layers


def _build_decoder(tracker: DelayTracker, cfg: ModelConfig) -> list[nn.Module]:
    channels = cfg.decoder_channels
    cin = cfg.latent_size + len(cfg.descriptors)
    layers: list[nn.Module] = [Conv(tracker, cin, channels[0], cfg.decoder_kernel)]
    for ratio, c_in, c_out in zip(reversed(cfg.ratios), channels[:-1], channels[1:], strict=True):
        layers += [LeakyReLU(cfg.leaky_slope),
                   ConvTranspose(tracker, c_in, c_out, 2 * ratio, ratio,
                                 hold=cfg.held_upsampling)]
        layers += [Residual(tracker, _residual_branch(cfg, c_out, d))
                   for d in cfg.residual_dilations]
    head_channels = cfg.n_bands * (3 if cfg.noise else 2)
    layers += [LeakyReLU(cfg.leaky_slope),
               Conv(tracker, channels[-1], head_channels, cfg.decoder_kernel),
               WaveformHead(tracker, cfg.n_bands, cfg.noise, cfg.band_dc_pole,
                            cfg.band_dc_period, cfg.band_comb_pole, cfg.band_comb_period,
                            cfg.noise_subbands, math.prod(cfg.ratios))]
    return layers


def _build_noise_shaper(cfg: ModelConfig) -> Sequence:
    """The gains of each band's noise sub-bands, every frame, from the decoder's input. Its
    last conv starts at zero: every gain 1, the white band's noise, so that a model grown
    from one without it plays as before (format/nrv.load_into_trainable)."""
    tracker = DelayTracker(cfg.causal)
    cin, hidden = cfg.latent_size + len(cfg.descriptors), cfg.noise_shaper_channels
    last = Conv(tracker, hidden, cfg.n_bands * cfg.noise_subbands, 1, norm=False)
    with torch.no_grad():
        last.conv.weight.zero_()
        last.conv.bias.zero_()
    return Sequence([Conv(tracker, cin, hidden, 3), LeakyReLU(cfg.leaky_slope),
                     Conv(tracker, hidden, hidden, 1), LeakyReLU(cfg.leaky_slope), last])


INITIAL_SCALE_BIAS = -3.0   # softplus(-3) = 0.05: the posterior's initial spread
INITIAL_MEAN_STD = 1.0      # the posterior mean's spread over real audio, at the start


class NeuroRave(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        tracker = DelayTracker(config.causal)
        if config.n_bands < 2:
            raise ValueError("n_bands must be at least 2 (the PQMF is part of the model)")
        self.pqmf_analysis, synthesis = _fixed_pqmf(tracker, config)
        self.encoder = Sequence(_build_encoder(tracker, config))
        with torch.no_grad():  # a narrow posterior at first: z is heard before KL widens it
            self.encoder.layers[-1].conv.bias[config.latent_size:] = INITIAL_SCALE_BIAS
        encode_delay = tracker.delay
        tracker.delay = 0  # the decoder's own lag, as if z arrived unshifted
        self.decoder = Sequence(_build_decoder(tracker, config))
        self.noise_shaper = _build_noise_shaper(config) if config.noise_subbands > 1 else None
        self.pqmf_synthesis = ConvTranspose(tracker, config.n_bands, 1, synthesis.shape[1],
                                            config.n_bands, bias=False, norm=False)
        self.pqmf_synthesis.conv.weight.data = torch.tensor(synthesis[:, None, :],
                                                            dtype=torch.float32)
        self.pqmf_synthesis.requires_grad_(False)
        decode_delay = tracker.delay
        self.latency = Latency(encode_delay, decode_delay,
                               encode_delay * config.compression + decode_delay)

    # ---- offline -------------------------------------------------------------------
    def encode_distribution(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """audio (B, 1, T) -> mean, std of the posterior, each (B, latent, T / compression)."""
        mean, scale = self.encoder(self.pqmf_analysis(audio)).chunk(2, dim=1)
        return mean, nn.functional.softplus(scale) + 1e-4

    def encode(self, audio: Tensor) -> Tensor:
        return self.encode_distribution(audio)[0]

    @torch.no_grad()
    def initialise_latent_scale(self, audio: Tensor) -> None:
        """Data-dependent initialisation of the posterior mean (weight norm's own recipe,
        Salimans & Kingma 2016): each channel of the mean is centred and scaled to vary
        by INITIAL_MEAN_STD over `audio`.

        At random initialisation the mean varies by about 1e-3 over real audio, so the
        decoder first meets a constant z, learns to do without it, and the latent never
        recovers; a decoder that meets a moving z from the first batch learns to read it.
        """
        mean, _ = self.encode_distribution(audio)
        centre = mean.mean(dim=(0, 2))
        scale = INITIAL_MEAN_STD / mean.std(dim=(0, 2)).clamp(min=1e-8)
        head = self.encoder.layers[-1].conv
        n = self.config.latent_size
        head.parametrizations.weight.original0[:n] *= scale[:, None, None]
        head.bias[:n] = (head.bias[:n] - centre) * scale

    def decode(self, z: Tensor, descriptors: Tensor | None = None) -> Tensor:
        """z (B, latent, F) and normalised descriptors (B, n_desc, F) -> audio (B, 1, F * C)."""
        return self.pqmf_synthesis(self.decode_bands(z, descriptors))

    def decode_bands(self, z: Tensor, descriptors: Tensor | None = None) -> Tensor:
        """`decode` before the PQMF synthesis: band signals (B, n_bands, F * C / n_bands)."""
        condition = self.condition(z, descriptors)
        if self.noise_shaper is None:
            return self.decoder(condition)
        x = condition
        for layer in self.decoder.layers[:-1]:
            x = layer(x)
        return self.decoder.layers[-1](x, self.noise_shaper(condition))

    def forward(self, audio: Tensor, descriptors: Tensor | None = None) -> Tensor:
        return self.decode(self.encode(audio), descriptors)

    def condition(self, z: Tensor, descriptors: Tensor | None) -> Tensor:
        """The decoder's input: z (B, latent, F) followed by the normalised descriptor
        curves (B, n_desc, F); zeros (the centre of every range) when none are given."""
        n = len(self.config.descriptors)
        if n == 0:
            return z
        if descriptors is None:
            descriptors = torch.zeros(z.shape[0], n, z.shape[-1], dtype=z.dtype)
        return torch.cat([z, descriptors], dim=1)

    # ---- streaming -----------------------------------------------------------------
    def init_encoder_state(self, batch: int = 1) -> State:
        return self.pqmf_analysis.init_state(batch) + self.encoder.init_state(batch)

    def init_decoder_state(self, batch: int = 1, after_encoder: bool = False) -> State:
        """`after_encoder`: the decoder is fed by the streaming encoder (forward mode).

        Its input then lags by the encoder's delay, so the noise counter starts that
        much earlier to draw the same numbers as offline `forward`. The noise shaper's
        slots, if any, come first.
        """
        shaper = [] if self.noise_shaper is None else self.noise_shaper.init_state(batch)
        state = self.decoder.init_state(batch)
        if after_encoder and self.config.noise:
            state[-1] = state[-1] - self.noise_lead  # the head's counter is the last slot
        return shaper + state + self.pqmf_synthesis.init_state(batch)

    @property
    def noise_lead(self) -> int:
        """Band samples by which the encoder delays the decoder input when streaming."""
        return self.latency.encode_frames * math.prod(self.config.ratios)

    def stream_encode(self, audio: Tensor, state: State) -> Tensor:
        """Causal, chunk by chunk: `audio` holds whole frames; `state` is updated in place."""
        x, i = self.pqmf_analysis.stream(audio, state, 0)
        x, i = self.encoder.stream(x, state, i)
        return x[:, : self.config.latent_size]

    def stream_decode(self, z_and_descriptors: Tensor, state: State) -> Tensor:
        if self.noise_shaper is None:
            x, i = self.decoder.stream(z_and_descriptors, state, 0)
        else:
            gains, i = self.noise_shaper.stream(z_and_descriptors, state, 0)
            x = z_and_descriptors
            for layer in self.decoder.layers[:-1]:
                x, i = layer.stream(x, state, i)
            x, i = self.decoder.layers[-1].stream(x, state, i, gains)
        return self.pqmf_synthesis.stream(x, state, i)[0]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def stream_in_chunks(model: NeuroRave, audio: Tensor, descriptors: Tensor,
                     frames_per_chunk: int) -> Tensor:
    """Reference streaming forward: encode then decode, chunk by chunk."""
    c = model.config.compression
    enc, dec = model.init_encoder_state(), model.init_decoder_state(after_encoder=True)
    outputs: list[Tensor] = []
    for start in range(0, audio.shape[-1] // c, frames_per_chunk):
        stop = min(start + frames_per_chunk, audio.shape[-1] // c)
        z = model.stream_encode(audio[..., start * c:stop * c], enc)
        outputs.append(model.stream_decode(model.condition(z, descriptors[..., start:stop]), dec))
    return torch.cat(outputs, -1)


__all__: tuple[str, ...] = ("Latency", "NeuroRave", "count_parameters", "stream_in_chunks")
