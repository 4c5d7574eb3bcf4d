"""Every preset trains for a few steps and evaluates (slow: one compilation per preset)."""

import math

import pytest

import zoo

TINY_DIM = {"biharmonic-twobody": 3}


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.names())
def test_preset_trains_and_evaluates(name):
    preset = zoo.get_preset(name)
    dim = preset.default_dim if preset.fixed_dim else TINY_DIM.get(name, 4)
    config = preset.train.replace(
        steps=2, batch=8, num_samples=2, eval_every=0, n_test=16, log_every=1
    )
    solver = zoo.train(
        name,
        dim,
        config=config,
        model=zoo.ModelConfig(width=8, depth=2),
        progress=False,
        plots=False,
    )
    card = solver.card
    assert math.isfinite(card["final_loss"])
    if preset.evaluation == "field":
        assert math.isfinite(card["rel_l2"]) and math.isfinite(card["trivial_rel_l2"])
    else:
        assert math.isfinite(card["u_reference_point"])
