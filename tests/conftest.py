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


def export_random(tmp_dir: Path, config: str, causal: bool, seed: int = 0) -> ExportedModel:
    torch.manual_seed(seed)
    model = NeuroRave(get_config(config, causal=causal)).eval()
    path = tmp_dir / f"{config}_{'causal' if causal else 'centred'}.nrv"
    save_nrv(model, path)
    return ExportedModel(model, path)


@pytest.fixture(scope="session", params=[("tiny", False), ("tiny", True), ("small", False),
                                         ("small", True)],
                ids=["tiny-centred", "tiny-causal", "small-centred", "small-causal"])
def exported(request, tmp_path_factory) -> ExportedModel:
    config, causal = request.param
    return export_random(tmp_path_factory.mktemp("models"), config, causal)
