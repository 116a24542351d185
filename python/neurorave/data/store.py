"""The window store that `neurorave preprocess` writes and training reads.

A folder of flat little-endian files, memory-mapped so a data set larger than memory
trains without loading it:

    meta.json         options it was made with (rate, compression, n_signal, hop, ...)
    audio.f32         windows x n_signal samples
    descriptors.f32   windows x descriptors x frames, physical units (neurorave/descriptors.py)
    index.i64         windows x (file number, start sample, split: 0 train 1 valid 2 test)
    progress.json     files done or skipped (with the reason), window count, complete flag
    stats.json        per descriptor over the training windows: unit, range, 16 bins
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..descriptors import normalise, quantise
from ..files import read_json
from . import SPLITS

META_FILE = "meta.json"
AUDIO_FILE = "audio.f32"
DESCRIPTORS_FILE = "descriptors.f32"
INDEX_FILE = "index.i64"
PROGRESS_FILE = "progress.json"
STATS_FILE = "stats.json"


class WindowStore:
    """Read-only view of a preprocessed data set."""

    def __init__(self, folder: str | Path, require_complete: bool = True):
        self.folder = Path(folder)
        meta_path = self.folder / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.folder}: not a preprocessed data set (no "
                                    f"{META_FILE}); run `neurorave preprocess` first")
        self.meta = read_json(meta_path)
        progress = read_json(self.folder / PROGRESS_FILE)
        if require_complete and not progress.get("complete"):
            raise ValueError(f"{self.folder}: preprocessing did not finish; run the same "
                             "`neurorave preprocess` command again to complete it")
        count = int(progress["windows"])
        self.names: list[str] = list(self.meta["descriptors"])
        self.sample_rate: int = int(self.meta["sample_rate"])
        self.compression: int = int(self.meta["compression"])
        self.n_signal: int = int(self.meta["n_signal"])
        frames = self.n_signal // self.compression
        self.audio = self._map(AUDIO_FILE, (count, self.n_signal), "<f4")
        self.curves = self._map(DESCRIPTORS_FILE, (count, len(self.names), frames), "<f4")
        self.index = self._map(INDEX_FILE, (count, 3), "<i8")

    def _map(self, name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
        path = self.folder / name
        needed = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if not path.is_file() or path.stat().st_size < needed:
            raise ValueError(f"{path}: truncated ({path.stat().st_size if path.is_file() else 0}"
                             f" bytes, {needed} expected); run `neurorave preprocess` again")
        if shape[0] == 0:
            return np.zeros(shape, dtype)
        return np.memmap(path, dtype=dtype, mode="r", shape=shape)

    def __len__(self) -> int:
        return len(self.audio)

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.index[:, 2] == SPLITS.index(split))

    def statistics(self) -> dict:
        """stats.json: {"descriptors": [entries], "windows": {...}, "hours", "files"}."""
        return read_json(self.folder / STATS_FILE)

    def descriptor_entries(self, names: Sequence[str]) -> list[dict]:
        """The model-file entries (unit, range, bins) of `names`, in that order."""
        entries = {e["name"]: e for e in self.statistics()["descriptors"]}
        missing = [n for n in names if n not in entries]
        if missing:
            raise ValueError(f"{self.folder}: no descriptor {', '.join(missing)} in the data "
                             f"set (it has {', '.join(entries)})")
        return [entries[n] for n in names]


class TrainingWindows:
    """Map-style data set: window i -> (audio (1, T), normalised curves, quantile bins).

    Curves and bins are those of `names` (the model's descriptors, or the ones probed
    by the latent discriminator), normalised to [-1, 1] over the data set's range.
    """

    def __init__(self, store: WindowStore, split: str, names: Sequence[str]):
        self.store = store
        self.ids = store.indices(split)
        entries = store.descriptor_entries(names)
        rows = [store.names.index(n) for n in names]
        self._normalise = lambda c: np.stack(
            [normalise(c[r], e["range"]) for r, e in zip(rows, entries, strict=True)])
        self._quantise = lambda c: np.stack(
            [quantise(c[r], e["bins"]) for r, e in zip(rows, entries, strict=True)])
        self.n_names = len(rows)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        # Here, not at the top: preprocessing reads the store (WindowStore) without torch.
        import torch

        window = self.ids[i]
        curves = np.asarray(self.store.curves[window], np.float64)
        frames = curves.shape[-1]
        normalised = self._normalise(curves) if self.n_names else np.zeros((0, frames))
        bins = self._quantise(curves) if self.n_names else np.zeros((0, frames), np.int64)
        return (torch.from_numpy(np.array(self.store.audio[window], np.float32)[None]),
                torch.from_numpy(normalised.astype(np.float32)),
                torch.from_numpy(bins.astype(np.int64)))


class StepBatchSampler:
    """Endless batches; batch k of rank r is a pure function of (seed, r, k).

    Training resumed at batch k therefore sees exactly the batches it would have seen
    without the interruption, which `neurorave train --resume` relies on.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0,
                 start_batch: int = 0):
        if size == 0:
            raise ValueError("no training windows")
        self.size, self.batch_size, self.seed, self.rank = size, batch_size, seed, rank
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[list[int]]:
        k = self.start_batch
        while True:
            rng = np.random.default_rng([self.seed, self.rank, k])
            yield rng.choice(self.size, self.batch_size,
                             replace=self.size < self.batch_size).tolist()
            k += 1
