"""Compile time and step time of a deep residual MLP written with `lax.scan` over stacked
layers (Equinox's scan-over-layers) against the same network unrolled, in one Laplacian
PINN training step of the default engine.

    python benchmarks/scan_compile.py                 # d = 100, 32 layers of width 128
    python benchmarks/scan_compile.py --out benchmarks/results/cpu/scan-compile.md

Each network runs in a fresh subprocess (no compile cache or warm JAX internals shared),
`--rounds` times, round by round. Compile time is tracing, lowering and XLA compilation
of the jitted step, taken apart; step time is the median of `--windows` windows of about
`--window-s` seconds. Before timing, each child checks the estimate of the Laplacian at
one point against nested AD (`jnp.trace(jax.hessian(u))`). `--compare-root DIR` adds the
scan network under the `stde` package of another checkout (e.g. an older engine).
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAG = "SCAN_RESULT "


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=32)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--window-s", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=3, help="run every cell this many times")
    p.add_argument("--compare-root", default=None, help="also the scan network with the stde here")
    p.add_argument("--out", default=None, help="write a Markdown report here")
    p.add_argument("--stde-root", default=str(ROOT), help=argparse.SUPPRESS)
    p.add_argument("--network", default=None, help=argparse.SUPPRESS)  # child: scan|unrolled
    return p.parse_args(argv)


def child(args):
    sys.path.insert(0, args.stde_root)  # this checkout's stde, or --compare-root's
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import optax

    import stde

    class Layer(eqx.Module):
        linear: eqx.nn.Linear

        def __call__(self, h):
            return h + jnp.tanh(self.linear(h)) / 4

    class ResidualMLP(eqx.Module):
        first: eqx.nn.Linear
        layers: Layer  # every leaf with a leading axis of length `depth`
        last: eqx.nn.Linear
        scan: bool = eqx.field(static=True)

        def __call__(self, x):
            h = jnp.tanh(self.first(x))
            params, static = eqx.partition(self.layers, eqx.is_array)
            if self.scan:

                def step(h, p):
                    return eqx.combine(p, static)(h), None

                h, _ = jax.lax.scan(step, h, params)
            else:  # the same layers, one Python iteration each
                for i in range(args.depth):
                    layer = jax.tree.map(lambda a, i=i: a[i], params)
                    h = eqx.combine(layer, static)(h)
            return self.last(h)

    k1, k2, k3, kx, kstep = jax.random.split(jax.random.key(0), 5)
    make = lambda k: Layer(eqx.nn.Linear(args.width, args.width, key=k))  # noqa: E731
    model = ResidualMLP(
        eqx.nn.Linear(args.dim, args.width, key=k1),
        eqx.filter_vmap(make)(jax.random.split(k2, args.depth)),
        eqx.nn.Linear(args.width, "scalar", key=k3),
        args.network == "scan",
    )

    x0 = jax.random.normal(kx, (args.dim,)) / jnp.sqrt(args.dim)
    est = jax.jit(lambda m, x: stde.estimate(stde.Laplacian(), m, x))(model, x0)
    ref = jax.jit(lambda m, x: jnp.trace(jax.hessian(m)(x)))(model, x0)
    rel = float(abs(est - ref) / abs(ref))

    params, static = eqx.partition(model, eqx.is_array)
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    estimator = stde.SparseSTDE(args.samples)

    def loss_fn(p, xs, key):
        m = eqx.combine(p, static)
        keys = jax.random.split(key, xs.shape[0])
        lap = jax.vmap(
            lambda x, k: stde.estimate(stde.Laplacian(), m, x, estimator=estimator, key=k)
        )
        u = jax.vmap(m)(xs)
        return jnp.mean((lap(xs, keys) + u - u**3 - jnp.mean(jnp.sin(xs), axis=1)) ** 2)

    def step(params, opt_state, key):
        key, kx, kl = jax.random.split(key, 3)
        xs = jax.random.normal(kx, (args.batch, args.dim)) / jnp.sqrt(args.dim)
        loss, grads = jax.value_and_grad(loss_fn)(params, xs, kl)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, key, loss

    t0 = time.perf_counter()
    traced = jax.jit(step, donate_argnums=(0, 1, 2)).trace(params, opt_state, kstep)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile()
    t3 = time.perf_counter()

    state = (params, opt_state, kstep)

    def steps(n):
        nonlocal state
        for _ in range(n):
            *state, loss = compiled(*state)
        jax.block_until_ready(state)
        return loss

    steps(2)  # warm-up
    t = time.perf_counter()
    steps(2)
    n = max(1, round(args.window_s / ((time.perf_counter() - t) / 2)))
    rates = []
    for _ in range(args.windows):
        t = time.perf_counter()
        loss = steps(n)
        rates.append(n / (time.perf_counter() - t))
    out = dict(
        network=args.network,
        laplacian_rel_err=rel,
        trace_s=t1 - t0,
        lower_s=t2 - t1,
        compile_s=t3 - t2,
        its_per_s=statistics.median(rates),
        its_min=min(rates),
        its_max=max(rates),
        loss_finite=bool(jnp.isfinite(loss)),
        jax_version=jax.__version__,
    )
    print(TAG + json.dumps(out), flush=True)


def _cpu():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores visible"
    except OSError:
        pass
    return platform.machine()


def _run(args, network, root):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--network", network]
    for k in ("dim", "width", "depth", "batch", "samples", "windows", "window_s"):
        cmd += [f"--{k.replace('_', '-')}", str(getattr(args, k))]
    cmd += ["--stde-root", str(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(TAG)]
    if proc.returncode or not lines:
        sys.exit(f"{network} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(TAG) :])


def _first_call(r):
    return r["trace_s"] + r["lower_s"] + r["compile_s"]


def main(args):
    cells = [("scan", "scan", ROOT), ("unrolled", "unrolled", ROOT)]
    if args.compare_root:
        cells.append(("scan, engine at --compare-root", "scan", Path(args.compare_root)))
    runs = {name: [] for name, _, _ in cells}
    for r in range(args.rounds):  # round by round, so load drifts hit every cell alike
        for name, network, root in cells:
            runs[name].append(_run(args, network, root))
            print(f"round {r + 1}: {name}: {runs[name][-1]}", flush=True)
    med = lambda name, f: statistics.median(f(x) for x in runs[name])  # noqa: E731
    rate = lambda x: x["its_per_s"]  # noqa: E731
    jax_version = runs["scan"][0]["jax_version"]
    lines = [
        "# Scan over layers: compile time and step time",
        "",
        f"- machine: {_cpu()}, jax {jax_version}, float32; {datetime.date.today()}",
        f"- command: `python benchmarks/scan_compile.py {' '.join(sys.argv[1:])}`",
        f"- network: residual MLP, d = {args.dim}, {args.depth} hidden layers of width "
        f"{args.width} (`h + tanh(W h + b) / 4`), tanh input layer; one training step: "
        f"Laplacian by `SparseSTDE({args.samples})` at {args.batch} points, Allen-Cahn "
        "residual, Adam",
        "- `scan`: the hidden layers stacked and run by `jax.lax.scan` (Equinox's "
        "scan-over-layers); `unrolled`: the same parameters, one Python iteration per layer",
        f"- {args.rounds} rounds, every cell once per round in a fresh process; medians over "
        f"rounds; it/s per round: median of {args.windows} windows of ~{args.window_s} s",
        "",
        "| network | Laplacian vs nested AD (rel.) | trace s | lower s | XLA compile s "
        "| first call s | it/s | it/s per round |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in runs:
        rates = ", ".join(f"{x['its_per_s']:.2f}" for x in runs[name])
        lines.append(
            f"| {name} | {max(x['laplacian_rel_err'] for x in runs[name]):.1e} "
            f"| {med(name, lambda x: x['trace_s']):.2f} | {med(name, lambda x: x['lower_s']):.2f} "
            f"| {med(name, lambda x: x['compile_s']):.2f} | {med(name, _first_call):.2f} "
            f"| {med(name, rate):.2f} | {rates} |"
        )
    lines += [
        "",
        f"scan / unrolled: first call (trace + lower + XLA compile) "
        f"{med('scan', _first_call) / med('unrolled', _first_call):.2f}x, step rate "
        f"{med('scan', rate) / med('unrolled', rate):.2f}x.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    a = parse_args()
    child(a) if a.network else main(a)
