"""1D KdV reference: resolution convergence, invariants, PDE residual, interpolation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdes
from pdes._kdv import NU, kdv1d_interpolate, kdv1d_snapshots, solve_kdv1d

# Under `-n N --dist loadgroup` this module runs on one worker: its reference solves and
# their compilations are shared by its tests.
pytestmark = pytest.mark.xdist_group("kdv-reference")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    import os

    old = os.environ.get("STDE_ZOO_CACHE")
    os.environ["STDE_ZOO_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    kdv1d_snapshots.cache_clear()
    yield
    kdv1d_snapshots.cache_clear()
    if old is None:
        del os.environ["STDE_ZOO_CACHE"]
    else:
        os.environ["STDE_ZOO_CACHE"] = old


XS = jnp.linspace(-1, 1, 41)


def _u(snaps, n, t):
    return jax.vmap(lambda x: kdv1d_interpolate(snaps, n, x, t))(XS)


def test_two_resolutions_agree_at_t1_and_invariants_hold(cache):
    ts = np.linspace(0, 1, 5)
    fine, coarse = (ts, *solve_kdv1d(256, ts)), (ts, *solve_kdv1d(192, ts))
    np.testing.assert_allclose(_u(fine, 256, 1.0), _u(coarse, 192, 1.0), rtol=0, atol=1e-6)
    # Mass (integral of u), energy (of u^2) and the Hamiltonian integral of
    # u^3/6 - NU u_x^2/2 are invariants of KdV; the last one fixes the sign of NU.
    n = 256
    k = np.pi * np.arange(n // 2 + 1)
    inv = []
    for j, t in enumerate(ts):
        uh = np.exp(1j * NU * k**3 * t) * fine[1][j]
        u, ux = np.fft.irfft(uh, n), np.fft.irfft(1j * k * uh, n)
        inv.append([np.mean(u), np.mean(u**2), np.mean(u**3 / 6 - NU * ux**2 / 2)])
    inv = np.array(inv)
    np.testing.assert_allclose(inv[0], [0.0, 0.5, -NU * np.pi**2 / 4], atol=1e-12)
    np.testing.assert_allclose(inv, np.broadcast_to(inv[0], inv.shape), rtol=0, atol=1e-9)


def test_reference_solves_the_pde_and_interpolates_in_time(cache):
    pde = pdes.get("kdv-1d")
    ref = pde.reference_solution
    # Initial condition, and the residual of the interpolant by AD at snapshot times.
    pts0 = jnp.stack([XS, jnp.zeros_like(XS)], axis=1)
    np.testing.assert_allclose(jax.vmap(ref)(pts0), jnp.cos(jnp.pi * XS), atol=1e-12)
    pts = jnp.stack([XS, jnp.full_like(XS, 0.5)], axis=1)
    res = jax.jit(jax.vmap(lambda y: pde.residual(ref, y)))(pts)
    assert float(jnp.max(jnp.abs(res))) < 1e-7
    # Between snapshots: compare against a solve that stops exactly at t.
    t = 0.50135  # off the snapshot grid (dt = 2.5e-4)
    direct = (np.array([0.0, t]), *solve_kdv1d(256, np.array([0.0, t])))
    off = jax.vmap(ref)(jnp.stack([XS, jnp.full_like(XS, t)], axis=1))
    np.testing.assert_allclose(off, _u(direct, 256, t), rtol=0, atol=1e-7)


def test_cache_file_written_and_reused(cache):
    snaps = kdv1d_snapshots(256)
    files = list(pdes.research.cache_dir().glob("kdv1d_n256_*.npz"))
    assert len(files) == 1 and not list(pdes.research.cache_dir().glob("*.tmp"))
    kdv1d_snapshots.cache_clear()
    again = kdv1d_snapshots(256)
    np.testing.assert_array_equal(snaps[1], again[1])


def test_kdv2d_ansatz_holds_the_solution_on_the_edges_and_at_t0():
    # u* = e^{-t} sin(pi x) sin(pi y) is g at t = 0 and 0 on the square's edges at every
    # time: the ansatz's data, so u* is representable as g + t B N with N smooth.
    pde = pdes.get("kdv-2d")
    ansatz = pde.ansatz
    s = jnp.linspace(0.0, 1.0, 7)
    for t in (0.0, 0.3, 1.0):
        for x, y in [(s, 0 * s), (s, 0 * s + 1), (0 * s, s), (0 * s + 1, s)]:
            pts = jnp.stack([x, y, jnp.full_like(s, t)], axis=1)
            exact = jax.vmap(pde.exact_solution)(pts)
            np.testing.assert_allclose(exact, 0.0, atol=1e-12)
            np.testing.assert_allclose(jax.vmap(ansatz.factor)(pts), 0.0, atol=1e-12)
            np.testing.assert_allclose(jax.vmap(ansatz.base)(pts), 0.0, atol=1e-12)
    inner = jnp.array([[0.3, 0.6, 0.0], [0.5, 0.5, 0.7]])
    np.testing.assert_allclose(
        jax.vmap(ansatz.base)(inner[:1]), jax.vmap(pde.exact_solution)(inner[:1]), rtol=1e-12
    )
    # B = 1 at the centre: the factor there is t.
    np.testing.assert_allclose(ansatz.factor(inner[1]), 0.7, rtol=1e-12)
