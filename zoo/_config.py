"""Typed, frozen run configuration: what to train (PDE, model) and how (TrainConfig).

Every config round-trips through JSON (`to_dict` / `from_dict`); `config.json` in a run
directory is a `RunConfig.to_dict()`, enough to rebuild the PDE, the model skeleton and
the optimiser of the run.
"""

import dataclasses
import difflib
import functools
import json
import math
import typing
from typing import Any, Literal, get_args

import optax

from models._finetune import Which
from stde._checks import check_int, is_int, is_real

# The choices of a config field are its `Literal` annotation; these tuples are read off it
# (for messages, scripts and the trainer), so the values are written once.
Schedule = Literal["linear", "cosine", "constant", "harmonic"]
Estimator = Literal["sparse", "dense", "exact"]
Distribution = Literal["rademacher", "gaussian"]
Loss = Literal["published", "unbiased"]
InitBias = Literal["default", "residual"]
Init = Literal["default", "protocol"]
Precision = Literal["float32", "float64"]
Network = Literal["mlp", "shared-mlp", "residual-mlp", "window-mlp"]
Activation = Literal["tanh", "sin", "silu", "gelu"]
# What a fine-tuning run freezes, in `models`' vocabulary for a selection of parameters
# (`models.trainable_spec`'s `which` names what trains); freezing "all" would train nothing.
Freeze = Literal[tuple(w for w in get_args(Which) if w != "all")]
Evaluation = Literal["field", "point"]

SCHEDULES = get_args(Schedule)
ESTIMATORS = get_args(Estimator)
DISTRIBUTIONS = get_args(Distribution)
LOSSES = get_args(Loss)
INIT_BIASES = get_args(InitBias)
INITS = get_args(Init)
PRECISIONS = get_args(Precision)
NETWORKS = get_args(Network)
ACTIVATIONS = get_args(Activation)
FREEZES = get_args(Freeze)
# `optimizer` is a `str`, not a `Literal`: it also takes "optax:NAME".
OPTIMIZERS = ("adam", "natural-gradient", "gauss-newton", "lbfgs")


def _positive_int(obj, name: str, minimum: int = 1) -> None:
    check_int(getattr(obj, name), f"{type(obj).__name__}.{name}", minimum=minimum)


def _number(obj, name: str, ok, expected: str) -> None:
    """Check a real-valued field with `ok` (NaN fails every comparison) and store it as a
    float."""
    value = getattr(obj, name)
    if not is_real(value) or not ok(value):
        raise ValueError(f"`{type(obj).__name__}.{name}` must be {expected}, got {value!r}.")
    object.__setattr__(obj, name, float(value))


def _choice(obj, name: str, choices) -> None:
    value = getattr(obj, name)
    if value not in choices:
        raise ValueError(
            f"`{type(obj).__name__}.{name}` must be one of {list(choices)}, got {value!r}."
        )


@functools.cache
def _literal_fields(cls) -> tuple[tuple[str, tuple], ...]:
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, get_args(hints[f.name]))
        for f in dataclasses.fields(cls)
        if typing.get_origin(hints[f.name]) is Literal
    )


def _choices(obj) -> None:
    """Check every `Literal` field of `obj` against the values of its annotation."""
    for name, choices in _literal_fields(type(obj)):
        _choice(obj, name, choices)


def _from_dict(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(data).__name__}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where} has unknown fields {unknown}; known: {sorted(known)}.")
    try:
        return cls(**data)
    except TypeError as e:
        raise ValueError(f"{where} is incomplete: {e}.") from None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, sampling, estimator, loss, evaluation, checkpoints.

    Defaults are the published protocol: Adam, learning rate 1e-3 decaying
    linearly to 0 over `steps`, 100 fresh collocation points per step, sparse STDE with
    16 samples, relative L2 error of the final model on 20 000 streamed test points.
    Each field's docstring below is also its `python -m zoo train --help` text.
    """

    steps: int = 10_000
    """Optimiser steps in the whole run, warm-up included; the schedule decays over them
    (an int >= 1)."""
    batch: int = 100
    """Collocation points per step, drawn fresh at each resampling (an int >= 1; must
    divide by `devices`)."""
    lr: float = 1e-3
    """Peak learning rate (> 0). Scales the step for `"natural-gradient"` (about 0.1 to
    1); ignored by `"lbfgs"`, which runs a line search."""
    schedule: Schedule = "linear"
    """Learning-rate schedule over `steps`: `"linear"` (decays to 0 at the last step),
    `"cosine"` (cosine decay to 0), `"constant"`, or `"harmonic"` (`lr / (1 + t)` at
    step t = 0, 1, ...: with `"gauss-newton"` steps from fresh points, the running mean of
    the batches' least-squares solutions)."""
    estimator: Estimator = "sparse"
    """Estimator of the PDE operator: `"sparse"` (`stde.SparseSTDE`, random coordinates),
    `"dense"` (`stde.DenseSTDE`, random directions from `distribution`) or `"exact"`
    (`stde.Exact`, all d coordinates: d times the cost of one sample)."""
    num_samples: int = 16
    """Random samples per point for the `"sparse"` and `"dense"` estimators, the paper's
    |J| (an int >= 1; unused by `"exact"`)."""
    distribution: Distribution = "rademacher"
    """Directions of the `"dense"` estimator: `"rademacher"` (entries +-1) or `"gaussian"`
    (standard normal)."""
    loss: Loss = "published"
    """`"published"`: mean of the squared single estimate of the residual (biased upward
    by the estimator's variance); `"unbiased"`: mean of the product of two estimates with
    independent keys (twice the samples)."""
    precision: Precision = "float32"
    """Parameter and collocation dtype, `"float32"` or `"float64"` (the command line turns
    on `jax_enable_x64` for it; the Python API needs
    `jax.config.update("jax_enable_x64", True)`)."""
    seed: int = 0
    """Seed of the initialisation and of the collocation-point stream (an int >= 0; the
    PDE's random coefficients have their own seed)."""
    log_every: int = 100
    """Write the loss to `metrics.jsonl` every this many steps (an int >= 1; the final
    step is always logged)."""
    eval_every: int = 1000
    """Evaluate the relative L2 error every this many steps (an int >= 0; 0: only at the
    end, which is always evaluated)."""
    checkpoint_every: int = 1000
    """Write `checkpoint.eqx` every this many steps (an int >= 0; 0: only at the end,
    which is always checkpointed)."""
    n_test: int = 20_000
    """Test points of each evaluation (an int >= 1)."""
    eval_batch: int | None = None
    """Test points evaluated at a time, to bound memory (an int >= 1; None: chosen from
    the dimension)."""
    test_seed: int = 12345
    """Seed of the test points, independent of `seed` so every run of a PDE is scored on
    the same points (an int >= 0)."""
    devices: int | None = None
    """Data-parallel over the first this many devices (an int >= 1; None: all of them).
    The full batch is drawn from the same key whatever the count and then sharded, so
    results depend on it only through float reduction order."""
    rollbacks: int = 0
    """On a non-finite loss, go back to the last checkpoint (kept in memory too) and go on
    with the learning rate multiplied by `rollback_factor`, at most this many times (an
    int >= 0; 0 stops with `zoo.NonFiniteLossError`). A rollback rewrites `lr` and
    `rollbacks` in the run's config, so a resume continues with the reduced rate."""
    rollback_factor: float = 0.5
    """Learning-rate factor applied at each rollback (a number in (0, 1))."""
    init_bias: InitBias = "default"
    """`"residual"`: before the first step, set the network's output bias by Gauss-Newton
    on the mean squared PDE residual over `10 * batch` seeded points; where the solution
    is nearly the ansatz factor times a constant (the three-body presets), that constant
    is what Adam otherwise spends thousands of steps reaching. `"default"`: leave it."""
    init_bias_points: int | None = None
    """Points the `"residual"` output-bias fit draws (an int >= 1, rounded up to a whole
    number of `batch`es where above one; None: `10 * batch`). The fit has one unknown, so
    a thousand points pin it down where ten batches of a large batch would cost minutes
    (`zoo.fit_readouts` at d = 10 000)."""
    optimizer: str = "adam"
    """`"adam"` (the published protocol); `"natural-gradient"` (Gauss-Newton in sample
    space by the Woodbury identity with SPRING momentum: each step solves a `batch x
    batch` system and costs about `batch` backward passes); `"gauss-newton"` (matrix-free:
    each step the minimum-norm least-squares solution of its batch's linearised residuals
    by LSMR from Jacobian-vector products, for more residual rows than a `batch x batch`
    system holds, e.g. with `residual_gradient`); `"lbfgs"` (`optax.lbfgs` with
    a zoom line search, for a fixed point set: `resample_every=0`); or `"optax:NAME"`, any
    optax optimiser taking the learning rate first (`"optax:sgd"`, `"optax:lion"`)."""
    damping: float = 1e-3
    """`"natural-gradient"` only: Tikhonov damping relative to the mean diagonal of
    J J^T (a number >= 0; a step whose Cholesky factorisation fails retries with ten
    times it, at most three times)."""
    momentum: float = 0.9
    """`"natural-gradient"` only: SPRING momentum (a number in [0, 1))."""
    lsmr_steps: int = 50
    """`"gauss-newton"` only: LSMR iterations a step (an int >= 1), each one forward and
    one backward pass over the batch's residuals."""
    residual_gradient: float = 0.0
    """Weight of the residual's gradient with respect to the point (space and time) in
    the loss (a number >= 0; 0: off): a point's residuals become $r$ and this weight
    times $\\nabla r$, which also vanishes inside the domain for the solution
    (gradient-enhanced PINNs). Each point then gives 1 + `input_dim` equations instead of
    one, for any optimiser; with `"gauss-newton"` a batch of a few points pins down a
    d-coefficient affine part at once."""
    jacobian_chunk: int | None = None
    """`"natural-gradient"` only: points per chunk of the per-point residual Jacobians on
    a CPU (an int >= 1; None: 16; accelerators take the whole batch). Chunks keep a deep
    network's jets in cache (2-4x faster steps for the window network at d = 1000);
    they run as a loop, inside which XLA's CPU code runs a PDE's forcing several times
    slower than batched, so where a point's work is a few passes over d coordinates the
    whole batch at once can be faster."""
    init: Init = "default"
    """Network initialisation: `"default"` (Kaiming-uniform weights, zero biases; see
    `models.MLP`) or `"protocol"`, the published reference code's (W ~ U(+-1/sqrt(fan_in)),
    b ~ U(+-1/sqrt(fan_out)))."""
    with_replacement: bool = True
    """Whether the `"sparse"` estimator draws its coordinates with replacement (`True`)
    or without (`False`, as the published reference code)."""
    resample_every: int = 1
    """Draw fresh collocation points (and estimator keys) every this many steps (an
    int >= 0; 0 keeps the first step's points for the whole run)."""
    source_dim: int | None = None
    """Learn the network at this input dimension first, then fit only its output layer at
    the run's (an int >= 1; presets with a window network only; None: train from the
    initialisation). `zoo.train` trains the model with the preset's best recipe at
    `source_dim` on the same PDE seed (into `OUT/source`, reused once finished), moves it
    to the run's dimension (input scale kept, centred) and runs this config on its output
    layer alone from zero (`zoo.fit_readouts`, which this config's fields then are: e.g.
    `steps` Gauss-Newton steps). Where a PDE's solution is one window function weighted
    per instance, that function learned where points are cheap is the whole network.
    With a `warmup`, that phase is the output layer's fit and the rest of `steps` train
    every layer from there (the wide-domain presets at d = 1000, where the moved function
    is close but not enough)."""
    warmup: "TrainConfig | None" = None
    """A first phase, itself a `TrainConfig` without a warm-up of its own (its optimiser,
    `steps`, `batch`, estimator, learning rate), run for its `steps` before this
    configuration takes over for the rest of `steps`; None: one phase. Cheap Adam steps
    learn the coarse solution, a second-order phase refines it. On the command line, a
    JSON object of fields, e.g. `'{"steps": 3000}'`."""

    def __post_init__(self):
        for name in ("steps", "batch", "num_samples", "log_every", "n_test", "lsmr_steps"):
            _positive_int(self, name)
        if self.devices is not None:
            _positive_int(self, "devices")
            if self.batch % self.devices:
                raise ValueError(
                    f"`TrainConfig.batch` ({self.batch}) must divide by `devices` "
                    f"({self.devices}) to shard the collocation points over them."
                )
        for name in (
            "eval_every",
            "checkpoint_every",
            "seed",
            "test_seed",
            "rollbacks",
            "resample_every",
        ):
            _positive_int(self, name, minimum=0)
        for name in ("eval_batch", "init_bias_points", "source_dim", "jacobian_chunk"):
            if getattr(self, name) is not None:
                _positive_int(self, name)
        _number(self, "lr", lambda v: 0 < v < math.inf, "a positive finite number")
        _number(self, "rollback_factor", lambda v: 0 < v < 1, "a number in (0, 1)")
        _number(self, "damping", lambda v: 0 <= v < math.inf, "a number in [0, inf)")
        _number(self, "residual_gradient", lambda v: 0 <= v < math.inf, "a number in [0, inf)")
        _number(self, "momentum", lambda v: 0 <= v < 1, "a number in [0, 1)")
        if isinstance(self.warmup, dict):  # From JSON.
            object.__setattr__(self, "warmup", TrainConfig.from_dict(self.warmup))
        if self.warmup is not None:
            if not isinstance(self.warmup, TrainConfig) or self.warmup.warmup is not None:
                raise ValueError(
                    "`TrainConfig.warmup` must be a `TrainConfig` without a warm-up of its "
                    f"own, got {self.warmup!r}."
                )
            if self.warmup.source_dim is not None:
                raise ValueError("`TrainConfig.warmup.source_dim` must be None (it is the run's).")
            if self.warmup.precision != self.precision:
                raise ValueError("`TrainConfig.warmup.precision` must be the run's `precision`.")
            if self.warmup.steps >= self.steps:
                raise ValueError(
                    f"`TrainConfig.warmup.steps` ({self.warmup.steps}) must be below `steps` "
                    f"({self.steps}), which counts both phases."
                )
        if not isinstance(self.with_replacement, bool):
            raise ValueError(
                f"`TrainConfig.with_replacement` must be a bool, got {self.with_replacement!r}."
            )
        if not (
            self.optimizer in OPTIMIZERS
            or (
                isinstance(self.optimizer, str)
                and self.optimizer.startswith("optax:")
                and callable(getattr(optax, self.optimizer[6:], None))
            )
        ):
            raise ValueError(
                f"`TrainConfig.optimizer` must be one of {list(OPTIMIZERS)} or 'optax:NAME' "
                f"with NAME an optax optimiser (e.g. 'optax:sgd'), got {self.optimizer!r}."
            )
        _choices(self)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with `changes` applied (validated).

        A new `steps` without a new `warmup` keeps the warm-up's share of the run (at least
        one step of each phase), so `steps=500` shortens both phases of a two-phase recipe.
        """
        warmup = self.warmup
        if "steps" in changes and "warmup" not in changes and warmup is not None:
            steps = changes["steps"]
            if is_int(steps) and steps >= 2:
                share = round(steps * warmup.steps / self.steps)
                changes["warmup"] = warmup.replace(steps=min(max(share, 1), steps - 1))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        return _from_dict(cls, data, "`train` config")


def readout_settings(
    n_params: int, steps: int = 3, points_per_parameter: float = 1.5, damping: float = 1e-6
) -> dict[str, Any]:
    """The `TrainConfig` fields of a Gauss-Newton fit of an output layer of `n_params`
    parameters (`zoo.fit_readouts`): `steps` natural-gradient steps with the exact
    operator on `points_per_parameter` times as many fresh points (a multiple of 16), so
    each step solves the P x P system; momentum 0, rate 1, constant; from the output bias
    fitted to the residual on 1024 points, i.e. from the trivial fit."""
    return dict(
        optimizer="natural-gradient",
        estimator="exact",
        steps=steps,
        batch=16 * math.ceil(points_per_parameter * n_params / 16),
        momentum=0.0,
        lr=1.0,
        schedule="constant",
        damping=damping,
        init_bias="residual",
        init_bias_points=1024,
        warmup=None,
        log_every=1,
        eval_every=1,
        checkpoint_every=steps,
    )


def source_freezes(config: TrainConfig) -> "tuple[Freeze, Freeze | None]":
    """`(freeze, warmup_freeze)` of a run with `TrainConfig.source_dim`: its output layer
    alone throughout, or, with a warm-up, in the warm-up only (then every layer)."""
    if config.warmup is not None:
        return "none", "all-but-last"
    return "all-but-last", None


def without_bookkeeping(config: TrainConfig) -> TrainConfig:
    """`config` with the fields that do not change what is trained (seeds, cadences,
    evaluation, devices, rollbacks) set to fixed values: two configurations that train
    alike compare equal, and the trainer compiles one step for them."""
    return config.replace(
        seed=0,
        log_every=1,
        eval_every=0,
        checkpoint_every=0,
        n_test=1,
        eval_batch=None,
        test_seed=0,
        devices=None,  # The trainer passes the mesh on its own.
        rollbacks=0,
        rollback_factor=0.5,
    )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The field network inside the PDE's hard-constraint ansatz."""

    network: Network = "mlp"
    """`"mlp"` (`models.MLP`), `"shared-mlp"` (first-layer weight shared over blocks of
    `block_size` input coordinates: parameters independent of the dimension),
    `"residual-mlp"` (skip connections between hidden layers) or `"window-mlp"` (one MLP
    shared by every window of `window` consecutive coordinates, read out per window: for
    solutions that couple neighbouring coordinates only); see `models`."""
    width: int = 128
    """Units of every hidden layer (an int >= 1)."""
    depth: int = 4
    """Linear layers in total, output layer included: 4 is d -> 128 -> 128 -> 128 -> 1
    (an int >= 1)."""
    activation: Activation = "tanh"
    """Hidden-layer activation: `"tanh"`, `"sin"`, `"silu"` or `"gelu"`."""
    block_size: int = 1
    """`"shared-mlp"` only: input coordinates per shared block (an int >= 1 dividing the
    dimension)."""
    window: int = 2
    """`"window-mlp"` only: consecutive input coordinates per window (an int >= 1, at most
    the dimension)."""
    features: int = 1
    """`"window-mlp"` only: outputs of the shared MLP that each window reads out with its
    own weights (an int >= 1)."""
    scale: float | None = None
    """`"window-mlp"` only: factor on the inputs of the shared MLP (a positive number).
    None: one over the root mean square of a coordinate at 1000 points drawn from the
    PDE's interior sampler (a fixed key), so that its inputs are O(1) whatever the
    dimension; a dense first layer gets this from its fan-in, a window of a few
    coordinates does not (in the unit ball a coordinate is ~ 1 / sqrt(3 d)). A run
    resolves it when it starts and writes the number to its config.json."""
    centred: bool = False
    """`"window-mlp"` only: read out $g - g(0)$ in place of $g$ (`models.WindowMLP`): the
    same functions, better-conditioned readouts where the coordinates are small; what
    `zoo.fit_readouts` gives a window network it moves to another dimension."""
    radial: bool = False
    """Add a learned multiple of $|x|^2$ to the network's output (`models.WithRadial`,
    $N(x) + a |x|^2$, $a$ from 0; $x$ the network's whole input): the radial part an
    affine network cannot hold."""
    norm_input: bool = False
    """`"mlp"` and `"residual-mlp"` only: give the network the mean square of the spatial
    coordinates, $|x|^2 / d$, as one more input (`models.SquaredNorm`), for solutions
    that depend on space mostly through the radius: $f(|x|^2)$ then takes one layer, not
    two. Not for periodic PDEs (their network sees an embedding of its own)."""
    num_frequencies: int = 1
    """Periodic PDEs only: Fourier modes K of the periodic embedding of each periodic
    coordinate (an int >= 1)."""

    def __post_init__(self):
        for name in ("width", "depth", "block_size", "window", "features", "num_frequencies"):
            _positive_int(self, name)
        if self.scale is not None:
            _number(self, "scale", lambda v: 0 < v < math.inf, "None or a positive finite number")
        for name in ("centred", "radial", "norm_input"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"`ModelConfig.{name}` must be a bool, got {getattr(self, name)!r}."
                )
        _choices(self)
        if self.norm_input and self.network not in ("mlp", "residual-mlp"):
            raise ValueError(
                f'`ModelConfig.norm_input` needs network "mlp" or "residual-mlp" (a dense '
                f"first layer), got network={self.network!r}."
            )

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return _from_dict(cls, data, "`model` config")


def _freeze(value):
    """JSON value -> hashable (dicts become sorted tuples of pairs)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


@dataclasses.dataclass(frozen=True)
class PDESpec:
    """What `pdes.get` needs to rebuild a PDE: name, dim, seed and extra parameters."""

    name: str
    dim: int
    seed: int = 0
    params: tuple | dict = ()

    def __post_init__(self):
        object.__setattr__(self, "params", _freeze(dict(self.params)))

    def build(self):
        """The PDE, via `pdes.get`."""
        import pdes

        return pdes.get(self.name, dim=self.dim, seed=self.seed, params=dict(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dim": self.dim, "seed": self.seed, "params": dict(self.params)}

    @classmethod
    def from_pde(cls, pde) -> "PDESpec":
        cfg = pde.config()
        return cls(cfg["name"], cfg["dim"], cfg["seed"], cfg.get("params") or {})

    @classmethod
    def from_dict(cls, data: dict) -> "PDESpec":
        return _from_dict(cls, data, "`pde` config")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild a run: `config.json` of a run directory.

    **Fields:** `preset` (name, or None for a user PDE), `pde` (a `PDESpec`, or None when
    the PDE cannot be rebuilt from a config, e.g. a `pdes.CustomPDE`), `model`, `train`,
    `freeze` (which layers are frozen, for fine-tuning runs), `warmup_freeze` (what the
    warm-up phase freezes instead, e.g. `"all-but-last"` to fit the output layer alone
    first; None: as `freeze`), `init_from` (the solver a fine-tuning run started from),
    `evaluation` (`"field"`: rel-L2 over test points; `"point"`: error at the PDE's
    reference point).
    """

    preset: str | None
    pde: PDESpec | None
    model: ModelConfig
    train: TrainConfig
    freeze: Freeze = "none"
    init_from: str | None = None
    evaluation: Evaluation = "field"
    warmup_freeze: Freeze | None = None

    def __post_init__(self):
        _choices(self)
        if self.warmup_freeze is not None:
            _choice(self, "warmup_freeze", FREEZES)
            if self.train.warmup is None:
                raise ValueError(
                    "`RunConfig.warmup_freeze` needs a warm-up phase (`TrainConfig.warmup`), "
                    "but the training config has none."
                )

    @property
    def freezes(self) -> "Freeze | tuple[Freeze, Freeze]":
        """What each phase freezes: `freeze`, or `(warm-up's, main phase's)` when the
        warm-up freezes something else (`warmup_freeze`)."""
        if self.warmup_freeze is None:
            return self.freeze
        return self.warmup_freeze, self.freeze

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "pde": None if self.pde is None else self.pde.to_dict(),
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "freeze": self.freeze,
            "warmup_freeze": self.warmup_freeze,
            "init_from": self.init_from,
            "evaluation": self.evaluation,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        if not isinstance(data, dict):
            raise ValueError(f"a run config must be a JSON object, got {type(data).__name__}.")
        data = dict(data)
        try:
            model = ModelConfig.from_dict(data.pop("model"))
            train = TrainConfig.from_dict(data.pop("train"))
            pde = data.pop("pde")
        except KeyError as e:
            raise ValueError(f"the run config is missing the field {e}.") from None
        pde = None if pde is None else PDESpec.from_dict(pde)
        return _from_dict(cls, {**data, "pde": pde, "model": model, "train": train}, "run config")


def with_cadence(train_changes: dict) -> dict:
    """`train_changes` with `eval_every` set for ten evaluations over the run when `steps`
    is changed and `eval_every` is not (not the recipe's every 1000 steps, which a short
    run or a fine-tune never reaches). The CLI's `--steps` and the API's `steps=` both
    go through it."""
    steps = train_changes.get("steps")
    if "eval_every" in train_changes or not is_int(steps):
        return train_changes  # A bad `steps` is left for `TrainConfig` to refuse.
    return {**train_changes, "eval_every": max(1, steps // 10)}


def split_overrides(overrides: dict, where: str, *classes) -> list[dict]:
    """`overrides`, keyword arguments named after fields of the config `classes`, split
    into one dict of changes per class (no field name is shared between them).

    **Raises:** `ValueError` for a name that is no field of them, naming the closest.
    """
    fields = [{f.name for f in dataclasses.fields(c)} for c in classes]
    known = sorted(set().union(*fields))
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        names = " and ".join(f"`zoo.{c.__name__}`" for c in classes)
        raise ValueError(
            f"`{where}` got an unknown argument {unknown[0]!r}.{hint} Besides its own "
            f"arguments it takes the fields of {names}: {', '.join(known)}."
        )
    return [{k: v for k, v in overrides.items() if k in f} for f in fields]
