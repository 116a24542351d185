"""The data-set builders keep their promises: counts, lengths, rates, disjoint splits,
NSynth's layout and fields, the pitch of a rendered note, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from neurorave.cli import main
from neurorave.data import SPLITS, builders
from neurorave.data.midi import Note
from neurorave.data.nsynth import FAMILIES
from neurorave.data.render import render_notes

NSYNTH_FIELDS = {"note", "note_str", "instrument", "instrument_str", "instrument_family",
                 "instrument_family_str", "instrument_source", "instrument_source_str",
                 "pitch", "velocity", "sample_rate", "qualities", "qualities_str"}


def read_split(root: Path, split: str) -> dict[str, dict]:
    return json.loads((root / split / "examples.json").read_text())


def check_layout(root: Path, seconds: float, sample_rate: int = 16000) -> dict[str, dict]:
    """Every split: one wav per examples.json entry, of the promised rate and length."""
    every: dict[str, dict] = {}
    for split in SPLITS:
        examples = read_split(root, split)
        wavs = sorted(p.stem for p in (root / split / "audio").glob("*.wav"))
        assert wavs == sorted(examples), split
        assert examples, f"split {split} is empty"
        for name, example in examples.items():
            assert NSYNTH_FIELDS <= set(example), name
            assert example["note_str"] == name and example["sample_rate"] == sample_rate
            info = sf.info(str(root / split / "audio" / f"{name}.wav"))
            assert (info.samplerate, info.channels, info.subtype) == (sample_rate, 1, "PCM_16")
            assert info.frames == round(seconds * sample_rate)
            every[name] = {**example, "split": split}
    return every


def split_of_groups(examples: dict[str, dict], key: str) -> dict[str, set[str]]:
    groups: dict[str, set[str]] = {}
    for example in examples.values():
        groups.setdefault(example[key], set()).add(example["split"])
    return groups


@pytest.fixture(scope="module")
def nsynth_like(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nsynth_like")
    summary = builders.build_nsynth_like(root, "test", seed=3, progress=False)
    assert summary.skipped_silent == 0 and summary.clipped == 0
    return root


def test_nsynth_like_layout_and_instrument_split(nsynth_like):
    examples = check_layout(nsynth_like, builders.NOTE_SECONDS)
    groups = split_of_groups(examples, "instrument_str")
    assert len(groups) == builders.NSYNTH_SIZES["test"].instruments
    assert all(len(splits) == 1 for splits in groups.values()), "an instrument spans splits"
    assert {s for splits in groups.values() for s in splits} == set(SPLITS)
    families = {e["instrument_family_str"] for e in examples.values()}
    assert len(families) == len(groups), "the test size takes one instrument per family"
    for example in examples.values():
        assert example["instrument_family_str"] == FAMILIES[example["instrument_family"]]
        assert example["note_str"].startswith(example["instrument_str"])


def test_nsynth_like_note_has_its_pitch(nsynth_like):
    """The fundamental of each test-split note, by YIN, is its MIDI pitch within 30 cents."""
    examples = {k: v for k, v in check_layout(nsynth_like, 4.0).items() if v["split"] == "test"}
    for name, example in examples.items():
        audio, rate = sf.read(str(nsynth_like / "test" / "audio" / f"{name}.wav"))
        held = audio[int(0.2 * rate): int(2.5 * rate)]   # the sustained part of the note
        f0 = np.median(librosa.yin(held, fmin=25, fmax=4200, sr=rate, frame_length=2048))
        expected = librosa.midi_to_hz(example["pitch"])
        assert abs(1200 * np.log2(f0 / expected)) < 30, (name, f0, expected)


def test_drums_hits_and_spread(tmp_path):
    summary = builders.build_drums(tmp_path, "test", seed=1, progress=False)
    examples = check_layout(tmp_path, builders.HIT_SECONDS)
    plan = builders.DRUM_SIZES["test"]
    assert len(examples) == len(builders.DRUM_KEYS[:: plan.key_step]) == sum(
        summary.counts.values())
    assert all(e["instrument_family_str"] == "percussion" for e in examples.values())
    assert len({e["velocity"] for e in examples.values()}) > 1
    tunings = [e["tuning_semitones"] for e in examples.values()]
    assert max(np.abs(tunings)) <= builders.TUNING_SEMITONES and np.std(tunings) > 0.5


def test_speech_digits_split_by_speaker_and_reproducible(tmp_path):
    first = builders.build_speech_digits(tmp_path / "a", "test", seed=5, progress=False)
    builders.build_speech_digits(tmp_path / "b", "test", seed=5, progress=False)
    examples = check_layout(tmp_path / "a", builders.CLIP_SECONDS)
    plan = builders.SPEECH_SIZES["test"]
    assert len(examples) == plan.speakers * len(builders.DIGITS) * plan.takes
    assert first.clipped == 0
    groups = split_of_groups(examples, "voice")
    assert len(groups) == plan.speakers and all(len(s) == 1 for s in groups.values())
    assert sorted(e["word"] for e in examples.values() if e["voice"] == next(iter(groups))
                  ) == sorted(builders.DIGITS)
    for split in SPLITS:   # same seed: the same bytes
        assert read_split(tmp_path / "a", split) == read_split(tmp_path / "b", split)
        for wav in (tmp_path / "a" / split / "audio").glob("*.wav"):
            assert wav.read_bytes() == (tmp_path / "b" / split / "audio" / wav.name).read_bytes()


def test_cli_builds_and_rejects_unknown_size(tmp_path, capsys):
    assert main(["data", "build", "drums", "-o", str(tmp_path), "--size", "test"]) == 0
    assert "drums: 12 files" in capsys.readouterr().out
    assert main(["data", "build", "drums", "-o", str(tmp_path), "--size", "huge"]) == 1
    assert "unknown size 'huge'" in capsys.readouterr().err


def test_midi_sound_off_silences_the_slot():
    """A long organ note is cut by All Sound Off: nothing rings into the next slot."""
    notes = [Note(19, 60, 0.0, 5.0)]
    audio = render_notes(notes, 16000, effects=False, sound_off=[0.5])
    assert np.max(np.abs(audio[:8000])) > 0.01
    assert np.max(np.abs(audio[int(0.52 * 16000):])) < 1e-4
