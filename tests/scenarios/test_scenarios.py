"""The scenario corpus (tests/scenarios/*.yaml) and the examples' expected answers
(examples/*/expected.yaml), run by the same runner as ``iamlogic test``: every request must get its
expected decision, and its deciding statements must include the Sids or policy names it lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamlogic.policytest import run_test_file

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples"
FILES = sorted(HERE.glob("*.yaml")) + sorted(EXAMPLES.glob("*/expected.yaml"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.parent.name if p.name == "expected.yaml" else p.stem)
def test_scenario_file(path: Path):
    result = run_test_file(str(path))
    assert not result.errors, result.render_errors()
    bad = [c for c in result.cases if c.status != "passed"]
    report = "\n\n".join(f"{c.file}:{c.line}: {c.name}: expected {c.expected}, got {c.got}\n{c.message}\n"
                         f"{c.explanation}" for c in bad)
    assert not bad, report
    assert result.cases


def test_corpus_is_large_enough():
    import yaml

    total = sum(len(yaml.safe_load(p.read_text(encoding="utf-8"))["requests"]) for p in HERE.glob("*.yaml"))
    assert total >= 200, total
