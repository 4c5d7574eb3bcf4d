#!/usr/bin/env bash
# Device sanity check: versions, the engine against nested AD on the accelerator, and a
# first timing of the default engine at d = 1e3 and 1e6. Usage: bash benchmarks/gpu_check.sh OUTDIR
set -u
out=${1:-benchmarks/results/gpu}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
{
nvidia-smi -L
python3 - <<'PY'
import jax, jax.numpy as jnp, numpy as np
print("jax", jax.__version__, jax.devices())
import stde
from stde import reference
jax.config.update("jax_enable_x64", True)
k1, k2 = jax.random.split(jax.random.PRNGKey(0))
w1 = jax.random.normal(k1, (16, 5)); w2 = jax.random.normal(k2, (16,))
f = lambda x: w2 @ jnp.tanh(w1 @ x) * (1 - x @ x)
x = jnp.linspace(-0.3, 0.4, 5)
for op, ref in [(stde.Laplacian(), jnp.trace(jax.hessian(f)(x))),
                (stde.Partial((0, 0, 0, 1)), reference.partial(f, (0, 0, 0, 1))(x))]:
    for eng in (stde.TaylorEngine(), stde.JetEngine()):
        got = jax.jit(lambda x: stde.estimate(op, f, x, engine=eng))(x)
        print(type(op).__name__, type(eng).__name__, float(got), float(ref),
              "OK" if np.allclose(got, ref, rtol=1e-9) else "MISMATCH")
PY
} 2>&1 | tee "$out/check.txt"
