"""The prior: a GRU that plays latent frames and descriptor values together.

A model with a prior makes sound with no input: each step draws the next frame (the
latent vector, then the descriptors normalised to [-1, 1]) from a diagonal Gaussian
predicted from the frames before it. At play time the knobs bend the descriptor curves
it draws (cpp/include/neurorave/player.hpp, generate mode).

This is the reference of the C++ step (cpp/src/prior.hpp):

    h_l = GRU_l(h_l, input_l)       input_0 = previous frame (zeros at a phrase's start)
    mean, log_scale = head(h_top)   log_scale clamped to [MIN_LOG_SCALE, MAX_LOG_SCALE]
    frame = mean + temperature * exp(log_scale) * noise;  descriptors clamped to [-1, 1]

`neurorave train-prior RUN` fits it (train/prior_fit.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

MIN_LOG_SCALE = -7.0
MAX_LOG_SCALE = 2.0


class Prior(nn.Module):
    def __init__(self, latent_size: int, descriptors: int, hidden: int = 256, layers: int = 2):
        super().__init__()
        self.latent_size, self.descriptors = latent_size, descriptors
        self.frame_size = latent_size + descriptors
        self.gru = nn.GRU(self.frame_size, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 2 * self.frame_size)

    @property
    def hidden(self) -> int:
        return self.gru.hidden_size

    @property
    def layers(self) -> int:
        return self.gru.num_layers

    def predict(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """frames (B, T, F) -> mean, log_scale (B, T, F) of each frame given those before."""
        previous = torch.cat([torch.zeros_like(frames[:, :1]), frames[:, :-1]], dim=1)
        mean, log_scale = self.head(self.gru(previous)[0]).chunk(2, dim=-1)
        return mean, log_scale.clamp(MIN_LOG_SCALE, MAX_LOG_SCALE)

    def nll(self, frames: Tensor) -> Tensor:
        """Mean negative log-likelihood per value, in nats."""
        mean, log_scale = self.predict(frames)
        z = (frames - mean) * torch.exp(-log_scale)
        return (0.5 * z.square() + log_scale).mean() + 0.5 * math.log(2 * math.pi)

    @torch.no_grad()
    def step(self, previous: Tensor, state: Tensor | None, noise: Tensor, temperature: float
             ) -> tuple[Tensor, Tensor]:
        """One frame: previous (F,), state (layers, 1, H) or None -> (frame (F,), state)."""
        out, state = self.gru(previous.view(1, 1, -1), state)
        mean, log_scale = self.head(out.view(-1)).chunk(2)
        log_scale = log_scale.clamp(MIN_LOG_SCALE, MAX_LOG_SCALE)
        frame = mean + temperature * torch.exp(log_scale) * noise
        frame[self.latent_size:] = frame[self.latent_size:].clamp(-1.0, 1.0)
        return frame, state

    @torch.no_grad()
    def generate(self, noise: Tensor, temperature: float = 1.0) -> Tensor:
        """One phrase from its draws: noise (T, F) -> frames (T, F)."""
        frame, state = torch.zeros(self.frame_size), None
        frames = []
        for draws in noise:
            frame, state = self.step(frame, state, draws, temperature)
            frames.append(frame)
        return torch.stack(frames)

    def describe(self) -> dict:
        return {"type": "gru", "hidden": self.hidden, "layers": self.layers}

    def tensors(self) -> dict[str, np.ndarray]:
        """The `prior.*` tensors of a model file, as the C++ core reads them."""
        return {f"prior.{name}": p.detach().cpu().numpy().astype(np.float32)
                for name, p in self.named_parameters()}

    @classmethod
    def from_tensors(cls, description: dict, latent_size: int, descriptors: int,
                     tensors: dict[str, np.ndarray]) -> Prior:
        prior = cls(latent_size, descriptors, description["hidden"], description["layers"])
        state = {name: torch.from_numpy(tensors[f"prior.{name}"])
                 for name, _ in prior.named_parameters()}
        prior.load_state_dict(state)
        return prior.eval()
