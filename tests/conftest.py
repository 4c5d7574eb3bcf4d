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


# Modules whose module-scoped fixtures train or load a solver. Under `-n N` each of them
# runs on one worker (xdist's "loadgroup"), so its fixture is built, and its steps compiled,
# once instead of once per worker; the other tests are spread one by one as before.
_GROUPED = {
    "test_api_overrides",
    "test_cli",
    "test_cli_summary",
    "test_hardening",
    "test_pdes_kdv",
    "test_plots",
    "test_reliability",
    "test_zoo",
}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # xdist turns a bare `-n N` into "load"; an explicit `--dist` is left alone.
    given = any(
        a == "--dist" or a.startswith(("--dist=", "-d")) for a in config.invocation_params.args
    )
    if getattr(config.option, "dist", "no") == "load" and not given:
        config.option.dist = "loadgroup"


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if name in _GROUPED:
            item.add_marker(pytest.mark.xdist_group(name))
