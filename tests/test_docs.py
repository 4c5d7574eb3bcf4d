"""The documentation: every public name is on an API page, the how-to code runs, the
README stays short, and nothing cites a design file users do not have."""

import ast
import importlib
import re
import subprocess

import pytest
from helpers import ROOT, run_python

DOCS = ROOT / "docs"
PACKAGES = ("stde", "pdes", "models", "zoo")
SNIPPET = re.compile(r'^--8<-- "([^":]+)[^"]*"\s*$', re.MULTILINE)


def public_names(package: str) -> set[str]:
    """The names the package's `__init__.py` binds (its re-exports), less private ones.

    Read from the source rather than `dir()`: the test run's jaxtyping import hook adds
    names of its own to every checked package."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    module = importlib.import_module(package)
    assert all(hasattr(module, n) for n in names)
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("package", PACKAGES)
def test_api_page_lists_every_public_name(package):
    page = DOCS / "api" / f"{package}.md"
    documented = set(re.findall(rf"^::: {package}\.(\w+)\s*$", page.read_text(), re.MULTILINE))
    missing = sorted(public_names(package) - documented)
    assert not missing, f"add `::: {package}.<name>` to {page.relative_to(ROOT)} for {missing}"
    gone = sorted(documented - public_names(package))
    assert not gone, f"{page.relative_to(ROOT)} documents names that are not public: {gone}"


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```\s*$", text, re.MULTILINE | re.DOTALL)


HOW_TO = sorted(p.name for p in (DOCS / "how-to").glob("*.md"))
# Pages that train for hundreds of steps at d = 8 to 100 (1-2 minutes each on two cores),
# and the Flax page (a fresh process that imports Flax and compiles its training, ~12
# CPU-seconds): slow, and run by name in CI (.ci/run).
SLOW_HOW_TO = {"custom-pde.md", "finetune.md", "flax-and-jax.md"}


@pytest.mark.parametrize(
    "page", [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_HOW_TO else p for p in HOW_TO]
)
def test_how_to_code_runs(page, tmp_path):
    """The python blocks of a how-to page, in order, as one script in a fresh process.
    Blocks that include an example file are the example's own smoke test's business."""
    blocks = [b for b in _code_blocks((DOCS / "how-to" / page).read_text()) if "--8<--" not in b]
    if not blocks:
        pytest.skip(f"{page} has only included examples")
    script = tmp_path / "page.py"
    script.write_text("\n\n".join(blocks))
    proc = run_python(script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # a fresh process that loads and evaluates a shipped solver; in CI (.ci/run)
def test_readme_example_runs(tmp_path):
    (block,) = _code_blocks((ROOT / "README.md").read_text())
    script = tmp_path / "readme.py"
    script.write_text(block)
    proc = run_python(script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rel_l2" in proc.stdout


def test_included_examples_are_run_by_the_suite():
    """Every example a page includes verbatim is exercised by a test."""
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    pages = sorted(DOCS.rglob("*.md"))
    included = {m for p in pages for m in SNIPPET.findall(p.read_text())}
    assert included, "no page includes a file"
    for path in sorted(included):
        assert (ROOT / path).is_file(), f"a page includes {path}, which does not exist"
        if path.startswith("examples/"):
            assert path.split("/")[-1] in tests, f"{path} is shown in the docs but never run"


def test_readme_is_short_and_links_existing_pages():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 120
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).is_file(), f"README links {target}, which does not exist"


def test_license_matches_pyproject():
    assert 'license = { text = "Apache-2.0" }' in (ROOT / "pyproject.toml").read_text()
    assert "Apache License" in (ROOT / "LICENSE").read_text()


def test_no_file_cites_the_private_design_notes():
    """Users do not have the developers' design notes: point to docs/ instead."""
    try:
        files = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    pattern = re.compile("DESIGN" + r"(\.md| §)")
    offenders = []
    for name in files:
        path = ROOT / name
        if path.suffix in (".eqx", ".png", ".npz") or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if pattern.search(line)
        ]
    assert not offenders, offenders
