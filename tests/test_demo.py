"""`neurorave demo` and the default model shipped in the package."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from neurorave import Engine
from neurorave.cli import main
from neurorave.format.nrv import read_description
from neurorave.play.default_model import DEFAULT_MODEL


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    model = folder / "small_prior.nrv"
    assert main(["export", "--random", "--config", "small", "--prior", "-o", str(model)]) == 0
    assert main(["demo", "--model", str(model), "-o", str(folder / "out")]) == 0
    return folder / "out"


def test_the_demo_writes_every_render_and_picture(demo_folder, capsys):
    descriptors = Engine(demo_folder.parent / "small_prior.nrv").descriptors
    expected = ["reconstruction", "transfer_speech", "transfer_drums", "attribute_transfer",
                "generate_seed0", "generate_seed1", "generate_seed0_brighter"]
    expected += [f"sweep_{name}" for name in descriptors]
    for stem in expected:
        audio, rate = sf.read(demo_folder / f"{stem}.wav")
        assert rate == 44100 and len(audio) > rate, stem
        assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-4, stem
    for picture in ["reconstruction", "transfer_speech", "transfer_drums", "attribute_transfer",
                    "generate"] + [f"sweep_{name}" for name in descriptors]:
        assert (demo_folder / f"{picture}.png").stat().st_size > 10_000, picture
    for name in ("melody", "speech", "drums"):
        assert sf.info(demo_folder / f"input_{name}.wav").duration > 2.0


def test_the_demo_prints_the_control_table():
    from neurorave.eval.demo import SweepResult, correlation_table

    table = correlation_table([SweepResult("centroid", "Hz", 0.91234)])
    assert "| centroid | Hz | 0.912 |" in table


def test_the_default_model_is_a_frave_with_a_prior():
    assert DEFAULT_MODEL.is_file()
    assert DEFAULT_MODEL.stat().st_size <= 10 * 2**20
    description = read_description(DEFAULT_MODEL)
    assert description["config"]["sample_rate"] == 44100
    assert description["provenance"]["mode"] == "frave"
    assert description["prior"]["type"] == "gru"
    report = DEFAULT_MODEL.parent / "default_report"
    assert json.loads((report / "results.json").read_text())["models"]
    assert (report / "report.md").is_file()
    engine = Engine()  # no path: the default model
    assert engine.path == str(DEFAULT_MODEL) and engine.has_prior
    audio = engine.generate(engine.sample_rate, seed=0)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-3


def test_commands_without_a_model_use_the_default(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert str(DEFAULT_MODEL) in out and "prior: GRU" in out
