"""The three data sets of `neurorave data build`, in NSynth's layout (data/nsynth.py):

- nsynth-like: 4 s General MIDI notes from FluidR3_GM, split by instrument;
- drums: single hits of the GM percussion kits, spread in velocity and tuning;
- speech-digits: one-second spoken digits by espeak-ng voices, split by speaker.

Every sound is rendered by fluidsynth or espeak-ng (data/render.py), several renders at a
time; the same kind, size and seed give the same files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import DATASET_KINDS
from .audio import resample
from .midi import Note
from .nsynth import BuildSummary, Example, NSynthWriter
from .render import render_notes, speak


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


def build(kind: str, root: Path, size: str = "small", seed: int = 0,
          sample_rate: int = 16000, jobs: int | None = None,
          progress: bool = True) -> BuildSummary:
    if kind not in BUILDERS:
        raise ValueError(f"unknown data set {kind!r}; choose one of {', '.join(BUILDERS)}")
    return BUILDERS[kind](Path(root), size, seed, sample_rate, jobs, progress)
