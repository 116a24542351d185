"""`neurorave train-prior RUN | MODEL.nrv`: fitting the prior (nn/prior.py) to a trained
model.

The data set is encoded with the model's encoder (the posterior mean, as the streaming
encoder plays it) and the prior is fitted by maximum likelihood. Its checkpoint is
replaced atomically as it goes, so a killed or timed-out fit (`--max-minutes`) resumes
where it stopped: RUN/prior/last.pt for a run (run_folder.py reads it back); for a model
file (a blend has no run), OUTPUT.prior-fit.pt next to the file to write, holding the
model file's digest so that only a fit of the same model resumes from it; it goes once
the model is written again, with the prior, to OUTPUT.
"""

from __future__ import annotations

import hashlib
import time
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


FILE_CHECKPOINT_SUFFIX = ".prior-fit.pt"


def file_checkpoint(output: str | Path) -> Path:
    """Where a model file's prior fit keeps its checkpoint: next to the file it writes."""
    output = Path(output)
    return output.with_name(output.name + FILE_CHECKPOINT_SUFFIX)


def _digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _save(path: Path, prior: Prior, optimizer, cfg: PriorConfig, step: int,
          history: list[dict], source: str | None) -> None:
    state = {"config": asdict(cfg), "step": step, "prior": prior.state_dict(),
             "optimizer": optimizer.state_dict(), "history": history,
             "shape": [prior.latent_size, prior.descriptors], "source": source}
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def train_prior(run_dir: str | Path, cfg: PriorConfig | None = None,
                progress: bool = True, max_minutes: float | None = None) -> dict:
    """Fit (or go on fitting) RUN's prior; returns the last validation figures, with
    "stopped_at" (the batches done) where `max_minutes` ran out first."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)  # a folder that is no run says so first
    if not (run_dir / LAST_CHECKPOINT).is_file():
        raise FileNotFoundError(f"{run_dir}: no trained model to fit a prior to (no "
                                f"{LAST_CHECKPOINT}); run `neurorave train` first")
    model, _, _, _ = load_checkpoint_model(run_dir / LAST_CHECKPOINT)
    cfg = cfg or PriorConfig()
    _, history, step = fit_prior(model, WindowStore(info["dataset"]), cfg,
                                 run_dir / PRIOR_CHECKPOINT, progress, max_minutes)
    return _figures(history, step, cfg)


def train_prior_for_file(model_file: str | Path, dataset: str | Path, output: str | Path,
                         cfg: PriorConfig | None = None, progress: bool = True,
                         max_minutes: float | None = None) -> dict:
    """Fit a prior to the model file's encoder on `dataset` (the data set it was trained
    on: its faders' ranges must be the file's) and write the file with it to `output`:
    for a model with no run folder, e.g. a blend. Returns the last validation figures;
    where `max_minutes` runs out first, with "stopped_at", and nothing written but the
    checkpoint the same call resumes from (`file_checkpoint(output)`)."""
    cfg = cfg or PriorConfig()
    model = load_nrv(model_file).eval()
    store = WindowStore(dataset)
    moved = ranges_differing(model_file, store.descriptor_entries(model.config.descriptors))
    if moved:
        raise ValueError(f"{model_file}: the ranges of {', '.join(moved)} differ from "
                         f"{dataset}'s: fit its prior on the data set it was trained on")
    checkpoint = file_checkpoint(output)
    prior, history, step = fit_prior(model, store, cfg, checkpoint, progress, max_minutes,
                                     source=_digest(model_file))
    figures = _figures(history, step, cfg)
    if "stopped_at" in figures:
        return figures
    with_prior(model_file, prior.eval(), {**figures, "steps": figures.get("step", 0),
                                          "seed": cfg.seed}, output)
    checkpoint.unlink(missing_ok=True)
    return figures


def _figures(history: list[dict], step: int, cfg: PriorConfig) -> dict:
    figures = history[-1] if history else {}
    return figures if step >= cfg.steps else {**figures, "stopped_at": step}


def _resume(checkpoint: Path | None, cfg: PriorConfig, source: str | None, prior: Prior,
            optimizer) -> tuple[int, list[dict]]:
    """The batches done and the history of the fit saved at `checkpoint`, its weights and
    optimizer state loaded into `prior` and `optimizer`; (0, []) where there is none."""
    if checkpoint is None or not checkpoint.is_file():
        return 0, []
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if state.get("source") != source:
        raise ValueError(f"{checkpoint}: the fit of another model file's prior is there; "
                         "delete it to start again")
    if replace(PriorConfig.from_dict(state["config"]), steps=cfg.steps) != cfg:
        raise ValueError(f"{checkpoint}: a prior trained with other settings is there; "
                         "delete it to start again, or give the same settings (only "
                         "--steps may change)")
    prior.load_state_dict(state["prior"])
    optimizer.load_state_dict(state["optimizer"])
    return state["step"], state["history"]


def fit_prior(model, store: WindowStore, cfg: PriorConfig, checkpoint: Path | None,
              progress: bool, max_minutes: float | None = None, source: str | None = None
              ) -> tuple[Prior, list[dict], int]:
    """A prior fitted to `model`'s latents and curves over the store's train split, scored
    on its valid split, and the batches done; resumed from and saved to `checkpoint` where
    one is given (`source` names the model a file's fit belongs to). Stops early, saved,
    once `max_minutes` have passed since the call."""
    from tqdm import tqdm

    deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
    names = model.config.descriptors
    train, valid = (encode_windows(model, TrainingWindows(store, split, names),
                                   desc=f"encode {split}", progress=progress)
                    for split in ("train", "valid"))
    torch.manual_seed(cfg.seed)
    prior = Prior(model.config.latent_size, len(names), cfg.hidden, cfg.layers)
    optimizer = torch.optim.Adam(prior.parameters(), lr=cfg.learning_rate)
    step, history = _resume(checkpoint, cfg, source, prior, optimizer)
    bar = tqdm(total=cfg.steps, initial=step, desc="train prior", unit="batch",
               disable=not progress)
    while step < cfg.steps:
        loss = prior.nll(_batch(train, cfg.batch_size, cfg.seed, step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        bar.update()
        scored = step % cfg.checkpoint_every == 0 or step == cfg.steps
        if scored:
            with torch.no_grad():
                figures = {"step": step, "train_nll": float(loss),
                           "valid_nll": float(prior.nll(valid)) if len(valid) else float("nan")}
            history.append(figures)
            bar.set_postfix(valid_nll=f"{figures['valid_nll']:.3f}")
        out_of_time = deadline is not None and time.monotonic() > deadline
        if checkpoint is not None and (scored or out_of_time):
            _save(checkpoint, prior, optimizer, cfg, step, history, source)
        if out_of_time:
            break
    bar.close()
    return prior, history, step
