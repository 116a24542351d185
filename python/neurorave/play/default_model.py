"""The model that plays wherever none is named: a `lowlatency` F-RAVE with its prior, trained
on the NSynth-like set and shipped in the package (models/default.nrv, its evaluation
report in models/default_report/)."""

from __future__ import annotations

from pathlib import Path

# The package's models/ folder, one level up from this subpackage.
DEFAULT_MODEL = Path(__file__).parent.parent / "models" / "default.nrv"


def resolve_model(path: str | Path | None) -> Path:
    """`path` as given (its loader reports what is wrong with it), or the default model."""
    if path is not None:
        return Path(path)
    if not DEFAULT_MODEL.is_file():
        raise FileNotFoundError(f"{DEFAULT_MODEL}: the default model is missing from this "
                                "installation; name a model file")
    return DEFAULT_MODEL
