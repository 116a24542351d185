"""What a person checks during training: audio previews and control-sweep plots.

At each validation, rank 0 writes RUN/previews/batch-K/{input,reconstruction}.wav and,
for a conditioned model, RUN/plots/sweep-K.png: each descriptor's curve replaced by a
ramp across its range, decoded, analysed again, target drawn against achieved. Both go
to TensorBoard too, and the correlation of each sweep is logged.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch

from .. import descriptors as desc
from ..plotting import pyplot


def sweep_curves(curves: torch.Tensor, row: int) -> tuple[torch.Tensor, np.ndarray]:
    """`curves` (descriptors, F) with row `row` replaced by a ramp from -0.8 to 0.8."""
    target = np.linspace(-0.8, 0.8, curves.shape[-1])
    swept = curves.clone()
    swept[row] = torch.as_tensor(target, dtype=curves.dtype)
    return swept, target


def control_sweeps(model, audio: torch.Tensor, curves: torch.Tensor, entries: list[dict]
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (target, achieved)} in physical units, one sweep per conditioned descriptor."""
    cfg = model.config
    results = {}
    with torch.no_grad():
        z = model.encode(audio[None])
        for row, name in enumerate(cfg.descriptors):
            swept, target = sweep_curves(curves, row)
            y = model.decode(z, swept[None]).squeeze().cpu().numpy()
            achieved = desc.compute(y, cfg.sample_rate, cfg.compression, [name])[0]
            results[name] = (desc.denormalise(target, entries[row]["range"]), achieved)
    return results


def plot_sweeps(sweeps: dict[str, tuple[np.ndarray, np.ndarray]], units: dict[str, str],
                frame_seconds: float, title: str):
    plt = pyplot()
    figure, axes = plt.subplots(len(sweeps), 1, figsize=(7, 2.2 * len(sweeps)), squeeze=False)
    for axis, (name, (target, achieved)) in zip(axes[:, 0], sweeps.items(), strict=True):
        t = np.arange(len(target)) * frame_seconds
        axis.plot(t, target, label="target", color="black", linestyle="--")
        axis.plot(t, achieved, label="achieved", color="tab:orange")
        axis.set_ylabel(f"{name} ({units[name]})" if units[name] else name)
        axis.legend(loc="upper left", fontsize="small")
    axes[-1, 0].set_xlabel("seconds")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


class PreviewCallback(L.Callback):
    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)

    def on_validation_epoch_end(self, trainer, module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        audio, curves, _ = trainer.val_dataloaders.dataset[0]
        model, step = module.model, module.batches_done
        entries = {e["name"]: e for e in module.hparams.descriptor_entries}
        self._write_previews(model, audio.to(module.device), curves.to(module.device), step,
                             trainer)
        if model.config.descriptors:
            self._plot_sweeps(model, audio.to(module.device), curves.to(module.device),
                              [entries[n] for n in model.config.descriptors], step, trainer,
                              module)

    def _write_previews(self, model, audio, curves, step, trainer) -> None:
        import soundfile as sf

        rate = model.config.sample_rate
        with torch.no_grad():
            conditioning = curves[None] if model.config.descriptors else None
            y = model.decode(model.encode(audio[None]), conditioning).squeeze().cpu().numpy()
        folder = self.run_dir / "previews" / f"batch-{step}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / "input.wav", audio.squeeze().cpu().numpy(), rate)
        sf.write(folder / "reconstruction.wav", y, rate)
        board = _tensorboard(trainer)
        if board is not None:
            board.add_audio("preview/input", audio.squeeze().cpu(), step, rate)
            board.add_audio("preview/reconstruction", torch.from_numpy(y), step, rate)

    def _plot_sweeps(self, model, audio, curves, entries, step, trainer, module) -> None:
        sweeps = control_sweeps(model, audio, curves, entries)
        units = {e["name"]: e["unit"] for e in entries}
        frame = model.config.compression / model.config.sample_rate
        figure = plot_sweeps(sweeps, units, frame, f"control sweeps after {step} batches")
        folder = self.run_dir / "plots"
        folder.mkdir(parents=True, exist_ok=True)
        figure.savefig(folder / f"sweep-{step}.png", dpi=80)
        board = _tensorboard(trainer)
        if board is not None:
            board.add_figure("sweeps", figure, step)
        pyplot().close(figure)
        for name, (target, achieved) in sweeps.items():
            correlation = np.corrcoef(target, achieved)[0, 1] if np.std(achieved) > 0 else 0.0
            module.log(f"val/sweep_correlation/{name}", float(correlation), rank_zero_only=True)


def _tensorboard(trainer):
    from lightning.pytorch.loggers import TensorBoardLogger

    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None
