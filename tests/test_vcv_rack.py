"""The VCV Rack module in a real Rack, headless, at real-time pace.

Rack is built from ../shared/rack (bash ../shared/rack/build.sh build/rack, cached), the
NeuroRave plugin and a test-only plugin (tests/rack_testkit: a file player and a recorder)
against that SDK, and patches run with `Rack -h`: no window and no audio device, so Rack's
fallback thread steps the engine in bursts of sample_rate / 60 frames at real-time pace,
as an audio driver steps it once per device buffer. Where ../shared/rack is missing or
does not build, these tests skip and say why.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import load_mono, render_gm_notes
from neurorave import _core

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT.parent / "shared" / "rack"
BUILD = ROOT / "build" / "rack"
DEFAULT_MODEL = ROOT / "python" / "neurorave" / "models" / "default.nrv"
DEMO = ROOT / "vcv_plugin" / "examples" / "neurorave-demo.vcv"
RATE = 44100  # Rack's engine rate with no audio device, and the default model's
VOLTS = 5.0   # Rack audio: +-5 V for +-1
BLOCK = 32    # the module gathers this many samples per voice call (NeuroRave.cpp)


@pytest.fixture(scope="session")
def rack_dir() -> Path:
    if not (KIT / "build.sh").is_file():
        pytest.skip(f"no VCV Rack kit at {KIT} (../shared/rack): the real-Rack tests need it")
    result = subprocess.run(["bash", str(KIT / "build.sh"), str(BUILD)], cwd=ROOT,
                            capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-6:])
        pytest.skip(f"{KIT}/build.sh did not build Rack (is the kit complete?):\n{tail}")
    return BUILD / "Rack"


def _make(folder: Path, rack: Path) -> None:
    result = subprocess.run(["make", "-C", str(folder), f"RACK_DIR={rack}", "-j2"],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="session")
def user_dir(rack_dir, tmp_path_factory) -> Path:
    """A Rack user folder with NeuroRave, Fundamental and the test kit installed."""
    _make(ROOT / "vcv_plugin", rack_dir)
    _make(ROOT / "tests" / "rack_testkit", rack_dir)
    user = tmp_path_factory.mktemp("rack_user")
    plugins = user / "plugins-lin-x64"
    for slug, folder, files in [
            ("NeuroRave", ROOT / "vcv_plugin", ["plugin.json", "plugin.so", "res"]),
            ("Fundamental", BUILD / "Fundamental", ["plugin.json", "plugin.so", "res"]),
            ("NeuroRaveTestkit", ROOT / "tests" / "rack_testkit", ["plugin.json", "plugin.so"])]:
        for name in files:
            source, target = folder / name, plugins / slug / name
            target.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    assert (plugins / "NeuroRave" / "res" / "default.nrv").is_file(), \
        "the plugin package must carry the default model"
    return user


def _run(rack: Path, user: Path, patch: dict, seconds: float) -> tuple[str, float]:
    """Runs `patch` headless for about `seconds` of real time; returns Rack's log and the
    CPU seconds Rack used."""
    path = user / "patch.vcv"
    path.write_text(json.dumps(patch))
    log = user / "log.txt"
    log.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen([str(rack / "Rack"), "-h", "-s", str(rack), "-u", str(user),
                                str(path)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={"LD_LIBRARY_PATH": str(rack)})
    time.sleep(seconds)  # Rack plays until a line arrives on stdin
    process.communicate(b"\n", timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert process.returncode == 0, log.read_text() if log.exists() else "no log"
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return log.read_text(), cpu


def _module(id_: int, plugin: str, model: str, data: dict | None = None,
            params: list[tuple[int, float]] = ()) -> dict:
    module = {"id": id_, "plugin": plugin, "model": model, "version": "2.0.0",
              "params": [{"id": i, "value": v} for i, v in params], "pos": [id_ * 30, 0]}
    if data is not None:
        module["data"] = data
    return module


def _cable(id_: int, out_module: int, out_id: int, in_module: int, in_id: int) -> dict:
    return {"id": id_, "outputModuleId": out_module, "outputId": out_id,
            "inputModuleId": in_module, "inputId": in_id, "color": "#ffffff"}


def _recording(path: Path) -> np.ndarray:
    return np.fromfile(path, np.float32).reshape(-1, 6) / VOLTS


def _silent_share(audio: np.ndarray, block: int = 64) -> float:
    blocks = audio[: len(audio) // block * block].reshape(-1, block)
    return float(np.mean(np.all(blocks == 0.0, axis=1)))


def _display(log: str) -> list[str]:
    return re.findall(r"NeuroRave display: (.*)", log)


def test_demo_patch_plays_in_real_rack(rack_dir, user_dir):
    """The demo patch as committed (no model chosen: the plugin's default plays), with a
    recorder at the NeuroRave output jack."""
    patch = json.loads(DEMO.read_text())
    neurorave = next(m for m in patch["modules"] if m["plugin"] == "NeuroRave")
    recording = user_dir / "demo.f32"
    patch["modules"].append(_module(90, "NeuroRaveTestkit", "Recorder", {"path": str(recording)}))
    patch["cables"].append(_cable(90, neurorave["id"], 0, 90, 0))
    log, cpu = _run(rack_dir, user_dir, patch, 4.0)
    out = _recording(recording)[:, 0]
    assert len(out) > 2 * RATE, log
    # Rack unplugs cables as it quits: the last frames recorded are not the patch's.
    out = out[: -RATE // 4]
    assert np.isfinite(out).all()
    after_first_second = out[RATE:]
    silent = _silent_share(after_first_second)
    lines = _display(log)
    print(f"Rack demo patch (generate): {len(out) / RATE:.2f} s recorded, "
          f"{100 * silent:.3f}% of 64-sample blocks silent after 1 s, peak "
          f"{np.abs(out).max():.3f}, Rack CPU {cpu:.2f} s; display: {lines}")
    assert np.abs(after_first_second).max() > 1e-3
    assert silent < 0.001
    assert lines and "default" in lines[-1] and "error" not in lines[-1], log


def _player_output(x: np.ndarray, controls: dict[int, float]) -> tuple[np.ndarray, int]:
    player = _core.Player(str(DEFAULT_MODEL))
    for index, value in controls.items():
        player.set_control(index, value)
    return player.process(x), player.latency


def _match(recorded: np.ndarray, x: np.ndarray, latency: int, controls: dict[int, float],
           start: int, end: int) -> float:
    """How far `recorded` (what the recorder saw of a module's output) is, over start:end,
    from the core Player fed the module's input from the block its voice started, at
    `latency` samples (the module's reported latency) plus one (the cable into the
    recorder). The module plays exact zeros until its voice starts, and the voice its
    primed silence; so the first sample that is not zero tells the block it started at."""
    silence, model_latency = _player_output(np.zeros(4 * RATE, np.float32), controls)
    sounding = int(np.argmax(silence != 0.0))
    assert silence[sounding] != 0.0, "the model is silent on silence: no start to find"
    cable = 1
    first = int(np.argmax(recorded != 0.0))
    voice_start = first - cable - (latency - model_latency) - sounding
    assert voice_start >= 0 and voice_start < start - RATE // 2, (first, voice_start)
    y, _ = _player_output(x[voice_start:], controls)
    shift = voice_start + (latency - model_latency) + cable
    return float(np.abs(recorded[start:end] - y[start - shift:end - shift]).max())


@pytest.fixture(scope="module")
def note(tmp_path_factory) -> np.ndarray:
    folder = tmp_path_factory.mktemp("rack_notes")
    return load_mono(render_gm_notes(folder, RATE), RATE)[: RATE].astype(np.float32)


def test_transfer_knob_and_bad_path_in_real_rack(rack_dir, user_dir, note):
    """Four modules in transfer mode hear a real note: one with the knobs at their centre,
    one with the first knob at 80 %, one whose patch names a missing model, one told to run
    its model on a worker thread. Each equals the core Player at the latency its display
    reports; the missing model is on the display and the default model plays on; the
    worker keeps up with Rack's bursts (nothing late: nothing differs)."""
    info = _core.Player(str(DEFAULT_MODEL)).info
    d0 = info["descriptors"][0]
    start = int(1.5 * RATE)  # the note starts once every module's voice plays
    wav = user_dir / "note.f32"
    note.tofile(wav)
    recording = user_dir / "transfer.f32"
    missing = user_dir / "missing.nrv"
    transfer = [(6 + i, 0.0) for i in range(6)] + [(12, 0.0)]  # no CV, switch on transfer
    patch = {"version": "2.4.1", "modules": [
        _module(1, "NeuroRaveTestkit", "FilePlayer", {"path": str(wav), "start": start}),
        _module(2, "NeuroRave", "NeuroRave", {"unipolarCv": False}, transfer),
        _module(3, "NeuroRave", "NeuroRave", {"unipolarCv": False}, transfer + [(0, 0.8)]),
        _module(4, "NeuroRave", "NeuroRave", {"model": str(missing), "unipolarCv": False},
                transfer),
        _module(5, "NeuroRaveTestkit", "Recorder", {"path": str(recording)}),
        _module(6, "NeuroRave", "NeuroRave", {"unipolarCv": False, "inference": "worker"},
                transfer)],
        "cables": [_cable(1, 1, 0, 2, 6), _cable(2, 1, 0, 3, 6), _cable(3, 1, 0, 4, 6),
                   _cable(4, 1, 0, 5, 0), _cable(5, 2, 0, 5, 1), _cable(6, 3, 0, 5, 2),
                   _cable(7, 4, 0, 5, 3), _cable(8, 1, 0, 6, 6), _cable(9, 6, 0, 5, 4)]}
    log, _ = _run(rack_dir, user_dir, patch, (start + len(note)) / RATE + 1.0)
    rec = _recording(recording)
    # Rack unplugs cables as it quits: the last frames recorded are not the patch's.
    end = start + len(note) + RATE // 4
    assert len(rec) > end + RATE // 4, log
    lines = _display(log)
    def latencies(playback: str) -> set[int]:
        return {int(m) for m in re.findall(r"latency (\d+) smp, [\d.]+ ms, " + playback,
                                           " | ".join(lines))}
    assert len(latencies("synchronous")) == 1 and len(latencies("threaded")) == 1, lines
    latency, worker_latency = latencies("synchronous").pop(), latencies("threaded").pop()
    assert worker_latency > latency + RATE // 60  # a budget beyond Rack's burst
    x = rec[:, 0]  # what the modules heard (the recorder reads the same cable)
    # A cable delays by one frame.
    np.testing.assert_allclose(x[start + 1: start + 1001], note[:1000], atol=1e-6)
    assert np.abs(x[:start]).max() == 0.0
    low, high = (np.float32(v) for v in d0["range"])
    # neurorave::physical_value, in float as the module computes it
    centre = {0: float(low + np.float32(0.5) * (high - low))}
    turned = {0: float(low + np.float32(0.8) * (high - low))}
    assert _match(rec[:, 1], x, latency, centre, start, end) < 1e-5
    # (c) the knob: the Player with the same physical value, and a real change.
    assert _match(rec[:, 2], x, latency, turned, start, end) < 1e-5
    assert np.abs(rec[start:end, 2] - rec[start:end, 1]).max() > 1e-3
    # (d) the bad path: on the display (and Rack's log), and the default model plays on.
    errors = [line for line in lines if f"error: {missing}" in line]
    assert errors and errors[-1].startswith("default | latency"), lines
    assert _match(rec[:, 3], x, latency, centre, start, end) < 1e-5
    # The worker thread, ahead of Rack's bursts by its budget.
    worker = rec[:, 4]
    assert _match(worker, x, worker_latency, centre, start, end) < 1e-5
    silent = _silent_share(worker[start:end])
    print(f"Rack transfer: reported latency {latency} samples synchronous, {worker_latency} "
          f"on a worker ({100 * silent:.2f}% of 64-sample blocks silent); display: "
          f"{errors[-1]}")
    assert silent == 0.0
