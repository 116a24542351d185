"""Streaming exports of a NeuroRave model for hosts other than the C++ core.

* ONNX: the forward pass (encode then decode) of one block of whole frames, with the
  whole streaming state as explicit inputs (`state_in_k`) and outputs (`state_out_k`),
  so a runtime such as ONNX Runtime plays a stream block after block by feeding each
  call's state outputs back as the next call's state inputs.
* TorchScript: a scripted module in the form nn~ (acids-ircam/nn_tilde) loads, with
  streaming `encode`, `decode` and `forward` methods that keep their state inside the
  module.

Both run the layers' own `stream` code (nn/layers.py), so they play exactly what
`neurorave.nn.model.stream_in_chunks`, `NeuroRave.stream_encode` and
`NeuroRave.stream_decode` play.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ..files import write_atomically
from ..nn.layers import Sequence, dc_block_span, strip_weight_norm
from ..nn.model import NeuroRave

ONNX_OPSET = 17
ONNX_METADATA_KEY = "neurorave"
_TRACE_FRAMES = 3  # frames in the example block the ONNX graph is traced with


def _plain_copy(model: NeuroRave) -> NeuroRave:
    """A CPU copy of `model` in eval mode with its weight norms folded into plain weights.

    The copy is built afresh and loaded from the state dict rather than deep-copied:
    a deep copy shares the class that weight norm injects into each parametrized
    module, and removing the parametrization from the copy would delete the
    `weight` property from that shared class, breaking the original model.
    """
    with torch.random.fork_rng(devices=[]):  # building draws initial weights
        clone = NeuroRave(model.config)
    source_is_plain = not any(parametrize.is_parametrized(m, "weight") for m in model.modules())
    if source_is_plain:  # e.g. a model read back from an .nrv file
        strip_weight_norm(clone)
    clone.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
    clone.eval()
    strip_weight_norm(clone)
    clone.requires_grad_(False)
    return clone


def _forward_initial_state(model: NeuroRave) -> list[Tensor]:
    """The forward-mode initial state: encoder slots, then decoder slots."""
    return model.init_encoder_state() + model.init_decoder_state(after_encoder=True)


# ---- ONNX ------------------------------------------------------------------------------


class _OnnxForward(nn.Module):
    """forward(audio, [controls,] *state) -> (audio_out, *new_state), for tracing."""

    def __init__(self, model: NeuroRave, n_encoder_state: int):
        super().__init__()
        self.model = model
        self.n_encoder_state = n_encoder_state
        self.n_descriptors = len(model.config.descriptors)

    def forward(self, audio: Tensor, *inputs: Tensor) -> tuple:
        if self.n_descriptors:
            controls, state = inputs[0], list(inputs[1:])
        else:
            controls, state = None, list(inputs)
        encoder_state = state[:self.n_encoder_state]
        decoder_state = state[self.n_encoder_state:]
        z = self.model.stream_encode(audio, encoder_state)
        out = self.model.stream_decode(self.model.condition(z, controls), decoder_state)
        return (out, *encoder_state, *decoder_state)


def onnx_initial_state(model: NeuroRave) -> dict[str, np.ndarray]:
    """The state feed of the first call: `state_in_k` -> its initial value (batch 1)."""
    return {f"state_in_{k}": s.numpy().copy()
            for k, s in enumerate(_forward_initial_state(model))}


def _onnx_metadata(model: NeuroRave, initial: dict[str, np.ndarray]) -> dict:
    cfg = model.config
    # Every slot starts at zero except the noise counter; keep what a host needs to
    # rebuild the first feed without the torch model.
    nonzero = {name: value.reshape(-1).tolist() for name, value in initial.items()
               if np.any(value)}
    return {
        "sample_rate": cfg.sample_rate,
        "compression": cfg.compression,
        "latent_size": cfg.latent_size,
        "descriptors": list(cfg.descriptors),
        "causal": cfg.causal,
        "forward_latency_samples": model.latency.forward_samples,
        "initial_state_nonzero": nonzero,
        "max_samples_per_call": _max_samples_per_call(model),
    }


def _max_samples_per_call(model: NeuroRave) -> int | None:
    """The longest call the traced graph plays: the bands' DC blockers' one closed-form
    pass (nn/layers.dc_block_span, in steps of its period); None: any."""
    spans = [dc_block_span(pole) * period * model.config.n_bands
             for pole, period in model.config.band_blockers]
    return min(spans) if spans else None


def export_onnx(model: NeuroRave, path: str | Path, frames_per_call: int | None = None) -> None:
    """Write the streaming forward pass of `model` as an ONNX graph (opset 17).

    Inputs: `audio` (1, 1, T) float32 with T a whole number of frames of
    `compression` samples, `controls` (1, n_descriptors, T / compression) float32
    normalised descriptor values (absent when the model has none), then
    `state_in_0..K`. Outputs: `audio_out` (1, 1, T), then `state_out_0..K`, which
    are the next call's `state_in_0..K`. The first call's state is
    `onnx_initial_state(model)` (also stored in the file's metadata).

    `frames_per_call`: None keeps the time axis dynamic (any whole number of frames
    per call, up to the metadata's `max_samples_per_call` where the bands' DC blocker
    bounds it); a number fixes it to that many frames.
    """
    if frames_per_call is not None and frames_per_call < 1:
        raise ValueError("frames_per_call must be at least 1")
    import onnx  # only needed here

    plain = _plain_copy(model)
    cfg = plain.config
    n_desc = len(cfg.descriptors)
    encoder_state = plain.init_encoder_state()
    state = encoder_state + plain.init_decoder_state(after_encoder=True)
    initial = onnx_initial_state(plain)
    frames = frames_per_call or _TRACE_FRAMES
    audio = torch.zeros(1, 1, frames * cfg.compression)
    controls = [torch.zeros(1, n_desc, frames)] if n_desc else []
    input_names = ["audio"] + (["controls"] if n_desc else [])
    input_names += [f"state_in_{k}" for k in range(len(state))]
    output_names = ["audio_out"] + [f"state_out_{k}" for k in range(len(state))]
    dynamic_axes = None
    if frames_per_call is None:
        dynamic_axes = {"audio": {2: "samples"}, "audio_out": {2: "samples"}}
        if n_desc:
            dynamic_axes["controls"] = {2: "frames"}
    wrapper = _OnnxForward(plain, len(encoder_state)).eval()
    metadata = json.dumps(_onnx_metadata(plain, initial))

    def write(tmp: str) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy exporter is the one that needs no onnxscript; it warns that
            # it is deprecated on every call.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(wrapper, (audio, *controls, *[s.clone() for s in state]), tmp,
                              input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, opset_version=ONNX_OPSET,
                              dynamo=False, do_constant_folding=True)
        graph = onnx.load(tmp)
        entry = graph.metadata_props.add()
        entry.key, entry.value = ONNX_METADATA_KEY, metadata
        onnx.checker.check_model(graph)
        onnx.save(graph, tmp)

    write_atomically(path, write)


def read_onnx_metadata(path: str | Path) -> dict:
    """The NeuroRave entry `export_onnx` stores in the file's metadata."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False)
    for entry in graph.metadata_props:
        if entry.key == ONNX_METADATA_KEY:
            return json.loads(entry.value)
    raise ValueError(f"{path}: no {ONNX_METADATA_KEY!r} metadata; not written by export_onnx")


class OnnxStreamer:
    """Plays an `export_onnx` graph block after block with ONNX Runtime.

    The initial state comes from `model` when given, otherwise from the graph's input
    shapes and the metadata `export_onnx` stores.
    """

    def __init__(self, path: str | Path, model: NeuroRave | None = None,
                 providers: list[str] | None = None, session_options=None):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(
            str(path), session_options, providers=providers or ["CPUExecutionProvider"])
        self.metadata = read_onnx_metadata(path)
        self.compression = int(self.metadata["compression"])
        self.n_descriptors = len(self.metadata["descriptors"])
        self.state_names = [i.name for i in self.session.get_inputs()
                            if i.name.startswith("state_in_")]
        self.output_names = ["audio_out"] + [n.replace("state_in_", "state_out_")
                                             for n in self.state_names]
        self._initial = onnx_initial_state(model) if model is not None else self._from_graph()
        self.reset()

    def _from_graph(self) -> dict[str, np.ndarray]:
        dtypes = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                  "tensor(int64)": np.int64}
        nonzero = self.metadata["initial_state_nonzero"]
        initial = {}
        for spec in self.session.get_inputs():
            if spec.name in self.state_names:
                value = np.zeros(spec.shape, dtype=dtypes[spec.type])
                if spec.name in nonzero:
                    value[...] = np.asarray(nonzero[spec.name]).reshape(spec.shape)
                initial[spec.name] = value
        return initial

    def reset(self) -> None:
        self.state = {name: value.copy() for name, value in self._initial.items()}

    def process(self, audio_frames: np.ndarray, controls: np.ndarray | None = None
                ) -> np.ndarray:
        """audio (1, 1, T) or (T,), T whole frames; controls (1, n_desc, T / C) or
        (n_desc,) held over the block. Returns audio (1, 1, T)."""
        audio = np.asarray(audio_frames, dtype=np.float32).reshape(1, 1, -1)
        frames, rest = divmod(audio.shape[-1], self.compression)
        if rest or frames == 0:
            raise ValueError(f"audio must hold whole frames of {self.compression} samples")
        longest = self.metadata.get("max_samples_per_call")
        if longest is not None and audio.shape[-1] > longest:
            raise ValueError(f"this graph plays at most {longest} samples per call, "
                             f"got {audio.shape[-1]}")
        feed = {"audio": audio, **self.state}
        if self.n_descriptors:
            if controls is None:
                controls = np.zeros((1, self.n_descriptors, frames), dtype=np.float32)
            controls = np.asarray(controls, dtype=np.float32)
            if controls.ndim == 1:
                controls = np.repeat(controls.reshape(1, -1, 1), frames, axis=-1)
            if controls.shape != (1, self.n_descriptors, frames):
                raise ValueError(f"controls must be (1, {self.n_descriptors}, {frames})")
            feed["controls"] = np.ascontiguousarray(controls)
        results = self.session.run(self.output_names, feed)
        self.state = dict(zip(self.state_names, results[1:], strict=True))
        return results[0]


# ---- TorchScript (nn~) -----------------------------------------------------------------


def _follow(state: list[Tensor], initial: list[Tensor], x: Tensor) -> list[Tensor]:
    """`state` as it is, or restarted from `initial` for x's batch size and device."""
    if state[0].shape[0] == x.shape[0] and state[0].device == x.device:
        return state
    fresh: list[Tensor] = []
    for s in initial:
        s = s.to(x.device)
        fresh.append(s.repeat(x.shape[0], 1, 1) if s.dim() == 3 else s.clone())
    return fresh


class ScriptedNeuroRave(nn.Module):
    """Streaming encode / decode / forward with internal state, for torch.jit.script.

    Each method keeps its own state (`encode_state`, `decode_state`, `forward_state`),
    updated on every call and restarted by `reset()`, or when a call comes with a
    new batch size or on a new device. Every call takes whole frames.
    """

    encode_state: list[Tensor]
    decode_state: list[Tensor]
    forward_state: list[Tensor]
    encode_initial: list[Tensor]
    decode_initial: list[Tensor]
    forward_initial: list[Tensor]

    def __init__(self, model: NeuroRave):
        super().__init__()
        plain = _plain_copy(model)
        cfg = plain.config
        self.pqmf_analysis = plain.pqmf_analysis
        self.encoder = plain.encoder
        # NeuroRave.stream_decode's parts: the shaper's gains go to the head.
        self.noise_shaper = plain.noise_shaper
        self.decoder_body = Sequence(list(plain.decoder.layers[:-1]))
        self.decoder_head = plain.decoder.layers[-1]
        self.pqmf_synthesis = plain.pqmf_synthesis
        self.sampling_rate: int = cfg.sample_rate
        self.compression: int = cfg.compression
        self.latent_size: int = cfg.latent_size
        self.n_descriptors: int = len(cfg.descriptors)
        self.forward_latency: int = plain.latency.forward_samples
        c, latent, cond = cfg.compression, cfg.latent_size, cfg.latent_size + len(cfg.descriptors)
        self.register_buffer("encode_params", torch.tensor([1, 1, latent, c]))
        self.register_buffer("decode_params", torch.tensor([cond, c, 1, 1]))
        self.register_buffer("forward_params", torch.tensor([1, 1, 1, 1]))
        self.register_buffer("controls", torch.zeros(1, self.n_descriptors, 1))
        encoder_state = plain.init_encoder_state()
        self.n_encoder_state: int = len(encoder_state)
        self.encode_initial = encoder_state
        self.decode_initial = plain.init_decoder_state()
        self.forward_initial = encoder_state + plain.init_decoder_state(after_encoder=True)
        for initial in (self.encode_initial, self.decode_initial):
            if initial[0].dim() != 3:
                raise ValueError("the first state slot must be (batch, channels, time)")
        self.encode_state = [s.clone() for s in self.encode_initial]
        self.decode_state = [s.clone() for s in self.decode_initial]
        self.forward_state = [s.clone() for s in self.forward_initial]

    def _check_frames(self, x: Tensor, ratio: int) -> None:
        if x.shape[-1] % ratio != 0:
            raise ValueError("the block must hold whole frames")

    def _encode(self, x: Tensor, state: list[Tensor]) -> Tensor:
        y, i = self.pqmf_analysis.stream(x, state, 0)
        y, i = self.encoder.stream(y, state, i)
        return y[:, :self.latent_size]

    def _decode(self, z: Tensor, state: list[Tensor], first: int) -> Tensor:
        gains: Tensor | None = None
        i = first
        if self.noise_shaper is not None:
            gains, i = self.noise_shaper.stream(z, state, i)
        y, i = self.decoder_body.stream(z, state, i)
        y, i = self.decoder_head.stream(y, state, i, gains)
        return self.pqmf_synthesis.stream(y, state, i)[0]

    @torch.jit.export
    def encode(self, x: Tensor) -> Tensor:
        """audio (B, 1, T) -> z (B, latent, T / compression)."""
        self._check_frames(x, self.compression)
        self.encode_state = _follow(self.encode_state, self.encode_initial, x)
        return self._encode(x, self.encode_state)

    @torch.jit.export
    def decode(self, z: Tensor) -> Tensor:
        """z and normalised descriptors (B, latent + n_desc, F) -> audio (B, 1, F * C)."""
        self.decode_state = _follow(self.decode_state, self.decode_initial, z)
        return self._decode(z, self.decode_state, 0)

    def forward(self, x: Tensor) -> Tensor:
        """audio (B, 1, T) -> audio (B, 1, T), conditioned on the current controls."""
        self._check_frames(x, self.compression)
        self.forward_state = _follow(self.forward_state, self.forward_initial, x)
        z = self._encode(x, self.forward_state)
        if self.n_descriptors > 0:
            controls = self.controls.to(z.device, z.dtype)
            z = torch.cat([z, controls.expand(z.shape[0], self.n_descriptors, z.shape[-1])], 1)
        return self._decode(z, self.forward_state, self.n_encoder_state)

    @torch.jit.export
    def set_controls(self, values: Tensor) -> None:
        """The normalised descriptor values `forward` plays with, n_descriptors of them."""
        if values.numel() != self.n_descriptors:
            raise ValueError("set_controls takes one value per descriptor")
        self.controls.copy_(values.reshape(1, self.n_descriptors, 1))

    @torch.jit.export
    def reset(self) -> None:
        self.encode_state = [s.clone() for s in self.encode_initial]
        self.decode_state = [s.clone() for s in self.decode_initial]
        self.forward_state = [s.clone() for s in self.forward_initial]

    @torch.jit.export
    def get_methods(self) -> list[str]:
        return ["encode", "decode", "forward"]

    @torch.jit.export
    def get_attributes(self) -> list[str]:
        return []


def script_model(model: NeuroRave) -> torch.jit.ScriptModule:
    """The scripted streaming module that `export_torchscript` saves."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script's own
        return torch.jit.script(ScriptedNeuroRave(model))


def export_torchscript(model: NeuroRave, path: str | Path) -> None:
    """Save a TorchScript module of `model` with streaming encode / decode / forward.

    The layout nn~ reads: `{encode,decode,forward}_params` buffers
    ([in_channels, in_ratio, out_channels, out_ratio]), `get_methods()`,
    `get_attributes()`, plus `sampling_rate`, `set_controls(values)` and `reset()`.
    """
    scripted = script_model(model)

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.save's own
            torch.jit.save(scripted, tmp)

    write_atomically(path, write)


__all__ = ["OnnxStreamer", "ScriptedNeuroRave", "export_onnx", "export_torchscript",
           "onnx_initial_state", "read_onnx_metadata", "script_model"]
