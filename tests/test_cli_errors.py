"""Bad files, bad folders, bad options: one line on stderr naming the file, exit status 1,
no traceback, nothing that was there lost and nothing half-made left behind."""

from __future__ import annotations

import errno
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import neurorave
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import stir_noise_shaper
from neurorave import cli
from neurorave.cli import main
from neurorave.config import get_config
from neurorave.format.cost import multiply_adds_per_second
from neurorave.format.nrv import load_nrv, read_description, save_nrv
from neurorave.format.onnx_torchscript import OnnxStreamer
from neurorave.nn.model import NeuroRave
from neurorave.play.default_model import DEFAULT_MODEL

TOLERANCE = 1e-4  # as tests/test_export_formats.py and tests/test_core_parity.py


def run(capsys, *args) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `neurorave ARGS` run in this process."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_of(capsys, *args) -> str:
    """The one stderr line of a command that must fail with status 1."""
    code, _, err = run(capsys, *args)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"neurorave {args[0]}: ")
    return lines[0]


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def audio_dir(tmp_path) -> Path:
    """Two short sounding files at the tiny config's 16 kHz."""
    folder = tmp_path / "audio"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("one.wav", "two.wav"):
        t = np.arange(16000) / 16000
        tone = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 800) * t)
        sf.write(folder / name, tone + 0.01 * rng.standard_normal(len(t)), 16000)
    return folder


@pytest.fixture
def corrupt_dir(tmp_path) -> Path:
    """Five files that only look like audio."""
    folder = tmp_path / "corrupt"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a.wav", "b.wav", "c.wav", "d.flac"):
        (folder / name).write_bytes(rng.bytes(700))
    (folder / "e.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt nonsense")
    return folder


# ---- preprocess ---------------------------------------------------------------------------

def test_preprocess_into_a_path_under_a_file(audio_dir, tmp_path, capsys):
    blocker = tmp_path / "somefile.txt"
    blocker.write_text("mine")
    line = error_of(capsys, "preprocess", audio_dir, "-o", blocker / "out", "--config", "tiny")
    assert line == f"neurorave preprocess: {blocker / 'out'}: Not a directory"
    assert blocker.read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_preprocess_into_a_read_only_folder(audio_dir, tmp_path, capsys):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        line = error_of(capsys, "preprocess", audio_dir, "-o", folder, "--config", "tiny")
    finally:
        folder.chmod(0o755)
    assert line == f"neurorave preprocess: {folder / 'meta.json'}: Permission denied"
    assert tree(folder) == []


def test_only_corrupt_audio_is_named_and_leaves_nothing(corrupt_dir, tmp_path, capsys):
    out = tmp_path / "new" / "set"
    line = error_of(capsys, "preprocess", corrupt_dir, "-o", out, "--config", "tiny")
    assert line.startswith(f"neurorave preprocess: {corrupt_dir}: no readable audio; "
                           "5 files failed: a.wav (unreadable audio: ")
    assert "b.wav (" in line and "c.wav (" in line and line.endswith(" and 2 more")
    assert not (tmp_path / "new").exists()


def test_failed_preprocess_keeps_what_the_folder_held(corrupt_dir, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    error_of(capsys, "preprocess", corrupt_dir, "-o", out, "--config", "tiny")
    assert tree(out) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"


def test_preprocess_of_a_missing_folder(tmp_path, capsys):
    line = error_of(capsys, "preprocess", tmp_path / "nowhere", "-o", tmp_path / "out")
    assert line == f"neurorave preprocess: {tmp_path / 'nowhere'}: no such folder"
    assert tree(tmp_path) == []


# ---- export ---------------------------------------------------------------------------

def test_export_of_a_folder_that_is_no_run(tmp_path, capsys):
    out = tmp_path / "model.nrv"
    line = error_of(capsys, "export", tmp_path, "-o", out)
    assert line.startswith(f"neurorave export: {tmp_path}: not a training run (no train.json")
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    (run_folder / "train.json").write_text("{}")
    line = error_of(capsys, "export", run_folder, "-o", out)
    assert "no checkpoint yet" in line and str(run_folder) in line
    (run_folder / "train.json").write_text("{not json")
    line = error_of(capsys, "export", run_folder, "-o", out)
    assert line.startswith(f"neurorave export: {run_folder / 'train.json'}: damaged, not JSON")
    assert not out.exists()


def test_train_prior_says_which_options_go_with_a_file_and_which_with_a_run(tmp_path,
                                                                          capsys):
    """A model file needs the data set and an output; a run keeps its prior itself; a
    damaged model file is named. Nothing is written."""
    line = error_of(capsys, "train-prior", DEFAULT_MODEL)
    assert str(DEFAULT_MODEL) in line and "needs --data" in line
    line = error_of(capsys, "train-prior", tmp_path, "-o", tmp_path / "out.nrv")
    assert f"{tmp_path}: --data and -o are for a model file" in line
    bad = tmp_path / "bad.nrv"
    _truncated_model(bad)
    line = error_of(capsys, "train-prior", bad, "--data", tmp_path, "-o", tmp_path / "out.nrv")
    assert str(bad) in line
    assert not (tmp_path / "out.nrv").exists()


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(2).bytes(3000))


def _truncated_model(path: Path) -> None:
    data = DEFAULT_MODEL.read_bytes()
    path.write_bytes(data[:len(data) // 2])


@pytest.mark.parametrize("make", [_random_bytes, _truncated_model, Path.mkdir],
                         ids=["random-bytes", "truncated", "folder"])
def test_export_of_a_bad_model_file(make, tmp_path, capsys):
    bad = tmp_path / "bad.nrv"
    make(bad)
    line = error_of(capsys, "export", bad, "--onnx", tmp_path / "out.onnx",
                    "--torchscript", tmp_path / "out.ts")
    assert line.startswith(f"neurorave export: {bad}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nrv"]


def test_a_model_file_from_another_version_is_named(tmp_path, capsys):
    """A file whose architecture holds a field this version does not know (a newer
    project's option) plays in the core, which reads the layers, but the torch side says
    which file and which field in one line, and writes nothing."""
    from neurorave.format import nrv
    from safetensors.numpy import load_file

    newer = tmp_path / "newer.nrv"
    description = read_description(DEFAULT_MODEL)
    description["config"]["band_hum_filter"] = True
    nrv._write(newer, load_file(str(DEFAULT_MODEL)), description)
    line = error_of(capsys, "export", newer, "--onnx", tmp_path / "out.onnx")
    assert line == (f"neurorave export: {newer}: its architecture cannot be read (unknown model "
                    "options: band_hum_filter)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer.nrv"]


def test_export_of_a_model_file_asks_for_a_format(tmp_path, capsys):
    line = error_of(capsys, "export", DEFAULT_MODEL)
    assert line == (f"neurorave export: {DEFAULT_MODEL}: give -o OUT.nrv (with --weights fp16 "
                    "for half-size weights), --onnx OUT.onnx and/or --torchscript OUT.ts to "
                    "convert it")
    line = error_of(capsys, "export", DEFAULT_MODEL, "--checkpoint", tmp_path / "last.ckpt",
                    "-o", tmp_path / "copy.nrv", "--onnx", tmp_path / "out.onnx")
    assert line.startswith(f"neurorave export: {DEFAULT_MODEL}: a model file is converted")
    assert tree(tmp_path) == []


def test_model_file_converts_to_onnx_and_torchscript_that_play_like_the_core(tmp_path,
                                                                              capsys):
    onnx_path, script_path = tmp_path / "default.onnx", tmp_path / "default.ts"
    code, out, err = run(capsys, "export", DEFAULT_MODEL, "--onnx", onnx_path,
                         "--torchscript", script_path)
    assert code == 0, err
    assert out.splitlines() == [f"wrote {onnx_path}", f"wrote {script_path}"]
    engine = neurorave.Engine(DEFAULT_MODEL)
    c, frames = engine.compression, 12
    audio = (0.3 * np.random.default_rng(3).standard_normal(frames * c)).astype(np.float32)
    # The player's block adapter plays one frame behind the frame-wise streams; its
    # faders start at the middle of their ranges, normalised 0 for the other formats.
    played = engine.process(audio)[c:]
    assert np.abs(played).max() > 1e-3, "the core plays silence: the test would prove nothing"
    streamer = OnnxStreamer(onnx_path)
    onnx_out = np.concatenate([streamer.process(audio[i:i + 3 * c])
                               for i in range(0, len(audio), 3 * c)], -1)
    np.testing.assert_allclose(onnx_out.ravel()[:-c], played, atol=TOLERANCE, rtol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.load(str(script_path))
    scripted.set_controls(torch.zeros(len(engine.descriptors)))
    with torch.no_grad():
        script_out = scripted(torch.from_numpy(audio).reshape(1, 1, -1))
    np.testing.assert_allclose(script_out.numpy().ravel()[:-c], played, atol=TOLERANCE,
                               rtol=0)


def _with_lopsided_bands(path: Path) -> None:
    """The default model with every band's waveform pushed off centre (tanh(wave + 1)):
    each band then has a mean, which plays as DC and as tones at the band edges, what the
    blocker is for. (A trained model may have learnt to leave none to remove.)"""
    model = load_nrv(DEFAULT_MODEL)
    heads = (2 * model.config.n_bands, 3 * model.config.n_bands)
    last = [m for m in model.decoder.modules()
            if isinstance(m, torch.nn.Conv1d) and m.out_channels in heads][-1]
    with torch.no_grad():
        last.bias[: model.config.n_bands] += 1.0
    description = read_description(DEFAULT_MODEL)
    save_nrv(model, path, description["descriptors"], provenance=description["provenance"])


def test_info_names_the_noise_and_a_new_dc_blocker_keeps_the_sub_bands(tmp_path, capsys):
    """`info` says how the model plays its noise (and counts what its shaping costs);
    rewriting a model file's DC blockers leaves its sub-band noise as it was: the core
    plays the same noise."""
    torch.manual_seed(3)
    model = NeuroRave(get_config("tiny", causal=True, noise_subbands=4))
    stir_noise_shaper(model)
    shaped, blocked, white = (tmp_path / f"{n}.nrv" for n in ("shaped", "blocked", "white"))
    save_nrv(model, shaped)
    save_nrv(NeuroRave(get_config("tiny", causal=True)), white)
    code, printed, _ = run(capsys, "info", shaped)
    assert code == 0 and "noise: 4 sub-bands per band, gains every frame" in printed
    code, printed, _ = run(capsys, "info", white)
    assert code == 0 and "noise: white in each band" in printed
    # tiny: 1 000 frames/s of the shaper (9 -> 128 x 3 taps, 128 -> 128, 128 -> 4 bands x 4),
    # 4 000 band samples/s of 4 bands x 4 sub-bands x (8 taps + a gain).
    added = multiply_adds_per_second(read_description(shaped)) - \
        multiply_adds_per_second(read_description(white))
    assert added == 1000 * (9 * 128 * 3 + 128 * 128 + 128 * 16) + 4000 * 16 * 9
    code, _, err = run(capsys, "export", shaped, "-o", blocked, "--band-dc-cutoff", 0)
    assert code == 0, err
    assert read_description(blocked)["decoder"][-1]["subbands"] == 4
    z = np.zeros((model.config.latent_size, 64), np.float32)
    quiet = neurorave.Engine(blocked).decode(z)
    assert np.abs(quiet).max() > 0, "the noise plays"
    model.decoder.layers[-1].dc_pole = model.decoder.layers[-1].comb_pole = 0.0
    with torch.no_grad():
        expected = model.stream_decode(model.condition(torch.from_numpy(z)[None], None),
                                       model.init_decoder_state())[0, 0].numpy()
    np.testing.assert_allclose(quiet, expected, atol=1e-5)


def test_a_model_file_gains_or_loses_the_bands_dc_blocker(tmp_path, capsys):
    """--band-dc-cutoff, --band-dc-period and --band-comb-cutoff rewrite the head of a
    model file, weights untouched: the same note comes out with its DC offset and
    band-edge tone taken away, by the blocker every sample or by the shipped combs."""
    names = ("lopsided", "without", "again", "comb")
    lopsided, without, again, comb = (tmp_path / f"{n}.nrv" for n in names)
    _with_lopsided_bands(lopsided)
    for source, out, option, ending in (
            (lopsided, without, ["--band-dc-cutoff", 0, "--band-dc-period", 1,
                                 "--band-comb-cutoff", 0], "none"),
            (without, again, ["--band-dc-cutoff", 10], "10 Hz every sample"),
            (again, comb, ["--band-dc-period", 4, "--band-comb-cutoff", 3],
             "10 Hz every 4 band samples, then 3 Hz every frame")):
        code, printed, err = run(capsys, "export", source, "-o", out, *option)
        assert code == 0, err
        assert printed.strip().endswith(f"the bands' DC blockers: {ending})")
    old, new, frame = (read_description(p) for p in (without, again, comb))
    assert "dc_pole" not in old["decoder"][-1] and old["config"]["band_dc_cutoff_hz"] == 0
    assert new["decoder"][-1]["dc_pole"] == pytest.approx(math.exp(-2 * math.pi * 10 / 5512.5))
    assert new["config"]["band_dc_cutoff_hz"] == 10 and "dc_period" not in new["decoder"][-1]
    head = frame["decoder"][-1]
    assert head["dc_pole"] == pytest.approx(math.exp(-2 * math.pi * 10 / 5512.5 * 4))
    assert head["comb_pole"] == pytest.approx(math.exp(-2 * math.pi * 3 / 5512.5 * 16))
    assert (head["dc_period"], head["comb_period"]) == (4, 16)
    assert frame["config"]["band_comb_cutoff_hz"] == 3
    t = np.arange(44100) / 44100
    note = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    offsets = []
    for path in (without, again, comb):
        out = neurorave.Engine(path).process(note)[22050:]
        offsets.append(abs(out.mean()) / np.sqrt((out ** 2).mean()))
    assert offsets[1] < 0.01 < offsets[0] and offsets[2] < 0.01
    code, printed, _ = run(capsys, "info", comb)
    assert code == 0 and ("bands' DC blockers: 10 Hz every 4 band samples, then 3 Hz every "
                          "frame") in printed
    assert "filter bank: 8 bands, 8 taps per band" in printed

    line = error_of(capsys, "export", DEFAULT_MODEL, "--band-dc-cutoff", 10)
    assert line.endswith(": --band-dc-cutoff writes another model file: give -o OUT.nrv")
    line = error_of(capsys, "export", DEFAULT_MODEL, "-o", tmp_path / "x.nrv",
                    "--band-dc-cutoff", 5000)
    assert line.startswith(f"neurorave export: {DEFAULT_MODEL}: band_dc_cutoff_hz must lie in")
    line = error_of(capsys, "export", "--random", "--config", "tiny", "-o", tmp_path / "r.nrv",
                    "--band-dc-cutoff", 10)
    assert "a new run: --set band_dc_cutoff_hz=HZ" in line
    line = error_of(capsys, "export", DEFAULT_MODEL, "--band-comb-cutoff", 3)
    assert line.endswith(": --band-comb-cutoff writes another model file: give -o OUT.nrv")
    line = error_of(capsys, "export", without, "-o", tmp_path / "x.nrv", "--band-dc-period", 3)
    assert line == (f"neurorave export: {without}: band_dc_period must divide a frame's 16 "
                    "band samples, got 3")
    assert tree(tmp_path) == ["again.nrv", "comb.nrv", "lopsided.nrv", "without.nrv"]


# ---- files written, errors shown ------------------------------------------------------

def test_written_files_respect_the_umask(audio_dir, tmp_path, capsys):
    out = tmp_path / "out"
    previous = os.umask(0o022)
    try:
        assert main(["preprocess", str(audio_dir), "-o", str(out / "set"), "--config",
                     "tiny"]) == 0
        assert main(["export", "--random", "--config", "tiny", "-o", str(out / "m.nrv"),
                     "--onnx", str(out / "m.onnx"), "--torchscript", str(out / "m.ts")]) == 0
    finally:
        os.umask(previous)
    capsys.readouterr()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"meta.json", "progress.json", "stats.json", "audio.f32", "m.nrv", "m.onnx",
            "m.ts"} <= {p.name for p in files}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {
        p.name: "0o644" for p in files}


def test_unexpected_errors_are_one_line_unless_debugging(monkeypatch, capsys):
    def broken(args):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(cli, "_info", broken)
    line = error_of(capsys, "info")
    assert line == ("neurorave info: unexpected ZeroDivisionError: division by zero second "
                    "line (run with NEURORAVE_DEBUG=1 for the traceback)")
    monkeypatch.setenv("NEURORAVE_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["info"])


def test_error_lines():
    assert cli.error_line(PermissionError(13, "Permission denied", "out/meta.json")) == (
        "out/meta.json: Permission denied")
    assert cli.error_line(OSError(28, "No space left on device")) == "No space left on device"
    assert cli.error_line(KeyError("x.nrv: no descriptor 'pitch'")) == (
        "x.nrv: no descriptor 'pitch'")
    assert cli.error_line(ValueError("two\n  lines")) == "two lines"
    assert len(cli.error_line(RuntimeError("x" * 5000))) == cli.LONGEST_LINE


def test_the_real_command_prints_one_line_and_exits_1(tmp_path):
    bad = tmp_path / "bad.nrv"
    _random_bytes(bad)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(neurorave.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    environment.pop("NEURORAVE_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "neurorave.cli", "info", str(bad)],
                          capture_output=True, text=True, env=environment, timeout=120,
                          check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"neurorave info: {bad}: ")


class _FullDisk:
    """An append-mode store file on a disk with no room left."""

    def __init__(self, path, mode):
        self.handle = open(path, mode)  # noqa: SIM115 (closed in close())

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.handle, name)


def test_a_full_disk_names_the_file_and_leaves_nothing(audio_dir, tmp_path, monkeypatch,
                                                       capsys):
    import neurorave.data.preprocess

    monkeypatch.setattr(neurorave.data.preprocess, "open", _FullDisk, raising=False)
    out = tmp_path / "set"
    line = error_of(capsys, "preprocess", audio_dir, "-o", out, "--config", "tiny")
    assert line == f"neurorave preprocess: {out / 'audio.f32'}: No space left on device"
    assert not out.exists()


def test_a_blend_of_two_fine_tunes_plays_each_at_its_ends_and_between(tmp_path, capsys):
    """`neurorave blend`: weight 0 plays the first model sample for sample, 1 the second,
    0.5 a model whose every weight is the midpoint, played by the core."""
    other = tmp_path / "lopsided.nrv"
    _with_lopsided_bands(other)
    audio = (0.3 * np.random.default_rng(4).standard_normal(8 * 512)).astype(np.float32)
    played = {}
    for weight in (0.0, 0.5, 1.0):
        out = tmp_path / f"blend{weight}.nrv"
        code, stdout, err = run(capsys, "blend", DEFAULT_MODEL, other, "--weight", weight,
                                "-o", out)
        assert code == 0, err
        assert stdout.startswith(f"wrote {out}: {1 - weight:g} x {DEFAULT_MODEL} + {weight:g} x")
        assert "without a prior" in stdout   # the default model's prior fits its own latents
        assert "prior" not in read_description(out)
        provenance = read_description(out)["provenance"]
        assert provenance["first"]["file"] == DEFAULT_MODEL.name
        assert provenance["second"]["file"] == other.name and provenance["weight"] == weight
        # both fine-tunes of one run: the blend passes its recipe on to a run --init from it
        assert provenance["recipe"] == read_description(DEFAULT_MODEL)["provenance"]["recipe"]
        played[weight] = neurorave.Engine(out).process(audio)
    ends = [neurorave.Engine(path).process(audio) for path in (DEFAULT_MODEL, other)]
    np.testing.assert_array_equal(played[0.0], ends[0])
    np.testing.assert_array_equal(played[1.0], ends[1])
    assert np.abs(ends[0] - ends[1]).max() > 1e-3, "the two ends play alike: nothing tested"
    first = load_nrv(DEFAULT_MODEL).state_dict()
    middle, second = load_nrv(tmp_path / "blend0.5.nrv").state_dict(), load_nrv(other).state_dict()
    for name, value in middle.items():
        torch.testing.assert_close(value, (first[name] + second[name]) / 2, rtol=0, atol=1e-6)


def test_a_blend_of_unrelated_models_is_refused(tmp_path, capsys):
    torch.manual_seed(0)
    tiny, ranged, out = tmp_path / "tiny.nrv", tmp_path / "ranged.nrv", tmp_path / "out.nrv"
    save_nrv(NeuroRave(get_config("tiny")).eval(), tiny)
    entries = read_description(DEFAULT_MODEL)["descriptors"]
    wider = [entries[0]["range"][0], entries[0]["range"][1] + 6]
    save_nrv(load_nrv(DEFAULT_MODEL), ranged, [{**entries[0], "range": wider}]
             + entries[1:])
    line = error_of(capsys, "blend", DEFAULT_MODEL, tiny, "-o", out)
    assert line.startswith(f"neurorave blend: {tiny}: its architecture differs from "
                           f"{DEFAULT_MODEL}'s (")
    assert line.endswith("): blend two fine-tunes of one model")
    line = error_of(capsys, "blend", DEFAULT_MODEL, ranged, "-o", out)
    assert line == (f"neurorave blend: {ranged}: its descriptors or their ranges differ from "
                    f"{DEFAULT_MODEL}'s: blend two models trained on one data set")
    line = error_of(capsys, "blend", DEFAULT_MODEL, DEFAULT_MODEL, "--weight", 1.5, "-o", out)
    assert line == (f"neurorave blend: the weight of {DEFAULT_MODEL} must lie in [0, 1], "
                    "got 1.5")
    assert tree(tmp_path) == ["ranged.nrv", "tiny.nrv"]


def test_a_reader_gone_before_the_output_gets_no_error():
    """`neurorave info | true`: the reader exits before reading, the command stops quietly
    (status 1, nothing on stderr) rather than printing 'Broken pipe' or a traceback."""
    done = subprocess.run(["bash", "-c", f"'{sys.executable}' -m neurorave.cli info | true; "
                           "echo ${PIPESTATUS[0]} >&2"],
                          capture_output=True, text=True, timeout=120)
    assert done.stderr.strip() in ("0", "1"), done.stderr[-2000:]
