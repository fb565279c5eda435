"""The scenario corpus (tests/scenarios/*.yaml) and the examples' expected answers
(examples/*/expected.yaml), decided by the engine: every request must get its expected decision,
and its deciding statements must include the Sids or policy names the file lists."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest
import yaml

import iamlogic

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples"
FILES = sorted(HERE.glob("*.yaml")) + sorted(EXAMPLES.glob("*/expected.yaml"))


@lru_cache(maxsize=None)
def _doc(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@lru_cache(maxsize=None)
def _world(path: Path, name: str | None) -> iamlogic.World:
    if path.name == "expected.yaml":
        return iamlogic.load([str(path.parent / "world.iaml")])
    doc = _doc(path)
    text = doc["worlds"][name] if name is not None else doc["world"]
    return iamlogic.loads(text, f"{path.name}:{name or 'world'}")


def _cases():
    for path in FILES:
        for i, req in enumerate(_doc(path)["requests"]):
            yield pytest.param(path, i, id=f"{path.parent.name if path.name == 'expected.yaml' else path.stem}-{i}")


def _check(world: iamlogic.World, req: dict) -> iamlogic.decision.Decision:
    return world.check(str(req["principal"]), req["action"], req["resource"], req.get("context"),
                       session_policy=_session_policy(req.get("session_policy")),
                       federating_user=req.get("session_issuer"))


def _session_policy(text):
    if text is None:
        return None
    text = text.strip()
    if text.startswith("{") and '"Statement"' not in text:  # the compact syntax
        return iamlogic.loads(f"aws policy Session {text}").model.aws_policies[0].document
    return text


@pytest.mark.parametrize("path,index", list(_cases()))
def test_scenario(path: Path, index: int):
    req = _doc(path)["requests"][index]
    world = _world(path, req.get("world"))
    d = _check(world, req)
    where = f"{path.name} request {index} ({req.get('name', '')}); source: {req.get('source') or _doc(path).get('source')}"
    assert d.decision == req["expect"], f"{where}\n{d.explain('full')}"
    for wanted in req.get("deciding") or ():
        names = {s.sid for s in d.statements} | {s.policy_name for s in d.statements}
        assert wanted in names, f"{where}: {wanted!r} not among deciding statements {sorted(n for n in names if n)}"


def test_corpus_is_large_enough():
    n = sum(len(_doc(p)["requests"]) for p in FILES if p.parent == HERE)
    assert n >= 200, n
