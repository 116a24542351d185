"""Standard MIDI Files of notes, for fluidsynth to render (data/render.py)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DRUM_CHANNEL = 9     # General MIDI's channel 10, counted from 0

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
