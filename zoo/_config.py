"""Typed, frozen run configuration: what to train (PDE, model) and how (TrainConfig).

Every config round-trips through JSON (`to_dict` / `from_dict`); `config.json` in a run
directory is a `RunConfig.to_dict()`, enough to rebuild the PDE, the model skeleton and
the optimiser of the run.
"""

import dataclasses
import difflib
import json
import math
from typing import Any, Literal

import optax

SCHEDULES = ("linear", "cosine", "constant")
ESTIMATORS = ("sparse", "dense", "exact")
DISTRIBUTIONS = ("rademacher", "gaussian")
LOSSES = ("published", "unbiased")
INIT_BIASES = ("default", "residual")
OPTIMIZERS = ("adam", "natural-gradient", "lbfgs")
INITS = ("default", "protocol")
PRECISIONS = ("float32", "float64")
NETWORKS = ("mlp", "shared-mlp", "residual-mlp")
FREEZES = ("none", "first", "last", "all-but-first", "all-but-last")


def _positive_int(obj, name: str, minimum: int = 1) -> None:
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"`{type(obj).__name__}.{name}` must be an int >= {minimum}, got {value!r}."
        )


def _number(obj, name: str, ok, expected: str) -> None:
    """Check a real-valued field with `ok` (NaN fails every comparison) and store it as a
    float."""
    value = getattr(obj, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not ok(value):
        raise ValueError(f"`{type(obj).__name__}.{name}` must be {expected}, got {value!r}.")
    object.__setattr__(obj, name, float(value))


def _choice(obj, name: str, choices) -> None:
    value = getattr(obj, name)
    if value not in choices:
        raise ValueError(
            f"`{type(obj).__name__}.{name}` must be one of {list(choices)}, got {value!r}."
        )


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

    **Fields:**

    - `steps`: optimiser steps in the whole run (the schedule decays over these).
    - `batch`: collocation points per step, drawn fresh every step.
    - `lr`, `schedule`: peak learning rate; `"linear"` (to 0 at `steps`), `"cosine"`
      or `"constant"`.
    - `estimator`: `"sparse"` (`stde.SparseSTDE`), `"dense"` (`stde.DenseSTDE` with
      `distribution`) or `"exact"` (`stde.Exact`); `num_samples`: $|J|$.
    - `loss`: `"published"`, the mean of the squared single estimate (biased upward by
      the estimator's variance), or `"unbiased"`, the mean of the product of two
      estimates with independent keys.
    - `precision`: parameter and collocation dtype; `"float64"` needs
      `jax.config.update("jax_enable_x64", True)`.
    - `seed`: initialisation and data stream (the PDE has its own seed).
    - `log_every`, `eval_every`, `checkpoint_every`: cadences in steps (0: only at the
      end). The final step is always logged, evaluated and checkpointed.
    - `n_test`, `eval_batch`, `test_seed`: test points, streamed `eval_batch` at a time
      (None: chosen from the dimension), from a key independent of `seed`.
    - `devices`: data-parallel over the first `devices` devices (None: all of them); the
      full batch is drawn from the same key whatever the count and then sharded, so
      results depend on it only through float reduction order. `batch` must divide by it.
    - `rollbacks`, `rollback_factor`: on a non-finite loss, go back to the last
      checkpoint (kept in memory too) and go on with the learning rate multiplied by
      `rollback_factor`, at most `rollbacks` times; 0 stops with
      `zoo.NonFiniteLossError`. A rollback rewrites `lr` and `rollbacks` in the run's
      config (so a resume continues with the reduced rate) and logs an event record.
    - `init_bias`: `"residual"` sets the network's output bias before the first step by
      Gauss-Newton on the mean squared PDE residual over `10 * batch` seeded points (the
      rest of the network as initialised). Where the solution is nearly the ansatz factor
      times a constant (the three-body presets: ~10 (1 - |x|^2)), that constant is what
      Adam's bounded steps otherwise spend thousands of steps reaching.
    - `optimizer`: `"adam"` (the published protocol); `"lbfgs"` (`optax.lbfgs` with its
      zoom line search on each step's loss: meant for a fixed point set,
      `resample_every=0`; `lr` is ignored); `"optax:NAME"`, any optax optimiser that
      takes a learning rate first (`"optax:sgd"`, `"optax:lion"`, ...); or
      `"natural-gradient"`: Gauss-Newton
      in sample space by the Woodbury identity with SPRING momentum
      (`zoo/_natgrad.py`): each step solves a `batch x batch` system built from the
      per-point residual gradients, `lr` scales the step (about 0.1 to 1), `damping` is
      the Tikhonov term relative to the mean diagonal of $J J^\\top$ and `momentum` the
      SPRING momentum. A step costs about `batch` backward passes.
    - `init`: `"default"` (Kaiming-uniform, zero biases; see `models.MLP`) or
      `"protocol"`, the published reference code's initialisation ($W \\sim
      U(\\pm 1/\\sqrt{\\text{fan_in}})$, $b \\sim U(\\pm 1/\\sqrt{\\text{fan_out}})$).
    - `warmup`: a first phase, itself a `TrainConfig` (its own optimiser, `steps`,
      `batch`, estimator, learning rate; no warm-up of its own), run for its `steps`
      before this configuration takes over for the rest of `steps` (which counts both
      phases; this optimiser's schedule runs over the rest). Cheap Adam steps learn the
      coarse part of the solution; a second-order phase then refines it.
    - `resample_every`: draw fresh collocation points (and estimator keys) every this
      many steps; 0 keeps the first step's points for the whole run (a fixed point set).
    - `with_replacement`: sparse STDE draws its coordinates with replacement (`True`) or without
      (`False`, as the published reference code).
    """

    steps: int = 10_000
    batch: int = 100
    lr: float = 1e-3
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    estimator: Literal["sparse", "dense", "exact"] = "sparse"
    num_samples: int = 16
    distribution: Literal["rademacher", "gaussian"] = "rademacher"
    loss: Literal["published", "unbiased"] = "published"
    precision: Literal["float32", "float64"] = "float32"
    seed: int = 0
    log_every: int = 100
    eval_every: int = 1000
    checkpoint_every: int = 1000
    n_test: int = 20_000
    eval_batch: int | None = None
    test_seed: int = 12345
    devices: int | None = None
    rollbacks: int = 0
    rollback_factor: float = 0.5
    init_bias: Literal["default", "residual"] = "default"
    optimizer: str = "adam"
    damping: float = 1e-3
    momentum: float = 0.9
    init: Literal["default", "protocol"] = "default"
    with_replacement: bool = True
    resample_every: int = 1
    warmup: "TrainConfig | None" = None

    def __post_init__(self):
        for name in ("steps", "batch", "num_samples", "log_every", "n_test"):
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
        if self.eval_batch is not None:
            _positive_int(self, "eval_batch")
        _number(self, "lr", lambda v: 0 < v < math.inf, "a positive finite number")
        _number(self, "rollback_factor", lambda v: 0 < v < 1, "a number in (0, 1)")
        _number(self, "damping", lambda v: 0 <= v < math.inf, "a number in [0, inf)")
        _number(self, "momentum", lambda v: 0 <= v < 1, "a number in [0, 1)")
        if isinstance(self.warmup, dict):  # From JSON.
            object.__setattr__(self, "warmup", TrainConfig.from_dict(self.warmup))
        if self.warmup is not None:
            if not isinstance(self.warmup, TrainConfig) or self.warmup.warmup is not None:
                raise ValueError(
                    "`TrainConfig.warmup` must be a `TrainConfig` without a warm-up of its "
                    f"own, got {self.warmup!r}."
                )
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
        _choice(self, "init", INITS)
        _choice(self, "schedule", SCHEDULES)
        _choice(self, "init_bias", INIT_BIASES)
        _choice(self, "estimator", ESTIMATORS)
        _choice(self, "distribution", DISTRIBUTIONS)
        _choice(self, "loss", LOSSES)
        _choice(self, "precision", PRECISIONS)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with `changes` applied (validated).

        A new `steps` without a new `warmup` keeps the warm-up's share of the run (at least
        one step of each phase), so `steps=500` shortens both phases of a two-phase recipe.
        """
        warmup = self.warmup
        if "steps" in changes and "warmup" not in changes and warmup is not None:
            steps = changes["steps"]
            if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 2:
                share = round(steps * warmup.steps / self.steps)
                changes["warmup"] = warmup.replace(steps=min(max(share, 1), steps - 1))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        return _from_dict(cls, data, "`train` config")


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
    """The field network inside the PDE's hard-constraint ansatz.

    **Fields:** `network` (`"mlp"`, `"shared-mlp"`, `"residual-mlp"`, see `models`),
    `width`, `depth` (linear layers in total: 4 is d -> 128 -> 128 -> 128 -> 1),
    `activation` (`"tanh"`, `"sin"`, `"silu"`, `"gelu"`), `block_size` (shared-mlp only),
    `num_frequencies` (Fourier modes of the periodic embedding, periodic PDEs only).
    """

    network: Literal["mlp", "shared-mlp", "residual-mlp"] = "mlp"
    width: int = 128
    depth: int = 4
    activation: str = "tanh"
    block_size: int = 1
    num_frequencies: int = 1

    def __post_init__(self):
        _choice(self, "network", NETWORKS)
        for name in ("width", "depth", "block_size", "num_frequencies"):
            _positive_int(self, name)
        _choice(self, "activation", ("tanh", "sin", "silu", "gelu"))

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
    `freeze` (which layers are frozen, for fine-tuning runs), `init_from` (the solver a
    fine-tuning run started from), `evaluation` (`"field"`: rel-L2 over test points;
    `"point"`: error at the PDE's reference point).
    """

    preset: str | None
    pde: PDESpec | None
    model: ModelConfig
    train: TrainConfig
    freeze: str = "none"
    init_from: str | None = None
    evaluation: Literal["field", "point"] = "field"

    def __post_init__(self):
        _choice(self, "freeze", FREEZES)
        _choice(self, "evaluation", ("field", "point"))

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "pde": None if self.pde is None else self.pde.to_dict(),
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
            "freeze": self.freeze,
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
    if "eval_every" in train_changes or isinstance(steps, bool) or not isinstance(steps, int):
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
