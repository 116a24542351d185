"""NeuroRave: real-time neural audio synthesis with descriptor faders."""

from .config import CONFIGS, ModelConfig, get_config

__version__ = "0.1.0"
__all__ = ["CONFIGS", "Engine", "ModelConfig", "ModelError", "get_config"]


def __getattr__(name: str):
    # The compiled core loads on first use, so training code runs without it.
    if name in ("Engine", "ModelError"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(name)
