import random

import jax
import pytest

# Reference comparisons are made in float64; models and engines follow the input dtype.
jax.config.update("jax_enable_x64", True)


@pytest.fixture
def getkey():
    """A seeded stream of PRNG keys; the seed is printed so a failure can be replayed."""
    seed = random.Random(0).randint(0, 2**31 - 1)
    print(f"getkey seed: {seed}")
    key = jax.random.PRNGKey(seed)

    def _getkey():
        nonlocal key
        key, sub = jax.random.split(key)
        return sub

    return _getkey


@pytest.fixture(scope="module")
def shipped_solver():
    """The shipped `poisson-twobody-d100` solver (the summary and plot tests' subject)."""
    import zoo

    return zoo.load("poisson-twobody-d100")
