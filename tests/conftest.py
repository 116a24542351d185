"""Shared fixtures: small models with random weights, exported once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from neurorave.config import get_config
from neurorave.format.nrv import save_nrv
from neurorave.nn.model import NeuroRave


@dataclass
class ExportedModel:
    model: NeuroRave
    path: Path


def export_random(tmp_dir: Path, config: str, causal: bool, seed: int = 0,
                  held: bool = False, blockers: dict | None = None) -> ExportedModel:
    """`blockers`: the bands' DC blocker fields of ModelConfig, over the preset's."""
    torch.manual_seed(seed)
    model = NeuroRave(get_config(config, causal=causal, held_upsampling=held,
                                 **(blockers or {}))).eval()
    path = tmp_dir / (f"{config}_{'causal' if causal else 'centred'}{'_held' if held else ''}"
                      f"{'_comb' if blockers else ''}.nrv")
    save_nrv(model, path)
    return ExportedModel(model, path)


# The shipped default's blockers: every 4 band samples at 10 Hz, then every frame at 3.
SHIPPED_BLOCKERS = {"band_dc_period": 4, "band_comb_cutoff_hz": 3.0}


# (config, causal, held kernels, the bands' DC blockers); the last is the shipped
# default's architecture, and the combs' centred warm-up is tried on tiny.
@pytest.fixture(scope="session", params=[
    ("tiny", False, False, {"band_dc_period": 2, "band_comb_cutoff_hz": 3.0}), ("tiny", True),
    ("small", False), ("small", True), ("lowlatency", True, True, SHIPPED_BLOCKERS)],
    ids=["tiny-centred-combs", "tiny-causal", "small-centred", "small-causal",
         "lowlatency-held-combs"])
def exported(request, tmp_path_factory) -> ExportedModel:
    config, causal, *architecture = request.param
    held, blockers = (*architecture, False, None)[:2]
    return export_random(tmp_path_factory.mktemp("models"), config, causal, held=held,
                         blockers=blockers)
