"""The C++ core against the torch reference: same weights, same input, same output."""

from __future__ import annotations

import neurorave
import numpy as np
import pytest
import torch
from neurorave import _core
from neurorave.nn.model import stream_in_chunks
from warm_up import warm_up_frames

TOLERANCE = 1e-4
FRAMES = 40  # at least 30 frames compared after any warm-up


def _signal(model, frames: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(1, 1, frames * model.config.compression, generator=generator)


def _descriptor_curves(model, frames: int, seed: int = 2) -> torch.Tensor:
    """Normalised control curves that move every frame, in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    n = len(model.config.descriptors)
    return torch.rand(1, n, frames, generator=generator) * 2 - 1


def _physical(info: dict, normalised: np.ndarray) -> np.ndarray:
    """(descriptors, frames) normalised -> (frames, descriptors) physical units."""
    ranges = np.array([d["range"] for d in info["descriptors"]], dtype=np.float64)
    lo, hi = ranges[:, :1], ranges[:, 1:]
    return np.ascontiguousarray(((normalised + 1) / 2 * (hi - lo) + lo).T.astype(np.float32))


def test_engine_forward_matches_torch_streaming(exported):
    model = exported.model
    audio, curves = _signal(model, FRAMES), _descriptor_curves(model, FRAMES)
    with torch.no_grad():
        reference = stream_in_chunks(model, audio, curves, frames_per_chunk=3)[0, 0].numpy()
    engine = _core.Engine(str(exported.path))
    controls = _physical(engine.info, curves[0].numpy())
    c = model.config.compression
    out = np.concatenate([
        engine.forward(audio[0, 0, start * c:(start + 5) * c].numpy(), controls[start:start + 5])
        for start in range(0, FRAMES, 5)
    ])
    assert np.abs(reference).max() > 1e-3, "the reference is silent: the test would prove nothing"
    np.testing.assert_allclose(out, reference, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("block", [1, 64, 2048, 3000])
def test_player_any_block_size_matches_torch_offline(exported, block):
    model = exported.model
    engine = neurorave.Engine(exported.path)
    c = model.config.compression
    warm_frames = warm_up_frames(model.config, padding_frames=40)
    frames = 30 + warm_frames + -(-engine.latency // c) + 1
    audio = _signal(model, frames)
    n_descriptors = len(model.config.descriptors)
    with torch.no_grad():
        offline = model(audio, torch.zeros(1, n_descriptors, frames))[0, 0].numpy()
        streamed = stream_in_chunks(model, audio, torch.zeros(1, n_descriptors, frames), 4)
    streamed = streamed[0, 0].numpy()
    samples = audio[0, 0].numpy()
    out = np.concatenate([engine.process(samples[i:i + block])
                          for i in range(0, len(samples), block)])
    assert engine.latency == c + model.latency.forward_samples
    # The block adapter: exactly the frame-wise stream, one frame later.
    np.testing.assert_allclose(out[c:], streamed[:-c], atol=TOLERANCE, rtol=0)
    # And the offline model, `latency` samples later, once the warm-up has passed.
    warm, lag = warm_frames * c, engine.latency
    compared = out[lag + warm:]
    assert len(compared) >= 30 * c
    np.testing.assert_allclose(compared, offline[warm:len(offline) - lag], atol=TOLERANCE, rtol=0)


def test_encode_and_decode_match_torch_streaming(exported):
    model = exported.model
    audio, curves = _signal(model, FRAMES), _descriptor_curves(model, FRAMES)
    engine = neurorave.Engine(exported.path)
    with torch.no_grad():
        z_ref = model.stream_encode(audio, model.init_encoder_state())
        decoder_input = torch.cat([z_ref, curves], 1)
        audio_ref = model.stream_decode(decoder_input, model.init_decoder_state())[0, 0].numpy()
    z = engine.encode(audio[0, 0].numpy())
    np.testing.assert_allclose(z, z_ref[0].numpy(), atol=TOLERANCE, rtol=0)
    physical = _physical(engine.info, curves[0].numpy()).T
    out = engine.decode(z_ref[0].numpy(), physical)
    np.testing.assert_allclose(out, audio_ref, atol=TOLERANCE, rtol=0)


def test_controls_move_the_output_like_torch(exported):
    """Setting a fader on the player equals feeding that value to the torch decoder."""
    model = exported.model
    frames = 12
    audio = _signal(model, frames)
    engine = neurorave.Engine(exported.path)
    name = engine.descriptors[1]
    lo, hi = engine.descriptor_range(name)
    value = lo + 0.8 * (hi - lo)  # normalised 0.6
    curves = torch.zeros(1, len(engine.descriptors), frames)
    curves[0, 1] = 0.6
    with torch.no_grad():
        reference = stream_in_chunks(model, audio, curves, 2)[0, 0].numpy()
    out = engine.process(audio[0, 0].numpy(), {name: value})
    c = model.config.compression
    np.testing.assert_allclose(out[c:], reference[:-c], atol=TOLERANCE, rtol=0)
    default = neurorave.Engine(exported.path).process(audio[0, 0].numpy())
    assert np.abs(default - out).max() > 1e-4, "the fader had no effect"


def test_bad_model_file_is_reported_by_name(tmp_path, exported):
    missing = tmp_path / "missing.nrv"
    with pytest.raises(neurorave.ModelError, match="missing.nrv: no such file"):
        neurorave.Engine(missing)
    truncated = tmp_path / "truncated.nrv"
    truncated.write_bytes(exported.path.read_bytes()[:1000])
    with pytest.raises(neurorave.ModelError, match="truncated.nrv"):
        neurorave.Engine(truncated)
    with pytest.raises(KeyError, match="no descriptor 'loudness'"):
        neurorave.Engine(exported.path).set_controls({"loudness": 1.0})
