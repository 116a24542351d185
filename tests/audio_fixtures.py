"""Real audio for the tests: General MIDI notes rendered by fluidsynth from FluidR3_GM, and
speech from espeak-ng. Both tools are required (scripts/run.sh installs them): a missing
tool raises RuntimeError, so the tests that need it fail rather than skip.

    paths = render_gm_notes(folder, 16000)       # -> Path of a mono-or-stereo wav
    speech = render_speech(folder, 44100)        # -> Path, resampled to the rate asked
    x = load_mono(paths, 16000)                  # float64 (T,) at that rate
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
INSTALL_HINT = ("install it with `apt-get install -y fluidsynth fluid-soundfont-gm espeak-ng` "
                "(bash scripts/run.sh setup does)")


@dataclass(frozen=True)
class Note:
    """One note: GM program (0-based), MIDI pitch, start and length in seconds."""

    program: int
    pitch: int
    start: float
    duration: float
    velocity: int = 100


# Piano, violin, flute and a bass line, with a chord and a gap of silence: about 6 s.
DEFAULT_NOTES: tuple[Note, ...] = (
    Note(0, 60, 0.00, 0.45), Note(0, 64, 0.50, 0.45), Note(0, 67, 1.00, 0.45),
    Note(0, 72, 1.50, 0.90, 80),
    Note(40, 76, 2.60, 0.60), Note(40, 79, 3.20, 0.60), Note(40, 69, 3.80, 0.50),
    Note(73, 84, 2.60, 1.70, 70), Note(73, 88, 4.40, 0.50),
    Note(33, 36, 3.20, 1.20, 110), Note(33, 43, 4.40, 0.90, 110),
    Note(0, 48, 4.40, 0.90), Note(0, 55, 4.40, 0.90), Note(0, 60, 4.40, 0.90),
)

DEFAULT_PHRASE = "The quick brown fox jumps over the lazy dog, she said softly."

_TICKS_PER_BEAT = 480
_TEMPO_US = 500_000  # 120 bpm: one beat = 0.5 s, so one second = 960 ticks


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


def write_midi(path: Path, notes: Sequence[Note]) -> Path:
    """A format-0 Standard MIDI File of `notes`, one channel per program (9 skipped)."""
    programs = sorted({note.program for note in notes})
    channels = [c for c in range(16) if c != 9]
    if len(programs) > len(channels):
        raise ValueError("at most 15 programs")
    channel = dict(zip(programs, channels, strict=False))
    ticks = _TICKS_PER_BEAT * 1_000_000 / _TEMPO_US
    events: list[tuple[int, int, bytes]] = []  # (tick, order, message): offs before ons
    for program in programs:
        events.append((0, 0, bytes([0xC0 | channel[program], program])))
    for note in notes:
        ch = channel[note.program]
        on = round(note.start * ticks)
        off = round((note.start + note.duration) * ticks)
        events.append((on, 2, bytes([0x90 | ch, note.pitch, note.velocity])))
        events.append((off, 1, bytes([0x80 | ch, note.pitch, 0])))
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


def render_gm_notes(folder: Path, sample_rate: int, notes: Sequence[Note] = DEFAULT_NOTES,
                    name: str = "notes") -> Path:
    """Render `notes` with fluidsynth and FluidR3_GM to folder/<name>_<rate>.wav."""
    fluidsynth = require_tool("fluidsynth")
    if not SOUNDFONT.is_file():
        raise RuntimeError(f"soundfont {SOUNDFONT} missing: {INSTALL_HINT}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    midi = write_midi(folder / f"{name}.mid", notes)
    wav = folder / f"{name}_{sample_rate}.wav"
    cmd = [fluidsynth, "-ni", "-q", "-g", "0.5", "-F", str(wav), "-r", str(sample_rate),
           str(SOUNDFONT), str(midi)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not wav.is_file() or wav.stat().st_size < 1000:
        raise RuntimeError(f"fluidsynth failed ({done.returncode}): {done.stderr[-2000:]}")
    return wav


def render_speech(folder: Path, sample_rate: int | None = None, text: str = DEFAULT_PHRASE,
                  name: str = "speech", voice: str = "en") -> Path:
    """Say `text` with espeak-ng into folder/<name>_<rate>.wav (espeak-ng's own 22050 Hz
    when sample_rate is None, else resampled with soxr)."""
    espeak = require_tool("espeak-ng")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / f"{name}_espeak.wav"
    done = subprocess.run([espeak, "-v", voice, "-w", str(raw), text], capture_output=True,
                          text=True, timeout=120, check=False)
    if done.returncode != 0 or not raw.is_file() or raw.stat().st_size < 1000:
        raise RuntimeError(f"espeak-ng failed ({done.returncode}): {done.stderr[-2000:]}")
    if sample_rate is None:
        return raw
    wav = folder / f"{name}_{sample_rate}.wav"
    sf.write(wav, load_mono(raw, sample_rate), sample_rate, subtype="FLOAT")
    return wav


def load_mono(path: Path, sample_rate: int | None = None) -> np.ndarray:
    """float64 (T,) mono samples of `path`, resampled with soxr to `sample_rate` if given."""
    data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    x = data.mean(axis=1)
    if sample_rate is not None and rate != sample_rate:
        import soxr

        x = soxr.resample(x, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(x, dtype=np.float64)
