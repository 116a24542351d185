"""The `.nrv` model file: safetensors tensors + a JSON description in `__metadata__`.

The description lists the layers in the order the streaming engine runs them, so
the C++ core builds its network from data and checks every tensor against it.
See docs/model-format.md.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file
from torch.nn.utils import parametrize

from ..config import WEIGHT_PRECISIONS, ModelConfig
from ..descriptors import default_descriptor_entry
from ..files import write_atomically
from ..nn.layers import (
    SUBBAND_NOISE_TAPS,
    Conv,
    ConvTranspose,
    LeakyReLU,
    Residual,
    Sequence,
    WaveformHead,
    strip_weight_norm,
)
from ..nn.model import NeuroRave
from ..nn.prior import Prior

FORMAT_VERSION = 1
METADATA_KEY = "neurorave"
# How the encoder's and decoder's convolution weights are stored. fp16 halves the bytes a
# frame reads, which bounds a large model played one frame per call; the core widens them
# to float as it loads them and accumulates in float. fp16 rather than bf16: its 11-bit
# significand rounds a weight to 2^-12 relative (bf16: 2^-9), and trained weights lie far
# inside its range. The PQMF and the prior stay float: they are small and exact-critical.
# So does the encoder's last conv (the posterior mean): it is small, and its weights are
# large (the data-dependent scale to the prior's units: up to 400 in the default model),
# so rounding each to 2^-12 relative moved z enough to bring the output's difference from
# -62 to -50 dB (docs/experiments/2026-12-06-the-default-passes-on-its-recipe.md).
_FP16_MAX = float(np.finfo(np.float16).max)


class _Collector:
    def __init__(self) -> None:
        self.tensors: dict[str, np.ndarray] = {}

    def add(self, name: str, tensor: torch.Tensor) -> None:
        self.tensors[name] = tensor.detach().to(torch.float32).contiguous().numpy().copy()

    def conv(self, name: str, layer: Conv, out_rows: int | None = None) -> dict:
        conv = layer.conv
        weight = conv.weight  # weight norm, if any, is folded in by reading .weight
        bias = conv.bias
        if out_rows is not None:
            weight, bias = weight[:out_rows], None if bias is None else bias[:out_rows]
        self.add(f"{name}.weight", weight)
        if bias is not None:
            self.add(f"{name}.bias", bias)
        return {"op": "conv", "name": name, "in": conv.in_channels, "out": weight.shape[0],
                "kernel": conv.kernel_size[0], "stride": conv.stride[0],
                "dilation": conv.dilation[0], "groups": conv.groups, "bias": bias is not None}

    def conv_transpose(self, name: str, layer: ConvTranspose) -> dict:
        conv = layer.conv
        self.add(f"{name}.weight", conv.weight)
        if layer.bias is not None:
            self.add(f"{name}.bias", layer.bias)
        return {"op": "conv_transpose", "name": name, "in": conv.in_channels,
                "out": conv.out_channels, "kernel": conv.kernel_size[0],
                "stride": conv.stride[0], "bias": layer.bias is not None}

    def waveform_head(self, name: str, layer: WaveformHead) -> dict:
        head = _waveform_head(layer.bands, layer.noise, layer.dc_pole, layer.dc_period,
                              layer.comb_pole, layer.comb_period)
        if layer.subbands > 1:  # the kernels are stored: the core does not design filters
            self.add(f"{name}.subband_filters", layer.subband_filters)
            head.update(_subband_fields(name, layer.subbands, layer.frame))
        return head

    def sequence(self, prefix: str, sequence: Sequence, last_conv_rows: int | None = None
                 ) -> list[dict]:
        ops = []
        last = len(sequence.layers) - 1
        for index, layer in enumerate(sequence.layers):
            name = f"{prefix}.{index}"
            if isinstance(layer, Conv):
                ops.append(self.conv(name, layer, last_conv_rows if index == last else None))
            elif isinstance(layer, ConvTranspose):
                ops.append(self.conv_transpose(name, layer))
            elif isinstance(layer, LeakyReLU):
                ops.append({"op": "leaky_relu", "slope": layer.slope})
            elif isinstance(layer, Residual):
                ops.append({"op": "residual", "delay": layer.delay,
                            "branch": self.sequence(name, layer.branch)})
            elif isinstance(layer, WaveformHead):
                ops.append(self.waveform_head(name, layer))
            else:
                raise TypeError(f"cannot export layer {type(layer).__name__}")
        return ops


def describe(model: NeuroRave, descriptors: list[dict] | None = None,
             provenance: dict | None = None, prior: Prior | None = None,
             prior_figures: dict | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON description and the tensors of `model` (and its prior), as the core reads them.
    """
    cfg = model.config
    collector = _Collector()
    pqmf = {
        "bands": cfg.n_bands,
        "analysis": collector.conv("pqmf.analysis", model.pqmf_analysis),
        "synthesis": collector.conv_transpose("pqmf.synthesis", model.pqmf_synthesis),
    }
    # Streaming plays the posterior mean: only the first half of the last conv is kept.
    encoder = collector.sequence("encoder", model.encoder, last_conv_rows=cfg.latent_size)
    decoder = collector.sequence("decoder", model.decoder)
    if descriptors is None:
        descriptors = [default_descriptor_entry(name) for name in cfg.descriptors]
    description = {
        "format_version": FORMAT_VERSION,
        "architecture": "neurorave-vae",
        "config": cfg.to_dict(),
        "sample_rate": cfg.sample_rate,
        "compression": cfg.compression,
        "latent_size": cfg.latent_size,
        "causal": cfg.causal,
        "latency": {"encode_frames": model.latency.encode_frames,
                    "decode_samples": model.latency.decode_samples,
                    "forward_samples": model.latency.forward_samples},
        "noise_lead": model.noise_lead,
        "descriptors": descriptors,
        "pqmf": pqmf,
        "encoder": encoder,
        "decoder": decoder,
        "provenance": provenance or {},
    }
    if model.noise_shaper is not None:
        description["noise_shaper"] = collector.sequence("noise_shaper", model.noise_shaper)
    tensors = collector.tensors
    if prior is not None:
        description["prior"] = _prior_entry(prior, prior_figures, cfg.latent_size,
                                            len(descriptors))
        tensors = {**tensors, **prior.tensors()}
    return description, tensors


def _prior_entry(prior: Prior, figures: dict | None, latent_size: int, descriptors: int
                 ) -> dict:
    """The description's "prior" field; refuses a prior fitted to another shape of model."""
    if (prior.latent_size, prior.descriptors) != (latent_size, descriptors):
        raise ValueError(f"the prior plays {prior.latent_size} latent values and "
                         f"{prior.descriptors} descriptors, the model has "
                         f"{latent_size} and {descriptors}")
    return {**prior.describe(), **(figures or {})}


def save_nrv(model: NeuroRave, path: str | Path, descriptors: list[dict] | None = None,
             provenance: dict | None = None, prior: Prior | None = None,
             prior_figures: dict | None = None, weights: str = "fp32") -> dict:
    with torch.no_grad():
        description, tensors = describe(model, descriptors, provenance, prior, prior_figures)
    for name, array in tensors.items():
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{path}: refusing to export, tensor {name} has NaN or Inf")
    _write(path, with_weight_precision(tensors, weights, path, description), description)
    return description


def _write(path: str | Path, tensors: dict[str, np.ndarray], description: dict) -> None:
    metadata = {METADATA_KEY: json.dumps(description)}
    write_atomically(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def _is_network_weight(name: str) -> bool:
    return name.startswith(("encoder.", "decoder.", "noise_shaper.")) and \
        name.endswith(".weight")


def with_weight_precision(tensors: dict[str, np.ndarray], weights: str, path: str | Path,
                          description: dict | None = None) -> dict[str, np.ndarray]:
    """`tensors` with the networks' conv weights stored as `weights`, but the latent head
    that `description` names."""
    if weights not in WEIGHT_PRECISIONS:
        raise ValueError(f"{path}: weights must be one of {', '.join(WEIGHT_PRECISIONS)}, "
                         f"not {weights!r}")
    dtype = np.float16 if weights == "fp16" else np.float32
    head = f"{description['encoder'][-1]['name']}.weight" if description else None
    out = {}
    for name, array in tensors.items():
        if _is_network_weight(name) and name != head:
            if dtype == np.float16 and np.abs(array).max(initial=0.0) > _FP16_MAX:
                raise ValueError(f"{path}: tensor {name} holds values beyond fp16's "
                                 f"±{_FP16_MAX:g}; export it with --weights fp32")
            array = array.astype(dtype)
        out[name] = array
    return out


def convert_model_file(source: str | Path, output: str | Path, weights: str,
                       blockers: dict | None = None) -> dict:
    """Another `.nrv` of the same model with its network weights stored as `weights` and
    its bands' DC blockers set as `blockers` asks (ModelConfig fields: band_dc_cutoff_hz,
    band_dc_period, band_comb_cutoff_hz); the description and everything else are kept
    as they are."""
    description = read_description(source)
    with _named_errors(source):
        tensors = load_file(str(source))
    if blockers:
        try:
            description = _with_band_dc_blockers(description, blockers)
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
    _write(output, with_weight_precision(tensors, weights, source, description), description)
    return description


def blend_model_files(first: str | Path, second: str | Path, weight: float,
                      output: str | Path) -> dict:
    """A model file whose every weight is (1 - weight) first's + weight second's.

    For two fine-tunes of one model, on one data set: between them lies a path of models
    that play (an average of two unrelated models plays neither). The architectures and
    the descriptor ranges must agree (the bands' blockers, which hold no weights, are
    first's); the weights are written in fp32 with first's description; a prior is left
    out, since it was fitted to one model's latents (`neurorave train-prior` fits another).
    Its provenance holds both files' and what they share (mode, preset, probed
    descriptors, the training recipe).
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the weight of {second} must lie in [0, 1], got {weight}")
    descriptions = [read_description(path) for path in (first, second)]
    differ = _weight_fields_differing(stored_model_config(second), stored_model_config(first))
    if differ:
        raise ValueError(f"{second}: its architecture differs from {first}'s "
                         f"({', '.join(differ)}): blend two fine-tunes of one model")
    if descriptions[0]["descriptors"] != descriptions[1]["descriptors"]:
        raise ValueError(f"{second}: its descriptors or their ranges differ from {first}'s: "
                         "blend two models trained on one data set")
    tensors = []
    for path in (first, second):
        with _named_errors(path):
            tensors.append({name: array for name, array in load_file(str(path)).items()
                            if not name.startswith("prior.")})
    for name, array in tensors[0].items():
        if name not in tensors[1] or tensors[1][name].shape != array.shape:
            raise ValueError(f"{second}: tensor {name} is missing or of another shape than "
                             f"in {first}")
    blended = {name: ((1.0 - weight) * array.astype(np.float64)
                      + weight * tensors[1][name].astype(np.float64)).astype(np.float32)
               for name, array in tensors[0].items()}
    description = {key: value for key, value in descriptions[0].items() if key != "prior"}
    parents = [{"file": Path(path).name, **d.get("provenance", {})}
               for path, d in zip((first, second), descriptions, strict=True)]
    shared = {key: parents[0][key] for key in ("mode", "config", "probed_descriptors", "recipe")
              if key in parents[0] and parents[0][key] == parents[1].get(key)}
    description["provenance"] = {"source": "blend", **shared, "weight": weight,
                                 "first": parents[0], "second": parents[1]}
    _write(output, blended, description)
    return description


def ranges_differing(path: str | Path, entries: list[dict]) -> list[str]:
    """The names among descriptor `entries` (a data set's) whose range is not the model
    file's (to 1e-4, relative); a name the file lacks is not counted."""
    stored = {d["name"]: d["range"] for d in read_description(path)["descriptors"]}
    return [e["name"] for e in entries
            if not np.allclose(stored.get(e["name"], e["range"]), e["range"], rtol=1e-4)]


def with_prior(source: str | Path, prior: Prior, figures: dict, output: str | Path) -> dict:
    """`source` with `prior` (fitted to its latents; `figures` as the description keeps
    them) in place of any prior it had, written to `output`; every other tensor and field
    as they are."""
    description = read_description(source)
    try:
        entry = _prior_entry(prior, figures, stored_model_config(source).latent_size,
                             len(description["descriptors"]))
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    with _named_errors(source):
        tensors = {name: array for name, array in load_file(str(source)).items()
                   if not name.startswith("prior.")}
    description = {**description, "prior": entry}
    _write(output, {**tensors, **prior.tensors()}, description)
    return description


def _waveform_head(bands: int, noise: bool, dc_pole: float, dc_period: int, comb_pole: float,
                   comb_period: int) -> dict:
    """The waveform head's op: each blocker's fields only where it has one, and a period
    only where it is not 1, so that a file without them reads as it was built."""
    head = {"op": "waveform_head", "bands": bands, "noise": noise}
    for name, pole, period in (("dc", dc_pole, dc_period), ("comb", comb_pole, comb_period)):
        if pole:
            head[f"{name}_pole"] = pole
            if period != 1:
                head[f"{name}_period"] = period
    return head


# The waveform head's fields of sub-band noise (nn/layers.WaveformHead).
_SUBBAND_FIELDS = ("subbands", "subband_taps", "frame", "subband_filters")


def _subband_fields(name: str, subbands: int, frame: int) -> dict:
    return dict(zip(_SUBBAND_FIELDS, (subbands, SUBBAND_NOISE_TAPS, frame,
                                      f"{name}.subband_filters"), strict=True))


def _with_band_dc_blockers(description: dict, blockers: dict) -> dict:
    """The description with the waveform head's DC blockers set as `blockers` asks: they
    hold no weights, so any model's weights play under them."""
    config = ModelConfig.from_dict({**description["config"], **blockers})
    old = description["decoder"][-1]
    head = _waveform_head(old["bands"], old["noise"], config.band_dc_pole,
                          config.band_dc_period, config.band_comb_pole, config.band_comb_period)
    head.update({k: old[k] for k in _SUBBAND_FIELDS if k in old})
    return {**description, "config": config.to_dict(),
            "decoder": [*description["decoder"][:-1], head]}


def read_description(path: str | Path) -> dict:
    """The JSON description of an `.nrv` file, without loading its tensors."""
    with _named_errors(path):
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    if METADATA_KEY not in metadata:
        raise ValueError(f"{path}: not a NeuroRave model (no '{METADATA_KEY}' metadata)")
    try:
        return json.loads(metadata[METADATA_KEY])
    except ValueError as error:
        raise ValueError(f"{path}: damaged description, not JSON ({error})") from None


@contextmanager
def _named_errors(path: str | Path) -> Iterator[None]:
    """safetensors' errors name no file."""
    if Path(path).is_dir():  # safetensors would say only 'No such device'
        raise IsADirectoryError(errno.EISDIR, "a folder, not a model file", str(path))
    try:
        yield
    except SafetensorError as error:
        raise ValueError(f"{path}: not a readable model file ({error})") from None


def _load_sequence(prefix: str, sequence: Sequence, tensors: dict[str, np.ndarray]) -> None:
    for index, layer in enumerate(sequence.layers):
        name = f"{prefix}.{index}"
        if isinstance(layer, (Conv, ConvTranspose)):
            _load_conv(name, layer, tensors)
        elif isinstance(layer, Residual):
            _load_sequence(name, layer.branch, tensors)


def _load_conv(name: str, layer: Conv | ConvTranspose, tensors: dict[str, np.ndarray]) -> None:
    weight = torch.from_numpy(tensors[f"{name}.weight"].astype(np.float32))  # fp16: widened
    rows = weight.shape[0]
    layer.conv.weight.data.zero_()
    layer.conv.weight.data[:rows] = weight  # the encoder's last conv keeps only the mean rows
    bias = layer.bias if isinstance(layer, ConvTranspose) else layer.conv.bias
    if bias is not None and f"{name}.bias" in tensors:
        bias.data.zero_()
        bias.data[:rows] = torch.from_numpy(tensors[f"{name}.bias"])


def stored_model_config(path: str | Path) -> ModelConfig:
    """The architecture an `.nrv` file describes; a file from another version of the
    project, with fields this one does not know, is refused naming the file."""
    try:
        return ModelConfig.from_dict(read_description(path)["config"])
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{path}: its architecture cannot be read ({error})") from None


def load_nrv(path: str | Path) -> NeuroRave:
    """The torch model of an `.nrv` file (weight norm folded), for inference and export."""
    model = NeuroRave(stored_model_config(path)).eval()
    strip_weight_norm(model)
    with _named_errors(path):
        tensors = load_file(str(path))
    with torch.no_grad():
        _load_conv("pqmf.analysis", model.pqmf_analysis, tensors)
        _load_conv("pqmf.synthesis", model.pqmf_synthesis, tensors)
        _load_sequence("encoder", model.encoder, tensors)
        _load_sequence("decoder", model.decoder, tensors)
        if model.noise_shaper is not None:
            _load_sequence("noise_shaper", model.noise_shaper, tensors)
    return model


# Architecture fields that hold no weights: a model file's weights play under either value.
_WEIGHTLESS_FIELDS = ("band_dc_cutoff_hz", "band_dc_period", "band_comb_cutoff_hz")


def _weight_fields_differing(stored: ModelConfig, config: ModelConfig) -> list[str]:
    """The architecture fields, weightless ones aside, in which two models differ."""
    wanted = config.to_dict()
    return sorted(k for k, v in stored.to_dict().items()
                  if wanted[k] != v and k not in _WEIGHTLESS_FIELDS)


def check_architecture(path: str | Path, config: ModelConfig, growing: bool = False) -> None:
    """Refuses an `.nrv` file whose weights `config`'s model cannot hold, naming what
    differs; `growing`: a model narrower than `config`'s, without its encoder blocks, or
    with a shorter filter bank, is held too (load_into_trainable grows it)."""
    stored = stored_model_config(path)
    differ = _weight_fields_differing(stored, config)
    if growing and "capacity" in differ and stored.capacity < config.capacity:
        differ.remove("capacity")
    if growing and "encoder_residual_dilations" in differ and \
            not stored.encoder_residual_dilations:
        differ.remove("encoder_residual_dilations")
    if growing and "pqmf_taps_per_band" in differ and \
            stored.pqmf_taps_per_band < config.pqmf_taps_per_band:
        differ.remove("pqmf_taps_per_band")
    if growing and stored.noise_subbands == 1:
        differ = [k for k in differ if k not in ("noise_subbands", "noise_shaper_channels")]
    if differ:
        raise ValueError(f"{path}: another architecture than the run's ({', '.join(differ)})")


# The added channels' fresh kernels, scaled down: Adam moves their outgoing zeros by about
# the learning rate from the first batch, and at full scale the fresh channels' activations
# would pour that much noise into the trained ones.
ADDED_CHANNEL_SCALE = 0.01


def _widened(narrow: torch.Tensor, fresh: torch.Tensor, transposed: bool) -> torch.Tensor:
    """`narrow`'s kernels inside `fresh`'s larger weight: the added outputs keep their
    fresh kernels (quietened) and the added inputs reach the old outputs with weight zero,
    so the wider network computes what the narrow one did on its old channels, and the
    added ones can learn (their outgoing zeros get gradients)."""
    weight = fresh.clone()
    view = weight.transpose(0, 1) if transposed else weight   # (outputs, inputs, taps)
    narrow = narrow.transpose(0, 1) if transposed else narrow
    outputs, inputs = narrow.shape[:2]
    view[outputs:] *= ADDED_CHANNEL_SCALE
    view[:outputs, inputs:] = 0
    view[:outputs, :inputs] = narrow
    return weight


def _widened_bias(narrow: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
    return torch.cat([narrow, ADDED_CHANNEL_SCALE * fresh[len(narrow):]])


def _added_encoder_blocks(model: NeuroRave, stored: ModelConfig) -> range:
    """Indices in `model.encoder.layers` of the residual blocks a stored model lacks."""
    if stored.encoder_residual_dilations:
        return range(0)
    blocks = [i for i, layer in enumerate(model.encoder.layers) if isinstance(layer, Residual)]
    return range(blocks[0], blocks[-1] + 1) if blocks else range(0)


def _stored_name(name: str, added: range) -> str | None:
    """The stored model's name of `name`'s module, None inside an added encoder block."""
    parts = name.split(".")
    if not added or parts[:2] != ["encoder", "layers"] or len(parts) < 3:
        return name
    index = int(parts[2])
    if index in added:
        return None
    stored = index - len(added) if index >= added.stop else index
    return ".".join(parts[:2] + [str(stored)] + parts[3:])


def _taken_from_file(name: str, stored: NeuroRave) -> bool:
    """Whether load_into_trainable sets module `name` from the file: every learned layer
    the file has (a noise shaper it lacks starts at gains that play its white bands)."""
    return not name.startswith("pqmf_") and \
        (stored.noise_shaper is not None or not name.startswith("noise_shaper"))


def _shut(block: Residual) -> None:
    """An added block passes its input through unchanged: its last conv's magnitude
    (weight norm's g) is zero; its direction stays fresh, so the first step opens it."""
    last = block.branch.layers[-1].conv
    if parametrize.is_parametrized(last, "weight"):
        last.parametrizations.weight.original0.zero_()
    else:
        last.weight.zero_()
    last.bias.zero_()


def load_into_trainable(model: NeuroRave, path: str | Path) -> None:
    """Sets `model` (weight norm and held kernels kept, as training builds it) to the
    weights of an `.nrv` file of the same architecture, of a narrower capacity (widened
    so that it plays the same: _widened), or without the encoder's residual blocks (added
    shut: _shut), to train on from there. Each parametrized weight is set through its
    parametrization's right_inverse. A model file keeps only the posterior's mean rows, so
    the scale rows stay as `model` has them: a fresh model's narrow posterior. The PQMF is
    designed, not learned, so it stays `model`'s: a file with a shorter prototype plays
    nearly the same bands through a sharper one; a noise shaper the file lacks starts at
    gains that play its white band noise as before (_taken_from_file)."""
    check_architecture(path, model.config, growing=True)
    stored = load_nrv(path)
    source = dict(stored.named_modules())
    added = _added_encoder_blocks(model, stored.config)
    head = model.encoder.layers[-1].conv
    rows = model.config.latent_size
    with torch.no_grad():
        for index in added:
            _shut(model.encoder.layers[index])
        for name, layer in model.named_modules():
            stored_name = _stored_name(name, added)
            if stored_name is None or not _taken_from_file(name, stored):
                continue
            if isinstance(layer, ConvTranspose) and layer.bias is not None:
                layer.bias.copy_(_widened_bias(source[stored_name].bias, layer.bias))
            if not isinstance(layer, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                continue
            weight = _widened(source[stored_name].weight, layer.weight,
                              isinstance(layer, torch.nn.ConvTranspose1d))
            bias = source[stored_name].bias
            if layer is head:
                weight[rows:] = layer.weight[rows:]
                bias = torch.cat([bias[:rows], layer.bias[rows:]])
            if parametrize.is_parametrized(layer, "weight"):
                layer.weight = weight  # through the parametrization's right_inverse
            else:
                layer.weight.copy_(weight)
            if layer.bias is not None:
                layer.bias.copy_(_widened_bias(bias, layer.bias))


def load_prior(path: str | Path) -> Prior | None:
    """The torch prior of an `.nrv` file, or None if it carries none."""
    description = read_description(path)
    if "prior" not in description:
        return None
    return Prior.from_tensors(description["prior"], description["latent_size"],
                              len(description["descriptors"]), load_file(str(path)))


__all__ = ["FORMAT_VERSION", "METADATA_KEY", "WEIGHT_PRECISIONS", "convert_model_file", "describe",
           "load_nrv", "load_prior", "read_description", "save_nrv", "with_weight_precision"]
