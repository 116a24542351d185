"""Model configurations: one dataclass, a few named presets."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

DEFAULT_DESCRIPTORS = ("rms", "centroid", "bandwidth", "sharpness", "boominess")
# The data sets `neurorave data build` renders (datasets.BUILDERS, in this order).
DATASET_KINDS = ("nsynth-like", "drums", "speech-digits")


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the NeuroRave auto-encoder.

    `compression` (audio samples per latent frame) is `n_bands * prod(ratios)`.
    """

    sample_rate: int = 44100
    n_bands: int = 16
    pqmf_taps_per_band: int = 8
    ratios: tuple[int, ...] = (4, 4, 4, 2)
    capacity: int = 64
    latent_size: int = 16
    encoder_kernel: int = 7
    decoder_kernel: int = 7
    residual_dilations: tuple[int, ...] = (1, 3, 9)
    residual_kernel: int = 3
    leaky_slope: float = 0.2
    noise: bool = True
    causal: bool = False
    descriptors: tuple[str, ...] = DEFAULT_DESCRIPTORS

    @property
    def compression(self) -> int:
        return self.n_bands * math.prod(self.ratios)

    @property
    def encoder_channels(self) -> list[int]:
        """Channels after the input conv and after each downsampling stage."""
        return [self.capacity * 2**i for i in range(len(self.ratios) + 1)]

    @property
    def decoder_channels(self) -> list[int]:
        """Channels after the input conv and after each upsampling stage."""
        return list(reversed(self.encoder_channels))

    def with_(self, **changes) -> ModelConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["ratios"] = list(self.ratios)
        data["residual_dilations"] = list(self.residual_dilations)
        data["descriptors"] = list(self.descriptors)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        data = dict(data)
        for key in ("ratios", "residual_dilations", "descriptors"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


CONFIGS: dict[str, ModelConfig] = {
    # Seconds to build and run: for tests.
    "tiny": ModelConfig(
        sample_rate=16000, n_bands=4, ratios=(2, 2), capacity=8, latent_size=4,
        residual_dilations=(1, 3), noise=True,
    ),
    # The embedded module's model: about 1.5 M parameters.
    "small": ModelConfig(
        sample_rate=44100, n_bands=16, ratios=(4, 4, 2), capacity=44, latent_size=8,
        residual_dilations=(1, 3, 9), noise=True,
    ),
    # RAVE v1 scale: about 17 M parameters, compression 2048.
    "v1": ModelConfig(
        sample_rate=44100, n_bands=16, ratios=(4, 4, 4, 2), capacity=76, latent_size=16,
        residual_dilations=(1, 3, 9), noise=True,
    ),
    # Causal, compression 128: 2.9 ms frames at 44.1 kHz.
    "lowlatency": ModelConfig(
        sample_rate=44100, n_bands=8, pqmf_taps_per_band=4, ratios=(4, 4), capacity=32,
        latent_size=8, residual_dilations=(1, 3, 9), noise=True, causal=True,
    ),
}


def get_config(name: str, **overrides) -> ModelConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose one of {', '.join(CONFIGS)}")
    return CONFIGS[name].with_(**overrides) if overrides else CONFIGS[name]




@dataclass(frozen=True)
class PriorConfig:
    """How `neurorave train-prior` fits the prior (prior.py); here, without torch, so
    that the command line reads its defaults on the numpy-only install."""

    hidden: int = 256
    layers: int = 2
    steps: int = 4000
    batch_size: int = 32
    learning_rate: float = 1e-3
    checkpoint_every: int = 500
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict) -> PriorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown prior setting(s): {', '.join(unknown)}")
        return cls(**values)


__all__ = ["CONFIGS", "DATASET_KINDS", "DEFAULT_DESCRIPTORS", "ModelConfig", "PriorConfig",
           "get_config"]
