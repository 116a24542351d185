"""The prior: a GRU that plays latent frames and descriptor values together.

A model with a prior makes sound with no input: each step draws the next frame (the
latent vector, then the descriptors normalised to [-1, 1]) from a diagonal Gaussian
predicted from the frames before it. At play time the knobs bend the descriptor curves
it draws (cpp/include/neurorave/player.hpp, generate mode).

This is the reference of the C++ step (cpp/src/prior.hpp):

    h_l = GRU_l(h_l, input_l)       input_0 = previous frame (zeros at a phrase's start)
    mean, log_scale = head(h_top)   log_scale clamped to [MIN_LOG_SCALE, MAX_LOG_SCALE]
    frame = mean + temperature * exp(log_scale) * noise;  descriptors clamped to [-1, 1]

`neurorave train-prior RUN` encodes the run's data set with the run's encoder (the
posterior mean, as the streaming encoder plays it) and fits the prior by maximum
likelihood; RUN/prior/last.pt is replaced atomically as it goes, so a killed run resumes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .config import PriorConfig

MIN_LOG_SCALE = -7.0
MAX_LOG_SCALE = 2.0
PRIOR_CHECKPOINT = Path("prior") / "last.pt"


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


# ---- training ---------------------------------------------------------------------------

@torch.no_grad()
def encode_windows(model, windows, batch_size: int = 16, desc: str = "encode") -> Tensor:
    """Every window of a TrainingWindows set -> frames (N, T, latent + descriptors)."""
    from tqdm import tqdm

    out = []
    for start in tqdm(range(0, len(windows), batch_size), desc=desc, unit="batch",
                      leave=False):
        items = [windows[i] for i in range(start, min(start + batch_size, len(windows)))]
        audio = torch.stack([a for a, _, _ in items])
        z = model.encode(audio)
        curves = torch.stack([c for _, c, _ in items]).clamp(-1.0, 1.0)
        out.append(torch.cat([z, curves[..., :z.shape[-1]]], dim=1).transpose(1, 2))
    return torch.cat(out)


def _batch(frames: Tensor, size: int, seed: int, step: int) -> Tensor:
    """Batch `step`'s windows: depends on (seed, step) only, so a resumed run redraws it."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return frames[torch.randint(len(frames), (size,), generator=generator)]


def _save(path: Path, prior: Prior, optimizer, cfg: PriorConfig, step: int,
          history: list[dict]) -> None:
    from .nrv import write_atomically

    state = {"config": asdict(cfg), "step": step, "prior": prior.state_dict(),
             "optimizer": optimizer.state_dict(), "history": history,
             "shape": [prior.latent_size, prior.descriptors]}
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def train_prior(run_dir: str | Path, cfg: PriorConfig | None = None,
                progress: bool = True) -> dict:
    """Fit (or go on fitting) RUN's prior; returns the last validation figures."""
    from tqdm import tqdm

    from .store import TrainingWindows, WindowStore
    from .train_run import LAST_CHECKPOINT, load_checkpoint_model, read_run_info

    cfg = cfg or PriorConfig()

    run_dir = Path(run_dir)
    info = read_run_info(run_dir)  # a folder that is no run says so first
    if not (run_dir / LAST_CHECKPOINT).is_file():
        raise FileNotFoundError(f"{run_dir}: no trained model to fit a prior to (no "
                                f"{LAST_CHECKPOINT}); run `neurorave train` first")
    model, _, _, _ = load_checkpoint_model(run_dir / LAST_CHECKPOINT)
    store = WindowStore(info["dataset"])
    names = model.config.descriptors
    train = encode_windows(model, TrainingWindows(store, "train", names), desc="encode train")
    valid = encode_windows(model, TrainingWindows(store, "valid", names), desc="encode valid")
    torch.manual_seed(cfg.seed)
    prior = Prior(model.config.latent_size, len(names), cfg.hidden, cfg.layers)
    optimizer = torch.optim.Adam(prior.parameters(), lr=cfg.learning_rate)
    checkpoint = run_dir / PRIOR_CHECKPOINT
    step, history = 0, []
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if replace(PriorConfig.from_dict(state["config"]), steps=cfg.steps) != cfg:
            raise ValueError(f"{checkpoint}: a prior trained with other settings is there; "
                             "delete it to start again, or give the same settings (only "
                             "--steps may change)")
        prior.load_state_dict(state["prior"])
        optimizer.load_state_dict(state["optimizer"])
        step, history = state["step"], state["history"]
    bar = tqdm(total=cfg.steps, initial=step, desc="train prior", unit="batch",
               disable=not progress)
    while step < cfg.steps:
        loss = prior.nll(_batch(train, cfg.batch_size, cfg.seed, step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        bar.update()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            with torch.no_grad():
                figures = {"step": step, "train_nll": float(loss),
                           "valid_nll": float(prior.nll(valid)) if len(valid) else float("nan")}
            history.append(figures)
            bar.set_postfix(valid_nll=f"{figures['valid_nll']:.3f}")
            _save(checkpoint, prior, optimizer, cfg, step, history)
    bar.close()
    return history[-1] if history else {}


def load_trained_prior(run_dir: str | Path) -> tuple[Prior, dict] | None:
    """RUN's prior and its figures, or None if it has none."""
    checkpoint = Path(run_dir) / PRIOR_CHECKPOINT
    if not checkpoint.is_file():
        return None
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = PriorConfig.from_dict(state["config"])
    prior = Prior(*state["shape"], cfg.hidden, cfg.layers)
    prior.load_state_dict(state["prior"])
    figures = dict(state["history"][-1]) if state["history"] else {}
    return prior.eval(), {**figures, "steps": state["step"], "seed": cfg.seed}
