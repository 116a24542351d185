"""Real audio from real instruments: General MIDI through fluidsynth and FluidR3_GM, speech
through espeak-ng, both as subprocesses. The data-set builders (`datasets.py`) and the tests
render with these helpers; a missing tool raises RuntimeError with the install command.

    wav = render_gm_notes(folder, 16000, notes)   # -> Path of a wav at that rate
    x = load_mono(wav, 16000)                     # float64 (T,)
    x = speak("seven", 16000, voice="en-us+f2", speed=150, pitch=60)
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .config import DATASET_KINDS

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
INSTALL_HINT = ("install it with `apt-get install -y fluidsynth fluid-soundfont-gm espeak-ng` "
                "(bash scripts/run.sh setup does)")
DRUM_CHANNEL = 9           # General MIDI's channel 10, counted from 0

_TICKS_PER_BEAT = 480
_TEMPO_US = 500_000  # 120 bpm: one beat = 0.5 s, so one second = 960 ticks
_TICKS_PER_SECOND = _TICKS_PER_BEAT * 1_000_000 / _TEMPO_US


@dataclass(frozen=True)
class Note:
    """One note: GM program (0-based), MIDI pitch, start and length in seconds.

    drum: play on the percussion channel; `program` then picks the kit (bank 128) and
    `pitch` the instrument (35 = bass drum ... 81).
    """

    program: int
    pitch: int
    start: float
    duration: float
    velocity: int = 100
    drum: bool = False


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH: {INSTALL_HINT}")
    return path


def _vlq(value: int) -> bytes:
    """A Standard MIDI File variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _channels(notes: Sequence[Note]) -> dict[tuple[bool, int], int]:
    """(drum, program) -> MIDI channel: one melodic channel per program, drums on 9."""
    programs = sorted({note.program for note in notes if not note.drum})
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    if len(programs) > len(free):
        raise ValueError(f"at most {len(free)} melodic programs in one MIDI file")
    kits = {note.program for note in notes if note.drum}
    if len(kits) > 1:
        raise ValueError("one drum kit per MIDI file (there is one percussion channel)")
    mapping = {(False, p): c for p, c in zip(programs, free, strict=False)}
    mapping.update({(True, kit): DRUM_CHANNEL for kit in kits})
    return mapping


def write_midi(path: Path, notes: Sequence[Note], sound_off: Sequence[float] = ()) -> Path:
    """A format-0 Standard MIDI File of `notes`; one channel per program, drums on 10.

    sound_off: times (s) of an All Sound Off on every channel used. Notes rendered one
    after another then cannot ring into the next one's slot.
    """
    channel = _channels(notes)
    events: list[tuple[int, int, bytes]] = []  # (tick, order, message): offs before ons
    for (_, program), ch in channel.items():
        events.append((0, 0, bytes([0xC0 | ch, program])))
    for note in notes:
        ch = channel[(note.drum, note.program)]
        on = round(note.start * _TICKS_PER_SECOND)
        off = round((note.start + note.duration) * _TICKS_PER_SECOND)
        events.append((on, 2, bytes([0x90 | ch, note.pitch, note.velocity])))
        events.append((off, 1, bytes([0x80 | ch, note.pitch, 0])))
    for seconds in sound_off:
        tick = round(seconds * _TICKS_PER_SECOND)
        events += [(tick, 0, bytes([0xB0 | ch, 120, 0])) for ch in set(channel.values())]
    events.sort(key=lambda e: (e[0], e[1]))
    track = bytearray(b"\x00\xff\x51\x03" + _TEMPO_US.to_bytes(3, "big"))
    now = 0
    for tick, _, message in events:
        track += _vlq(tick - now) + message
        now = tick
    track += _vlq(_TICKS_PER_BEAT) + b"\xff\x2f\x00"   # one beat of release, then the end
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, _TICKS_PER_BEAT)
    path.write_bytes(header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track))
    return path


def render_midi(midi: Path, wav: Path, sample_rate: int, effects: bool = True,
                gain: float = 0.5) -> Path:
    """fluidsynth + FluidR3_GM: `midi` -> `wav` (stereo float) at `sample_rate`.

    effects=False switches fluidsynth's reverb and chorus off: dry notes, as NSynth's are.
    """
    fluidsynth = require_tool("fluidsynth")
    if not SOUNDFONT.is_file():
        raise RuntimeError(f"soundfont {SOUNDFONT} missing: {INSTALL_HINT}")
    cmd = [fluidsynth, "-ni", "-q", "-g", str(gain), "-O", "float", "-F", str(wav),
           "-r", str(sample_rate)]
    if not effects:
        cmd += ["-R", "0", "-C", "0"]
    cmd += [str(SOUNDFONT), str(midi)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0 or not wav.is_file() or wav.stat().st_size < 1000:
        raise RuntimeError(f"fluidsynth failed on {midi} ({done.returncode}): "
                           f"{done.stderr[-2000:]}")
    return wav


def render_gm_notes(folder: Path, sample_rate: int, notes: Sequence[Note],
                    name: str = "notes", effects: bool = True,
                    sound_off: Sequence[float] = ()) -> Path:
    """Render `notes` with fluidsynth and FluidR3_GM to folder/<name>_<rate>.wav."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    midi = write_midi(folder / f"{name}.mid", notes, sound_off)
    return render_midi(midi, folder / f"{name}_{sample_rate}.wav", sample_rate, effects)


def render_notes(notes: Sequence[Note], sample_rate: int, effects: bool = True,
                 sound_off: Sequence[float] = (), gain: float = 0.5) -> np.ndarray:
    """`notes` rendered to mono float64 samples at `sample_rate`, no files left behind."""
    with tempfile.TemporaryDirectory(prefix="neurorave-render-") as tmp:
        midi = write_midi(Path(tmp) / "notes.mid", notes, sound_off)
        wav = render_midi(midi, Path(tmp) / "notes.wav", sample_rate, effects, gain)
        return load_mono(wav)


def _espeak(text: str, wav: Path, voice: str, speed: int | None, pitch: int | None) -> None:
    cmd = [require_tool("espeak-ng"), "-v", voice, "-w", str(wav)]
    if speed is not None:
        cmd += ["-s", str(int(speed))]
    if pitch is not None:
        cmd += ["-p", str(int(pitch))]
    done = subprocess.run(cmd + [text], capture_output=True, text=True, timeout=120,
                          check=False)
    if done.returncode != 0 or not wav.is_file() or wav.stat().st_size < 1000:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r} ({done.returncode}): "
                           f"{done.stderr[-2000:]}")


def speak(text: str, sample_rate: int | None = None, voice: str = "en",
          speed: int | None = None, pitch: int | None = None) -> tuple[np.ndarray, int]:
    """`text` said by espeak-ng: (float64 mono samples, their rate).

    speed in words per minute (espeak's default 175), pitch 0-99 (default 50); the audio is
    resampled with soxr when `sample_rate` is given, else left at espeak's own rate.
    """
    with tempfile.TemporaryDirectory(prefix="neurorave-speak-") as tmp:
        raw = Path(tmp) / "speech.wav"
        _espeak(text, raw, voice, speed, pitch)
        audio = load_mono(raw, sample_rate)
        return audio, sample_rate or sf.info(str(raw)).samplerate


def render_speech(folder: Path, sample_rate: int | None = None, text: str = "",
                  name: str = "speech", voice: str = "en") -> Path:
    """Say `text` with espeak-ng into folder/<name>_<rate>.wav (espeak-ng's own 22050 Hz
    when sample_rate is None, else resampled with soxr)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / f"{name}_espeak.wav"
    _espeak(text, raw, voice, None, None)
    if sample_rate is None:
        return raw
    wav = folder / f"{name}_{sample_rate}.wav"
    sf.write(wav, load_mono(raw, sample_rate), sample_rate, subtype="FLOAT")
    return wav


def resample(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """soxr's high-quality resampler; a no-op when the rates agree."""
    if rate == target_rate:
        return np.asarray(audio)
    import soxr

    return soxr.resample(np.asarray(audio, np.float64), rate, target_rate, quality="HQ")


def load_mono(path: Path, sample_rate: int | None = None) -> np.ndarray:
    """float64 (T,) mono samples of `path`, resampled with soxr to `sample_rate` if given."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    x = data.mean(axis=1)
    if sample_rate is not None:
        x = resample(x, rate, sample_rate)
    return np.ascontiguousarray(x, dtype=np.float64)


# ---- the NSynth layout ----------------------------------------------------------------
# DIR/{train,valid,test}/audio/<note_str>.wav (16-bit PCM) and DIR/<split>/examples.json,
# a dict note_str -> NSynth's fields. Fields we cannot know honestly stay neutral: the ten
# `qualities` are all 0 (nobody listened), speech has pitch 0 and velocity 0.

SPLITS = ("train", "valid", "test")
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed",
            "string", "synth_lead", "vocal", "percussion")  # NSynth's 11, then drums
SOURCES = ("acoustic", "electronic", "synthetic")
N_QUALITIES = 10


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


SILENT_PEAK = 1e-4  # a render whose peak stays below this (-80 dBFS) holds no note


def split_groups(groups: Sequence[str], fractions: tuple[float, float] = (0.1, 0.1)
                 ) -> dict[str, str]:
    """group -> split, whole groups at a time: a group never spans two splits.

    `groups` come shuffled, in the order to fill test first, then valid, then train (the
    builders interleave families so that test and valid draw from different ones). Each of test
    and valid gets at least one group when there are three or more.
    """
    n = len(groups)
    if n < 3:
        raise ValueError(f"need at least 3 groups (instruments, speakers) to split, got {n}")
    n_test = max(1, round(fractions[1] * n))
    n_valid = max(1, round(fractions[0] * n))
    return {group: ("test" if i < n_test else "valid" if i < n_test + n_valid else "train")
            for i, group in enumerate(groups)}


def interleave(families: dict[str, list], rng: np.random.Generator) -> list:
    """Shuffle each family, then take one of each in turn: stratified order."""
    pools = [list(rng.permutation(members)) for _, members in sorted(families.items())]
    pools = [pools[i] for i in rng.permutation(len(pools))]
    order = []
    while any(pools):
        order += [pool.pop(0) for pool in pools if pool]
    return order


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad to exactly `length` samples."""
    out = np.zeros(length)
    out[: min(length, len(audio))] = audio[:length]
    return out


def _in_order(function, items: Sequence, jobs: int, desc: str, unit: str, progress: bool):
    """function(item) for each item, `jobs` at a time (subprocess-bound), in item order."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        for result in pool.map(function, items):
            bar.update(1)
            yield result
    bar.close()


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


# ---- rendering one sound after another ----------------------------------------------------

RENDER_RATE = 44100  # fluidsynth renders here; soxr then resamples (cleaner than fluidsynth)
SLOT_GAP = 0.25      # s of silence after each All Sound Off, before the next note
DATASET_GAIN = 1.0   # fluidsynth's master gain: single notes peak near -10 dBFS at velocity 100


def render_slots(notes: Sequence[Note], slot: float, sample_rate: int,
                 length: float, tuning: Sequence[float] | None = None) -> list[np.ndarray]:
    """Render notes placed one per slot (note k starts at k * (slot + gap)) and cut them.

    Each note is silenced at its slot's end; its first `length` s come back at
    `sample_rate`. tuning: semitones per note, applied by varispeed (the note played
    faster or slower, as a sampler transposes).
    """
    period = slot + SLOT_GAP
    placed = [Note(n.program, n.pitch, k * period, n.duration, n.velocity, n.drum)
              for k, n in enumerate(notes)]
    audio = render_notes(placed, RENDER_RATE, effects=False, gain=DATASET_GAIN,
                         sound_off=[k * period + slot for k in range(len(notes))])
    cuts = []
    for k in range(len(notes)):
        start = int(round(k * period * RENDER_RATE))
        piece = audio[start: start + int(round(slot * RENDER_RATE))]
        shift = 0.0 if tuning is None else float(tuning[k])
        piece = resample(piece, RENDER_RATE * 2.0 ** (shift / 12.0), sample_rate)
        cuts.append(fit_length(piece, int(round(length * sample_rate))))
    return cuts


def _chunks(items: Sequence, size: int) -> list[list]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


# ---- nsynth-like: General MIDI instruments ----------------------------------------------

@dataclass(frozen=True)
class GMInstrument:
    program: int
    family: str
    source: str
    low: int    # the playable MIDI range this builder renders
    high: int

    @property
    def name(self) -> str:
        return f"{self.family}_{self.source}_{self.program:03d}"


def _gm(programs: Sequence[int], family: str, source: str, low: int, high: int
        ) -> list[GMInstrument]:
    return [GMInstrument(p, family, source, low, high) for p in programs]


# General MIDI programs (0-based) grouped into NSynth's families. Left out: orchestra hit
# (55), sound effects (96-103, 120-127) and unpitched percussion (47, 113, 115-119).
GM_INSTRUMENTS: tuple[GMInstrument, ...] = tuple(
    _gm([0, 1, 3, 6], "keyboard", "acoustic", 21, 108)
    + _gm([2, 4, 5, 7], "keyboard", "electronic", 28, 103)
    + _gm(range(8, 16), "mallet", "acoustic", 48, 96)
    + _gm([108, 112, 114], "mallet", "acoustic", 48, 96)
    + _gm([16, 17, 18], "organ", "electronic", 36, 96)
    + _gm([19, 20, 21, 22, 23], "organ", "acoustic", 36, 96)
    + _gm([24, 25, 104, 105, 106], "guitar", "acoustic", 40, 84)
    + _gm(range(26, 32), "guitar", "electronic", 40, 84)
    + _gm([32], "bass", "acoustic", 28, 60)
    + _gm(range(33, 38), "bass", "electronic", 28, 60)
    + _gm([38, 39], "bass", "synthetic", 24, 60)
    + _gm([40, 110], "string", "acoustic", 55, 100)
    + _gm([41], "string", "acoustic", 48, 88)
    + _gm([42], "string", "acoustic", 36, 76)
    + _gm([43], "string", "acoustic", 28, 60)
    + _gm([44, 45, 46, 48, 49, 107], "string", "acoustic", 36, 96)
    + _gm([50, 51], "string", "synthetic", 36, 96)
    + _gm([52, 53], "vocal", "acoustic", 48, 79)
    + _gm([54], "vocal", "synthetic", 48, 79)
    + _gm([56, 59], "brass", "acoustic", 52, 84)
    + _gm([57, 60, 61], "brass", "acoustic", 40, 77)
    + _gm([58], "brass", "acoustic", 28, 58)
    + _gm([62, 63], "brass", "synthetic", 36, 84)
    + _gm([64, 65, 66, 67, 68, 69, 71, 109, 111], "reed", "acoustic", 48, 84)
    + _gm([70], "reed", "acoustic", 34, 72)
    + _gm([72], "flute", "acoustic", 74, 108)
    + _gm(range(73, 80), "flute", "acoustic", 60, 96)
    + _gm(range(80, 96), "synth_lead", "synthetic", 36, 96)
)

NOTE_SECONDS = 4.0   # NSynth: 4 s per note, the key held for the first 3
HOLD_SECONDS = 3.0
NOTES_PER_RENDER = 32  # one fluidsynth run renders this many notes (bounded temp files)


@dataclass(frozen=True)
class NSynthSize:
    instruments: int | None   # None: every instrument of GM_INSTRUMENTS
    pitch_step: int           # every pitch_step-th semitone of each instrument's range
    velocities: tuple[int, ...]


NSYNTH_SIZES: dict[str, NSynthSize] = {
    "test": NSynthSize(6, 24, (100,)),
    "small": NSynthSize(None, 12, (75,)),
    "medium": NSynthSize(None, 3, (50, 100)),
    "full": NSynthSize(None, 1, (25, 50, 75, 100, 127)),   # NSynth's five velocities
}


def _pick_instruments(size: NSynthSize, rng: np.random.Generator) -> list[GMInstrument]:
    """Instruments in split order (test, valid, train), families interleaved."""
    families: dict[str, list] = {}
    for index, instrument in enumerate(GM_INSTRUMENTS):
        families.setdefault(instrument.family, []).append(index)
    order = [GM_INSTRUMENTS[i] for i in interleave(families, rng)]
    return order[: size.instruments] if size.instruments else order


def build_nsynth_like(root: Path, size: str = "small", seed: int = 0,
                      sample_rate: int = 16000, jobs: int | None = None,
                      progress: bool = True) -> BuildSummary:
    """NSynth look-alike: 4 s General MIDI notes from FluidR3_GM, split by instrument."""
    started = time.perf_counter()
    plan = _size(NSYNTH_SIZES, size)
    rng = np.random.default_rng(seed)
    instruments = _pick_instruments(plan, rng)
    split_of = split_groups([i.name for i in instruments])
    jobs_list = []
    for instrument in sorted(instruments, key=lambda i: i.program):
        notes = [(instrument, Note(instrument.program, pitch, 0.0, HOLD_SECONDS, velocity))
                 for pitch in range(instrument.low, instrument.high + 1, plan.pitch_step)
                 for velocity in plan.velocities]
        jobs_list += _chunks(notes, NOTES_PER_RENDER)

    def render(chunk: list[tuple[GMInstrument, Note]]) -> list[np.ndarray]:
        return render_slots([n for _, n in chunk], NOTE_SECONDS, sample_rate, NOTE_SECONDS)

    writer = NSynthWriter("nsynth-like", root, sample_rate)
    renders = _in_order(render, jobs_list, jobs or default_jobs(), "nsynth-like", "render",
                        progress)
    for chunk, audios in zip(jobs_list, renders, strict=True):
        for (instrument, note), audio in zip(chunk, audios, strict=True):
            example = Example(f"{instrument.name}-{note.pitch:03d}-{note.velocity:03d}",
                              instrument.name, instrument.program, instrument.family,
                              instrument.source, note.pitch, note.velocity,
                              (("gm_program", instrument.program),))
            writer.add(split_of[instrument.name], example, audio)
    return writer.finish(started)


def _size(table: dict, size: str):
    if size not in table:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(table)}")
    return table[size]


# ---- drums: the General MIDI percussion kits --------------------------------------------

DRUM_KITS: dict[int, str] = {0: "standard", 8: "room", 16: "power", 24: "electronic",
                             25: "tr808", 32: "jazz", 40: "brush", 48: "orchestra"}
DRUM_KEYS = tuple(range(35, 82))   # GM percussion: acoustic bass drum ... open triangle
HIT_SECONDS = 1.0
VELOCITY_RANGE = (20, 127)
TUNING_SEMITONES = 3.0             # each hit transposed by up to this much, either way


@dataclass(frozen=True)
class DrumSize:
    kits: tuple[int, ...] | None   # None: every kit of DRUM_KITS
    key_step: int
    variations: int                # hits per (kit, key), each its own velocity and tuning


DRUM_SIZES: dict[str, DrumSize] = {
    "test": DrumSize((0,), 4, 1),
    "small": DrumSize(None, 1, 2),
    "medium": DrumSize(None, 1, 6),
    "full": DrumSize(None, 1, 16),
}


@dataclass(frozen=True)
class Hit:
    kit: int
    key: int
    variation: int
    velocity: int
    tuning: float

    @property
    def name(self) -> str:
        return f"percussion_acoustic_{self.kit:03d}-{self.key:03d}-{self.variation:03d}"


def _plan_hits(plan: DrumSize, rng: np.random.Generator) -> list[Hit]:
    hits = []
    for kit in plan.kits or tuple(DRUM_KITS):
        for key in DRUM_KEYS[:: plan.key_step]:
            for variation in range(plan.variations):
                velocity = int(rng.integers(VELOCITY_RANGE[0], VELOCITY_RANGE[1] + 1))
                tuning = float(np.round(rng.uniform(-1, 1) * TUNING_SEMITONES, 2))
                hits.append(Hit(kit, key, variation, velocity, tuning))
    return hits


def build_drums(root: Path, size: str = "small", seed: int = 0, sample_rate: int = 16000,
                jobs: int | None = None, progress: bool = True) -> BuildSummary:
    """Single hits of the GM percussion kits (channel 10), spread in velocity and tuning.

    Hits go to splits at random (seeded), 80 / 10 / 10: there are too few kits to split by
    kit.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    hits = _plan_hits(_size(DRUM_SIZES, size), rng)
    split_of = split_groups([hits[i].name for i in rng.permutation(len(hits))])
    by_kit = [[h for h in hits if h.kit == kit] for kit in sorted({h.kit for h in hits})]
    jobs_list = [chunk for kit_hits in by_kit for chunk in _chunks(kit_hits, 64)]

    def render(chunk: list[Hit]) -> list[np.ndarray]:
        notes = [Note(h.kit, h.key, 0.0, 0.2, h.velocity, drum=True) for h in chunk]
        return render_slots(notes, HIT_SECONDS, sample_rate, HIT_SECONDS,
                            tuning=[h.tuning for h in chunk])

    writer = NSynthWriter("drums", root, sample_rate)
    renders = _in_order(render, jobs_list, jobs or default_jobs(), "drums", "render", progress)
    for chunk, audios in zip(jobs_list, renders, strict=True):
        for hit, audio in zip(chunk, audios, strict=True):
            extra = (("kit", DRUM_KITS[hit.kit]), ("tuning_semitones", hit.tuning))
            example = Example(hit.name, f"percussion_acoustic_{hit.kit:03d}", hit.kit,
                              "percussion", "acoustic", hit.key, hit.velocity, extra)
            writer.add(split_of[hit.name], example, audio)
    return writer.finish(started)


# ---- speech-digits: zero to nine by espeak-ng --------------------------------------------

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "Andy", "Annie", "Denis", "Gene", "Lee", "Mike",
            "steph", "grandpa", "croak")
SPEED_WPM = (120, 220)
ESPEAK_PITCH = (20, 80)
CLIP_SECONDS = 1.0   # SC09: one-second clips at 16 kHz
SPEECH_GAIN = 0.5    # espeak-ng speaks near full scale: -6 dB keeps resampled peaks below 1


@dataclass(frozen=True)
class SpeechSize:
    speakers: int | None   # None: every accent x variant (192)
    takes: int             # utterances of each digit per speaker


SPEECH_SIZES: dict[str, SpeechSize] = {
    "test": SpeechSize(3, 1),
    "small": SpeechSize(24, 3),
    "medium": SpeechSize(None, 4),
    "full": SpeechSize(None, 20),
}


@dataclass(frozen=True)
class Utterance:
    speaker: int
    voice: str
    digit: int
    take: int
    speed: int
    pitch: int
    offset: float   # where the word starts in its clip, as a fraction of the free room

    @property
    def name(self) -> str:
        return f"vocal_synthetic_{self.speaker:03d}-{DIGITS[self.digit]}-{self.take:03d}"


def _plan_utterances(plan: SpeechSize, rng: np.random.Generator) -> list[Utterance]:
    voices = [f"{accent}+{variant}" for accent in ACCENTS for variant in VARIANTS]
    chosen = rng.permutation(len(voices))[: plan.speakers or len(voices)]
    utterances = []
    for speaker in sorted(int(i) for i in chosen):
        for digit in range(len(DIGITS)):
            for take in range(plan.takes):
                speed = int(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1))
                pitch = int(rng.integers(ESPEAK_PITCH[0], ESPEAK_PITCH[1] + 1))
                utterances.append(Utterance(speaker, voices[speaker], digit, take, speed,
                                            pitch, float(rng.uniform())))
    return utterances


def place_word(audio: np.ndarray, length: int, offset: float) -> tuple[np.ndarray, bool]:
    """Trim the silence around a word and place it at `offset` of the free room in a
    clip of `length` samples; a word longer than the clip is cut (second value True)."""
    loud = np.flatnonzero(np.abs(audio) > 0.01 * max(np.max(np.abs(audio)), 1e-12))
    word = audio[loud[0]: loud[-1] + 1] if loud.size else audio[:0]
    if len(word) > length:
        return word[:length], True
    start = int(offset * (length - len(word)))
    return fit_length(np.concatenate([np.zeros(start), word]), length), False


def build_speech_digits(root: Path, size: str = "small", seed: int = 0,
                        sample_rate: int = 16000, jobs: int | None = None,
                        progress: bool = True) -> BuildSummary:
    """SC09 look-alike: one-second spoken digits by espeak-ng voices, split by speaker."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    utterances = _plan_utterances(_size(SPEECH_SIZES, size), rng)
    speakers = sorted({u.voice for u in utterances})
    split_of = split_groups([speakers[i] for i in rng.permutation(len(speakers))])
    length = int(round(CLIP_SECONDS * sample_rate))

    def render(u: Utterance) -> tuple[np.ndarray, bool]:
        audio, _ = speak(DIGITS[u.digit], sample_rate, u.voice, u.speed, u.pitch)
        return place_word(SPEECH_GAIN * audio, length, u.offset)

    writer = NSynthWriter("speech-digits", root, sample_rate)
    renders = _in_order(render, utterances, jobs or default_jobs(), "speech-digits", "word",
                        progress)
    for u, (audio, cut) in zip(utterances, renders, strict=True):
        extra = (("voice", u.voice), ("digit", u.digit), ("word", DIGITS[u.digit]),
                 ("speed_wpm", u.speed), ("espeak_pitch", u.pitch), ("cut", cut))
        example = Example(u.name, f"vocal_synthetic_{u.speaker:03d}", u.speaker, "vocal",
                          "synthetic", 0, 0, extra)
        writer.add(split_of[u.voice], example, audio)
    return writer.finish(started)


BUILDERS = dict(zip(DATASET_KINDS, (build_nsynth_like, build_drums, build_speech_digits),
                    strict=True))
SIZES = {"nsynth-like": NSYNTH_SIZES, "drums": DRUM_SIZES, "speech-digits": SPEECH_SIZES}


def build(kind: str, root: Path, size: str = "small", seed: int = 0,
          sample_rate: int = 16000, jobs: int | None = None,
          progress: bool = True) -> BuildSummary:
    if kind not in BUILDERS:
        raise ValueError(f"unknown data set {kind!r}; choose one of {', '.join(BUILDERS)}")
    return BUILDERS[kind](Path(root), size, seed, sample_rate, jobs, progress)
