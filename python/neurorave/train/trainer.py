"""`neurorave train`: start a run, resume it after any interruption; the Lightning Trainer
and its callbacks (atomic checkpoints every so many batches, a time limit per session).

What a run folder holds, and reading it back, is run_folder.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..config import CONFIGS, RunOptions, TrainConfig, get_config
from ..data.store import WindowStore
from ..files import write_atomically, write_json_atomically
from ..format.nrv import (
    check_architecture,
    ranges_differing,
    read_description,
    stored_model_config,
)
from .lightning_module import NeuroRaveTraining
from .previews import PreviewCallback
from .run_folder import (
    AVERAGED_PREFIX,
    LAST_CHECKPOINT,
    RUN_FILE,
    model_weights,
    read_run_info,
)


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
        _stop_on_every_rank(trainer, self.clock() - self.started >= self.seconds)


def _stop_on_every_rank(trainer, wanted: bool) -> None:
    """Ends training after this batch if any rank wants it: every rank must stop at the
    same batch, or DDP waits for ever on the others."""
    trainer.should_stop = trainer.should_stop or trainer.strategy.reduce_boolean_decision(
        wanted, all=False)


class StopOnSignal(L.Callback):
    """SIGTERM or Ctrl-C ends the session after the batch in progress, which is then
    checkpointed, so `--resume` loses nothing (by default a SIGTERM ran on to the end of
    the epoch and then exited without saving). A second Ctrl-C stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.received: str | None = None
        self.previous: dict[int, object] = {}

    def on_train_start(self, trainer, module) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._note) for sig in self.SIGNALS}

    def _note(self, signum: int, frame) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        _stop_on_every_rank(trainer, self.received is not None)

    def on_train_end(self, trainer, module) -> None:
        self._restore()
        if self.received is not None and trainer.is_global_zero:
            print(f"{self.run_dir}: stopped by {self.received} after batch "
                  f"{module.batches_done}, checkpointed; continue with "
                  f"`neurorave train --resume {self.run_dir}`", file=sys.stderr)

    def on_exception(self, trainer, module, exception) -> None:
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}


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
              options: RunOptions = RunOptions(), init_model: str | Path | None = None
              ) -> Path:
    """A new run in `run_dir`, trained until `cfg.steps` batches or interrupted; from the
    weights of the `.nrv` file `init_model` if given (fine-tuning: cfg must build its
    architecture, see model_options)."""
    run_dir = Path(run_dir)
    cfg = cfg.resolved()
    if (run_dir / RUN_FILE).is_file() and not _is_launched_worker():
        raise FileExistsError(f"{run_dir}: already holds a training run; continue it with "
                              f"`neurorave train --resume {run_dir}` or choose another -o")
    store = WindowStore(dataset)
    entries = _check_dataset(store, cfg)
    if not _is_launched_worker():
        info = {"dataset": str(Path(dataset).resolve()), "train": cfg.to_dict(),
                "descriptors": entries}
        if init_model is not None:
            _check_init_model(init_model, cfg, entries)
            info["init_model"] = str(Path(init_model).resolve())
        write_json_atomically(run_dir / RUN_FILE, info, indent=1)
    return _fit(run_dir, options, resume=False)


def model_options(path: str | Path) -> dict:
    """The training options that build the architecture of the `.nrv` file at `path`
    (preset, causality, descriptors, held kernels, the bands' DC blocker, width, encoder
    blocks), for a run that starts from it. A file whose filter bank is shorter than its
    preset's is of that preset: the run plays it through the preset's sharper bank."""
    stored = stored_model_config(path)
    shape = {"causal": stored.causal, "descriptors": tuple(stored.descriptors),
             "held_upsampling": stored.held_upsampling,
             "band_dc_cutoff_hz": stored.band_dc_cutoff_hz,
             "band_dc_period": stored.band_dc_period,
             "band_comb_cutoff_hz": stored.band_comb_cutoff_hz, "capacity": stored.capacity,
             "encoder_residual_dilations": stored.encoder_residual_dilations,
             "noise_subbands": stored.noise_subbands}
    taps = stored.pqmf_taps_per_band
    for name in CONFIGS:
        if get_config(name, **shape, pqmf_taps_per_band=taps) == stored and \
                taps <= CONFIGS[name].pqmf_taps_per_band:
            unconditioned = {"mode": "rave", "descriptors": TrainConfig.descriptors}
            return {"config": name, **shape, **({} if stored.descriptors else unconditioned)}
    raise ValueError(f"{path}: its architecture is none of the presets "
                     f"({', '.join(CONFIGS)}), so no run can start from it")


def recipe_of(path: str | Path) -> dict:
    """The training options of the run that made the `.nrv` file at `path` (what
    `TrainConfig.recipe` keeps), for a run that starts from it: {} for a file that does not
    record them. Options this version does not know are left out, and said so."""
    recorded = read_description(path).get("provenance", {}).get("recipe", {})
    known = TrainConfig().recipe().keys()
    unknown = sorted(set(recorded) - known)
    if unknown:
        print(f"{path}: its recipe's {', '.join(unknown)} are no options of this version; "
              "left out", file=sys.stderr)
    return {k: v for k, v in recorded.items() if k in known}


def _check_init_model(path: str | Path, cfg: TrainConfig, entries: list[dict]) -> None:
    """Refuses a model the run cannot hold; says where its faders' ranges will change."""
    check_architecture(path, cfg.model_config(), growing=True)
    moved = ranges_differing(path, entries)
    if moved:
        print(f"{path}: the data set's ranges of {', '.join(moved)} differ from the "
              "model's; the run's faders take the data set's", file=sys.stderr)


def resume_run(run_dir: str | Path, options: RunOptions = RunOptions(),
               steps: int | None = None, phase1_steps: int | None = None,
               settings: dict | None = None) -> Path:
    """Continue `run_dir` from its last checkpoint; `steps` may raise its total,
    `phase1_steps` move the start of phase 2, if the run has not reached it yet, and
    `settings` change training options that leave the model as it is."""
    run_dir = Path(run_dir)
    if (settings or (steps, phase1_steps) != (None, None)) and not _is_launched_worker():
        info = read_run_info(run_dir)
        info["train"] = _revised(run_dir, info["train"], steps, phase1_steps, settings or {})
        write_json_atomically(run_dir / RUN_FILE, info, indent=1)
    return _fit(run_dir, options, resume=True)


def _revised(run_dir: Path, train: dict, steps: int | None, phase1_steps: int | None,
             settings: dict) -> dict:
    """`train` (a run's train.json entry) with the changes asked on resume, every one
    checked before the run's record is written."""
    if settings:
        changed = TrainConfig.from_stored({**train, **settings})
        if changed.model_config() != TrainConfig.from_stored(train).model_config():
            raise ValueError(f"{run_dir}: {', '.join(sorted(settings))}: would change the "
                             "model a checkpoint holds; start a new run")
        train = changed.to_dict()
    if (steps, phase1_steps) == (None, None):
        return train
    done = _batches_done(run_dir)
    if phase1_steps is not None and done > train["phase1_steps"]:
        raise ValueError(f"{run_dir}: phase 2 began at batch {train['phase1_steps']}; "
                         f"--phase1-steps can only move a start not reached yet")
    train = {**train, "steps": train["steps"] if steps is None else steps,
             "phase1_steps": train["phase1_steps"] if phase1_steps is None else phase1_steps}
    if train["phase1_steps"] > train["steps"]:
        raise ValueError(f"{run_dir}: --phase1-steps {train['phase1_steps']} is more than "
                         f"the {train['steps']} batches in all")
    if done < train["phase1_steps"] < train["steps"]:
        print(f"{run_dir}: phase 2 (adversarial) starts at batch {train['phase1_steps']}; "
              f"--phase1-steps moves it", file=sys.stderr)
    return train


def _batches_done(run_dir: Path) -> int:
    checkpoint = run_dir / LAST_CHECKPOINT
    if not checkpoint.is_file():
        return 0
    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["batches_done"])


def _trainer(run_dir: Path, options: RunOptions) -> L.Trainer:
    from lightning.pytorch.callbacks import TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    on_gpu = options.accelerator in ("gpu", "cuda") or (
        options.accelerator == "auto" and torch.cuda.is_available())
    precision = options.precision or ("bf16-mixed" if on_gpu else "32-true")
    strategy = options.strategy
    if strategy == "ddp":   # phase 1 leaves the waveform discriminator unused
        strategy = "ddp_find_unused_parameters_true"
    callbacks = [StepCheckpoint(run_dir / LAST_CHECKPOINT, options.checkpoint_every),
                 PreviewCallback(run_dir)]
    # before the checkpoint: a stop they decide is saved at once
    callbacks.insert(0, StopOnSignal(run_dir))
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
    cfg = TrainConfig.from_stored(info["train"])
    checkpoint = run_dir / LAST_CHECKPOINT
    if resume and checkpoint.is_file():
        done = _batches_done(run_dir)
        if done >= cfg.steps:
            print(f"{run_dir}: already trained for {done} of {cfg.steps} batches")
            return checkpoint
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = NeuroRaveTraining(cfg.to_dict(), info["dataset"], info["descriptors"],
                               options.num_workers, info.get("init_model"))
    trainer = _trainer(run_dir, options)
    trainer.fit(module, ckpt_path=checkpoint if resume and checkpoint.is_file() else None)
    return checkpoint


def hold_upsampling(run_dir: str | Path) -> list[float]:
    """Turns RUN's free upsampling kernels into the nearest held ones (nn/layers.HeldKernel)
    in its last checkpoint and its train.json, so that `--resume` trains on with held
    kernels; their optimiser state starts afresh. The checkpoint before is kept as
    checkpoints/before-hold.ckpt. Returns, per kernel, the share of its
    norm that was ripple (what the projection removed)."""
    from dataclasses import replace

    from ..nn.layers import ConvTranspose
    from ..nn.model import NeuroRave

    if _is_launched_worker():  # rank 0 held them before it launched this process
        return []
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    cfg = TrainConfig.from_stored(info["train"])
    if cfg.held_upsampling:
        raise ValueError(f"{run_dir}: its upsampling kernels are held already")
    path = run_dir / LAST_CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no checkpoint to change; start the run with "
                                "`--set held_upsampling=true` instead")
    state = torch.load(path, map_location="cpu", weights_only=False)
    held_cfg = replace(cfg, held_upsampling=True)
    free, held = NeuroRave(cfg.model_config()), NeuroRave(held_cfg.model_config())
    free.load_state_dict(model_weights(state))
    trained = [n for n, p in held.named_parameters() if p.requires_grad]
    free_layers = dict(free.decoder.named_modules())
    removed = []
    for name, layer in held.decoder.named_modules():
        if not (isinstance(layer, ConvTranspose) and layer.held):
            continue
        kernel = free_layers[name].conv.weight.detach()
        held_kernel = layer.conv.parametrizations.weight[0]
        gain, taps = held_kernel.right_inverse(kernel)
        prefix = f"decoder.{name}.conv.parametrizations.weight.original"
        for key, value in ((f"{prefix}0", gain), (f"{prefix}1", taps)):
            state["state_dict"][f"model.{key}"] = value
            state["optimizer_states"][0]["state"].pop(trained.index(key), None)
        projected = held_kernel(gain, taps)
        removed.append(float((kernel - projected).norm() / kernel.norm()))
    for key in [k for k in state["state_dict"] if k.startswith(AVERAGED_PREFIX)]:
        del state["state_dict"][key]   # an average of free kernels: restarted from the held
    state["hyper_parameters"]["train"] = held_cfg.to_dict()
    info["train"] = held_cfg.to_dict()
    shutil.copy2(path, path.with_name("before-hold.ckpt"))
    write_atomically(path, lambda tmp: torch.save(state, tmp))
    write_json_atomically(run_dir / RUN_FILE, info, indent=1)
    return removed
