"""The optimiser of a run: Adam with a schedule, or the Woodbury natural gradient
(`zoo/_natgrad.py`), optionally with frozen layers."""

import equinox as eqx
import optax

import models

from ._config import TrainConfig
from ._natgrad import NaturalGradient

# `freeze` (what the user freezes) -> `models.freeze_labels` `which` (what trains).
_TRAINS = {
    "none": "all",
    "first": "all-but-first",
    "last": "all-but-last",
    "all-but-first": "first",
    "all-but-last": "last",
}


def schedule(config: TrainConfig) -> optax.Schedule:
    """The learning-rate schedule: linear decay `lr -> 0` over `steps` (published), cosine,
    or constant."""
    if config.schedule == "linear":
        return optax.linear_schedule(config.lr, 0.0, config.steps)
    if config.schedule == "cosine":
        return optax.cosine_decay_schedule(config.lr, config.steps)
    return optax.constant_schedule(config.lr)


def trainable_labels(model, freeze: str):
    """`"train"` / `"freeze"` at each inexact leaf of `model` (`models.freeze_labels`)."""
    if freeze not in _TRAINS:
        raise ValueError(f"`freeze` must be one of {list(_TRAINS)}, got {freeze!r}.")
    return models.freeze_labels(model, _TRAINS[freeze])


def make_optimizer(config: TrainConfig, model=None, freeze: str = "none"):
    """Adam with `schedule(config)`, or `NaturalGradient` (its step is the trainer's: it
    needs residuals, not gradients); with `freeze` other than `"none"`, the frozen
    layers' updates are set to zero (for Adam through `optax.multi_transform` and
    `models.freeze_labels`)."""
    if config.optimizer == "natural-gradient":
        if freeze != "none":
            trainable_labels(model, freeze)  # Refuse an unknown `freeze` here too.
        return NaturalGradient()
    adam = optax.adam(schedule(config))
    if freeze == "none":
        return adam
    labels = trainable_labels(model, freeze)
    # `labels` has the model's structure, so it is a callable Module: optax would call it
    # as a labelling function. Wrap it in one that returns it.
    return optax.multi_transform(
        {"train": adam, "freeze": optax.set_to_zero()}, lambda params: labels
    )


def params_of(model):
    """The trainable leaves (inexact arrays) of `model`, `None` elsewhere."""
    return eqx.filter(model, eqx.is_inexact_array)
