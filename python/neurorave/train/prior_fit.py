"""`neurorave train-prior RUN`: fitting the prior (nn/prior.py) to a trained run.

The run's data set is encoded with the run's encoder (the posterior mean, as the streaming
encoder plays it) and the prior is fitted by maximum likelihood; RUN/prior/last.pt is
replaced atomically as it goes, so a killed run resumes (run_folder.py reads it back).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import Tensor

from ..config import PriorConfig
from ..data.store import TrainingWindows, WindowStore
from ..files import write_atomically
from ..nn.prior import Prior
from .run_folder import (
    LAST_CHECKPOINT,
    PRIOR_CHECKPOINT,
    load_checkpoint_model,
    read_run_info,
)


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
    state = {"config": asdict(cfg), "step": step, "prior": prior.state_dict(),
             "optimizer": optimizer.state_dict(), "history": history,
             "shape": [prior.latent_size, prior.descriptors]}
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def train_prior(run_dir: str | Path, cfg: PriorConfig | None = None,
                progress: bool = True) -> dict:
    """Fit (or go on fitting) RUN's prior; returns the last validation figures."""
    from tqdm import tqdm

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
