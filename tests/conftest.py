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
                  held: bool = False) -> ExportedModel:
    torch.manual_seed(seed)
    model = NeuroRave(get_config(config, causal=causal, held_upsampling=held)).eval()
    path = tmp_dir / f"{config}_{'causal' if causal else 'centred'}{'_held' if held else ''}.nrv"
    save_nrv(model, path)
    return ExportedModel(model, path)


@pytest.fixture(scope="session", params=[("tiny", False), ("tiny", True), ("small", False),
                                         ("small", True), ("lowlatency", True, True)],
                ids=["tiny-centred", "tiny-causal", "small-centred", "small-causal",
                     "lowlatency-held"])
def exported(request, tmp_path_factory) -> ExportedModel:
    return export_random(tmp_path_factory.mktemp("models"), *request.param)
