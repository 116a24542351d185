"""The embedded module program (cpp/apps/neurorave-module), native and under qemu-aarch64.

`--offline` runs the program's own processing loop on real audio (FluidR3_GM notes), the
controls moving as a script says. It is held to the core Player driven by hand (the
mapping knob + attenuverted CV -> descriptor value written out here independently), the
aarch64 build under qemu to the native one, and a bad map, script, model or audio file
must stop it with the file and the problem named. The live ALSA loop runs on ALSA's
`null` device.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile
from audio_fixtures import load_mono, render_gm_notes
from neurorave import _core

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "python" / "neurorave" / "models" / "default.nrv"
EXAMPLES = ROOT / "cpp" / "apps" / "neurorave-module" / "examples"
RATE = 44100
BLOCK = 256
APP = Path("cpp") / "apps" / "neurorave-module" / "neurorave-module"
# The build folders `scripts/run.sh test` configures (same options), so that after its
# ctest steps nothing is rebuilt here.
NATIVE_BUILD = ROOT / "build" / "ctest"
ARM_BUILD = ROOT / "build" / "aarch64"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(ROOT / ".venv" / "bin"))
    assert found, f"{name} not found (bash scripts/run.sh setup installs it)"
    return found


def _build(folder: Path, *extra: str) -> Path:
    subprocess.run([_tool("cmake"), "-S", str(ROOT), "-B", str(folder), "-G", "Ninja",
                    f"-DCMAKE_MAKE_PROGRAM={_tool('ninja')}", "-DNEURORAVE_TESTS=ON",
                    "-DNEURORAVE_PYTHON=OFF", "-DCMAKE_BUILD_TYPE=Release", *extra],
                   check=True, capture_output=True)
    subprocess.run([_tool("cmake"), "--build", str(folder), "--target", "neurorave-module"],
                   check=True, capture_output=True)
    built = folder / APP
    assert built.is_file(), f"{built} was not built"
    return built


@pytest.fixture(scope="module")
def native_app() -> Path:
    return _build(NATIVE_BUILD)


@pytest.fixture(scope="module")
def arm_app() -> list[str]:
    """The aarch64 build, as a command run by qemu-aarch64."""
    built = _build(ARM_BUILD,
                   f"-DCMAKE_TOOLCHAIN_FILE={ROOT / 'cmake' / 'aarch64-linux-gnu.cmake'}")
    # As ctest runs it (cmake/cross-common.cmake): the cross toolchain's libc with its own
    # loader, then the arm64 libasound/libsndfile from Debian multiarch.
    cross = "/usr/aarch64-linux-gnu"
    return [_tool("qemu-aarch64"), "-L", cross,
            "-E", f"LD_LIBRARY_PATH={cross}/lib:/usr/lib/aarch64-linux-gnu", str(built)]


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> np.ndarray:
    """Two seconds of real instruments at the model's rate (piano, then violin and flute)."""
    folder = tmp_path_factory.mktemp("module_audio")
    audio = load_mono(render_gm_notes(folder, RATE), RATE)[: 2 * RATE]
    return (audio / np.abs(audio).max() * 0.5).astype(np.float32)


@pytest.fixture(scope="module")
def ranges() -> dict[str, tuple[float, float]]:
    return {d["name"]: d["range"] for d in _core.Player(str(MODEL)).info["descriptors"]}


def _write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=1))
    return path


def _render(app: list[str] | Path, tmp: Path, audio: np.ndarray, control_map: dict,
            script: dict, name: str = "out") -> np.ndarray:
    wav = tmp / f"{name}_in.wav"
    soundfile.write(wav, audio, RATE, subtype="FLOAT")
    command = [*([str(app)] if isinstance(app, Path) else app), "--offline", str(wav),
               "--controls", str(_write_json(tmp / f"{name}_script.json", script)),
               "--map", str(_write_json(tmp / f"{name}_map.json", control_map)),
               "--model", str(MODEL), "--out", str(tmp / f"{name}.wav")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out, rate = soundfile.read(tmp / f"{name}.wav", dtype="float32")
    assert rate == RATE and out.shape == audio.shape
    return out


def _ramp(keys: list[tuple[float, float]], t: float) -> float:
    return float(np.interp(t, [k[0] for k in keys], [k[1] for k in keys]))


# A panel: rms on board knob 0, centroid at knob 0.3 with CV on channel 1 at half
# attenuverter, bandwidth fixed at 0.8; the follow gate on channel 2 (ES-8 scale: 10 V
# per unit sample).
MAP = {
    "audio": {"period": BLOCK, "input_channels": 4, "output_channels": 2, "audio_out": [1]},
    "descriptors": {
        "rms": {"knob": {"hardware": 0}},
        "centroid": {"knob": 0.3, "cv": {"channel": 1, "scale": 10.0}, "attenuverter": 0.5},
        "bandwidth": {"knob": 0.8},
    },
    "gates": {"follow": {"channel": 2}},
}
KNOB = [(0.0, 0.2), (1.0, 0.9)]
CV = [(0.0, -5.0), (1.5, 5.0)]
SCRIPT = {"block": BLOCK, "knobs": {"0": KNOB}, "cv": {"1": CV}}


def _positions(t: float) -> dict[str, float]:
    """Where the panel of MAP puts each descriptor at time t, as ModuleVoice should."""
    centroid = 0.3 + 0.5 * float(np.clip(_ramp(CV, t), -5.0, 5.0)) / 10.0
    return {"rms": _ramp(KNOB, t), "centroid": float(np.clip(centroid, 0.0, 1.0)),
            "bandwidth": 0.8}


def _player_render(audio: np.ndarray, ranges: dict[str, tuple[float, float]],
                   follow_from: int | None = None,
                   positions: Callable[[float], dict[str, float]] = _positions) -> np.ndarray:
    """The core Player driven block by block as the module should drive it."""
    player = _core.Player(str(MODEL))
    names = [d["name"] for d in player.info["descriptors"]]
    out = []
    for start in range(0, len(audio), BLOCK):
        for name, position in positions(start / RATE).items():
            low, high = ranges[name]
            player.set_control(names.index(name), low + position * (high - low))
        if follow_from is not None and start <= follow_from < start + BLOCK:
            for d in range(len(names)):
                player.set_follow(d, True)
        out.append(player.process(audio[start:start + BLOCK]))
    return np.concatenate(out)


def test_offline_render_is_the_player_driven_by_the_panel(native_app, notes, ranges, tmp_path):
    """Knob keyframes, a CV ramp and fixed knobs reach the Player as their descriptor values."""
    out = _render(native_app, tmp_path, notes, MAP, SCRIPT)
    expected = _player_render(notes, ranges)
    assert np.sqrt(np.mean(expected ** 2)) > 1e-3  # it sounds
    np.testing.assert_allclose(out, expected, atol=1e-5)
    still = _player_render(notes, ranges, positions=lambda t: _positions(0.0))
    assert np.abs(out - still).max() > 1e-3  # and the moving controls are heard


def test_follow_gate_switches_to_attribute_transfer(native_app, notes, ranges, tmp_path):
    gate_at = int(0.6 * RATE)
    script = {**SCRIPT, "gates": {"2": [[gate_at / RATE, 0.01]]}}
    out = _render(native_app, tmp_path, notes, MAP, script)
    np.testing.assert_allclose(out, _player_render(notes, ranges, follow_from=gate_at),
                               atol=1e-5)
    assert np.abs(out - _player_render(notes, ranges)).max() > 1e-3


def test_threaded_render_is_one_block_later(native_app, notes, ranges, tmp_path):
    out = _render(native_app, tmp_path, notes, {**MAP, "threaded_block": BLOCK}, SCRIPT)
    expected = _player_render(notes, ranges)
    assert np.all(out[:BLOCK] == 0.0)
    np.testing.assert_allclose(out[BLOCK:], expected[:-BLOCK], atol=1e-5)


def test_scripted_reload_crossfades_without_a_hole(native_app, notes, ranges, tmp_path):
    """A model loaded while playing (the live program's SIGHUP; here the script's
    `loads`): the old model plays on until the new one, fed from the next period, has
    played its primed silence, then the core's 5 ms equal-power crossfade (ModelSwap)."""
    at = 0.5
    out = _render(native_app, tmp_path, notes, MAP, {**SCRIPT, "loads": [[at, str(MODEL)]]})
    start = -(-int(at * RATE) // BLOCK) * BLOCK  # the first period at or after `at`
    old = _player_render(notes, ranges)
    fresh = _player_render(notes[start:], ranges,
                           positions=lambda t: _positions(t + start / RATE))
    latency = _core.Player(str(MODEL)).latency
    fade, fade_start = int(0.005 * RATE), start + -(-latency // BLOCK) * BLOCK
    angle = (np.arange(fade) + 0.5) / fade * np.pi / 2
    expected = old.copy()
    expected[fade_start:fade_start + fade] = (
        np.cos(angle) * old[fade_start:fade_start + fade]
        + np.sin(angle) * fresh[fade_start - start:fade_start - start + fade])
    expected[fade_start + fade:] = fresh[fade_start + fade - start:]
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert np.abs(fresh[fade_start - start:] - old[fade_start:]).max() > 1e-3  # a real swap
    blocks = out[latency: latency + (len(out) - latency) // 64 * 64].reshape(-1, 64)
    assert not np.all(blocks == 0.0, axis=1).any()  # no hole


def test_qemu_aarch64_render_equals_native(native_app, arm_app, notes, tmp_path):
    """The committed example map (its worker thread included) and a script with knobs, CV
    and a gate, on 0.75 s of audio."""
    example = json.loads((EXAMPLES / "es8.json").read_text())
    assert example["threaded_block"] > 0
    script = {"block": BLOCK, "knobs": {"0": [[0.0, 0.3], [0.7, 0.8]], "1": [[0.0, 0.6]]},
              "cv": {"2": [[0.0, 4.0], [0.6, -4.0]], "3": [[0.0, 2.0]]},
              "gates": {"6": [[0.4, 0.005]]}}
    clip = notes[: int(0.75 * RATE)]
    native = _render(native_app, tmp_path, clip, example, script, "native")
    arm = _render(arm_app, tmp_path, clip, example, script, "arm")
    assert np.sqrt(np.mean(native ** 2)) > 1e-3
    difference = float(np.abs(arm - native).max())
    print(f"qemu-aarch64 vs native: max |difference| {difference:.3g}")
    assert difference < 1e-4


def _fails(app: Path, tmp: Path, *args: str) -> str:
    done = subprocess.run([str(app), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, (done.returncode, done.stderr)
    return done.stderr


@pytest.fixture()
def files(tmp_path, notes) -> dict[str, Path]:
    soundfile.write(tmp_path / "in.wav", notes[:4096], RATE, subtype="FLOAT")
    return {"in": tmp_path / "in.wav", "map": _write_json(tmp_path / "map.json", MAP),
            "script": _write_json(tmp_path / "script.json", SCRIPT)}


def _offline(files: dict[str, Path], tmp: Path, **replace: Path) -> list[str]:
    chosen = {**files, **replace}
    return ["--offline", str(chosen["in"]), "--controls", str(chosen["script"]),
            "--map", str(chosen["map"]), "--model", str(replace.get("model", MODEL)),
            "--out", str(tmp / "out.wav")]


@pytest.mark.parametrize(("content", "problem"), [
    ("{\"descriptors\": {", "not valid JSON"),
    (json.dumps({**MAP, "mdoe": "follow"}), "mdoe: unknown key"),
    (json.dumps({**MAP, "descriptors": {"loudness": {"knob": 0.5}}}),
     "the model has no descriptor 'loudness'"),
    (json.dumps({**MAP, "gates": {"phrase": {"channel": 9}}}),
     "gates.phrase: channel 9 does not exist"),
    (json.dumps({**MAP, "convention": "5V"}), "convention: \"5V\" is neither"),
])
def test_bad_control_map_is_named(native_app, files, tmp_path, content, problem):
    bad = tmp_path / "bad_map.json"
    bad.write_text(content)
    stderr = _fails(native_app, tmp_path, *_offline(files, tmp_path, map=bad))
    assert f"{bad}: " in stderr and problem in stderr, stderr
    assert not (tmp_path / "out.wav").exists()


def test_bad_model_file_is_named(native_app, files, tmp_path):
    bad = tmp_path / "broken.nrv"
    bad.write_bytes(MODEL.read_bytes()[:5000])  # cut short
    stderr = _fails(native_app, tmp_path, *_offline(files, tmp_path, model=bad))
    assert f"{bad}: " in stderr, stderr
    missing = tmp_path / "missing.nrv"
    assert f"{missing}: " in _fails(native_app, tmp_path,
                                    *_offline(files, tmp_path, model=missing))


def test_bad_script_and_audio_are_named(native_app, files, tmp_path, notes):
    script = _write_json(tmp_path / "bad_script.json",
                         {"knobs": {"0": [[1.0, 0.5], [0.5, 0.2]]}})
    stderr = _fails(native_app, tmp_path, *_offline(files, tmp_path, script=script))
    assert f"{script}: knobs.0[1]: keyframe times must increase" in stderr, stderr
    off_channel = _write_json(tmp_path / "channel_script.json", {"cv": {"7": [[0.0, 1.0]]}})
    stderr = _fails(native_app, tmp_path, *_offline(files, tmp_path, script=off_channel))
    assert f"{off_channel}: cv.7: not a control input channel" in stderr, stderr
    slow = tmp_path / "16k.wav"
    soundfile.write(slow, notes[:4096], 16000)
    stderr = _fails(native_app, tmp_path, *_offline(files, tmp_path, **{"in": slow}))
    assert f"{slow}: sample rate 16000 Hz, but the model plays at 44100 Hz" in stderr, stderr
    text = tmp_path / "not_audio.wav"
    text.write_text("hello")
    stderr = _fails(native_app, tmp_path, *_offline(files, tmp_path, **{"in": text}))
    assert f"{text}: cannot read audio" in stderr, stderr


def test_usage_errors_exit_2(native_app):
    done = subprocess.run([str(native_app), "--offline", "x.wav"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "--offline needs --controls" in done.stderr


def test_live_loop_runs_on_alsa_null_device(native_app, ranges, tmp_path):
    """Capture and playback through real ALSA (its `null` PCM: silence in, nothing out)."""
    live = {**MAP, "model": str(MODEL), "audio": {**MAP["audio"], "device": "null"}}
    done = subprocess.run([str(native_app), "--map", str(_write_json(tmp_path / "m.json", live)),
                           "--seconds", "0.5", "--knob", "0=0.25"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"null at {RATE} Hz, 4 in" in done.stderr, done.stderr
    low, high = ranges["rms"]
    last = done.stderr.strip().splitlines()[-1]  # the display's last status line
    assert last.startswith("transfer | ") and f"rms {low + 0.25 * (high - low):.4g} dBFS" in last
    missing = _write_json(tmp_path / "nodev.json",
                          {**live, "audio": {**live["audio"], "device": "hw:NoSuchCard"}})
    stderr = _fails(native_app, tmp_path, "--map", str(missing), "--seconds", "0.1")
    assert "ALSA device hw:NoSuchCard: capture" in stderr, stderr
