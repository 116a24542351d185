"""[neurorave~] in the real `pd` binary, headless, on patches written by the test."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import neurorave
import numpy as np
import pytest
import soundfile
from conftest import export_random
from machine_stalls import watch_stalls
from neurorave import _core
from neurorave.cli import main

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "pd"
RATE = 16000  # the tiny model's sample rate: Pd must run at the model's rate


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(ROOT / ".venv" / "bin"))
    assert found, f"{name} not found: the Pd tests need it (bash scripts/run.sh setup)"
    return found


@pytest.fixture(scope="session")
def pd_binary() -> str:
    found = shutil.which("pd")
    assert found, "pd not found: install puredata-core (bash scripts/run.sh setup installs it)"
    return found


@pytest.fixture(scope="session")
def external() -> Path:
    """Builds neurorave~.pd_linux with CMake (incremental) and returns its folder."""
    subprocess.run([_tool("cmake"), "-S", str(ROOT), "-B", str(BUILD), "-G", "Ninja",
                    f"-DCMAKE_MAKE_PROGRAM={_tool('ninja')}", "-DNEURORAVE_PD=ON",
                    "-DNEURORAVE_PYTHON=OFF", "-DCMAKE_BUILD_TYPE=Release"],
                   check=True, capture_output=True)
    subprocess.run([_tool("cmake"), "--build", str(BUILD), "--target", "neurorave_pd"],
                   check=True, capture_output=True)
    built = BUILD / "pd" / "neurorave~.pd_linux"
    assert built.is_file(), f"{built} was not built"
    return built.parent


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return export_random(tmp_path_factory.mktemp("pd_models"), "tiny", causal=True)


def _input(frames: int, compression: int) -> np.ndarray:
    """A swelling, brightening tone (as in test_follow) so every descriptor moves."""
    t = np.arange(frames * compression) / RATE
    envelope = np.linspace(0.05, 0.8, len(t))
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k ** np.linspace(2, 0.5, len(t))
               for k in range(1, 8))
    return (envelope * tone / 3).astype(np.float32)


def _patch(model: Path | str, wav_in: Path, wav_out: Path, samples: int, block: int,
           before: list[str], events: list[tuple[int, str]], flags: str = "",
           signals: tuple[float, ...] = ()) -> str:
    """Plays wav_in through [neurorave~ model] in a [block~ block] subpatch into wav_out.

    `before`: messages to the object before DSP starts; `events`: (sample, message) sent
    while it plays, counted in DSP blocks with [bang~] (so sample-exact whatever the phase
    of Pd's clocks): `sample` must be a multiple of `block`. `flags`: creation flags
    before the model (e.g. "-threaded"); `signals`: constants played by [sig~] into the
    object's inlets 2, 3, ... (with "-inlets"). The patch quits itself.
    """
    quit_ms = 1000.0 * samples / RATE + 200.0
    lines = ["#N canvas 0 0 600 400 12;",
             "#X obj 10 10 table in;",                               # 0
             f"#X obj 10 40 table out {samples};",                   # 1
             "#X obj 10 70 loadbang;",                               # 2
             "#X obj 10 100 t b b b b;",                             # 3
             f"#X msg 10 130 read -resize {wav_in} in;",             # 4
             "#X obj 10 160 soundfiler;",                            # 5
             "#X msg 10 190 " + "".join(f"\\; nr {m} " for m in before) + "\\; pd dsp 1;",  # 6
             "#N canvas 0 0 400 300 dsp 0;",
             "#X obj 10 10 inlet;",                                  # 0
             "#X obj 10 40 tabplay~ in;",                            # 1
             f"#X obj 10 70 neurorave~ {flags} {model};",            # 2
             "#X obj 10 100 tabwrite~ out;",                         # 3
             "#X obj 150 10 r nr;",                                  # 4
             f"#X obj 250 10 block~ {block};",                       # 5
             "#X obj 150 100 print nr-out;",                         # 6
             "#X obj 250 40 bang~;",                                 # 7
             "#X obj 250 70 f;",                                     # 8
             "#X obj 300 70 + 1;",                                   # 9
             "#X obj 250 100 sel " + " ".join(str(s // block) for s, _ in events) + ";",  # 10
             *(f"#X msg 250 {130 + 30 * i} \\; nr {m};" for i, (_, m) in enumerate(events)),
             "#X connect 0 0 1 0;", "#X connect 0 0 3 0;", "#X connect 1 0 2 0;",
             "#X connect 2 0 3 0;", "#X connect 4 0 2 0;", "#X connect 2 1 6 0;",
             "#X connect 7 0 8 0;", "#X connect 8 0 9 0;", "#X connect 9 0 8 1;",
             "#X connect 9 0 10 0;",
             *(f"#X connect 10 {i} {11 + i} 0;" for i in range(len(events))),
             *(f"#X obj {300 + 60 * i} 40 sig~ {v!r};" for i, v in enumerate(signals)),
             *(f"#X connect {11 + len(events) + i} 0 2 {i + 1};" for i in range(len(signals))),
             "#X restore 10 220 pd dsp;",                            # 7
             f"#X obj 10 250 del {quit_ms};",                        # 8
             "#X obj 10 280 t b b;",                                 # 9
             f"#X msg 10 310 write -wave -bytes 4 {wav_out} out;",   # 10
             "#X obj 10 340 soundfiler;",                            # 11
             "#X msg 200 340 \\; pd quit;"]                          # 12
    assert all(s % block == 0 and s > 0 for s, _ in events)
    connections = [(2, 0, 3, 0), (3, 3, 4, 0), (4, 0, 5, 0), (3, 2, 6, 0), (3, 1, 7, 0),
                   (3, 0, 8, 0), (8, 0, 9, 0), (9, 1, 10, 0), (10, 0, 11, 0), (9, 0, 12, 0)]
    lines += [f"#X connect {a} {b} {c} {d};" for a, b, c, d in connections]
    return "\n".join(lines) + "\n"


def _run_pd(pd_binary: str, external: Path, args: list[str], realtime: bool = False) -> str:
    """`realtime`: Pd's scheduler keeps to the clock (no -batch), as in a live patch, so
    that work on other threads (loading a model) takes its real share of the audio."""
    batch = [] if realtime else ["-batch"]
    result = subprocess.run([pd_binary, "-nogui", "-nosound", *batch, "-noprefs", "-stderr",
                             "-r", str(RATE), "-path", str(external), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"pd exited with {result.returncode}:\n{result.stderr}"
    return result.stderr


def _play(pd_binary, external, tmp_path, model, audio, block=64, before=(), events=(),
          flags="", signals=(), realtime=False):
    wav_in, wav_out, patch = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "test.pd"
    soundfile.write(wav_in, audio, RATE, subtype="FLOAT")
    patch.write_text(_patch(model, wav_in, wav_out, len(audio), block, list(before),
                            list(events), flags, tuple(signals)))
    log = _run_pd(pd_binary, external, ["-open", str(patch)], realtime)
    assert wav_out.is_file(), f"the patch wrote no output:\n{log}"
    out, rate = soundfile.read(wav_out, dtype="float32")
    assert rate == RATE and len(out) == len(audio)
    return out, log


def _errors(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if "error" in line.lower() or "couldn't create" in line]


@pytest.mark.parametrize("block", [64, 1024])
def test_output_equals_the_python_engine(pd_binary, external, tmp_path, tiny, block):
    engine = neurorave.Engine(tiny.path, smoothing_ms=10.0)  # the external's default
    audio = _input(400, engine.compression)
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio, block,
                     before=["rms -12"])
    assert not _errors(log), log
    reference = engine.process(audio, {"rms": -12.0})
    assert np.abs(reference).max() > 1e-3
    np.testing.assert_allclose(out, reference, atol=1e-5, rtol=0)


def test_descriptor_message_changes_the_output_as_set_controls(pd_binary, external, tmp_path,
                                                               tiny):
    audio = _input(400, 16)
    start = 640  # after 10 of Pd's 64-sample blocks
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio,
                     events=[(start, "centroid 3000 \\; nr follow rms 1")])
    assert not _errors(log), log
    engine = neurorave.Engine(tiny.path, smoothing_ms=10.0)
    first = engine.process(audio[:start])
    engine.set_controls({"centroid": 3000.0})
    engine.follow("rms")
    reference = np.concatenate([first, engine.process(audio[start:])])
    plain = neurorave.Engine(tiny.path, smoothing_ms=10.0).process(audio)
    assert np.abs(reference - plain).max() > 1e-4
    np.testing.assert_allclose(out, reference, atol=1e-5, rtol=0)


def test_nan_bursts_and_absurd_faders_play_as_silence_and_the_fader_top(pd_binary, external,
                                                                        tmp_path, tiny):
    audio = _input(400, 16)
    spoiled, zeroed = audio.copy(), audio.copy()
    broken = np.array([np.nan, np.inf, -np.inf, 1e38, -3e38], dtype=np.float32)
    for start in (100, 2003, 4096):
        spoiled[start:start + 600] = np.resize(broken, 600)
        zeroed[start:start + 600] = 0.0
    out, log = _play(pd_binary, external, tmp_path, tiny.path, spoiled,
                     before=["centroid 1e6", "rms 3e38", "info"])
    assert not _errors(log), log
    assert np.isfinite(out).all()
    assert "nr-out: info nonfinite_resets 0" in log, log
    engine = neurorave.Engine(tiny.path, smoothing_ms=10.0)
    top = {name: high + 0.5 * (high - low) for name in ("centroid", "rms")
           for low, high in [engine.descriptor_range(name)]}
    reference = engine.process(zeroed, top)
    np.testing.assert_allclose(out, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["missing", "truncated", "corrupt"])
def test_bad_load_keeps_the_old_model(pd_binary, external, tmp_path, tiny, kind):
    """In real time, as live: the loader thread reports the file, the old model plays on."""
    bad = tmp_path / f"{kind}.nrv"
    if kind == "truncated":
        bad.write_bytes(tiny.path.read_bytes()[: tiny.path.stat().st_size // 2])
    elif kind == "corrupt":
        bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json" + bytes(range(256)) * 8)
    audio = _input(300, 16)
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio,
                     events=[(640, f"load {bad}")], realtime=True)
    errors = _errors(log)
    assert len(errors) == 1 and f"neurorave~: {bad}:" in errors[0], log
    reference = neurorave.Engine(tiny.path, smoothing_ms=10.0).process(audio)
    np.testing.assert_allclose(out, reference, atol=1e-5, rtol=0)


def _switch_block(out: np.ndarray, before: np.ndarray, block: int) -> int:
    """The first block at which `out` leaves `before`."""
    differs = np.abs(out - before) > 1e-5
    assert differs.any(), "the output never left the first model's"
    return int(np.argmax(differs)) // block


FADE = int(0.005 * RATE)  # neurorave::kSwapFadeSeconds at Pd's rate


def _swapped(old: np.ndarray, fresh: np.ndarray, start: int, latency: int,
             block: int = 64) -> np.ndarray:
    """What neurorave::ModelSwap plays: `old` until the new model (fed from `start`, its
    output `fresh`) has played its primed silence, then an equal-power crossfade of FADE
    samples from the next block boundary on, then `fresh`."""
    fade_start = start + -(-latency // block) * block
    out = old.copy()
    angle = (np.arange(FADE) + 0.5) / FADE * np.pi / 2
    end = min(fade_start + FADE, len(old))
    k = end - fade_start
    out[fade_start:end] = (np.cos(angle[:k]) * old[fade_start:end]
                           + np.sin(angle[:k]) * fresh[fade_start - start:end - start])
    out[end:] = fresh[end - start:]
    return out


def test_load_swaps_models_with_a_crossfade_while_playing(pd_binary, external, tmp_path,
                                                           tiny):
    """In real time, `load` returns at once; the old model plays on until the new one,
    fed from the block after the loader finished, sounds; then a crossfade: no gap."""
    other = export_random(tmp_path, "tiny", causal=False, seed=5)
    audio = _input(1000, 16)  # one second: the load finishes well inside it
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio,
                     events=[(640, f"load {other.path}")], realtime=True)
    assert not _errors(log), log
    first = neurorave.Engine(tiny.path, smoothing_ms=10.0).process(audio)
    latency = neurorave.Engine(other.path).latency
    fade_start = _switch_block(out, first, 64) * 64
    start = fade_start - -(-latency // 64) * 64
    assert 640 <= start < len(audio) - 64 * 10
    fresh = neurorave.Engine(other.path, smoothing_ms=10.0).process(audio[start:])
    np.testing.assert_allclose(out, _swapped(first, fresh, start, latency), atol=1e-5, rtol=0)


def test_offline_load_crossfades_from_the_next_block(pd_binary, external, tmp_path, tiny):
    """`offline 1` (rendering faster than real time): `load` waits for the file, so the
    new model starts exactly at the block after the message, and fades in once it sounds."""
    other = export_random(tmp_path, "tiny", causal=False, seed=5)
    audio = _input(300, 16)
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio, before=["offline 1"],
                     events=[(640, f"load {other.path}")])
    assert not _errors(log), log
    first = neurorave.Engine(tiny.path, smoothing_ms=10.0).process(audio)
    fresh = neurorave.Engine(other.path, smoothing_ms=10.0).process(audio[640:])
    latency = neurorave.Engine(other.path).latency
    expected = _swapped(first, fresh, 640, latency)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=0)
    # Reloading the same file: no hole either (the old model played on through its
    # primed silence).
    same, log = _play(pd_binary, external, tmp_path, tiny.path, audio, before=["offline 1"],
                      events=[(640, f"load {tiny.path}")])
    assert not _errors(log), log
    again = neurorave.Engine(tiny.path, smoothing_ms=10.0).process(audio[640:])
    np.testing.assert_allclose(same, _swapped(first, again, 640, 16), atol=1e-5, rtol=0)


def _silent_blocks(out: np.ndarray, skip: int, block: int = 64) -> float:
    """The share of `block`-sample blocks after `skip` samples that are exact zeros."""
    blocks = out[skip: skip + (len(out) - skip) // block * block].reshape(-1, block)
    return float(np.mean(np.all(blocks == 0.0, axis=1)))


def test_realtime_threaded_plays_ten_seconds_without_underrun(pd_binary, external, tmp_path,
                                                              tiny):
    """Pd's real-time scheduler (no -batch) computes every due block back to back after
    each sleep; -threaded runs ahead by Pd's scheduler advance, so nothing is late. Only a
    stall of the machine itself (machine_stalls.py) may cost audio, at most as long as it."""
    engine = neurorave.Engine(tiny.path, smoothing_ms=10.0)
    audio = _input(10 * RATE // 16, 16)
    end = len(audio) - 64 * 20
    with watch_stalls() as stalls:
        out, log = _play(pd_binary, external, tmp_path, tiny.path, audio, flags="-threaded",
                         events=[(end, "info")], realtime=True)
    assert not _errors(log), log
    assert "nr-out: info playback threaded" in log, log
    latency = int(re.search(r"nr-out: info latency (\d+)", log).group(1))
    budget = int(re.search(r"nr-out: info budget (\d+)", log).group(1))
    assert latency == engine.latency + budget
    underruns = int(re.search(r"nr-out: info underruns (\d+)", log).group(1))
    # Pd's calls are 64-sample blocks from the stream's start: a lost one is a block of zeros
    # on that grid (`latency` is not a multiple of 64, so not on _silent_blocks's).
    calls = len(out) // 64
    lost = np.repeat(np.all(out[:calls * 64].reshape(calls, 64) == 0.0, axis=1), 64)
    kept = ~lost[latency:end]
    print(f"real-time Pd -threaded: budget {budget} samples, latency {latency}, "
          f"{underruns} underruns, {100 * (1 - kept.mean()):.2f}% of the samples silent; "
          f"the machine: {stalls}")
    lost_seconds = underruns * 64 / RATE
    assert lost_seconds <= stalls.stolen_seconds(), (underruns, str(stalls), log)
    # Nothing late means nothing lost, and a call lost to a stall shifts nothing after
    # it: every sample that sounds is the Player's output, `latency` samples later.
    assert np.count_nonzero(~kept) <= underruns * 64
    reference = engine.process(audio)[engine.latency:end - budget]
    np.testing.assert_allclose(out[latency:end][kept], reference[kept], atol=1e-5, rtol=0)


def test_realtime_loads_every_half_second_leave_no_hole(pd_binary, external, tmp_path, tiny):
    """`load` every 0.5 s while playing, alternating two models (and reloading the same
    file): never a block of exact silence, and every swap as smooth as the sound itself."""
    other = export_random(tmp_path, "tiny", causal=True, seed=5)
    audio = _input(6 * RATE // 16, 16)
    half = RATE // 2
    events = [(k * half, f"load {other.path if k % 3 else tiny.path}")
              for k in range(1, 11)]
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio, events=events,
                     realtime=True)
    assert not _errors(log), log
    latency = neurorave.Engine(tiny.path).latency
    silent = _silent_blocks(out, latency)
    print(f"real-time Pd, load every 0.5 s: {100 * silent:.2f}% of 64-sample blocks silent")
    assert silent == 0.0
    own = max(np.abs(np.diff(neurorave.Engine(p, smoothing_ms=10.0).process(audio))).max()
              for p in (tiny.path, other.path))
    steps = np.abs(np.diff(out[latency:]))
    # one float32 rounding apart is the same step: Pd's float chain vs the Engine's
    assert steps.max() <= own * (1 + 1e-6), (steps.max(), own)


def test_info_latency_and_bypass(pd_binary, external, tmp_path, tiny):
    engine = neurorave.Engine(tiny.path)
    audio = _input(20, 16)
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio,
                     before=["info", "latency", "bypass 1"])
    np.testing.assert_array_equal(out, audio)
    assert f"nr-out: info sample_rate {RATE}" in log
    assert f"nr-out: latency {engine.latency}" in log
    for name in engine.descriptors:
        assert f"nr-out: info descriptor {name} " in log


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pd_prior") / "tiny_prior.nrv"
    assert main(["export", "--random", "--config", "tiny", "--prior", "--seed", "3",
                 "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generate_mode_equals_the_core_player(pd_binary, external, tmp_path, tiny_prior,
                                              temperature):
    """`mode generate`, `seed`, `temperature`, every descriptor following the prior."""
    player = _core.Player(str(tiny_prior))
    player.set_smoothing_ms(10.0)  # the external's default
    names = [d["name"] for d in player.info["descriptors"]]
    silence = np.zeros(400 * player.info["compression"], np.float32)
    settings = ["mode generate", "seed 5", f"temperature {temperature}",
                *(f"follow {name} 1" for name in names)]
    out, log = _play(pd_binary, external, tmp_path, tiny_prior, silence, before=settings)
    assert not _errors(log), log
    for index in range(len(names)):
        player.set_follow(index, True)
    assert player.set_generate(True)
    player.set_seed(5)
    player.set_temperature(temperature)
    reference = player.process(silence)
    assert np.abs(reference).max() > 1e-3
    # The synchronous object has the Player's latency: aligned as it comes.
    np.testing.assert_allclose(out, reference, atol=1e-5, rtol=0)
    # A new seed plays another phrase (temperature 0 follows the most likely path).
    if temperature > 0:
        other, _ = _play(pd_binary, external, tmp_path, tiny_prior, silence,
                         before=[s.replace("seed 5", "seed 6") for s in settings])
        assert np.abs(other - out).max() > 1e-4


def test_phrase_and_threaded_generation(pd_binary, external, tmp_path, tiny_prior):
    """`phrase` at an exact block starts a new phrase; -threaded generates the same, its
    latency budget later."""
    player = _core.Player(str(tiny_prior))
    player.set_smoothing_ms(10.0)
    names = [d["name"] for d in player.info["descriptors"]]
    silence = np.zeros(300 * player.info["compression"], np.float32)
    settings = ["mode generate", "seed 9", *(f"follow {name} 1" for name in names)]
    start = 1280
    out, log = _play(pd_binary, external, tmp_path, tiny_prior, silence, before=settings,
                     events=[(start, "phrase")])
    assert not _errors(log), log
    for index in range(len(names)):
        player.set_follow(index, True)
    assert player.set_generate(True)
    player.set_seed(9)
    first = player.process(silence[:start])
    going_on = player.process(silence[start:])  # no phrase: the same one goes on
    player.reset()  # (restarts the prior too; the seed replays the same phrase)
    player.set_seed(9)
    assert np.array_equal(player.process(silence[:start]), first)
    player.new_phrase()
    reference = np.concatenate([first, player.process(silence[start:])])
    assert np.abs(reference[start:] - going_on).max() > 1e-3
    np.testing.assert_allclose(out, reference, atol=1e-5, rtol=0)
    threaded, log = _play(pd_binary, external, tmp_path, tiny_prior, silence,
                          before=["offline 1", *settings], flags="-threaded",
                          events=[(start, "phrase"), (start + 64, "info")])
    assert not _errors(log), log
    extra = int(re.search(r"nr-out: info budget (\d+)", log).group(1))
    np.testing.assert_allclose(threaded[extra:], reference[:-extra], atol=1e-5, rtol=0)


def test_generate_without_a_prior_is_an_error_naming_the_file(pd_binary, external, tmp_path,
                                                              tiny):
    audio = _input(40, 16)
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio,
                     before=["mode generate"])
    errors = _errors(log)
    assert len(errors) == 1 and "has no prior" in errors[0] and str(tiny.path) in errors[0], log
    # It keeps transferring.
    reference = neurorave.Engine(tiny.path, smoothing_ms=10.0).process(audio)
    np.testing.assert_allclose(out, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("block", [64, 1024])
def test_threaded_offline_output_equals_the_python_engine_a_block_later(
        pd_binary, external, tmp_path, tiny, block):
    engine = neurorave.Engine(tiny.path, smoothing_ms=10.0)
    audio = _input(400, engine.compression)
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio, block,
                     before=["offline 1", "rms -12"], flags="-threaded",
                     events=[(block, "latency"), (2 * block, "info")])
    assert not _errors(log), log
    reported = int(re.search(r"nr-out: latency (\d+)", log).group(1))
    budget = int(re.search(r"nr-out: info budget (\d+)", log).group(1))
    assert reported == engine.latency + budget and budget >= block
    assert "nr-out: info threaded 1" in log and "nr-out: info underruns 0" in log
    reference = engine.process(audio, {"rms": -12.0})
    assert np.abs(reference).max() > 1e-3
    extra = reported - engine.latency
    np.testing.assert_array_equal(out[:extra], 0)
    np.testing.assert_allclose(out[extra:], reference[:-extra], atol=1e-5, rtol=0)


def test_descriptor_inlets_with_constant_signals_equal_the_messages(pd_binary, external,
                                                                   tmp_path, tiny):
    engine = neurorave.Engine(tiny.path, smoothing_ms=10.0)
    controls = {**engine.centre_controls(), "rms": -12.0}
    controls = {name: float(np.float32(value)) for name, value in controls.items()}
    audio = _input(300, engine.compression)
    out, log = _play(pd_binary, external, tmp_path, tiny.path, audio, flags="-inlets",
                     signals=[controls[name] for name in engine.descriptors])
    assert not _errors(log), log
    by_message, log = _play(pd_binary, external, tmp_path, tiny.path, audio,
                            before=[f"{name} {value!r}" for name, value in controls.items()])
    assert not _errors(log), log
    reference = engine.process(audio, controls)
    assert np.abs(reference - neurorave.Engine(tiny.path, smoothing_ms=10.0).process(audio)
                  ).max() > 1e-4
    np.testing.assert_allclose(by_message, reference, atol=1e-5, rtol=0)
    np.testing.assert_allclose(out, by_message, atol=1e-5, rtol=0)


def test_help_patch_opens_without_errors(pd_binary, external):
    log = _run_pd(pd_binary, external, ["-open", str(ROOT / "pd_external" / "neurorave~-help.pd"),
                                        "-send", "pd quit"])
    assert not _errors(log), log


@pytest.fixture(scope="module")
def package(external, tmp_path_factory) -> Path:
    """The Pd package folder as scripts/pd_package.sh makes it."""
    out = tmp_path_factory.mktemp("pd_package")
    subprocess.run(["bash", str(ROOT / "scripts" / "pd_package.sh"), str(out)], check=True,
                   capture_output=True)
    return out / "neurorave"


def test_the_package_holds_what_deken_expects(package):
    names = sorted(p.name for p in package.iterdir())
    assert names == ["LICENSE.txt", "README.md", "default.nrv", "neurorave~-help.pd",
                     "neurorave~.pd_linux"]
    assert list(package.parent.glob("neurorave[[]v*[]](Linux-*-32).dek"))


def test_the_package_help_opens_and_a_bare_object_plays_the_default_model(pd_binary, package,
                                                                            tmp_path):
    """From a clean -path holding only the package: the help patch opens without an error,
    and [neurorave~] with no argument plays the packaged default model as the core does."""
    log = _run_pd(pd_binary, package, ["-open", str(package / "neurorave~-help.pd"),
                                       "-send", "pd quit"])
    assert not _errors(log), log
    engine = neurorave.Engine(package / "default.nrv", smoothing_ms=10.0)
    rate = engine.sample_rate
    audio = (0.3 * np.sin(2 * np.pi * 220 * np.arange(16 * 1024) / rate)).astype(np.float32)
    wav_in, wav_out, patch = tmp_path / "in.wav", tmp_path / "out.wav", tmp_path / "bare.pd"
    soundfile.write(wav_in, audio, rate, subtype="FLOAT")
    patch.write_text(_patch("", wav_in, wav_out, len(audio), 64, [], []))  # no model named
    result = subprocess.run([pd_binary, "-nogui", "-nosound", "-batch", "-noprefs", "-stderr",
                             "-r", str(rate), "-path", str(package), "-open", str(patch)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not _errors(result.stderr), result.stderr
    out, _ = soundfile.read(wav_out, dtype="float32")
    reference = engine.process(audio)
    assert np.abs(reference).max() > 1e-3
    np.testing.assert_allclose(out, reference, atol=1e-5, rtol=0)
