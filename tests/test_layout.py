"""The package layout says the architecture: the packages import one another one way only (no cycle), and the
statistics depend on nothing else of the project."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cifar

PACKAGE = Path(cifar.__file__).resolve().parent


def imports_between_packages() -> dict[str, set[str]]:
    """{package or top-level module: the project's packages and modules it imports}, from every ``from cifar…``."""
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        here = parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cifar":
                names = node.module.split(".")[1:2] or [alias.name for alias in node.names]
                edges.setdefault(here, set()).update(n for n in names if n != here)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return found


def test_no_import_cycle_between_packages():
    """Issue 29, item 5: suite and judging imported each other (the campaign took the gate's looks and the summary's
    effort; the gate's check and re-measurement take the suite's settings)."""
    edges = imports_between_packages()
    assert cycles(edges) == [], edges
    assert edges["stats"] == set()  # the statistics stand alone
    assert "gate" not in edges["suite"] and "reports" not in edges["suite"]


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"suite": {"gate"}, "gate": {"suite"}}) == [["gate", "suite", "gate"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_machine_is_identified_in_one_place():
    """Issue 29, item 5: the suite, the run file and the tuner each rebuilt the machine's facts or fingerprint; the
    tuner's study and the suite's baselines must name the same machine alike."""
    import doctest

    from cifar.suite import machine
    from cifar.suite.record import machine_info
    from cifar.tuning.tune import this_machine

    info = machine_info({"tensorflow_version": machine.installed_tensorflow()})
    assert this_machine()[0] == machine.fingerprint(info)
    result = doctest.testmod(machine)
    assert result.attempted > 0 and result.failed == 0


def test_each_shared_constant_is_defined_once():
    """Issue 29, item 5: constants that were defined twice or more (as names or as literal strings)."""
    import re

    sources = {p.relative_to(PACKAGE).as_posix(): p.read_text() for p in PACKAGE.rglob("*.py")}
    for pattern in (r"^PRECISIONS = ", r"^(TARGET_)?HALF_WIDTH = ", r"^MIN_PROCESSES = ", r"= 1800\b", r"= 1_800\b"):
        defined = [name for name, text in sources.items() if re.search(pattern, text, re.M)]
        assert len(defined) <= 1, (pattern, defined)
    for literal in ('"cifar.training.data:warm_cache"', '"baselines/gate.json"', '"cifar.workloads:epoch"'):
        assert sum(text.count(literal) for text in sources.values()) <= 1, literal


#: The measurement scripts a maintainer reruns (docs/ and CONTRIBUTING.md say when); the settled ones were removed,
#: docs/ naming the commit that still has each.
MEASURE_SCRIPTS = ("aa_coverage.py", "before_after.py", "budget_looks.py", "independent_fit.py", "pair_spread.py",
                   "tail_sim.py", "tune_proof.py", "variance_split.py")


@pytest.mark.parametrize("args", [[name, "--help"] for name in MEASURE_SCRIPTS]
                         + [["before_after.py", "run", "--help"]], ids=lambda args: "-".join(args))
def test_every_measurement_script_still_imports_and_parses(args):
    """Issue 41, item 5: scripts no test ran rotted (pinned to old settings, calling removed code). Each kept one
    imports what it uses and answers --help; a new one must be listed here."""
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "scripts" / "measure"
    assert sorted(p.name for p in folder.glob("*.py")) == sorted(MEASURE_SCRIPTS)
    proc = subprocess.run([sys.executable, str(folder / args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=120, cwd=folder.parent.parent)
    assert proc.returncode == 0 and proc.stdout.startswith("usage:"), proc.stderr[-2000:]


def test_ci_runs_exactly_the_readmes_test_command_and_the_fast_tier_leaves_out_the_long_tests():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    block = (root / "README.md").read_text().split("## Two commands", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    (readme_command,) = [line.split("#")[0].strip() for line in block.splitlines() if "CI runs exactly this" in line]
    ci = [line.strip() for line in (root / ".ci/run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    assert ci[-1] == readme_command == "make test-all"
    makefile = (root / "Makefile").read_text()
    assert '-m "not long"' in makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]


def test_no_two_modules_define_the_same_public_class_or_function_name():
    """Issue 41, item 4: three classes named Arm, three speedups and two compares meant different things. A public
    top-level name means one thing in the package (the per-module entries `main` and `run` and the renderings
    `render`, `markdown` and `to_json` of a module's own report excepted)."""
    seen: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not node.name.startswith("_"):
                seen.setdefault(node.name, []).append(path.relative_to(PACKAGE).as_posix())
    entries = ("main", "run", "render", "markdown", "to_json")
    shared = {name: where for name, where in seen.items() if len(where) > 1 and name not in entries}
    assert shared == {}
