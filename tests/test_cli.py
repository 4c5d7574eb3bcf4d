"""`python -m zoo`: errors print one line and exit non-zero; train, eval, resume work;
--help shows every config field with its help and the preset's default."""

import contextlib
import dataclasses
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from helpers import ROOT, TINY_RUN_FLAGS, run_python

import zoo
from zoo import _cli as cli

# Under `-n N --dist loadgroup` the modules that train tiny runs (test_api_overrides, test_cli,
# test_hardening, test_reliability, test_trainer_loop, test_zoo) run on one worker: each
# module-scoped run is built once, and equal training configurations share a compilation.
pytestmark = pytest.mark.xdist_group("tiny-runs")

TINY = [
    *TINY_RUN_FLAGS,
    "--n-test",
    "32",
    "--log-every",
    "2",
    "--no-progress",
]


def run_cli(*args, timeout=300):
    return run_python("-m", "zoo", *args, timeout=timeout)


def assert_one_line_error(proc, *fragments, code=None):
    assert proc.returncode != 0 if code is None else proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A tiny run trained through the command line (`python -m zoo`'s entry point, in this
    process: the same code path, and the jit cache of the other tests; the real process's
    exit codes are the subprocess tests' business)."""
    out = tmp_path_factory.mktemp("cli") / "run"
    argv = ["train", "allen-cahn-twobody", *TINY, "--steps", "6", "--eval-every", "3"]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main([*argv, "--out", str(out), "--no-plots"])
    proc = subprocess.CompletedProcess(argv, code, stdout.getvalue(), stderr.getvalue())
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_unknown_preset():
    proc = run_cli("train", "allen-cahn-twobdy", "--steps", "3")
    assert_one_line_error(proc, "Unknown preset 'allen-cahn-twobdy'", "Did you mean", code=1)


def test_bad_dimension(tmp_path):
    proc = run_cli("train", "allen-cahn-twobody", "--dim", "1", "--out", tmp_path / "never")
    assert_one_line_error(proc, "`dim` must be an int >= 2", code=1)
    assert not (tmp_path / "never").exists()


def in_process(capsys, *args):
    """`python -m zoo ARGS` in this process: the same code path as a subprocess, and the
    same jit cache as the other tests."""
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


@pytest.mark.parametrize(
    "args, fragment, code",
    [
        (("train", "allen-cahn-threebody", "--dim", "2"), "`dim` must be an int >= 3", 1),
        (("train", "kdv-1d", "--dim", "3"), "dimension 1 only", 1),
        (("train", "allen-cahn-twobody", "--dim", "0"), "`dim` must be an int >= 1", 1),
        (("train", "allen-cahn-twobody", "--dim", "ten"), "invalid literal for int()", 2),
        (("train", "--estimator", "magic"), "invalid choice 'magic'", 2),
        (("train", "--with-replacement", "maybe"), "invalid choice 'maybe'", 2),
        (("train", "--warmup", '{"stps": 5}'), "unknown fields ['stps']", 2),
        (("train", "--warmup", "{steps: 5}"), "Error parsing --warmup", 2),
        (("train", "allen-cahn-twobody", "--width", "0"), "`ModelConfig.width` must be", 1),
        (("eval",), "Missing from python -m zoo eval: SOURCE", 2),
        (("train", "allen-cahn-twobody", "--lr", "-1"), "`TrainConfig.lr` must be a positive", 1),
        (("eval", "allen-cahn-twobody-d7"), "no pretrained solver", 1),
        (("eval", "allen-cahn-twobody"), "is a preset, not a trained solver", 1),
        (("finetune", "nowhere/run"), "neither a run directory nor a pretrained", 1),
    ],
)
def test_usage_errors(capsys, tmp_path, args, fragment, code):
    out = ("--out", tmp_path / "never") if args[0] in ("train", "finetune") else ()
    proc = in_process(capsys, *args, *out)
    assert_one_line_error(proc, fragment, code=code)
    assert not (tmp_path / "never").exists()


def test_empty_out_is_refused(capsys):
    proc = in_process(capsys, "train", "allen-cahn-twobody", *TINY, "--out", " ")
    assert_one_line_error(proc, "expected a directory, got an empty string", code=2)


def test_misspelt_flag_and_command_get_a_suggestion(capsys):
    proc = in_process(capsys, "train", "allen-cahn-twobody", "--num-sampls", "3")
    assert_one_line_error(
        proc, "Unrecognized options: --num-sampls", "Perhaps you meant: --num-samples", code=2
    )
    assert_one_line_error(
        in_process(capsys, "trian"), "Available subcommands: list, train,", code=2
    )


def _help_entries(text: str) -> dict[str, tuple[str, str]]:
    """`--flag METAVAR help (default: X)` entries of tyro's help, boxes and wrapping
    undone: flag -> (help, default)."""
    flat = " ".join(line.strip(" │") for line in text.splitlines())
    entries = {}
    for chunk in re.split(r" (?=--[a-z][a-z-]* )", " ".join(flat.split())):
        metavar = r"(?:[A-Z]+|\{[^}]*\}(?:\|[A-Z]+)?)"
        m = re.match(rf"(--[a-z-]+) {metavar} (.*) \(default: (.*?)\)", chunk)
        if m:
            entries[m[1]] = (m[2], m[3].strip("'"))
    return entries


def _shown(value) -> str:
    if isinstance(value, zoo.TrainConfig):  # The warm-up, as JSON.
        return json.dumps(value.to_dict())
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("preset", [None, "allen-cahn-twobody", "kdv-1d"])
def test_help_lists_every_config_field_with_help_and_the_presets_default(capsys, preset):
    argv = ["train", *([preset] if preset else [])]
    code = cli.main([*argv, "--help"])
    out = capsys.readouterr().out
    assert code == 0
    entries = _help_entries(out)
    # The defaults are the run the command line would start: the preset's recipe at its
    # default dimension (no preset: the demo, the default preset's at d = 100).
    cfg = cli.run_config(cli.parse(argv), argv)
    assert entries["--dim"][1] == str(cfg.pde.dim)
    for config in (cfg.train, cfg.model):
        for field in dataclasses.fields(config):
            flag = "--" + field.name.replace("_", "-")
            assert flag in entries, f"{flag} is not in the help:\n{out}"
            text, default = entries[flag]
            assert len(text.split()) >= 3, f"{flag} has no help text: {text!r}"
            shown = _shown(getattr(config, field.name))
            assert default.replace(" ", "") == shown.replace(" ", ""), flag


def test_only_the_flags_given_change_the_recipe():
    argv = ["train", "allen-cahn-twobody", "--steps", "350", "--width", "16"]
    cfg = cli.run_config(cli.parse(argv), argv)
    _, recipe = zoo.get_preset("allen-cahn-twobody").recipe("best")
    # The recipe's own rule holds: ten evaluations over the new total.
    assert cfg.train == recipe.replace(steps=350, eval_every=35)
    assert cfg.model.width == 16 and cfg.pde.dim == 100
    argv = ["train", "allen-cahn-twobody", "--batch", "64", "--with-replacement", "False"]
    cfg = cli.run_config(cli.parse(argv), argv)
    assert cfg.train == recipe.replace(batch=64, with_replacement=False)


def test_list():
    proc = run_cli("list")
    assert proc.returncode == 0, proc.stderr
    for name in zoo.names() + zoo.pretrained_names():
        assert name in proc.stdout


def test_train_then_eval(cli_run, capsys):
    out, proc = cli_run
    assert "final rel-L2" in proc.stdout and "trivial fit" in proc.stdout
    records = zoo.read_metrics(out)
    assert [r["step"] for r in records] == [2, 3, 4, 6]
    # In this process, like the run: 64-bit mode (on in this test process) changes the
    # PDE's random coefficients, so the comparison is made in the same mode.
    evaluated = in_process(capsys, "eval", out, "--n-points", "32", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    # Same test stream (the run's test_seed) and size as the run's final evaluation.
    assert result["rel_l2"] == pytest.approx(records[-1]["rel_l2"], rel=1e-12)
    assert result["trivial_rel_l2"] == pytest.approx(records[-1]["trivial_rel_l2"], rel=1e-12)


def test_damaged_checkpoint(cli_run, tmp_path, capsys):
    out, _ = cli_run
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_bytes((out / "config.json").read_bytes())
    data = bytearray((out / "checkpoint.eqx").read_bytes())
    data[-5] ^= 0xFF
    (broken / "checkpoint.eqx").write_bytes(bytes(data))
    assert_one_line_error(run_cli("eval", broken), "is damaged", "sha256", code=1)
    assert_one_line_error(
        in_process(capsys, "train", "--resume", broken, "--no-progress"), "is damaged", code=1
    )
    (broken / "checkpoint.eqx").write_bytes(b"garbage")
    assert_one_line_error(in_process(capsys, "eval", broken), "not a stde-zoo model", code=1)
    assert_one_line_error(in_process(capsys, "eval", tmp_path), "not a run directory", code=1)


def test_resume_rejects_new_configuration(cli_run, capsys):
    out, _ = cli_run
    proc = in_process(capsys, "train", "--resume", out, "--batch", "4", "--width", "3")
    assert_one_line_error(proc, "only --steps, --lr, --rollbacks", "got --batch, --width", code=2)


def test_resume_extends_a_finished_run(cli_run, tmp_path, capsys):
    out, _ = cli_run
    run = tmp_path / "extend"
    run.mkdir()
    for name in ("config.json", "checkpoint.eqx", "metrics.jsonl"):
        (run / name).write_bytes((out / name).read_bytes())
    proc = in_process(
        capsys, "train", "--resume", run, "--steps", "8", "--no-progress", "--no-plots"
    )
    assert proc.returncode == 0, proc.stderr
    records = zoo.read_metrics(run)
    assert [r["step"] for r in records if "event" not in r] == [2, 3, 4, 6, 8]
    # The extension is recorded: the run's history says where its total changed.
    assert {"step": 6, "event": "resume", "changes": {"steps": [6, 8]}} in records
    assert zoo.load(run).card["steps"] == 8


def test_finetune(cli_run, tmp_path, capsys):
    out, _ = cli_run
    tuned = tmp_path / "tuned"
    proc = in_process(
        capsys,
        "finetune",
        out,
        "--pde",
        "sine-gordon-twobody",
        "--freeze",
        "all-but-last",
        "--steps",
        "5",
        "--out",
        tuned,
        "--no-progress",
        "--no-plots",
    )
    assert proc.returncode == 0, proc.stderr
    assert "final rel-L2" in proc.stdout
    solver = zoo.load(tuned)
    assert solver.config.freeze == "all-but-last" and solver.pde.name == "sine-gordon-twobody"
    assert solver.config.init_from is not None
    # The output layer alone first, from zero, then every layer.
    flags = ("--reset", "last", "--head-steps", "2", "--steps", "5", "--no-progress")
    proc = in_process(capsys, "finetune", out, *flags, "--out", tmp_path / "head", "--no-plots")
    assert proc.returncode == 0, proc.stderr
    config = zoo.load(tmp_path / "head").config
    assert (config.freeze, config.warmup_freeze, config.train.warmup.steps) == (
        "none",
        "all-but-last",
        2,
    )
    # --warmup-freeze: the config's own warm-up (here 2 Adam steps) on the output layer.
    warm = ("--warmup", '{"steps": 2}', "--warmup-freeze", "all-but-last", "--steps", "5")
    args = ("--reset", "last", *warm, "--no-progress", "--no-plots")
    proc = in_process(capsys, "finetune", out, *args, "--out", tmp_path / "warm")
    assert proc.returncode == 0, proc.stderr
    config = zoo.load(tmp_path / "warm").config
    assert (config.freeze, config.warmup_freeze, config.train.warmup.steps) == (
        "none",
        "all-but-last",
        2,
    )
    # --readout-steps: the readouts' Gauss-Newton fit as the warm-up (output layer alone).
    args = ("--reset", "last", "--readout-steps", "2", "--steps", "5", "--no-progress")
    proc = in_process(capsys, "finetune", out, *args, "--no-plots", "--out", tmp_path / "fit")
    assert proc.returncode == 0, proc.stderr
    config = zoo.load(tmp_path / "fit").config
    assert (config.freeze, config.warmup_freeze, config.train.warmup.steps) == (
        "none",
        "all-but-last",
        2,
    )
    assert config.train.warmup.optimizer == "natural-gradient"
    # --dim: another dimension, for a window network only (this one is dense).
    proc = in_process(capsys, "finetune", out, "--dim", "6", *flags, "--out", tmp_path / "d6")
    assert_one_line_error(proc, "only a window network (`models.WindowMLP`", code=1)
    assert not (tmp_path / "d6").exists()
    # --readouts: the output layer alone, from zero, by Gauss-Newton steps on more points
    # than it has parameters (this dense network's: width + 1).
    flags = ("--readouts", "--steps", "2", "--n-test", "64", "--no-progress", "--no-plots")
    proc = in_process(capsys, "finetune", out, *flags, "--out", tmp_path / "readouts")
    assert proc.returncode == 0, proc.stderr
    config = zoo.load(tmp_path / "readouts").config
    n_out = zoo.load(out).config.model.width + 1
    assert (config.freeze, config.train.optimizer, config.train.steps) == (
        "all-but-last",
        "natural-gradient",
        2,
    )
    assert config.train.batch == 16 * math.ceil(1.5 * n_out / 16)
    for extra in (("--reset", "last"), ("--readout-steps", "1")):
        proc = in_process(capsys, "finetune", out, *flags, *extra, "--out", tmp_path / "r2")
        assert_one_line_error(proc, "--readouts sets what trains itself", code=2)
        assert not (tmp_path / "r2").exists()


def test_non_finite_loss(tmp_path, capsys):
    out = tmp_path / "nan"
    # The step configuration of `cli_run` (only the learning rate differs, which is not
    # compiled in): its compiled loops are reused.
    proc = in_process(
        capsys,
        "train",
        "allen-cahn-twobody",
        *TINY,
        "--steps",
        "6",
        "--lr",
        "1e30",
        "--checkpoint-every",
        "1",
        "--out",
        out,
    )
    assert_one_line_error(proc, "loss is", "at step", "last finite checkpoint", code=1)
    assert zoo.load(out).card["step"] >= 0


@pytest.mark.slow
def test_sigint_saves_a_checkpoint(tmp_path):
    out = tmp_path / "sigint"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zoo",
            "train",
            "allen-cahn-twobody",
            *TINY,
            "--steps",
            "1000000",
            "--eval-every",
            "0",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    while time.time() < deadline and len(zoo.read_metrics(out)) < 3:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted at step" in stderr and "Traceback" not in stderr
    assert zoo.load(out).card["step"] >= 6
