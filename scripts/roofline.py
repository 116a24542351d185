"""The most of a core's FMA peak a model can reach at one host block size, when every
weight is read from beyond L2 once per call (a model larger than L2, as `small` and `v1`).

Each layer takes at least max(its weight bytes / bandwidth, its multiply-adds / peak): a
layer that multiplies each weight by few columns waits on memory whatever the kernel
does. The sum over layers, against the multiply-adds at peak, is the ceiling that the
"% of peak" column of `neurorave bench` can reach.

    python scripts/roofline.py small --block 2048 --peak 115 --bandwidth 29
"""
from __future__ import annotations

import argparse

import torch
from neurorave.config import get_config
from neurorave.nn.model import NeuroRave


def layer_products(config: str, block: int) -> list[tuple[int, int]]:
    """(weights, columns per call) of each convolution, a causal model playing `block`
    samples per call. A transposed convolution multiplies every weight by each input
    column; a convolution by each output column."""
    cfg = get_config(config, causal=True)
    model = NeuroRave(cfg).eval()
    layers: list[tuple[int, int]] = []

    def record(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        transposed = isinstance(module, torch.nn.ConvTranspose1d)
        columns = inputs[0].shape[-1] if transposed else output.shape[-1]
        layers.append((module.weight.numel(), columns))

    for module in model.modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            module.register_forward_hook(record)
    with torch.no_grad():
        mean, _ = model.encode_distribution(torch.zeros(1, 1, block))
        curves = torch.zeros(1, len(cfg.descriptors), mean.shape[-1])
        model.decode(mean, curves if cfg.descriptors else None)
    return layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a model preset: small, v1, lowlatency...")
    parser.add_argument("--block", type=int, default=2048, help="samples per call")
    parser.add_argument("--peak", type=float, required=True,
                        help="G multiply-adds/s of one core (`neurorave bench` measures it)")
    parser.add_argument("--bandwidth", type=float, required=True,
                        help="GB/s one core reads from L3 or memory")
    args = parser.parse_args()
    frame = get_config(args.config, causal=True).compression
    if args.block % frame:
        parser.error(f"--block must be a multiple of {args.config}'s {frame}-sample frame: a "
                     f"smaller block plays a whole frame every few calls, as block {frame} does")
    layers = layer_products(args.config, args.block)
    peak, bandwidth = args.peak * 1e9, args.bandwidth * 1e9
    arithmetic = sum(w * c for w, c in layers) / peak
    print(f"{args.config} at block {args.block}: {len(layers)} layers, "
          f"{sum(w for w, _ in layers) / 1e6:.2f} M weights, "
          f"{arithmetic * peak / 1e6:.1f} M multiply-adds per call, "
          f"{arithmetic * 1e6:.0f} us at peak")
    for name, size in (("fp32", 4), ("fp16", 2)):
        bound = sum(max(w * size / bandwidth, w * c / peak) for w, c in layers)
        print(f"  {name} weights: at least {bound * 1e6:.0f} us per call, "
              f"ceiling {100 * arithmetic / bound:.0f} % of peak")


if __name__ == "__main__":
    main()
