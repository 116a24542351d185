"""NeuroRave: real-time neural audio synthesis with descriptor faders.

The package in layers; each imports only from the layers listed before it (never
sideways into a later one, never back up), so there is no import cycle and the lower
layers work without what the upper ones need (tests/test_layout.py holds this):

    base      config.py       every configuration and preset, torch-free (the CLI's defaults)
              descriptors.py  the numpy reference of the audio descriptors
              files.py        atomic writes, JSON, errors that name the file
              plotting.py     matplotlib, Agg backend
              _core           the compiled C++ core (_core.pyi describes it)
    nn/       the torch networks: layers, PQMF, the auto-encoder, the prior's GRU  (base)
    format/   files of a model: .nrv read/write, ONNX and TorchScript, the cost  (nn, base)
    play/     neurorave.Engine, the default model, the benchmark  (format, nn, base)
    data/     audio I/O, rendering, the NSynth layout and builders, the window store,
              preprocessing  (base)
    train/    losses, discriminators, control, augmentation, torch descriptors, the
              LightningModule, the run folder, the trainer, the prior fit, previews,
              summaries  (data, format, nn, base)
    eval/     metrics, `neurorave evaluate`, fidelity, the demo  (train, data, play,
              format, nn, base)
    cli.py    the `neurorave` command, importing each subcommand's layer when it runs

docs/python-layout.md says why, and where each module of the flat layout went.
"""

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
        from .play import engine

        return getattr(engine, name)
    raise AttributeError(name)
