"""NeuroRave: real-time neural audio synthesis with descriptor faders."""

from importlib.metadata import PackageNotFoundError, version

from .config import CONFIGS, ModelConfig, get_config

try:  # the installed package's version, which CMakeLists.txt's project() sets
    __version__ = version("neurorave")
except PackageNotFoundError:  # run from the source tree without installing
    __version__ = "unknown"
__all__ = ["CONFIGS", "Engine", "ModelConfig", "ModelError", "get_config"]


def __getattr__(name: str):
    # The compiled core loads on first use, so training code runs without it.
    if name in ("Engine", "ModelError"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(name)
