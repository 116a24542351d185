"""Attribute transfer: a descriptor follows the live input's analysed value."""

from __future__ import annotations

import neurorave
import numpy as np
import pytest
from conftest import export_random
from neurorave import _core


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return export_random(tmp_path_factory.mktemp("follow"), "tiny", causal=True)


def _input(engine: neurorave.Engine, frames: int) -> np.ndarray:
    """A tone that swells and brightens, so every descriptor moves."""
    t = np.arange(frames * engine.compression) / engine.sample_rate
    envelope = np.linspace(0.05, 0.8, len(t))
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k ** np.linspace(2, 0.5, len(t))
               for k in range(1, 8))
    return (envelope * tone / 3).astype(np.float32)


@pytest.mark.parametrize("offset, scale", [(0.0, 1.0), (-6.0, 0.5)])
def test_followed_descriptor_is_the_analysed_input(tiny, offset, scale):
    engine = neurorave.Engine(tiny.path)
    audio = _input(engine, 120)
    followed = "rms"
    engine.follow(followed, offset=offset, scale=scale)
    out = np.concatenate([engine.process(audio[i:i + 37]) for i in range(0, len(audio), 37)])

    analyser = _core.DescriptorAnalyser(engine.sample_rate, engine.compression, [followed])
    analysed = analyser.push(audio)[:, 0]
    controls = np.array([list(engine.centre_controls().values())] * len(analysed), np.float32)
    controls[:, engine.descriptors.index(followed)] = offset + scale * analysed
    reference = _core.Engine(str(tiny.path)).forward(audio, controls)
    c = engine.compression
    assert np.ptp(analysed) > 10, "the input's loudness should move by more than 10 dB"
    np.testing.assert_allclose(out[c:], reference[:-c], atol=1e-5, rtol=0)


def test_follow_off_gives_the_fader_back(tiny):
    audio = _input(neurorave.Engine(tiny.path), 40)
    plain = neurorave.Engine(tiny.path).process(audio)
    engine = neurorave.Engine(tiny.path)
    engine.follow("centroid")
    engine.follow("centroid", on=False)
    np.testing.assert_array_equal(engine.process(audio), plain)
    following = neurorave.Engine(tiny.path)
    following.follow("centroid")
    assert np.abs(following.process(audio) - plain).max() > 1e-4
