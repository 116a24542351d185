"""The `neurorave` command."""

# Every subcommand imports what it needs when it runs, not at the top: `neurorave --help`
# and `neurorave info` start fast and work on the numpy-only install (no torch, no
# Lightning), and the parser reads its defaults from the torch-free config.py alone.

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys
from pathlib import Path


def _export(args: argparse.Namespace) -> None:
    if args.run is not None:
        source = Path(args.run)
        if not source.exists():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(source))
        # A directory named *.nrv is a model file mistaken, not a training run.
        if source.is_file() or source.suffix.lower() == ".nrv":
            _convert_model_file(args, source)
            return
        _refuse_band_dc_options(args)
        _export_run(args, source)
        model = None  # read back from the .nrv just written
    elif args.random:
        _refuse_band_dc_options(args)
        _require_output(args)
        model = _random_model(args)
    else:
        raise ValueError("name a training RUN folder or a MODEL.nrv file, or give --random "
                         "(with --config NAME)")
    if args.onnx or args.torchscript:
        _export_other_formats(args, model)


_BLOCKER_OPTIONS = {"band_dc_cutoff": ("--band-dc-cutoff", "band_dc_cutoff_hz"),
                    "band_dc_period": ("--band-dc-period", "band_dc_period"),
                    "band_comb_cutoff": ("--band-comb-cutoff", "band_comb_cutoff_hz")}


def _band_dc_options(args: argparse.Namespace) -> dict:
    """The bands' DC blocker options given, as ModelConfig fields."""
    return {field: getattr(args, key) for key, (_, field) in _BLOCKER_OPTIONS.items()
            if getattr(args, key) is not None}


def _band_dc_option_name(args: argparse.Namespace) -> str:
    return next(flag for key, (flag, _) in _BLOCKER_OPTIONS.items()
                if getattr(args, key) is not None)


def _refuse_band_dc_options(args: argparse.Namespace) -> None:
    if _band_dc_options(args):
        raise ValueError(f"{_band_dc_option_name(args)} converts a MODEL.nrv file; a run's "
                         "model has the DC blockers it trained with (a new run: --set "
                         "band_dc_cutoff_hz=HZ, band_dc_period=N, band_comb_cutoff_hz=HZ)")


def _require_output(args: argparse.Namespace) -> None:
    if not args.output:
        raise ValueError("give -o MODEL.nrv, the model file to write")


def _export_run(args: argparse.Namespace, run: Path) -> None:
    from .train.run_folder import export_run

    if args.random:
        raise ValueError("give either a training RUN or --random, not both")
    if args.prior:
        raise ValueError("--prior goes with --random; a run's own prior comes from "
                         "`neurorave train-prior RUN`")
    _require_output(args)
    export_run(run, args.output, args.checkpoint, weights=args.weights,
               last_weights=args.last_weights)
    print(f"wrote {args.output}")


def _convert_model_file(args: argparse.Namespace, path: Path) -> None:
    """MODEL.nrv -> another .nrv (--weights), ONNX and/or TorchScript: the weights the file
    holds, as they play."""
    from .format.nrv import convert_model_file, load_nrv
    from .play.engine import Engine

    if args.checkpoint or args.random or args.prior:
        raise ValueError(f"{path}: a model file is converted with -o (and --weights), --onnx "
                         "and --torchscript; --checkpoint, --random and --prior go with a "
                         "training RUN folder or with --random")
    if _band_dc_options(args) and not args.output:
        raise ValueError(f"{path}: {_band_dc_option_name(args)} writes another model file: "
                         "give -o OUT.nrv")
    if not (args.output or args.onnx or args.torchscript):
        raise ValueError(f"{path}: give -o OUT.nrv (with --weights fp16 for half-size "
                         "weights), --onnx OUT.onnx and/or --torchscript OUT.ts to convert it")
    # The core's loader checks every byte and says what is wrong, naming the file;
    # safetensors' own errors are vaguer. A file the core cannot play is not converted.
    Engine(path)
    if args.output:
        config = convert_model_file(path, args.output, args.weights,
                                    _band_dc_options(args))["config"]
        blocker = f", the bands' DC blockers: {_band_dc_blockers(config)}" \
            if _band_dc_options(args) else ""
        print(f"wrote {args.output} ({args.weights} weights{blocker})")
    if args.onnx or args.torchscript:
        _export_other_formats(args, load_nrv(args.output or path))


def _blend(args: argparse.Namespace) -> None:
    from .format.nrv import blend_model_files, read_description
    from .play.engine import Engine

    for path in (args.first, args.second):
        Engine(path)   # the core's loader names the file and what is wrong with it
    blend_model_files(args.first, args.second, args.weight, args.output)
    Engine(args.output)
    had_prior = any("prior" in read_description(path) for path in (args.first, args.second))
    print(f"wrote {args.output}: {1 - args.weight:g} x {args.first} + {args.weight:g} x "
          f"{args.second}" + (f" (without a prior: `neurorave train-prior {args.output} "
                              "--data DATA -o FILE` fits one)" if had_prior else ""))


def _random_model(args: argparse.Namespace):
    import torch

    from .config import get_config
    from .format.nrv import save_nrv
    from .nn.model import NeuroRave

    torch.manual_seed(args.seed)
    config = get_config(args.config, **({"causal": True} if args.causal else {}))
    model = NeuroRave(config).eval()
    prior = None
    if args.prior:
        from .nn.prior import Prior

        prior = Prior(config.latent_size, len(config.descriptors), args.prior_hidden).eval()
    provenance = {"source": "random initialisation", "config": args.config, "seed": args.seed}
    save_nrv(model, args.output, provenance=provenance, prior=prior, weights=args.weights)
    print(f"wrote {args.output}")
    return model


def _export_other_formats(args: argparse.Namespace, model) -> None:
    from .format.nrv import load_nrv
    from .format.onnx_torchscript import export_onnx, export_torchscript

    model = model if model is not None else load_nrv(args.output)  # a run's fresh .nrv
    if args.onnx:
        export_onnx(model, args.onnx)
        print(f"wrote {args.onnx}")
    if args.torchscript:
        export_torchscript(model, args.torchscript)
        print(f"wrote {args.torchscript}")


def _preprocess(args: argparse.Namespace) -> None:
    from .config import get_config
    from .data.preprocess import PreprocessConfig, preprocess

    model = get_config(args.config)
    config = PreprocessConfig.for_model(
        model.sample_rate, model.compression, args.n_signal, hop=args.hop,
        **_given(args, "silence_db", "valid_fraction"))
    # A bar only for a person watching: piped or logged, stderr keeps just the error line.
    print(preprocess(args.audio_dir, args.output, config, show_progress=sys.stderr.isatty()))


def _given(args: argparse.Namespace, *names: str) -> dict:
    """The options among `names` given on the command line. The others are left out, so
    that the function or config they go to applies its own defaults: one place for each."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _run_options(args: argparse.Namespace):
    from .config import RunOptions

    devices = int(args.devices) if args.devices.isdigit() else args.devices
    return RunOptions(args.accelerator, devices, args.num_nodes, args.strategy, args.precision,
                      args.workers, args.checkpoint_every, args.validate_every,
                      args.validation_batches, args.log_every, not args.no_progress,
                      args.max_minutes, args.max_cpu_minutes)


def _train(args: argparse.Namespace) -> None:
    from .config import TrainConfig
    from .train.trainer import hold_upsampling, model_options, resume_run, start_run

    if args.init and args.resume:
        raise ValueError("--init starts a new run from a model; --resume goes on with a run")
    if args.resume:
        if args.hold_upsampling:
            if removed := hold_upsampling(args.resume):
                print(f"{args.resume}: upsampling kernels held (ripple removed: "
                      f"{', '.join(f'{r:.0%}' for r in removed)} of their norm)",
                      file=sys.stderr)
        resume_run(args.resume, _run_options(args), steps=args.steps,
                   phase1_steps=args.phase1_steps, settings=_parse_settings(args.set))
        return
    if args.preset_recipe and not args.init:
        raise ValueError("--preset-recipe goes with --init: a run from a model file takes "
                         "the file's recipe unless asked not to")
    if args.hold_upsampling:
        raise ValueError("--hold-upsampling turns a run's kernels held before resuming it; "
                         "a new run holds them with --set held_upsampling=true")
    if not args.dataset or not args.output:
        raise ValueError("give DATASET and -o RUN (or --resume RUN)")
    options = _recipe_of_init(args.init) if args.init and not args.preset_recipe else {}
    options.update({k: getattr(args, k) for k in ("config", "causal", "mode", "batch_size",
                                                  "seed", "learning_rate")
                    if getattr(args, k) is not None})
    if args.steps is not None:
        options["steps"] = args.steps
        # 0 is a request (adversarial fine-tuning of an --init model), not "unset"
        options["phase1_steps"] = (args.steps * 2 // 3 if args.phase1_steps is None
                                   else args.phase1_steps)
    elif args.phase1_steps is not None:
        options["phase1_steps"] = args.phase1_steps
    if args.descriptors is not None:
        options["descriptors"] = tuple(n for n in args.descriptors.split(",") if n)
    if args.init:  # the file's architecture, unless --set asks otherwise (then checked)
        options.update(model_options(args.init))
    options.update(_parse_settings(args.set))
    start_run(args.dataset, args.output, TrainConfig.from_dict(options), _run_options(args),
              init_model=args.init)


def _recipe_of_init(model: str) -> dict:
    """The training options the model file records from its run, said on stderr."""
    from .train.trainer import recipe_of

    recipe = recipe_of(model)
    if recipe:
        changed = ", ".join(_off_defaults(recipe)) or "the defaults"
        print(f"{model}: trains with its run's recipe ({changed}); options given here "
              "change it, --preset-recipe leaves it", file=sys.stderr)
    return recipe


def _off_defaults(recipe: dict) -> list[str]:
    """KEY=VALUE for each option of a recorded recipe that differs from the default."""
    from .config import TrainConfig

    defaults = json.loads(json.dumps(TrainConfig().to_dict()))   # as a file holds them
    return [f"{k}={json.dumps(v)}" for k, v in recipe.items() if v != defaults.get(k)]


def _parse_settings(settings: list[str]) -> dict:
    """--set KEY=VALUE for any TrainConfig field; VALUE is read as JSON when it can be."""
    parsed = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise ValueError(f"--set {setting!r}: expected KEY=VALUE")
        try:
            parsed[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.strip()] = value
    return parsed


def _info(args: argparse.Namespace) -> None:
    from .format.cost import multiply_adds_per_second
    from .play.default_model import resolve_model
    from .play.engine import Engine

    args.model = resolve_model(args.model)
    engine = Engine(args.model)
    description = engine.description
    rate = engine.sample_rate
    print(f"{args.model}: {rate} Hz, {engine.compression} samples per frame "
          f"({1000 * engine.compression / rate:.1f} ms), latent {engine.latent_size}")
    print(f"latency {engine.latency} samples ({1000 * engine.latency / rate:.1f} ms), "
          f"{multiply_adds_per_second(description) / 1e6:.0f} M multiply-adds/s")
    for d in engine.info["descriptors"]:
        print(f"  {d['name']:<10} {d['range'][0]:>9.2f} .. {d['range'][1]:<9.2f} {d['unit']}")
    prior = description.get("prior")
    print(f"prior: GRU {prior['hidden']} x {prior['layers']}" if prior else "prior: none")
    print(f"kernel: {_core_kernel()}")
    print(f"weights: {'fp16' if engine.info['half_weights'] else 'fp32'}, "
          f"{engine.info['weight_bytes'] / 2**20:.1f} MiB" +
          (": more than stays in cache, fetched ahead from memory as they play"
           if engine.info["streamed_weights"] else ""))
    config = description["config"]
    print(f"filter bank: {config['n_bands']} bands, {config['pqmf_taps_per_band']} taps per "
          "band")
    print(f"bands' DC blockers: {_band_dc_blockers(config)}")
    subbands = config.get("noise_subbands", 1)
    print("noise: " + ("none" if not config.get("noise", True) else "white in each band"
                       if subbands == 1 else f"{subbands} sub-bands per band, gains every frame"))
    recipe = description.get("provenance", {}).get("recipe")
    print("recipe: " + ("not recorded" if recipe is None else
                        f"{', '.join(_off_defaults(recipe)) or 'the defaults'} "
                        "(a run --init from it trains so)"))


def _band_dc_blockers(config: dict) -> str:
    """Each blocker's cutoff and period, in words."""
    frame = math.prod(config["ratios"])
    parts = []
    for cutoff, period in ((config.get("band_dc_cutoff_hz", 0.0), config.get("band_dc_period", 1)),
                           (config.get("band_comb_cutoff_hz", 0.0), frame)):
        if cutoff:
            every = "sample" if period == 1 else "frame" if period == frame else \
                f"{period} band samples"
            parts.append(f"{cutoff:g} Hz every {every}")
    return ", then ".join(parts) or "none"


def _core_kernel() -> str:
    from . import _core

    return f"{_core.active_kernel()}, of {', '.join(_core.runnable_kernels())} on this CPU"


def _bench(args: argparse.Namespace) -> None:
    from .play.bench import run_benchmark
    from .play.default_model import resolve_model

    run_benchmark(resolve_model(args.model), core_only=args.core_only,
                  **_given(args, "seconds", "blocks"))


def _demo(args: argparse.Namespace) -> None:
    from .eval.demo import run_demo

    run_demo(Path(args.output), args.model)


def _data_build(args: argparse.Namespace) -> None:
    from .data.builders import build

    summary = build(args.kind, Path(args.output),
                    **_given(args, "size", "seed", "sample_rate", "jobs"))
    print(summary)


def _add_data_parser(commands: argparse._SubParsersAction) -> None:
    from .config import DATASET_KINDS

    data = commands.add_parser("data", help="build data sets (NSynth's layout)")
    actions = data.add_subparsers(dest="action", required=True)
    build = actions.add_parser("build", help="render a data set from real sampled sounds")
    build.add_argument("kind", choices=sorted(DATASET_KINDS), help="which data set")
    build.add_argument("-o", "--output", required=True, help="the folder to fill")
    build.add_argument("--size",
                       help="test (a few MB), small (default), medium or full (hours)")
    build.add_argument("--seed", type=int)
    build.add_argument("--sample-rate", type=int)
    build.add_argument("--jobs", type=int, help="renders run at once")
    build.set_defaults(func=_data_build)


def _evaluate(args: argparse.Namespace) -> None:
    from .eval.evaluate import EvalConfig, evaluate

    config = EvalConfig(**_given(args, "windows", "window_seconds", "batch", "renders",
                                 "sweep_windows", "fidelity_notes", "seed"))
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
    evaluate.add_argument("--windows", type=int, help="test windows")
    evaluate.add_argument("--window-seconds", type=float)
    evaluate.add_argument("--batch", type=int, help="windows per correlation")
    evaluate.add_argument("--renders", type=int, help="transfer examples written")
    evaluate.add_argument("--sweep-windows", type=int,
                          help="windows each fader sweep is played on (default 8)")
    evaluate.add_argument("--fidelity-notes", type=int,
                          help="test notes scored for pitch and latent (default every one)")
    evaluate.add_argument("--seed", type=int)
    evaluate.set_defaults(func=_evaluate)


def build_parser() -> argparse.ArgumentParser:
    from .config import WEIGHT_PRECISIONS

    parser = argparse.ArgumentParser(prog="neurorave", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="write a model file (.nrv, ONNX, TorchScript)")
    export.add_argument("run", nargs="?", metavar="RUN_OR_MODEL",
                        help="a training run folder to export, or a .nrv model file to "
                             "convert (with -o and --weights, --onnx, --torchscript)")
    export.add_argument("--checkpoint", help="a checkpoint of the run (default: the last)")
    export.add_argument("--last-weights", action="store_true",
                        help="a run's last weights, not their average (where the run "
                             "keeps one: --set weight_average_decay=D)")
    export.add_argument("--config", default="small", help="tiny, small, v1 or lowlatency")
    export.add_argument("--random", action="store_true", help="randomly initialised weights")
    export.add_argument("--causal", action="store_true", help="force a causal model")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--prior", action="store_true",
                        help="with --random: add a randomly initialised prior too")
    export.add_argument("--prior-hidden", type=int, default=64, help="its GRU width")
    export.add_argument("-o", "--output", help="the .nrv file to write (runs and --random)")
    export.add_argument("--onnx", help="also write a streaming ONNX graph here")
    export.add_argument("--torchscript", help="also write a TorchScript module (nn~) here")
    export.add_argument("--weights", choices=WEIGHT_PRECISIONS, default=WEIGHT_PRECISIONS[0],
                        help="how the .nrv stores the network's weights: fp16 halves the "
                             "file and the bytes read per frame (default %(default)s)")
    export.add_argument("--band-dc-cutoff", type=float, metavar="HZ",
                        help="with a MODEL.nrv and -o: set its bands' DC blocker to this "
                             "cutoff (0: none); a model file from before the blocker gains it "
                             "without training")
    export.add_argument("--band-dc-period", type=int, metavar="N",
                        help="with a MODEL.nrv and -o: its bands' DC blocker compares each "
                             "band sample with the one N before (1, or a divisor of a frame's "
                             "band samples: a comb that also notches every multiple of the "
                             "band rate / N)")
    export.add_argument("--band-comb-cutoff", type=float, metavar="HZ",
                        help="with a MODEL.nrv and -o: a second blocker every frame at this "
                             "cutoff (0: none), a notch at every multiple of the frame rate")
    export.set_defaults(func=_export)

    _add_preprocess_parser(commands)
    _add_train_parser(commands)
    _add_train_prior_parser(commands)
    _add_summarize_parser(commands)

    blend = commands.add_parser(
        "blend", help="a model between two fine-tunes of one model, weight by weight",
        description="Writes (1 - W) FIRST + W SECOND, weight by weight. For two models "
                    "fine-tuned from one model on one data set (e.g. each pulled towards "
                    "another fader): an average of two unrelated models plays neither.")
    blend.add_argument("first", help="a .nrv model file")
    blend.add_argument("second", help="a .nrv model file of the same architecture")
    blend.add_argument("--weight", type=float, default=0.5, metavar="W",
                       help="the second's share, in [0, 1] (default %(default)s)")
    blend.add_argument("-o", "--output", required=True, help="the .nrv file to write")
    blend.set_defaults(func=_blend)

    info = commands.add_parser("info", help="describe a model file")
    info.add_argument("model", nargs="?", help="a .nrv file (default: the default model)")
    info.set_defaults(func=_info)

    bench = commands.add_parser("bench", help="real-time factors: C++ core, ONNX Runtime, "
                                              "TorchScript")
    bench.add_argument("model", nargs="?", help="a .nrv file (default: the default model)")
    bench.add_argument("--seconds", type=float, help="audio per measurement")
    bench.add_argument("--blocks", type=int, nargs="+")
    bench.add_argument("--core-only", action="store_true",
                       help="the core alone (fp32 and fp16 weights), without ONNX Runtime "
                            "and TorchScript")
    bench.set_defaults(func=_bench)

    demo = commands.add_parser("demo", help="hear what the knobs do: transfers, fader sweeps "
                                            "and generation, into a folder")
    demo.add_argument("-o", "--output", default="demo")
    demo.add_argument("--model", help="a .nrv file (default: the default model)")
    demo.set_defaults(func=_demo)

    _add_data_parser(commands)
    _add_evaluate_parser(commands)
    return parser


def _add_preprocess_parser(commands) -> None:
    pre = commands.add_parser("preprocess", help="cut a folder of audio into a training set")
    pre.add_argument("audio_dir")
    pre.add_argument("-o", "--output", required=True, help="the data set folder to write")
    pre.add_argument("--config", default="small", help="the model it is for (rate, frame)")
    pre.add_argument("--n-signal", type=int, help="samples per window (default 64 frames)")
    pre.add_argument("--hop", type=int, help="samples between windows (default half)")
    pre.add_argument("--silence-db", type=float)
    pre.add_argument("--valid-fraction", type=float)
    pre.set_defaults(func=_preprocess)


def _add_train_parser(commands) -> None:
    from .config import MODES, RunOptions, TrainConfig

    learn, run = TrainConfig(), RunOptions()
    train = commands.add_parser("train", help="train F-RAVE, C-RAVE or RAVE on a data set")
    train.add_argument("dataset", nargs="?", help="a folder made by `neurorave preprocess`")
    train.add_argument("-o", "--output", help="the run folder to create")
    train.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint")
    train.add_argument("--init", metavar="MODEL",
                       help="a new run starts from the weights of this .nrv file (fine-tuning "
                            "on DATASET); its architecture sets --config, --causal, "
                            "--descriptors and held kernels, and the recipe it records "
                            "(the options of its run) is this run's unless given here")
    train.add_argument("--preset-recipe", action="store_true",
                       help="with --init: the default options, not the model's recipe")
    train.add_argument("--config", help=f"model preset (default {learn.config})")
    train.add_argument("--causal", action="store_true", default=None)
    train.add_argument("--mode", choices=MODES, help=f"default {learn.mode}")
    train.add_argument("--descriptors",
                       help=f"comma-separated (default {','.join(learn.descriptors)})")
    train.add_argument("--steps", type=int,
                       help=f"batches in all (default {learn.steps // 1000}k)")
    train.add_argument("--phase1-steps", type=int,
                       help="then adversarial fine-tuning (with --resume: moves a start "
                            "not reached yet)")
    train.add_argument("--batch-size", type=int, help=f"default {learn.batch_size}")
    train.add_argument("--learning-rate", type=float, help=f"default {learn.learning_rate}")
    train.add_argument("--seed", type=int, help=f"default {learn.seed}")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="any other training option, e.g. latent_delay_steps=500 (with "
                            "--resume: those that leave the model as it is)")
    train.add_argument("--hold-upsampling", action="store_true",
                       help="with --resume: first turn the run's upsampling kernels into "
                            "the nearest held ones (no ripple at the frame rate)")
    hardware = train.add_argument_group("how to run (may change on --resume)")
    hardware.add_argument("--accelerator", default=run.accelerator, help="cpu, gpu or auto")
    hardware.add_argument("--devices", default=str(run.devices), help="count, or 'auto'")
    hardware.add_argument("--num-nodes", type=int, default=run.num_nodes)
    hardware.add_argument("--strategy", default=run.strategy, help="auto or ddp")
    hardware.add_argument("--precision", default=run.precision,
                          help="32-true, bf16-mixed, 16-mixed")
    hardware.add_argument("--workers", type=int, default=run.num_workers,
                          help="data loader processes")
    hardware.add_argument("--checkpoint-every", type=int, default=run.checkpoint_every)
    hardware.add_argument("--validate-every", type=int, default=run.validate_every)
    hardware.add_argument("--validation-batches", type=int, default=run.validation_batches)
    hardware.add_argument("--log-every", type=int, default=run.log_every)
    hardware.add_argument("--no-progress", action="store_true", default=not run.progress_bar)
    hardware.add_argument("--max-minutes", type=float, default=run.max_minutes,
                          help="stop this session after so long, checkpointed; "
                               "`--resume` continues")
    hardware.add_argument("--max-cpu-minutes", type=float, default=run.max_cpu_minutes,
                          help="the same, counting this process's CPU time (runs compared "
                               "at equal CPU time on a busy machine)")
    train.set_defaults(func=_train)


def _train_prior(args: argparse.Namespace) -> None:
    from .config import PriorConfig
    from .train.prior_fit import file_checkpoint, train_prior, train_prior_for_file
    from .train.run_folder import PRIOR_CHECKPOINT

    cfg = PriorConfig(hidden=args.hidden, layers=args.layers, steps=args.steps,
                      batch_size=args.batch_size, learning_rate=args.learning_rate,
                      checkpoint_every=args.checkpoint_every, seed=args.seed)
    progress = not args.no_progress
    if Path(args.run).is_file():   # a model file, e.g. a blend: no run to keep it in
        if not (args.data and args.output):
            raise ValueError(f"{args.run}: a model file needs --data (the data set it was "
                             "trained on) and -o (the file to write with its prior)")
        figures = train_prior_for_file(args.run, args.data, args.output, cfg, progress,
                                       args.max_minutes)
        if not _said_stopped(figures, cfg.steps, file_checkpoint(args.output)):
            print(f"wrote {args.output}: {args.run} with a prior trained for "
                  f"{figures['step']} batches, validation NLL {figures['valid_nll']:.4f} "
                  "nats per value")
        return
    if args.data or args.output:
        raise ValueError(f"{args.run}: --data and -o are for a model file; a run keeps its "
                         f"prior, and `neurorave export {args.run}` writes it")
    figures = train_prior(args.run, cfg, progress, args.max_minutes)
    if not _said_stopped(figures, cfg.steps, Path(args.run) / PRIOR_CHECKPOINT):
        print(f"{args.run}: prior trained for {figures['step']} batches, validation NLL "
              f"{figures['valid_nll']:.4f} nats per value; `neurorave export {args.run}` "
              "now includes it")


def _said_stopped(figures: dict, steps: int, kept_in: Path) -> bool:
    """Says where a fit the time limit stopped is kept; False where it finished."""
    if "stopped_at" not in figures:
        return False
    print(f"stopped after {figures['stopped_at']} of {steps} batches (--max-minutes); "
          f"kept in {kept_in}: the same command goes on from there")
    return True


def _summarize(args: argparse.Namespace) -> None:
    from .train.summary import plot_runs, summarize_run, summary_table

    summaries = [summarize_run(run) for run in args.runs]
    table = summary_table(summaries)
    print(table, end="")
    if args.output:
        Path(args.output).write_text(table)
    if args.json:
        Path(args.json).write_text(json.dumps([s.to_dict() for s in summaries], indent=1))
    if args.plot:
        plot_runs(args.runs, args.plot)
        print(f"curves: {args.plot}")


def _add_summarize_parser(commands) -> None:
    summary = commands.add_parser("summarize", help="what training runs reached: speed, "
                                                    "losses, latent probe accuracy")
    summary.add_argument("runs", nargs="+", help="training run folders")
    summary.add_argument("-o", "--output", help="also write the table to this .md file")
    summary.add_argument("--json", help="also write the figures to this .json file")
    summary.add_argument("--plot", help="a PNG of the curves, runs overlaid")
    summary.set_defaults(func=_summarize)


def _add_train_prior_parser(commands) -> None:
    from .config import PriorConfig

    defaults = PriorConfig()
    prior = commands.add_parser("train-prior", help="fit the prior that lets a trained model "
                                                    "play with no input")
    prior.add_argument("run", help="a training run folder (neurorave train -o RUN), or a "
                                   "model file (.nrv) with --data and -o")
    prior.add_argument("--data", help="for a model file: the data set it was trained on")
    prior.add_argument("-o", "--output", help="for a model file: the file to write, the "
                                              "model with its prior")
    prior.add_argument("--hidden", type=int, default=defaults.hidden)
    prior.add_argument("--layers", type=int, default=defaults.layers)
    prior.add_argument("--steps", type=int, default=defaults.steps)
    prior.add_argument("--batch-size", type=int, default=defaults.batch_size)
    prior.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    prior.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    prior.add_argument("--seed", type=int, default=defaults.seed)
    prior.add_argument("--max-minutes", type=float, default=None,
                       help="stop after this many minutes, saved; the same command then "
                            "goes on from where it stopped")
    prior.add_argument("--no-progress", action="store_true")
    prior.set_defaults(func=_train_prior)


DEBUG_VARIABLE = "NEURORAVE_DEBUG"
LONGEST_LINE = 600  # characters of an error message

# What bad files, folders and options raise, here and in the libraries: one line, exit 1.
# OSError covers a missing, unreadable or unwritable file, a folder where a file belongs,
# a full disk...; ModelError (the core's loader) is a ValueError.
USER_ERRORS = (ValueError, KeyError, OSError, RuntimeError)
# What `pip install neurorave` leaves out: training, export, evaluation and the demo
# come with `pip install 'neurorave[train]'` (pyproject.toml).
TRAIN_EXTRA_MODULES = {"torch", "lightning", "safetensors", "onnx", "onnxruntime", "tqdm",
                       "soundfile", "soxr", "matplotlib", "tensorboard", "scipy", "librosa"}


def error_line(error: BaseException) -> str:
    """`error` as one line that starts with the file it is about, when there is one."""
    if isinstance(error, OSError) and error.strerror:
        names = [str(n) for n in (error.filename, error.filename2) if n is not None]
        text = f"{' -> '.join(names)}: {error.strerror}" if names else error.strerror
    elif isinstance(error, KeyError) and error.args:
        text = str(error.args[0])  # str(KeyError) quotes its message
    else:
        text = str(error) or type(error).__name__
    line = " ".join(text.split())
    # torch's own messages can list every tensor: the start says what and where.
    return line if len(line) <= LONGEST_LINE else line[:LONGEST_LINE - 3] + "..."


def user_message(error: Exception) -> str:
    """What the one line says after `neurorave COMMAND: `."""
    if isinstance(error, ModuleNotFoundError) and error.name in TRAIN_EXTRA_MODULES:
        return (f"needs the training extras, pip install 'neurorave[train]' "
                f"(no module named {error.name})")
    if isinstance(error, USER_ERRORS):
        return error_line(error)
    # Not a check of ours and not an OSError: a bug, or a file broken in a way no check
    # foresaw. Either way the user gets the one line the contract promises; the type name
    # keeps a bug recognisable and the variable brings its traceback back.
    return (f"unexpected {type(error).__name__}: {error_line(error)} "
            f"(run with {DEBUG_VARIABLE}=1 for the traceback)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = " ".join(filter(None, (args.command, getattr(args, "action", None))))
    try:
        args.func(args)
        sys.stdout.flush()   # here, so that a reader gone early is caught below
    except BrokenPipeError:
        # `neurorave info | head -3`: the reader has what it wanted; the rest goes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        print(f"neurorave {command}: {user_message(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
