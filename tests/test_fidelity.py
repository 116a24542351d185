"""What a reconstruction keeps (fidelity.py), on constructed signals whose answer is known."""

from __future__ import annotations

import numpy as np
from neurorave.eval.fidelity import frame_rate_excess_db, midi_to_hz, pitch_error_cents

RATE, FRAME = 44100, 512


def tone(hz: float, seconds: float = 2.0, level: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return level * sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, 6))


def test_pitch_error_of_the_same_a_shifted_and_an_unpitched_output():
    x = tone(midi_to_hz(57))
    assert pitch_error_cents(x, x, RATE, 57) < 5
    shifted = pitch_error_cents(x, tone(midi_to_hz(58)), RATE, 57)
    assert 90 < shifted < 110                     # one semitone
    buzz = np.zeros_like(x)
    buzz[::FRAME] = 0.5                           # a frame-rate click train: 86 Hz
    assert pitch_error_cents(x, buzz, RATE, 57) > 1000
    # an input that does not play its note counts as unpitched
    assert pitch_error_cents(np.zeros_like(x), x, RATE, 57) is None


def test_frame_rate_peaks_are_measured_against_the_input():
    x = tone(midi_to_hz(57)) + 0.01 * np.random.default_rng(0).standard_normal(2 * RATE)
    assert abs(frame_rate_excess_db(x, x, RATE, FRAME)) < 1
    clicks = np.zeros_like(x)
    clicks[::FRAME] = 0.3
    assert frame_rate_excess_db(x, x + clicks, RATE, FRAME) > 20
    # A line high up counts as much as one at the frame rate itself.
    t = np.arange(len(x)) / RATE
    high = x + 0.01 * np.sin(2 * np.pi * 40 * RATE / FRAME * t)
    assert frame_rate_excess_db(x, high, RATE, FRAME) > 20
    assert frame_rate_excess_db(x, high, RATE, FRAME, harmonics=8) < 1
