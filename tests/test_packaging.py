"""What `pip install neurorave` gives a musician: the wheel, in a fresh virtual environment
with numpy alone (no torch), plays the default model; a command that needs the training
extras says so in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PLAY = """
import sys
import numpy as np
import neurorave
engine = neurorave.Engine()
t = np.arange(4 * engine.sample_rate) / engine.sample_rate
out = engine.process((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
assert np.isfinite(out).all() and np.abs(out).max() > 1e-3, np.abs(out).max()
assert "torch" not in sys.modules
print("played", len(out))
"""


@pytest.fixture(scope="module")
def numpy_only_venv(tmp_path_factory) -> Path:
    """A fresh venv with the wheel `pip wheel .` builds, and what it depends on."""
    folder = tmp_path_factory.mktemp("packaging")
    wheels = folder / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    (wheel,) = wheels.glob("neurorave-*.whl")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True)
    return venv


def test_the_wheel_plays_the_default_model_with_numpy_alone(numpy_only_venv):
    python = numpy_only_venv / "bin" / "python"
    missing = subprocess.run([str(python), "-c", "import torch"], capture_output=True)
    assert missing.returncode != 0, "torch came with the plain install"
    played = subprocess.run([str(python), "-c", PLAY], capture_output=True, text=True)
    assert played.returncode == 0, played.stderr
    info = subprocess.run([str(numpy_only_venv / "bin" / "neurorave"), "info"],
                          capture_output=True, text=True)
    assert info.returncode == 0 and "prior: GRU" in info.stdout, info.stderr


def test_the_wheel_carries_every_layer_and_the_core_stub(numpy_only_venv):
    """wheel.packages takes the whole folder: the subpackages, the default model, and the
    type stub of the compiled core with its py.typed marker."""
    python = numpy_only_venv / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import neurorave; print(neurorave.__file__)"],
                           capture_output=True, text=True, check=True)
    installed = Path(where.stdout.strip()).parent
    source = ROOT / "python" / "neurorave"
    modules = {p.relative_to(source) for p in source.rglob("*.py")}
    assert modules <= {p.relative_to(installed) for p in installed.rglob("*.py")}
    for name in ("_core.pyi", "py.typed", "models/default.nrv"):
        assert (installed / name).is_file(), name


def test_a_command_that_needs_the_extras_says_so_in_one_line(numpy_only_venv, tmp_path):
    result = subprocess.run([str(numpy_only_venv / "bin" / "neurorave"), "export", "--random",
                             "--config", "tiny", "-o", str(tmp_path / "m.nrv")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "neurorave export: needs the training extras, pip install 'neurorave[train]' "
        "(no module named torch)"], result.stderr
    assert not (tmp_path / "m.nrv").exists()
