"""`neurorave evaluate`: the paper's tables for one or more models on a data set.

Every model is played by the C++ core (`neurorave.Engine`) on the same test windows:

- reconstruction: encode, decode with the window's own descriptor curves, and measure the
  multi-scale STFT distance and the mel L1 to the input;
- control, the paper's protocol: in batches of windows, replace 1 ... 4 descriptor curves
  by targets from a pool (constants, ramps, sinusoids, blends of those, blends of other
  windows' curves), re-synthesise, re-analyse, and score target against achieved (L1 in
  normalised units, Pearson's r, the paper's cosine score), pooled per batch;
- fader sweeps: each descriptor's fader ramped from the bottom to the top of its range
  and back (the others following the input) on sounding windows; the output's descriptor scored
  against the ramp (Spearman, coverage) and, for spectral faders, the loudness the sweep
  moves, with a plot per sweep;
- paired transfer: z of a window decoded with the curves of a transformed copy T(x)
  (`train.augment.paired_transform`), its multi-scale STFT distance to T(x);
- renders: timbre transfer (the window through the model) and attribute transfer (one
  window's latent with another window's descriptor curves), with plots.

Writes REPORT_DIR/report.md (models as rows, metrics as columns), results.json (every
number), plots/*.png and renders/*.wav.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ..data.audio import AUDIO_SUFFIXES, is_loud, load_mono
from ..descriptors import (
    SOUNDING_GATE_DB,
    compute,
    denormalise,
    normalise,
    spec_of,
    window_length,
)
from ..files import files_under
from ..format.nrv import load_nrv, read_description
from ..play.engine import Engine
from ..plotting import pyplot
from ..train import augment
from . import metrics
from .fidelity import OFF_GRID_SHIFTS, fidelity, load_notes

TEST_SPLITS = ("test", "nsynth-test")   # our layout, then NSynth's own folder name


@dataclass(frozen=True)
class EvalConfig:
    windows: int = 32            # test windows, at most this many
    window_seconds: float = 2.0
    batch: int = 8               # windows pooled per correlation, as the paper's batches
    max_replaced: int = 4        # replace 1 .. this many descriptor curves
    renders: int = 2             # timbre / attribute transfer examples written
    min_rms_db: float = -50.0    # quieter windows carry no control information: skipped
    sweep_windows: int = 8       # windows each fader sweep is played on
    fidelity_notes: int | None = None   # held-out notes (NSynth layout); None: all
    seed: int = 0


# Fader sweeps score only the frames where the output sounds (SOUNDING_GATE_DB, the gate
# of the data-set statistics): below it the descriptors are floors, not a fader's doing.
LOUDNESS_SMOOTH_SECONDS = 0.1   # a level averaged this long: one onset sets no span
MIN_SWEEP_FRAMES = 8            # sounding frames a window needs to score a sweep
# A note whose level moves this far over a sweep's sounding frames fades (or swells): a
# level-bound fader (boominess, a loudness below 400 Hz) cannot reach its top there while
# rms follows it down, so the report scores such windows apart.
FADING_SPAN_DB = 10.0


# ---- data ---------------------------------------------------------------------------------

def audio_files(dataset: Path) -> list[Path]:
    """The test split's audio when DATASET has one, else every audio file under it."""
    dataset = Path(dataset)
    if dataset.is_file():
        return [dataset]
    if not dataset.is_dir():
        raise FileNotFoundError(f"{dataset}: no such data set folder or audio file")
    root = next((dataset / s for s in TEST_SPLITS if (dataset / s).is_dir()), dataset)
    files = [p for p in files_under(root) if p.suffix.lower() in AUDIO_SUFFIXES]
    if not files:
        raise ValueError(f"{root}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
    return files


@dataclass
class Windows:
    """Test windows at one sample rate: (n, samples) audio, and where each came from."""

    sample_rate: int
    audio: np.ndarray
    sources: list[str]
    skipped: list[str] = field(default_factory=list)


def _cut(audio: np.ndarray, length: int) -> list[tuple[int, np.ndarray]]:
    """Non-overlapping windows (start, samples); a short file is zero-padded to one."""
    if len(audio) < length:
        audio = np.concatenate([audio, np.zeros(length - len(audio))])
    return [(s, audio[s:s + length]) for s in range(0, len(audio) - length + 1, length)]


def load_windows(files: Sequence[Path], sample_rate: int, length: int, config: EvalConfig
                 ) -> Windows:
    """Up to `config.windows` loud windows, a few per file, files in seeded random order;
    when the files run out, their other windows fill up the count.

    A file that cannot be read is reported (on stderr and in `skipped`) and left out.
    """
    rng = np.random.default_rng(config.seed)
    per_file = max(1, math.ceil(config.windows / len(files)))
    chosen: list[tuple[str, np.ndarray]] = []
    spare: list[tuple[str, np.ndarray]] = []
    skipped: list[str] = []
    for index in rng.permutation(len(files)):
        path = files[index]
        try:
            audio = load_mono(path, sample_rate)
        except Exception as error:  # noqa: BLE001 - any unreadable file is skipped, named
            skipped.append(f"{path}: cannot read audio ({error})")
            print(f"neurorave evaluate: skipping {skipped[-1]}", file=sys.stderr)
            continue
        loud = [(f"{path.name}@{start / sample_rate:.2f}s", window)
                for start, window in _cut(audio, length) if is_loud(window, config.min_rms_db)]
        order = rng.permutation(len(loud))
        chosen += [loud[k] for k in sorted(order[:per_file])]
        spare += [loud[k] for k in sorted(order[per_file:])][: config.windows]
        if len(chosen) >= config.windows:
            break
    chosen = (chosen + spare)[: config.windows]
    if not chosen:
        raise ValueError(f"no window louder than {config.min_rms_db} dBFS in "
                         f"{len(files)} files (first: {files[0]})")
    audio = np.stack([window for _, window in chosen]).astype(np.float64)
    return Windows(sample_rate, audio, [source for source, _ in chosen], skipped)


# ---- playing a model offline, aligned -----------------------------------------------------

class AlignedModel:
    """An Engine's encode and decode streams, flushed and shifted to line up with the input.

    encode(x)[:, t] belongs to frame t of x; decode(z, curves) sample i belongs to sample i
    of the frames of z, and curves[:, t] is what the decoder is asked for at frame t.
    """

    def __init__(self, path: Path):
        self.engine = Engine(path)
        self.path = Path(path)
        info = self.engine.info
        self.sample_rate: int = self.engine.sample_rate
        self.compression: int = self.engine.compression
        self.descriptors: list[str] = self.engine.descriptors
        self.ranges = [self.engine.descriptor_range(d) for d in self.descriptors]
        self._encode_frames = int(info["encode_delay_frames"])
        self._decode_samples = int(info["decode_delay_samples"])

    def encode(self, audio: np.ndarray) -> np.ndarray:
        c, lag = self.compression, self._encode_frames
        frames = len(audio) // c
        self.engine.reset()
        z = self.engine.encode(np.concatenate([audio[: frames * c], np.zeros(lag * c)]))
        return z[:, lag: lag + frames]

    def decode(self, z: np.ndarray, curves: np.ndarray | None) -> np.ndarray:
        c, lag = self.compression, self._decode_samples
        frames = z.shape[1]
        extra = -(-lag // c)   # whole frames that flush the decoder's delay
        z = np.pad(z, ((0, 0), (0, extra)), mode="edge")
        if curves is not None:
            curves = np.pad(curves, ((0, 0), (0, extra)), mode="edge")
        self.engine.reset()
        return np.asarray(self.engine.decode(z, curves))[lag: lag + frames * c]

    def analyse(self, audio: np.ndarray) -> np.ndarray:
        """(n_descriptors, frames) physical values of audio (T,) or (batch, n_desc, frames)."""
        return compute(audio, self.sample_rate, self.compression, self.descriptors)

    def normalise(self, curves: np.ndarray) -> np.ndarray:
        """Physical -> the decoder's [-1, 1] units, descriptor by descriptor (axis -2)."""
        return np.stack([normalise(curves[..., i, :], r) for i, r in enumerate(self.ranges)],
                        axis=-2)

    def physical(self, normalised: np.ndarray) -> np.ndarray:
        """The inverse of `normalise`."""
        return np.stack([denormalise(normalised[..., i, :], r)
                         for i, r in enumerate(self.ranges)], axis=-2)

    @property
    def warm_frames(self) -> int:
        """Frames whose analysis window still reaches before the window's start."""
        return window_length(self.compression) // self.compression


# ---- the paper's pool of target curves ---------------------------------------------------

def target_pool(frames: int, others: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(75, frames) candidate curves in normalised units, the paper's mix.

    5 basics (0, +1, -1, ramp up, ramp down), 10 sinusoids of random frequency and
    phase, 10 blends of a basic with a sinusoid, 50 blends of two other windows' curves
    (`others`, (2, frames)); clipped to [-1, 1], the range the model was trained on.
    """
    ramp = np.linspace(-1.0, 1.0, frames)
    basics = np.stack([np.zeros(frames), np.ones(frames), -np.ones(frames), ramp, -ramp])
    sines = np.stack([np.sin(ramp * rng.integers(1, 30) + rng.normal() * 2 * np.pi)
                      for _ in range(10)])
    alphas = np.linspace(0.0, 1.0, 10)[:, None]
    mixed = alphas * sines[rng.integers(len(sines))] + (1 - alphas) * basics[
        rng.integers(len(basics))]
    alphas = np.linspace(0.0, 1.0, 50)[:, None]
    swapped = alphas * others[1] + (1 - alphas) * others[0]
    return np.clip(np.concatenate([basics, sines, mixed, swapped]), -1.0, 1.0)


def draw_targets(curves: np.ndarray, replaced: Sequence[int], every: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """curves (batch, n_desc, frames), normalised: a copy with rows `replaced` drawn from
    the pool, each window its own draw; `every` (n, n_desc, frames) holds the curves of
    all windows, where the pool's 'other windows' come from."""
    targets = curves.copy()
    for d in replaced:
        for w in range(len(curves)):
            others = every[rng.choice(len(every), 2), d]
            pool = target_pool(curves.shape[-1], others, rng)
            targets[w, d] = pool[rng.integers(len(pool))]
    return targets


# ---- one model ----------------------------------------------------------------------------

@dataclass
class Played:
    """What a model made of the windows: latents, curves, reconstructions."""

    z: list[np.ndarray]
    curves: np.ndarray           # (n, n_desc, frames) physical, of the input
    reconstructions: np.ndarray  # (n, samples)
    input_level_db: np.ndarray   # (n, frames): where the input sounds, a sweep is scored


def play(model: AlignedModel, windows: Windows) -> Played:
    curves = model.analyse(windows.audio) if model.descriptors else None
    z, outputs = [], []
    for i, x in enumerate(tqdm(windows.audio, desc=f"{model.path.name}: reconstruct",
                               unit="window", leave=False)):
        z.append(model.encode(x))
        outputs.append(model.decode(z[-1], None if curves is None else curves[i]))
    return Played(z, curves, np.stack(outputs), _level_db(model, windows.audio))


def reconstruction_scores(model: AlignedModel, windows: Windows, played: Played) -> dict:
    pairs = list(zip(windows.audio, played.reconstructions, strict=True))
    return {
        "multiscale_stft": float(np.mean([metrics.multiscale_stft_distance(x, y)
                                          for x, y in pairs])),
        "mel_l1": float(np.mean([metrics.mel_l1(x, y, model.sample_rate) for x, y in pairs])),
    }


@dataclass
class ControlExample:
    """One window of the control protocol, kept for the plot."""

    replaced: list[str]
    original: np.ndarray   # (n_desc, frames) normalised
    target: np.ndarray
    achieved: np.ndarray


def _score(target: np.ndarray, achieved: np.ndarray) -> dict[str, float | None]:
    r = metrics.pearson(target, achieved)
    return {"l1": metrics.curve_l1(target, achieved),
            "pearson": None if math.isnan(r) else r,   # undefined: a constant curve
            "cosine": metrics.cosine_score(target, achieved)}


def _achieved(model: AlignedModel, played: Played, members: range, targets: np.ndarray
              ) -> np.ndarray:
    """The normalised descriptors of `members`' latents decoded with `targets`."""
    return model.normalise(model.analyse(np.stack([
        model.decode(played.z[w], model.physical(targets[k])) for k, w in enumerate(members)])))


def control_scores(model: AlignedModel, played: Played, config: EvalConfig
                   ) -> tuple[list[dict], ControlExample | None]:
    """The paper's protocol, one record per (batch, replaced count, descriptor), then
    each fader moved alone (records marked "alone": every descriptor in every batch),
    scored on every frame and, as the issue's targets are stated, on the frames where the
    input sounds ("where_sounding": where the note has ended, z is silence's)."""
    rng = np.random.default_rng(config.seed + 1)
    alone_rng = np.random.default_rng(config.seed + 2)  # leaves the paper's draws as they were
    normalised = model.normalise(played.curves)
    warm = min(model.warm_frames, normalised.shape[-1] - 2)
    records, example = [], None
    n_desc = len(model.descriptors)
    batches = range(0, len(played.z), config.batch)
    for start in tqdm(batches, desc=f"{model.path.name}: control", unit="batch", leave=False):
        members = range(start, min(start + config.batch, len(played.z)))
        for count in range(1, min(config.max_replaced, n_desc) + 1):
            replaced = sorted(rng.choice(n_desc, count, replace=False).tolist())
            targets = draw_targets(normalised[list(members)], replaced, normalised, rng)
            achieved = _achieved(model, played, members, targets)
            for d in replaced:   # the warm-up frames analyse zeros before the window
                records.append({"batch": start // config.batch, "replaced": count,
                                "descriptor": model.descriptors[d],
                                **_score(targets[:, d, warm:], achieved[:, d, warm:])})
            if count == min(config.max_replaced, n_desc) and example is None:
                example = ControlExample([model.descriptors[d] for d in replaced],
                                         normalised[start], targets[0], achieved[0])
        sounding = played.input_level_db[list(members)][:, warm:] >= SOUNDING_GATE_DB
        for d in range(n_desc):
            targets = draw_targets(normalised[list(members)], [d], normalised, alone_rng)
            achieved = _achieved(model, played, members, targets)
            asked, got = targets[:, d, warm:], achieved[:, d, warm:]
            records.append({"batch": start // config.batch, "replaced": 1, "alone": True,
                            "descriptor": model.descriptors[d], **_score(asked, got),
                            "where_sounding": _score(asked[sounding], got[sounding])})
    return records, example


def summarise_control(records: list[dict], descriptors: Sequence[str]) -> dict:
    """Means per descriptor and per number of replaced curves over the paper's records,
    and per descriptor over those of each fader alone, "alone" (undefined Pearson left
    out)."""
    def mean(rows: list[dict], key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(values)) if values else None

    def by_descriptor(rows: list[dict]) -> dict:
        return {d: {k: mean([r for r in rows if r["descriptor"] == d], k) for k in keys}
                for d in descriptors}

    keys = ("l1", "pearson", "cosine")
    paper = [r for r in records if not r.get("alone")]
    alone = [r for r in records if r.get("alone")]
    counts = sorted({r["replaced"] for r in paper})
    by_replaced = {str(n): {k: mean([r for r in paper if r["replaced"] == n], k)
                            for k in keys} for n in counts}
    sounding = [{"descriptor": r["descriptor"], **r["where_sounding"]} for r in alone]
    return {"by_descriptor": by_descriptor(paper), "by_replaced": by_replaced,
            "overall": {k: mean(paper, k) for k in keys},
            "alone": {"by_descriptor": by_descriptor(alone),
                      "overall": {k: mean(alone, k) for k in keys}},
            "alone_where_sounding": {"by_descriptor": by_descriptor(sounding),
                                     "overall": {k: mean(sounding, k) for k in keys}}}


# ---- fader sweeps and paired transfer ------------------------------------------------------

@dataclass
class Sweep:
    """One descriptor's fader ramped up and down its range on several windows."""

    descriptor: str
    requested: np.ndarray   # (2, frames) physical: the ramp up, the ramp down
    achieved: np.ndarray    # (windows, 2, frames) physical, NaN where the output is silent
    by_window: list[dict]   # each scored window's own scores, "window": its index

    @property
    def scores(self) -> dict:
        """The means over the windows that scored, and how many did."""
        return _mean_scores(self.by_window)


def _level_db(model: AlignedModel, audio: np.ndarray) -> np.ndarray:
    return compute(audio, model.sample_rate, model.compression, ["rms"])[..., 0, :]


def _flatness(model: AlignedModel, audio: np.ndarray) -> np.ndarray:
    return compute(audio, model.sample_rate, model.compression, ["flatness"])[..., 0, :]


def fader_sweep(model: AlignedModel, played: Played, row: int, members: Sequence[int]
                ) -> Sweep:
    """Ramp descriptor `row` from the bottom to the top of its range and back down (two
    plays), the other curves following the input, on windows `members`; score the output's
    own values (`metrics.fader_sweep_scores`: the two directions cancel the input's own
    movement, so ignoring the fader scores 0) where both the input and the output sound.
    A sweep is over a sounding note: where the note has ended, z is silence's, and what
    the faders make of silence is not this fader's range."""
    name = model.descriptors[row]
    lo, hi = model.ranges[row]
    frames = played.curves.shape[-1]
    ramp = np.linspace(lo, hi, frames)
    ramps = np.stack([ramp, ramp[::-1]])   # the same values: ties rank alike both ways
    warm = np.arange(frames) >= min(model.warm_frames, frames - 2)   # not before the window
    smooth = max(1, round(LOUDNESS_SMOOTH_SECONDS * model.sample_rate / model.compression))
    achieved = np.full((len(members), *ramps.shape), np.nan)
    scores = []
    for k, w in enumerate(members):
        outputs = []
        for curve in ramps:
            asked = played.curves[w].copy()
            asked[row] = curve
            outputs.append(model.decode(played.z[w], asked))
        values = model.analyse(np.stack(outputs))[:, row]     # (2, frames)
        level = _level_db(model, np.stack(outputs))
        reference = _level_db(model, played.reconstructions[w])
        reference[reference < SOUNDING_GATE_DB] = np.nan       # no level to compare with
        sounding = ((level >= SOUNDING_GATE_DB) & warm
                    & (played.input_level_db[w] >= SOUNDING_GATE_DB))
        achieved[k][sounding] = values[sounding]
        spectral = name != "rms"   # rms: its loudness change is the request
        scored = metrics.fader_sweep_scores(
            normalise(ramps, (lo, hi)), normalise(values, (lo, hi)), sounding,
            level if spectral else None, reference, smooth, MIN_SWEEP_FRAMES,
            _flatness(model, np.stack(outputs)) if spectral else None,
            _flatness(model, played.reconstructions[w]))
        if scored is not None:
            span = metrics.level_span_db(played.input_level_db[w][warm & (
                played.input_level_db[w] >= SOUNDING_GATE_DB)])
            scores.append({"window": int(w), **scored, "level_span_db": span})
    return Sweep(name, ramps, achieved, scores)


def _means(rows: Sequence[dict]) -> dict:
    """The mean of each sweep score over `rows`; None where no row has it."""
    means = {}
    for key in ("spearman", "coverage", "loudness_change_db", "flatness_rise_db"):
        values = [r[key] for r in rows if r[key] is not None]
        means[key] = float(np.mean(values)) if values else None
    return means


def _mean_scores(scores: list[dict]) -> dict:
    """Means over the windows that scored, and how many did."""
    return {"windows": len(scores), **_means(scores)}


def fader_sweeps(model: AlignedModel, played: Played, config: EvalConfig) -> list[Sweep]:
    members = range(min(config.sweep_windows, len(played.z)))
    return [fader_sweep(model, played, row, members)
            for row in tqdm(range(len(model.descriptors)), desc=f"{model.path.name}: sweeps",
                            unit="fader", leave=False)]


def _by_level(rows: Sequence[dict]) -> dict:
    """Mean scores of the windows whose input holds its level and of those it fades over
    (FADING_SPAN_DB)."""
    fading = [r["level_span_db"] >= FADING_SPAN_DB for r in rows]
    return {"steady": _mean_scores([r for r, f in zip(rows, fading, strict=True) if not f]),
            "fading": _mean_scores([r for r, f in zip(rows, fading, strict=True) if f])}


def summarise_sweeps(sweeps: Sequence[Sweep], sources: Sequence[str]) -> dict:
    """Per descriptor (as `control` is summarised), the mean over descriptors, each
    descriptor's means over steady and fading notes (`_by_level`), and each window's own
    scores with where the window came from (`sources`, by window index)."""
    return {"by_descriptor": {s.descriptor: s.scores for s in sweeps},
            "overall": _means([s.scores for s in sweeps]),
            "by_level": {s.descriptor: _by_level(s.by_window) for s in sweeps},
            "by_window": {s.descriptor: [{**row, "source": sources[row["window"]]}
                                         for row in s.by_window] for s in sweeps}}


def paired_transfer_scores(model: AlignedModel, windows: Windows, played: Played,
                           config: EvalConfig) -> dict:
    """z(x) decoded with the curves of T(x), against T(x); and, for scale, x's own
    reconstruction against T(x) (what a model that ignored the curves would score)."""
    transfer, unchanged = [], []
    for i, x in enumerate(windows.audio):
        target = augment.paired_transform(x, model.sample_rate, config.seed + i)
        out = model.decode(played.z[i], model.analyse(target))
        transfer.append(metrics.multiscale_stft_distance(target, out))
        unchanged.append(metrics.multiscale_stft_distance(target, played.reconstructions[i]))
    return {"multiscale_stft": float(np.mean(transfer)),
            "unchanged_multiscale_stft": float(np.mean(unchanged))}


# ---- renders and plots --------------------------------------------------------------------

def plot_spectrograms(path: Path, pairs: Sequence[tuple[str, np.ndarray]], sample_rate: int
                      ) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(len(pairs), 1, figsize=(9, 2.6 * len(pairs)), sharex=True,
                             squeeze=False)
    for ax, (title, audio) in zip(axes[:, 0], pairs, strict=True):
        with np.errstate(divide="ignore"):  # digital silence: -inf dB is drawn as the floor
            ax.specgram(audio + 1e-9, NFFT=512, Fs=sample_rate, noverlap=384, cmap="magma")
        ax.set_title(title)
        ax.set_ylabel("Hz")
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_curves(path: Path, title: str, names: Sequence[str],
                curves: Sequence[tuple[str, np.ndarray]], frame_seconds: float) -> None:
    """One panel per descriptor; each (label, (n_desc, frames)) entry is a line."""
    plt = pyplot()
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.8 * len(names)), sharex=True,
                             squeeze=False)
    for i, (ax, name) in enumerate(zip(axes[:, 0], names, strict=True)):
        for label, values in curves:
            ax.plot(np.arange(values.shape[-1]) * frame_seconds, values[i], label=label, lw=1)
        ax.set_ylabel(name)
        ax.set_ylim(-1.6, 1.6)
    axes[0, 0].set_title(title)
    axes[0, 0].legend(loc="upper right", fontsize="small", ncol=len(curves))
    axes[-1, 0].set_xlabel("time (s); normalised units")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_sweep(path: Path, title: str, sweep: Sweep, unit: str) -> None:
    """Achieved against requested, each window's ramp up and down: on the diagonal the
    fader is obeyed, a flat line ignores it (gaps: silent frames)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for k, plays in enumerate(sweep.achieved):
        for direction, (requested, achieved) in enumerate(zip(sweep.requested, plays,
                                                              strict=True)):
            colour = ("tab:blue", "tab:orange")[direction]
            label = ("ramp up", "ramp down")[direction] if k == 0 else None
            ax.plot(requested, achieved, lw=0.8, alpha=0.6, color=colour, label=label)
    lo, hi = sweep.requested[0, 0], sweep.requested[0, -1]
    ax.plot([lo, hi], [lo, hi], "k--", lw=1.2, label="requested (obeyed)")
    label = f"{sweep.descriptor} ({unit})" if unit else sweep.descriptor
    ax.set_xlabel(f"requested {label}")
    ax.set_ylabel(f"achieved {label}")
    ax.set_title(title, fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_sweep_plots(out: Path, name: str, sweeps: Sequence[Sweep]) -> list[str]:
    (out / "plots").mkdir(parents=True, exist_ok=True)
    files = []
    for sweep in sweeps:
        s = sweep.scores
        loudness = ("" if s["loudness_change_db"] is None
                    else f", loudness change {_cell(s['loudness_change_db'], 1)} dB")
        title = (f"{name}: {sweep.descriptor} fader swept up and down\n"
                 f"Spearman {_cell(s['spearman'])}, coverage {_cell(s['coverage'])}"
                 f"{loudness} ({s['windows']} windows)")
        path = f"plots/{name}_sweep_{sweep.descriptor}.png"
        plot_sweep(out / path, title, sweep, spec_of(sweep.descriptor).unit)
        files.append(path)
    return files


def write_renders(out: Path, name: str, model: AlignedModel, windows: Windows, played: Played,
                  example: ControlExample | None, config: EvalConfig) -> list[str]:
    """Timbre and attribute transfer WAVs and plots for model `name`; their paths."""
    rate, files = model.sample_rate, []
    (out / "renders" / name).mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    for i in range(min(config.renders, len(windows.audio))):
        source = out / "renders" / f"input_{rate}_{i}.wav"
        if not source.exists():
            sf.write(source, windows.audio[i], rate)
        sf.write(out / "renders" / name / f"timbre_transfer_{i}.wav",
                 played.reconstructions[i], rate)
        files.append(f"renders/{name}/timbre_transfer_{i}.wav")
    plot_spectrograms(out / "plots" / f"{name}_spectrogram.png",
                      [(f"input: {windows.sources[0]}", windows.audio[0]),
                       (f"{name}: reconstruction", played.reconstructions[0])], rate)
    files.append(f"plots/{name}_spectrogram.png")
    if model.descriptors and len(windows.audio) > 1:
        files += attribute_transfer(out, name, model, played)
    if example is not None:
        plot_curves(out / "plots" / f"{name}_control.png",
                    f"{name}: {', '.join(example.replaced)} replaced", model.descriptors,
                    [("original", example.original), ("target", example.target),
                     ("achieved", example.achieved)], model.compression / rate)
        files.append(f"plots/{name}_control.png")
    return files


def attribute_transfer(out: Path, name: str, model: AlignedModel, played: Played) -> list[str]:
    """Window 0's latent with window 1's descriptor curves: its sound, their faders."""
    audio = model.decode(played.z[0], played.curves[1])
    sf.write(out / "renders" / name / "attribute_transfer_0_from_1.wav", audio,
             model.sample_rate)
    achieved = model.normalise(model.analyse(audio))
    plot_curves(out / "plots" / f"{name}_attribute_transfer.png",
                f"{name}: window 0 played with window 1's descriptors", model.descriptors,
                [("window 0", model.normalise(played.curves[0])),
                 ("target: window 1", model.normalise(played.curves[1])),
                 ("achieved", achieved)], model.compression / model.sample_rate)
    return [f"renders/{name}/attribute_transfer_0_from_1.wav",
            f"plots/{name}_attribute_transfer.png"]


# ---- the report ---------------------------------------------------------------------------

def _cell(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _control_table(results: dict, names: Sequence[str], key: str, section: str = "control"
                   ) -> list[str]:
    """Models as rows, descriptors as columns: results[model][section]['by_descriptor']."""
    rows = []
    for model, result in results.items():
        scores = result.get(section)
        by = scores["by_descriptor"] if scores else {}
        rows.append([model] + [_cell((by.get(d) or {}).get(key)) for d in names]
                    + [_cell(scores["overall"].get(key) if scores else None)])
    return _table(["model", *names, "mean"], rows)


def _alone_sections(results: dict, names: Sequence[str]) -> list[str]:
    """Each fader moved alone, scored on every frame and where the input sounds."""
    lines = []
    for key, title, text in (
            ("alone", "Control, each fader alone: Pearson's r ↑",
             "One curve replaced (every descriptor in every batch), the others following "
             "the input: how a player moves one fader."),
            ("alone_where_sounding",
             "Control, each fader alone, where the input sounds: Pearson's r ↑",
             "The same renders scored only on the frames where the input is above "
             f"{SOUNDING_GATE_DB:.0f} dBFS (the issue's targets): where the note has ended, z "
             "is silence's, and what the faders make of silence is scored above.")):
        scored = {m: {"alone": r["control"][key]} for m, r in results.items()
                  if (r.get("control") or {}).get(key)}
        lines += ["", f"## {title}", "", text, ""]
        lines += _control_table(scored, names, "pearson", "alone")
    return lines


def _replaced_table(results: dict, counts: Sequence[str]) -> list[str]:
    rows = []
    for model, result in results.items():
        by = result["control"]["by_replaced"] if result.get("control") else {}
        rows.append([model] + [f"{_cell(by[n]['cosine'])} / {_cell(by[n]['pearson'])} / "
                               f"{_cell(by[n]['l1'])}" if n in by else "—" for n in counts])
    return _table(["model", *(f"{n} replaced: corr / r / L1" for n in counts)], rows)


def _pitch_cell(fidelity: dict) -> str:
    """The share, and how many notes it is of: on a few dozen notes one moves it by 0.02-0.04."""
    if fidelity["pitch_kept"] is None:
        return _cell(None)
    pitched = fidelity["pitched_notes"]
    kept = round(fidelity["pitch_kept"] * pitched)
    return f"{_cell(fidelity['pitch_kept'])} ({kept} / {pitched})"


def _fidelity_section(results: dict) -> list[str]:
    rows = [(m, r["fidelity"]) for m, r in results.items() if r.get("fidelity")]
    if not rows:
        return []
    lines = ["", "## What the reconstruction keeps (the test split's notes, every descriptor "
             "following)",
             "", "Pitch kept: share of pitched notes whose output f0 (YIN) lies within 50 cents "
             "of the input's; active: latent channels whose posterior mean varies by more than "
             "0.01 over the notes' sounding frames; note / silence: median distance of a "
             "note's latent from silence's (the prior's units, N(0, 1) per channel); frame-rate "
             "peaks: the output's largest spectral peak at a multiple of the frame rate "
             "(every multiple below Nyquist) above the input's there (median over notes; "
             "4-6 dB by chance); lines: how many multiples carry such a peak beyond chance "
             "(10 dB; median over notes). Between partials: the output's level halfway "
             "between the note's partials (below 8 kHz), each against its partial, above "
             "the input's (dB, median over pitched notes; 0 = as clean as the input). "
             "Partial levels: mean distance in dB of the output's partials from the "
             "input's, frame by frame, over the input's partials within 40 dB of its "
             "strongest (median over pitched notes). "
             "High partials: the mean of the same difference, signed, over those partials "
             "from 4 to 8 kHz (below 0: weaker than the input's; median over the pitched "
             "notes that have any). "
             "Under other curves: the same pitch share with "
             "each note's latent decoded with the curves of another note of its instrument "
             "(another octave): 1 when the pitch lives in z and the faders carry the rest. "
             "Off the grid: the same share with each note resampled to play "
             f"{', '.join(f'{s:+d}' for s in OFF_GRID_SHIFTS)} semitones away (one shift per "
             "note in turn), off the pitches the data set was recorded at.",
             ""]
    return lines + _table(
        ["model", "pitch kept ↑", "off the grid ↑", "under other curves ↑",
         "median error, cents ↓", "active / latent ↑", "note / silence ↑",
         "frame-rate peaks, dB ↓", "lines ↓", "between partials, dB ↓",
         "partial levels, dB ↓", "high partials, dB"],
        [[m, _pitch_cell(f), _cell(f.get("pitch_kept_off_grid")),
          _cell(f.get("pitch_kept_other_curves")), _cell(f["median_pitch_error_cents"], 0),
          f"{f['active_dims']} / {f['latent_size']}", _cell(f["note_to_silence"]),
          _cell(f["frame_rate_excess_db"], 1), _cell(f["frame_rate_lines"], 0),
          _cell(f.get("between_partials_rise_db"), 1),
          _cell(f.get("partial_level_error_db"), 1),
          _cell(f.get("high_partial_bias_db"), 1)]
         for m, f in rows])


def _sweep_sections(results: dict, names: Sequence[str]) -> list[str]:
    """Fader sweeps and paired transfer (see `fader_sweep`, `paired_transfer_scores`)."""
    lines = ["", "## Fader sweeps: Spearman's rank correlation ↑", "",
             "Each fader ramped from the bottom to the top of its range and back, the others "
             "following the input; the output's own value on the frames where input and "
             "output sound. 1 = it rises in the order asked, 0 = the fader is ignored. Ranks "
             "only: read it with the coverage, as a tiny but steady movement ranks "
             "perfectly.", ""]
    lines += _control_table(results, names, "spearman", "sweeps")
    lines += ["", "## Fader sweeps: coverage ↑", "",
              "(mean achieved over the top tenth of the ramp - over the bottom tenth) / (the "
              "same of the requested values): 1 = the whole range, 0 = no movement, "
              "< 0 = the wrong way.", ""]
    lines += _control_table(results, names, "coverage", "sweeps")
    lines += ["", "## Fader sweeps: loudness change while a spectral fader moves, dB ↓", "",
              "max - min of the output's level relative to the followed reconstruction, "
              f"smoothed over {LOUDNESS_SMOOTH_SECONDS} s.", ""]
    lines += _control_table(results, names, "loudness_change_db", "sweeps")
    lines += ["", "## Fader sweeps: noise at the top of a spectral fader, dB ↓", "",
              "How much flatter the output's spectrum is than the followed reconstruction's "
              "over the top tenth of the ramp (mean of 10 log10 of the flatness ratio): 0 = "
              "as tonal as the sound it follows; brightness bought with noise instead of "
              "partials reads several dB (a tonal note's flatness lies near -30 dB, white "
              "noise's near -2.5).", ""]
    lines += _control_table(results, names, "flatness_rise_db", "sweeps")
    lines += ["", "## Paired transfer: multi-scale STFT distance to T(x) ↓", "",
              "z(x) decoded with the descriptor curves of T(x) (`augment.paired_transform`: "
              "the transforms training draws: gain, tilt, low shelf, low-pass, saturation), "
              "against T(x); the unchanged reconstruction of x for "
              "scale.", ""]
    rows = [[m, _cell((r.get("paired_transfer") or {}).get("multiscale_stft")),
             _cell((r.get("paired_transfer") or {}).get("unchanged_multiscale_stft"))]
            for m, r in results.items()]
    return lines + _table(["model", "with T(x)'s curves ↓", "x's own curves"], rows)


def _weakest_windows(results: dict, names: Sequence[str]) -> list[str]:
    """Per model and fader, the sweep window of lowest Spearman against the others' mean:
    tells a few disobeyed notes from a fader weak everywhere."""
    rows = []
    for model, result in results.items():
        by_window = (result.get("sweeps") or {}).get("by_window") or {}
        for name in names:
            scored = by_window.get(name) or []
            if len(scored) < 2:
                continue
            worst = min(scored, key=lambda row: row["spearman"])
            others = [row["spearman"] for row in scored if row is not worst]
            rows.append([model, name, f"`{worst['source']}`",
                         _cell(worst["spearman"]), _cell(worst["coverage"]),
                         _cell(float(np.mean(others)))])
    if not rows:
        return []
    return ["", "## Fader sweeps: the window that obeys least", "",
            "Each sweep's lowest Spearman and the mean over its other windows: a fader "
            "weak on one kind of note, or weak everywhere.", ""] + _table(
        ["model", "fader", "window", "Spearman", "coverage", "Spearman, the others"], rows)


def _level_split(results: dict, names: Sequence[str]) -> list[str]:
    """Per model and fader, the sweep scores on notes that hold their level and on notes
    that fade (`_by_level`): where a level-bound fader's shortfall lies."""
    rows = []
    for model, result in results.items():
        by_level = (result.get("sweeps") or {}).get("by_level") or {}
        for name in names:
            if name in by_level:
                steady, fading = by_level[name]["steady"], by_level[name]["fading"]
                rows.append([model, name] + [cell for part in (steady, fading) for cell in (
                    str(part["windows"]), _cell(part["spearman"]), _cell(part["coverage"]))])
    if not rows:
        return []
    return ["", "## Fader sweeps: notes that hold their level and notes that fade", "",
            f"Windows whose input level moves less than {FADING_SPAN_DB:g} dB over the sweep's "
            "sounding frames (p95 - p5) against the others. Boominess is a loudness (the "
            "bands below 400 Hz): with rms following a fading note down, its top is out of "
            "reach at the note's tail, and its Spearman falls there, not where the note "
            "holds.", ""] + _table(
        ["model", "fader", "steady windows", "Spearman", "coverage", "fading windows",
         "Spearman", "coverage"], rows)


def render_report(summary: dict) -> str:
    results, settings = summary["models"], summary["settings"]
    names = list(dict.fromkeys(d for r in results.values() for d in r["descriptors"]))
    counts = sorted({n for r in results.values() if r.get("control")
                     for n in r["control"]["by_replaced"]}, key=int)
    lines = ["# NeuroRave evaluation", "",
             f"Data set `{summary['dataset']}`: {summary['windows']} windows of "
             f"{settings['window_seconds']} s from {summary['files']} files; seed "
             f"{settings['seed']}; control in batches of {settings['batch']}.", "",
             "## Reconstruction", ""]
    lines += _table(["model", "multi-scale STFT ↓", "mel L1 ↓"],
                    [[m, _cell(r["reconstruction"]["multiscale_stft"]),
                      _cell(r["reconstruction"]["mel_l1"], 4)] for m, r in results.items()])
    lines += _fidelity_section(results)
    if names:
        lines += ["", "## Control: correlation (the paper's cosine score ↑, 0.5 = none)", ""]
        lines += _control_table(results, names, "cosine")
        lines += ["", "## Control: Pearson's r ↑", ""] + _control_table(results, names,
                                                                          "pearson")
        lines += _alone_sections(results, names)
        lines += ["", "## Control: L1, normalised units ↓", ""]
        lines += _control_table(results, names, "l1")
        lines += ["", "## Control by number of replaced curves (mean over descriptors): "
                  "cosine score / Pearson's r / L1", ""]
        lines += _replaced_table(results, counts)
        lines += _sweep_sections(results, names)
        lines += _weakest_windows(results, names)
        lines += _level_split(results, names)
    lines += ["", "## Renders", ""]
    for model, result in results.items():
        lines += [f"### {model}", ""] + [f"![{f}]({f})" if f.endswith(".png") else f"- [{f}]({f})"
                                         for f in result["files"]] + [""]
    if summary["skipped"]:
        lines += ["## Skipped files", ""] + [f"- {s}" for s in summary["skipped"]]
    return "\n".join(lines) + "\n"


# ---- all models ---------------------------------------------------------------------------

def model_names(paths: Sequence[Path]) -> list[str]:
    """File stems, numbered where two models share one."""
    stems = [Path(p).stem for p in paths]
    return [s if stems.count(s) == 1 else f"{s}_{i}" for i, s in enumerate(stems)]


def fidelity_scores(path: Path, dataset: Path, config: EvalConfig) -> dict | None:
    """Pitch kept, latent activity and frame-rate artefact on the held-out notes of an
    NSynth-layout set (eval/fidelity.py); None for a set without a test split of notes."""
    split = dataset / "test"
    if not (split / "examples.json").is_file():
        return None
    model = load_nrv(path).eval()
    notes = load_notes(split, model.config.sample_rate, config.fidelity_notes)
    return fidelity(model, read_description(path)["descriptors"], notes)


def evaluate_model(out: Path, name: str, model: AlignedModel, windows: Windows,
                   config: EvalConfig, dataset: Path | None = None) -> dict:
    played = play(model, windows)
    result = {"path": str(model.path), "sample_rate": model.sample_rate,
              "descriptors": model.descriptors,
              "reconstruction": reconstruction_scores(model, windows, played),
              "fidelity": fidelity_scores(model.path, dataset, config) if dataset else None,
              "control": None, "sweeps": None, "paired_transfer": None}
    example, sweeps = None, []
    if model.descriptors:   # plain RAVE has no faders to test
        records, example = control_scores(model, played, config)
        result["control"] = {**summarise_control(records, model.descriptors),
                             "records": records}
        sweeps = fader_sweeps(model, played, config)
        result["sweeps"] = summarise_sweeps(sweeps, windows.sources)
        result["paired_transfer"] = paired_transfer_scores(model, windows, played, config)
    result["files"] = write_renders(out, name, model, windows, played, example, config)
    result["files"] += write_sweep_plots(out, name, sweeps)
    return result


def evaluate(models: Sequence[Path], dataset: Path, out: Path,
             config: EvalConfig = EvalConfig()) -> dict:
    """Evaluate each model on `dataset`; writes report.md, results.json, plots, renders."""
    if not models:
        raise ValueError("give at least one model")
    files = audio_files(dataset)
    loaded = [AlignedModel(p) for p in models]  # a bad model: no report folder made
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    windows_at: dict[tuple[int, int], Windows] = {}
    results = {}
    for name, model in zip(model_names(models), loaded, strict=True):
        frames = max(4, round(config.window_seconds * model.sample_rate / model.compression))
        key = (model.sample_rate, frames * model.compression)
        if key not in windows_at:   # models of one rate and frame size share their windows
            windows_at[key] = load_windows(files, *key, config)
        results[name] = evaluate_model(out, name, model, windows_at[key], config, dataset)
    first = next(iter(windows_at.values()))
    summary = {"dataset": str(dataset), "files": len(files), "windows": len(first.audio),
               "sources": first.sources, "settings": asdict(config),
               "skipped": sorted({s for w in windows_at.values() for s in w.skipped}),
               "models": results}
    (out / "results.json").write_text(json.dumps(summary, indent=1, allow_nan=False,
                                                 default=_json_number) + "\n")
    (out / "report.md").write_text(render_report(summary))
    return summary


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
