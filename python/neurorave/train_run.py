"""A training run folder: start, resume after any interruption, export.

    RUN/train.json              what to train on and how (written once, at the start)
    RUN/checkpoints/last.ckpt   replaced atomically every `checkpoint_every` batches
    RUN/logs/csv/version_N/metrics.csv   every number logged in session N (see metrics_table)
    RUN/logs/tensorboard/       the same numbers, audio previews and sweep plots
    RUN/previews/batch-K/*.wav  validation audio: input and reconstruction
    RUN/plots/sweep-K.png       control sweeps: target vs achieved descriptor curves
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from .nrv import read_json, save_nrv, write_atomically, write_json_atomically
from .store import WindowStore
from .training import NeuroRaveTraining, TrainConfig

RUN_FILE = "train.json"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what to learn): may change between a run and its resumption."""

    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str | None = None      # None: bf16-mixed on a GPU, 32-true on the CPU
    num_workers: int = 0
    checkpoint_every: int = 1000
    validate_every: int = 2000
    validation_batches: int = 8
    log_every: int = 50
    progress_bar: bool = True
    max_minutes: float | None = None  # stop this session after so long (checkpointed)
    max_cpu_minutes: float | None = None  # ... or after this much CPU time of this process


class AtomicCheckpointIO(TorchCheckpointIO):
    """A checkpoint is written beside its place, then renamed: a kill never leaves half."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        write_atomically(path, lambda tmp: super(AtomicCheckpointIO, self).save_checkpoint(
            checkpoint, tmp, storage_options))


class StepCheckpoint(L.Callback):
    """RUN/checkpoints/last.ckpt every `every` batches and when training stops."""

    def __init__(self, path: Path, every: int):
        self.path, self.every = path, max(1, every)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.batches_done % self.every == 0 or trainer.should_stop:
            trainer.save_checkpoint(self.path)


class SessionTimeLimit(L.Callback):
    """Stops training `minutes` after this session started. Unlike Lightning's `max_time`,
    whose clock is saved in the checkpoint, a resumed run gets its full time again.

    `clock`: time.monotonic (wall time) or time.process_time (this process's CPU time,
    for runs compared at equal CPU time on a machine that does other work too).
    """

    def __init__(self, minutes: float, clock=time.monotonic):
        self.seconds, self.clock = 60.0 * minutes, clock
        self.started = clock()

    def on_train_start(self, trainer, module) -> None:
        self.started = self.clock()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        over = self.clock() - self.started >= self.seconds
        # Every rank must stop at the same batch, or DDP waits for ever on the others.
        trainer.should_stop = trainer.should_stop or trainer.strategy.reduce_boolean_decision(
            over, all=False)


def _is_launched_worker() -> bool:
    """True in the processes that Lightning's DDP launcher starts beside rank 0."""
    return int(os.environ.get("LOCAL_RANK", 0)) != 0 or int(os.environ.get("NODE_RANK", 0)) != 0


def _check_dataset(store: WindowStore, cfg: TrainConfig) -> list[dict]:
    model = cfg.model_config()
    if (store.sample_rate, store.compression) != (model.sample_rate, model.compression):
        raise ValueError(
            f"{store.folder}: preprocessed at {store.sample_rate} Hz with {store.compression} "
            f"samples per frame, but config {cfg.config!r} needs {model.sample_rate} Hz and "
            f"{model.compression}; run `neurorave preprocess AUDIO -o NEW_DIR --config "
            f"{cfg.config}`")
    return store.descriptor_entries(cfg.descriptors)


def start_run(dataset: str | Path, run_dir: str | Path, cfg: TrainConfig,
              options: RunOptions = RunOptions()) -> Path:
    """A new run in `run_dir`, trained until `cfg.steps` batches or interrupted."""
    run_dir = Path(run_dir)
    if (run_dir / RUN_FILE).is_file() and not _is_launched_worker():
        raise FileExistsError(f"{run_dir}: already holds a training run; continue it with "
                              f"`neurorave train --resume {run_dir}` or choose another -o")
    store = WindowStore(dataset)
    entries = _check_dataset(store, cfg)
    if not _is_launched_worker():
        info = {"dataset": str(Path(dataset).resolve()), "train": cfg.to_dict(),
                "descriptors": entries}
        write_json_atomically(run_dir / RUN_FILE, info, indent=1)
    return _fit(run_dir, options, resume=False)


def read_run_info(run_dir: str | Path) -> dict:
    """RUN/train.json: the data set, the training options and the descriptor entries."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a training run (no {RUN_FILE}; "
                                "`neurorave train DATASET -o RUN` makes one)")
    return read_json(path)


def resume_run(run_dir: str | Path, options: RunOptions = RunOptions(),
               steps: int | None = None) -> Path:
    """Continue `run_dir` from its last checkpoint; `steps` may raise its total."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    if steps is not None and not _is_launched_worker():
        info["train"]["steps"] = steps
        write_json_atomically(run_dir / RUN_FILE, info, indent=1)
    return _fit(run_dir, options, resume=True)


def _trainer(run_dir: Path, options: RunOptions) -> L.Trainer:
    from lightning.pytorch.callbacks import TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    from .training_previews import PreviewCallback

    on_gpu = options.accelerator in ("gpu", "cuda") or (
        options.accelerator == "auto" and torch.cuda.is_available())
    precision = options.precision or ("bf16-mixed" if on_gpu else "32-true")
    strategy = options.strategy
    if strategy == "ddp":   # phase 1 leaves the waveform discriminator unused
        strategy = "ddp_find_unused_parameters_true"
    callbacks = [StepCheckpoint(run_dir / LAST_CHECKPOINT, options.checkpoint_every),
                 PreviewCallback(run_dir)]
    # before the checkpoint: a stop they decide is saved at once
    if options.max_minutes:
        callbacks.insert(0, SessionTimeLimit(options.max_minutes))
    if options.max_cpu_minutes:
        callbacks.insert(0, SessionTimeLimit(options.max_cpu_minutes, time.process_time))
    if options.progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=10))
    return L.Trainer(
        default_root_dir=run_dir, accelerator=options.accelerator, devices=options.devices,
        num_nodes=options.num_nodes, strategy=strategy, precision=precision,
        max_epochs=-1, max_steps=-1, enable_checkpointing=False, callbacks=callbacks,
        # One CSV folder per session (version_0, version_1, ...): Lightning empties a
        # reused one, and a resumed run must keep what it logged before.
        logger=[CSVLogger(run_dir / "logs", name="csv"),
                TensorBoardLogger(run_dir / "logs", name="tensorboard", version="")],
        val_check_interval=options.validate_every, check_val_every_n_epoch=None,
        limit_val_batches=options.validation_batches, num_sanity_val_steps=0,
        log_every_n_steps=options.log_every, use_distributed_sampler=False,
        enable_progress_bar=options.progress_bar, enable_model_summary=False,
        plugins=[AtomicCheckpointIO()])


def _fit(run_dir: Path, options: RunOptions, resume: bool) -> Path:
    info = read_run_info(run_dir)
    cfg = TrainConfig.from_dict(info["train"])
    checkpoint = run_dir / LAST_CHECKPOINT
    if resume and checkpoint.is_file():
        done = torch.load(checkpoint, map_location="cpu", weights_only=False)["batches_done"]
        if done >= cfg.steps:
            print(f"{run_dir}: already trained for {done} of {cfg.steps} batches")
            return checkpoint
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = NeuroRaveTraining(cfg.to_dict(), info["dataset"], info["descriptors"],
                               options.num_workers)
    trainer = _trainer(run_dir, options)
    trainer.fit(module, ckpt_path=checkpoint if resume and checkpoint.is_file() else None)
    return checkpoint


def load_checkpoint_model(checkpoint: str | Path):
    """(NeuroRave in eval mode, TrainConfig, descriptor entries) of a training checkpoint."""
    import pickle

    from .model import NeuroRave

    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        hparams = state["hyper_parameters"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError) as error:
        raise ValueError(f"{checkpoint}: not a training checkpoint "
                         f"({type(error).__name__}: {error})") from None
    cfg = TrainConfig.from_dict(dict(hparams["train"]))
    model = NeuroRave(cfg.model_config())
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items()
               if k.startswith("model.")}
    model.load_state_dict(weights)
    return model.eval(), cfg, list(hparams["descriptor_entries"]), int(state["batches_done"])


def export_run(run_dir: str | Path, output: str | Path,
               checkpoint: str | Path | None = None) -> dict:
    """The run's last (or given) checkpoint as a `.nrv` with its data set's ranges and bins,
    and its prior if `neurorave train-prior` fitted one."""
    run_dir = Path(run_dir)
    read_run_info(run_dir)  # a folder that is no run is not "a run with no checkpoint yet"
    checkpoint = Path(checkpoint) if checkpoint else run_dir / LAST_CHECKPOINT
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint}: no checkpoint yet; train longer than "
                                "`checkpoint_every` batches first")
    model, cfg, entries, batches = load_checkpoint_model(checkpoint)
    by_name = {e["name"]: e for e in entries}
    descriptors = [by_name[name] for name in model.config.descriptors]
    provenance = {"source": "training", "run": str(run_dir.resolve()), "mode": cfg.mode,
                  "config": cfg.config, "batches": batches, "seed": cfg.seed,
                  "probed_descriptors": list(cfg.descriptors)}
    from .prior import load_trained_prior

    prior, figures = load_trained_prior(run_dir) or (None, None)
    return save_nrv(model, output, descriptors=descriptors, provenance=provenance,
                    prior=prior, prior_figures=figures)


def _csv_rows(path: Path) -> list[dict]:
    import csv

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
