"""`neurorave bench MODEL`: real-time factors of the C++ core, ONNX Runtime and TorchScript.

All three play the same weights on one thread, measured in the same run; the core also
plays them converted to half-size (fp16) weights. A host block
smaller than a frame still costs ONNX Runtime and TorchScript one whole frame per call
(they cannot run part of a frame); the core's block adapter does the same.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import _core
from ..format.cost import multiply_adds_per_second
from ..format.nrv import convert_model_file, load_nrv, read_description
from ..format.onnx_torchscript import OnnxStreamer, export_onnx, export_torchscript


@dataclass
class Row:
    block: int
    core: float  # times faster than real time
    core_decode: float  # the decoder alone (latent frames in)
    core_fp16: float  # the same weights stored as fp16 (export --weights fp16)
    onnx: float
    torchscript: float


def _speed(process: Callable[[np.ndarray], object], audio: np.ndarray, step: int,
           seconds: float) -> float:
    """Times faster than real time, best of three passes after a warm-up."""
    for start in range(0, min(len(audio), 4 * step), step):
        process(audio[start:start + step])
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        for start in range(0, len(audio) - step + 1, step):
            process(audio[start:start + step])
        best = min(best, time.perf_counter() - began)
    return seconds / best


def _latent_decoder(model_path: str, frames: int) -> Callable[[np.ndarray], object]:
    """Decodes `frames` latent frames per call, whatever audio chunk it is handed."""
    engine = _core.Engine(model_path)
    engine.reset(_core.StreamKind.decode)
    latents = np.zeros((frames, engine.info["latent_size"]), np.float32)
    return lambda _chunk: engine.decode(latents)


def run_benchmark(model_path: str, seconds: float = 10.0,
                  blocks: tuple[int, ...] = (256, 2048, 8192), core_only: bool = False
                  ) -> list[Row]:
    """The table; `core_only` leaves ONNX Runtime and TorchScript out (NaN in the rows)."""
    torch.set_num_threads(1)
    model_path = str(model_path)  # the CLI resolves a Path; _core.Player takes a str
    description = read_description(model_path)
    rate, compression = description["sample_rate"], description["compression"]
    frames = max(1, int(seconds * rate) // compression)
    audio = (0.1 * np.random.default_rng(0).standard_normal(frames * compression)).astype(
        np.float32)
    duration = len(audio) / rate
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        half_path = str(Path(tmp) / "fp16.nrv")
        convert_model_file(model_path, half_path, "fp16")
        references = None if core_only else _references(model_path, Path(tmp))
        for block in blocks:
            frame_block = max(1, block // compression) * compression
            player, half_player = _core.Player(model_path), _core.Player(half_path)
            decode = _latent_decoder(model_path, frame_block // compression)
            onnx = script = float("nan")
            if references:
                onnx, script = (_speed(play, audio, frame_block, duration)
                                for play in references())
            rows.append(Row(block,
                            _speed(player.process, audio, block, duration),
                            _speed(decode, audio, frame_block, duration),
                            _speed(half_player.process, audio, block, duration),
                            onnx, script))
    _print_table(model_path, description, rows)
    return rows


def _references(model_path: str, tmp: Path) -> Callable[[], tuple[Callable, Callable]]:
    """Makes fresh ONNX Runtime and TorchScript streamers of the model, one thread each."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    model = load_nrv(model_path)
    onnx_path, script_path = tmp / "model.onnx", tmp / "model.ts"
    export_onnx(model, onnx_path)
    export_torchscript(model, script_path)
    scripted = torch.jit.load(str(script_path))

    def fresh() -> tuple[Callable, Callable]:
        streamer = OnnxStreamer(onnx_path, model, session_options=options)
        scripted.reset()

        def play_script(chunk: np.ndarray) -> None:
            with torch.inference_mode():
                scripted.forward(torch.from_numpy(chunk).view(1, 1, -1))

        return streamer.process, play_script

    return fresh


def _print_table(model_path: str, description: dict, rows: list[Row]) -> None:
    macs = multiply_adds_per_second(description)
    peak = _core.peak_multiply_adds_per_second()
    print(f"{model_path}: {description['config']} ")
    print(f"model: {macs / 1e6:.0f} M multiply-adds per second of audio; the kernel's "
          f"measured FMA peak on one core: {peak / 1e9:.1f} G multiply-adds/s")
    print(f"core kernel: {_core.active_kernel()} (this CPU runs: "
          f"{', '.join(_core.runnable_kernels())}; NEURORAVE_KERNEL=NAME picks one)")
    print("xRT: times faster than real time, one thread each")
    if all(np.isnan(r.onnx) for r in rows):  # core only
        print(f"{'block':>6} | {'core xRT':>9} | {'decode xRT':>10} | {'fp16 xRT':>9} | "
              f"{'fp16/core':>9} | {'of peak':>8}")
        for r in rows:
            print(f"{r.block:>6} | {r.core:>9.1f} | {r.core_decode:>10.1f} | "
                  f"{r.core_fp16:>9.1f} | {r.core_fp16 / r.core:>9.2f} | "
                  f"{r.core * macs / peak:>8.1%}")
        return
    print(f"{'block':>6} | {'core xRT':>9} | {'decode xRT':>10} | {'fp16 xRT':>9} | "
          f"{'ONNX xRT':>9} | {'TS xRT':>8} | {'fp16/core':>9} | {'core/ONNX':>9} | "
          f"{'core/TS':>8} | {'of peak':>8}")
    for r in rows:
        print(f"{r.block:>6} | {r.core:>9.1f} | {r.core_decode:>10.1f} | {r.core_fp16:>9.1f} | "
              f"{r.onnx:>9.1f} | {r.torchscript:>8.1f} | {r.core_fp16 / r.core:>9.2f} | "
              f"{r.core / r.onnx:>9.2f} | {r.core / r.torchscript:>8.2f} | "
              f"{r.core * macs / peak:>8.1%}")
