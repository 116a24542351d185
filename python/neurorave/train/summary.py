"""What a training run reached, read back from its logs: `neurorave summarize RUN ...`.

One row per run: batches done, how fast, the reconstruction distance at the end of each
phase, the latent discriminator's accuracy per descriptor (the F-RAVE confusion), the
GAN losses; and a PNG of the curves, runs overlaid, for comparing modes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..plotting import pyplot
from .run_folder import metrics_table, read_run_info

TAIL = 10   # logged rows averaged for an "end of phase" figure


@dataclass
class RunSummary:
    run: str
    mode: str
    config: str
    batches: int
    phase1_steps: int
    batches_per_second: dict[str, float] = field(default_factory=dict)   # by phase
    train_distance: dict[str, float] = field(default_factory=dict)       # start, phase1, end
    val_distance: float = float("nan")
    latent_accuracy: dict[str, float] = field(default_factory=dict)      # by descriptor
    gan: dict[str, float] = field(default_factory=dict)                  # phase 2 losses

    def to_dict(self) -> dict:
        return asdict(self)


def _present(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    picked = values[rows]
    return picked[~np.isnan(picked)]


def _tail_mean(values: np.ndarray, rows: np.ndarray, head: bool = False) -> float:
    picked = _present(values, rows)
    if len(picked) == 0:
        return float("nan")
    return float((picked[:TAIL] if head else picked[-TAIL:]).mean())


def summarize_run(run_dir: str | Path) -> RunSummary:
    train = read_run_info(run_dir)["train"]
    logged = metrics_table(run_dir)
    if "train/batch" not in logged:
        raise ValueError(f"{run_dir}: nothing logged yet; train for more than `log_every` "
                         "batches first")
    batch = logged["train/batch"]
    known = ~np.isnan(batch)
    phase1 = known & (batch < train["phase1_steps"])
    phase2 = known & (batch >= train["phase1_steps"])
    summary = RunSummary(str(run_dir), train["mode"], train["config"],
                         int(np.nanmax(batch)) + 1, int(train["phase1_steps"]))
    seconds = logged.get("train/seconds_per_batch", np.full_like(batch, np.nan))
    for name, rows in (("phase1", phase1), ("phase2", phase2)):
        timed = _present(seconds, rows)
        if len(timed):   # the median: a validation or checkpoint inflates its step
            summary.batches_per_second[name] = 1.0 / float(np.median(timed))
    distance = logged["train/distance"]
    summary.train_distance = {"start": _tail_mean(distance, phase1, head=True),
                              "phase1_end": _tail_mean(distance, phase1)}
    if phase2.any():
        summary.train_distance["end"] = _tail_mean(distance, phase2)
    validated = logged.get("val/distance", np.array([]))
    validated = validated[~np.isnan(validated)]
    if len(validated):
        summary.val_distance = float(validated[-1])
    for name in train["descriptors"]:
        key = f"train/latent_accuracy/{name}"
        if key in logged:
            summary.latent_accuracy[name] = _tail_mean(logged[key], phase1)
    for loss in ("discriminator", "adversarial", "feature_matching"):
        if f"train/{loss}" in logged and phase2.any():
            summary.gan[loss] = _tail_mean(logged[f"train/{loss}"], phase2)
    return summary


def _figure(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:.3f}"


def summary_table(summaries: list[RunSummary]) -> str:
    """Markdown: one row per run. Latent accuracy is over 16 bins (chance 0.0625)."""
    names = list(dict.fromkeys(n for s in summaries for n in s.latent_accuracy))
    head = (["run", "mode", "batches", "batches/s (1 / 2)", "distance start", "end of phase 1",
             "end", "val distance"] + [f"probe {n}" for n in names]
            + ["D hinge", "G hinge", "feature matching"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        speed = " / ".join(f"{s.batches_per_second[p]:.2f}" for p in ("phase1", "phase2")
                           if p in s.batches_per_second)
        cells = [Path(s.run).name, s.mode, str(s.batches), speed or "—",
                 _figure(s.train_distance["start"]), _figure(s.train_distance["phase1_end"]),
                 _figure(s.train_distance.get("end", float("nan"))), _figure(s.val_distance)]
        cells += [_figure(s.latent_accuracy.get(n, float("nan"))) for n in names]
        cells += [_figure(s.gan.get(k, float("nan")))
                  for k in ("discriminator", "adversarial", "feature_matching")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _smoothed(values: np.ndarray, width: int = 9) -> np.ndarray:
    if len(values) < width:
        return values
    return np.convolve(values, np.ones(width) / width, mode="valid")


def plot_runs(run_dirs: list[str | Path], output: str | Path) -> None:
    """Training distance, validation distance and mean probe accuracy against batches."""
    plt = pyplot()
    figure, axes = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    for run_dir in run_dirs:
        logged, label = metrics_table(run_dir), Path(run_dir).name
        batch = logged["train/batch"]
        rows = ~np.isnan(batch) & ~np.isnan(logged["train/distance"])
        line, = axes[0].plot(_smoothed(batch[rows]), _smoothed(logged["train/distance"][rows]),
                             label=label)
        if "val/distance" in logged:
            valid = ~np.isnan(logged["val/distance"])
            axes[1].plot(logged["step"][valid] + 1, logged["val/distance"][valid], "o-",
                         color=line.get_color(), label=label)
        probes = [v for k, v in logged.items() if k.startswith("train/latent_accuracy/")]
        if probes:
            mean = np.nanmean(np.stack(probes)[:, rows], axis=0)
            axes[2].plot(_smoothed(batch[rows]), _smoothed(mean), color=line.get_color(),
                         label=label)
    axes[2].axhline(1 / 16, color="grey", linestyle=":", label="chance")
    for axis, title in zip(axes, ("training distance (smoothed)", "validation distance",
                                  "latent probe accuracy, mean over descriptors"),
                           strict=True):
        axis.set_title(title, fontsize="medium")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    axes[-1].set_xlabel("batch")
    figure.tight_layout()
    figure.savefig(output, dpi=110)
    plt.close(figure)
