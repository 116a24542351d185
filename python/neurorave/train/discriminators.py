"""The two discriminators of training.

`LatentDiscriminator` guesses each descriptor's quantile bin from the latent frames: in
F-RAVE the encoder learns to make it fail. `WaveformDiscriminator` judges audio at
several rates for the adversarial fine-tuning of phase 2 (MelGAN-style, hinge loss).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import weight_norm

from ..descriptors import N_BINS

# A frame's length under this is silence-like; dividing by it would blow its noise up.
_UNIT_FRAMES_FLOOR = 1e-3


class LatentDiscriminator(nn.Module):
    """z (B, latent, F) -> one (B, classes, F) logit map per descriptor.

    A small convolutional trunk sees a few neighbouring frames; one 1x1 head per
    descriptor classifies each frame into the descriptor's data-set quantile bins.
    With `unit_frames` each frame of z is first scaled to unit length: only the direction
    of the latent can then betray a descriptor, and the encoder cannot answer the
    confusion by shrinking z as a whole.
    """

    def __init__(self, latent_size: int, n_descriptors: int, hidden: int = 64,
                 classes: int = N_BINS, kernel: int = 3, unit_frames: bool = False):
        super().__init__()
        self.unit_frames = unit_frames
        self.trunk = nn.Sequential(
            nn.Conv1d(latent_size, hidden, kernel, padding=kernel // 2), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2), nn.LeakyReLU(0.2),
        )
        self.heads = nn.ModuleList(nn.Conv1d(hidden, classes, 1) for _ in range(n_descriptors))

    def forward(self, z: Tensor) -> list[Tensor]:
        if self.unit_frames:
            z = z / (z.norm(dim=1, keepdim=True) + _UNIT_FRAMES_FLOOR)
        features = self.trunk(z)
        return [head(features) for head in self.heads]


class _ScaleDiscriminator(nn.Module):
    def __init__(self, capacity: int, layers: int, max_channels: int = 512):
        super().__init__()
        convs = [weight_norm(nn.Conv1d(1, capacity, 15, padding=7))]
        channels = capacity
        for _ in range(layers):
            out = min(channels * 4, max_channels)
            convs.append(weight_norm(nn.Conv1d(channels, out, 41, stride=4, padding=20,
                                               groups=max(1, channels // 4))))
            channels = out
        convs.append(weight_norm(nn.Conv1d(channels, channels, 5, padding=2)))
        self.convs = nn.ModuleList(convs)
        self.output = weight_norm(nn.Conv1d(channels, 1, 3, padding=1))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            features.append(x)
        return self.output(x), features


class WaveformDiscriminator(nn.Module):
    """Audio (B, 1, T) -> (scores, features) of each scale: full rate, then halved, ..."""

    def __init__(self, capacity: int = 16, layers: int = 4, scales: int = 3):
        super().__init__()
        self.scales = nn.ModuleList(_ScaleDiscriminator(capacity, layers) for _ in range(scales))

    def forward(self, audio: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        scores, features = [], []
        for i, scale in enumerate(self.scales):
            if i:
                audio = F.avg_pool1d(audio, 4, 2, padding=1, count_include_pad=False)
            score, inner = scale(audio)
            scores.append(score)
            features += inner
        return scores, features
