"""`neurorave preprocess AUDIO_DIR -o DATASET`: audio files -> a window store for training.

Every audio file under AUDIO_DIR (recursively; NSynth's `audio/` + `examples.json` layout
too) is read, mixed to mono, resampled with soxr to the model rate and cut into windows
of `n_signal` samples every `hop` samples. Silent windows are skipped. Each window's
descriptor curves (one value per latent frame, every descriptor of
`neurorave.descriptors.DESCRIPTOR_NAMES`) are computed over the whole file, so a window's first
frames see the audio before it as the streaming analyser would.

A broken, empty or unreadable file is reported by name and skipped. The store is written
file by file and `progress.json` is replaced atomically after each file, so an
interrupted run resumes where it stopped (`WindowStore` in data/store.py reads the result).
A run that fails instead (no readable audio, a full disk...) removes the store it began.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .. import descriptors as desc
from ..files import files_under, naming, read_json, write_json_atomically
from . import SPLITS
from .audio import AUDIO_SUFFIXES, is_loud, load_mono
from .store import (
    AUDIO_FILE,
    DESCRIPTORS_FILE,
    INDEX_FILE,
    META_FILE,
    PROGRESS_FILE,
    STATS_FILE,
    WindowStore,
)

STORE_FORMAT = "neurorave-windows"
STORE_VERSION = 1
STORE_FILES = (META_FILE, AUDIO_FILE, DESCRIPTORS_FILE, INDEX_FILE, PROGRESS_FILE, STATS_FILE)
FAILURES_LISTED = 3  # in the error of a folder where no file could be read


@dataclass(frozen=True)
class PreprocessConfig:
    sample_rate: int
    compression: int
    n_signal: int            # samples per window, a multiple of `compression`
    hop: int                 # samples between window starts, a multiple of `compression`
    silence_db: float = -60.0     # windows quieter than this (RMS, dBFS) are skipped
    valid_fraction: float = 0.05  # share of files held out, when the layout has no split
    descriptors: tuple[str, ...] = desc.DESCRIPTOR_NAMES

    def __post_init__(self) -> None:
        for name in ("n_signal", "hop"):
            value = getattr(self, name)
            if value <= 0 or value % self.compression:
                raise ValueError(f"{name} = {value} must be a positive multiple of the "
                                 f"compression ({self.compression})")
        if not 0 <= self.valid_fraction < 1:  # NaN fails too
            raise ValueError(f"valid_fraction = {self.valid_fraction} must be at least 0 "
                             "and below 1")
        if math.isnan(self.silence_db):
            raise ValueError("silence_db = nan: give a level in dBFS, e.g. -60")

    @classmethod
    def for_model(cls, sample_rate: int, compression: int, n_signal: int | None = None,
                  **options) -> PreprocessConfig:
        """Windows of 64 latent frames by default (at least 16384 samples), half overlapped."""
        if n_signal is None:
            n_signal = max(64 * compression, -(-16384 // compression) * compression)
        hop = options.pop("hop", None) or n_signal // 2 // compression * compression
        return cls(sample_rate, compression, n_signal, hop, **options)

    def to_dict(self) -> dict:
        return {**asdict(self), "descriptors": list(self.descriptors)}


@dataclass(frozen=True)
class AudioSource:
    path: Path
    split: str          # "train", "valid" or "test"


@dataclass
class Progress:
    """What is already in the store: the files done (or skipped) and the window count."""

    windows: int = 0
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # relative path -> "ok" or reason
    complete: bool = False

    @classmethod
    def read(cls, path: Path) -> Progress:
        return cls(**read_json(path)) if path.is_file() else cls()

    def write(self, path: Path) -> None:
        write_json_atomically(path, asdict(self))


@dataclass(frozen=True)
class Summary:
    files: int
    skipped: dict[str, str]
    windows: dict[str, int]
    hours: float

    def __str__(self) -> str:
        counts = ", ".join(f"{n} {split}" for split, n in self.windows.items())
        lines = [f"{self.files} files, {self.hours:.2f} hours of audio -> windows: {counts}"]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped.items()]
        return "\n".join(lines)


# ---- finding the audio --------------------------------------------------------------------

def _split_from_folder(folder: Path) -> str | None:
    """NSynth names its splits nsynth-train, nsynth-valid, nsynth-test (or train, ...)."""
    name = folder.name.lower()
    for split in SPLITS:
        if name == split or name.endswith(f"-{split}"):
            return split
    return None


def _hashed_split(relative: str, valid_fraction: float) -> str:
    """A file's split from its path alone: stable when files are added or removed."""
    digest = hashlib.sha256(relative.encode()).digest()
    return "valid" if int.from_bytes(digest[:8], "big") / 2**64 < valid_fraction else "train"


def _nsynth_sources(folder: Path, report) -> Iterator[Path]:
    """The files an NSynth split's examples.json lists, in its order."""
    examples_file = folder / "examples.json"
    try:
        examples = json.loads(examples_file.read_text())
    except (OSError, ValueError) as error:
        report(examples_file, f"unreadable examples.json ({error}); using every audio file")
        yield from (p for p in files_under(folder / "audio")
                    if p.suffix.lower() in AUDIO_SUFFIXES)
        return
    for key in examples:
        yield folder / "audio" / f"{key}.wav"


def find_audio(root: Path, valid_fraction: float, report) -> list[AudioSource]:
    """Every audio file under `root`, sorted, each with its split."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    every_file = files_under(root)
    nsynth_folders = sorted(p.parent for p in every_file
                            if p.name == "examples.json" and (p.parent / "audio").is_dir())
    sources: list[AudioSource] = []
    for folder in nsynth_folders:
        split = _split_from_folder(folder)
        for path in _nsynth_sources(folder, report):
            relative = str(path.relative_to(root))
            sources.append(AudioSource(path, split or _hashed_split(relative, valid_fraction)))
    claimed = {s.path for s in sources}
    for path in every_file:
        if (path.suffix.lower() in AUDIO_SUFFIXES and path not in claimed
                and not any(folder in path.parents for folder in nsynth_folders)):
            relative = str(path.relative_to(root))
            sources.append(AudioSource(path, _hashed_split(relative, valid_fraction)))
    return _ensure_validation(root, sources, valid_fraction)


def _ensure_validation(root: Path, sources: list[AudioSource], valid_fraction: float
                       ) -> list[AudioSource]:
    """A small folder can hash no file into validation: then hold out the lowest-hashed one."""
    if valid_fraction <= 0 or len(sources) < 2 or any(s.split != "train" for s in sources):
        return sources
    held_out = min(sources, key=lambda s: hashlib.sha256(
        str(s.path.relative_to(root)).encode()).digest())
    return [AudioSource(s.path, "valid") if s is held_out else s for s in sources]


# ---- one file -----------------------------------------------------------------------------

def read_mono(path: Path, sample_rate: int) -> np.ndarray:
    """The file as float32 mono at `sample_rate`; ValueError saying what is wrong with it."""
    try:
        audio = load_mono(path, sample_rate)
    except sf.LibsndfileError as error:  # its str repeats the path the report names
        raise ValueError(f"unreadable audio: {error.error_string.rstrip('.')}") from None
    except OSError as error:
        raise ValueError(f"unreadable: {error.strerror or error}") from None
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unreadable audio: {error}") from None
    if len(audio) == 0:
        raise ValueError("no audio (0 samples)")
    if not np.all(np.isfinite(audio)):
        raise ValueError("contains NaN or infinite samples")
    return audio.astype(np.float32)


def cut_windows(audio: np.ndarray, config: PreprocessConfig
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windows, their descriptor curves, their start samples), silent windows left out.

    A file shorter than a window is padded with silence: one-shot sounds still count.
    """
    n, c = config.n_signal, config.compression
    if len(audio) < n:
        audio = np.pad(audio, (0, n - len(audio)))
    usable = (len(audio) - n) // config.hop * config.hop + n
    curves = desc.compute(audio[:usable], config.sample_rate, c, config.descriptors)
    starts = np.arange(0, usable - n + 1, config.hop)
    windows = np.stack([audio[s:s + n] for s in starts])
    loud = is_loud(windows, config.silence_db)
    frames = n // c
    window_curves = np.stack([curves[:, s // c:s // c + frames] for s in starts])
    return windows[loud], window_curves[loud].astype(np.float32), starts[loud]


# ---- the store ----------------------------------------------------------------------------

class _StoreWriter:
    """Appends windows to the store's flat files; truncates what a killed run left half-done."""

    def __init__(self, folder: Path, config: PreprocessConfig, progress: Progress):
        self.folder = folder
        frames = config.n_signal // config.compression
        self.row_bytes = {AUDIO_FILE: 4 * config.n_signal,
                          DESCRIPTORS_FILE: 4 * len(config.descriptors) * frames,
                          INDEX_FILE: 8 * 3}
        self.handles = {}
        for name, row in self.row_bytes.items():
            handle = open(folder / name, "ab")  # noqa: SIM115 (closed in close())
            with _naming_errors(folder / name):
                handle.truncate(progress.windows * row)
            self.handles[name] = handle

    def append(self, windows: np.ndarray, curves: np.ndarray, index: np.ndarray) -> None:
        for name, rows in ((AUDIO_FILE, windows.astype("<f4")),
                           (DESCRIPTORS_FILE, curves.astype("<f4")),
                           (INDEX_FILE, index.astype("<i8"))):
            with _naming_errors(self.folder / name):
                self.handles[name].write(np.ascontiguousarray(rows).tobytes())

    def sync(self) -> None:
        for name, handle in self.handles.items():
            with _naming_errors(self.folder / name):
                handle.flush()
                os.fsync(handle.fileno())

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


@contextmanager
def _naming_errors(path: Path) -> Iterator[None]:
    """A write to an open handle fails (disk full, I/O error) without naming the file."""
    try:
        yield
    except OSError as error:
        if error.filename is not None:
            raise
        raise naming(error, path) from error


def _open_store(folder: Path, config: PreprocessConfig) -> Progress:
    """A new store, or the progress of an interrupted one made with the same options."""
    if folder.exists() and not folder.is_dir():  # mkdir would only say "File exists"
        raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / META_FILE
    meta = {"format": STORE_FORMAT, "version": STORE_VERSION, **config.to_dict()}
    if meta_path.is_file():
        old = read_json(meta_path)
        if old != meta:
            changed = sorted(k for k in meta if old.get(k) != meta[k])
            raise ValueError(f"{folder}: already holds a data set made with other options "
                             f"({', '.join(changed)}); choose another output folder")
        return Progress.read(folder / PROGRESS_FILE)
    write_json_atomically(meta_path, meta, indent=1)
    return Progress()


def _write_statistics(folder: Path, config: PreprocessConfig, progress: Progress) -> dict:
    store = WindowStore(folder, require_complete=False)
    train = store.indices("train")
    if len(train) == 0:
        raise ValueError(f"{folder}: no training windows (every file was skipped, silent "
                         "or held out)")
    curves = store.curves[train]                       # (windows, descriptors, frames)
    # The gate needs every frame's loudness, whichever descriptors the set keeps.
    rms = (None if "rms" in config.descriptors else
           desc.compute(np.asarray(store.audio[train]), config.sample_rate,
                        config.compression, ["rms"]))
    entries = desc.descriptor_statistics(curves, config.descriptors, rms=rms)
    counts = {split: int(len(store.indices(split))) for split in SPLITS}
    stats = {"descriptors": entries, "windows": counts,
             "hours": progress.seconds / 3600, "files": len(progress.files)}
    write_json_atomically(folder / STATS_FILE, stats, indent=1)
    return stats


def preprocess(audio_dir: str | Path, out_dir: str | Path, config: PreprocessConfig,
               show_progress: bool = True, log=print) -> Summary:
    """Build (or finish building) the window store of `audio_dir` in `out_dir`."""
    root, folder = Path(audio_dir), Path(out_dir)
    report = lambda path, why: log(f"skipping {path}: {why}")  # noqa: E731
    sources = find_audio(root, config.valid_fraction, report)
    if not sources:
        raise ValueError(f"{root}: no audio files found (looked for "
                         f"{', '.join(sorted(AUDIO_SUFFIXES))})")
    with _removed_on_failure(folder):
        progress = _open_store(folder, config)
        _store_sources(root, folder, sources, config, progress, report, show_progress)
        _require_readable_audio(root, progress)
        stats = _write_statistics(folder, config, progress)
        progress.complete = True
        progress.write(folder / PROGRESS_FILE)
    skipped = {k: v for k, v in progress.files.items() if v != "ok"}
    return Summary(len(progress.files) - len(skipped), skipped, stats["windows"],
                   progress.seconds / 3600)


def _store_sources(root: Path, folder: Path, sources: list[AudioSource],
                   config: PreprocessConfig, progress: Progress, report,
                   show_progress: bool) -> None:
    """Append the windows of every source not yet in `progress`, recording each file."""
    from tqdm import tqdm

    todo = [s for s in sources if str(s.path.relative_to(root)) not in progress.files]
    writer = _StoreWriter(folder, config, progress)
    try:
        for source in tqdm(todo, desc="preprocess", unit="file", disable=not show_progress,
                           initial=len(sources) - len(todo), total=len(sources)):
            relative = str(source.path.relative_to(root))
            try:
                audio = read_mono(source.path, config.sample_rate)
            except (ValueError, FileNotFoundError) as error:
                report(source.path, error)
                progress.files[relative] = str(error)
            else:
                windows, curves, starts = cut_windows(audio, config)
                index = np.stack([np.full(len(starts), len(progress.files)), starts,
                                  np.full(len(starts), SPLITS.index(source.split))], axis=1)
                writer.append(windows, curves, index.reshape(-1, 3))
                writer.sync()
                progress.files[relative] = "ok"
                progress.windows += len(windows)
                progress.seconds += len(audio) / config.sample_rate
            progress.write(folder / PROGRESS_FILE)
    finally:
        writer.close()


def _require_readable_audio(root: Path, progress: Progress) -> None:
    """A folder where every file failed to read: say which and why, in one line."""
    if "ok" in progress.files.values():
        return
    failed = list(progress.files.items())
    listed = ", ".join(f"{name} ({_shortened(why)})" for name, why in failed[:FAILURES_LISTED])
    more = f" and {len(failed) - FAILURES_LISTED} more" if len(failed) > FAILURES_LISTED else ""
    raise ValueError(f"{root}: no readable audio; {len(failed)} "
                     f"{'file' if len(failed) == 1 else 'files'} failed: {listed}{more}")


def _shortened(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


@contextmanager
def _removed_on_failure(folder: Path) -> Iterator[None]:
    """A store this call begins is removed if the call fails: nothing half-made is left.

    A store begun before (meta.json there) is left as it is, for a rerun to finish, and
    so is a store interrupted by Ctrl-C (KeyboardInterrupt is no Exception). Files and
    folders that were there before are never touched.
    """
    if (folder / META_FILE).exists():
        yield
        return
    new_folders = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        present = set(os.listdir(folder)) if folder.is_dir() else set()
    except OSError:
        present = set(STORE_FILES)  # cannot tell what was there: remove nothing
    try:
        yield
    except Exception:
        # The error that brought us here is the one to report, not a failed clean-up.
        for name in set(STORE_FILES) - present:
            with suppress(OSError):
                (folder / name).unlink(missing_ok=True)
        for new_folder in new_folders:  # deepest first, as long as they are empty
            try:
                new_folder.rmdir()
            except OSError:
                break
        raise
