"""The prior without training: torch and the C++ core take the same steps, and the
Engine generates from it (random weights; tests/test_training.py trains one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from neurorave import Engine, _core
from neurorave.cli import main
from neurorave.format.nrv import load_nrv, load_prior, read_description


@pytest.fixture(scope="module")
def model_with_prior(tmp_path_factory):
    path = tmp_path_factory.mktemp("prior") / "tiny_prior.nrv"
    assert main(["export", "--random", "--config", "tiny", "--prior", "--seed", "3",
                 "-o", str(path)]) == 0
    return path


def _normalised(values: np.ndarray, description: dict) -> np.ndarray:
    ranges = np.array([d["range"] for d in description["descriptors"]], np.float64)
    return 2 * (values - ranges[:, 0]) / (ranges[:, 1] - ranges[:, 0]) - 1


@pytest.mark.parametrize("temperature", [0.0, 0.6, 1.0])
def test_the_core_takes_torch_s_steps_given_the_same_draws(model_with_prior, temperature):
    prior = load_prior(model_with_prior)
    description = read_description(model_with_prior)
    engine = _core.Engine(str(model_with_prior))
    noise = np.random.default_rng(1).standard_normal((80, prior.frame_size)).astype(np.float32)
    expected = prior.generate(torch.from_numpy(noise), temperature).numpy()
    engine.prior_reset()
    for t in range(len(noise)):
        z, values = engine.prior_step(noise[t], temperature)
        np.testing.assert_allclose(z, expected[t, :prior.latent_size], atol=1e-4)
        np.testing.assert_allclose(_normalised(values, description),
                                   expected[t, prior.latent_size:], atol=1e-4)


def test_generation_is_the_decoder_fed_by_the_prior(model_with_prior):
    """At temperature 0 the phrase needs no draws, so torch can play it too: the prior's
    frames through the streaming decoder, the descriptors on the prior's curves."""
    engine = Engine(model_with_prior)
    frames = 48
    played = engine.generate(frames * engine.compression, seed=5, temperature=0.0)
    prior, model = load_prior(model_with_prior), load_nrv(model_with_prior)
    path = prior.generate(torch.zeros(frames, prior.frame_size), 0.0).T[None]
    with torch.no_grad():
        expected = model.stream_decode(path, model.init_decoder_state())[0, 0].numpy()
    c = engine.compression
    np.testing.assert_allclose(played[c:], expected[:-c], atol=1e-4)
    assert np.abs(expected).max() > 1e-3


def test_seeds_replay_and_bends_move_the_curves(model_with_prior):
    engine = Engine(model_with_prior)
    n = 40 * engine.compression
    first = engine.generate(n, seed=7)
    np.testing.assert_array_equal(first, engine.generate(n, seed=7))
    assert np.abs(first - engine.generate(n, seed=8)).max() > 1e-3
    low, high = engine.descriptor_range("centroid")
    bent = engine.generate(n, seed=7, bend={"centroid": 0.3 * (high - low)})
    assert np.abs(first - bent).max() > 1e-3
    with pytest.raises(KeyError, match="no descriptor 'pitch'"):
        engine.generate(n, bend={"pitch": 1.0})
    # The engine is back in transfer mode: its input is heard again.
    assert not engine._player.generating


def test_a_model_without_prior_says_so(tmp_path):
    path = tmp_path / "plain.nrv"
    assert main(["export", "--random", "--config", "tiny", "-o", str(path)]) == 0
    engine = Engine(path)
    assert not engine.has_prior
    with pytest.raises(ValueError, match=f"{path}: the model has no prior"):
        engine.set_generate(True)
    assert load_prior(path) is None


def test_export_refuses_a_random_prior_on_a_run(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--prior", "-o", str(tmp_path / "m.nrv")]) == 1
    assert "train-prior" in capsys.readouterr().err
