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
                  held: bool = False, dc_every_frame: bool = False) -> ExportedModel:
    torch.manual_seed(seed)
    model = NeuroRave(get_config(config, causal=causal, held_upsampling=held,
                                 band_dc_every_frame=dc_every_frame)).eval()
    path = tmp_dir / (f"{config}_{'causal' if causal else 'centred'}{'_held' if held else ''}"
                      f"{'_comb' if dc_every_frame else ''}.nrv")
    save_nrv(model, path)
    return ExportedModel(model, path)


# (config, causal, held kernels, the bands' DC blocker every frame); the last is the
# shipped default's architecture, and the comb's centred warm-up is tried on tiny.
@pytest.fixture(scope="session", params=[("tiny", False, False, True), ("tiny", True),
                                         ("small", False), ("small", True),
                                         ("lowlatency", True, True, True)],
                ids=["tiny-centred-comb", "tiny-causal", "small-centred", "small-causal",
                     "lowlatency-held-comb"])
def exported(request, tmp_path_factory) -> ExportedModel:
    config, causal, *architecture = request.param
    held, every_frame = (*architecture, False, False)[:2]
    return export_random(tmp_path_factory.mktemp("models"), config, causal, held=held,
                         dc_every_frame=every_frame)
