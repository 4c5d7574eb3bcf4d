"""The optimiser of a run: Adam with a schedule, the Woodbury natural gradient
(`zoo/_natgrad.py`) or matrix-free Gauss-Newton (`zoo/_gauss_newton.py`), optionally with
frozen layers."""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import models
from models._finetune import complement

from ._config import FREEZES, TrainConfig
from ._gauss_newton import GaussNewton
from ._natgrad import NaturalGradient

# Optimisers as data only: their steps are the trainer's.
_SECOND_ORDER = {"natural-gradient": NaturalGradient, "gauss-newton": GaussNewton}


def phases(config: TrainConfig) -> tuple[TrainConfig, TrainConfig | None]:
    """(warm-up, main) configurations of a run, or (config, None) without a warm-up. The
    main phase's `steps` are those left after the warm-up, over which its schedule runs."""
    if config.warmup is None:
        return config, None
    return config.warmup, config.replace(warmup=None, steps=config.steps - config.warmup.steps)


def schedule(config: TrainConfig, lr=None) -> optax.Schedule:
    """The learning-rate schedule of a one-phase configuration (`phases`): linear decay
    `lr -> 0` over `steps` (published), cosine, constant, or harmonic (`lr / (1 + t)`).
    `lr` (default `config.lr`) may be a traced scalar: the trainer passes it as an
    argument of its jitted loop, so a rollback's smaller rate does not recompile."""
    lr = config.lr if lr is None else lr
    if config.schedule == "linear":
        return optax.linear_schedule(lr, 0.0, config.steps)
    if config.schedule == "cosine":
        return optax.cosine_decay_schedule(lr, config.steps)
    if config.schedule == "harmonic":
        return lambda count: lr / (1 + count)
    return optax.constant_schedule(lr)


class Phases(eqx.Module):
    """Two optimisers in sequence (`TrainConfig.warmup`): the state is the pair of
    their states; the trainer's step updates the one whose phase it is in."""

    first: object  # Each an optax transformation or `NaturalGradient`.
    then: object

    def init(self, params):
        return (self.first.init(params), self.then.init(params))


def _with_freeze(opt, model, freeze: str):
    if freeze == "none":
        return opt
    labels = trainable_labels(model, freeze)
    # `labels` has the model's structure, so it is a callable Module: optax would call it
    # as a labelling function. Wrap it in one that returns it.
    return optax.multi_transform(
        {"train": opt, "freeze": optax.set_to_zero()}, lambda params: labels
    )


def trainable_labels(model, freeze: str):
    """`"train"` / `"freeze"` at each inexact leaf of `model` (`models.freeze_labels`)."""
    if freeze not in FREEZES:
        raise ValueError(f"`freeze` must be one of {list(FREEZES)}, got {freeze!r}.")
    # `freeze` names what is frozen; `freeze_labels` takes what trains.
    return models.freeze_labels(model, complement(freeze))


def per_phase(freeze: "str | tuple[str, str]") -> tuple[str, str]:
    """(warm-up's, main phase's) `freeze` from one for both or a pair (`RunConfig.freezes`)."""
    return freeze if isinstance(freeze, tuple) else (freeze, freeze)


def make_optimizer(config: TrainConfig, model=None, freeze="none", lr=None):
    """The optimiser of `config`: Adam with `schedule(config)`, L-BFGS, any optax optimiser
    by name, or `NaturalGradient` / `GaussNewton` (their steps are the trainer's: they
    need residuals, not gradients); with a `warmup`, the `Phases` of the warm-up's
    optimiser and this one.
    With `freeze` other than `"none"` (or a pair, one per phase: `RunConfig.freezes`), the
    frozen layers' updates are set to zero (through `optax.multi_transform` and
    `models.freeze_labels`, or, for the natural gradient, by the trainer). `lr` as in
    `schedule`, one-phase configurations only."""
    first, then = phases(config)
    if then is not None:
        f0, f1 = per_phase(freeze)
        return Phases(make_optimizer(first, model, f0), make_optimizer(then, model, f1))
    if config.optimizer in _SECOND_ORDER:
        if freeze != "none":
            trainable_labels(model, freeze)  # Refuse an unknown `freeze` here too.
        return _SECOND_ORDER[config.optimizer]()
    if config.optimizer == "adam":
        opt = optax.adam(schedule(config, lr))
    elif config.optimizer == "lbfgs":
        opt = optax.lbfgs()
    else:  # "optax:NAME", validated by TrainConfig.
        opt = getattr(optax, config.optimizer[len("optax:") :])(schedule(config, lr))
    return _with_freeze(opt, model, freeze)


def init_state(optimizer, model):
    """`optimizer`'s initial state for `model`, every array strongly typed. Some optax
    states start with weakly typed scalars (L-BFGS's) that their updates return strongly
    typed: the trainer's second call, on the first's outputs, would compile again."""
    state = optimizer.init(params_of(model))
    return jax.tree.map(lambda a: jnp.asarray(a, a.dtype) if eqx.is_array(a) else a, state)


def params_of(model):
    """The trainable leaves (inexact arrays) of `model`, `None` elsewhere."""
    return eqx.filter(model, eqx.is_inexact_array)
