"""The NSynth layout, which `neurorave data build` writes and `neurorave preprocess` and
`neurorave evaluate` read.

DIR/{train,valid,test}/audio/<note_str>.wav (16-bit PCM) and DIR/<split>/examples.json,
a dict note_str -> NSynth's fields. Fields we cannot know honestly stay neutral: the ten
`qualities` are all 0 (nobody listened), speech has pitch 0 and velocity 0.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from . import SPLITS

FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed",
            "string", "synth_lead", "vocal", "percussion")  # NSynth's 11, then drums
SOURCES = ("acoustic", "electronic", "synthetic")
N_QUALITIES = 10

SILENT_PEAK = 1e-4  # a render whose peak stays below this (-80 dBFS) holds no note


@dataclass(frozen=True)
class Example:
    """One file's NSynth metadata; `extra` adds fields of our own (GM program, voice...)."""

    note_str: str
    instrument_str: str
    instrument: int
    family: str
    source: str
    pitch: int
    velocity: int
    extra: tuple[tuple[str, object], ...] = ()

    def to_json(self, note_id: int, sample_rate: int) -> dict:
        return {
            "note": note_id, "note_str": self.note_str, "instrument": self.instrument,
            "instrument_str": self.instrument_str,
            "instrument_family": FAMILIES.index(self.family),
            "instrument_family_str": self.family,
            "instrument_source": SOURCES.index(self.source),
            "instrument_source_str": self.source, "pitch": self.pitch,
            "velocity": self.velocity, "sample_rate": sample_rate,
            "qualities": [0] * N_QUALITIES, "qualities_str": [], **dict(self.extra),
        }


@dataclass
class BuildSummary:
    kind: str
    root: Path
    sample_rate: int
    counts: dict[str, int]
    seconds: float = 0.0
    bytes: int = 0
    skipped_silent: int = 0
    clipped: int = 0
    elapsed_s: float = 0.0

    def __str__(self) -> str:
        splits = ", ".join(f"{split} {n}" for split, n in self.counts.items())
        return (f"{self.kind}: {sum(self.counts.values())} files ({splits}), "
                f"{self.seconds / 3600:.2f} h of audio at {self.sample_rate} Hz, "
                f"{self.bytes / 1e6:.1f} MB in {self.root}, built in {self.elapsed_s:.1f} s"
                f"; {self.skipped_silent} silent renders skipped, {self.clipped} clipped")


class NSynthWriter:
    """Writes examples into the NSynth layout; `finish` writes the examples.json files."""

    def __init__(self, kind: str, root: Path, sample_rate: int):
        self.summary = BuildSummary(kind, Path(root), sample_rate, {s: 0 for s in SPLITS})
        self._examples: dict[str, dict[str, dict]] = {split: {} for split in SPLITS}
        for split in SPLITS:
            (self.summary.root / split / "audio").mkdir(parents=True, exist_ok=True)

    def add(self, split: str, example: Example, audio: np.ndarray) -> None:
        summary = self.summary
        if not np.any(np.abs(audio) > SILENT_PEAK):
            summary.skipped_silent += 1  # e.g. a program with no sample at this pitch
            return
        if example.note_str in self._examples[split]:
            raise ValueError(f"duplicate example {example.note_str} in split {split}")
        summary.clipped += int(np.max(np.abs(audio)) > 1.0)
        path = summary.root / split / "audio" / f"{example.note_str}.wav"
        sf.write(path, np.clip(audio, -1.0, 1.0), summary.sample_rate, subtype="PCM_16")
        note_id = sum(len(e) for e in self._examples.values())
        self._examples[split][example.note_str] = example.to_json(note_id, summary.sample_rate)
        summary.counts[split] += 1
        summary.seconds += len(audio) / summary.sample_rate
        summary.bytes += path.stat().st_size

    def finish(self, started: float) -> BuildSummary:
        for split, examples in self._examples.items():
            text = json.dumps(examples, indent=1, sort_keys=True)
            (self.summary.root / split / "examples.json").write_text(text + "\n")
        self.summary.elapsed_s = time.perf_counter() - started
        return self.summary
