"""The `neurorave` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _export(args: argparse.Namespace) -> None:
    import torch

    from .config import get_config
    from .model import NeuroRave
    from .nrv import save_nrv

    if args.run is not None or not args.random:
        raise SystemExit("neurorave export: exporting a training RUN arrives with training; "
                         "for now give --random (with --config NAME)")
    torch.manual_seed(args.seed)
    config = get_config(args.config, **({"causal": True} if args.causal else {}))
    model = NeuroRave(config).eval()
    provenance = {"source": "random initialisation", "config": args.config, "seed": args.seed}
    save_nrv(model, args.output, provenance=provenance)
    print(f"wrote {args.output}")
    if args.onnx or args.torchscript:
        from .export_formats import export_onnx, export_torchscript

        if args.onnx:
            export_onnx(model, args.onnx)
            print(f"wrote {args.onnx}")
        if args.torchscript:
            export_torchscript(model, args.torchscript)
            print(f"wrote {args.torchscript}")


def _info(args: argparse.Namespace) -> None:
    from .engine import Engine
    from .nrv import multiply_adds_per_second, read_description

    engine = Engine(args.model)
    rate = engine.sample_rate
    print(f"{args.model}: {rate} Hz, {engine.compression} samples per frame "
          f"({1000 * engine.compression / rate:.1f} ms), latent {engine.latent_size}")
    print(f"latency {engine.latency} samples ({1000 * engine.latency / rate:.1f} ms), "
          f"{multiply_adds_per_second(read_description(args.model)) / 1e6:.0f} M multiply-adds/s")
    for d in engine.info["descriptors"]:
        print(f"  {d['name']:<10} {d['range'][0]:>9.2f} .. {d['range'][1]:<9.2f} {d['unit']}")


def _bench(args: argparse.Namespace) -> None:
    from .bench import run_benchmark

    run_benchmark(args.model, seconds=args.seconds, blocks=args.blocks)


def _demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo(Path(args.output), config=args.config)


def _data_build(args: argparse.Namespace) -> None:
    from .datasets import build

    summary = build(args.kind, Path(args.output), size=args.size, seed=args.seed,
                    sample_rate=args.sample_rate, jobs=args.jobs)
    print(summary)


def _add_data_parser(commands: argparse._SubParsersAction) -> None:
    from .datasets import BUILDERS

    data = commands.add_parser("data", help="build data sets (NSynth's layout)")
    actions = data.add_subparsers(dest="action", required=True)
    build = actions.add_parser("build", help="render a data set from real sampled sounds")
    build.add_argument("kind", choices=sorted(BUILDERS), help="which data set")
    build.add_argument("-o", "--output", required=True, help="the folder to fill")
    build.add_argument("--size", default="small",
                       help="test (a few MB), small (default), medium or full (hours)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--sample-rate", type=int, default=16000)
    build.add_argument("--jobs", type=int, default=None, help="renders run at once")
    build.set_defaults(func=_data_build)


def _evaluate(args: argparse.Namespace) -> None:
    from .evaluate import EvalConfig, evaluate

    config = EvalConfig(windows=args.windows, window_seconds=args.window_seconds,
                        batch=args.batch, renders=args.renders, seed=args.seed)
    summary = evaluate([Path(m) for m in args.models], Path(args.dataset),
                       Path(args.output), config)
    print(f"wrote {args.output}/report.md, results.json, plots/ and renders/ for "
          f"{len(summary['models'])} models on {summary['windows']} windows")


def _add_evaluate_parser(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="reconstruction and control tables of one or more models")
    evaluate.add_argument("models", nargs="+", metavar="MODEL", help=".nrv model files")
    evaluate.add_argument("dataset", metavar="DATASET",
                          help="NSynth-layout folder (its test split) or any audio folder")
    evaluate.add_argument("-o", "--output", required=True, help="the report folder")
    evaluate.add_argument("--windows", type=int, default=32, help="test windows")
    evaluate.add_argument("--window-seconds", type=float, default=2.0)
    evaluate.add_argument("--batch", type=int, default=8, help="windows per correlation")
    evaluate.add_argument("--renders", type=int, default=2, help="transfer examples written")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.set_defaults(func=_evaluate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurorave", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="write a model file (.nrv, ONNX, TorchScript)")
    export.add_argument("run", nargs="?", help="training run folder (arrives with training)")
    export.add_argument("--config", default="small", help="tiny, small, v1 or lowlatency")
    export.add_argument("--random", action="store_true", help="randomly initialised weights")
    export.add_argument("--causal", action="store_true", help="force a causal model")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("-o", "--output", required=True, help="the .nrv file to write")
    export.add_argument("--onnx", help="also write a streaming ONNX graph here")
    export.add_argument("--torchscript", help="also write a TorchScript module (nn~) here")
    export.set_defaults(func=_export)

    info = commands.add_parser("info", help="describe a model file")
    info.add_argument("model")
    info.set_defaults(func=_info)

    bench = commands.add_parser("bench", help="real-time factors: C++ core, ONNX Runtime, "
                                              "TorchScript")
    bench.add_argument("model")
    bench.add_argument("--seconds", type=float, default=10.0, help="audio per measurement")
    bench.add_argument("--blocks", type=int, nargs="+", default=[256, 2048, 8192])
    bench.set_defaults(func=_bench)

    demo = commands.add_parser("demo", help="render descriptor sweeps into a folder")
    demo.add_argument("-o", "--output", default="demo")
    demo.add_argument("--config", default="small")
    demo.set_defaults(func=_demo)

    _add_data_parser(commands)
    _add_evaluate_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as error:
        print(f"neurorave {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
