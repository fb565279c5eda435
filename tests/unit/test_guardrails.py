"""Detective guardrails (iamlogic.guardrails): the file's checks, the violations, the compliance of
each OU and account, and the faces (`:guardrails` in the REPL, `iamlogic guardrails`)."""

from __future__ import annotations

import doctest
import json

import pytest

import iamlogic
from iamlogic import guardrails as g
from iamlogic.cli import main
from iamlogic.grammar.diagnostics import InvalidInput
from iamlogic.repl import Session

from ..conftest import EXAMPLES

TOWER = EXAMPLES / "control-tower"

WORLD = '''
organization "o-aaaaaaaaaa" {
  management "mgmt"
  root "r-aaaa" {
    ou Prod { account "p1"  ou Deep { account "p2" } }
    ou Dev { account "d1" }
  }
}
account 111111111111 "mgmt" { tags { cost-center = "x" } }
account 222222222222 "p1" { resource "arn:aws:s3:::a" { tags { owner = "me" } } resource "arn:aws:s3:::b" }
account 333333333333 "p2" { resource "arn:aws:s3:::c" }
account 444444444444 "d1" { tags { cost-center = "y" } }
account 555555555555 "alone"
'''

RULES = '''
guardrail("owned", "every resource has an owner").
violation("owned", A, R) :- resource(R, A), not resource_tag(R, "owner", _).
guardrail("cost", "every member account has a cost-center tag").
violation("cost", A, A) :- member_account(A), not account_tag(A, "cost-center", _).
guardrail("deep", "no account sits three OUs down").
violation("deep", A, Ou) :- account_parent(A, Ou), ou_parent(Ou, Parent), ou_parent(Parent, Grand), ou_parent(Grand, _).
'''


def test_doctests():
    assert doctest.testmod(g).failed == 0


def test_violations_and_the_compliance_of_each_node():
    w = iamlogic.loads(WORLD, "w.iaml")
    found = g.check_guardrails(w, g.read_guardrails(RULES, "r.dl"))
    assert not found.compliant
    assert [(v.guardrail, v.account, v.subject) for v in found.violations] == [
        ("cost", "222222222222", "222222222222"), ("cost", "333333333333", "333333333333"),
        ("owned", "222222222222", "arn:aws:s3:::b"), ("owned", "333333333333", "arn:aws:s3:::c")]
    assert [x.name for x in found.guardrails] == ["owned", "cost", "deep"] and found.violations_of("deep") == []
    rows = [(n.kind, n.name, n.depth, n.accounts, n.noncompliant, n.violations) for n in found.nodes]
    assert rows == [
        ("root", "Root", 0, 4, 2, 4),
        ("ou", "Dev", 1, 1, 0, 0), ("account", "d1", 2, 1, 0, 0),
        ("ou", "Prod", 1, 2, 2, 4),
        ("ou", "Deep", 2, 1, 1, 2), ("account", "p2", 3, 1, 1, 2),
        ("account", "p1", 2, 1, 1, 2),
        ("account", "mgmt", 1, 1, 0, 0),
        ("account", "alone", 0, 1, 0, 0)]  # in no organization: not a member account
    data = found.to_json()
    assert data["compliant"] is False and [x["violations"] for x in data["guardrails"]] == [2, 2, 0]


def test_a_violation_of_an_account_the_world_does_not_declare_is_listed_not_dropped():
    w = iamlogic.loads(WORLD, "w.iaml")
    rules = g.read_guardrails('guardrail("x", "y").\nviolation("x", "999999999999", "thing") :- account(_, "mgmt").\n')
    found = g.check_guardrails(w, rules)
    assert [(v.account, v.subject) for v in found.violations] == [("999999999999", "thing")]
    assert found.nodes[-1].kind == "other" and found.nodes[-1].violations == 1


def test_a_world_that_holds_every_guardrail():
    w = iamlogic.loads('account 111111111111 "a" { resource "arn:aws:s3:::a" { tags { owner = "o" } } }', "w.iaml")
    found = g.check_guardrails(w, g.read_guardrails(RULES, "r.dl"))
    assert found.compliant and found.violations == ()


@pytest.mark.parametrize("text, code, line", [
    ('owned(R) :- resource(R, _).', "E806", 1),
    ('guardrail("a", "b").\nscp_level(A, B) :- account(A, B).', "E801", 2),
    ('guardrail("a", "b").\nviolation("a", A, R) :- account(A, _), decision(R, "Allow").', "E802", 2),
    ('guardrail("a", "b").\nviolation("a", A, R) :- account(A, _), request_account(R, A).', "E802", 2),
    ('guardrail("a").', "E803", 1),
    ('guardrail("a", "b") :- account(_, _).', "E803", 1),
    ('guardrail("a", "b").\nviolation(A, A, A) :- account(A, _).', "E803", 2),
    ('guardrail("a", "b").\nviolation("a", A) :- account(A, _).', "E803", 2),
    ('guardrail("a", "b").\nviolation("z", A, A) :- account(A, _).', "E804", 2),
    ('guardrail("a", "b").\nguardrail("a", "c").\nviolation("a", A, A) :- account(A, _).', "E805", 2),
    ('guardrail("a", "b").\nviolation("a", A, A) :- acount(A, _).', "E410", 2),
    ('guardrail("a", "b").\nresource(A, A) :- account(A, _).', "E412", 2),
    ('guardrail("a", "b").\nviolation("a", A, B) :- account(A, _).', "E413", 2),
    ('guardrail("a", "b")', "E404", 1),
])
def test_a_guardrails_file_in_error_is_refused_with_the_place(text, code, line):
    with pytest.raises(InvalidInput) as exc:
        g.read_guardrails(text, "r.dl")
    found = [d for d in exc.value.diagnostics if d.code == code]
    assert found and found[0].span.file == "r.dl" and found[0].span.line == line, exc.value.render()


def test_a_guardrail_no_rule_derives_is_a_warning():
    rules = g.read_guardrails('guardrail("a", "b").\nguardrail("c", "d").\nviolation("c", A, A) :- account(A, _).', "r.dl")
    assert [(d.code, d.span.line) for d in rules.warnings] == [("W801", 1)]


def test_the_example_landing_zone(capsys):
    code = main(["guardrails", str(TOWER / "world.iaml"), "--rules", str(TOWER / "detective.dl"), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["compliant"] is False
    assert {(v["guardrail"], v["account"]) for v in data["violations"]} == {
        ("resources-have-an-owner", "444444444444"), ("accounts-have-a-cost-center", "666666666666"),
        ("no-admin-iam-users", "555555555555"), ("no-public-resource-policies", "666666666666")}
    # the preventive guardrails hold (invariants.yaml next to the world)
    code = main(["verify", str(TOWER / "world.iaml"), "--examples", "10"])
    out = capsys.readouterr().out
    assert code == 0 and out.rstrip().endswith("2 of 2 invariant(s) hold"), out


def test_the_cli_and_the_repl_command(tmp_path, capsys):
    world, rules = tmp_path / "w.iaml", tmp_path / "r.dl"
    world.write_text(WORLD)
    rules.write_text(RULES)
    assert main(["guardrails", str(world), "--rules", str(rules)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("3 guardrail(s): 2 violated, 1 hold\n") and "\n    OU Deep " in out and "333333333333 p2" in out
    rules.write_text('guardrail("a", "b").\nviolation("a", A, A) :- account(A, "nobody").\n')
    assert main(["guardrails", str(world), "--rules", str(rules)]) == 0
    assert capsys.readouterr().out.startswith("1 guardrail(s): 0 violated, 1 hold")
    assert main(["guardrails", str(world), "--rules", str(tmp_path / "none.dl")]) == 3
    assert f"{tmp_path / 'none.dl'}: E807: cannot read" in capsys.readouterr().out
    s = Session([str(world)])
    out = s.handle(f":guardrails {tmp_path / 'none.dl'}")
    assert s.status == 3 and "<input>:1:13: E807" in out
    assert Session().handle(f":guardrails {rules}").startswith("<input>:1:1: E610")
    s.handle(":format json")
    assert json.loads(s.handle(f":guardrails {rules}"))["compliant"] is True and s.status == 0


def test_each_violation_has_its_derivation():
    """As `why` shows a decision's: the file's rule, iamlogic's rules and the facts below it."""
    w = iamlogic.loads(WORLD, "w.iaml")
    rules = g.read_guardrails(RULES, "r.dl")
    found = g.check_guardrails(w, rules)
    proofs = g.explain(w, rules, found.violations)
    assert [p.judgement for p in proofs] == [
        f'violation("{v.guardrail}", "{v.account}", "{v.subject}")' for v in found.violations]
    cost = proofs[0]
    assert cost.rule == "rule r.dl:5"
    assert [c.judgement for c in cost.children] == ['member_account("222222222222")',
                                                    'not account_tag("222222222222", "cost-center", _)']
    assert cost.children[0].rule == "rule rules/10-organizations.dl:31"
    # one that does not hold has none
    (missing,) = g.explain(w, rules, [g.Violation("owned", "111111111111", "arn:aws:s3:::nothing")])
    assert missing.rule == "not derivable"


def test_why_in_the_cli_and_the_repl(tmp_path, capsys):
    world, rules = tmp_path / "w.iaml", tmp_path / "r.dl"
    world.write_text(WORLD)
    rules.write_text(RULES)
    assert main(["guardrails", str(world), "--rules", str(rules), "--why"]) == 1
    out = capsys.readouterr().out
    assert "\nderivations\n  violation(\"cost\", \"222222222222\", \"222222222222\")   [rule " in out
    s = Session([str(world)])
    s.handle(":format json")
    data = json.loads(s.handle(f":guardrails {rules} why"))
    assert [v["proof"]["judgement"].split("(")[0] for v in data["violations"]] == ["violation"] * 4
    assert "E606" in s.handle(f":guardrails {rules} because")


def test_a_rule_that_makes_new_values_without_end_is_an_error_at_the_rule_not_a_hang(tmp_path, capsys):
    from iamlogic.cli import main

    world = EXAMPLES / "control-tower" / "world.iaml"
    for name, rules in (("count.dl", 'n(0).\nn(Y) :- n(X), add(X, 1, Y).\n'),
                        ("square.dl", 'n(2).\nn(Y) :- n(X), multiply(X, X, Y).\n'),
                        ("types.dl", 'n(0).\nm(A) :- account(A, _), A > 5.\n')):
        path = tmp_path / name
        path.write_text('guardrail("g", "never").\n' + rules + 'violation("g", "1", "x") :- n(-1).\n', encoding="utf-8")
        assert main(["guardrails", str(world), "--rules", str(path)]) == 3, name
        assert f"{name}:3:1: E802" in "".join(capsys.readouterr()), name  # the rule's place


def test_each_violation_says_where_its_subject_is_declared(tmp_path, capsys):
    """A violation's subject (an account, a principal, a resource) comes with the place the world
    declares it, for the table and the JSON; a subject the world does not declare has none."""
    world = iamlogic.loads('''organization "o-a1b2c3d4e5" {
  management "mgmt"
  root "r-a1b2" { ou Work id "ou-a1b2-11111111" { account "dev" } }
}
account 111111111111 "mgmt" { }
account 222222222222 "dev" {
  user dana { path "/ops/" policy P { allow s3:GetObject on * } }
  resource "arn:aws:s3:::logs"
}
''', "w.iaml")
    rules = g.read_guardrails('''guardrail("owned", "every resource carries an owner tag").
guardrail("tagged", "every account is tagged").
guardrail("no-users", "no IAM users").
guardrail("ous", "no OU").
guardrail("made-up", "a subject of no declaration").
violation("owned", A, R) :- resource(R, A), not resource_tag(R, "owner", _).
violation("tagged", A, A) :- account(A, _), not account_tag(A, "team", _).
violation("no-users", A, U) :- principal(U, "user", A).
violation("ous", "222222222222", "ou-a1b2-11111111").
violation("made-up", "222222222222", "arn:aws:s3:::nowhere").
''', "detective.dl")
    found = {(v.guardrail, v.subject): str(v.where) if v.where else None
             for v in g.check_guardrails(world, rules).violations}
    assert found == {
        ("owned", "arn:aws:s3:::logs"): "w.iaml:8:3",
        ("tagged", "111111111111"): "w.iaml:5:1",
        ("tagged", "222222222222"): "w.iaml:6:1",
        ("no-users", "arn:aws:iam::222222222222:user/ops/dana"): "w.iaml:7:3",
        ("ous", "ou-a1b2-11111111"): "w.iaml:3:19",
        ("made-up", "arn:aws:s3:::nowhere"): None,
    }
    assert {(v["subject"], v["where"]) for v in g.check_guardrails(world, rules).to_json()["violations"]} >= {
        ("arn:aws:s3:::logs", "w.iaml:8:3"), ("arn:aws:s3:::nowhere", None)}
    assert world.locate("arn:aws:iam::222222222222:root") == world.locate("222222222222")
