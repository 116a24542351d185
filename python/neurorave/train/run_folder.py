"""A training run folder: where everything lies, and what reads it back.

    RUN/train.json              what to train on and how (written once, at the start)
    RUN/checkpoints/last.ckpt   replaced atomically every `checkpoint_every` batches
    RUN/logs/csv/version_N/metrics.csv   every number logged in session N (see metrics_table)
    RUN/logs/tensorboard/       the same numbers, audio previews and sweep plots
    RUN/previews/batch-K/*.wav  validation audio: input and reconstruction
    RUN/plots/sweep-K.png       control sweeps: target vs achieved descriptor curves
    RUN/prior/last.pt           the prior `neurorave train-prior` fits (prior_fit.py)

trainer.py writes the run, previews.py its previews and plots, prior_fit.py its prior;
reading them needs no Lightning.
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import torch

from ..config import PriorConfig, TrainConfig
from ..files import read_json
from ..format.nrv import read_description, save_nrv
from ..nn.model import NeuroRave
from ..nn.prior import Prior

RUN_FILE = "train.json"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
PRIOR_CHECKPOINT = Path("prior") / "last.pt"


def read_run_info(run_dir: str | Path) -> dict:
    """RUN/train.json: the data set, the training options and the descriptor entries."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a training run (no {RUN_FILE}; "
                                "`neurorave train DATASET -o RUN` makes one)")
    return read_json(path)


AVERAGED_PREFIX = "averaged_model."   # TrainConfig.weight_average_decay's weights


def model_weights(state: dict, last_weights: bool = False) -> dict:
    """The auto-encoder's state dict out of a training checkpoint's (which also holds the
    discriminators'): the weight average where the run keeps one, unless `last_weights`."""
    weights = state["state_dict"]
    prefix = "model."
    if not last_weights and weights.get(AVERAGED_PREFIX + "n_averaged", 0) > 0:
        prefix = AVERAGED_PREFIX + "module."
    return {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}


def load_checkpoint_model(checkpoint: str | Path, last_weights: bool = False):
    """(NeuroRave in eval mode, TrainConfig, descriptor entries, batches done) of a training
    checkpoint, with its averaged weights where it has them, unless `last_weights`."""
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        hparams = state["hyper_parameters"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError) as error:
        raise ValueError(f"{checkpoint}: not a training checkpoint "
                         f"({type(error).__name__}: {error})") from None
    cfg = TrainConfig.from_stored(dict(hparams["train"]))
    model = NeuroRave(cfg.model_config())
    model.load_state_dict(model_weights(state, last_weights))
    return model.eval(), cfg, list(hparams["descriptor_entries"]), int(state["batches_done"])


def load_trained_prior(run_dir: str | Path) -> tuple[Prior, dict] | None:
    """RUN's prior and its figures (as prior_fit.py saves them), or None if it has none."""
    checkpoint = Path(run_dir) / PRIOR_CHECKPOINT
    if not checkpoint.is_file():
        return None
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = PriorConfig.from_dict(state["config"])
    prior = Prior(*state["shape"], cfg.hidden, cfg.layers)
    prior.load_state_dict(state["prior"])
    figures = dict(state["history"][-1]) if state["history"] else {}
    return prior.eval(), {**figures, "steps": state["step"], "seed": cfg.seed}


def export_run(run_dir: str | Path, output: str | Path,
               checkpoint: str | Path | None = None, weights: str = "fp32",
               last_weights: bool = False) -> dict:
    """The run's last (or given) checkpoint as a `.nrv` with its data set's ranges and bins,
    and its prior if `neurorave train-prior` fitted one; `weights` as in `save_nrv`; the
    weight average where the run keeps one, unless `last_weights`."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)  # a folder that is no run is not "a run with no checkpoint yet"
    checkpoint = Path(checkpoint) if checkpoint else run_dir / LAST_CHECKPOINT
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: no checkpoint yet; train longer than "
                                "`checkpoint_every` batches first")
    model, cfg, entries, batches = load_checkpoint_model(checkpoint, last_weights)
    averaged = cfg.weight_average_decay > 0 and not last_weights
    by_name = {e["name"]: e for e in entries}
    descriptors = [by_name[name] for name in model.config.descriptors]
    provenance = {"source": "training", "run": str(run_dir.resolve()), "mode": cfg.mode,
                  "config": cfg.config, "batches": batches, "seed": cfg.seed,
                  "probed_descriptors": list(cfg.descriptors),
                  "averaged_weights": averaged, "recipe": cfg.recipe()}
    if "init_model" in info:
        provenance["started_from"] = _provenance_of(info["init_model"])
    prior, figures = load_trained_prior(run_dir) or (None, None)
    return save_nrv(model, output, descriptors=descriptors, provenance=provenance,
                    prior=prior, prior_figures=figures, weights=weights)


def _provenance_of(model_file: str) -> dict:
    """Where a run's starting model came from, as far as its file still says."""
    try:
        return {"file": model_file, **read_description(model_file).get("provenance", {})}
    except (OSError, ValueError):
        return {"file": model_file}


def _csv_rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def metrics_table(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Every session's metrics.csv as {column: values}, NaN where a row lacks the column.

    A killed session logged batches that its resumption replays: those rows are dropped,
    so each step appears once.
    """
    folders = sorted((Path(run_dir) / "logs" / "csv").glob("version_*"),
                     key=lambda p: int(p.name.removeprefix("version_")))
    sessions = [_csv_rows(f / "metrics.csv") for f in folders if (f / "metrics.csv").is_file()]
    rows: list[dict] = []
    for i, session in enumerate(sessions):
        later = [int(r["step"]) for s in sessions[i + 1:] for r in s]
        rows += [r for r in session if not later or int(r["step"]) < min(later)]
    columns = {key for row in rows for key in row}
    return {key: np.array([float(row[key]) if row.get(key) not in (None, "") else np.nan
                           for row in rows]) for key in columns}
