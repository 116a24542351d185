"""`neurorave demo`: a model, played by the C++ core, with each fader swept in turn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch
from tqdm import tqdm

from .config import get_config
from .engine import Engine
from .model import NeuroRave
from .nrv import save_nrv

BLOCK = 512
SWEEP_SECONDS = 4.0


def test_tone(sample_rate: int, seconds: float) -> np.ndarray:
    """A bright harmonic tone with vibrato and a slow tremolo: something to transform."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    pitch = 220.0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (0.3 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)


def render_sweep(engine: Engine, audio: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Play `audio` while `name` moves linearly across its range; returns (output, curve)."""
    lo, hi = engine.descriptor_range(name)
    engine.reset()
    engine.set_controls(engine.centre_controls())
    blocks = range(0, len(audio), BLOCK)
    curve = np.interp(np.arange(len(blocks)), [0, len(blocks) - 1], [lo, hi])
    out = [engine.process(audio[i:i + BLOCK], {name: value})
           for i, value in zip(blocks, curve, strict=True)]
    return np.concatenate(out)[engine.latency:], np.repeat(curve, BLOCK)[: len(audio)]


def plot_sweep(path: Path, audio: np.ndarray, curve: np.ndarray, sample_rate: int,
               name: str, unit: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.specgram(audio + 1e-9, NFFT=1024, Fs=sample_rate, noverlap=768, cmap="magma")
    top.set_ylabel("frequency (Hz)")
    top.set_title(f"sweep of '{name}'")
    bottom.plot(np.arange(len(curve)) / sample_rate, curve)
    bottom.set_ylabel(f"{name} ({unit})" if unit else name)
    bottom.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run_demo(output: Path, config: str = "small") -> None:
    output.mkdir(parents=True, exist_ok=True)
    model_path = output / "model.nrv"
    torch.manual_seed(0)
    save_nrv(NeuroRave(get_config(config)).eval(), model_path,
             provenance={"source": "random initialisation", "config": config, "seed": 0})
    engine = Engine(model_path)
    print(f"{model_path}: random '{config}' model, latency {engine.latency} samples "
          f"({1000 * engine.latency / engine.sample_rate:.0f} ms)")
    tone = test_tone(engine.sample_rate, SWEEP_SECONDS)
    soundfile.write(output / "input.wav", tone, engine.sample_rate)
    for spec in tqdm(engine.info["descriptors"], desc="sweeps", unit="fader"):
        audio, curve = render_sweep(engine, tone, spec["name"])
        soundfile.write(output / f"sweep_{spec['name']}.wav", audio, engine.sample_rate)
        plot_sweep(output / f"sweep_{spec['name']}.png", audio, curve[: len(audio)],
                   engine.sample_rate, spec["name"], spec["unit"])
    print(f"wrote {output}/: input.wav, sweep_<descriptor>.wav and .png for "
          f"{', '.join(engine.descriptors)}")
