"""The scenario corpus is well formed: every file follows the format of README.md, every world loads
without errors, every session policy parses, and every request cites an AWS documentation page.

This test does not evaluate any request: the expected decisions are checked by the engine's own
scenario runner. It guards the corpus itself, so a typo in a world or a request is caught before the
engine is blamed for it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import iamlogic
from iamlogic.grammar.diagnostics import InvalidInput

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLES = ROOT / "examples"

SCENARIO_FILES = sorted(HERE.glob("*.yaml"))
EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*/expected.yaml"))
ALL_FILES = SCENARIO_FILES + EXAMPLE_FILES

DECISIONS = {"Allow", "ExplicitDeny", "ImplicitDeny"}
FILE_KEYS = {"title", "source", "world", "worlds", "requests", "notes"}
REQUEST_KEYS = {"name", "world", "principal", "action", "resource", "context", "session_policy",
                "session_issuer", "expect", "deciding", "source", "notes"}
DOC_URL = re.compile(r"https://docs\.(aws\.amazon\.com|amazonaws\.cn)/\S+")
PRINCIPAL = re.compile(
    r"anonymous"
    r"|arn:aws:iam::\d{12}:(root|user/\S+|role/\S+)"
    r"|arn:aws:sts::\d{12}:(assumed-role/[^/]+/[^/]+|federated-user/\S+)"
    r"|[a-z0-9.-]+\.amazonaws\.com")
IAM_USER = re.compile(r"arn:aws:iam::\d{12}:user/\S+")
SID = re.compile(r'(?:sid\s+|"Sid"\s*:\s*)"([^"]+)"')
POLICY_NAME = re.compile(r'\b(?:policy|scp|rcp)\s+([A-Za-z0-9_+=.@\-]+)|"PolicyName"\s*:\s*"([^"]+)"')
IMPORT = re.compile(r'^import\s+"([^"]+)"', re.MULTILINE)


def _load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _worlds(path: Path, doc: dict) -> dict[str | None, str]:
    if path.name == "expected.yaml":  # the example's world, with the files it imports
        text = (path.parent / "world.iaml").read_text(encoding="utf-8")
        return {None: "\n".join([text, *((path.parent / f).read_text(encoding="utf-8") for f in IMPORT.findall(text))])}
    if "worlds" in doc:
        return dict(doc["worlds"])
    return {None: doc["world"]}


def _check_world(text: str, tmp_path: Path, name: str) -> None:
    f = tmp_path / f"{name}.iaml"
    f.write_text(text, encoding="utf-8")
    try:
        iamlogic.load([str(f)])
    except InvalidInput as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"world {name!r} does not load:\n{exc}")


def _check_session_policy(text: str, tmp_path: Path) -> None:
    text = text.strip()
    if text.startswith("{") and '"Statement"' in text:
        iamlogic.parse_policy(text, "session")
        return
    f = tmp_path / "session.iaml"
    f.write_text(f"aws policy SessionPolicy {text}\n", encoding="utf-8")
    try:
        world = iamlogic.load([str(f)])
    except InvalidInput as exc:  # pragma: no cover
        pytest.fail(f"session policy does not parse:\n{text}\n{exc}")
    policy = world.model.aws_policies[0].document
    errors = [d for d in iamlogic.validate_policy(policy, "session") if d.is_error]
    assert not errors, errors


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_file_is_well_formed(path: Path, tmp_path: Path) -> None:
    doc = _load_yaml(path)
    assert isinstance(doc, dict) and set(doc) <= FILE_KEYS, set(doc) - FILE_KEYS
    assert doc.get("title"), "a file needs a title"
    if path.name != "expected.yaml":
        assert ("world" in doc) != ("worlds" in doc), "give exactly one of world: and worlds:"
    worlds = _worlds(path, doc)
    for name, text in worlds.items():
        if path.name != "expected.yaml":
            _check_world(text, tmp_path, name or "world")
    texts = "\n".join(worlds.values())
    requests = doc["requests"]
    assert requests, "a file needs requests"
    names = [r["name"] for r in requests]
    assert len(names) == len(set(names)), "request names must be unique within a file"
    for r in requests:
        where = f"{path.name}: {r.get('name')!r}"
        assert set(r) <= REQUEST_KEYS, (where, set(r) - REQUEST_KEYS)
        for key in ("name", "principal", "action", "resource", "expect"):
            assert isinstance(r.get(key), str) and r[key], (where, key)
        assert r["expect"] in DECISIONS, where
        assert PRINCIPAL.fullmatch(r["principal"]), (where, r["principal"])
        assert re.fullmatch(r"[A-Za-z0-9-]+:[A-Za-z0-9]+", r["action"]), (where, r["action"])
        assert DOC_URL.fullmatch(r.get("source") or doc.get("source") or ""), (where, "cite an AWS page")
        if "worlds" in doc:
            assert r.get("world") in worlds, (where, "world: must name one of worlds:")
        else:
            assert "world" not in r, where
        for key, value in (r.get("context") or {}).items():
            ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            assert ok, (where, key, "context values are strings or lists of strings")
        if "session_policy" in r:
            _check_session_policy(r["session_policy"], tmp_path)
        if "session_issuer" in r:
            assert ":federated-user/" in r["principal"], (where, "session_issuer is for federated users")
            assert IAM_USER.fullmatch(r["session_issuer"]), where
        known = set(SID.findall(texts)) | {a or b for a, b in POLICY_NAME.findall(texts)}
        if "session_policy" in r:
            known |= set(SID.findall(r["session_policy"])) | {"SessionPolicy"}
        for sid in r.get("deciding") or ():
            assert sid in known, (where, f"deciding {sid!r} is neither a Sid nor a policy name of the world")
        if r["expect"] == "ImplicitDeny":
            assert not r.get("deciding"), (where, "an implicit deny has no deciding statement")


def test_corpus_size() -> None:
    total = sum(len(_load_yaml(p)["requests"]) for p in SCENARIO_FILES)
    assert total >= 230, total


def test_examples_have_a_world_with_a_header() -> None:
    for path in EXAMPLE_FILES:
        text = (path.parent / "world.iaml").read_text(encoding="utf-8")
        assert text.startswith("#"), f"{path.parent.name}/world.iaml needs a comment header"
        assert "https://docs." in text.split("\n\n")[0], f"{path.parent.name}/world.iaml header cites no AWS page"


def test_json_session_policies_are_json() -> None:
    for path in ALL_FILES:
        for r in _load_yaml(path)["requests"]:
            sp = (r.get("session_policy") or "").strip()
            if sp.startswith("{") and '"Statement"' in sp:
                json.loads(sp)
