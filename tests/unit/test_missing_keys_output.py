"""A decision made without condition keys a policy reads says so in its summary (the default
view of ``check``, the REPL's ``can``) and in ``who can``; a REPL script that ends inside an
unfinished query is an error, not silence."""

from __future__ import annotations

import subprocess
import sys

import iamlogic

WORLD = '''
account 111122223333 "dev" {
  resource "arn:aws:s3:::b"
  user u {
    policy P {
      sid "AllowAll" allow s3:* on *
      sid "AccessExpired" deny s3:* on * when DateGreaterThan aws:CurrentTime "2020-01-01T00:00:00Z"
    }
  }
}
'''


def test_the_summary_names_the_missing_keys_and_those_every_request_carries():
    d = iamlogic.loads(WORLD, "w.iaml").check("u", "s3:GetObject", "arn:aws:s3:::b/k")
    assert d.allowed and d.missing_context == ("aws:CurrentTime",)
    text = d.explain("summary")
    assert "missing condition keys: aws:CurrentTime" in text
    assert "AWS puts aws:CurrentTime in every request" in text
    assert d.explain("blockers").count("missing condition keys") == 1
    later = iamlogic.loads(WORLD, "w.iaml").check("u", "s3:GetObject", "arn:aws:s3:::b/k",
                                                  {"aws:CurrentTime": "2026-11-30T00:00:00Z"})
    assert later.decision == "ExplicitDeny" and "missing" not in later.explain("summary")


def _repl(tmp_path, script: str):
    world = tmp_path / "w.iaml"
    world.write_text(WORLD, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "iamlogic", "repl", str(world)], input=script,
                          capture_output=True, text=True, timeout=120)


def test_who_can_names_the_keys_an_allowed_principal_was_decided_without(tmp_path):
    out = _repl(tmp_path, "who can s3:GetObject arn:aws:s3:::b/k\n").stdout
    assert "decided without aws:CurrentTime (a policy reads it)" in out


def test_a_repl_script_ending_inside_a_query_is_invalid(tmp_path):
    run = _repl(tmp_path, "?- principal(P\ncan u s3:GetObject arn:aws:s3:::b/k\n")
    assert run.returncode == 3
    assert "E40" in run.stdout + run.stderr


def test_a_session_tag_of_an_identity_center_role_given_as_a_role_is_not_known_to_be_present():
    import pytest

    from iamlogic.grammar.diagnostics import InvalidInput

    from ..conftest import EXAMPLES

    text = (EXAMPLES / "identity-center" / "world.iaml").read_text(encoding="utf-8")
    audit = "    permission_set Audit { attach ReadOnlyAccess }"
    assert audit in text
    world = iamlogic.loads(text.replace(audit, """    permission_set Audit {
      attach ReadOnlyAccess
      policy Untagged { sid "NoCostCenter" allow ec2:TerminateInstances on * when Null aws:PrincipalTag/CostCenter "true" }
    }"""), "ic.iaml")
    role = next(r for r in world.evaluator().index.sso_roles if "AWSReservedSSO_Audit" in r)
    with pytest.raises(InvalidInput, match="E507"):  # whether the tag is there depends on who signs in
        world.check(role, "ec2:TerminateInstances", "arn:aws:ec2:eu-west-1:222222222222:instance/i-0data000000000001")
