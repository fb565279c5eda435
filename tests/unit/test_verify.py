"""``iamlogic verify``: user invariants, holding and violated, their counterexamples, and the command."""

from __future__ import annotations

import ipaddress
import json

import pytest

import iamlogic
from iamlogic.cli import main
from iamlogic.grammar.diagnostics import InvalidInput
from iamlogic.verify import Invariant, _Analysis, check_invariants, load_invariants, parse_invariants, verify

from ..conftest import EXAMPLES

# Member account "good" is under the region SCP, member account "bad" is not; bob reaches Hop with
# MFA only, and Hop reaches Admin; the "open" bucket is public from one network, "pub" is public,
# "org" is readable inside the organization only.
WORLD = """\
organization "o-test123456" {
  management "mgmt"
  scp DenyOutsideEU { sid "DenyOutsideEU" deny ec2:* on * when StringNotEquals aws:RequestedRegion ["eu-west-1"] }
  root {
    ou Good { scp DenyOutsideEU account "good" }
    ou Bad { account "bad" }
  }
}
account 111111111111 "mgmt" { }
account 222222222222 "good" {
  user bob { policy P { allow iam:* on * } }
  role Hop {
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::222222222222:user/bob"
              when Bool aws:MultiFactorAuthPresent "true" }
    policy H { allow sts:AssumeRole on * }
  }
  role Admin {
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::222222222222:role/Hop" }
    attach AdministratorAccess
  }
  resource "arn:aws:s3:::open" {
    policy { sid "IpRead" allow s3:GetObject on "arn:aws:s3:::open/*" principal *
               when IpAddress aws:SourceIp "203.0.113.0/24" }
  }
  resource "arn:aws:s3:::pub" { policy { sid "PublicRead" allow s3:GetObject on "arn:aws:s3:::pub/*" principal * } }
  resource "arn:aws:s3:::org" {
    policy { sid "OrgRead" allow s3:GetObject on "arn:aws:s3:::org/*" principal *
               when StringEquals aws:PrincipalOrgID "o-test123456" }
  }
}
account 333333333333 "bad" { }
aws policy AdministratorAccess { allow * on * }
"""

INVARIANTS = [
    Invariant.nobody_outside("open needs search", "s3:GetObject", "arn:aws:s3:::open/*"),
    Invariant.nobody_outside("pub is public", "s3:GetObject", "arn:aws:s3:::pub/*"),
    Invariant.nobody_outside("org stays inside", "s3:GetObject", "arn:aws:s3:::org/*"),
    Invariant.only("only Admin manages users", ["Admin"], "iam:*", "arn:aws:iam::222222222222:user/*"),
    Invariant.only("bob, Admin and the roots manage users", ["bob", "Admin", "arn:aws:iam::*:root"], "iam:*",
                   "arn:aws:iam::222222222222:user/*"),
    Invariant.every_account_denies("EU only", "ec2:*", unless={"aws:RequestedRegion": ["eu-west-1"]}),
    Invariant.no_reach("bob never reaches Admin", "arn:aws:iam::*:role/Admin", from_="bob"),
    Invariant.no_reach("bob reaches Admin through Hop only", "arn:aws:iam::*:role/Admin", from_="bob", except_=["Hop"]),
    Invariant.no_reach("nobody reaches Admin", "arn:aws:iam::*:role/Admin"),
]


@pytest.fixture(scope="module")
def world_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("verify") / "world.iaml"
    p.write_text(WORLD, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def world(world_path):
    return iamlogic.load([str(world_path)])


@pytest.fixture(scope="module")
def results(world):
    return {r.invariant.name: r for r in check_invariants(world, INVARIANTS, examples=10)}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------
# nobody_outside


def test_nobody_outside_violated_by_search_with_a_shrunk_context(results):
    r = results["open needs search"]
    assert not r.holds and r.decided > 0 and r.searched > 0
    [v] = r.violations
    ce = v.counterexample
    assert v.found_by == "search" and v.kind == "nobody_outside"
    assert ce.principal in ("anonymous", "arn:aws:iam::999999999999:root")
    assert (ce.action, ce.resource.startswith("arn:aws:s3:::open/")) == ("s3:GetObject", True)
    assert list(ce.context) == ["aws:SourceIp"]  # shrunk: the one key that matters
    assert ipaddress.ip_address(ce.context["aws:SourceIp"]) in ipaddress.ip_network("203.0.113.0/24")
    assert ce.decision.allowed and [s.sid for s in ce.decision.statements][0] == "IpRead"
    text = v.render()
    assert "counterexample:" in text and "derivation:" in text and "aws:SourceIp" in text


def test_nobody_outside_violated_exhaustively(results):
    r = results["pub is public"]
    assert {v.counterexample.principal for v in r.violations} == {
        "anonymous", "arn:aws:iam::999999999999:root", "arn:aws:iam::999999999999:user/any-principal",
        "arn:aws:iam::999999999999:role/any-principal"}
    assert all(v.found_by == "exhaustive" and v.counterexample.context == {} for v in r.violations)


def test_nobody_outside_holds(results):
    r = results["org stays inside"]
    assert r.holds and r.searched > 0, r.violations


# ---------------------------------------------------------------------------------------------
# only


def test_only_violated_names_every_unlisted_principal(results):
    r = results["only Admin manages users"]
    found = {v.counterexample.principal for v in r.violations}
    assert found == {"arn:aws:iam::222222222222:user/bob", "arn:aws:iam::222222222222:root"}
    for v in r.violations:
        ce = v.counterexample
        assert ce.action.startswith("iam:") and ce.resource == "arn:aws:iam::222222222222:user/bob"
        assert ce.decision.decision == "Allow"


def test_only_holds(results):
    assert results["bob, Admin and the roots manage users"].holds


# ---------------------------------------------------------------------------------------------
# every_account_denies


def test_every_account_denies_violated_in_the_account_without_the_scp(results):
    r = results["EU only"]
    [v] = r.violations
    ce = v.counterexample
    assert ce.principal == "arn:aws:iam::333333333333:user/iamlogic-verify-admin"
    assert ce.action.startswith("ec2:") and ce.resource == "*"
    assert ce.context.get("aws:RequestedRegion") != "eu-west-1"


def test_every_account_denies_holds_and_root_principal(world):
    inv = Invariant.every_account_denies("EU only, as root", "ec2:RunInstances", unless={"aws:RequestedRegion": ["eu-*"]},
                                         principal="root")
    [v] = verify(world, [inv], examples=0)
    assert v.counterexample.principal == "arn:aws:iam::333333333333:root"
    # with the SCP everywhere (attached at the root), it holds
    fixed = iamlogic.loads(WORLD.replace('ou Bad { account "bad" }', 'ou Bad { scp DenyOutsideEU account "bad" }'))
    result, = check_invariants(fixed, [inv], examples=5)
    assert result.holds and result.decided >= 2


# ---------------------------------------------------------------------------------------------
# no_reach


def test_no_reach_violated_through_a_chain_found_by_search(results):
    [v] = results["bob never reaches Admin"].violations
    assert [(s.principal, s.action, s.resource) for s in v.path] == [
        ("arn:aws:iam::222222222222:user/bob", "sts:AssumeRole", "arn:aws:iam::222222222222:role/Hop"),
        ("arn:aws:iam::222222222222:role/Hop", "sts:AssumeRole", "arn:aws:iam::222222222222:role/Admin")]
    assert v.path[0].context == {"aws:MultiFactorAuthPresent": "true"} and v.path[1].context == {}
    assert v.found_by == "search" and v.counterexample is v.path[-1]
    assert all(s.decision.allowed for s in v.path)
    assert "step 2 of 2:" in v.render()


def test_no_reach_holds_when_the_path_passes_through_an_exception(results):
    assert results["bob reaches Admin through Hop only"].holds


def test_no_reach_from_every_principal_found_exhaustively(results):
    starts = {v.path[0].principal for v in results["nobody reaches Admin"].violations}
    assert starts == {"arn:aws:iam::222222222222:role/Hop"}
    assert all(v.found_by == "exhaustive" for v in results["nobody reaches Admin"].violations)


# ---------------------------------------------------------------------------------------------
# Finite parts


def test_actions_are_grouped_by_the_patterns_that_match_them(world):
    an = _Analysis(world, members=False)
    classes = an.action_classes(["ec2:*", "sts:AssumeRole*"])
    flat = [a for c in classes for a in c]
    assert len(flat) == len(set(flat)) and "ec2:RunInstances" in flat
    for cls in classes:  # every action of a class is matched by the same patterns
        sigs = {frozenset(p for p in an.action_patterns if a in an.expanded(p)) for a in cls}
        assert len(sigs) == 1
    assert len(classes) < 5 < len(flat)


def test_the_rules_action_patterns_are_their_constants_not_their_comments():
    """verify groups actions by the patterns that match them, the rules' own among them
    (``trust_action("sts:AssumeRole*")``); an example in a comment of the rules
    (``"ec2:Describe*"``, rules/30-statements.dl) is none."""
    from iamlogic.verify import _rule_action_patterns

    found = _rule_action_patterns()
    assert {"sts:AssumeRole*", "sts:TagSession"} <= found
    assert "ec2:Describe*" not in found


def test_search_is_reproducible(world):
    inv = INVARIANTS[0]
    a = verify(world, [inv], examples=10)[0].counterexample.request()
    b = verify(iamlogic.loads(WORLD), [inv], examples=10)[0].counterexample.request()
    assert a == b


# ---------------------------------------------------------------------------------------------
# The invariants file


def test_invariants_file_format(tmp_path):
    p = tmp_path / "inv.yaml"
    p.write_text("""\
title: t
invariants:
  - name: a
    nobody_outside: {scope: account, can: s3:GetObject, on: "arn:aws:s3:::b/*"}
  - name: b
    only: {principals: Admin, can: [iam:*, sts:*]}
  - name: c
    every_account_denies: {action: ec2:*, unless: {aws:RequestedRegion: [eu-west-1, eu-central-1]}}
  - name: d
    no_reach: {to: "arn:aws:iam::*:role/Admin", except: [Break-Glass]}
""")
    a, b, c, d = load_invariants(str(p))
    assert (a.kind, a.scope, a.actions, a.resources) == ("nobody_outside", "account", ("s3:GetObject",), ("arn:aws:s3:::b/*",))
    assert (b.principals, b.actions, b.resources) == (("Admin",), ("iam:*", "sts:*"), ("*",))
    assert (c.actions, c.resources, c.unless, c.principal) == (
        ("ec2:*",), ("*",), (("aws:RequestedRegion", ("eu-west-1", "eu-central-1")),), "synthetic")
    assert (d.principals, d.to, d.except_) == (("*",), ("arn:aws:iam::*:role/Admin",), ("Break-Glass",))
    assert a.where == f"{p}:3:5"
    assert parse_invariants([{"name": "x", "only": {"principals": ["A"], "can": "iam:*"}}])[0].kind == "only"


@pytest.mark.parametrize("body,code,where,words", [
    ("invariants:\n  - name: a\n    nobody_outside: {can: s3:GetObject, on: x, scop: account}\n", "E702", ":3:",
     "did you mean 'scope'?"),
    ("invariants:\n  - name: a\n    nobody_inside: {can: s3:GetObject, on: x}\n", "E702", ":3:5:", "nobody_inside"),
    ("invariants:\n  - name: a\n    only: {principals: [A], can: s3:GetObjekt}\n", "E707", ":3:", "s3:GetObjekt"),
    ("invariants:\n  - name: a\n    nobody_outside: {scope: world, can: s3:GetObject, on: x}\n", "E705", ":3:", "scope"),
    ("invariants:\n  - name: a\n    only: {principals: [A], can: s3:*}\n    no_reach: {to: x}\n", "E705", ":2:",
     "exactly one"),
    ("invariants:\n  - only: {principals: [A], can: s3:*}\n", "E703", ":2:", "'name'"),
    ("invariant: []\n", "E702", ":1:1:", "did you mean 'invariants'?"),
    ("invariants: [\n", "E701", ":2:", "YAML"),
])
def test_invalid_invariants_files_exit_3_with_the_place(tmp_path, capsys, world_path, body, code, where, words):
    p = tmp_path / "inv.yaml"
    p.write_text(body)
    with pytest.raises(InvalidInput):
        load_invariants(str(p))
    rc, out, err = run(capsys, "verify", world_path, "--invariants", p)
    assert rc == 3
    assert f"{p}{where}" in err and code in err and words in err, err


def test_verify_without_invariants_is_invalid(tmp_path, capsys):
    w = tmp_path / "w.iaml"
    w.write_text('account 111111111111 "a" { }\n')
    rc, _, err = run(capsys, "verify", w)
    assert rc == 3 and "E708" in err
    assert run(capsys, "verify", w, "--invariants", tmp_path / "none.yaml")[0] == 3


# ---------------------------------------------------------------------------------------------
# The command


def test_cli_violation_exit_1_prints_the_counterexample_and_its_proof(tmp_path, capsys, world_path):
    p = tmp_path / "inv.yaml"
    p.write_text("invariants:\n  - name: only Admin manages bob\n    only: {principals: [Admin, 'arn:aws:iam::*:root'], "
                 "can: 'iam:*', on: 'arn:aws:iam::222222222222:user/bob'}\n")
    rc, out, _ = run(capsys, "verify", world_path, "--invariants", p, "--examples", "3")
    assert rc == 1
    assert "VIOLATED 'only Admin manages bob' (only): arn:aws:iam::222222222222:user/bob (not listed) is allowed iam:" in out
    assert "    principal: arn:aws:iam::222222222222:user/bob" in out and "derivation:" in out
    assert out.rstrip().endswith("0 of 1 invariant(s) hold, 1 violated")


def test_cli_brief_prints_each_violation_without_its_derivation(tmp_path, capsys, world_path):
    """A derivation goes through pyDatalog (seconds each in a world of thousands of statements):
    --brief leaves it out, in text and in JSON, and keeps the deciding statements."""
    p = tmp_path / "inv.yaml"
    p.write_text("invariants:\n  - name: only Admin manages bob\n    only: {principals: [Admin, 'arn:aws:iam::*:root'], "
                 "can: 'iam:*', on: 'arn:aws:iam::222222222222:user/bob'}\n")
    rc, out, _ = run(capsys, "verify", world_path, "--invariants", p, "--examples", "3", "--brief")
    assert rc == 1 and "    principal: arn:aws:iam::222222222222:user/bob" in out and "allowed by" in out
    assert "derivation:" not in out
    rc, out, _ = run(capsys, "verify", world_path, "--invariants", p, "--examples", "3", "--brief", "--format", "json")
    [v, *_] = json.loads(out)["invariants"][0]["violations"]
    assert rc == 1 and "allowed by" in v["counterexample"]["explanation"]
    assert "derivation:" not in v["counterexample"]["explanation"]


def test_cli_an_invariant_that_decides_nothing_exits_1_unless_allowed(tmp_path, capsys, world_path):
    p = tmp_path / "inv.yaml"  # a typo: no principal "bbo" in the world, so nothing is decided
    p.write_text("invariants:\n  - name: bbo never reaches Admin\n    no_reach: {from: bbo, "
                 "to: 'arn:aws:iam::*:role/Admin'}\n")
    rc, out, _ = run(capsys, "verify", world_path, "--invariants", p, "--examples", "3")
    assert rc == 1, out
    assert "VACUOUS  bbo never reaches Admin (no_reach): 0 request(s)" in out and "guard nothing (exit 1" in out
    rc, out, _ = run(capsys, "verify", world_path, "--invariants", p, "--examples", "3", "--allow-vacuous", "--format",
                     "json")
    data = json.loads(out)
    assert rc == 0 and data["vacuous"] == 1 and data["invariants"][0]["vacuous"] and data["invariants"][0]["holds"]


@pytest.mark.parametrize("condition, who", [
    ('ArnLike aws:PrincipalArn "arn:aws:iam::*:role/Deploy"', ":role/Deploy"),  # a role any account may create
    ('StringEquals aws:PrincipalAccount "555555555555"', "555555555555:"),  # an account a condition names
    ('StringEquals aws:PrincipalTag/team "red"\n and StringEquals aws:PrincipalType "User"',
     ":user/any-principal"),  # a user any account may tag
    ('StringEquals aws:PrincipalTag/team "blue"', "/any-principal"),  # a tag any account may set
    ('StringLike aws:userid "AROA*"', ":role/any-principal"),  # any account's role sessions
])
def test_nobody_outside_tries_principals_any_account_may_have(condition, who):
    world = iamlogic.loads(f'''
account 222222222222 "prod" {{
  resource "arn:aws:s3:::data" {{ policy {{
    allow s3:GetObject on "arn:aws:s3:::data/*" principal * when {condition}
  }} }}
}}''')
    violations = verify(world, [Invariant.nobody_outside("data stays inside", "s3:GetObject", "arn:aws:s3:::data/*")],
                        examples=100)
    assert violations and (who in violations[0].counterexample.principal if who.endswith(":") else
                           violations[0].counterexample.principal.endswith(who)), violations


def test_a_resource_pattern_that_matches_nothing_gets_a_note(world):
    typo, fine = check_invariants(world, [Invariant.nobody_outside("typo", "s3:GetObject", "arn:aws:s3:::opne/*"),
                                          Invariant.nobody_outside("fine", "s3:GetObject", "arn:aws:s3:::org/*")],
                                  examples=0)
    assert any("'arn:aws:s3:::opne/*' matches no resource of the world" in n for n in typo.notes)
    assert not any("matches no resource" in n for n in fine.notes)


def test_nobody_outside_finds_a_named_account_that_may_assume_a_role():
    world = iamlogic.loads('''
account 222222222222 "prod" {
  role R { trust { allow sts:AssumeRole principal aws "arn:aws:iam::444444444444:root" } policy P { allow s3:* on * } }
}''')
    violations = verify(world, [Invariant.nobody_outside("R stays inside", "sts:AssumeRole",
                                                         "arn:aws:iam::222222222222:role/R")], examples=0)
    assert {v.counterexample.principal for v in violations} >= {"arn:aws:iam::444444444444:user/any-principal"}


def test_cli_examples_verify_hold(capsys):
    folder = EXAMPLES / "verify"
    rc, out, _ = run(capsys, "verify", folder / "world.iaml", "--examples", "10", "--format", "json")  # invariants.yaml next to it
    assert rc == 0, out
    data = json.loads(out)
    assert data["holds"] and [i["kind"] for i in data["invariants"]] == [
        "nobody_outside", "only", "every_account_denies", "no_reach"]
    assert all(i["holds"] and i["decided"] > 0 and not i["vacuous"] for i in data["invariants"])
    assert [i["name"] for i in data["invariants"]] == [i.name for i in load_invariants(str(folder / "invariants.yaml"))]


def test_cli_world_errors_and_bad_options_exit_3(tmp_path, capsys):
    w = tmp_path / "w.iaml"
    w.write_text('account 111111111111 "a" {\n  user bob { attach Missing }\n}\n')
    inv = tmp_path / "inv.yaml"
    inv.write_text("invariants:\n  - {name: a, only: {principals: [x], can: 's3:*'}}\n")
    rc, _, err = run(capsys, "verify", w, "--invariants", inv)
    assert rc == 3 and f"{w}:2:14: E315" in err
    assert run(capsys, "verify", w, "--invariants", inv, "--examples", "-1")[0] == 3
