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


def stir_noise_shaper(model: NeuroRave) -> None:
    """Random gains from the model's noise shaper, if it has one: it starts at gains of 1
    (the white band), which would leave the sub-band gains untested."""
    if model.noise_shaper is not None:
        with torch.no_grad():
            model.noise_shaper.layers[-1].conv.weight.normal_(0.0, 0.5)


def export_random(tmp_dir: Path, config: str, causal: bool, seed: int = 0,
                  held: bool = False, fields: dict | None = None) -> ExportedModel:
    """`fields`: ModelConfig's, over the preset's (the bands' DC blockers, encoder blocks)."""
    torch.manual_seed(seed)
    model = NeuroRave(get_config(config, causal=causal, held_upsampling=held,
                                 **(fields or {}))).eval()
    path = tmp_dir / (f"{config}_{'causal' if causal else 'centred'}{'_held' if held else ''}"
                      f"{'_more' if fields else ''}.nrv")
    stir_noise_shaper(model)
    save_nrv(model, path)
    return ExportedModel(model, path)


# The shipped default's blockers: every 4 band samples at 10 Hz, then every frame at 3.
SHIPPED_BLOCKERS = {"band_dc_period": 4, "band_comb_cutoff_hz": 3.0}


# (config, causal, held kernels, other ModelConfig fields); the last is the shipped
# default's architecture; the combs' centred warm-up, the encoder's residual blocks
# (centred: delayed; causal) and the sub-band noise (causal) are tried on tiny.
@pytest.fixture(scope="session", params=[
    ("tiny", False, False, {"band_dc_period": 2, "band_comb_cutoff_hz": 3.0,
                            "encoder_residual_dilations": (1, 3)}),
    ("tiny", True, False, {"encoder_residual_dilations": (1, 3), "noise_subbands": 4}),
    ("small", False), ("small", True), ("lowlatency", True, True, SHIPPED_BLOCKERS)],
    ids=["tiny-centred-combs-encoder-blocks", "tiny-causal-encoder-blocks-subband-noise",
         "small-centred", "small-causal", "lowlatency-held-combs"])
def exported(request, tmp_path_factory) -> ExportedModel:
    config, causal, *architecture = request.param
    held, fields = (*architecture, False, None)[:2]
    return export_random(tmp_path_factory.mktemp("models"), config, causal, held=held,
                         fields=fields)
