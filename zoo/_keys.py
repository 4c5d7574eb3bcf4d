"""PRNG keys of their own for draws that are not data: derived from a label, never a bare
`PRNGKey(0)` shared with the PDE coefficients, the collocation points, the test points or
the initialisation.

`label_key(label)` is `fold_in(fold_in(PRNGKey(0), a), b)` with `a`, `b` two 32-bit words of
the label's SHA-256. The project's data streams are `PRNGKey(seed)` (PDE coefficients),
`fold_in(PRNGKey(seed), i)` and its `fold_in` children (initialisation, collocation points,
test points), so a label key meets them only if `a` is 0 or 1 (checked below) or on a hash
collision. `tests/test_keys.py` checks the streams apart for every preset.
"""

import hashlib

import jax

# Labels in use, one per stream, so the test can check every one of them.
SLICE_DIRECTION = "zoo.plots.slice-direction"
SLICE_POINTS = "zoo.plots.slice-points"
# The trainer's streams, each folded with the training seed: they never meet the PDE's
# `PRNGKey(pde_seed)` stream, whatever the two seeds are.
TRAIN_INIT = "zoo.train.init"
TRAIN_DATA = "zoo.train.data"
TRAIN_BIAS_FIT = "zoo.train.bias-fit"
TRAIN_PROTOCOL_INIT = "zoo.train.protocol-init"
LABELS = (
    SLICE_DIRECTION,
    SLICE_POINTS,
    TRAIN_INIT,
    TRAIN_DATA,
    TRAIN_BIAS_FIT,
    TRAIN_PROTOCOL_INIT,
)


def label_words(label: str) -> tuple[int, int]:
    """The two 32-bit words of `label`'s SHA-256 that `label_key` folds in."""
    if not isinstance(label, str) or not label:
        raise ValueError(f"`label` must be a non-empty str, got {label!r}.")
    digest = hashlib.sha256(label.encode()).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:8], "little")


def seeded_key(label: str, seed: int) -> jax.Array:
    """The stream `label` of training seed `seed`: `fold_in(label_key(label), seed)`."""
    return jax.random.fold_in(label_key(label), seed)


def label_key(label: str) -> jax.Array:
    """A PRNG key determined by `label` alone (the same in every process and session)."""
    a, b = label_words(label)
    if a in (0, 1):  # would sit inside the `fold_in(PRNGKey(0), 0 or 1)` data streams
        raise ValueError(f"label {label!r} hashes onto a data stream; choose another label.")
    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(0), a), b)
