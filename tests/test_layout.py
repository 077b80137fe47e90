"""The package layout says the architecture: the packages import one another one way only (no cycle), and the
statistics depend on nothing else of the project."""

from __future__ import annotations

import ast
from pathlib import Path

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
    from cifar.tuning.tune import fingerprint

    assert fingerprint()[0] == machine.fingerprint(machine_info({"tensorflow_version": machine.installed_tensorflow()}))
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
