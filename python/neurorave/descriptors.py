"""Audio descriptors: the instrument's knobs.

This module names each descriptor with its physical unit and a default range; the
numpy reference analysers arrive with the descriptors issue. A model trained on a
data set stores that set's ranges and quantile bins instead of these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BINS = 16


@dataclass(frozen=True)
class DescriptorSpec:
    name: str
    unit: str
    default_range: tuple[float, float]


DESCRIPTOR_SPECS: dict[str, DescriptorSpec] = {
    spec.name: spec
    for spec in (
        DescriptorSpec("rms", "dBFS", (-60.0, 0.0)),
        DescriptorSpec("centroid", "Hz", (200.0, 8000.0)),
        DescriptorSpec("bandwidth", "Hz", (100.0, 6000.0)),
        DescriptorSpec("rolloff", "Hz", (200.0, 12000.0)),
        DescriptorSpec("flatness", "", (0.0, 1.0)),
        DescriptorSpec("sharpness", "acum", (0.5, 3.0)),
        DescriptorSpec("boominess", "", (0.0, 10.0)),
    )
}


def spec_of(name: str) -> DescriptorSpec:
    if name not in DESCRIPTOR_SPECS:
        known = ", ".join(DESCRIPTOR_SPECS)
        raise ValueError(f"unknown descriptor {name!r}; known descriptors: {known}")
    return DESCRIPTOR_SPECS[name]


def default_descriptor_entry(name: str) -> dict:
    """The model-file entry of a descriptor before any data set has been seen."""
    spec = spec_of(name)
    lo, hi = spec.default_range
    return {"name": name, "unit": spec.unit, "range": [lo, hi],
            "bins": np.linspace(lo, hi, N_BINS + 1).tolist()}
