"""ONNX and TorchScript streaming exports play what the torch streaming reference plays."""

import warnings
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import stir_noise_shaper
from neurorave.config import get_config
from neurorave.format.onnx_torchscript import (
    OnnxStreamer,
    export_onnx,
    export_torchscript,
    onnx_initial_state,
    read_onnx_metadata,
)
from neurorave.nn.model import NeuroRave, stream_in_chunks
from warm_up import warm_up_frames

TOLERANCE = 1e-4
PADDING_FRAMES = 30  # centred models: the start of a stream differs from offline
COMPARED_FRAMES = 30
# (preset, causal, other ModelConfig fields): the causal tiny with sub-band noise.
CASES = [("tiny", False, {}), ("tiny", True, {"noise_subbands": 4}), ("small", False, {}),
         ("small", True, {})]


@dataclass
class Case:
    model: NeuroRave
    audio: torch.Tensor  # (1, 1, frames * compression)
    values: torch.Tensor  # (n_descriptors,) normalised, held over the whole stream
    controls: torch.Tensor  # (1, n_descriptors, frames): `values` over time
    reference: torch.Tensor  # torch streaming forward of `audio`
    onnx_path: Path
    script_path: Path

    @property
    def compression(self) -> int:
        return self.model.config.compression

    @property
    def frames(self) -> int:
        return self.audio.shape[-1] // self.compression


def _load_script(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path))


def _frame_counts(total: int, sizes) -> list[tuple[int, int]]:
    """(start, stop) frame ranges covering `total` frames, sizes taken in turn."""
    ranges, start = [], 0
    for size in cycle(sizes):
        if start >= total:
            return ranges
        ranges.append((start, min(start + size, total)))
        start += size


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-{'causal' if c else 'centred'}"
                                                  for n, c, _ in CASES])
def case(request, tmp_path_factory) -> Case:
    name, causal, fields = request.param
    torch.manual_seed(1234)
    model = NeuroRave(get_config(name, causal=causal, **fields)).eval()
    stir_noise_shaper(model)
    c = model.config.compression
    latency_frames = -(-model.latency.forward_samples // c)
    frames = warm_up_frames(model.config, PADDING_FRAMES) + COMPARED_FRAMES + latency_frames + 2
    audio = 0.3 * torch.randn(1, 1, frames * c)
    values = torch.rand(len(model.config.descriptors)) * 2 - 1
    controls = values.reshape(1, -1, 1).expand(1, -1, frames).contiguous()
    with torch.no_grad():
        reference = stream_in_chunks(model, audio, controls, 3)
    folder = tmp_path_factory.mktemp(f"{name}_{causal}")
    export_onnx(model, folder / "model.onnx")
    export_torchscript(model, folder / "model.ts")
    return Case(model, audio, values, controls, reference, folder / "model.onnx",
                folder / "model.ts")


def _max_error(a, b) -> float:
    a = torch.as_tensor(np.asarray(a))
    b = torch.as_tensor(np.asarray(b))
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def test_torch_stream_matches_offline(case: Case):
    model, c = case.model, case.compression
    with torch.no_grad():
        offline = model(case.audio, case.controls)
        other_chunks = stream_in_chunks(model, case.audio, case.controls, 5)
    assert _max_error(other_chunks, case.reference) < TOLERANCE
    delay = model.latency.forward_samples
    skip = warm_up_frames(model.config, PADDING_FRAMES) * c
    streamed = case.reference[..., delay + skip:]
    aligned = offline[..., skip:offline.shape[-1] - delay]
    assert streamed.shape[-1] >= COMPARED_FRAMES * c
    assert _max_error(streamed, aligned) < TOLERANCE
    assert case.reference.abs().max() > 1e-3  # the comparison is not between silences


@pytest.mark.parametrize("frames_per_call", [1, 4, 7])
def test_onnx_stream_matches_torch(case: Case, frames_per_call: int):
    c = case.compression
    streamer = OnnxStreamer(case.onnx_path, case.model)
    audio = case.audio.numpy()
    out = [streamer.process(audio[..., a * c:b * c], case.controls[..., a:b].numpy())
           for a, b in _frame_counts(case.frames, [frames_per_call])]
    assert _max_error(np.concatenate(out, -1), case.reference) < TOLERANCE


def test_onnx_graph_layout(case: Case):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(case.onnx_path),
                                           providers=["CPUExecutionProvider"])
    initial = onnx_initial_state(case.model)
    names = [i.name for i in session.get_inputs()]
    assert names == ["audio", "controls"] + list(initial)
    assert [o.name for o in session.get_outputs()] == (
        ["audio_out"] + [n.replace("_in_", "_out_") for n in initial])
    assert isinstance(session.get_inputs()[0].shape[2], str)  # dynamic time axis
    for spec in session.get_inputs()[2:]:
        assert tuple(spec.shape) == initial[spec.name].shape
    assert read_onnx_metadata(case.onnx_path)["compression"] == case.compression


def test_onnx_streamer_without_model(case: Case):
    """The initial state rebuilt from the graph and its metadata; controls held."""
    c = case.compression
    streamer = OnnxStreamer(case.onnx_path)
    audio = case.audio.numpy()
    out = [streamer.process(audio[..., a * c:b * c], case.values.numpy())
           for a, b in _frame_counts(case.frames, [2, 6])]
    assert _max_error(np.concatenate(out, -1), case.reference) < TOLERANCE
    streamer.reset()
    first = streamer.process(audio[..., :c], case.values.numpy())
    assert _max_error(first, case.reference[..., :c]) < TOLERANCE


def test_torchscript_forward_matches_torch(case: Case):
    c = case.compression
    scripted = _load_script(case.script_path)
    scripted.set_controls(case.values)
    for sizes in ([1, 4, 7], [5]):
        scripted.reset()
        with torch.no_grad():
            out = [scripted(case.audio[..., a * c:b * c])
                   for a, b in _frame_counts(case.frames, sizes)]
        assert _max_error(torch.cat(out, -1), case.reference) < TOLERANCE


def test_torchscript_encode_decode_match_torch(case: Case):
    model, c = case.model, case.compression
    scripted = _load_script(case.script_path)
    generator = torch.Generator().manual_seed(5)
    descriptors = torch.rand(1, len(model.config.descriptors), case.frames,
                             generator=generator) * 2 - 1
    encoder_state, decoder_state = model.init_encoder_state(), model.init_decoder_state()
    with torch.no_grad():
        for a, b in _frame_counts(case.frames, [3, 1, 4]):
            z = model.stream_encode(case.audio[..., a * c:b * c], encoder_state)
            z_scripted = scripted.encode(case.audio[..., a * c:b * c])
            assert z_scripted.shape == (1, model.config.latent_size, b - a)
            assert _max_error(z_scripted, z) < TOLERANCE
            conditioned = torch.cat([z, descriptors[..., a:b]], 1)
            y = model.stream_decode(conditioned, decoder_state)
            y_scripted = scripted.decode(conditioned)
            assert y_scripted.shape == (1, 1, (b - a) * c)
            assert _max_error(y_scripted, y) < TOLERANCE


def test_torchscript_nn_tilde_layout(case: Case):
    cfg = case.model.config
    scripted = _load_script(case.script_path)
    n_desc = len(cfg.descriptors)
    assert scripted.get_methods() == ["encode", "decode", "forward"]
    assert scripted.get_attributes() == []
    assert scripted.encode_params.tolist() == [1, 1, cfg.latent_size, cfg.compression]
    assert scripted.decode_params.tolist() == [cfg.latent_size + n_desc, cfg.compression, 1, 1]
    assert scripted.forward_params.tolist() == [1, 1, 1, 1]
    assert scripted.sampling_rate == cfg.sample_rate
    with pytest.raises(torch.jit.Error, match="one value per descriptor"):
        scripted.set_controls(torch.zeros(n_desc + 1))


def test_exports_without_descriptors(tmp_path):
    torch.manual_seed(7)
    model = NeuroRave(get_config("tiny", descriptors=())).eval()
    c, frames = model.config.compression, 24
    audio = 0.3 * torch.randn(1, 1, frames * c)
    with torch.no_grad():
        reference = stream_in_chunks(model, audio, torch.zeros(1, 0, frames), 3)
    export_onnx(model, tmp_path / "model.onnx")
    streamer = OnnxStreamer(tmp_path / "model.onnx")
    assert "controls" not in [i.name for i in streamer.session.get_inputs()]
    out = [streamer.process(audio[..., a * c:b * c].numpy())
           for a, b in _frame_counts(frames, [4])]
    assert _max_error(np.concatenate(out, -1), reference) < TOLERANCE
    export_torchscript(model, tmp_path / "model.ts")
    scripted = _load_script(tmp_path / "model.ts")
    with torch.no_grad():
        out = [scripted(audio[..., a * c:b * c]) for a, b in _frame_counts(frames, [5])]
    assert _max_error(torch.cat(out, -1), reference) < TOLERANCE
    assert scripted.decode_params.tolist() == [model.config.latent_size, c, 1, 1]


def test_fixed_frames_per_call(tmp_path):
    torch.manual_seed(8)
    model = NeuroRave(get_config("tiny")).eval()
    c, frames = model.config.compression, 20
    audio = 0.3 * torch.randn(1, 1, frames * c)
    controls = torch.zeros(1, len(model.config.descriptors), frames)
    with torch.no_grad():
        reference = stream_in_chunks(model, audio, controls, 4)
    export_onnx(model, tmp_path / "model.onnx", frames_per_call=4)
    streamer = OnnxStreamer(tmp_path / "model.onnx", model)
    assert streamer.session.get_inputs()[0].shape == [1, 1, 4 * c]
    out = [streamer.process(audio[..., a * c:b * c].numpy(), controls[..., a:b].numpy())
           for a, b in _frame_counts(frames, [4])]
    assert _max_error(np.concatenate(out, -1), reference) < TOLERANCE


def test_export_leaves_model_intact_and_writes_atomically(tmp_path):
    torch.manual_seed(9)
    model = NeuroRave(get_config("tiny")).eval()
    audio = 0.3 * torch.randn(1, 1, 16 * model.config.compression)
    with torch.no_grad():
        before = model(audio)
    rng = torch.get_rng_state()
    export_onnx(model, tmp_path / "out" / "model.onnx")
    export_torchscript(model, tmp_path / "out" / "model.ts")
    assert torch.equal(torch.get_rng_state(), rng)
    with torch.no_grad():
        assert torch.equal(model(audio), before)
    assert any("parametrizations" in name for name, _ in model.named_parameters())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.onnx", "model.ts"]
