"""Text never becomes code: Python in policies, worlds, queries and CLI arguments stays data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from iamlogic import World, load
from iamlogic.cli import main
from iamlogic.grammar.diagnostics import InvalidInput

PAYLOADS = [
    "x'); __import__('os').system('touch {marker}') #",
    'x"); __import__("os").system("touch {marker}") #',
    "\\'); import os; os.system('touch {marker}')\n#",
    "+ p(__import__('os').system('touch {marker}'))",
]


def _payloads(tmp_path: Path) -> list[str]:
    return [p.format(marker=tmp_path / "pwned") for p in PAYLOADS]


def test_payloads_in_world_and_policies_are_data(tmp_path):
    for i, payload in enumerate(_payloads(tmp_path)):
        w = World()
        a = w.add_account("111122223333", "dev", tags={"note": payload})
        a.add_user("alice", tags={"team": payload}, policies={"p": {
            "Version": "2012-10-17", "Statement": [{
                "Sid": "S", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/team": payload}}}]}})
        d = w.check("alice", "s3:GetObject", "arn:aws:s3:::b/k")
        assert d.decision == "Allow", payload
        d = w.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceIp": payload})
        assert d.decision == "Allow"
        assert w.check("alice", "s3:GetObject", f"arn:aws:s3:::other/{payload}").decision == "ImplicitDeny"
        with pytest.raises(InvalidInput, match="E513"):  # not an ARN: refused, as text
            w.check("alice", "s3:GetObject", payload)
    assert not (tmp_path / "pwned").exists()


def test_payloads_in_world_files_and_cli_arguments_are_data(tmp_path, capsys):
    payload = _payloads(tmp_path)[0]
    world = tmp_path / "w.iaml"
    world.write_text('account 111122223333 "dev" {\n  user alice { tags { team = %s } policy P {\n'
                     '    allow s3:GetObject on * when StringEquals aws:PrincipalTag/team %s\n  } }\n}\n'
                     % (json.dumps(payload), json.dumps(payload)))
    assert load([str(world)]).check("alice", "s3:GetObject", "*").decision == "Allow"
    code = main(["check", str(world), "--principal", "alice", "--action", "s3:GetObject",
                 "--resource", f"arn:aws:s3:::b/{payload}", "--context", f"aws:SourceIp={payload}"])
    assert code == 0
    code = main(["check", str(world), "--principal", payload, "--action", "s3:GetObject", "--resource", "*"])
    assert code == 3
    assert not (tmp_path / "pwned").exists()


def test_no_module_formats_text_for_pydatalog():
    """Only the engine imports pyDatalog, and it never calls load/ask (which compile Python)."""
    root = Path(__file__).resolve().parents[2]
    for path in list((root / "logic").rglob("*.py")) + list((root / "grammar").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"pyDatalog\.(load|ask)\(|pyParser\.load\(", text), path
        if path.name != "engine.py":
            assert "import pyDatalog" not in text and "from pyDatalog" not in text, path
