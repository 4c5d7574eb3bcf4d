"""The command line: `python -m zoo list | train | demo | eval | finetune | bench`.

Built by tyro from dataclasses: each command is one below, the config flags are the
fields of `TrainConfig` and `ModelConfig`, and every help text is a field's docstring.
`python -m zoo train PRESET --help` shows that preset's recipe as the defaults.

Expected failures (a misspelt flag, unknown preset, bad dimension, damaged checkpoint,
non-finite loss, a run directory in use, any `OSError` such as a read-only file system)
print one line to stderr and exit non-zero, without a traceback; Ctrl-C during training
saves a checkpoint and exits 130, SIGTERM likewise with 143. A run that could not be
written anywhere exits 1.
"""

import contextlib
import dataclasses
import functools
import io
import json
import re
import sys
import time
import typing
import warnings
from pathlib import Path
from typing import Annotated, Literal

import docstring_parser
import tyro
from tyro.conf import OmitArgPrefixes, Positional, arg, subcommand
from tyro.constructors import (
    ConstructorRegistry,
    PrimitiveConstructorSpec,
    PrimitiveTypeInfo,
    StructConstructorSpec,
    StructFieldSpec,
    StructTypeInfo,
)

from ._config import Freeze, ModelConfig, TrainConfig, with_cadence
from ._presets import DEFAULT_PRESET, RECIPES

PROG = "python -m zoo"
# The default run (`python -m zoo train` with no preset, or `python -m zoo demo`): the
# default preset (two-body Allen-Cahn) at d = 100 with its best recipe, whole: 300
# natural-gradient steps on a window network, about half a minute on two CPU cores.
DEMO_DIM = 100


class CLIError(Exception):
    """A usage error: printed as one line, exit status 2."""


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


# --- the flags ---------------------------------------------------------------------------

_REGISTRY = ConstructorRegistry()


@_REGISTRY.primitive_rule
def _warmup_as_json(info: PrimitiveTypeInfo):
    # `TrainConfig.warmup` is one JSON flag, as in config.json: tyro would nest it as a
    # choice of two subcommands (None or a TrainConfig) with 27 more `--warmup.*` flags,
    # for a phase that differs from its run in two or three fields.
    if info.type != (TrainConfig | None):
        return None
    return PrimitiveConstructorSpec(
        nargs=1,
        metavar="JSON",
        instance_from_str=lambda args: _warmup(args[0]),
        is_instance=lambda x: x is None or isinstance(x, TrainConfig),
        str_from_instance=lambda x: ["None" if x is None else json.dumps(x.to_dict())],
    )


def _warmup(text: str) -> TrainConfig | None:
    """A warm-up phase from JSON, or None (`None` or `null`: drop the recipe's)."""
    return None if text in ("None", "null") else TrainConfig.from_dict(json.loads(text))


@_REGISTRY.primitive_rule
def _bool_value(info: PrimitiveTypeInfo):
    # The config's bools take a value, `--with-replacement false` (or False) as before.
    if info.type is not bool:
        return None
    words = {"true": True, "false": False}
    return PrimitiveConstructorSpec(
        nargs=1,
        metavar="{true,false}",
        instance_from_str=lambda args: words[args[0].lower()],
        is_instance=lambda x: isinstance(x, bool),
        str_from_instance=lambda x: [str(x).lower()],
        choices=(*words, *(w.capitalize() for w in words)),
    )


@functools.cache
def _field_help(cls) -> dict[str, str]:
    """The docstring under each field of `cls`, on one line and without the Markdown
    backticks."""
    return {
        p.arg_name: " ".join(p.description.replace("`", "").split())
        for p in docstring_parser.parse_from_object(cls).params
        if p.description
    }


@_REGISTRY.struct_rule
def _config_flags(info: StructTypeInfo):
    # One flag per field of `TrainConfig` and `ModelConfig`, parsed and left unchecked:
    # only the flags given are applied, with `replace` (which checks them), to the recipe
    # or the run's config, so the recipe's own rules still hold (a new `--steps` keeps the
    # warm-up's share). tyro's own rule would keep the docstrings' line breaks.
    cls = info.type
    if cls not in (TrainConfig, ModelConfig):
        return None
    default = info.default if isinstance(info.default, cls) else cls()
    hints = typing.get_type_hints(cls)
    fields = [
        StructFieldSpec(f.name, hints[f.name], getattr(default, f.name), _field_help(cls)[f.name])
        for f in dataclasses.fields(cls)
    ]

    def unchecked(**values):
        config = object.__new__(cls)  # Holds the values as they are, checks skipped.
        for name, value in values.items():
            object.__setattr__(config, name, value)
        return config

    return StructConstructorSpec(unchecked, tuple(fields))


TrainFlags = Annotated[TrainConfig, OmitArgPrefixes, tyro.conf.FlagConversionOff]
ModelFlags = Annotated[ModelConfig, OmitArgPrefixes, tyro.conf.FlagConversionOff]
Dir = Annotated[str | None, arg(metavar="DIR")]


@dataclasses.dataclass(frozen=True)
class RunFlags:
    """Where the run goes and what it shows."""

    out: Dir = None
    """Run directory; None: runs/<preset>-d<dim>, numbered if taken."""
    overwrite: bool = False
    """Replace a run already in --out."""
    no_progress: bool = False
    """No progress bar."""
    no_plots: bool = False
    """No PNG plots in the run directory."""
    until: Annotated[int | None, arg(metavar="STEP")] = None
    """Stop (checkpointed) after this many steps; continue with train --resume DIR."""


@dataclasses.dataclass(frozen=True)
class Demo:
    """Train the demo: two-body Allen-Cahn at d = 100, best recipe."""

    dim: Annotated[int, arg(metavar="D")] = DEMO_DIM
    """Dimension d of the PDE (an int; at least 2 for most presets)."""
    pde_seed: int = 0
    """Seed of the PDE's random coefficients (the same seed, the same PDE)."""
    recipe: Literal[RECIPES] = "best"
    """best: the zoo's recommendation; protocol: the published one (published PDEs only)."""
    run: OmitArgPrefixes[RunFlags] = RunFlags()
    train: TrainFlags = TrainConfig()
    """The recipe's training config; each flag given changes that field alone."""
    model: ModelFlags = ModelConfig()
    """The recipe's network; each flag given changes that field alone."""


@dataclasses.dataclass(frozen=True)
class Train(Demo):
    """Train a preset (none: the demo, two-body Allen-Cahn at d = 100)."""

    preset: Positional[Annotated[str | None, arg(metavar="PRESET")]] = None
    """Preset name (see python -m zoo list); none: the demo."""
    resume: Dir = None
    """Continue the run in DIR; only --steps (a new total), --lr, --rollbacks may change."""


@dataclasses.dataclass(frozen=True)
class List:
    """List the presets and pretrained solvers."""


@dataclasses.dataclass(frozen=True)
class Eval:
    """Evaluate a run directory or a pretrained solver."""

    source: Positional[Annotated[str, arg(metavar="SOURCE")]]
    """Run directory or pretrained name (e.g. allen-cahn-twobody-d100)."""
    dim: Annotated[int | None, arg(metavar="D")] = None
    """With a preset name as SOURCE: the pretrained <preset>-d<D>."""
    n_points: Annotated[int | None, arg(metavar="N")] = None
    """Test points (default: 20 000; field PDEs only)."""
    batch_size: Annotated[int | None, arg(metavar="N")] = None
    """Test points evaluated at a time (default: chosen from the dimension)."""
    seed: Annotated[int | None, arg(metavar="INT")] = None
    """Seed of the test points; None: the run's test_seed."""
    json: bool = False
    """Print the result as one JSON object."""


@dataclasses.dataclass(frozen=True)
class Finetune:
    """Fine-tune a solver on a PDE, optionally freezing layers (flags change its config)."""

    source: Positional[Annotated[str, arg(metavar="SOURCE")]]
    """Run directory or pretrained name of the solver to start from."""
    pde: Annotated[str | None, arg(metavar="PRESET")] = None
    """Preset to fine-tune on (default: the source's PDE)."""
    pde_seed: int | None = None
    """Seed of the new PDE's coefficients (default: the source's)."""
    dim: Annotated[int | None, arg(metavar="D")] = None
    """Dimension of the new PDE (default: the source's; another needs a window network)."""
    freeze: Freeze = "none"
    """Layers kept fixed: none, the first or last linear layer, or all but it."""
    reset: Literal["none", "last"] = "none"
    """last: start with the output layer at zero (keep the features, not the output)."""
    head_steps: int = 0
    """Train the output layer alone for this many of the steps first (with --reset last:
    how to fine-tune a natural-gradient solver)."""
    readout_steps: int = 0
    """Fit the output layer alone by Gauss-Newton for this many of the steps first (the
    steps of --readouts), then train what --freeze leaves (with --reset last and
    --damping 1e-5: how to fine-tune a window solver on another instance)."""
    warmup_freeze: Freeze | None = None
    """Layers kept fixed in the config's own warm-up (--warmup), e.g. all-but-last: fit
    the output layer first; None: as --freeze."""
    readouts: bool = False
    """Refit the output layer alone by Gauss-Newton, every other layer kept
    (zoo.fit_readouts: from the residual-fitted output bias, 3 steps on 1.5 points per
    output-layer parameter; train flags change it). For a window network at another
    dimension or on another instance."""
    run: OmitArgPrefixes[RunFlags] = RunFlags()
    train: TrainFlags = TrainConfig()
    """The source's training config; each flag given changes that field alone (the
    defaults shown are TrainConfig's own)."""


@dataclasses.dataclass(frozen=True)
class Bench:
    """Time the training step of a preset (steady state, median of timed windows)."""

    preset: Positional[Annotated[str, arg(metavar="PRESET")]] = DEFAULT_PRESET
    """Preset name (see python -m zoo list)."""
    dim: Annotated[int, arg(metavar="D")] = DEMO_DIM
    """Dimension d of the PDE."""
    window_steps: int = 20
    """Steps per timed window."""
    windows: int = 5
    """Timed windows; the rate reported is their median."""
    json: bool = False
    """Print the result as one JSON object."""
    train: TrainFlags = TrainConfig()
    """The preset's training config; each flag given changes that field alone (--steps is
    unused)."""
    model: ModelFlags = ModelConfig()
    """The preset's network; each flag given changes that field alone."""


def _peek(argv: list[str], flag: str) -> str | None:
    """The value of `flag` in `argv`, read before parsing (None if absent)."""
    for i, token in enumerate(argv):
        if token == flag and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith(flag + "="):
            return token[len(flag) + 1 :]
    return None


def _flags(argv: list[str]) -> list[str]:
    """The options on the command line, as `--name`."""
    return [t.split("=", 1)[0].replace("_", "-") for t in argv if t.startswith("--")]


def _given(argv: list[str], config) -> dict:
    """The fields of `config` (parsed flags) set on the command line, with their values:
    only those change the recipe (or the run's or the source's config)."""
    given = set(_flags(argv))
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(config)
        if "--" + f.name.replace("_", "-") in given
    }


def _recipe(preset, recipe: str, dim: int | None):
    """The `(dim, ModelConfig, TrainConfig)` a train command starts from, before its flags."""
    dim = preset.default_dim if dim is None else dim
    return (dim, *preset.recipe(recipe, dim))


def _defaults(argv: list[str]) -> dict[str, object]:
    """The defaults of `train`, `demo` and `bench`: the recipe of the preset the command line
    names first (read before parsing), so `train PRESET --help` shows that preset's values.
    What cannot be read here falls back to the demo's; the parse or the command reports it."""
    from ._presets import get_preset

    command = argv[0] if argv else None
    named = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else None
    named = named if command in ("train", "bench") else None
    try:
        preset = get_preset(named or DEFAULT_PRESET)
        dim = _peek(argv, "--dim")
        dim = None if dim is None else int(dim)
        if command == "bench":  # The preset's own configs, as `_cmd_bench`.
            dim, model, train = dim or preset.default_dim, preset.model, preset.train
        else:
            recipe = _peek(argv, "--recipe") or "best"
            dim, model, train = _recipe(preset, recipe, dim)
    except ValueError:
        named, preset = None, get_preset(DEFAULT_PRESET)
        dim, model, train = _recipe(preset, "best", None)
    flags = dict(dim=dim, train=train, model=model)
    return {
        "train": Train(preset=named, **flags),
        "demo": Demo(**flags),
        "bench": Bench(preset=preset.name, **flags),
    }


_COMMANDS = dict(list=List, train=Train, demo=Demo, eval=Eval, finetune=Finetune, bench=Bench)


def _commands(argv: list[str]):
    defaults = _defaults(argv)
    return typing.Union[  # noqa: UP007 (built from a list)
        tuple(
            Annotated[cls, subcommand(name, default=defaults[name])]
            if name in defaults
            else Annotated[cls, subcommand(name)]
            for name, cls in _COMMANDS.items()
        )
    ]


def _box_to_line(text: str) -> str:
    """tyro's error box as one line: its sections, less the argument's help and the
    pointer to --help (added back in short)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    sections, lines = [], []
    for line in text.splitlines()[1:-1]:  # Inside the box.
        inner = line.strip("│ ")
        if re.fullmatch(r"in .* --help", inner):
            continue  # A misspelt flag's suggestion: each command that has the flag.
        if inner and set(inner) <= {"─"}:
            sections.append(lines)
            lines = []
        else:
            lines.append(inner)
    sections.append(lines)
    skip = ("Argument helptext", "For full helptext")
    kept = [" ".join(s) for s in sections if s and not s[0].startswith(skip)]
    return _one_line(" ".join(kept)) or _one_line(text)


def parse(argv: list[str]):
    """The command object of `argv` (a `Train`, `Eval`, ...), or None after --help.

    **Raises:** `CLIError` with tyro's message on one line.
    """
    captured = io.StringIO()  # tyro's error box, turned into one line below.
    try:
        with contextlib.redirect_stderr(captured):
            args = tyro.cli(
                _commands(argv),
                args=argv,
                prog=PROG,
                description="Prebuilt physics-informed PDE solvers (stde-zoo).",
                registry=_REGISTRY,
                config=(tyro.conf.FlagCreatePairsOff,),
            )
    except SystemExit as e:
        if not e.code:
            return None  # --help
        command = f"{PROG} {argv[0]}" if argv[0] in _COMMANDS else PROG
        raise CLIError(f"{_box_to_line(captured.getvalue())} (see `{command} --help`)") from None
    sys.stderr.write(captured.getvalue())  # tyro's warnings, if any.
    return args


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
        + (
            f" (after {card['source_train_time_s']:.0f} s at d={cfg.train.source_dim})"
            if card.get("source_train_time_s") is not None
            else ""
        )
        + (f", {its:.1f} it/s" if its and its >= 1 else f", {1 / its:.0f} s/it" if its else "")
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
    from pdes.research import trivial_fit_formula

    print(
        f"  trivial fit      {_fmt(card.get('trivial_rel_l2'))}   (best fit "
        f"{trivial_fit_formula(solver.pde.ansatz)}, one scalar K)"
    )
    ratio = card.get("rel_l2_over_trivial")
    if ratio is None and card.get("rel_l2") is not None and card.get("trivial_rel_l2"):
        ratio = card["rel_l2"] / card["trivial_rel_l2"]
    if ratio is not None:
        print(f"  error / trivial  {ratio:<8.3g}   (final rel-L2 over the trivial fit)")
    # The card holds a published figure only for a run in the published protocol's setting.
    pub = card.get("published_rel_l2")
    if pub is not None:
        note = "  [three-body: different forcing]" if pde and "threebody" in pde.name else ""
        print(f"  published        {_fmt(pub)}   (10 000 steps, min over evaluations, A100){note}")
        return
    from ._published import published

    row = published(pde.name, pde.dim) if pde is not None and cfg.preset else None
    if row is not None and (cfg.init_from is None or cfg.train.source_dim is not None):
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
        print(f"  {n:28s} {entry.train.steps:>6} steps   {status}")
    return 0


def _x64_if(precision: str | None) -> None:
    if precision == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)


def _directory(text: str | None) -> Path | None:
    if text is not None and not text.strip():
        raise CLIError(
            "expected a directory, got an empty string (which would mean the current "
            "directory; write `.` for that)"
        )
    return None if text is None else Path(text)


def run_config(args: Demo, argv: list[str]):
    """The `RunConfig` a `train` or `demo` command line asks for: the preset's recipe with
    the flags given applied (and checked)."""
    from ._presets import get_preset

    named = getattr(args, "preset", None)
    preset = get_preset(named or DEFAULT_PRESET)
    dim = args.dim if "--dim" in _flags(argv) else None
    dim, model, train = _recipe(preset, args.recipe, dim)
    return preset.run_config(
        dim,
        pde_seed=args.pde_seed,
        train=train.replace(**with_cadence(_given(argv, args.train))),
        model=model.replace(**_given(argv, args.model)),
    )


def _cmd_train(args: Demo, argv: list[str]) -> int:
    from ._trainer import resume, train

    train_given = _given(argv, args.train)
    _x64_if(train_given.get("precision"))
    run = args.run
    common = dict(progress=not run.no_progress, plots=not run.no_plots, until=run.until)
    resume_dir = _directory(getattr(args, "resume", None))
    if resume_dir is not None:
        allowed = {"--resume", "--steps", "--lr", "--rollbacks", "--until"}
        allowed |= {"--no-progress", "--no-plots"}
        extra = ["a preset"] if args.preset else []
        extra += [f for f in _flags(argv) if f not in allowed]
        if extra:
            raise CLIError(
                "`--resume DIR` continues the run as configured in DIR/config.json; with it "
                "only --steps, --lr, --rollbacks, --until, --no-progress and --no-plots may "
                f"be given, got {', '.join(extra)}"
            )
        from ._checkpoint import read_config

        _x64_if(read_config(resume_dir).train.precision)
        solver = resume(resume_dir, **train_given, **common)
        out = None
    else:
        cfg = run_config(args, argv)  # Checked before anything is printed or created.
        name, dim = cfg.preset, cfg.pde.dim
        out = _directory(run.out) or _default_out(name, dim)
        source = cfg.train.source_dim
        how = "for "
        if source:
            then = "its readouts, then every layer" if cfg.train.warmup else "its readouts"
            how = f"at d={source}, then {then} for "
        print(f"training {name} d={dim} {how}{cfg.train.steps} steps -> {out}", flush=True)
        solver = train(
            name,
            dim,
            config=cfg.train,
            model=cfg.model,
            pde_seed=cfg.pde.seed,
            out=out,
            overwrite=run.overwrite,
            **common,
        )
        solver.card.setdefault("run_dir", str(out))
    if _report_moved(solver, resume_dir or out):
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


def _cmd_finetune(args: Finetune, argv: list[str]) -> int:
    from ._solver import load
    from ._trainer import finetune, fit_readouts

    train_given = with_cadence(_given(argv, args.train))
    _x64_if(train_given.get("precision"))
    run = args.run
    out = _directory(run.out)
    source = load(args.source)
    config = source.config.train.replace(**train_given)
    if out is None:
        name = args.pde or (source.config.preset or "pde")
        out = _default_out(f"finetune-{name}", args.dim or source.pde.dim)
    common = dict(
        pde_seed=args.pde_seed,
        dim=args.dim,
        out=out,
        overwrite=run.overwrite,
        progress=not run.no_progress,
        plots=not run.no_plots,
        until=run.until,
    )
    if args.readouts:
        given = (args.freeze, args.reset, args.head_steps, args.readout_steps, args.warmup_freeze)
        if given != ("none", "none", 0, 0, None):
            raise CLIError(
                "--readouts sets what trains itself (the output layer, from zero): drop "
                "--freeze, --reset, --head-steps, --readout-steps and --warmup-freeze."
            )
        solver = fit_readouts(source, args.pde, **common, **train_given)
    else:
        solver = finetune(
            source,
            args.pde,
            config=config,
            freeze=args.freeze,
            reset=args.reset,
            head_steps=args.head_steps,
            readout_steps=args.readout_steps,
            warmup_freeze=args.warmup_freeze,
            **common,
        )
    solver.card.setdefault("run_dir", str(out))
    if _report_moved(solver, out):
        return 1
    if solver.card.get("steps", 0) < solver.config.train.steps:
        return 0
    _print_summary(solver)
    return 0


def _cmd_bench(args: Bench, argv: list[str]) -> int:
    import statistics

    import jax
    import jax.numpy as jnp

    from ._optim import init_state, make_optimizer
    from ._presets import build_model, get_preset
    from ._trainer import _keys, make_step

    train_given = _given(argv, args.train)
    _x64_if(train_given.get("precision"))
    preset = get_preset(args.preset)
    dim = args.dim if "--dim" in _flags(argv) else preset.default_dim
    cfg = preset.run_config(
        dim,
        train=preset.train.replace(**train_given),
        model=preset.model.replace(**_given(argv, args.model)),
    )
    pde = cfg.pde.build()
    init_key, data_key = _keys(cfg.train.seed)
    from ._presets import dtype_of

    model = build_model(pde, cfg.model, key=init_key, dtype=dtype_of(cfg.train))
    state = init_state(make_optimizer(cfg.train, model), model)
    step = make_step(cfg.train)
    t = time.perf_counter()
    model, state, loss, _ = step(model, state, pde, data_key, jnp.asarray(0, jnp.int32))
    jax.block_until_ready(loss)
    compile_s = time.perf_counter() - t
    rates, i = [], 1
    for _ in range(args.windows):
        t = time.perf_counter()
        for _ in range(args.window_steps):
            model, state, loss, _ = step(model, state, pde, data_key, jnp.asarray(i, jnp.int32))
            i += 1
        jax.block_until_ready((model, loss))
        rates.append(args.window_steps / (time.perf_counter() - t))
    result = {
        "preset": args.preset,
        "dim": dim,
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
            f"{args.preset} d={dim} batch={cfg.train.batch} {result['estimator']} "
            f"{cfg.train.precision} on {result['device']}: {result['its_per_s']:.1f} it/s "
            f"(median of {args.windows} windows of {args.window_steps} steps; compile "
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
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)] or ["--help"]
    commands = {
        List: lambda args, argv: _cmd_list(args),
        Train: _cmd_train,
        Demo: _cmd_train,
        Eval: lambda args, argv: _cmd_eval(args),
        Finetune: _cmd_finetune,
        Bench: _cmd_bench,
    }
    try:
        args = parse(argv)
        return 0 if args is None else commands[type(args)](args, argv)
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
