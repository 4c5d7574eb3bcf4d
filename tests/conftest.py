import os
import random

# The suite compiles several hundred small programs and runs most of them once: XLA's CPU
# backend here generates code without LLVM's optimisation passes, ~25% less CPU time for
# the quick loop. The XLA programs (HLO) and every jaxpr the tests check are the same;
# instruction selection and vectorisation differ, so results agree to rounding, which
# every comparison's tolerance allows. Benchmarks, examples and training runs outside the
# suite compile at XLA's default level (3); set the flag in XLA_FLAGS to test at another.
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    ).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """`--dist loadgroup` under pytest >= 9.2: xdist (3.8) groups the tests of one
    `xdist_group` by a "@group" suffix it writes into `item._nodeid`, which pytest no longer
    reads (a node's id is now `item._id`), so every group was spread over the workers. This
    writes the suffix where pytest reads it, on the workers (where xdist sets `loadgroup`),
    unless xdist already did."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
        if names and "@" not in item.nodeid and hasattr(item, "_id"):
            item._id = type(item._id).parse(f"{item.nodeid}@{'_'.join(sorted(names))}")
