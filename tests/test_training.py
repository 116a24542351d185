"""Preprocess, train (F-RAVE, C-RAVE, RAVE), resume, DDP and export, on real rendered notes.

The data: the `nsynth-like` builder's test size (17 four-second FluidR3_GM notes at
16 kHz), preprocessed for the `tiny` model. Runs are short (CPU, minutes in all) and use
a higher learning rate than real training so that their effects show in a few hundred
batches.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import neurorave
import neurorave.cli
import numpy as np
import pytest
import soundfile as sf
import torch
from neurorave.config import RunOptions, TrainConfig, get_config
from neurorave.data.builders import build_nsynth_like
from neurorave.data.preprocess import PreprocessConfig, find_audio, preprocess
from neurorave.data.store import PROGRESS_FILE, STATS_FILE, TrainingWindows, WindowStore
from neurorave.descriptors import window_length
from neurorave.format.nrv import load_into_trainable, load_nrv, read_description, save_nrv
from neurorave.nn.layers import ConvTranspose, Residual
from neurorave.nn.model import NeuroRave
from neurorave.train.run_folder import (
    LAST_CHECKPOINT,
    PRIOR_CHECKPOINT,
    export_run,
    load_checkpoint_model,
    metrics_table,
)
from neurorave.train.trainer import hold_upsampling, model_options, resume_run, start_run

CLI = [sys.executable, "-m", "neurorave.cli"]
# Stronger than the defaults so that 400 batches show the effects: the latent
# discriminator learns 3x faster than the model, the confusion weight is 10, and the
# control weight the training recipe's 4.
QUICK = dict(config="tiny", learning_rate=1e-3, batch_size=8, latent_delay_steps=0,
             latent_ramp_steps=100, latent_weight=10.0, latent_learning_rate=3e-3,
             control_weight=4.0)


def _options(steps: int, **changes) -> RunOptions:
    settings = dict(accelerator="cpu", checkpoint_every=steps, validate_every=steps,
                    validation_batches=4, log_every=5, progress_bar=False)
    return RunOptions(**{**settings, **changes})


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nsynth_like")
    build_nsynth_like(root, size="test", seed=0, progress=False)
    return root


@pytest.fixture(scope="module")
def dataset(notes, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("windows") / "tiny"
    preprocess(notes, folder, PreprocessConfig.for_model(16000, 16), show_progress=False)
    return folder


def _train(dataset: Path, run: Path, steps: int, options: RunOptions | None = None,
           **config) -> Path:
    cfg = TrainConfig(**{**QUICK, "steps": steps, "phase1_steps": steps, **config})
    start_run(dataset, run, cfg, options or _options(steps))
    return run


# ---- preprocess ---------------------------------------------------------------------------

def test_preprocess_keeps_the_nsynth_splits(notes, dataset):
    store = WindowStore(dataset)
    progress = json.loads((dataset / PROGRESS_FILE).read_text())
    files = list(progress["files"])
    assert all(state == "ok" for state in progress["files"].values())
    assert len(files) == sum(len(json.loads((notes / s / "examples.json").read_text()))
                             for s in ("train", "valid", "test"))
    for split in ("train", "valid", "test"):
        windows = store.indices(split)
        assert len(windows) > 0
        assert {files[i].split(os.sep)[0] for i in store.index[windows, 0]} == {split}
    stats = store.statistics()
    assert stats["windows"]["train"] == len(store.indices("train"))
    assert [e["name"] for e in stats["descriptors"]] == store.names
    for entry in stats["descriptors"]:
        assert len(entry["bins"]) == 17 and entry["range"][0] < entry["range"][1]
    # A window's curves are the file's curves at its frames, and its audio the file's.
    assert store.audio.shape[1] == 16384 and store.curves.shape[1:] == (7, 1024)


def test_preprocess_follows_linked_folders_once(notes, tmp_path):
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "notes").symlink_to(notes / "train" / "audio", target_is_directory=True)
    (folder / "again").symlink_to(folder, target_is_directory=True)  # a loop: walked once
    sources = find_audio(folder, 0.1, report=lambda *_: None)
    assert ([s.path.name for s in sources]
            == sorted(p.name for p in (notes / "train" / "audio").glob("*.wav")))
    assert {s.path.parent for s in sources} == {folder / "notes"}


def test_preprocess_reports_and_skips_bad_files(notes, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = next((notes / "train" / "audio").glob("*.wav"))
    (folder / good.name).write_bytes(good.read_bytes())
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt nonsense")
    (folder / "empty.flac").write_bytes(b"")
    (folder / "notes.txt").write_text("not audio, not even looked at")
    code = neurorave.cli.main(["preprocess", str(folder), "-o", str(tmp_path / "out"),
                               "--config", "tiny"])
    output = capsys.readouterr().out
    assert code == 0
    assert "broken.wav" in output and "empty.flac" in output and "notes.txt" not in output
    assert "1 files" in output
    progress = json.loads((tmp_path / "out" / PROGRESS_FILE).read_text())
    assert progress["files"][good.name] == "ok" and progress["complete"]
    assert "unreadable" in progress["files"]["broken.wav"]


def test_preprocess_resumes_where_a_killed_run_stopped(notes, dataset, tmp_path):
    """A kill between two files leaves their data half-written: a rerun finishes exactly."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in dataset.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    progress = json.loads((copy / PROGRESS_FILE).read_text())
    kept = dict(list(progress["files"].items())[:5])
    store = WindowStore(dataset)
    windows = int(np.sum(store.index[:, 0] < 5))
    seconds = sum(sf.info(str(notes / name)).duration for name in kept)
    (copy / PROGRESS_FILE).write_text(json.dumps(
        {"files": kept, "windows": windows, "seconds": seconds, "complete": False}))
    with open(copy / "audio.f32", "ab") as handle:
        handle.write(b"\x00" * 1000)           # the torn tail of a file being written
    (copy / STATS_FILE).unlink()
    with pytest.raises(ValueError, match="did not finish"):
        WindowStore(copy)
    preprocess(notes, copy, PreprocessConfig.for_model(16000, 16), show_progress=False)
    for name in ("audio.f32", "descriptors.f32", "index.i64"):
        assert (copy / name).read_bytes() == (dataset / name).read_bytes(), name
    resumed, whole = (json.loads((d / STATS_FILE).read_text()) for d in (copy, dataset))
    assert resumed["descriptors"] == whole["descriptors"]
    assert resumed["hours"] == pytest.approx(whole["hours"], rel=1e-9)


def test_preprocess_refuses_other_options_in_the_same_folder(notes, dataset):
    with pytest.raises(ValueError, match="other options"):
        preprocess(notes, dataset, PreprocessConfig.for_model(16000, 32), show_progress=False)


def test_training_names_a_data_set_made_for_another_model(dataset, tmp_path):
    with pytest.raises(ValueError, match="16000 Hz with 16 samples per frame.*needs 44100"):
        start_run(dataset, tmp_path / "run", TrainConfig(config="small"), _options(1))


# ---- training -----------------------------------------------------------------------------

STEPS = 400
CHANCE = 1 / 16


RAVE_SEEDS = (0, 2)


@pytest.fixture(scope="module")
def runs(dataset, tmp_path_factory) -> dict[str, Path]:
    """The same short phase-1 training in each mode, seed 0; `rave` also with seed 2
    ("rave-2"): see test_frave_hides_the_descriptors_from_the_latent; `frave` also without
    the control loss and without the latent's initialisation."""
    folder = tmp_path_factory.mktemp("runs")
    trained = {mode: _train(dataset, folder / mode, STEPS, mode=mode)
               for mode in ("frave", "crave", "rave")}
    for seed in RAVE_SEEDS[1:]:
        trained[f"rave-{seed}"] = _train(dataset, folder / f"rave-{seed}", STEPS, mode="rave",
                                         seed=seed)
    trained["frave-no-control"] = _train(dataset, folder / "frave-no-control", STEPS,
                                         mode="frave", control_weight=0.0)
    trained["frave-no-init"] = _train(dataset, folder / "frave-no-init", STEPS, mode="frave",
                                      init_latent_scale=False)
    return trained


def _rave_runs(runs: dict[str, Path]) -> list[Path]:
    return [runs["rave"]] + [runs[f"rave-{seed}"] for seed in RAVE_SEEDS[1:]]


def _logged(run: Path, key: str) -> np.ndarray:
    values = metrics_table(run)[key]
    return values[~np.isnan(values)]


def _distance_fall(run: Path) -> tuple[float, float]:
    distance = _logged(run, "train/distance")
    assert len(distance) == STEPS // 5
    assert np.isfinite(_logged(run, "val/distance")).all()
    checkpoint = torch.load(run / LAST_CHECKPOINT, weights_only=False)
    assert checkpoint["batches_done"] == STEPS
    return float(distance[:6].mean()), float(distance[-6:].mean())


@pytest.mark.parametrize("mode", ["frave", "crave", "rave"])
def test_each_mode_learns(runs, mode):
    """The spectral distance falls by a third within 400 batches. Measured (first vs last
    30 batches, seed 0 and for rave seed 2): frave 47 %, crave 46 %, rave 40 % and 36 %.
    (Before the latent's initialisation a rave seed could stay on its first plateau, 17 %;
    rave passes when one of its two seeds does.)"""
    candidates = _rave_runs(runs) if mode == "rave" else [runs[mode]]
    falls = [_distance_fall(run) for run in candidates]
    assert any(last < 0.67 * first for first, last in falls), falls


def _probe_accuracy(run: Path) -> float:
    """The latent discriminator's accuracy over its last 10 logged training batches,
    averaged over the descriptors. (Validation holds out whole instruments, whose bins the
    training quantiles place unevenly, so it measures the shift more than the latent.)"""
    logged = metrics_table(run)
    keys = [k for k in logged if k.startswith("train/latent_accuracy/")]
    return float(np.mean([_logged(run, k)[-10:].mean() for k in keys]))


def test_frave_hides_the_descriptors_from_the_latent(runs):
    """Above chance (1/16), the discriminator does much worse on an F-RAVE latent.

    In `rave` the latent must carry loudness and brightness for the decoder, so the probe
    learns them; in `frave` the confusion loss removes them. A tiny RAVE can stay on its
    first plateau, its latent then carrying nothing anyone could hide, so rave trains with
    two seeds and the better-informed latent is the baseline. Measured here, last 10
    logged batches, the discriminator reading unit-length frames: rave 0.209 and 0.186
    (seeds 0 and 2), crave 0.161, frave 0.150, so frave's excess over chance is 0.60 of
    rave's; the margin asked is 0.7. (Reading raw frames it was 0.46, but there the
    encoder met the confusion by shrinking z and lost the note's pitch with it: see
    test_frave_keeps_the_pitch_that_a_collapsed_latent_loses.)
    """
    rave = max(_probe_accuracy(run) for run in _rave_runs(runs))
    frave = _probe_accuracy(runs["frave"])
    assert rave - CHANCE > 0.05, f"no rave probe learnt anything ({rave:.3f})"
    assert frave - CHANCE < 0.7 * (rave - CHANCE), (rave, frave)
    assert np.all(_logged(runs["frave"], "train/latent_weight")[-5:] == 10.0)


def _held_out_fidelity(run: Path, notes: Path) -> dict:
    from neurorave.eval.fidelity import fidelity, load_notes

    model, _, entries, _ = load_checkpoint_model(run / LAST_CHECKPOINT)
    return fidelity(model, entries, load_notes(notes / "test", model.config.sample_rate))


def test_the_initialised_latent_carries_what_the_collapsed_one_lost(runs, notes):
    """The same 400 batches of F-RAVE with and without the data-dependent initialisation
    of the posterior mean (model.initialise_latent_scale). Without it the latent collapses
    as the old default model's did: its mean hardly moves over held-out notes, a note and
    silence encode alike and the logged MI is low. With it the mean moves, a note lies
    far from silence, and z carries nats of information. Measured (seed 0): mean channel
    variance 1.1 against 1e-3, note to silence 37 against 0.59 (the prior's units),
    validation MI 16.7 against 0.58 nats per frame; with the bands' DC blocker of the
    presets, MI 15.6 against 3.95, so the MI is asked to be under 0.4 of the initialised
    run's, and the variance and the note-to-silence distance carry the margin."""
    fixed, collapsed = (_held_out_fidelity(runs[r], notes) for r in ("frave", "frave-no-init"))
    fixed_var, collapsed_var = (np.mean(f["latent_variance"]) for f in (fixed, collapsed))
    assert fixed_var > 10 * collapsed_var, (fixed_var, collapsed_var)
    assert fixed["note_to_silence"] > 2.0 > collapsed["note_to_silence"], (fixed, collapsed)
    mi = {r: _logged(runs[r], "val/latent_mi")[-1] for r in ("frave", "frave-no-init")}
    assert mi["frave"] > 1.0 and mi["frave-no-init"] < 0.4 * mi["frave"], mi


def test_frave_keeps_the_pitch_that_a_collapsed_latent_loses(runs, notes):
    """The confusion loss must take the descriptors out of z, not the note. The
    reconstruction of held-out notes (instruments never trained on) keeps their pitch
    with F-RAVE, and loses it with the collapsed latent, whose decoder ignores z.
    Before the latent discriminator read unit-length frames, F-RAVE lost it too: the
    encoder met the confusion by shrinking z, the note's oscillation with it, below the
    posterior's noise. Measured (seeds 0 and 2): 2 of 3 pitched held-out notes within 50
    cents, median error 18-19 cents, against 0 of 3 and 3124 cents for the collapsed
    latent and for the confusion on raw frames
    (docs/experiments/2026-12-03-pitch-under-the-confusion-loss.md). On another machine
    (2026-12-04, the same code) the collapsed latent's output happened to land one note
    within 50 cents, median error 716 cents: a decoder that ignores z plays some pitch,
    and with three notes one may fall near the input's by chance, so the test asks for
    more notes kept than the collapsed latent keeps and a median error apart by 5
    semitones or more, not for none kept."""
    kept, collapsed = (_held_out_fidelity(runs[r], notes) for r in ("frave", "frave-no-init"))
    assert kept["pitched_notes"] == collapsed["pitched_notes"] == 3
    assert kept["pitch_kept"] > 0.3 and kept["median_pitch_error_cents"] < 100, kept
    assert collapsed["pitch_kept"] < kept["pitch_kept"], (kept, collapsed)
    assert collapsed["median_pitch_error_cents"] > 500, collapsed


CONTROL_DRAWS = 8   # target draws averaged: 12 held-out windows make one draw a noisy judge


def _held_out_control_errors(run: Path, dataset: Path) -> dict[str, float]:
    """The control loss's own measure on validation windows (held-out instruments), per
    descriptor: z decoded with drawn target curves (1-4 replaced; draws 0 .. CONTROL_DRAWS-1),
    the output analysed, the mean |error| in normalised units (rms on every frame, the rest
    where it sounds), averaged over the draws."""
    from neurorave.train.control import control_losses, draw_targets

    model, cfg, entries, _ = load_checkpoint_model(run / LAST_CHECKPOINT)
    windows = TrainingWindows(WindowStore(dataset), "valid", cfg.descriptors)
    audio = torch.stack([windows[i][0] for i in range(len(windows))])
    curves = torch.stack([windows[i][1] for i in range(len(windows))])
    ranges = torch.tensor([e["range"] for e in entries], dtype=torch.float32)
    c = model.config.compression
    totals = dict.fromkeys(cfg.descriptors, 0.0)
    with torch.no_grad():
        z = model.encode(audio)
        for draw in range(CONTROL_DRAWS):
            targets, _ = draw_targets(curves, torch.Generator().manual_seed(draw))
            terms = control_losses(model.decode(z, targets), audio, targets, cfg.descriptors,
                                   ranges, model.config.sample_rate, c,
                                   skip_frames=window_length(c) // c)
            for name in totals:
                totals[name] += float(terms[f"control_{name}"]) / CONTROL_DRAWS
    return totals


def test_the_control_loss_makes_drawn_curves_obeyed(runs, dataset):
    """The same 400 batches with and without the control loss, asked on held-out windows
    for target curves drawn as training and evaluation draw them: with it, the output's
    loudness and bandwidth land closer to the targets. 400 batches of `tiny` teach those
    two first; centroid, sharpness and boominess move by a few per cent either way, so a
    total over the five rose and fell with the run's float rounding: with over without,
    averaged over the 8 draws, 0.855 and 0.911 on one thread (seeds 0 and 1), 0.947 on two
    (seed 0), where the earlier 5 % margin on one draw's total failed (0.966). Per
    descriptor on the same three runs: rms 0.79-0.81,
    bandwidth 0.69-0.82; the margin asked is 10 %. At the default control weight of 1 the
    bands' DC blocker leaves no margin: what the loss had bought in 400 batches was mostly
    DC (docs/experiments/2026-12-03-a-dc-blocker-on-the-bands.md). Every fader of a trained
    model is measured by the A/B in docs/experiments/2026-12-02-latent-and-control.md and
    by `neurorave evaluate`."""
    with_control = _held_out_control_errors(runs["frave"], dataset)
    without = _held_out_control_errors(runs["frave-no-control"], dataset)
    for name in ("rms", "bandwidth"):
        assert with_control[name] < 0.9 * without[name], (name, with_control, without)


def test_export_plays_in_the_engine_like_torch(runs, dataset, tmp_path):
    """The exported F-RAVE carries the data set's ranges and bins, and the C++ core fed
    physical descriptor values plays what torch plays from the normalised ones."""
    path = tmp_path / "frave.nrv"
    export_run(runs["frave"], path)
    model, cfg, _, _ = load_checkpoint_model(runs["frave"] / LAST_CHECKPOINT)
    engine = neurorave.Engine(path)
    stats = {e["name"]: e for e in WindowStore(dataset).statistics()["descriptors"]}
    for played, name in zip(engine.info["descriptors"], cfg.descriptors, strict=True):
        assert (played["name"], played["unit"]) == (name, stats[name]["unit"])
        assert played["range"] == pytest.approx(stats[name]["range"], rel=1e-6)  # float32
        assert played["bins"] == pytest.approx(stats[name]["bins"], rel=1e-6)
    store = WindowStore(dataset)
    window = int(store.indices("valid")[0])
    audio = torch.from_numpy(np.array(store.audio[window]))[None, None]
    normalised = TrainingWindows(store, "valid", cfg.descriptors)[0][1][None]
    physical = np.stack([store.curves[window, store.names.index(n)] for n in cfg.descriptors])
    with torch.no_grad():
        z = model.stream_encode(audio, model.init_encoder_state())
        expected = model.stream_decode(torch.cat([z, normalised], 1),
                                       model.init_decoder_state())[0, 0].numpy()
    np.testing.assert_allclose(engine.encode(audio[0, 0].numpy()), z[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(engine.decode(z[0].numpy(), physical), expected, atol=1e-4)
    assert np.abs(expected).max() > 1e-3, "the trained model is silent"


def test_train_prior_learns_resumes_and_is_exported(runs, tmp_path):
    """The prior fitted to the F-RAVE's encoded data: its validation likelihood rises, a
    run stopped at a checkpoint and continued ends bit-identical to an unbroken one, and
    the exported file plays it in the core as torch does."""
    import shutil
    from dataclasses import replace

    from neurorave.config import PriorConfig
    from neurorave.format.nrv import load_prior
    from neurorave.train.prior_fit import train_prior

    cfg = PriorConfig(hidden=48, layers=2, steps=60, batch_size=16, learning_rate=1e-3,
                      checkpoint_every=10)
    whole, split = tmp_path / "whole", tmp_path / "split"
    for run in (whole, split):
        shutil.copytree(runs["frave"], run)
    figures = train_prior(whole, cfg, progress=False)
    train_prior(split, replace(cfg, steps=40), progress=False)
    assert train_prior(split, cfg, progress=False) == figures
    history = torch.load(whole / PRIOR_CHECKPOINT, weights_only=False)["history"]
    # Measured: validation NLL (held-out instruments, 2 windows) 1.01 -> 0.69 nats per value
    # at best, then it overfits the 17 notes. (Before the latent carried the sound, a
    # near-constant z made it 0.87 -> -0.50: a latent that moves is harder to predict.)
    train_nll, valid_nll = ([h[key] for h in history] for key in ("train_nll", "valid_nll"))
    assert train_nll[-1] < train_nll[0] - 0.5, train_nll
    assert min(valid_nll) < valid_nll[0] - 0.2, valid_nll
    a, b = (torch.load(r / PRIOR_CHECKPOINT, weights_only=False)["prior"] for r in (whole, split))
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="other settings"):
        train_prior(whole, replace(cfg, hidden=32), progress=False)

    path = tmp_path / "with_prior.nrv"
    export_run(whole, path)
    prior = load_prior(path)
    assert all(torch.equal(p.cpu(), a[name]) for name, p in prior.state_dict().items())
    engine = neurorave.Engine(path)
    assert engine.has_prior
    core = neurorave._core.Engine(str(path))
    noise = np.random.default_rng(0).standard_normal((64, prior.frame_size)).astype(np.float32)
    expected = prior.generate(torch.from_numpy(noise), 1.0).numpy()
    for t in range(len(noise)):
        z, _ = core.prior_step(noise[t], 1.0)
        np.testing.assert_allclose(z, expected[t, :prior.latent_size], atol=1e-4)
    audio = engine.generate(32 * engine.compression, seed=1)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-3


def test_train_prior_fits_a_model_file_and_leaves_the_rest_of_it_alone(runs, dataset,
                                                                      tmp_path, capsys):
    """A blend has no run folder: `train-prior MODEL.nrv --data DATA -o OUT` fits the prior
    the run's own fit would (same encoder, data, seed: equal to float rounding), writes
    every other tensor of the file as it was, and refuses, in one line naming the file and
    writing nothing, a data set whose ranges are not the model's."""
    import shutil

    from neurorave.config import PriorConfig
    from neurorave.format.nrv import load_prior
    from neurorave.train.prior_fit import train_prior
    from safetensors.numpy import load_file

    model, out = tmp_path / "model.nrv", tmp_path / "with_prior.nrv"
    export_run(runs["frave"], model)
    options = ["--hidden", "48", "--layers", "2", "--steps", "20", "--batch-size", "16",
               "--checkpoint-every", "10", "--no-progress"]
    assert neurorave.cli.main(["train-prior", str(model), "--data", str(dataset), "-o",
                               str(out), *options]) == 0
    before, after = load_file(str(model)), load_file(str(out))
    assert set(after) - set(before) == {k for k in after if k.startswith("prior.")} != set()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert neurorave.Engine(out).has_prior

    run = tmp_path / "run"
    shutil.copytree(runs["frave"], run)
    train_prior(run, PriorConfig(hidden=48, layers=2, steps=20, batch_size=16,
                                 checkpoint_every=10), progress=False)
    fitted = torch.load(run / PRIOR_CHECKPOINT, weights_only=False)["prior"]
    for name, value in load_prior(out).state_dict().items():
        torch.testing.assert_close(value, fitted[name], atol=1e-4, rtol=1e-4)

    moved = tmp_path / "moved"
    shutil.copytree(dataset, moved)
    stats = json.loads((moved / "stats.json").read_text())
    stats["descriptors"][0]["range"] = [r - 6.0 for r in stats["descriptors"][0]["range"]]
    (moved / "stats.json").write_text(json.dumps(stats))
    refused = tmp_path / "refused.nrv"
    capsys.readouterr()
    assert neurorave.cli.main(["train-prior", str(model), "--data", str(moved), "-o",
                               str(refused), *options]) == 1
    error = capsys.readouterr().err.strip()
    assert str(model) in error and "differ" in error and "\n" not in error
    assert not refused.exists()
    assert neurorave.cli.main(["train-prior", str(model), *options]) == 1
    assert "needs --data" in capsys.readouterr().err


def test_a_model_file_s_prior_fit_stops_in_time_and_resumes_where_it_stopped(runs, dataset,
                                                                             tmp_path, capsys):
    """`train-prior MODEL.nrv ... --max-minutes M` stops with a checkpoint next to the file
    it would write and writes nothing else; the same command goes on from it and ends with
    the prior an unbroken fit gives, bit for bit, and the checkpoint gone. A checkpoint
    left by another model's fit is refused in one line naming it."""
    from neurorave.train.prior_fit import file_checkpoint
    from safetensors.numpy import load_file

    model = tmp_path / "model.nrv"
    export_run(runs["frave"], model)
    unbroken, resumed = tmp_path / "unbroken.nrv", tmp_path / "resumed.nrv"
    options = ["--data", str(dataset), "--hidden", "32", "--layers", "1", "--steps", "30",
               "--batch-size", "8", "--checkpoint-every", "10", "--no-progress"]
    assert neurorave.cli.main(["train-prior", str(model), "-o", str(unbroken), *options]) == 0
    assert not file_checkpoint(unbroken).exists()

    capsys.readouterr()
    assert neurorave.cli.main(["train-prior", str(model), "-o", str(resumed), *options,
                               "--max-minutes", "0"]) == 0
    said = capsys.readouterr().out
    assert "stopped after 1 of 30 batches" in said and str(file_checkpoint(resumed)) in said
    assert not resumed.exists() and file_checkpoint(resumed).is_file()
    assert neurorave.cli.main(["train-prior", str(model), "-o", str(resumed), *options]) == 0
    assert not file_checkpoint(resumed).exists()
    a, b = load_file(str(unbroken)), load_file(str(resumed))
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)

    other = tmp_path / "other.nrv"
    assert neurorave.cli.main(["train-prior", str(model), "-o", str(other), *options,
                               "--max-minutes", "0"]) == 0
    capsys.readouterr()
    assert neurorave.cli.main(["train-prior", str(unbroken), "-o", str(other), *options]) == 1
    error = capsys.readouterr().err.strip()
    assert str(file_checkpoint(other)) in error and "another model" in error
    assert "\n" not in error and not other.exists()


def test_summarize_reports_speed_losses_and_the_probe(runs, tmp_path):
    table, figures, curves = tmp_path / "runs.md", tmp_path / "runs.json", tmp_path / "c.png"
    assert neurorave.cli.main(["summarize", str(runs["frave"]), str(runs["rave"]), "-o",
                               str(table), "--json", str(figures), "--plot", str(curves)]) == 0
    frave, rave = json.loads(figures.read_text())
    assert (frave["mode"], rave["mode"], frave["batches"]) == ("frave", "rave", STEPS)
    assert frave["batches_per_second"]["phase1"] > 0 and frave["gan"] == {}
    assert frave["train_distance"]["phase1_end"] < frave["train_distance"]["start"]
    assert np.mean(list(frave["latent_accuracy"].values())) == pytest.approx(
        _probe_accuracy(runs["frave"]))
    assert table.read_text().count("\n") == 4 and "| frave |" in table.read_text()
    assert curves.read_bytes().startswith(b"\x89PNG")


def test_a_time_limit_stops_with_a_checkpoint_and_resume_goes_on(dataset, tmp_path):
    """--max-minutes: the session ends early, its last batch is kept even between
    scheduled checkpoints, and --resume continues from there."""
    timed = _options(1000, max_minutes=0.05, validate_every=10_000)
    run = _train(dataset, tmp_path / "timed", 100_000, timed)
    stopped_at = _batches_in(run / LAST_CHECKPOINT)
    assert 0 < stopped_at < 1000
    resume_run(run, timed)
    final = _batches_in(run / LAST_CHECKPOINT)
    assert stopped_at < final < 2000
    logged = _logged(run, "train/batch")   # each batch once, the stopping one included
    assert np.all(np.diff(logged) > 0) and logged[-1] == final - 1


def test_a_run_folder_is_never_overwritten(runs, dataset):
    with pytest.raises(FileExistsError, match="--resume"):
        _train(dataset, runs["rave"], 10)


# ---- resume and DDP: through the command line, as a user runs them ------------------------

# QUICK's training settings as the command line's `--set`s, so that both train alike.
_QUICK_SETS = [arg for key in ("latent_delay_steps", "latent_ramp_steps", "latent_weight",
                               "latent_learning_rate", "control_weight")
               for arg in ("--set", f"{key}={QUICK[key]}")]


def _cli_train(dataset: Path, run: Path, *extra: str) -> list[str]:
    return [*CLI, "train", str(dataset), "-o", str(run), "--config", "tiny",
            "--mode", "frave", "--steps", str(STEPS), "--phase1-steps", str(STEPS),
            "--learning-rate", str(QUICK["learning_rate"]), *_QUICK_SETS, "--accelerator", "cpu",
            "--validate-every", str(STEPS), "--validation-batches", "4", "--log-every", "5",
            "--no-progress", *extra]


def _batches_in(checkpoint: Path) -> int:
    try:
        return int(torch.load(checkpoint, weights_only=False)["batches_done"])
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return 0


def test_sigkill_then_resume_ends_exactly_where_an_uninterrupted_run_does(runs, dataset,
                                                                          tmp_path):
    run = tmp_path / "killed"
    training = subprocess.Popen(_cli_train(dataset, run, "--checkpoint-every", "25"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while _batches_in(run / LAST_CHECKPOINT) < 50 and training.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    training.send_signal(signal.SIGKILL)
    training.wait()
    killed_at = _batches_in(run / LAST_CHECKPOINT)
    assert 50 <= killed_at < STEPS, "the run ended before it could be killed"
    resumed = subprocess.run([*CLI, "train", "--resume", str(run), "--accelerator", "cpu",
                              "--no-progress"], capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = torch.load(run / LAST_CHECKPOINT, weights_only=False)
    reference = torch.load(runs["frave"] / LAST_CHECKPOINT, weights_only=False)
    assert final["batches_done"] == STEPS
    for name, value in reference["state_dict"].items():
        assert torch.equal(final["state_dict"][name], value), name


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_stops_after_the_batch_with_a_checkpoint(dataset, tmp_path, stop):
    """A scheduler's SIGTERM or a user's Ctrl-C: the batch in progress ends, is saved
    (the checkpoint holds the batch the message names, not a scheduled one) and the
    message says how to go on."""
    run = tmp_path / "stopped"
    training = subprocess.Popen(_cli_train(dataset, run, "--checkpoint-every", "10"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while _batches_in(run / LAST_CHECKPOINT) < 10 and training.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    training.send_signal(stop)
    _, stderr = training.communicate(timeout=300)
    assert training.returncode == 0, stderr[-3000:]
    stopped_at = _batches_in(run / LAST_CHECKPOINT)
    assert 10 <= stopped_at < STEPS, "the run ended before it could be stopped"
    assert (f"stopped by {stop.name} after batch {stopped_at}, checkpointed; continue with "
            f"`neurorave train --resume {run}`") in stderr


def test_phase_two_freezes_the_encoder_and_trains_against_the_discriminator(dataset,
                                                                             tmp_path):
    run = _train(dataset, tmp_path / "gan", 6, _options(6), mode="crave",
                 adversarial_ramp_steps=4)
    before = torch.load(run / LAST_CHECKPOINT, weights_only=False)["state_dict"]
    resume_run(run, _options(4), steps=10)   # raise the total: batches 6-9 are phase 2
    after = torch.load(run / LAST_CHECKPOINT, weights_only=False)
    assert after["batches_done"] == 10
    encoder = [k for k in before if k.startswith("model.encoder.")]
    decoder = [k for k in before if k.startswith("model.decoder.")]
    assert encoder and all(torch.equal(before[k], after["state_dict"][k]) for k in encoder)
    assert any(not torch.equal(before[k], after["state_dict"][k]) for k in decoder)
    for key in ("train/discriminator", "train/adversarial", "train/feature_matching"):
        assert np.isfinite(_logged(run, key)).all() and len(_logged(run, key)) > 0, key
    # The generator's adversarial terms rise from 0 over the first 4 batches of phase 2:
    # the last batch logged (9) is the fourth.
    assert _logged(run, "train/adversarial_ramp")[-1] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="phase 2 began at batch 6"):
        resume_run(run, _options(4), steps=20, phase1_steps=12)


def test_resume_can_move_the_start_of_phase_two_not_reached_yet(dataset, tmp_path):
    """A phase-1 run given more batches stays in phase 1 when --phase1-steps says so."""
    run = _train(dataset, tmp_path / "longer", 6, _options(6))
    before = torch.load(run / LAST_CHECKPOINT, weights_only=False)["state_dict"]
    resume_run(run, _options(4), steps=10, phase1_steps=10)
    after = torch.load(run / LAST_CHECKPOINT, weights_only=False)
    assert after["batches_done"] == 10
    encoder = [k for k in before if k.startswith("model.encoder.")]
    assert any(not torch.equal(before[k], after["state_dict"][k]) for k in encoder)
    assert "train/adversarial" not in metrics_table(run) or not len(
        _logged(run, "train/adversarial"))
    with pytest.raises(ValueError, match="--phase1-steps 30 is more than the 20 batches"):
        resume_run(run, _options(4), steps=20, phase1_steps=30)


def _phase_sums(kernel: torch.Tensor, stride: int) -> torch.Tensor:
    """(phases, cin, cout): each phase's taps summed; all equal for a held kernel."""
    return torch.stack([kernel[..., p::stride].sum(-1) for p in range(stride)])


def test_resume_can_hold_the_kernels_and_change_what_leaves_the_model(runs, tmp_path):
    """`--resume RUN --hold-upsampling --set control_weight=2`: the kernels become the
    nearest held ones (every phase sums alike, so no ripple at the frame rate), the run
    trains on with them and the new weight, and the checkpoint before is kept. Options
    that would change the model are refused."""
    run = tmp_path / "held"
    shutil.copytree(runs["frave"], run)
    done = subprocess.run([*CLI, "train", "--resume", str(run), "--hold-upsampling",
                           "--steps", str(STEPS + 4), "--phase1-steps", str(STEPS + 4),
                           "--set", "control_weight=2", "--accelerator", "cpu",
                           "--checkpoint-every", "4", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "upsampling kernels held (ripple removed: " in done.stderr
    train = json.loads((run / "train.json").read_text())["train"]
    assert train["held_upsampling"] and train["control_weight"] == 2.0
    assert (run / "checkpoints" / "before-hold.ckpt").is_file()
    model, cfg, _, batches = load_checkpoint_model(run / LAST_CHECKPOINT)
    assert batches == STEPS + 4 and cfg.held_upsampling
    upsampling = [layer for layer in model.decoder.layers
                  if isinstance(layer, ConvTranspose) and layer.stride > 1]
    assert upsampling and all(layer.held for layer in upsampling)
    for layer in upsampling:
        sums = _phase_sums(layer.conv.weight.detach(), layer.stride)
        assert (sums - sums[0]).abs().max() < 1e-5 * sums.abs().max()
    with pytest.raises(ValueError, match="held already"):
        hold_upsampling(run)
    with pytest.raises(ValueError, match="config: would change the model"):
        resume_run(run, _options(4), settings={"config": "small"})


@pytest.mark.parametrize("held", [False, True])
def test_a_model_file_loads_into_a_trainable_model_that_plays_alike(tmp_path, held):
    """The weights of an `.nrv` go back through weight norm and held kernels: a fresh
    trainable model then decodes and encodes what the file's model does."""
    config = get_config("tiny", held_upsampling=held)
    torch.manual_seed(3)
    source = NeuroRave(config)
    with torch.no_grad():
        for parameter in source.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn_like(parameter))
    path = tmp_path / "source.nrv"
    save_nrv(source, path)
    played = load_nrv(path)
    trainable = NeuroRave(config)
    load_into_trainable(trainable, path)
    audio = 0.3 * torch.randn(1, 1, 64 * config.compression)
    z = torch.randn(1, config.latent_size, 64)
    curves = torch.rand(1, len(config.descriptors), 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(trainable.encode(audio), played.encode(audio), atol=1e-5,
                                   rtol=1e-4)
        torch.testing.assert_close(trainable.decode_bands(z, curves),
                                   played.decode_bands(z, curves), atol=1e-5, rtol=1e-4)
    assert any(p.requires_grad for p in trainable.parameters())
    other = NeuroRave(get_config("tiny", latent_size=2))
    with pytest.raises(ValueError, match=r"source\.nrv: another architecture .*latent_size"):
        load_into_trainable(other, path)
    narrower = NeuroRave(config.with_(capacity=config.capacity - 2))
    with pytest.raises(ValueError, match=r"source\.nrv: another architecture .*capacity"):
        load_into_trainable(narrower, path)


def _grown_from_a_file(folder: Path, config, **growth
                      ) -> tuple[NeuroRave, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random `config` model saved, then loaded into one with `growth` (ModelConfig
    fields): checks that the grown one encodes and decodes what the file's does, and
    returns it with the audio, the curves and the file's latent it was checked on."""
    torch.manual_seed(4)
    path = folder / "source.nrv"
    save_nrv(NeuroRave(config), path)
    played = load_nrv(path)
    grown = NeuroRave(config.with_(**growth))
    load_into_trainable(grown, path)
    audio = 0.3 * torch.randn(1, 1, 64 * config.compression)
    curves = torch.rand(1, len(config.descriptors), 64) * 2 - 1
    with torch.no_grad():
        z = played.encode(audio)
        torch.testing.assert_close(grown.encode(audio), z, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(grown.decode_bands(z, curves), played.decode_bands(z, curves),
                                   atol=1e-5, rtol=1e-4)
    return grown, audio, curves, z


@pytest.mark.parametrize("held", [False, True])
def test_a_narrower_model_file_loads_widened_and_plays_alike(tmp_path, held):
    """A model file of capacity 8 in a trainable model of capacity 12: the added channels
    do not reach the old ones, so the wider model encodes and decodes what the file's
    does, and every added weight can learn (a gradient reaches each)."""
    wide, audio, curves, _ = _grown_from_a_file(tmp_path, get_config("tiny", held_upsampling=held),
                                                capacity=12)
    mean, _ = wide.encode_distribution(audio)
    (wide.decode_bands(mean, curves).square().mean() + mean.square().mean()).backward()
    silent = [name for name, p in wide.named_parameters()
              if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not silent, f"no gradient reaches {silent}"


def test_encoder_blocks_grow_shut_and_open_at_the_first_step(tmp_path):
    """A model file without the encoder's residual blocks in a model with them: the blocks
    pass their input through, so the grown model plays what the file does; their last
    conv's magnitude gets a gradient, and after one step every added weight has one."""
    grown, audio, curves, z = _grown_from_a_file(tmp_path, get_config("tiny"),
                                                 encoder_residual_dilations=(1, 3))
    blocks = [layer for layer in grown.encoder.layers if isinstance(layer, Residual)]
    assert len(blocks) == 2
    optimiser = torch.optim.Adam([p for block in blocks for p in block.parameters()], 1e-3)
    for _ in range(2):
        optimiser.zero_grad()
        mean, _ = grown.encode_distribution(audio)
        (grown.decode_bands(mean, curves).square().mean() + mean.square().mean()).backward()
        optimiser.step()
    silent = [name for block in blocks for name, p in block.named_parameters()
              if not p.grad.abs().sum() > 0]
    assert not silent, f"no gradient reaches {silent}"
    with torch.no_grad():
        assert (grown.encode(audio) - z).abs().max() > 1e-4   # the blocks now play


def test_a_shorter_filter_bank_gives_way_to_the_runs(tmp_path):
    """A model file of 4 taps per band in a run of 8: every learned kernel is the file's
    (the posterior's mean rows of the head) and the filter bank the run's own design;
    `--init` takes such a file as its preset's; a file with a longer bank is refused. (The
    longer bank's delay moves the layers' padding, so the two do not play alike until the
    run has trained.)"""
    torch.manual_seed(6)
    short = get_config("tiny", pqmf_taps_per_band=4)
    path = tmp_path / "short.nrv"
    save_nrv(NeuroRave(short), path)
    played = dict(load_nrv(path).named_modules())
    grown = NeuroRave(get_config("tiny"))
    load_into_trainable(grown, path)
    fresh = dict(NeuroRave(get_config("tiny")).named_modules())
    head = grown.encoder.layers[-1].conv
    for name, layer in grown.named_modules():
        if not isinstance(layer, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            continue
        if name.startswith("pqmf_"):
            assert layer.weight.shape[-1] == 8 * short.n_bands
            torch.testing.assert_close(layer.weight, fresh[name].weight)
            continue
        rows = short.latent_size if layer is head else len(layer.weight)
        torch.testing.assert_close(layer.weight[:rows], played[name].weight[:rows])
    assert model_options(path)["config"] == "tiny"
    long = tmp_path / "long.nrv"
    save_nrv(NeuroRave(get_config("tiny", pqmf_taps_per_band=16)), long)
    with pytest.raises(ValueError, match=r"long.nrv: another architecture than the run's "
                                         r"\(pqmf_taps_per_band\)"):
        load_into_trainable(NeuroRave(get_config("tiny")), long)


def test_white_band_noise_grows_into_sub_bands(tmp_path):
    """A model file with white band noise in a run with sub-band noise: every learned
    kernel is the file's and the added noise shaper starts at gains of 0 (each sub-band
    at 1: the white band's power), its last conv learning from the first batch; `--init`
    keeps a sub-band file's sub-bands; a run cannot drop them."""
    torch.manual_seed(7)
    white = get_config("tiny", causal=True)
    path = tmp_path / "white.nrv"
    save_nrv(NeuroRave(white), path)
    played = dict(load_nrv(path).named_modules())
    grown = NeuroRave(white.with_(noise_subbands=4))
    load_into_trainable(grown, path)
    for name, layer in grown.named_modules():
        if isinstance(layer, torch.nn.Conv1d | torch.nn.ConvTranspose1d) and \
                not name.startswith("noise_shaper"):
            rows = white.latent_size if layer is grown.encoder.layers[-1].conv else None
            torch.testing.assert_close(layer.weight[:rows], played[name].weight[:rows])
    audio = 0.3 * torch.randn(1, 1, 32 * white.compression)
    z = grown.encode(audio)
    curves = torch.rand(1, len(white.descriptors), z.shape[-1]) * 2 - 1
    gains = grown.noise_shaper(grown.condition(z, curves))
    assert gains.abs().max().item() == 0.0
    grown.decode_bands(z, curves).square().mean().backward()
    assert grown.noise_shaper.layers[-1].conv.weight.grad.abs().sum() > 0
    shaped = tmp_path / "shaped.nrv"
    save_nrv(grown, shaped)
    assert model_options(shaped)["noise_subbands"] == 4
    with pytest.raises(ValueError, match=r"shaped.nrv: another architecture than the run's "
                                         r"\(noise_subbands\)"):
        load_into_trainable(NeuroRave(white), shaped)


def test_the_weight_average_follows_the_batches_and_is_what_export_writes(dataset,
                                                                          tmp_path):
    """A run that turns the average on when resumed starts it from its trained weights,
    moves it by (1 - decay) towards each batch's weights, keeps it across a resumption,
    and exports it, unless --last-weights."""
    run = _train(dataset, tmp_path / "averaged", 1)

    def state() -> dict:
        return torch.load(run / LAST_CHECKPOINT, weights_only=False)["state_dict"]

    resume_run(run, _options(1), steps=2, phase1_steps=2,
               settings={"weight_average_decay": 0.75})
    second = state()
    resume_run(run, _options(1), steps=3, phase1_steps=3)
    third = state()
    assert int(third["averaged_model.n_averaged"]) == 2
    weights = [k for k, v in third.items() if k.startswith("model.") and v.is_floating_point()]
    assert weights
    for key in weights:
        averaged = "averaged_model.module." + key.removeprefix("model.")
        torch.testing.assert_close(second[averaged], second[key], rtol=0, atol=0)
        torch.testing.assert_close(third[averaged], 0.75 * second[key] + 0.25 * third[key])
    moved = [k for k in weights if not torch.equal(second[k], third[k])]
    assert moved, "the third batch changed no weight"
    files = {}
    for last in (False, True):
        files[last] = tmp_path / f"last-{last}.nrv"
        provenance = export_run(run, files[last], last_weights=last)["provenance"]
        assert provenance["averaged_weights"] is not last
    audio = np.array(WindowStore(dataset).audio[0])
    averaged, latest = (neurorave.Engine(files[k]).encode(audio) for k in (False, True))
    assert not np.allclose(averaged, latest, atol=1e-6)


def test_the_learning_rate_falls_along_a_cosine_over_phase_one(dataset, tmp_path):
    run = _train(dataset, tmp_path / "cosine", 12, _options(12, log_every=1),
                 phase1_steps=8, final_learning_rate_ratio=0.1)
    rates = _logged(run, "train/learning_rate")
    base = QUICK["learning_rate"]
    expected = [base * (0.1 + 0.45 * (1.0 + math.cos(math.pi * k / 8))) for k in range(8)]
    np.testing.assert_allclose(rates, expected + [base] * 4, rtol=1e-6)
    for name in TrainConfig.descriptors:   # each fader's control error, for the logs
        assert np.isfinite(_logged(run, f"train/control_{name}")).all()
    with pytest.raises(ValueError, match="final_learning_rate_ratio must lie in"):
        TrainConfig(final_learning_rate_ratio=0.0)


def test_the_reconstruction_partials_term_is_trained_and_logged_where_it_is_on(dataset,
                                                                              tmp_path):
    """partial_weight prices the rebuilt window's partials against its target's; off, it
    costs nothing and is not logged (as control_partial_weight)."""
    on = _train(dataset, tmp_path / "partials-on", 2, _options(2, log_every=1),
                partial_weight=1.0, partial_peak_hz=85.0)
    off = _train(dataset, tmp_path / "partials-off", 2, _options(2, log_every=1))
    assert (_logged(on, "train/partials") > 0).all()
    assert "train/partials" not in metrics_table(off)


def test_the_control_projection_trains_and_logs_the_gradients_cosine(dataset, tmp_path):
    """With control_projection the control terms take their own backward pass, are cut
    where they oppose the rest, and the cosine between the two is logged each batch."""
    run = _train(dataset, tmp_path / "projected", 2, _options(2, log_every=1),
                 control_projection="model")
    cosine = _logged(run, "train/control_cosine")
    assert len(cosine) == 2 and (np.abs(cosine) <= 1.0).all() and (cosine != 0.0).all()
    assert (_logged(run, "train/control") > 0).all()


def test_a_floor_under_the_posterior_spread_bounds_what_z_carries(dataset, tmp_path):
    """The same first batch (same seed, same initial latent) with and without a floor: the
    floor is the noise the decoder reads z against, so the latent's mutual information
    with the input is bounded by it (init: means spread ~1, spread 0.05 without a floor:
    0.5 ln(1 + 1 / 0.05^2) = 3.0 nats per channel; under a floor of 0.3, 1.25)."""
    informations = {}
    for floor in (0.0, 0.3):
        run = _train(dataset, tmp_path / f"floor-{floor}", 1, _options(1, log_every=1),
                     posterior_min_std=floor)
        informations[floor] = float(_logged(run, "train/latent_mi")[0])
    assert 0 < informations[0.3] < 0.6 * informations[0.0], informations
    with pytest.raises(ValueError, match="posterior_min_std must lie in"):
        TrainConfig(posterior_min_std=-0.1)


def test_control_descriptor_weights_name_descriptors_of_the_run():
    assert TrainConfig(control_descriptor_weights={"sharpness": 3.0}).control_descriptor_weights
    with pytest.raises(ValueError, match="names brightness, not among the descriptors"):
        TrainConfig(control_descriptor_weights={"brightness": 2.0})
    with pytest.raises(ValueError, match="must map descriptor names to weights"):
        TrainConfig(control_descriptor_weights=3)
    with pytest.raises(ValueError, match="must not be negative"):
        TrainConfig(control_descriptor_weights={"centroid": -1.0})


def _train_from(start: Path, dataset: Path, run: Path, *options: str
                ) -> subprocess.CompletedProcess:
    """`neurorave train DATASET -o RUN --init START` on 4-window batches, on the CPU."""
    done = subprocess.run([*CLI, "train", str(dataset), "-o", str(run), "--init", str(start),
                           *options, "--batch-size", "4", "--accelerator", "cpu",
                           "--no-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_adversarial_fine_tuning_of_a_model_file_starts_at_once(dataset, tmp_path):
    """`--init MODEL --phase1-steps 0`: every batch is phase 2 (encoder frozen, the
    waveform critic on), not two thirds of them phase 1 as when the option is left out."""
    start = tmp_path / "start.nrv"
    save_nrv(NeuroRave(get_config("tiny")), start)
    run = tmp_path / "gan"
    _train_from(start, dataset, run, "--steps", "2", "--phase1-steps", "0",
                "--learning-rate", "1e-2")
    assert json.loads((run / "train.json").read_text())["train"]["phase1_steps"] == 0
    audio = np.array(WindowStore(dataset).audio[0])
    export_run(run, tmp_path / "gan.nrv")
    np.testing.assert_allclose(neurorave.Engine(tmp_path / "gan.nrv").encode(audio),
                               neurorave.Engine(start).encode(audio), atol=1e-6)


def test_trains_keeps_every_other_weight_where_the_run_started(dataset, tmp_path):
    """`--set trains=[...]`: a second stage from a model file moves only the named
    parameters (here the decoder's first layer, which reads z and the curves); every other
    stored weight is the start's (to weight norm's rounding). A model from such a stage
    passes its recipe on without the freeze; a prefix that names nothing is refused."""
    from neurorave.train.lightning_module import NeuroRaveTraining
    from safetensors import safe_open

    torch.manual_seed(7)
    start = tmp_path / "start.nrv"
    save_nrv(NeuroRave(get_config("tiny")), start)
    run = tmp_path / "stage"
    _train_from(start, dataset, run, "--set", 'trains=["decoder.layers.0."]',
                "--set", "weight_average_decay=0", "--steps", "2", "--phase1-steps", "2",
                "--learning-rate", "1e-2")
    recipe = export_run(run, tmp_path / "stage.nrv")["provenance"]["recipe"]
    before, after = safe_open(start, "np"), safe_open(tmp_path / "stage.nrv", "np")
    moved = {name for name in before.keys()   # weight norm's round trip costs an ulp or two
             if not np.allclose(before.get_tensor(name), after.get_tensor(name), rtol=1e-6,
                                atol=1e-7)}
    assert moved == {"decoder.0.weight", "decoder.0.bias"}, moved
    assert "trains" not in recipe and recipe["learning_rate"] == 1e-2
    with pytest.raises(ValueError, match=r"trains \['decoder.nothing'\] names none"):
        NeuroRaveTraining(TrainConfig(config="tiny", trains=("decoder.nothing",)).to_dict(),
                          "unused", [])


def test_init_starts_a_run_from_a_model_file(dataset, tmp_path):
    """`train DATA -o RUN --init MODEL`: the run takes the model's architecture and starts
    from its weights (at a learning rate too small to move them, the run exports the
    model it started from) and says that its faders take the data set's ranges; with
    `--set capacity=...` (and encoder blocks) it starts from the model grown; a file no
    preset builds, or a
    run to resume, is refused."""
    torch.manual_seed(5)
    start = tmp_path / "start.nrv"
    save_nrv(NeuroRave(get_config("tiny", held_upsampling=True)), start)
    run = tmp_path / "fine"
    done = _train_from(start, dataset, run, "--steps", "3", "--phase1-steps", "3",
                       "--learning-rate", "1e-12")
    info = json.loads((run / "train.json").read_text())
    assert info["init_model"] == str(start.resolve()) and info["train"]["config"] == "tiny"
    assert info["train"]["held_upsampling"]
    assert "start.nrv: the data set's ranges of rms, centroid" in done.stderr
    assert _batches_in(run / LAST_CHECKPOINT) == 3
    provenance = export_run(run, tmp_path / "fine.nrv")["provenance"]
    assert provenance["batches"] == 3
    assert provenance["started_from"]["file"] == str(start.resolve())
    audio = np.array(WindowStore(dataset).audio[0])
    before, after = neurorave.Engine(start), neurorave.Engine(tmp_path / "fine.nrv")
    np.testing.assert_allclose(after.encode(audio), before.encode(audio), atol=1e-4)
    wide = tmp_path / "wide"
    _train_from(start, dataset, wide, "--set", "capacity=12", "--set",
                "encoder_residual_dilations=[1, 3]", "--steps", "1", "--phase1-steps", "1",
                "--learning-rate", "1e-12")
    export_run(wide, tmp_path / "wide.nrv")
    grown = read_description(tmp_path / "wide.nrv")["config"]
    assert grown["capacity"] == 12 and grown["encoder_residual_dilations"] == [1, 3]
    wide_engine, start_engine = neurorave.Engine(tmp_path / "wide.nrv"), neurorave.Engine(start)
    # The centred blocks look ahead, so the grown encoder streams that many frames later.
    lag = wide_engine.info["encode_delay_frames"] - start_engine.info["encode_delay_frames"]
    assert lag == 1 + 3
    np.testing.assert_allclose(wide_engine.encode(audio)[:, lag:],
                               start_engine.encode(audio)[:, :-lag], atol=1e-4)
    odd = tmp_path / "odd.nrv"
    save_nrv(NeuroRave(get_config("tiny", latent_size=2)), odd)
    refused = subprocess.run([*CLI, "train", str(dataset), "-o", str(tmp_path / "odd"),
                              "--init", str(odd)], capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1].endswith(
        "odd.nrv: its architecture is none of the presets (tiny, small, v1, lowlatency), "
        "so no run can start from it")
    assert not (tmp_path / "odd").exists()
    both = subprocess.run([*CLI, "train", "--resume", str(run), "--init", str(start)],
                          capture_output=True, text=True, timeout=120)
    assert both.returncode != 0 and "--init starts a new run" in both.stderr


def test_a_run_from_a_model_file_takes_its_recipe(dataset, tmp_path):
    """`train --init MODEL` trains with the options the file records from its run (pitch
    shifts, rates, weights: what a fine-tune of the default must keep), options given on
    the command line win, `--preset-recipe` takes the defaults instead, and `export`
    records the run's own recipe for the next."""
    start = tmp_path / "start.nrv"
    recorded = {"pitch_shift_semitones": 3.0, "learning_rate": 1e-12, "beta": 0.002,
                "control_descriptor_weights": {"centroid": 4.0}, "option_from_later": 1}
    save_nrv(NeuroRave(get_config("tiny")), start, provenance={"recipe": recorded})
    run = tmp_path / "recipe"
    done = _train_from(start, dataset, run, "--steps", "1", "--set", "beta=0.003")
    trained = json.loads((run / "train.json").read_text())["train"]
    assert trained["pitch_shift_semitones"] == 3.0 and trained["learning_rate"] == 1e-12
    assert trained["control_descriptor_weights"] == {"centroid": 4.0}
    assert trained["beta"] == 0.003 and trained["steps"] == 1
    said = next(line for line in done.stderr.splitlines() if "its run's recipe" in line)
    assert said.startswith(f"{start}: trains with its run's recipe (")
    assert "pitch_shift_semitones=3.0" in said and "beta=0.002" in said
    assert "start.nrv: its recipe's option_from_later are no options of this version" \
        in done.stderr
    exported = export_run(run, tmp_path / "next.nrv")["provenance"]["recipe"]
    assert exported == TrainConfig.from_dict(trained).recipe()
    assert exported["pitch_shift_semitones"] == 3.0 and "capacity" not in exported
    preset = tmp_path / "preset"
    _train_from(start, dataset, preset, "--steps", "1", "--preset-recipe")
    trained = json.loads((preset / "train.json").read_text())["train"]
    assert trained["pitch_shift_semitones"] == TrainConfig().pitch_shift_semitones
    assert trained["learning_rate"] == TrainConfig().learning_rate
    alone = subprocess.run([*CLI, "train", str(dataset), "-o", str(tmp_path / "alone"),
                            "--preset-recipe"], capture_output=True, text=True, timeout=120)
    assert alone.returncode != 0 and "--preset-recipe goes with --init" in alone.stderr


def test_two_ddp_processes_train_on_cpu(dataset, tmp_path):
    """Lightning's DDP with the gloo backend: two processes, phase 1 then phase 2."""
    run = tmp_path / "ddp"
    command = [*CLI, "train", str(dataset), "-o", str(run), "--config", "tiny", "--steps", "6",
               "--phase1-steps", "4", "--accelerator", "cpu", "--devices", "2", "--strategy",
               "ddp", "--checkpoint-every", "3", "--validate-every", "6",
               "--validation-batches", "1", "--log-every", "1", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "world_size: 2" in done.stderr + done.stdout or "Initializing distributed" in (
        done.stderr + done.stdout)
    assert _batches_in(run / LAST_CHECKPOINT) == 6
    assert len(_logged(run, "train/distance")) == 6
    assert np.isfinite(_logged(run, "train/discriminator")).all()


def test_the_experiment_script_trains_exports_evaluates_and_summarises(tmp_path):
    """scripts/experiment.sh end to end, at the smallest sizes: what a GPU session runs."""
    settings = dict(SIZE="test", RATE="16000", CONFIG="tiny", MINUTES="0.1", PHASE1="200",
                    STEPS="400", EVAL_WINDOWS="4", MODES="frave crave", ACCELERATOR="cpu")
    script = Path(__file__).resolve().parents[1] / "scripts" / "experiment.sh"
    done = subprocess.run(["bash", str(script), str(tmp_path / "exp")], capture_output=True,
                          text=True, timeout=900, env={**os.environ, **settings})
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads((tmp_path / "exp" / "training.json").read_text())
    assert [f["mode"] for f in figures] == ["frave", "crave"]
    assert all(0 < f["batches"] < 400 for f in figures)   # stopped by the time limit
    report = (tmp_path / "exp" / "evaluation" / "report.md").read_text()
    assert "frave" in report and "crave" in report
    assert (tmp_path / "exp" / "training.png").read_bytes().startswith(b"\x89PNG")
