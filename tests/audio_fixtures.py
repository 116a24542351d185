"""Real audio for the tests: General MIDI notes rendered by fluidsynth from FluidR3_GM, and
speech from espeak-ng, through the package's renderers (`neurorave.data.render`). Both tools
are required (scripts/run.sh installs them): a missing tool raises RuntimeError, so the
tests that need it fail rather than skip.

    paths = render_gm_notes(folder, 16000)       # -> Path of a mono-or-stereo wav
    speech = render_speech(folder, 44100)        # -> Path, resampled to the rate asked
    x = load_mono(paths, 16000)                  # float64 (T,) at that rate
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from neurorave.data import render
from neurorave.data.audio import load_mono
from neurorave.data.midi import Note, write_midi
from neurorave.data.render import require_tool

__all__ = ["DEFAULT_NOTES", "DEFAULT_PHRASE", "Note", "load_mono", "render_gm_notes",
           "render_speech", "require_tool", "write_midi"]

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


def render_gm_notes(folder: Path, sample_rate: int, notes: Sequence[Note] = DEFAULT_NOTES,
                    name: str = "notes") -> Path:
    """Render `notes` (with fluidsynth's reverb and chorus) to folder/<name>_<rate>.wav."""
    return render.render_gm_notes(folder, sample_rate, notes, name)


def render_speech(folder: Path, sample_rate: int | None = None, text: str = DEFAULT_PHRASE,
                  name: str = "speech", voice: str = "en") -> Path:
    """Say `text` with espeak-ng into folder/<name>_<rate>.wav."""
    return render.render_speech(folder, sample_rate, text, name, voice)
