"""The command line: `python -m zoo list | train | demo | eval | finetune | bench`.

Expected failures (unknown preset, bad dimension, damaged checkpoint, non-finite loss,
a run directory in use, any `OSError` such as a read-only file system) print one line to
stderr and exit non-zero, without a traceback; Ctrl-C during training saves a checkpoint
and exits 130, SIGTERM likewise with 143. A run that could not be written anywhere exits
1.
"""

import argparse
import dataclasses
import json
import sys
import time
import types
import typing
import warnings
from pathlib import Path

from ._config import ModelConfig, TrainConfig, with_cadence
from ._presets import RECIPES

PROG = "python -m zoo"
# The default run (`python -m zoo train` with no preset, or `python -m zoo demo`): two-body
# Allen-Cahn at d = 100 with the best recipe (Adam, then the natural gradient), shortened
# to take under two minutes on two CPU cores.
DEMO_DIM = 100
DEMO_STEPS = 1200
DEMO_EVAL_EVERY = 200


class CLIError(Exception):
    """A usage error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CLIError(f"{message} (see `{self.prog} --help`)")


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _train_config(text: str):
    """A nested `TrainConfig` (the warm-up phase) as JSON, e.g. '{"steps": 2000}'."""
    try:
        return TrainConfig.from_dict(json.loads(text))
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(f"expected a TrainConfig as JSON: {e}") from None


def _type_of(field: dataclasses.Field):
    """argparse `type` and `choices` for a config field."""
    hint = field.type
    if hint == "TrainConfig | None":
        return _train_config, None
    if hint is bool:
        return _bool, None
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return str, list(typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):  # `int | None`: parse as int
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], None
    return hint, None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _directory(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "expected a directory, got an empty string (which would mean the current "
            "directory; write `.` for that)"
        )
    return Path(text)


def _add_config_flags(parser, cls, prefix: str = "", skip=()):
    group = parser.add_argument_group(f"{cls.__name__} fields (default: the preset's)")
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        kind, choices = _type_of(field)
        flag = "--" + prefix + field.name.replace("_", "-")
        group.add_argument(
            flag,
            dest=f"{cls.__name__}.{field.name}",
            type=kind,
            choices=choices,
            default=argparse.SUPPRESS,
            metavar=None if choices else field.name.upper(),
        )


def _given(args, cls) -> dict:
    prefix = cls.__name__ + "."
    return {k[len(prefix) :]: v for k, v in vars(args).items() if k.startswith(prefix)}


def _add_run_flags(parser):
    parser.add_argument(
        "--out", type=_directory, help="run directory (default runs/<preset>-d<dim>)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a run in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plots", action="store_true", help="no PNG plots")
    parser.add_argument(
        "--until", type=_positive_int, help="stop after this many steps (resume later)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Prebuilt physics-informed PDE solvers (stde-zoo).")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    sub.add_parser("list", help="presets and pretrained solvers")

    for name, text in (
        ("train", "train a preset (no preset: the demo)"),
        ("demo", "train the default preset and compare with published"),
    ):
        p = sub.add_parser(name, help=text)
        if name == "train":
            p.add_argument("preset", nargs="?", help="preset name (`list`); default: the demo")
            p.add_argument(
                "--resume",
                type=_directory,
                metavar="DIR",
                help="continue the run in DIR (with it: --steps, --lr, --rollbacks)",
            )
        p.add_argument("--dim", type=_positive_int, help="dimension (default: the preset's)")
        p.add_argument("--pde-seed", type=int, default=0, help="seed of the PDE's coefficients")
        p.add_argument(
            "--recipe",
            choices=RECIPES,
            default="best",
            help="best: the zoo's recommendation; protocol: the published protocol",
        )
        _add_run_flags(p)
        _add_config_flags(p, TrainConfig)
        _add_config_flags(p, ModelConfig)

    p = sub.add_parser("eval", help="evaluate a run directory or a pretrained solver")
    p.add_argument("source", help="run directory or pretrained name (e.g. allen-cahn-twobody-d100)")
    p.add_argument("--dim", type=_positive_int, help="with a preset name: <preset>-d<dim>")
    p.add_argument(
        "--n-points", type=_positive_int, help="test points (default 20 000; field PDEs only)"
    )
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--seed", type=int, help="test-stream seed (default: the run's test_seed)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("finetune", help="fine-tune a solver on a PDE, optionally freezing layers")
    p.add_argument("source", help="run directory or pretrained name")
    p.add_argument("--pde", help="preset to fine-tune on (default: the source's PDE)")
    p.add_argument("--pde-seed", type=int, help="seed of the new PDE (default: the source's)")
    p.add_argument(
        "--freeze",
        default="none",
        choices=["none", "first", "last", "all-but-first", "all-but-last"],
    )
    p.add_argument(
        "--reset",
        default="none",
        choices=["none", "last"],
        help="'last': start with the output layer at zero (keep features, not the output)",
    )
    _add_run_flags(p)
    _add_config_flags(p, TrainConfig)

    p = sub.add_parser("bench", help="time the training step of a preset (steady state)")
    p.add_argument("preset", nargs="?", default="allen-cahn-twobody")
    p.add_argument("--dim", type=_positive_int, default=DEMO_DIM)
    p.add_argument("--steps", type=_positive_int, default=20, help="steps per timed window")
    p.add_argument("--windows", type=_positive_int, default=5, help="timed windows (median)")
    p.add_argument("--json", action="store_true")
    _add_config_flags(p, TrainConfig, skip=("steps",))
    _add_config_flags(p, ModelConfig)
    return parser


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.2e}"


def _print_summary(solver) -> None:
    card, cfg = solver.card, solver.config
    pde = cfg.pde
    its = card.get("its_per_s")
    where = card.get("run_dir")
    head = f"{cfg.preset or 'pde'} d={pde.dim if pde else '?'}"
    print(
        f"\n{head}: {card.get('steps')} steps, {cfg.train.precision}, "
        f"{_estimator_label(cfg.train)}, {card.get('train_time_s', 0):.0f} s training"
        + (f", {its:.1f} it/s" if its else "")
        + (f" -> {where}" if where else "")
    )
    if cfg.evaluation == "point":
        print(f"  u at the reference point  {card.get('u_reference_point')}")
        print(f"  reference value           {card.get('reference_value')}")
        if card.get("rel_error") is not None:
            print(f"  relative error            {_fmt(card['rel_error'])}")
        return
    print(
        f"  final rel-L2     {_fmt(card.get('rel_l2'))}   (final model, "
        f"{card.get('n_points')} test points)"
    )
    print(f"  min rel-L2       {_fmt(card.get('rel_l2_min'))}   (over evaluations)")
    from pdes._trivial import trivial_fit_formula

    print(
        f"  trivial fit      {_fmt(card.get('trivial_rel_l2'))}   (best fit "
        f"{trivial_fit_formula(solver.pde.ansatz)}, one scalar K)"
    )
    ratio = card.get("rel_l2_over_trivial")
    if ratio is None and card.get("rel_l2") is not None and card.get("trivial_rel_l2"):
        ratio = card["rel_l2"] / card["trivial_rel_l2"]
    if ratio is not None:
        print(f"  error / trivial  {ratio:.3g}       (final rel-L2 over the trivial fit)")
    # The card holds a published figure only for a run in the published protocol's setting.
    pub = card.get("published_rel_l2")
    if pub is not None:
        note = "  [three-body: different forcing]" if pde and "threebody" in pde.name else ""
        print(f"  published        {_fmt(pub)}   (10 000 steps, min over evaluations, A100){note}")
        return
    from ._published import published

    row = published(pde.name, pde.dim) if pde is not None and cfg.preset else None
    if row is not None and cfg.init_from is None:
        # Another recipe on a published PDE: the protocol's figure is the bar to clear,
        # not a reproduction (it was measured on another random instance: compare the
        # error / trivial fit across instances).
        print(
            f"  published        {_fmt(row['rel_l2'])}   (the protocol's figure, another "
            f"random instance; reproduce it with `{PROG} train {cfg.preset} --dim "
            f"{pde.dim} --recipe protocol`)"
        )
    elif row is not None:
        print("  published        -          (a fine-tune is not the published protocol's setting)")
    else:
        print("  published        -          (no published figure for this setting)")


def _estimator_label(train) -> str:
    from ._presets import estimator_label

    return estimator_label(train)


def _default_out(preset: str, dim: int) -> Path:
    base = Path("runs") / f"{preset}-d{dim}"
    out, k = base, 1
    while out.exists():
        k += 1
        out = Path(f"{base}-{k}")
    return out


def _cmd_list(args) -> int:
    from ._presets import estimator_label, get_preset, get_pretrained, names, pretrained_names
    from ._solver import shipped_names

    print("Presets (python -m zoo train PRESET --dim D):")
    for n in names():
        p = get_preset(n)
        dim = f"d={p.default_dim}" + (" (fixed)" if p.fixed_dim else "")
        train = p.recipe("best")[1]  # The default recipe at the default dimension.
        how = f"{train.optimizer}, {estimator_label(train)}"
        print(f"  {n:28s} {dim:12s} {how:40s} {p.description}")
    print("\nPretrained (zoo.load(NAME), python -m zoo eval NAME):")
    for n in pretrained_names():
        entry = get_pretrained(n)
        shipped = n in shipped_names()
        status = "shipped" if shipped else "not shipped (train it: scripts/train_pretrained.py)"
        print(f"  {n:28s} {entry.train.steps} steps   {status}")
    return 0


def _configs(args):
    train_given, model_given = _given(args, TrainConfig), _given(args, ModelConfig)
    return train_given, model_given


def _cmd_train(args, demo: bool) -> int:
    import jax

    from ._presets import DEFAULT_PRESET, get_preset
    from ._trainer import resume, train

    train_given, model_given = _configs(args)
    if train_given.get("precision") == "float64":
        jax.config.update("jax_enable_x64", True)
    common = dict(progress=not args.no_progress, plots=not args.no_plots, until=args.until)
    if getattr(args, "resume", None) is not None:
        overrides = {"steps", "lr", "rollbacks"}
        extra = sorted(set(train_given) - overrides) + sorted(model_given)
        if args.preset or args.dim or extra or args.out or args.overwrite:
            given = [f"--{k.replace('_', '-')}" for k in extra]
            given += [f for f, v in (("a preset", args.preset), ("--dim", args.dim)) if v]
            given += [f for f, v in (("--out", args.out), ("--overwrite", args.overwrite)) if v]
            raise CLIError(
                "`--resume DIR` continues the run as configured in DIR/config.json; with it "
                "only --steps, --lr, --rollbacks, --until, --no-progress and --no-plots may "
                f"be given, got {', '.join(given)}"
            )
        from ._checkpoint import read_config

        if read_config(args.resume).train.precision == "float64":
            jax.config.update("jax_enable_x64", True)
        changes = {k: train_given[k] for k in sorted(overrides) if k in train_given}
        solver = resume(args.resume, **changes, **common)
        out = None
    else:
        name = args.preset or DEFAULT_PRESET
        preset = get_preset(name)
        dim = args.dim
        if demo or args.preset is None:
            dim = DEMO_DIM if dim is None else dim
            train_given = {"steps": DEMO_STEPS, "eval_every": DEMO_EVAL_EVERY, **train_given}
        dim = preset.default_dim if dim is None else dim
        train_given = with_cadence(train_given)
        recipe_model, recipe_train = preset.recipe(args.recipe, dim)
        train_cfg = recipe_train.replace(**train_given)
        model_cfg = recipe_model.replace(**model_given)
        # Validates the dimension before anything is printed or created.
        preset.run_config(dim, pde_seed=args.pde_seed, train=train_cfg, model=model_cfg)
        out = args.out if args.out is not None else _default_out(name, dim)
        print(f"training {name} d={dim} for {train_cfg.steps} steps -> {out}", flush=True)
        solver = train(
            preset,
            dim,
            config=train_cfg,
            model=model_cfg,
            pde_seed=args.pde_seed,
            out=out,
            overwrite=args.overwrite,
            **common,
        )
        solver.card.setdefault("run_dir", str(out))
    if _report_moved(solver, getattr(args, "resume", None) or out):
        return 1
    if solver.card.get("steps", 0) < solver.config.train.steps:
        print(
            f"stopped at step {solver.card.get('step')}; continue with `{PROG} train --resume DIR`",
            file=sys.stderr,
        )
        return 0
    _print_summary(solver)
    return 0


def _cmd_eval(args) -> int:
    import jax

    from ._solver import evaluate, load

    solver = load(args.source, dim=args.dim)
    key = None if args.seed is None else jax.random.PRNGKey(args.seed)
    t = time.perf_counter()
    n_points = args.n_points
    if n_points is None and solver.config.evaluation != "point":
        n_points = 20_000
    result = evaluate(solver, n_points, key=key, batch_size=args.batch_size)
    result["eval_s"] = time.perf_counter() - t
    if args.json:
        print(json.dumps(result))
        return 0
    cfg = solver.config
    step = solver.card.get("step", solver.card.get("steps"))
    print(f"{args.source}: {cfg.preset} d={solver.pde.dim}, step {step}")
    for k, v in result.items():
        print(f"  {k:18s} {v:.4g}" if isinstance(v, float) else f"  {k:18s} {v}")
    return 0


def _cmd_finetune(args) -> int:
    from ._solver import load
    from ._trainer import finetune

    train_given = with_cadence(_given(args, TrainConfig))
    if train_given.get("precision") == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)
    source = load(args.source)
    config = source.config.train.replace(**train_given)
    out = args.out
    if out is None:
        name = args.pde or (source.config.preset or "pde")
        out = _default_out(f"finetune-{name}", source.pde.dim)
    solver = finetune(
        source,
        args.pde,
        config=config,
        freeze=args.freeze,
        reset=args.reset,
        pde_seed=args.pde_seed,
        out=out,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        plots=not args.no_plots,
        until=args.until,
    )
    solver.card.setdefault("run_dir", str(out))
    if _report_moved(solver, out):
        return 1
    if solver.card.get("steps", 0) < solver.config.train.steps:
        return 0
    _print_summary(solver)
    return 0


def _cmd_bench(args) -> int:
    import statistics

    import jax
    import jax.numpy as jnp

    from ._optim import make_optimizer, params_of
    from ._presets import build_model, get_preset
    from ._trainer import _keys, make_step

    train_given, model_given = _configs(args)
    if train_given.get("precision") == "float64":
        jax.config.update("jax_enable_x64", True)
    preset = get_preset(args.preset)
    cfg = preset.run_config(
        args.dim,
        train=preset.train.replace(**train_given),
        model=preset.model.replace(**model_given),
    )
    pde = cfg.pde.build()
    init_key, data_key = _keys(cfg.train.seed)
    from ._presets import dtype_of

    model = build_model(pde, cfg.model, key=init_key, dtype=dtype_of(cfg.train))
    state = make_optimizer(cfg.train, model).init(params_of(model))
    step = make_step(cfg.train)
    t = time.perf_counter()
    model, state, loss, _ = step(model, state, pde, data_key, jnp.asarray(0, jnp.int32))
    jax.block_until_ready(loss)
    compile_s = time.perf_counter() - t
    rates, i = [], 1
    for _ in range(args.windows):
        t = time.perf_counter()
        for _ in range(args.steps):
            model, state, loss, _ = step(model, state, pde, data_key, jnp.asarray(i, jnp.int32))
            i += 1
        jax.block_until_ready((model, loss))
        rates.append(args.steps / (time.perf_counter() - t))
    result = {
        "preset": args.preset,
        "dim": args.dim,
        "batch": cfg.train.batch,
        "estimator": _estimator_label(cfg.train),
        "precision": cfg.train.precision,
        "compile_s": compile_s,
        "its_per_s": statistics.median(rates),
        "its_per_s_windows": rates,
        "device": str(jax.devices()[0]),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.preset} d={args.dim} batch={cfg.train.batch} {result['estimator']} "
            f"{cfg.train.precision} on {result['device']}: {result['its_per_s']:.1f} it/s "
            f"(median of {args.windows} windows of {args.steps} steps; compile "
            f"{compile_s:.1f} s)"
        )
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{PROG}: warning: {_one_line(message)}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    """Entry point of `python -m zoo`; returns the exit status."""
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # One line each, like the errors.
        return _main(argv)


def _report_moved(solver, wanted) -> bool:
    """After a failed write moved the run (`zoo.CheckpointWriteWarning`), say where it is;
    True if it could not be written anywhere (the caller exits non-zero)."""
    where = solver.card.get("run_dir", str(wanted))
    if where == str(wanted):
        return False
    if where is None:
        print(
            f"{PROG}: error: the run could not be written anywhere; its final state is "
            "lost with this process.",
            file=sys.stderr,
        )
        return True
    print(f"{PROG}: the run is in `{where}` (writing to `{wanted}` failed).", file=sys.stderr)
    return False


def _main(argv) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if args.command == "list":
            return _cmd_list(args)
        if args.command in ("train", "demo"):
            return _cmd_train(args, demo=args.command == "demo")
        if args.command == "eval":
            return _cmd_eval(args)
        if args.command == "finetune":
            return _cmd_finetune(args)
        return _cmd_bench(args)
    except CLIError as e:
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        message = _one_line(e) or "interrupted"
        print(f"{PROG}: {message} Resume with `{PROG} train --resume DIR`.", file=sys.stderr)
        # `zoo._trainer.Terminated`: SIGTERM, handled like Ctrl-C (128 + 15).
        return 143 if type(e).__name__ == "Terminated" else 130
    except (ValueError, OSError) as e:
        # The whole OSError family (read-only file system, a parent that is a file, no
        # space, permissions) is one line too.
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except Exception as e:
        from ._trainer import NonFiniteLossError

        if isinstance(e, NonFiniteLossError):
            print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
            return 1
        raise
