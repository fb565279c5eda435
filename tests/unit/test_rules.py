"""The rule files: well formed, every relation declared or derived, each file documented, and the
universal ("for all") rules right in their vacuous cases."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from iamlogic import World
from iamlogic.dlcheck import check_program, derived_relations
from iamlogic.evaluate import BUILTIN_SPECS, rules
from iamlogic.grammar.datalog import Atom, Negation
from iamlogic.schema import RELATIONS

RULE_FILES = sorted(f for f in resources.files("iamlogic").joinpath("rules").iterdir() if f.name.endswith(".dl"))


def test_rules_check_clean():
    declared = {n: r.arity for n, r in RELATIONS.items()}
    assert check_program(rules(), declared, BUILTIN_SPECS) == []


def test_every_relation_in_a_body_is_declared_derived_or_builtin():
    known = set(RELATIONS) | set(derived_relations(rules())) | set(BUILTIN_SPECS)
    used = set()
    for rule in rules().rules:
        for lit in rule.body:
            atom = lit.atom if isinstance(lit, Negation) else lit
            if isinstance(atom, Atom):
                used.add(atom.relation)
    assert used - known == set()


def test_no_declared_relation_is_redefined():
    assert set(derived_relations(rules())) & set(RELATIONS) == set()


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_each_rule_file_states_its_aws_source_inputs_and_outputs(path):
    head = path.read_text(encoding="utf-8").split("\n\n")[0]
    assert re.search(r"https://docs\.aws\.amazon\.com/\S+", head), "cite the AWS page the rules follow"
    assert "% Inputs:" in head and "% Outputs:" in head


ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _org_world(level_policies: list[str]) -> World:
    w = World()
    org = w.add_organization("o-a1b2c3d4e5", management="111111111111").add_ou("Workloads")
    for name in level_policies:
        org.add_scp(name, {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
        org.attach("Workloads", "scp", name)
    org.detach_full_access("Workloads").place("222222222222", "Workloads")
    w.add_account("111111111111", "management")
    w.add_account("222222222222", "member").add_user("alice", policies={"admin": ADMIN})
    return w


def test_vacuous_scp_level_without_policies_blocks():
    """'Every level allows' over a level with no SCP at all: nothing allows, so the request is denied."""
    d = _org_world([]).check("alice", "s3:GetObject", "*")
    assert d.decision == "ImplicitDeny"
    assert [(v.layer.split(" (")[0], v.verdict) for v in d.blockers()] == [("SCP Workloads", "no allow")]


def test_scp_level_with_an_allow_passes():
    assert _org_world(["AllowS3"]).check("alice", "s3:GetObject", "*").decision == "Allow"
    assert _org_world(["AllowS3"]).check("alice", "ec2:RunInstances", "*").decision == "ImplicitDeny"


def test_vacuous_no_deny_and_for_all_values_on_missing_key():
    w = World()
    w.add_account("111122223333", "dev").add_user("alice", policies={"tags": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*",
                                                 "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["Env"]}}}]}})
    assert w.check("alice", "ec2:CreateTags", "*").decision == "Allow"  # no keys: vacuously all allowed
    assert w.check("alice", "ec2:CreateTags", "*", {"aws:TagKeys": ["Env"]}).decision == "Allow"
    assert w.check("alice", "ec2:CreateTags", "*", {"aws:TagKeys": ["Env", "Owner"]}).decision == "ImplicitDeny"


def test_statements_that_name_nothing_in_particular_apply_without_matching():
    """Action "*" and Resource "*" without Principal, NotPrincipal or Condition: unconditional, and
    applied to every request of its policy's source; any other element keeps the statement matched
    element by element."""
    w = World()
    w.add_organization("o-a1b2c3d4e5", management="111111111111").add_ou("Workloads").place(
        "222222222222", "Workloads")
    w.add_account("111111111111", "management")
    w.add_account("222222222222", "member").add_user("alice", policies={
        "admin": ADMIN,
        "guarded": {"Version": "2012-10-17", "Statement": [
            {"Sid": "Tagged", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}}},
            {"Sid": "Objects", "Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::b/*"}]}})
    ev = w.evaluator()
    unconditional = {row[0] for row in ev.query("?- unconditional(S).")}
    labels = {ev.index.statement_ref(s).label() for s in unconditional}
    assert any("FullAWSAccess" in label for label in labels) and any("admin" in label for label in labels)
    assert not any("Tagged" in label or "Objects" in label for label in labels)

    d = w.check("alice", "ec2:RunInstances", "*")
    assert d.decision == "Allow"
    layers = {(v.layer.split(" (")[0], v.verdict) for v in d.layers}
    assert ("SCP Root", "allow") in layers and ("SCP Workloads", "allow") in layers
    assert any("FullAWSAccess" in s.label() for s in d.statements) and any("admin" in s.label() for s in d.statements)
    assert w.check("alice", "ec2:RunInstances", "*", {"aws:RequestTag/env": "prod"}).decision == "ExplicitDeny"
    assert w.check("alice", "s3:GetObject", "arn:aws:s3:::b/k").decision == "ExplicitDeny"
    assert w.check("alice", "s3:GetObject", "arn:aws:s3:::c/k").decision == "Allow"
