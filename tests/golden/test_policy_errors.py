"""Golden error corpus: each ``errors/<kind>.<case>.json`` is parsed and validated as ``<kind>``,
and its rendered diagnostics must equal ``<kind>.<case>.expected`` byte for byte.

Set ``IAMLOGIC_UPDATE_GOLDEN=1`` to rewrite the expected files from the current output (then read
the diff before committing); by default they are only compared.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from iamlogic.grammar.ast import POLICY_KINDS
from iamlogic.grammar.codes import CODES
from iamlogic.grammar.diagnostics import Diagnostics
from iamlogic.grammar.json_policy import parse_policy_text
from iamlogic.validate import validate_policy

HERE = Path(__file__).parent / "errors"
CASES = sorted(HERE.glob("*.json"))
UPDATE = os.environ.get("IAMLOGIC_UPDATE_GOLDEN") == "1"

#: Codes that no JSON document read as one of POLICY_KINDS can produce; each has a unit test.
NOT_IN_CORPUS = {"E200"}  # unknown policy kind: only reachable through the API


def render(path: Path) -> str:
    """Parse and validate one corpus file as its kind; the diagnostics, rendered."""
    kind = path.name.split(".", 1)[0]
    text = path.read_text(encoding="utf-8")
    policy, diags = parse_policy_text(text, path.name)
    if policy is not None:
        diags.extend(validate_policy(policy, kind))
    return Diagnostics(diags).render({path.name: text}) + "\n"


def test_corpus_is_large_enough():
    assert len(CASES) >= 35


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path):
    assert path.name.split(".", 1)[0] in POLICY_KINDS, f"{path.name}: the name must start with a policy kind"
    expected_path = path.with_suffix(".expected")
    actual = render(path)
    if UPDATE:
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"missing {expected_path.name}; run with IAMLOGIC_UPDATE_GOLDEN=1"
    assert actual == expected_path.read_text(encoding="utf-8")


def test_clean_cases_are_clean():
    """Files named ``…-clean.json`` are real-world policies that must raise no diagnostic."""
    clean = [p for p in CASES if p.stem.endswith("-clean")]
    assert clean
    for path in clean:
        assert render(path) == "\n", path.name


def test_every_code_has_a_golden_case():
    seen: set[str] = set()
    for path in (case.with_suffix(".expected") for case in CASES):
        seen.update(re.findall(r":\d+:\d+: ([EW]\d{3}):", path.read_text(encoding="utf-8")))
    # .iaml cases (test_world_golden.py), unit tests of requests and of exports (tests/unit/test_gaad.py)
    world_codes = {c for c in CODES if c[1] in "359"}
    missing = set(CODES) - seen - NOT_IN_CORPUS - world_codes
    assert not missing, f"codes without a golden case: {sorted(missing)}"
