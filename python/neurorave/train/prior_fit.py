"""`neurorave train-prior RUN | MODEL.nrv`: fitting the prior (nn/prior.py) to a trained
model.

The data set is encoded with the model's encoder (the posterior mean, as the streaming
encoder plays it) and the prior is fitted by maximum likelihood. For a run,
RUN/prior/last.pt is replaced atomically as it goes, so a killed fit resumes
(run_folder.py reads it back); for a model file (a blend has no run), the file is written
again with the prior, to another path.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import Tensor

from ..config import PriorConfig
from ..data.store import TrainingWindows, WindowStore
from ..files import write_atomically
from ..format.nrv import load_nrv, ranges_differing, with_prior
from ..nn.prior import Prior
from .run_folder import (
    LAST_CHECKPOINT,
    PRIOR_CHECKPOINT,
    load_checkpoint_model,
    read_run_info,
)


@torch.no_grad()
def encode_windows(model, windows, batch_size: int = 16, desc: str = "encode",
                   progress: bool = True) -> Tensor:
    """Every window of a TrainingWindows set -> frames (N, T, latent + descriptors)."""
    from tqdm import tqdm

    out = []
    for start in tqdm(range(0, len(windows), batch_size), desc=desc, unit="batch",
                      leave=False, disable=not progress):
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
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)  # a folder that is no run says so first
    if not (run_dir / LAST_CHECKPOINT).is_file():
        raise FileNotFoundError(f"{run_dir}: no trained model to fit a prior to (no "
                                f"{LAST_CHECKPOINT}); run `neurorave train` first")
    model, _, _, _ = load_checkpoint_model(run_dir / LAST_CHECKPOINT)
    _, history = fit_prior(model, WindowStore(info["dataset"]), cfg or PriorConfig(),
                           run_dir / PRIOR_CHECKPOINT, progress)
    return history[-1] if history else {}


def train_prior_for_file(model_file: str | Path, dataset: str | Path, output: str | Path,
                         cfg: PriorConfig | None = None, progress: bool = True) -> dict:
    """Fit a prior to the model file's encoder on `dataset` (the data set it was trained
    on: its faders' ranges must be the file's) and write the file with it to `output`:
    for a model with no run folder, e.g. a blend. Returns the last validation figures."""
    cfg = cfg or PriorConfig()
    model = load_nrv(model_file).eval()
    store = WindowStore(dataset)
    moved = ranges_differing(model_file, store.descriptor_entries(model.config.descriptors))
    if moved:
        raise ValueError(f"{model_file}: the ranges of {', '.join(moved)} differ from "
                         f"{dataset}'s: fit its prior on the data set it was trained on")
    prior, history = fit_prior(model, store, cfg, None, progress)
    figures = history[-1] if history else {}
    with_prior(model_file, prior.eval(), {**figures, "steps": figures.get("step", 0),
                                          "seed": cfg.seed}, output)
    return figures


def fit_prior(model, store: WindowStore, cfg: PriorConfig, checkpoint: Path | None,
              progress: bool) -> tuple[Prior, list[dict]]:
    """A prior fitted to `model`'s latents and curves over the store's train split, scored
    on its valid split; resumed from and saved to `checkpoint` where one is given."""
    from tqdm import tqdm

    names = model.config.descriptors
    train, valid = (encode_windows(model, TrainingWindows(store, split, names),
                                   desc=f"encode {split}", progress=progress)
                    for split in ("train", "valid"))
    torch.manual_seed(cfg.seed)
    prior = Prior(model.config.latent_size, len(names), cfg.hidden, cfg.layers)
    optimizer = torch.optim.Adam(prior.parameters(), lr=cfg.learning_rate)
    step, history = 0, []
    if checkpoint is not None and checkpoint.is_file():
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
            if checkpoint is not None:
                _save(checkpoint, prior, optimizer, cfg, step, history)
    bar.close()
    return prior, history
