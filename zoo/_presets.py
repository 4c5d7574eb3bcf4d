"""Presets: each catalogue PDE with a recommended model, ansatz, estimator and training
configuration; named pretrained entries `<preset>-d<dim>`; model and estimator builders."""

import dataclasses
import difflib
import re
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import models
import pdes
import stde
from stde._checks import check_int

from ._config import (
    ModelConfig,
    PDESpec,
    RunConfig,
    TrainConfig,
    readout_settings,
    source_freezes,
    without_bookkeeping,
)
from ._evaluate import sample
from ._published import PUBLISHED


@dataclasses.dataclass(frozen=True)
class Preset:
    """A catalogue PDE with a recommended model, estimator and training configuration.

    **Fields:** `name` (also the `pdes` name), `description`, `default_dim`, `fixed_dim`
    (the PDE's dimension is part of its definition, e.g. the 1D KdV), `model`, `train`,
    `params` (extra `pdes.get` parameters), `evaluation` (`"field"`: rel-L2 over
    streamed test points; `"point"`: error of $u$ at the PDE's reference point, for PDEs
    whose truth is only known there).
    """

    name: str
    description: str
    default_dim: int
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    params: tuple = ()
    fixed_dim: bool = False
    evaluation: str = "field"
    best: Callable[[int], tuple[ModelConfig, TrainConfig]] | None = None

    @property
    def has_protocol(self) -> bool:
        """Whether the published protocol applies (the PDE is in the published tables)."""
        return _published_pde(self.name)

    def recipe(self, name: str, dim: int | None = None) -> tuple[ModelConfig, TrainConfig]:
        """The `(ModelConfig, TrainConfig)` of recipe `name` at dimension `dim`.

        - `"best"`: the zoo's recommendation (the default everywhere);
        - `"protocol"`: the published protocol as its reference code runs it (4 x 128 tanh
          MLP, its initialisation, Adam 1e-3 decaying linearly to 0 over 10 000 steps, 100
          fresh points per step, sparse STDE with 16 coordinates drawn without
          replacement), for the PDEs of the published tables only.

        **Raises:** `ValueError` for an unknown recipe or a protocol the preset lacks.
        """
        dim = self.default_dim if dim is None else dim
        if name == "protocol":
            if not self.has_protocol:
                raise ValueError(
                    f"`{self.name}` has no published protocol (only the PDEs of the "
                    "published tables do); use recipe='best'."
                )
            return PROTOCOL_MODEL, PROTOCOL_TRAIN
        if name != "best":
            raise ValueError(f"`recipe` must be one of {list(RECIPES)}, got {name!r}.")
        return (self.model, self.train) if self.best is None else self.best(dim)

    def run_config(
        self,
        dim: int | None = None,
        *,
        pde_seed: int = 0,
        train: TrainConfig | None = None,
        model: ModelConfig | None = None,
        recipe: str = "best",
    ) -> RunConfig:
        """The `RunConfig` of this preset at dimension `dim` (default `default_dim`) with
        the recipe `recipe` (`Preset.recipe`); `train` and `model` replace the recipe's.

        **Raises:** `ValueError` for a dimension the PDE does not support.
        """
        dim = self.default_dim if dim is None else dim
        check_int(dim, "dim")
        if self.fixed_dim and dim != self.default_dim:
            raise ValueError(
                f"`{self.name}` is defined in dimension {self.default_dim} only, got `dim`={dim}."
            )
        spec = PDESpec(self.name, dim, pde_seed, dict(self.params))
        # Building the PDE validates the dimension (e.g. two-body needs dim >= 2).
        pde = spec.build()
        spec = PDESpec.from_pde(pde)
        recipe_model, recipe_train = self.recipe(recipe, dim)
        return RunConfig(
            preset=self.name,
            pde=spec,
            model=recipe_model if model is None else model,
            train=recipe_train if train is None else train,
            evaluation=self.evaluation,
        )


def _published_pde(name: str) -> bool:
    return any(row["pde"] == name for row in PUBLISHED)


RECIPES = ("best", "protocol")
PROTOCOL_MODEL = ModelConfig()
PROTOCOL_TRAIN = TrainConfig(init="protocol", with_replacement=False)


def is_protocol(config: RunConfig) -> bool:
    """Whether `config` trains as the published protocol does (same model, optimiser,
    sampling, estimator and schedule), so the published figure is comparable."""
    if config.pde is None or config.init_from is not None or config.freeze != "none":
        return False
    if not _published_pde(config.pde.name):
        return False
    same = without_bookkeeping(config.train) == without_bookkeeping(PROTOCOL_TRAIN)
    return same and config.model == PROTOCOL_MODEL


_EXACT = TrainConfig(estimator="exact")

_DESCRIPTIONS = {
    "poisson": "Poisson Δu = f",
    "allen-cahn": "Allen-Cahn Δu + u - u³ = f",
    "sine-gordon": "Sine-Gordon Δu + sin u = f",
}


# The natural-gradient recipe, first measured on the two-body ball PDEs: the protocol-like
# Adam learns the affine part of the field in 1000 cheap steps, then 600 Woodbury
# natural-gradient steps on 400 fresh points each with the exact operator learn what Adam
# does not. With fresh points each step the phase behaves like a block Kaczmarz iteration
# whose rate per step grows with the points per step, but so does a step's cost (batch^2
# for the Gram matrix): measured against the phase's compute, 200-800 points end alike
# (two-body Allen-Cahn, d = 100, seed 0: 200 x 1800 steps 0.017 of the trivial fit,
# 400 x 600 0.018), and 400 points keep a step under a second on two CPU cores.
NATURAL_GRADIENT = TrainConfig(
    steps=1600,
    warmup=TrainConfig(steps=1000),
    optimizer="natural-gradient",
    batch=400,
    estimator="exact",
    lr=0.5,
    momentum=0.9,
    damping=1e-3,
    eval_every=400,
    checkpoint_every=400,
)


# The low-dimensional KdV presets: their few inputs make a natural-gradient step cheap.
_KDV_NATURAL_GRADIENT = NATURAL_GRADIENT.replace(
    steps=1000, warmup=_EXACT.replace(steps=500), eval_every=250, checkpoint_every=250
)


def _up_to(
    max_dim: int, model: ModelConfig, train: TrainConfig, above: TrainConfig = TrainConfig()
):
    """A `Preset.best`: `(model, train)` at d <= `max_dim`, where the natural-gradient
    recipe was measured, and Adam (`above`) on the protocol's network above. For the dense
    networks `max_dim` is 128 (measured at d = 100): the exact operator's d jets per point
    make a step ~d / 100 times dearer, and a first layer of >= d units (what the two-body
    fields need, the rank floor) makes it dearer still
    (benchmarks/natural_gradient_step.py: ~15 s a step at d = 1000)."""

    def best(dim: int) -> tuple[ModelConfig, TrainConfig]:
        return (model, train) if dim <= max_dim else (ModelConfig(), above)

    return best


# One hidden layer of 256 tanh units, 1000 Adam then 800 natural-gradient steps: the
# two-body recipe below d = 20, and Black-Scholes-Barenblatt's (a quadratic in x). On the
# ball in high d, N* = u* / (1 - |x|^2) is nearly a quadratic a + b.x + x^T H x / 2
# (scripts/rank_floor.py) and Adam learns only its affine part; one hidden layer spans H
# once it has >= d units (unit j contributes v_j tanh''(b_j) (w_j.x)^2 / 2) and makes a
# natural-gradient step cheaper than the protocol's three hidden layers. Two-body
# Allen-Cahn, d = 100, seed 1, 1000 Adam + 600 natural-gradient steps, error / trivial
# fit: 4 x 128 0.0135, 256 units 0.0126, 512 units 0.0090; damping 1e-4 0.021, 1e-3
# 0.0126, 3e-3 0.0105, 1e-2 0.0123; 800 steps at 3e-3: 0.0091.
TWOBODY_MODEL = ModelConfig(width=256, depth=2)
# 800 natural-gradient steps at damping 3e-3 (the tuning above), shared with the
# parabolic presets below. The warm-up is given again so that it keeps its 1000 steps.
_NATURAL_GRADIENT_800 = NATURAL_GRADIENT.replace(
    steps=1800, warmup=NATURAL_GRADIENT.warmup, damping=3e-3
)
# From d = 20 to 1000 (docs/results.md): N* is exactly a sum of one function of
# neighbouring pairs, sum_i c_i phi(x_i, x_{i+1}), which a window MLP over pairs holds
# whatever d (a dense first layer needs ~600 units at d = 1000, the rank floor), and
# whose exact Laplacian costs a few rows per coordinate (the engine's row-sparse jets:
# ~0.8 ms a point at d = 1000). Natural-gradient steps from the fitted output bias; the
# points per step are the lever (d = 1000, Allen-Cahn seed 0, error / trivial fit,
# damping 1e-4, input scale 5): 200 points x 300 steps 0.0113, x 800 steps 0.0095,
# 600 points x 300 steps 0.0043, 800 x 450 0.0017 after 180 steps, 1200 x 150 0.0011
# (about as many points as the ~1350 parameters: each step a least-squares fit rather
# than an interpolation of its batch); the input scale matters less (200 x 300: scale 1
# 0.014, 5 0.0113, the default 55 0.014) (benchmarks/results/cpu/window-d1000-probes/).
# 300 steps, not 150 or 200: Poisson seeds 1, 3, 4 end at 0.0042 after 150 and at
# 0.0034-0.0035 after 200 (benchmarks/results/cpu/accuracy-d1000-window1200-poisson/,
# accuracy-d1000-s200/), and the median instance (seed 2) at 5.67e-5 after 200 against
# 4.35e-5 after 300 (the published figure over 10 is 4.91e-5), ~1.3 s a step alone.
_TWOBODY_WINDOW = (
    ModelConfig(network="window-mlp", window=2, width=16, depth=4, scale=5.0),
    NATURAL_GRADIENT.replace(
        steps=300,
        warmup=None,
        batch=1200,
        damping=1e-4,
        init_bias="residual",
        eval_every=50,
        checkpoint_every=50,
    ),
)


def _network(cfg: ModelConfig, in_size: int, dtype, key):
    net = _plain_network(cfg, in_size, dtype, key)
    return models.WithRadial(net, dtype=dtype) if cfg.radial else net


def _plain_network(cfg: ModelConfig, in_size: int, dtype, key):
    common = dict(width=cfg.width, depth=cfg.depth, activation=cfg.activation, dtype=dtype, key=key)
    if cfg.network == "shared-mlp":
        return models.SharedMLP(in_size, block_size=cfg.block_size, **common)
    if cfg.network == "residual-mlp":
        return models.ResidualMLP(in_size, **common)
    if cfg.network == "window-mlp":
        return models.WindowMLP(
            in_size,
            window=cfg.window,
            features=cfg.features,
            scale=cfg.scale,
            centred=cfg.centred,
            **common,
        )
    return models.MLP(in_size, **common)


def _window_batch(model: ModelConfig, dim: int) -> int:
    """Points a step for `model`'s window network on `dim` inputs: at most 9 for every 10
    of its parameters, since with more points than parameters the steps stall (two-body
    d = 200, seed 0, error / trivial fit after 150 steps: 500 points 0.0017, 1200 points
    0.23, and 0.29 in float64, so not the arithmetic); a multiple of 8, so that it
    divides over 1, 2, 4 or 8 devices."""
    return 9 * _parameters(model, dim) // 80 * 8


def _parameters(model: ModelConfig, dim: int, which: str = "all") -> int:
    """Parameters of `model`'s network on `dim` inputs (`which`: `models.trainable_spec`)."""
    # Shapes only, the key made inside the trace: recipes are read at import, and nothing
    # may start a JAX backend before `jax.distributed.initialize` (multi-process runs).
    shapes = eqx.filter_eval_shape(lambda: _network(model, dim, jnp.float32, jax.random.PRNGKey(0)))
    # NumPy stand-ins, which `trainable_spec` takes for arrays (a few MB at most).
    net = jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), shapes)
    return sum(x.size for x in jax.tree.leaves(eqx.filter(net, models.trainable_spec(net, which))))


def _TWOBODY_BEST(dim: int) -> tuple[ModelConfig, TrainConfig]:
    if dim < 20:
        # Few pairs: the dense network wins (Allen-Cahn seed 0, error / trivial fit, dense
        # against window: d = 10 0.0018 vs 0.0037, d = 20 0.0073 vs 0.0013, d = 50 0.0114
        # vs 0.00026; benchmarks/results/cpu/window-below-128/).
        return TWOBODY_MODEL, _NATURAL_GRADIENT_800
    if 1000 <= dim <= 10_000:
        # The pair function learned at d = 100 (the recipe below, ~20 s) and only the
        # readouts fitted here, by Gauss-Newton from the trivial fit (`zoo.fit_readouts`):
        # PDE seeds 0-4 of the three PDEs at d = 10 000 end at ~0.0003 of the trivial fit
        # in ~4 min, where Adam ends at ~0.03 and the window network trained here from
        # scratch stalls (docs/results.md); at d = 1000 at 0.00007-0.00037 in ~25 s, where
        # the recipe below (300 steps at d = 1000) ends at 0.00036-0.0026 in ~450 s.
        # Measured up to 10 000: the readouts' Jacobian, 1.5 d x d floats, is 600 MB there
        # and 60 GB at d = 1e5.
        model = _TWOBODY_WINDOW[0]
        readouts = _parameters(model.replace(centred=True), dim, "last")
        train = TrainConfig(**readout_settings(readouts), source_dim=100)
        return model, train.replace(eval_every=0)  # 20 000 test points: ~40 s an evaluation
    if dim > 10_000:
        # Up here N* = u* / (1 - |x|^2) is nearly affine (at d = 1e5 the best fit by an
        # affine function of x and |x|^2 leaves 0.0034 of the trivial fit, seed 0;
        # scripts/rank_floor.py): an affine network with a radial term (depth 1, d + 2
        # parameters), linear in its parameters up to the PDE's own nonlinearity. A
        # point's residual is one equation for its d coefficients; the residual's gradient
        # with respect to the point, zero for the solution too, is d more, each nearly
        # one coefficient's (`residual_gradient`). So a batch of 16 points pins the
        # affine part down in one matrix-free Gauss-Newton step (LSMR), and the harmonic
        # rate averages the batches' solutions: d = 1e5, Allen-Cahn seed 0, 0.0036 of the
        # trivial fit after 8 steps and 0.00347 after 32 (1.03x the floor, ~100 s of
        # training), where natural gradient on the residuals alone, one equation a point,
        # needed 15 d points (1.5 million, 100 minutes) for 0.0044 (docs/results.md). At
        # d = 1e6 (seed 0) 5.54e-6, 0.00257 of the trivial fit, in ~20 min of training on
        # two CPU cores (peak 16.3 GB: the bias fit's points), where Adam on the protocol's
        # network ended at 1.48e-1 after 10 000 steps.
        train = TrainConfig(
            optimizer="gauss-newton",
            residual_gradient=1.0,
            estimator="exact",
            steps=32,
            batch=16,
            lr=1.0,
            schedule="harmonic",
            init_bias="residual",
            init_bias_points=1024,
            # 20 000 test points: ~1 min an evaluation at d = 1e5, ~17 min at 1e6.
            eval_every=16 if dim <= 100_000 else 0,
            checkpoint_every=16,
        )
        return ModelConfig(depth=1, radial=True), train
    model, train = _TWOBODY_WINDOW
    train = train.replace(batch=min(train.batch, _window_batch(model, dim)))
    if dim <= 128:
        # Damping 1e-3, without which some instances diverge or stall (d = 100, 392
        # points, 300 steps, Allen-Cahn seeds 0-4 with 1e-3: 0.00008-0.0005 of the trivial
        # fit; seed 1 with 1e-4 0.0046, and 600 steps diverged). At d = 1000 damping 1e-3
        # is worse (Poisson seed 1, 150 steps: 0.0052 against 0.0042).
        train = train.replace(damping=1e-3)
    return model, train


# The three-body ball PDEs at d <= 128 (measured at d = 100, docs/results.md): beyond its
# constant K ~ 10, N* is sum_i c_i psi(x_i, x_{i+1}, x_{i+2}), which a window MLP over
# triples holds; 600 natural-gradient steps on 9/10 of its parameters in points a
# step, from the fitted output bias (Allen-Cahn seed 0, error / trivial fit: 300 steps
# at damping 1e-4 0.102, 600 steps 0.024; damping 1e-3 stays at 1.00, 1e-5 diverged;
# benchmarks/results/cpu/threebody-window/). To d = 1000 the same network, started from
# the one learned at d = 100 (below): from scratch it does not start there (its zero
# readouts fit only each batch's noise). PDE seeds 0-4 of the three PDEs at d = 1000 end
# at 0.0102-0.0524 of the trivial fit (benchmarks/results/cpu/threebody-d1000-best/); with 3
# Gauss-Newton steps on the readouts instead of 50 natural-gradient ones Allen-Cahn seed 3
# ends at 0.134 (threebody-d1000-staged/). Above d = 1000, the preset's Adam (not measured).
def _THREEBODY_BEST(dim: int) -> tuple[ModelConfig, TrainConfig]:
    # Below d = 3 there is no triple: the PDE refuses such a d with its own message.
    if dim > 1000 or dim < 3:
        return ModelConfig(), TrainConfig(init_bias="residual")
    model = ModelConfig(network="window-mlp", window=3, width=16, depth=4, scale=5.0)
    train = NATURAL_GRADIENT.replace(
        steps=600,
        warmup=None,
        batch=_window_batch(model, dim),  # 400 at d = 100
        damping=1e-4,
        init_bias="residual",
        eval_every=100,
        checkpoint_every=100,
    )
    if dim <= 128:
        return model, train
    # Above, the triple function learned at d = 100 by the recipe above (~80 s), moved
    # here (`TrainConfig.source_dim`: scale kept, centred); 50 natural-gradient steps on
    # its readouts alone (the warm-up), then 100 on every layer, 9/10 of the parameters
    # but at most 1200 points a step (the measured d = 1000), damping 1e-3 (1e-4 made the
    # float32 factorisations fail on Allen-Cahn).
    batch = min(train.batch, 1200)
    steps = train.replace(steps=150, batch=batch, damping=1e-3, eval_every=50, checkpoint_every=50)
    return model, steps.replace(warmup=steps.replace(steps=50), source_dim=100)


# Heat- and Sine-Gordon-parabolic at d <= 128 (measured at d = 100, training seeds 0-2,
# docs/results.md): Adam's 10 000 steps leave a mean squared residual of ~0.1, largest
# near the reference point, and u(0, T) wandering by +-3% (heat) and +-15% (Sine-Gordon,
# whose u(0, T) is 6x smaller) over the last 5000 steps. 1000 Adam steps, then 800
# natural-gradient steps on 400 points with the exact Laplacian take the residual to
# 0.012-0.022 and pin u(0, T) (the last evaluations within +-0.4% and +-1.2%), in ~450 s
# on two CPU cores; final errors heat 2.2e-3 to 5.9e-3 (Adam 1.1e-3 to 1.07e-2),
# Sine-Gordon 1.1e-2 to 2.5e-2 (Adam 1.9e-2 to 3.7e-2), each run a little low. The
# protocol's 4 x 128 network, not one hidden layer: a radial field f(|x|^2) needs a layer
# to form |x|^2 and another for f (one hidden layer of 256: 24% low). Both g are radial and
# the PDEs rotation invariant, so u = v(|x|^2, t): with |x|^2 / d as one more input
# (`norm_input`, models.SquaredNorm) the first layer forms v, and the same steps end at a
# mean squared residual of 0.0016-0.006 and, over training seeds 0-2, errors of heat
# 9.4e-4 to 1.36e-3 (5.1e-3 median without) and Sine-Gordon 6.3e-3 to 8.8e-3 (2.3e-2),
# lower on every seed, at 1.2-1.6x the step (benchmarks/results/cpu/parabolic-norm-input/).
_PARABOLIC_BEST = _up_to(
    128,
    ModelConfig(norm_input=True),
    _NATURAL_GRADIENT_800.replace(eval_every=200, checkpoint_every=200),
)


# The wide-domain two-body PDEs up to d = 1000 (measured at 100 and 1000, docs/results.md): with
# O(1) coordinates N* = u* / (1 - |x|^2 / d) is a sum of d - 1 different nonlinear
# functions of neighbouring pairs (x_i, x_{i+1}), which a dense MLP fits slowly whatever
# its width (regressing u* itself, 50 000 Adam steps: 0.20 of the trivial fit; the PINN
# 0.44-0.48). A window MLP over pairs (one small MLP shared by every pair, read out per
# pair) holds that structure; from its constant start, natural-gradient steps on 200
# points with the exact Laplacian learn it directly, no Adam warm-up. Error / trivial fit
# (allen-cahn): 2 -> 16 -> 1, damping 3e-3, 300 steps: seeds 0-2 0.060, 0.099, 0.070;
# 2 -> 16 -> 16 -> 1 (~1.5 s a step on two CPU cores), 200 steps: damping 3e-3 seed 1
# 0.019 but seed 0 0.136, damping 1e-2 seed 0 0.0092; 2 -> 16 -> 4 features, damping
# 3e-3, seed 0: 0.023 (benchmarks/results/cpu/window-mlp-probes/). 600 steps, not 200:
# with the row-sparse jets a step takes ~0.03 s, and over PDE seeds 0-4 of the three
# PDEs 200 steps end at 0.0071-0.0161, 600 at 0.0045-0.0092 (lower on every instance).
# 392 points a step (9/10 of the parameters, the unit-ball recipe's rule) stalls here:
# 0.05-0.15 on seeds 1-3 at damping 1e-2, 0.05 on seed 0 at 1e-3
# (benchmarks/results/cpu/accuracy-wide-window/). The same recipe up to d = 1000 (a step
# ~0.17 s there): PDE seeds 0-2 of the three PDEs at d = 1000 end at 0.0096-0.0236 of the
# trivial fit in ~100 s, where the dense network's Adam, the recipe above, ends at 0.61
# (Allen-Cahn seed 0, 89 s; the window network 0.011; benchmarks/results/cpu/wide-d1000/).
# Seed 3 ends alike (0.015-0.017), but seed 4 stalls at 0.52-0.57 on all three PDEs
# (benchmarks/results/cpu/wide-d1000-seeds34/), and 400 points a step, which lifts seed 4,
# stalls Sine-Gordon seed 2 (0.68). So above d = 128 the steps start from the pair
# function learned at d = 100 by this recipe (~25 s; with O(1) coordinates it is the same
# function of the same inputs), the readouts fitted to it first (3 Gauss-Newton steps,
# `zoo.fit_readouts`: ~0.05 of the trivial fit), then every layer trained from there
# (docs/results.md, the wide-domain section).
_WIDE_MODEL = ModelConfig(network="window-mlp", window=2, width=16, depth=4)
_WIDE_STEPS = NATURAL_GRADIENT.replace(
    steps=600, warmup=None, batch=200, damping=1e-2, eval_every=50, checkpoint_every=100
)


def _WIDE_BEST(dim: int) -> tuple[ModelConfig, TrainConfig]:
    if dim <= 128:
        return _WIDE_MODEL, _WIDE_STEPS
    if dim > 1000:
        return ModelConfig(), TrainConfig()  # Adam on the protocol's network: not measured.
    readouts = _parameters(_WIDE_MODEL.replace(centred=True, scale=1.0), dim, "last")
    fit = TrainConfig(**readout_settings(readouts))
    train = _WIDE_STEPS.replace(
        steps=300,
        warmup=fit,
        source_dim=100,
        init_bias="residual",
        init_bias_points=fit.init_bias_points,
    )
    return _WIDE_MODEL, train


def _kdv_highdim_best(dim: int) -> tuple[ModelConfig, TrainConfig]:
    # At d = 100: 500 Adam steps with the exact operator (rel-L2 4.7e-2), then 300
    # Woodbury natural-gradient steps on 400 points (~1 s each on two CPU cores): 1.4e-3,
    # 0.063 of the trivial fit, in 359 s (Adam's 10 000 exact steps: 3.1e-3 in 750 s).
    # Measured at d = 100 only; the exact third-order operator's jets (d per point) make
    # either phase's step ~d / 100 times dearer, so larger dimensions keep Adam.
    train = NATURAL_GRADIENT.replace(
        steps=800,
        warmup=_EXACT.replace(steps=500),
        eval_every=100,
        checkpoint_every=100,
    )
    return ModelConfig(), train if dim <= 128 else _EXACT


def _biharmonic_best(dim: int) -> tuple[ModelConfig, TrainConfig]:
    # At d = 10, 200 natural-gradient steps after the warm-up take the error from 3.4e-2 to
    # 1.4e-4 (Adam's 10 000 steps: 2.1e-2), in about the time of those 10 000 steps; a
    # step costs ~3 s on two CPU cores (the exact biharmonic's jets, per point): measured
    # at d = 10 only, so larger dimensions keep Adam. The warm-up is given again because
    # `replace(steps=...)` alone would keep its share of the steps (750 of 1200).
    train = NATURAL_GRADIENT.replace(
        steps=1200, warmup=NATURAL_GRADIENT.warmup, eval_every=200, checkpoint_every=200
    )
    return ModelConfig(), train if dim <= 10 else TrainConfig()


def _ball_presets():
    out = []
    for body in ("two", "three"):
        for eq, text in _DESCRIPTIONS.items():
            out.append(
                Preset(
                    f"{eq}-{body}body",
                    f"{text} on the unit ball, {body}-body exact solution, u = 0 on the sphere",
                    default_dim=100,
                    # The three-body solution is ~K (1 - |x|^2) with K ~ 10: start there.
                    train=TrainConfig(init_bias="residual" if body == "three" else "default"),
                    best=_TWOBODY_BEST if body == "two" else _THREEBODY_BEST,
                )
            )
    for eq, text in _DESCRIPTIONS.items():
        out.append(
            Preset(
                f"{eq}-twobody-wide",
                f"{text} on the ball of radius √d (O(1) coordinates: the harder benchmark)",
                default_dim=100,
                best=_WIDE_BEST,
            )
        )
    return out


_PRESETS = {
    p.name: p
    for p in _ball_presets()
    + [
        Preset(
            "biharmonic-twobody",
            "clamped plate Δ²u = f on the unit ball, u = ∂ₙu = 0 (fourth order)",
            default_dim=10,
            best=_biharmonic_best,
        ),
        Preset(
            "kdv-highdim",
            "Σᵢ (u_{xᵢxᵢxᵢ} + u u_{xᵢ}) = f on the unit ball, u = ∂ₙu = 0 (third order)",
            default_dim=100,
            # The exact operator: at u* itself sparse STDE's squared residual estimate
            # (|J| = 16 of 100) averages ~1e5, so the published loss's minimiser follows
            # the estimator's variance, not u* (10 000 steps: rel-L2 0.94, trivial 0.022).
            train=_EXACT,
            best=_kdv_highdim_best,
        ),
        Preset(
            "kdv-1d",
            "1D KdV u_t + u u_x + 0.0025 u_xxx = 0, periodic, u(x, 0) = cos πx",
            default_dim=1,
            fixed_dim=True,
            # Two inputs make a natural-gradient step cheap: 500 exact Adam steps, then 500
            # on 400 points, 1.0e-2 (0.013 of the trivial fit) in ~110 s on two CPU cores;
            # Adam needs more points than the high-d protocol's 100 for the steep travelling
            # waves (10 000 steps: 1.02e-1 with 100, 3.94e-2 with 1000; 20 000 steps of
            # 1000: 1.78e-2 in ~6 min).
            train=_KDV_NATURAL_GRADIENT,
        ),
        Preset(
            "kdv-1d-gradient-enhanced",
            "1D KdV with the gradient-enhanced (gPINN) loss (needs u_txxx)",
            default_dim=1,
            fixed_dim=True,
            # kdv-2d's recipe: 500 exact Adam steps, then 500 natural-gradient steps on
            # 400 points: 6.1e-3, 0.008 of the trivial fit, in ~420 s on two CPU cores
            # (Adam's 10 000 steps of 100 points: 0.37).
            train=_KDV_NATURAL_GRADIENT,
        ),
        Preset(
            "kdv-2d",
            "2D KdV-type equation with u_xxxy, manufactured solution, u = 0 on the edges",
            default_dim=2,
            fixed_dim=True,
            # Three inputs: the natural gradient's steps are cheap, and it ends ~10x below
            # Adam's 10 000 steps (9.6e-4 against 1.2e-2, trivial fit 6.7e-2).
            train=_KDV_NATURAL_GRADIENT,
        ),
        Preset(
            "heat-parabolic",
            "∂ₜu = Δu + (1 - u²)/(1 + u²), T = 0.3; error of u(0, T) vs published MLP value",
            default_dim=100,
            evaluation="point",
            best=_PARABOLIC_BEST,
        ),
        Preset(
            "allen-cahn-parabolic",
            "∂ₜu = Δu + u - u³, g = arctan(maxᵢ xᵢ); error of u(0, T) vs published value",
            default_dim=100,
            evaluation="point",
        ),
        Preset(
            "sine-gordon-parabolic",
            "∂ₜu = Δu + sin u, T = 0.3; error of u(0, T) vs multilevel Picard (ours)",
            default_dim=100,
            evaluation="point",
            best=_PARABOLIC_BEST,
        ),
        Preset(
            "hjb-lqg",
            "HJB-LQG u_t + Δu - |∇u|² = 0; error of u(0, 0) vs Monte Carlo",
            default_dim=100,
            evaluation="point",
            # The two-body natural-gradient recipe: u(0, 0) within 0.18%, 1.4% and 1.0% of
            # the Monte Carlo value (d = 100, training seeds 0-2, ~290 s each on two CPU
            # cores; Adam's 10 000 steps: 5.1%). The one-hidden-layer network not tried.
            best=_up_to(128, ModelConfig(), NATURAL_GRADIENT),
        ),
        Preset(
            "hjb-lin",
            "HJB u_t + Δu - (1/d) Σ|u_{xᵢ}|^1.75 = -2, exact u = Σxᵢ + T - t",
            default_dim=100,
        ),
        Preset(
            "black-scholes-barenblatt",
            "Black-Scholes-Barenblatt (weighted diagonal operator), exact solution",
            default_dim=100,
            # N* = u* - |x|^2 over (T - t) is c(t) |x|^2 with O(1) coordinates: Adam's 10 000
            # steps end at 0.58 of the trivial fit; 1000 Adam + 600 natural-gradient steps
            # at 0.081-0.083 with the 4 x 128 network (~290 s on two CPU cores) and at
            # 0.045-0.046 with one hidden layer of 256 units (~180 s; d = 100, training
            # seeds 0 and 1): a quadratic in x, as the two-body fields nearly are.
            best=_up_to(128, TWOBODY_MODEL, NATURAL_GRADIENT),
        ),
    ]
}

DEFAULT_PRESET = "allen-cahn-twobody"


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """A named pretrained entry: a preset at one dimension, trained with `train`."""

    name: str
    preset: str
    dim: int
    train: TrainConfig = TrainConfig()
    pde_seed: int = 0

    def run_config(self) -> RunConfig:
        """The entry's run configuration as training writes it (`written_config`)."""
        preset = get_preset(self.preset)
        return written_config(preset.run_config(self.dim, pde_seed=self.pde_seed, train=self.train))


def _pretrained(preset: str, dim: int, **train) -> Pretrained:
    _, base = _PRESETS[preset].recipe("best", dim)
    return Pretrained(f"{preset}-d{dim}", preset, dim, base.replace(**train))


# Each entry is trained with its preset's best recipe at its dimension (`Preset.recipe`:
# a natural-gradient phase where one was measured, Adam elsewhere). Weights
# ship in zoo/pretrained/ once scripts/train_pretrained.py has produced them.
_PRETRAINED = {
    p.name: p
    for p in (
        _pretrained("allen-cahn-twobody", 100),
        _pretrained("allen-cahn-twobody", 1000),
        _pretrained("poisson-twobody", 100),
        _pretrained("poisson-twobody", 1000),
        _pretrained("sine-gordon-twobody", 100),
        _pretrained("sine-gordon-twobody", 1000),
        _pretrained("allen-cahn-threebody", 100),
        _pretrained("biharmonic-twobody", 10),
        _pretrained("kdv-1d", 1),
        _pretrained("heat-parabolic", 100),
        _pretrained("allen-cahn-twobody-wide", 100),
    )
}


def names() -> list[str]:
    """The preset names (each is also a `pdes` name), sorted."""
    return sorted(_PRESETS)


def pretrained_names() -> list[str]:
    """The named pretrained entries `<preset>-d<dim>`, sorted (weights may not be shipped
    for all; see `zoo.load`)."""
    return sorted(_PRETRAINED)


def _unknown(kind: str, name, known: list[str]) -> ValueError:
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Known: {', '.join(known)}.")


def get_preset(name: "str | Preset") -> Preset:
    """The preset `name`.

    **Raises:** `ValueError` for an unknown name, listing the known ones.
    """
    if isinstance(name, Preset):
        return name
    if name not in _PRESETS:
        # `allen-cahn-twobody-d100` names a pretrained entry; say which preset it is.
        m = re.fullmatch(r"(.+)-d(\d+)", str(name))
        if m and m.group(1) in _PRESETS:
            raise ValueError(
                f"{name!r} names a pretrained entry; the preset is {m.group(1)!r} with "
                f"`dim`={m.group(2)}."
            )
        raise _unknown("preset", name, names())
    return _PRESETS[name]


def get_pretrained(name: str) -> Pretrained:
    """The pretrained entry `name` (one of `zoo.pretrained_names()`): its preset, dimension,
    PDE seed and training configuration, whether or not its weights ship.

    **Raises:** `ValueError` for an unknown name, with the closest names.
    """
    if name not in _PRETRAINED:
        raise _unknown("pretrained model", name, pretrained_names())
    return _PRETRAINED[name]


def make_estimator(config: TrainConfig) -> stde.AbstractEstimator:
    """The `stde` estimator that `config` asks for."""
    if config.estimator == "exact":
        return stde.Exact()
    if config.estimator == "dense":
        return stde.DenseSTDE(config.num_samples, config.distribution)
    return stde.SparseSTDE(config.num_samples, replace=config.with_replacement)


def protocol_init(model, key):
    """`model` with every `eqx.nn.Linear` re-drawn as the published reference code draws
    it (`TrainConfig.init="protocol"`): $W \\sim U(\\pm 1/\\sqrt{\\text{fan_in}})$ and
    $b \\sim U(\\pm 1/\\sqrt{\\text{fan_out}})$."""
    is_linear = lambda m: isinstance(m, eqx.nn.Linear)
    linears = [m for m in jax.tree.leaves(model, is_leaf=is_linear) if is_linear(m)]
    keys = jax.random.split(key, 2 * len(linears))

    def redraw(layer, kw, kb):
        w, b = layer.weight, layer.bias
        fan_out, fan_in = w.shape
        w = jax.random.uniform(kw, w.shape, w.dtype, -1.0, 1.0) / jnp.sqrt(fan_in)
        if b is not None:
            b = jax.random.uniform(kb, b.shape, b.dtype, -1.0, 1.0) / jnp.sqrt(fan_out)
        return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (w, b), is_leaf=lambda x: x is None)

    new = [redraw(m, keys[2 * i], keys[2 * i + 1]) for i, m in enumerate(linears)]
    return eqx.tree_at(
        lambda m: [x for x in jax.tree.leaves(m, is_leaf=is_linear) if is_linear(x)], model, new
    )


def estimator_label(config: TrainConfig) -> str:
    if config.estimator == "exact":
        return "exact"
    if config.estimator == "dense":
        return f"dense STDE ({config.distribution}) |J|={config.num_samples}"
    return f"sparse STDE |J|={config.num_samples}"


def dtype_of(config: TrainConfig):
    """The training dtype; `ValueError` if float64 is asked for without x64 enabled."""
    if config.precision == "float64":
        if not jax.config.jax_enable_x64:
            raise ValueError(
                "`precision='float64'` needs 64-bit JAX: call "
                "`jax.config.update('jax_enable_x64', True)` at start-up (the command line "
                "does this for `--precision float64`)."
            )
        return jnp.float64
    return jnp.float32


def written_config(run: RunConfig) -> RunConfig:
    """`run` as `zoo.train` writes it to `config.json`: a window MLP's input scale resolved
    (`resolve_model`) and, for the readouts' fit of a network trained at another
    dimension (`TrainConfig.source_dim`), that network as `zoo.fit_readouts` moves it
    (centred) with its output layer alone trained (in the warm-up only, where the config
    has one). (Where it came from, `init_from`, is a path only the run knows.)"""
    model = resolve_model(run.model, run.pde.build())
    if run.train.source_dim is None:
        return run.replace(model=model)
    freeze, warmup_freeze = source_freezes(run.train)
    return run.replace(
        model=model.replace(centred=True), freeze=freeze, warmup_freeze=warmup_freeze
    )


def resolve_model(config: ModelConfig, pde) -> ModelConfig:
    """`config` with a window MLP's input scale fixed: `ModelConfig.scale`, or where it is
    None one over the root mean square of a coordinate at 1000 of the PDE's interior
    points (a fixed key, float32; 1 behind a periodic embedding, whose cos / sin are O(1)). A run
    writes the resolved config, so a load rebuilds the same network without sampling."""
    if config.network != "window-mlp" or config.scale is not None:
        return config
    if _periodic(pde.ansatz) is not None:
        return config.replace(scale=1.0)
    return config.replace(scale=float(1.0 / _rms(pde)))


def _rms(pde) -> jax.Array:
    # float32 points whatever `jax_enable_x64` says: the same PDE, the same network.
    x = sample(pde, jax.random.PRNGKey(0), 1000, jnp.float32)
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def coordinate_rms(pde) -> float:
    """The root mean square of a coordinate at 1000 of `pde`'s interior points (a fixed
    key, float32 points: the same PDE, the same number)."""
    return float(_rms(pde))


def _periodic(ansatz):
    return ansatz.period if isinstance(ansatz, stde.InitialValueAnsatz) else None


def build_model(pde, config: ModelConfig, *, key, dtype=jnp.float32) -> models.Constrained:
    """The network of `config` inside the PDE's recommended ansatz:
    `models.Constrained(net, pde.ansatz)`.

    An initial-value ansatz with a `period` (periodic space) gets a network that sees the
    spatial coordinates through a `models.PeriodicEmbedding`, so the field is exactly
    periodic; `config.norm_input` puts a `models.SquaredNorm` of the spatial coordinates
    in front of the network.
    """
    ansatz = pde.ansatz
    period = _periodic(ansatz)
    config = resolve_model(config, pde)
    if period is not None:
        if config.norm_input:
            raise ValueError(
                f"`ModelConfig.norm_input` is not for periodic PDEs ({pde.name} is periodic "
                "in space: its network sees a periodic embedding)."
            )
        embedding = models.PeriodicEmbedding(
            pde.input_dim, tuple(range(pde.dim)), period, config.num_frequencies
        )
    elif config.norm_input:
        embedding = models.SquaredNorm(pde.input_dim, pde.dim)
    else:
        return models.Constrained(_network(config, pde.input_dim, dtype, key), ansatz)
    net = _network(config, embedding.out_size, dtype, key)
    return models.Constrained(models.Embedded(embedding, net), ansatz)


def point_reference(pde) -> float | None:
    """The reference value at `pde.reference_point` for point-evaluated PDEs, or None."""
    if isinstance(pde, pdes.HJBLQG):
        return float(pde.monte_carlo(pde.reference_point)[0])
    value = getattr(pde, "reference_value", None)
    return None if value is None else float(value)
