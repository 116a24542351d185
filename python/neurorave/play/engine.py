"""`neurorave.Engine`: a model file played by the C++ core, from Python.

Two C++ classes lie under it, and the names differ across the border on purpose:

- `_core.Player` is what `neurorave.Engine` plays through (`process`, the faders,
  `follow`, generate mode): the real-time player of the Pd object, the VCV module and
  the Eurorack program, with its block adapter, smoothing and prior.
- `_core.Engine` is the bare streaming network beneath a player, whole frames in and out.
  `neurorave.Engine.encode` and `decode` each keep one of their own, as separate streams.

So `neurorave.Engine` is not `neurorave._core.Engine`: the Python name is the public
one, the C++ names stay what the hosts call them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import _core
from .default_model import resolve_model

ModelError = _core.ModelError
Controls = Mapping[str, float] | np.ndarray | None


class Engine:
    """Plays an `.nrv` model in real-time style, block after block (a `_core.Player`).

    `process` streams audio of any block size through encoder and decoder; its output
    lags the offline model by `latency` samples. `encode` and `decode` are separate
    streams of whole frames with their own history. Descriptor values are physical
    units (dB, Hz, ...), as the model file's `descriptors` list them.
    """

    def __init__(self, path: str | Path | None = None, smoothing_ms: float = 0.0):
        self.path = str(resolve_model(path))
        self._player = _core.Player(self.path)
        self._player.set_smoothing_ms(smoothing_ms)
        self.info: dict = self._player.info
        # The bare networks of `encode` and `decode`, made on first use (module docstring).
        self._encoder: _core.Engine | None = None
        self._decoder: _core.Engine | None = None

    sample_rate = property(lambda self: self.info["sample_rate"])
    compression = property(lambda self: self.info["compression"])
    latent_size = property(lambda self: self.info["latent_size"])
    latency = property(lambda self: self._player.latency)
    # The model file's whole JSON description (docs/model-format.md), as the core read it.
    description = property(lambda self: json.loads(self.info["description"]))
    # Times the output turned non-finite and the streams restarted (0 for a sound model).
    nonfinite_resets = property(lambda self: self._player.nonfinite_resets)
    descriptors = property(lambda self: [d["name"] for d in self.info["descriptors"]])

    def descriptor_range(self, name: str) -> tuple[float, float]:
        return self.info["descriptors"][self._index(name)]["range"]

    def centre_controls(self) -> dict[str, float]:
        """Every descriptor at the middle of its range: the decoder's neutral input."""
        return {name: sum(self.descriptor_range(name)) / 2 for name in self.descriptors}

    def set_controls(self, controls: Mapping[str, float]) -> None:
        for name, value in controls.items():
            self._player.set_control(self._index(name), float(value))

    def follow(self, name: str, on: bool = True, offset: float = 0.0, scale: float = 1.0
               ) -> None:
        """Attribute transfer: `name` takes the live input's value, offset + scale * value.

        The input is analysed frame by frame in step with the model (docs/descriptors.md);
        `on=False` gives the descriptor back to its fader.
        """
        index = self._index(name)
        self._player.set_offset(index, float(offset))
        self._player.set_scale(index, float(scale))
        self._player.set_follow(index, bool(on))

    @property
    def has_prior(self) -> bool:
        return bool(self.info.get("has_prior", False))

    def set_generate(self, on: bool = True, seed: int | None = None,
                     temperature: float | None = None) -> None:
        """Generate mode: the prior plays and `process` ignores its input (the samples only
        keep time). Followed descriptors (`follow`) take the prior's curves, as offset +
        scale * value; the others their faders. Switching restarts the streams."""
        if not self._player.set_generate(bool(on)):
            raise ValueError(_core.no_prior_message(self._player))
        if temperature is not None:
            self._player.set_temperature(float(temperature))
        if seed is not None:
            self._player.set_seed(int(seed))

    def new_phrase(self) -> None:
        """The prior starts a new phrase at the next frame (a gate, on the module)."""
        self._player.new_phrase()

    def generate(self, samples: int, seed: int = 0, temperature: float = 1.0,
                 bend: Mapping[str, float] | None = None) -> np.ndarray:
        """`samples` of a phrase played from `seed`, every descriptor on the prior's curve
        shifted by `bend` (physical units, e.g. {"centroid": 500}). Leaves generate mode."""
        for name in bend or {}:
            self._index(name)  # an unknown name is an error, not ignored
        self.reset()
        for name in self.descriptors:
            self.follow(name, True, offset=(bend or {}).get(name, 0.0))
        self.set_generate(True, seed, temperature)
        try:
            return self.process(np.zeros(samples, np.float32))
        finally:
            self._player.set_generate(False)
            for name in self.descriptors:
                self.follow(name, False)
            self.reset()

    def controls(self) -> dict[str, float]:
        return {name: self._player.control(i) for i, name in enumerate(self.descriptors)}

    def process(self, audio: np.ndarray, controls: Mapping[str, float] | None = None
                ) -> np.ndarray:
        """Any number of samples in, as many out; `controls` apply from this block on."""
        if controls:
            self.set_controls(controls)
        return self._player.process(np.ascontiguousarray(audio, dtype=np.float32).ravel())

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """Whole frames of audio -> z of shape (latent_size, frames)."""
        if self._encoder is None:
            self._encoder = _core.Engine(self.path)
        return self._encoder.encode(np.ascontiguousarray(audio, dtype=np.float32).ravel()).T

    def decode(self, z: np.ndarray, controls: Controls = None) -> np.ndarray:
        """z (latent_size, frames) -> audio; controls: {name: value} or (descriptors, frames)."""
        if self._decoder is None:
            self._decoder = _core.Engine(self.path)
            self._decoder.reset(_core.StreamKind.decode)
        z = np.ascontiguousarray(np.asarray(z, np.float32).T)
        return self._decoder.decode(z, self._control_curves(controls, len(z)))

    def reset(self) -> None:
        self._player.reset()
        if self._encoder is not None:
            self._encoder.reset()
        if self._decoder is not None:
            self._decoder.reset(_core.StreamKind.decode)

    def _index(self, name: str) -> int:
        try:
            return self.descriptors.index(name)
        except ValueError:
            raise KeyError(_core.no_such_descriptor_message(self._player, name)) from None

    def _control_curves(self, controls: Controls, frames: int) -> np.ndarray | None:
        """(frames, descriptors) physical values, centre of range where unset.

        None stays None: the core then plays every descriptor at its centre itself.
        """
        if controls is None:
            return None
        if isinstance(controls, Mapping):
            values = {**self.centre_controls(), **controls}
            for name in controls:
                self._index(name)  # an unknown name is an error, not ignored
            row = np.array([values[name] for name in self.descriptors], np.float32)
            return np.ascontiguousarray(np.broadcast_to(row, (frames, len(row))))
        return np.ascontiguousarray(np.asarray(controls, np.float32).T)
