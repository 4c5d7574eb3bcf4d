"""Smoke tests: every example runs end to end with tiny settings."""

import pytest
from helpers import ROOT, run_python

EXAMPLES = {
    "prebuilt_solver.py": (
        "--name allen-cahn-twobody-d8 --steps 3 --n-points 64 --width 8 --depth 2".split(),
        "rel-L2",
    ),
    "finetune_custom_pde.py": (
        "--dim 4 --steps 3 --finetune-steps 3 --n-points 64 --width 8 --depth 2".split(),
        "after 3 steps (last layer only)",
    ),
    "kdv_high_order.py": (
        ["--steps", "2", "--width", "8", "--depth", "2", "--n-points", "64"],
        "kdv-2d after 2 steps: rel-L2",
    ),
    "flax_nnx.py": ("--dim 8 --steps 3 --width 8 --batch 16".split(), "step 3: loss"),
}


# Each example is a fresh process that imports JAX and compiles its own training (15-20
# CPU-seconds each): slow, and run by name in CI (.ci/run).
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("finetune_custom_pde.py", marks=pytest.mark.slow),
        # The Exact 2D KdV residual (u_xxxy and four more partials) compiles for ~30 s.
        pytest.param("kdv_high_order.py", marks=pytest.mark.slow),
        pytest.param("prebuilt_solver.py", marks=pytest.mark.slow),
    ],
)
def test_example_runs(name, tmp_path):
    args, expected = EXAMPLES[name]
    proc = run_python(ROOT / "examples" / name, *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert expected in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # a script in a fresh process; run by name in CI (.ci/run)
def test_flax_nnx_example_runs(tmp_path):
    """`examples/flax_nnx.py` (flax is an optional extra): the estimators from a Flax NNX
    model, trained with Flax's optimiser."""
    pytest.importorskip("flax")
    test_example_runs("flax_nnx.py", tmp_path)


@pytest.mark.slow  # a script in a fresh process; run by name in CI (.ci/run)
def test_train_1e6_script_runs(tmp_path):
    """`benchmarks/train_1e6.py` at a small dimension: it trains the shared-first-layer
    model from the residual-fitted output bias (3 steps then end at about the trivial
    fit; from the default bias they end near rel-L2 1), evaluates the final one and
    writes its JSON and markdown results."""
    import json
    import math

    args = ["--dim", "2000", "--steps", "3", "--n-test", "64", "--out", tmp_path, "--no-progress"]
    proc = run_python("-m", "benchmarks.train_1e6", *args)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((tmp_path / "train-1e6.json").read_text())
    assert saved["dim"] == 2000 and saved["steps"] == 3 and saved["block_size"] == 1000
    assert math.isfinite(saved["rel_l2"]) and 0 < saved["trivial_rel_l2"] < 1
    assert saved["init_bias"] == "residual" and saved["rel_l2"] < 1.5 * saved["trivial_rel_l2"]
    assert saved["peak_mb"] > 0 and saved["its_per_s"] > 0
    assert saved["device"].startswith("CPU: ")
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| 2e+03 | 3 |"))
    assert row in (tmp_path / "train-1e6.md").read_text()


@pytest.mark.slow
def test_finetune_vs_scratch_script_runs(tmp_path):
    """`scripts/finetune_vs_scratch.py` with tiny budgets: every variant and budget is a run
    in the report, each with its own number of steps."""
    import json

    out = tmp_path / "ft.json"
    args = [
        *"--steps 4 --eval-every 2 --n-test 64 --lrs 1e-3".split(),
        *"--resets none last --budgets 1 0.5 --out".split(),
        out,
    ]
    proc = run_python(ROOT / "scripts" / "finetune_vs_scratch.py", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = json.loads(out.read_text())["runs"]
    assert set(runs) == {"scratch"} | {
        f"finetune lr=0.001 freeze=none reset={r} steps={s}"
        for r in ("none", "last")
        for s in (4, 2)
    }
    assert {v["budget"] for v in runs.values()} == {4, 2}


def test_engine_benchmark_takes_ratios_within_rounds():
    """Each round's ratio is to that round's floor; the table keeps the median over rounds,
    the median it/s and the highest memory."""
    from benchmarks import engine

    def row(e, k, its, mb):
        return dict(
            case="laplacian",
            engine=e,
            dim=100,
            round=k,
            status="ok",
            its_per_s=its,
            compile_s=1.0 + k,
            peak_mb=mb,
        )

    # Round 1 ran on a busier machine: every engine slower by half.
    rows = [row("floor", 0, 100.0, 10), row("stde", 0, 50.0, 20),
            row("floor", 1, 50.0, 12), row("stde", 1, 25.0, 30),
            row("floor", 2, 90.0, 11), row("stde", 2, 30.0, 25)]  # fmt: skip
    engine.add_ratios(rows)
    assert [r["ratio_to_floor"] for r in rows[1::2]] == [0.5, 0.5, 1 / 3]
    summary = {r["engine"]: r for r in engine.summarise(rows)}
    assert summary["stde"]["ratio_to_floor"] == 0.5 and summary["stde"]["its_per_s"] == 30.0
    assert summary["stde"]["peak_mb"] == 30 and summary["stde"]["compile_s"] == 2.0
    assert summary["floor"]["rounds_ok"] == 3


@pytest.mark.slow
def test_engine_benchmark_quick_run_in_rounds(tmp_path):
    proc = run_python(ROOT / "benchmarks" / "engine.py", "--quick", "--engines", "floor,stde",
                      "--cases", "laplacian", "--rounds", "2", "--out", tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[4/4] laplacian stde" in proc.stdout
    csv_rows = (tmp_path / "engine.csv").read_text().splitlines()
    assert len(csv_rows) == 5  # header + 2 engines x 2 rounds
    md = (tmp_path / "engine.md").read_text()
    assert "2 rounds" in md and "| stde | " in md and (tmp_path / "engine.png").is_file()


@pytest.mark.slow  # a script in a fresh process; run by name in CI (.ci/run)
def test_supervised_reference_script_runs():
    """`scripts/supervised_reference.py` at tiny settings: one JSON line per PDE seed, with
    the trainer's error measures."""
    import json

    args = ["--dim", "6", "--pde-seeds", "0", "1", "--width", "8", "--steps", "5"]
    args += ["--n-test", "200"]
    proc = run_python(ROOT / "scripts" / "supervised_reference.py", "allen-cahn-twobody", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["pde_seed"] for r in rows] == [0, 1]
    assert all(r["steps"] == 5 and r["width"] == 8 and 0 < r["trivial_rel_l2"] < 1 for r in rows)
    assert all(0 < r["rel_l2"] for r in rows)


@pytest.mark.slow  # two trainings in fresh processes, about 2 minutes on two cores
def test_accuracy_table_script_reuses_finished_runs(tmp_path):
    """`scripts/accuracy_table.py` at tiny settings writes its table; run again, it
    reuses the finished run instead of training it twice."""
    args = ["--presets", "poisson-twobody", "--dims", "20", "--steps", "4", "--n-test", "200"]
    args += ["--pde-seeds", "0", "1", "--recipes", "protocol", "--runs", str(tmp_path)]
    args += ["--no-progress"]
    script = ROOT / "scripts" / "accuracy_table.py"
    first = run_python(script, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("training 4 steps") == 2
    table = (tmp_path / "accuracy.md").read_text()
    assert "| poisson-twobody | 20 | protocol | 2 |" in table  # the median / worst row
    assert "| poisson-twobody | 20 | protocol | 1 |" in table  # PDE seed 1's row
    assert (tmp_path / "error-vs-time.png").stat().st_size > 0
    second = run_python(script, *args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "finished, reusing" in second.stdout and "training 4 steps" not in second.stdout
    assert (tmp_path / "accuracy.md").read_text() == table


@pytest.mark.slow  # a script in a fresh process; run by name in CI (.ci/run)
def test_train_pretrained_script_writes_a_loadable_entry(tmp_path):
    """`scripts/train_pretrained.py` with a tiny budget writes the weights and a model card
    whose hash matches them."""
    import hashlib
    import json

    args = ["--steps", "3", "--dest", str(tmp_path / "p"), "--runs", str(tmp_path / "r")]
    proc = run_python(
        ROOT / "scripts" / "train_pretrained.py", *args, "--no-progress", "allen-cahn-twobody-d100"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    card = json.loads((tmp_path / "p" / "allen-cahn-twobody-d100.json").read_text())
    weights = (tmp_path / "p" / card["file"]).read_bytes()
    assert card["train"]["steps"] == 3 and 0 < card["rel_l2"]
    assert hashlib.sha256(weights).hexdigest() == card["sha256"]


@pytest.mark.slow  # a script in a fresh process; run by name in CI (.ci/run)
def test_picard_reference_script_runs(tmp_path):
    """`scripts/picard_reference.py` on a small case: the JSON line it appends carries
    the estimate, its standard error and the published value where one exists, and a
    second run with the same seed gives the same estimate."""
    import json

    script = ROOT / "scripts" / "picard_reference.py"
    out = tmp_path / "runs.jsonl"
    args = ["--family", "heat", "--dim", "10", "--level", "3", "--num-samples", "3"]
    for _ in range(2):
        proc = run_python(script, *args, "--repeats", "4", "--group", "4", "--out", str(out))
        assert proc.returncode == 0, proc.stderr[-3000:]
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["mean"] == second["mean"] and first["published"] == 0.47006
    # Level 3 is coarse (MLP is biased at a finite level), yet near the radial
    # finite-difference solve's 0.469550 (benchmarks/results/cpu/picard-reference/).
    assert 0 < first["stderr"] < 0.01
    assert abs(first["mean"] - 0.469550) < 4 * first["stderr"] + 0.01


@pytest.mark.slow  # a script in a fresh process; run by name in CI (.ci/run)
def test_rank_floor_script_runs():
    """`scripts/rank_floor.py` at d = 8: more quadratic directions never fit worse here,
    the full quadratic leaves only the small cubic remainder, and a PDE without an exact
    solution on a ball is refused in one line."""
    import json

    script = ROOT / "scripts" / "rank_floor.py"
    args = ["--dim", "8", "--n", "3000", "--ranks", "0", "2", "8"]
    proc = run_python(script, "poisson-twobody", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = json.loads(proc.stdout)
    err = [row["rel_l2"][k] for k in ("0", "2", "8")]
    assert err[0] > err[1] > err[2] and err[2] < 0.3 * err[0]
    assert row["hessian_energy"]["8"] == pytest.approx(1.0)
    # The banded way (the only one above d = 4000) on the same points: its Hessian read
    # off probes equals the dense one, its two fits (one linear direction, the quadratic
    # as one feature) come out within a few percent of the dense fits, and its
    # energy-interpolated floor within 10 % of the fitted one.
    banded = json.loads(run_python(script, "poisson-twobody", *args, "--banded").stdout)
    assert banded["method"] == "banded" and banded["hessian_energy"] == pytest.approx(
        row["hessian_energy"], rel=1e-9
    )
    assert banded["trivial_rel_l2"] == pytest.approx(row["trivial_rel_l2"], rel=1e-9)
    for k in ("0", "8"):
        assert banded["rel_l2"][k] == pytest.approx(row["rel_l2"][k], rel=0.05)
    assert banded["rel_l2_estimate"]["2"] == pytest.approx(row["rel_l2"]["2"], rel=0.1)
    bad = run_python(script, "kdv-1d", "--n", "10")
    assert bad.returncode != 0 and "not a ball PDE" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow  # a short training (~15 s on two cores); run by name in CI (.ci/run)
def test_table_scripts_refuse_a_run_of_another_configuration(tmp_path):
    """A table script reuses a finished run only if it is the run it would train: a run
    directory left by another recipe or budget is refused, naming what differs."""
    import sys

    import zoo

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from _runs import finish
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    _, config = zoo.get_preset("poisson-twobody").recipe("protocol", 20)
    config = config.replace(steps=2, batch=8, n_test=50, eval_every=0)
    run = tmp_path / "run"
    kw = dict(progress=False, recipe="protocol")
    first = finish(run, "poisson-twobody", 20, config, 0, **kw)
    assert finish(run, "poisson-twobody", 20, config, 0, **kw) == first
    with pytest.raises(SystemExit, match=r"train\.steps: 2 there, 3 here"):
        finish(run, "poisson-twobody", 20, config.replace(steps=3), 0, **kw)
    with pytest.raises(SystemExit, match="pde.seed: 0 there, 1 here"):
        finish(run, "poisson-twobody", 20, config, 1, **kw)


def test_plot_reference_point_script(tmp_path):
    """`scripts/plot_reference_point.py` draws runs of point-evaluation presets from their
    records, and refuses in one line a run that logged no value at a reference point."""
    import json

    import zoo
    from zoo._checkpoint import write_config

    def run_dir(name, preset, records):
        d = tmp_path / name
        d.mkdir()
        write_config(d, zoo.get_preset(preset).run_config(100))
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        return str(d)

    values = [(1.0, 0.30), (2.0, 0.318), (3.0, 0.3165)]
    heat = [{"step": i, "time_s": t, "u_reference_point": u} for i, (t, u) in enumerate(values)]
    runs = [run_dir("a", "heat-parabolic", heat), run_dir("b", "sine-gordon-parabolic", heat)]
    script = ROOT / "scripts" / "plot_reference_point.py"
    out = tmp_path / "plot.png"
    proc = run_python(script, *runs, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bare = run_dir("c", "allen-cahn-twobody", [{"step": 1, "time_s": 1.0, "rel_l2": 0.1}])
    proc = run_python(script, bare, "--out", str(tmp_path / "x.png"))
    assert proc.returncode != 0 and "logged no value at a reference point" in proc.stderr


@pytest.mark.slow  # a script in a fresh process; run by name in CI (.ci/run)
def test_dimension_transfer_script_fits_the_readouts(tmp_path):
    """`scripts/dimension_transfer.py`: the shipped d = 100 Poisson solver's pair function
    with its readouts fitted at d = 150 on another PDE seed solves that instance (the
    independent reference: the exact solution on the test points, through the trivial
    fit); a second invocation reuses the finished run."""
    import json

    import zoo

    script = ROOT / "scripts" / "dimension_transfer.py"
    args = ["--presets", "poisson-twobody", "--pde-seeds", "1", "--dim", "150", "--steps", "2"]
    args += ["--source", "poisson-twobody-d100", "--n-test", "1000", "--runs", str(tmp_path)]
    args += ["--no-progress"]
    proc = run_python(script, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads((tmp_path / "transfer-d150.json").read_text())
    assert row["seed"] == 1 and row["ratio"] < 0.01, row
    assert zoo.load(tmp_path / "poisson-twobody-d150-p1").model.net.centred
    again = run_python(script, *args)
    assert again.returncode == 0 and "finished, reusing" in again.stdout, again.stderr[-3000:]
