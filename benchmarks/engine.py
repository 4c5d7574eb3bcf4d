"""Engine benchmark: one Laplacian-PINN training step per engine and dimension.

Every cell (case, engine, d) runs in a fresh subprocess, so compile caches, allocator
state and the memory high-water mark of one cell never leak into another. The driver
itself never imports JAX's backend: on a GPU it would reserve memory the cells need.

    python benchmarks/engine.py                          # d = 1e2 .. 1e5, all cases
    python benchmarks/engine.py --max-dim 1e6            # accelerators
    python benchmarks/engine.py --quick --engines floor,stde --cases laplacian --out /tmp/bq
"""

import argparse
import csv
import datetime
import importlib.util
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python benchmarks/engine.py` from anywhere, installed or not

CASES = {
    "laplacian": [
        "floor",
        "stde",
        "stde-value",
        "stde-shared-J",
        "stde-jet",
        "jet-shared-J",
        "published",
        "dense",
        "fwd-over-rev",
        "rev-over-rev",
        "folx",
    ],
    "order4": [
        "floor",
        "biharm-dense",
        "biharm-dense-jet",
        "biharm-nested",
        "diag4-stde",
        "diag4-stde-jet",
        "diag4-nested",
    ],
    "mixed": ["floor", "stde", "stde-jet", "nested"],
}
ORDER4_DIMS = (100, 1000)  # nested 4th-order AD is only feasible at small d
MIXED_DIM = 2  # 1D KdV: (x, t)
FOLX_CPU_MAX_DIM = 10_000
RESULT_TAG = "BENCH_RESULT "
FIELDS = [
    "case", "engine", "dim", "round", "status", "its_per_s", "ratio_to_floor", "its_min", "its_max",
    "steps_per_window", "compile_s", "peak_mb", "base_mb", "mem_kind", "loss_finite",
    "wall_s", "reason",
]  # fmt: skip


def parse_dims(text):
    return [int(float(t)) for t in text.split(",") if t.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dims", default="1e2,1e3,1e4,1e5,1e6", help="comma-separated, e.g. 1e2,1e3")
    p.add_argument("--max-dim", type=float, default=1e5, help="drop dims above (1e6: GPU only)")
    p.add_argument("--engines", default=None, help="comma-separated subset (default: all)")
    p.add_argument("--cases", default="laplacian,order4,mixed")
    p.add_argument("--windows", type=int, default=5, help="timed windows; the median is kept")
    p.add_argument("--window-s", type=float, default=1.0, help="target seconds per window")
    p.add_argument("--timeout", type=float, default=300, help="seconds per cell subprocess")
    p.add_argument(
        "--rounds", type=int, default=1, help="run every cell this many times, round by round"
    )
    p.add_argument("--batch", type=int, default=100, help="collocation points per step")
    p.add_argument("--samples", type=int, default=16, help="|J|, directions per point")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--shared-from", type=float, default=1e6, help="SharedMLP from this d on")
    p.add_argument("--block-size", type=int, default=1000, help="SharedMLP block size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke test: d = 1e2, 1 short window")
    p.add_argument("--out", default=None, help="default benchmarks/results/<device>/")
    # Internal: run one cell (or print device info) and print one JSON line.
    p.add_argument("--cell", default=None, help=argparse.SUPPRESS)
    p.add_argument("--case", default="laplacian", help=argparse.SUPPRESS)
    p.add_argument("--dim", type=int, default=100, help=argparse.SUPPRESS)
    p.add_argument("--info", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.dims, args.windows, args.window_s = "1e2", 1, 0.25
    return args


# ----------------------------------------------------------------------------- child side


def child(args):
    import jax

    if args.info:
        dev = jax.devices()[0]
        out = dict(
            platform=dev.platform,
            device_kind=dev.device_kind,
            num_devices=jax.device_count(),
            jax_version=jax.__version__,
        )
    else:
        from benchmarks import _cells

        block = args.block_size if args.dim >= args.shared_from and args.case != "mixed" else 0
        out = _cells.run(
            args.case,
            args.cell,
            args.dim,
            batch=args.batch,
            num=args.samples,
            width=args.width,
            depth=args.depth,
            block_size=block,
            windows=args.windows,
            window_s=args.window_s,
            seed=args.seed,
        )
    print(RESULT_TAG + json.dumps(out), flush=True)


def run_child(extra, args, timeout):
    """Run this script as a subprocess; returns (result dict or None, failure reason)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *extra]
    cmd += ["--windows", str(args.windows), "--window-s", str(args.window_s)]
    cmd += ["--batch", str(args.batch), "--samples", str(args.samples), "--seed", str(args.seed)]
    cmd += ["--width", str(args.width), "--depth", str(args.depth)]
    cmd += ["--shared-from", str(args.shared_from), "--block-size", str(args.block_size)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, "timeout", f"timeout after {timeout:.0f} s"
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :]), "ok", ""
    if proc.returncode < 0:
        # The kernel's OOM killer sends SIGKILL; other signals are reported as they are.
        sig = -proc.returncode
        status = "oom" if sig == 9 else "error"
        return None, status, f"killed by signal {sig}" + (" (likely out of memory)" * (sig == 9))
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit code {proc.returncode}"
    oom = re.search(r"RESOURCE_EXHAUSTED|out of memory|MemoryError|Out of memory", proc.stderr)
    return None, "oom" if oom else "error", last[:300]


# ---------------------------------------------------------------------------- driver side


def plan_cells(args, info):
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        if c not in CASES:
            sys.exit(f"`--cases`: unknown case {c!r}; choose from {sorted(CASES)}")
    known = {e for c in CASES.values() for e in c}
    wanted = None if args.engines is None else [e.strip() for e in args.engines.split(",")]
    for e in wanted or []:
        if e not in known:
            sys.exit(f"`--engines`: unknown engine {e!r}; choose from {sorted(known)}")
    dims = [d for d in parse_dims(args.dims) if d <= args.max_dim]
    cells = []  # (case, engine, d, skip reason or None)
    for case in cases:
        engines = [e for e in CASES[case] if wanted is None or e in wanted]
        if case == "mixed":
            case_dims = [MIXED_DIM]
        elif case == "order4":
            case_dims = [d for d in dims if d in ORDER4_DIMS]
        else:
            case_dims = dims
        for d in case_dims:
            for e in engines:
                cells.append((case, e, d, skip_reason(e, d, info)))
    return cells


def skip_reason(engine, d, info):
    if engine != "folx":
        return None
    if importlib.util.find_spec("folx") is None:
        return "folx not installed (pip install folx)"
    if info["platform"] == "cpu" and d > FOLX_CPU_MAX_DIM:
        return f"exact Laplacian, O(d) per point: skipped above d={FOLX_CPU_MAX_DIM} on CPU"
    return None


def machine_text(info):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    host = f"{cpu}, {cores} cores visible"
    if info["platform"] == "cpu":
        return f"CPU: {host}"
    return f"{info['device_kind']} ({info['platform']}, {info['num_devices']} visible); host {host}"


def fmt_dim(d):
    return f"1e{len(str(d)) - 1}" if str(d).startswith("1") and set(str(d)[1:]) <= {"0"} else str(d)


def add_ratios(rows):
    # Against the floor of the same round: the two ran minutes apart, not an hour.
    floor = {
        (r["case"], r["dim"], r["round"]): r["its_per_s"] for r in rows if r["engine"] == "floor"
    }
    for r in rows:
        f = floor.get((r["case"], r["dim"], r["round"]))
        r["ratio_to_floor"] = r["its_per_s"] / f if r["its_per_s"] and f else None


def summarise(rows):
    """One row per cell over its rounds: medians of it/s, of the per-round ratio to the
    floor and of the compile time; the highest peak memory."""
    by = {}
    for r in rows:
        by.setdefault((r["case"], r["engine"], r["dim"]), []).append(r)
    out = []
    for cell in by.values():
        ok = [r for r in cell if r["status"] == "ok"]
        if not ok:
            out.append(cell[-1])
            continue
        its = statistics.median(r["its_per_s"] for r in ok)
        row = dict(ok[-1], its_per_s=its, compile_s=statistics.median(r["compile_s"] for r in ok))
        row["peak_mb"] = max(r["peak_mb"] for r in ok)
        ratios = [r["ratio_to_floor"] for r in ok if r.get("ratio_to_floor") is not None]
        row["ratio_to_floor"] = statistics.median(ratios) if ratios else None
        row["rounds_ok"] = len(ok)
        out.append(row)
    return out


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in FIELDS})


def table(rows, case, value):
    dims = sorted({r["dim"] for r in rows if r["case"] == case})
    engines = [e for e in CASES[case] if any(r["engine"] == e for r in rows if r["case"] == case)]
    by = {(r["engine"], r["dim"]): r for r in rows if r["case"] == case}
    lines = ["| engine | " + " | ".join(f"d={fmt_dim(d)}" for d in dims) + " |"]
    lines.append("|---" * (len(dims) + 1) + "|")
    for e in engines:
        cells = []
        for d in dims:
            r = by.get((e, d))
            cells.append("" if r is None else value(r) if r["status"] == "ok" else r["status"])
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    return lines


def its_cell(r):
    ratio = f" ({r['ratio_to_floor']:.2f}x)" if r["ratio_to_floor"] is not None else ""
    return f"{r['its_per_s']:.3g}{ratio}"


def write_md(rows, path, info, args, command):
    mem = {"rss": "process RSS high-water mark", "device-peak": "device peak_bytes_in_use"}
    kinds = sorted({mem[r["mem_kind"]] for r in rows if r.get("mem_kind")})
    out = [
        "# Engine benchmark",
        "",
        f"- machine: {machine_text(info)}",
        f"- jax {info['jax_version']}, float32; {datetime.date.today().isoformat()}",
        f"- command: `{command}`",
        f"- step: {args.batch} points, |J| = {args.samples}, {args.depth} x {args.width} tanh "
        f"MLP (SharedMLP, block {args.block_size}, from d = {fmt_dim(int(args.shared_from))}), "
        "Adam; forcing stand-in f = mean(sin x)",
        f"- it/s: median of {args.windows} windows of ~{args.window_s} s after compilation; "
        f"(x) = ratio to `floor` at the same d; memory: {', '.join(kinds) or '-'}",
        *(
            [
                f"- {args.rounds} rounds (every cell once per round, a fresh process each "
                "time): it/s and compile time are medians over rounds, (x) the median of the "
                "per-round ratios to that round's floor, memory the highest"
            ]
            if args.rounds > 1
            else []
        ),
        "",
    ]
    rows = summarise(rows)
    for case in CASES:
        if not any(r["case"] == case for r in rows):
            continue
        out += [f"## {case}", "", "Steps per second (ratio to floor):", ""]
        out += table(rows, case, its_cell)
        out += ["", "Peak memory (MB):", ""]
        out += table(rows, case, lambda r: f"{r['peak_mb']:.0f}")
        out += ["", "Compile + first step (s):", ""]
        out += table(rows, case, lambda r: f"{r['compile_s']:.1f}")
        notes = [r for r in rows if r["case"] == case and r["status"] != "ok"]
        if notes:
            out += ["", "Not measured:", ""]
            out += [f"- {r['engine']} d={fmt_dim(r['dim'])}: {r['reason']}" for r in notes]
        out.append("")
    Path(path).write_text("\n".join(out))


def any_ok(rows):
    return any(r["status"] == "ok" for r in rows)


def write_png(rows, path, info):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in CASES if any_ok(r for r in rows if r["case"] == c)]
    if not cases:
        return
    fig, axes = plt.subplots(len(cases), 2, figsize=(11, 4 * len(cases)), squeeze=False)
    for (ax_its, ax_mem), case in zip(axes, cases):
        for e in CASES[case]:
            ok = sorted(
                (r["dim"], r["its_per_s"], r["peak_mb"])
                for r in rows
                if r["case"] == case and r["engine"] == e and r["status"] == "ok"
            )
            if ok:
                d, its, mem = zip(*ok)
                style = dict(marker="o", label=e, ls="--" if e == "floor" else "-")
                ax_its.plot(d, its, **style)
                ax_mem.plot(d, mem, **style)
        for ax, label in ((ax_its, "steps / s"), (ax_mem, "peak memory (MB)")):
            ax.set(xscale="log", yscale="log", xlabel="d", ylabel=label, title=case)
            ax.grid(True, which="both", alpha=0.3)
        ax_its.legend(fontsize=8)
    fig.suptitle(f"{info['device_kind']} ({info['platform']}), jax {info['jax_version']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def driver(args):
    info, status, reason = run_child(["--info"], args, timeout=120)
    if info is None:
        sys.exit(f"could not query the device ({status}): {reason}")
    slug = re.sub(r"[^a-z0-9]+", "-", info["device_kind"].lower()).strip("-") or "unknown"
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / slug
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/engine.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    cells = plan_cells(args, info)
    # Rounds repeat the whole grid, so slow drifts in the machine's load hit every engine
    # alike instead of whichever cells ran at the time.
    runs = [(k, *cell) for k in range(args.rounds) for cell in cells]
    print(f"{len(runs)} cells on {machine_text(info)} -> {out}", flush=True)
    rows = []
    for i, (rnd, case, engine, d, skip) in enumerate(runs, 1):
        row = dict(case=case, engine=engine, dim=d, round=rnd, its_per_s=None)
        t0 = time.perf_counter()
        if skip:
            res, status, reason = None, "skipped", skip
        else:
            extra = ["--cell", engine, "--case", case, "--dim", str(d)]
            res, status, reason = run_child(extra, args, args.timeout)
        row.update(res or {}, status=status, reason=reason, wall_s=time.perf_counter() - t0)
        rows.append(row)
        if status == "ok":
            its, mb, comp = row["its_per_s"], row["peak_mb"], row["compile_s"]
            msg = f"{its:.4g} it/s, {mb:.0f} MB, compile {comp:.1f} s"
        else:
            msg = f"{status}: {reason}"
        print(f"[{i}/{len(runs)}] {case:9s} {engine:16s} d={fmt_dim(d):5s} {msg}", flush=True)
        # Rewrite the tables after every cell, so an interrupted run keeps what it measured.
        add_ratios(rows)
        write_csv(rows, out / "engine.csv")
        write_md(rows, out / "engine.md", info, args, command)
    write_png(summarise(rows), out / "engine.png", info)
    print(f"wrote {out}/engine.csv, engine.md" + (", engine.png" * any_ok(rows)), flush=True)


def main(argv=None):
    args = parse_args(argv)
    if args.cell or args.info:
        child(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
