"""Real audio from real instruments: General MIDI through fluidsynth and FluidR3_GM, speech
through espeak-ng, both as subprocesses. The data-set builders (data/builders.py), the demo
and the tests render with these helpers; a missing tool raises RuntimeError with the install
command.

    wav = render_gm_notes(folder, 16000, notes)   # -> Path of a wav at that rate
    audio = render_notes(notes, 16000)            # float64 (T,), no files left behind
    x, rate = speak("seven", 16000, voice="en-us+f2", speed=150, pitch=60)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from .audio import load_mono
from .midi import Note, write_midi

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
INSTALL_HINT = ("install it with `apt-get install -y fluidsynth fluid-soundfont-gm espeak-ng` "
                "(bash scripts/run.sh setup does)")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH: {INSTALL_HINT}")
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
