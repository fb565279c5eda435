"""The analyses: who_can, what_can, access_matrix, diff, external_access, why_not (logic/analysis.py).

Every analysis must agree with World.check: the property test at the end checks it on generated
worlds; the other tests pin exact answers on small worlds.
"""

from __future__ import annotations

import doctest
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iamlogic
from iamlogic import analysis
from iamlogic.analysis import (
    ANONYMOUS,
    Change,
    Undetermined,
    access_matrix,
    actions_for_resource,
    diff,
    external_access,
    iter_diff,
    named_principals,
    new_access,
    policy_actions,
    sample_resources,
    what_can,
    who_can,
    why_not,
    world_principals,
)
from iamlogic.grammar.diagnostics import InvalidInput
from iamlogic.testing import requests_for, valid_world_models
from iamlogic.world import World

from ..conftest import EXAMPLES

A, B, OUT = "111111111111", "222222222222", "999999999999"

SMALL = f'''
organization "o-a1b2c3d4e5" {{
  management "{A}"
  root "r-a1b2" {{ account "{B}" }}
}}
account {A} "a" {{
  user alice {{ policy P {{ sid "Send" allow sqs:Send*, sqs:DeleteMessage on * sid "NoDelete" deny sqs:DeleteMessage on * }} }}
  user bob
  role Auditor {{
    trust {{ allow sts:AssumeRole principal aws "{B}" }}
    policy R {{ allow sqs:GetQueueAttributes on * }}
  }}
  resource "arn:aws:sqs:us-east-1:{A}:q" {{
    policy {{
      sid "PartnerSend" allow sqs:SendMessage on "arn:aws:sqs:us-east-1:{A}:q"
        principal aws "arn:aws:iam::{OUT}:user/partner"
    }}
  }}
  resource "arn:aws:s3:::public-a" {{
    policy {{ sid "Public" allow s3:GetObject on "arn:aws:s3:::public-a/*" principal * }}
  }}
}}
account {B} "b" {{
  user carol {{ policy C {{ allow sts:AssumeRole, sqs:SendMessage on * }} }}
}}
'''


@pytest.fixture(scope="module")
def small():
    return iamlogic.loads(SMALL, "small.iaml")


@pytest.fixture(scope="module")
def cross():
    return iamlogic.load([str(EXAMPLES / "cross-account" / "world.iaml")])


def test_doctests():
    assert doctest.testmod(analysis).failed == 0


# -- reading the world -------------------------------------------------------------------------


def test_principals_of_the_world_and_named_ones(small):
    assert world_principals(small) == [
        f"arn:aws:iam::{A}:role/Auditor", f"arn:aws:iam::{A}:root", f"arn:aws:iam::{A}:user/alice",
        f"arn:aws:iam::{A}:user/bob", f"arn:aws:iam::{B}:root", f"arn:aws:iam::{B}:user/carol", ANONYMOUS]
    # B is declared (its root is a principal of the world); the partner is outside the world
    assert named_principals(small) == [f"arn:aws:iam::{OUT}:user/partner"]


def test_policy_actions_and_sample_resources(small):
    actions, wildcard = policy_actions(small)
    assert {"sqs:SendMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sts:AssumeRole",
            "s3:GetObject"} <= set(actions)
    assert all(a.startswith(("sqs:", "sts:", "s3:")) for a in actions)
    assert wildcard  # FullAWSAccess (allow * on *) is attached in the organization
    assert sample_resources(small)[:1] == ["*"]
    assert "arn:aws:s3:::public-a/*" in sample_resources(small)


def test_actions_for_resource():
    obj = actions_for_resource("arn:aws:s3:::b/k")
    assert "s3:GetObject" in obj and "s3:ListBucket" not in obj
    assert "s3:ListBucket" in actions_for_resource("arn:aws:s3:::b")
    assert "sts:AssumeRole" in actions_for_resource("arn:aws:iam::111122223333:role/path/R")
    assert actions_for_resource("*") == []
    assert actions_for_resource("*", services=["sts"]) and all(
        a.startswith("sts:") for a in actions_for_resource("*", services=["sts"]))
    assert actions_for_resource("not-an-arn") == []


# -- who can -----------------------------------------------------------------------------------


def test_who_can_exact_on_the_cross_account_example(cross):
    found = who_can(cross, "s3:PutObject", "arn:aws:s3:::b-reports/r.csv")
    assert [p for p, _ in found] == ["arn:aws:iam::222222222222:user/dana", "arn:aws:iam::333333333333:role/CrossRole",
                                     "arn:aws:iam::333333333333:root"]
    dana = dict(found)["arn:aws:iam::222222222222:user/dana"]
    assert {s.sid for s in dana.statements} == {"WriteReportsInB", "AllowDanaPut"}
    for p, d in found:
        assert cross.check(p, "s3:PutObject", "arn:aws:s3:::b-reports/r.csv").decision == d.decision == "Allow"


def test_who_can_includes_principals_outside_the_world_and_anonymous(small):
    q = f"arn:aws:sqs:us-east-1:{A}:q"
    found = dict(who_can(small, "sqs:SendMessage", q))
    assert set(found) == {f"arn:aws:iam::{A}:user/alice", f"arn:aws:iam::{A}:root",
                          f"arn:aws:iam::{OUT}:user/partner"}
    partner = found[f"arn:aws:iam::{OUT}:user/partner"]
    assert "PartnerSend" in {s.sid for s in partner.statements}
    assert any("outside the world" in w for w in partner.warnings)
    # carol (account B) is allowed by her identity policy but the queue's policy does not name her
    assert f"arn:aws:iam::{B}:user/carol" not in found
    public = dict(who_can(small, "s3:GetObject", "arn:aws:s3:::public-a/index.html"))
    assert ANONYMOUS in public and f"arn:aws:iam::{B}:root" in public
    assert {s.sid for s in public[ANONYMOUS].statements} == {"Public"}
    # "principal *" lets in any account: one account no policy names stands for them
    anyone = public["arn:aws:iam::999999999998:root"]
    assert any("stands for any account outside the world" in w for w in anyone.warnings)


def test_who_can_trust_policy_and_context(small):
    role = f"arn:aws:iam::{A}:role/Auditor"
    found = dict(who_can(small, "sts:AssumeRole", role))
    # the trust policy names account B, but B's root user cannot assume a role (AWS STS)
    assert set(found) == {f"arn:aws:iam::{B}:user/carol"}


def test_who_can_on_an_empty_world():
    assert who_can(World(), "s3:GetObject", "arn:aws:s3:::b/k") == []
    assert world_principals(World()) == [ANONYMOUS]


# -- what can ----------------------------------------------------------------------------------


def test_what_can_groups_by_service_and_access_level(small):
    q = f"arn:aws:sqs:us-east-1:{A}:q"
    assert what_can(small, "alice", q) == {"sqs": {"Write": ["sqs:SendMessage"]}}
    assert what_can(small, "bob", q) == {}
    assert what_can(small, f"arn:aws:iam::{OUT}:user/partner", q) == {"sqs": {"Write": ["sqs:SendMessage"]}}
    # on "*", the services the world's policies name (sqs, sts, s3); a narrower set when given
    assert what_can(small, "alice", "*", services=["sqs"]) == {"sqs": {"Write": ["sqs:SendMessage"]}}


def test_what_can_unknown_principal_is_invalid_input(small):
    with pytest.raises(InvalidInput) as info:
        what_can(small, "mallory", f"arn:aws:sqs:us-east-1:{A}:q")
    assert info.value.diagnostics[0].code == "E504"


def test_access_matrix(small):
    m = access_matrix(small, ["alice", "bob"], ["sqs:SendMessage", "sqs:DeleteMessage"], ["*"])
    assert [(p, a, d.decision) for (p, a, _r), d in m.items()] == [
        ("alice", "sqs:SendMessage", "Allow"), ("alice", "sqs:DeleteMessage", "ExplicitDeny"),
        ("bob", "sqs:SendMessage", "ImplicitDeny"), ("bob", "sqs:DeleteMessage", "ImplicitDeny")]


# -- diff --------------------------------------------------------------------------------------

BASE = f'''
account {A} "a" {{
  user alice {{ policy P {{ sid "Get" allow s3:GetObject on "arn:aws:s3:::data/*" }} }}
  user bob {{ policy P {{ sid "List" allow s3:ListBucket on "arn:aws:s3:::data" }} }}
  resource "arn:aws:s3:::data" {{ policy {{ sid "Own" allow s3:GetObject on "arn:aws:s3:::data/*" principal aws "{A}" }} }}
}}
'''


def _brute_force(w0, w1, scope):
    d0 = w0.check_many(scope)
    d1 = w1.check_many(scope)
    return {(p, a, r) for (p, a, r), x, y in zip(scope, d0, d1) if x.decision != y.decision}


def test_diff_reports_exactly_the_changed_triples_both_ways():
    before = iamlogic.loads(BASE, "before.iaml")
    after = iamlogic.loads(BASE.replace('sid "Get" allow s3:GetObject', 'sid "Get" allow s3:GetObject, s3:PutObject'),
                           "after.iaml")
    principals = world_principals(before)
    actions = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]
    resources = sample_resources(before)
    scope = [(p, a, r) for p in principals for a in actions for r in resources]
    changes = diff(before, after, principals, actions, resources)
    assert {(c.principal, c.action, c.resource) for c in changes} == _brute_force(before, after, scope) == {
        (f"arn:aws:iam::{A}:user/alice", "s3:PutObject", "arn:aws:s3:::data/*")}
    (c,) = changes
    assert (c.before, c.after, c.grants, c.revokes, c.kind) == ("ImplicitDeny", "Allow", True, False, "new access")
    assert c.to_json()["statements"][0]["sid"] == "Get"
    assert new_access(changes) == changes
    # the other direction: the statement removed again
    back = diff(after, before, principals, actions, resources)
    assert [(x.principal, x.action, x.resource, x.before, x.after, x.revokes, x.kind) for x in back] == [
        (c.principal, c.action, c.resource, "Allow", "ImplicitDeny", True, "access removed")]
    assert new_access(back) == []


def test_diff_default_scope_finds_a_removed_deny_and_a_new_user():
    before = iamlogic.loads(BASE.replace('user bob {', 'user bob { policy D { sid "NoGet" deny s3:GetObject on * } '),
                            "before.iaml")
    after = iamlogic.loads(BASE.replace('user alice {', 'user dave { policy P { allow s3:ListBucket on * } }\n  '
                                        'user alice {'), "after.iaml")
    changes = diff(before, after)
    got = {(c.principal.rsplit(":", 1)[1], c.action, c.resource, c.before, c.after) for c in changes}
    # the bucket policy names the account, so bob still needs an identity allow
    assert ("user/bob", "s3:GetObject", "arn:aws:s3:::data/*", "ExplicitDeny", "ImplicitDeny") in got
    assert ("user/bob", "s3:GetObject", "*", "ExplicitDeny", "ImplicitDeny") in got
    assert ("user/dave", "s3:ListBucket", "*", None, "Allow") in got
    assert all(c.grants == (c.after == "Allow") for c in changes)
    # the default scope is exact: compare with every request of that scope
    principals = list(dict.fromkeys(world_principals(before) + world_principals(after)))
    actions = list(dict.fromkeys(policy_actions(before)[0] + policy_actions(after)[0]))
    resources = list(dict.fromkeys(sample_resources(before) + sample_resources(after)))
    common = [p for p in principals if "dave" not in p]
    scope = [(p, a, r) for p in common for a in actions for r in resources]
    assert {(c.principal, c.action, c.resource) for c in changes if "dave" not in c.principal} == _brute_force(
        before, after, scope)


def test_diff_finds_access_a_notaction_statement_opens():
    before = iamlogic.loads('account 111111111111 "a" { user alice  resource "arn:aws:s3:::b" }', "before.iaml")
    after = iamlogic.loads('account 111111111111 "a" { user alice { policy P { allow not iam:* on "arn:aws:s3:::b/*" } }'
                           '  resource "arn:aws:s3:::b" }', "after.iaml")
    granted = {(c.action.partition(":")[0], c.resource) for c in new_access(diff(before, after))}
    assert ("s3", "arn:aws:s3:::b/*") in granted  # an S3 action the NotAction list does not exclude
    assert not any(service == "iam" for service, _ in granted)


def test_diff_finds_access_a_widened_condition_opens():
    world = 'account 111111111111 "a" {{ user alice {{ policy P {{ allow s3:GetObject on "arn:aws:s3:::b/*" ' \
            'when IpAddress aws:SourceIp "{}" }} }} }}'
    before, after = iamlogic.loads(world.format("10.0.0.0/8"), "b.iaml"), iamlogic.loads(world.format("0.0.0.0/0"), "a.iaml")
    changes = diff(before, after)
    assert [(c.action, c.resource, c.before, c.after) for c in changes] == [
        ("s3:GetObject", "arn:aws:s3:::b/*", "ImplicitDeny", "Allow")]
    ip = dict(changes[0].context)["aws:SourceIp"]  # an address outside 10/8, which only the new policy admits
    assert before.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceIp": ip}).decision == "ImplicitDeny"
    assert changes[0].to_json()["context"] == {"aws:SourceIp": ip}
    # a key of the context given is not varied, and not repeated in the change
    assert diff(before, after, context={"aws:SourceIp": "10.1.2.3"}) == []
    assert diff(before, after, context={"aws:SourceIp": "192.0.2.1"})[0].context == ()


def test_diff_finds_a_trust_policy_opened_to_any_account():
    world = ('account 222222222222 "prod" {{ user alice {{ policy A {{ allow sts:AssumeRole on * }} }}'
             '  role App {{ trust {{ allow sts:AssumeRole principal {} }} }} }}')
    before = iamlogic.loads(world.format('aws "arn:aws:iam::222222222222:user/alice"'), "before.iaml")
    after = iamlogic.loads(world.format("*"), "after.iaml")
    granted = {c.principal for c in new_access(diff(before, after)) if c.resource.endswith(":role/App")}
    # a role's trust policy is a resource-based policy: the role is asked as a resource, and a user of an
    # account no policy names stands for any account (its root user cannot assume a role)
    assert f"arn:aws:iam::999999999999:user/{analysis.ANYONE_USER}" in granted
    assert "anonymous" not in granted  # STS takes signed requests only
    assert not diff(before, after, principals=["arn:aws:iam::222222222222:user/alice"])


def test_changed_statements_are_those_a_change_of_statements_or_attachments_touches():
    before = iamlogic.loads(BASE, "before.iaml")
    edited = iamlogic.loads(BASE.replace('sid "Get" allow s3:GetObject', 'sid "Get" allow s3:PutObject'), "a.iaml")
    assert analysis.changed_statements(before, edited) == {f"arn:aws:iam::{A}:user/alice#inline/P#0"}
    assert analysis.changed_statements(before, iamlogic.loads(BASE, "elsewhere.iaml")) == frozenset()
    # a resource policy removed: its statement, whose facts are gone
    bare = iamlogic.loads(BASE.replace('resource "arn:aws:s3:::data" {', 'resource "arn:aws:s3:::data" { }\n#'),
                          "bare.iaml")
    assert analysis.changed_statements(before, bare) == {"arn:aws:s3:::data#policy#0"}
    # anything else: a principal's tag, a permissions boundary (its principal needs its allow for every action)
    tagged = iamlogic.loads(BASE.replace("user bob {", 'user bob { tags { team = "red" } '), "tagged.iaml")
    assert analysis.changed_statements(before, tagged) is None
    bounded = iamlogic.loads(BASE.replace("user bob {", "user bob { boundary B ").replace(
        "user alice {", 'policy B { allow s3:* on * }\n  user alice {'), "bounded.iaml")
    assert analysis.changed_statements(before, bounded) is None


def _diff_asking(monkeypatch, before, after, **scope) -> tuple[list, set[tuple[str, str, str]], list[str]]:
    """diff's changes, the requests it asked (under any context, in either world), and its notes."""
    asked: set[tuple[str, str, str]] = set()
    ask = analysis._Asker.verdicts

    def spy(self, triples, context, reads):
        asked.update(triples)
        return ask(self, triples, context, reads)

    notes: list[str] = []
    with monkeypatch.context() as m:
        m.setattr(analysis._Asker, "verdicts", spy)
        changes = diff(before, after, notes=notes, **scope)
    return changes, asked, notes


def test_diff_asks_only_the_requests_a_changed_statement_can_take_part_in(monkeypatch):
    before = iamlogic.loads(BASE, "before.iaml")
    after = iamlogic.loads(BASE.replace('sid "Get" allow s3:GetObject', 'sid "Get" allow s3:GetObject, s3:PutObject'),
                           "after.iaml")
    changes, asked, notes = _diff_asking(monkeypatch, before, after)
    assert [(c.principal, c.action, c.resource, c.before, c.after) for c in changes] == [
        (f"arn:aws:iam::{A}:user/alice", "s3:PutObject", "arn:aws:s3:::data/*", "ImplicitDeny", "Allow")]
    # alice's own policy changed: only her requests, and only the actions its statement matches
    assert asked and {(p, a) for p, a, _ in asked} == {(f"arn:aws:iam::{A}:user/alice", "s3:GetObject"),
                                                        (f"arn:aws:iam::{A}:user/alice", "s3:PutObject")}
    whole = len(world_principals(before)) * len(policy_actions(after)[0]) * len(sample_resources(before))
    assert len(notes) == 1 and "differ only in 1 statement(s):" in notes[0] and f"asked {len(asked)} of " in notes[0]
    assert len(asked) < whole
    # the same changes as asking every request
    with monkeypatch.context() as m:
        m.setattr(analysis, "_changes", lambda *_: "everything")
        m.setattr(analysis, "_SKIP_UNREAD", False)
        assert diff(before, after) == changes


def test_iter_diff_gives_each_block_s_changes_before_it_asks_the_next(monkeypatch):
    """iter_diff keeps one block of requests at a time: a change is given before the requests of
    later blocks are asked, in the scope's order; diff sorts the same changes. ``explain`` leaves
    a change without its decisions."""
    before = iamlogic.loads(BASE, "before.iaml")
    after = iamlogic.loads(BASE.replace('sid "Get" allow s3:GetObject', 'sid "Get" allow s3:GetObject, s3:PutObject')
                           .replace('sid "List" allow s3:ListBucket', 'sid "List" allow s3:ListBucket, s3:PutObject'),
                           "after.iaml")
    alice, bob = f"arn:aws:iam::{A}:user/alice", f"arn:aws:iam::{A}:user/bob"
    asked: list[tuple[str, str, str]] = []
    ask = analysis._Asker.verdicts

    def spy(self, triples, context, reads):
        asked.extend(triples)
        return ask(self, triples, context, reads)

    monkeypatch.setattr(analysis._Asker, "verdicts", spy)
    monkeypatch.setattr(analysis, "_DIFF_BLOCK", 1)
    scope = dict(principals=[bob, alice], actions=["s3:PutObject"], resources=["arn:aws:s3:::data/*", "arn:aws:s3:::data"])
    notes: list[str] = []
    changes = analysis.iter_diff(before, after, **scope, notes=notes)
    first = next(changes)
    assert (first.principal, first.resource) == (bob, "arn:aws:s3:::data")  # bob first, as the scope lists him
    assert {p for p, _, _ in asked} == {bob} and not notes  # alice's block not asked yet
    rest = list(changes)
    assert [(c.principal, c.resource) for c in rest] == [(alice, "arn:aws:s3:::data/*")]
    assert "asked 2 of the 4 requests" in notes[0]
    assert first.decision_after is not None and first.decision_after.statements
    assert diff(before, after, **scope) == sorted([first, *rest], key=lambda c: c.principal)
    bare = list(analysis.iter_diff(before, after, **scope, explain=lambda p, a, v0, v1: p == alice))
    assert [(c.principal, c.decision_before is None, c.decision_after is None) for c in bare] == [
        (bob, True, True), (alice, False, False)]
    assert [(c.before, c.after) for c in bare] == [(c.before, c.after) for c in [first, *rest]]


def test_a_change_gives_the_statements_of_both_worlds_behind_it():
    """Access removed by a Deny: the statement that allowed and the one that denies now; a Deny
    taken away from a request no statement allows: the Deny that no longer applies."""
    denied = BASE.replace('sid "List" allow s3:ListBucket', 'sid "List" deny s3:ListBucket')
    bob = f"arn:aws:iam::{A}:user/bob"
    scope = dict(principals=[bob], actions=["s3:ListBucket"], resources=["arn:aws:s3:::data"])
    (removed,) = diff(iamlogic.loads(BASE, "before.iaml"), iamlogic.loads(denied, "after.iaml"), **scope)
    assert (removed.before, removed.after) == ("Allow", "ExplicitDeny")
    assert [(s["effect"], s["file"]) for s in removed.to_json()["statements"]] == [
        ("Allow", "before.iaml"), ("Deny", "after.iaml")]
    no_list = BASE.replace("allow s3:ListBucket", "allow s3:PutObject")
    (changed,) = diff(iamlogic.loads(denied, "before.iaml"), iamlogic.loads(no_list, "after.iaml"), **scope)
    assert (changed.before, changed.after, changed.kind) == ("ExplicitDeny", "ImplicitDeny", "denial changed")
    assert [(s["effect"], s["sid"], s["file"]) for s in changed.to_json()["statements"]] == [
        ("Deny", "List", "before.iaml")]


def test_diff_asks_again_under_a_key_only_the_new_world_reads():
    """The first context gives no aws:SourceIp: both worlds allow, and only the new world's decision
    read the key (its Deny's condition); a context that gives an address in 10/8 is asked again."""
    world = ('account 111111111111 "a" {{ user alice {{ policy P {{ allow s3:GetObject on "arn:aws:s3:::b/*" '
             '{} }} }} }}')
    before = iamlogic.loads(world.format(""), "before.iaml")
    after = iamlogic.loads(world.format('deny s3:GetObject on * when IpAddress aws:SourceIp "10.0.0.0/8"'), "after.iaml")
    changes = diff(before, after, actions=["s3:GetObject"])
    assert [(c.resource, c.before, c.after) for c in changes] == [
        ("*", "ImplicitDeny", "ExplicitDeny"), ("arn:aws:s3:::b/*", "Allow", "ExplicitDeny")]
    assert all(dict(c.context)["aws:SourceIp"].startswith("10.") for c in changes)


def _asking_every_request(monkeypatch, before, after, **scope) -> list:
    """diff as if the worlds differed in anything, asking every request under every context."""
    with monkeypatch.context() as m:
        m.setattr(analysis, "_changes", lambda *_: "everything")
        m.setattr(analysis, "_SKIP_UNREAD", False)
        return diff(before, after, **scope)


_TWO_KEYS = ('account 111111111111 "a" {{ user alice {{ policy P {{ allow {} on * when IpAddress aws:SourceIp '
             '"10.0.0.0/8" }} }}  user bob {{ policy Q {{ allow s3:PutObject on * when Bool '
             'aws:MultiFactorAuthPresent "true" }} }}  resource "arn:aws:s3:::b" }}')
_TAGS = ('account 111111111111 "a" {{ role r {{ trust {{ allow {} principal aws "arn:aws:iam::111111111111:root" }}'
         '  policy P {{ allow s3:GetObject on * when StringEquals aws:PrincipalTag/team "red" }} }}'
         '  resource "arn:aws:s3:::b" }}')
_GUESTS = (EXAMPLES / "cognito" / "world.iaml").read_text()


@pytest.mark.parametrize("before, after, scope, found", [
    # the first context a block's requests read comes after one none of them reads
    (_TWO_KEYS.format("s3:GetObject"), _TWO_KEYS.format("s3:GetObject, s3:PutObject"),
     {"actions": ["s3:GetObject", "s3:PutObject"]}, 2),
    # a NotAction list widened: what it matches in each world, not what the two lists together leave
    ('account 111111111111 "a" { user alice { policy P { allow not s3:* on * } }  resource "arn:aws:s3:::b" }',
     'account 111111111111 "a" { user alice { policy P { allow not ec2:* on * } }  resource "arn:aws:s3:::b" }',
     {"actions": ["s3:GetObject", "ec2:DescribeInstances"]}, 4),
    # a trust policy that lets the role's sessions carry tags: every request of its sessions
    (_TAGS.format("sts:AssumeRole"), _TAGS.format("sts:AssumeRole, sts:TagSession"), {"actions": ["s3:GetObject"]}, 3),
    # a trust statement that stops Amazon Cognito creating the guests' sessions: every request of them
    (_GUESTS, _GUESTS.replace('"unauthenticated"\n', '"unauthenticated"\n'
                                                  '      sid "NoOne" deny sts:AssumeRoleWithWebIdentity principal *\n'),
     {"actions": ["polly:SynthesizeSpeech"]}, 9),
])
def test_diff_finds_what_asking_every_request_finds(monkeypatch, before, after, scope, found):
    w0, w1 = iamlogic.loads(before, "before.iaml"), iamlogic.loads(after, "after.iaml")
    changes = diff(w0, w1, **scope)
    assert len(changes) == found
    assert changes == _asking_every_request(monkeypatch, w0, w1, **scope)


_PEOPLE = '''
account 111111111111 "a" {
  policy B { allow s3:* on * }
  group readers { policy R { allow s3:ListBucket on * } }
  user alice { policy P { allow s3:GetObject on "arn:aws:s3:::data/*" when StringEquals aws:PrincipalTag/team "red" } }
  user bob { policy P { allow s3:*, iam:GetRole on * when StringEquals aws:ResourceTag/team "red" } }
  user carol { policy P { allow sqs:*, iam:*, sts:AssumeRole on * } }
  role r { trust { allow sts:AssumeRole principal aws "arn:aws:iam::111111111111:root" }
           policy P { allow s3:*, sqs:* on * } }
  resource "arn:aws:s3:::data" { tags { team = "blue" } }
  resource "arn:aws:s3:::logs"
  resource "arn:aws:sqs:us-east-1:111111111111:q"
}
'''
_ALICE, _BOB, _CAROL = (f"arn:aws:iam::111111111111:user/{n}" for n in ("alice", "bob", "carol"))
_ROLE, _DATA = "arn:aws:iam::111111111111:role/r", "arn:aws:s3:::data"


_S3 = "s3:*"  # (every S3 action of the catalog, below)


@pytest.mark.parametrize("after, callers, targets, actions, found", [
    # a principal's tag: the requests it makes, and those on it, that a statement reading the tag's
    # key can take part in (alice's own, on aws:PrincipalTag/team; not bob's, which alice does not hold)
    (_PEOPLE.replace("user alice {", 'user alice { tags { team = "red" } '), {_ALICE}, {_ALICE},
     {"s3:GetObject"}, 1),
    # a member of a group more: the requests the member makes whose action the group's policies match
    (_PEOPLE.replace("user bob {", "user bob { groups readers "), {_BOB}, set(), {"s3:ListBucket"}, 6),
    # a permissions boundary: every request the principal makes
    (_PEOPLE.replace("user carol {", "user carol { boundary B "), {_CAROL}, set(), None, 1248),
    # a resource's tags, a bucket's ABAC: the requests on it (and on its objects; S3 reads a
    # bucket's tags only with ABAC on)
    (_PEOPLE.replace('tags { team = "blue" }', 'tags { team = "red" }'), set(), {_DATA}, {_S3, "iam:GetRole"}, 0),
    (_PEOPLE.replace('tags { team = "blue" }', 'tags { team = "red" }  abac'), set(), {_DATA},
     {_S3, "iam:GetRole"}, 338),
    # a role's tag (a resource too: no statement the role holds reads it, bob's reads it on the role),
    # a role made service-linked, a new user
    (_PEOPLE.replace("role r {", 'role r { tags { team = "red" } '), set(), {_ROLE}, {_S3, "iam:GetRole"}, 169),
    (_PEOPLE.replace("role r {", "role r { service_linked "), {_ROLE}, {_ROLE}, None, 0),
    (_PEOPLE.replace("user carol {", 'user dave { policy P { allow s3:GetObject on * } }\n  user carol {'),
     {"arn:aws:iam::111111111111:user/dave"}, {"arn:aws:iam::111111111111:user/dave"}, None, 6),
])
def test_diff_asks_only_what_a_changed_principal_makes_or_a_changed_resource_is_asked(
        monkeypatch, after, callers, targets, actions, found):
    before, after = iamlogic.loads(_PEOPLE, "before.iaml"), iamlogic.loads(after, "after.iaml")
    changes, asked, notes = _diff_asking(monkeypatch, before, after)
    assert len(changes) == found
    assert changes == _asking_every_request(monkeypatch, before, after)
    assert asked and all(p in callers or r.split("/", 1)[0] in targets or r in targets for p, _, r in asked)
    resources = {*sample_resources(before), *sample_resources(after)}  # (a user is not one)
    assert {p for p, _, _ in asked} >= callers and {r for _, _, r in asked} >= targets & resources
    if actions is not None:
        assert all(a in actions or (_S3 in actions and a.startswith("s3:")) for _, a, _ in asked)
    assert "differ only in" in notes[0] and f"asked {len(asked):,} of " in notes[0]


_TREE = '''
organization "o-a1b2c3d4e5" {
  management "m"
  scp DenyRedshift { deny redshift:* on * }
  scp AllowS3 { allow s3:* on * }
  rcp DenyGets { deny s3:GetObject on * principal * when Bool aws:SecureTransport "false" }
  root "r-a1b2" {
    ou Analytics id "ou-a1b2-analytics" { scp DenyRedshift  rcp DenyGets  account "a" }
    ou Sandbox id "ou-a1b2-sandboxxx" { account "c" }
    ou Listed id "ou-a1b2-listedxx" { detach scp FullAWSAccess  scp AllowS3  account "d" }
  }
}
account 111111111111 "m" { user admin { attach Admin } }
account 222222222222 "a" {
  user alice { attach Admin }
  resource "arn:aws:s3:::a-data" { policy { allow s3:GetObject on "arn:aws:s3:::a-data/*" principal *
    when ForAnyValue:StringLike aws:PrincipalOrgPaths "o-a1b2c3d4e5/r-a1b2/ou-a1b2-sandboxxx/*" } }
}
account 333333333333 "c" { user carol { attach Admin }  resource "arn:aws:s3:::c-data" }
account 444444444444 "d" { user dave { attach Admin } }
aws policy Admin { allow * on * }
'''
_SANDBOX = 'ou Sandbox id "ou-a1b2-sandboxxx" { account "c" }'


@pytest.mark.parametrize("after, moved, found", [
    # an account moved into an OU with a deny SCP and an RCP: its principals' requests that the deny
    # can take part in, the requests on its resources that the RCP's can, and those a statement
    # reading aws:PrincipalOrgPaths can
    (_TREE.replace(_SANDBOX, 'ou Sandbox id "ou-a1b2-sandboxxx" { }').replace('account "a" }', 'account "a"  account "c" }'),
     {"333333333333"}, 23),
    # into an OU that allows only S3: every other action of its principals
    (_TREE.replace('scp DenyRedshift  rcp DenyGets  account "a" }', 'scp DenyRedshift  rcp DenyGets }')
     .replace('account "d" }', 'account "d"  account "a" }'), {"222222222222"}, 38),
    # an OU moved under another: the accounts under it
    (_TREE.replace(_SANDBOX, '').replace('account "d" }', f'account "d"  {_SANDBOX} }}'), {"333333333333"}, 10),
    # into a new OU that has only FullAWSAccess: only what reads the path
    (_TREE.replace(_SANDBOX, 'ou Sandbox id "ou-a1b2-sandboxxx" { }  ou Fresh { account "c" }'), {"333333333333"}, 2),
    # an OU renamed: nothing a decision reads
    (_TREE.replace("ou Sandbox ", "ou Playground "), set(), 0),
    # a new account: the requests of its principals, and those on its resources
    (_TREE.replace(_SANDBOX, 'ou Sandbox id "ou-a1b2-sandboxxx" { account "c"  account "e" }')
     + 'account 555555555555 "e" { user erin { attach Admin }  resource "arn:aws:s3:::e-data" }', {"555555555555"}, 46),
])
def test_diff_asks_only_the_requests_of_the_accounts_whose_levels_differ(monkeypatch, after, moved, found):
    before, after = iamlogic.loads(_TREE, "before.iaml"), iamlogic.loads(after, "after.iaml")
    scope = {"actions": ["redshift:CreateCluster", "s3:GetObject", "s3:PutObject", "ec2:RunInstances"]}
    changes, asked, notes = _diff_asking(monkeypatch, before, after, **scope)
    assert len(changes) == found
    assert changes == _asking_every_request(monkeypatch, before, after, **scope)
    owners = {"arn:aws:s3:::a-data": "222222222222", "arn:aws:s3:::c-data": "333333333333",
              "arn:aws:s3:::e-data": "555555555555"}
    assert all((p.split(":")[4] if p.startswith("arn:") else None) in moved or owners.get(r.split("/", 1)[0]) in moved
               for p, _, r in asked)
    assert bool(asked) == bool(moved) and ("differ only in" if moved else "do not differ in anything") in notes[0]


_COGNITO = """
organization "o-a1b2c3d4e5" {{
  management "mgmt"
  rcp NoWebIdentity {{ deny sts:AssumeRoleWithWebIdentity on * principal * }}
  root "r-a1b2" {{ ou Open {{ {open} }}  ou Locked {{ rcp NoWebIdentity  {locked} }} }}
}}
account 999999999999 "mgmt"
account 111122223333 "app" {{
  role GuestRole {{ tags {{ env = "{env}" }}
    trust {{ allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"
      when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-dead-beef-cafe-123456789012"
       and ForAnyValue:StringLike "cognito-identity.amazonaws.com:amr" "unauthenticated"
       and StringEquals aws:ResourceTag/env "prod" }}
    policy Public {{ allow s3:GetObject on "arn:aws:s3:::assets/*" }}
  }}
  resource "arn:aws:s3:::assets"
  identity_pool AppUsers {{
    id "us-east-1:12345678-dead-beef-cafe-123456789012"
    guests
    unauthenticated role GuestRole
    identity "us-east-1:44444444-dddd-4ddd-8ddd-444444444444" guest
  }}
}}
aws policy AmazonCognitoUnAuthedIdentitiesSessionPolicy {{ allow s3:GetObject on * }}
"""
_APP = 'account "app"'


@pytest.mark.parametrize("after", [
    _COGNITO.format(open="", locked=_APP, env="prod"),  # the role's account moved under an RCP that denies
    _COGNITO.format(open=_APP, locked="", env="dev"),  # a tag the role's trust statement reads
])
def test_diff_asks_every_request_where_amazon_cognito_assumes_a_role_whose_account_or_tags_differ(
        monkeypatch, after):
    """Whether Amazon Cognito may assume an identity's role is itself a request on the role, which
    reads the RCPs (and path) of the role's account and the role's tags: a move, or a tag, changes
    every request of the identity, whatever its action."""
    before, after = (iamlogic.loads(_COGNITO.format(open=_APP, locked="", env="prod"), "before.iaml"),
                     iamlogic.loads(after, "after.iaml"))
    changes = diff(before, after, actions=["s3:GetObject"])
    assert changes and changes == _asking_every_request(monkeypatch, before, after, actions=["s3:GetObject"])


_POOL = _GUESTS + """
account 555555555555 "other" {
  user olga { policy P { allow polly:*, s3:GetObject, dynamodb:Query on * } }
  role Worker { trust { allow sts:AssumeRole principal aws "arn:aws:iam::555555555555:root" }
                policy P { allow polly:SynthesizeSpeech on * } }
}
"""
_DATA_RULE = '"custom:team" equals "data" role DataRole'


@pytest.mark.parametrize("old, new, found", [
    # a user added: its requests, and those of Amazon Cognito's sessions (which roles there are)
    ('user olga {', 'user oscar { policy P { allow s3:GetObject on * } }\n  user olga {', 2),
    # a role's tag: the requests that read it, and those of Amazon Cognito's sessions
    ('role Worker {', 'role Worker { tags { team = "red" }', 0),
    # a role-mapping rule: which role an identity of the user pool gets
    (_DATA_RULE, '"custom:team" equals "web" role DataRole', 4),
    # an identity's claims
    ('claims { "custom:team" = "data" }', 'claims { "custom:team" = "ops" }', 2),
    # guests no longer allowed (and the guest no longer declared)
    ('    guests\n', '', 9),
    # the guests' session policy, changed or no longer declared
    ('polly:*, comprehend:*', 'comprehend:*', 9),
    ('aws policy AmazonCognitoUnAuthedIdentitiesSessionPolicy', 'aws policy Unused', 0),
    # a trust statement on the sessions Amazon Cognito creates (AdminRole now checks amr too)
    ('sid "PoolOnly" allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"\n'
     '        when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-dead-beef-cafe-123456789012"',
     'sid "PoolOnly" allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"\n'
     '        when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-dead-beef-cafe-123456789012"\n'
     '         and ForAnyValue:StringLike "cognito-identity.amazonaws.com:amr" "authenticated"', 0),
])
def test_diff_asks_the_requests_of_amazon_cognito_s_sessions_where_its_facts_differ(monkeypatch, old, new, found):
    """Where the worlds have identity pools, what Amazon Cognito reads to give an identity its role
    (the roles there are, their trust policies and tags, the pools, their rules and identities)
    can change every request of its sessions, whatever the action: those, and the requests the
    change reaches otherwise, are asked; not those of principals that are no session of Amazon
    Cognito."""
    assert old in _POOL
    changed = _POOL.replace(old, new)
    if not new:
        changed = changed.replace('    identity "us-east-1:44444444-dddd-4ddd-8ddd-444444444444" guest\n', '')
    before, after = iamlogic.loads(_POOL, "before.iaml"), iamlogic.loads(changed, "after.iaml")
    scope = {"actions": ["polly:SynthesizeSpeech", "s3:GetObject", "dynamodb:Query"]}
    changes, asked, notes = _diff_asking(monkeypatch, before, after, undetermined=[], **scope)
    assert len(changes) == found
    assert changes == _asking_every_request(monkeypatch, before, after, undetermined=[], **scope)
    assert "differ only in" in notes[0], notes
    assert "arn:aws:iam::555555555555:role/Worker" not in {p for p, _, _ in asked}


def test_diff_asks_the_requests_of_the_accounts_an_organization_s_management_account_change_moves(monkeypatch,
                                                                                                   tmp_path):
    """Another management account: SCPs no longer filter the new one's principals and filter the
    old one's; only those accounts' requests are asked."""
    import shutil

    shutil.copytree(EXAMPLES / "organization", tmp_path / "org")
    path = tmp_path / "org" / "world.iaml"
    before = iamlogic.load([str(path)])
    text = path.read_text()
    assert 'management "management"' in text
    path.write_text(text.replace('management "management"', 'management "account-c"'))
    after = iamlogic.load([str(path)])
    scope = {"actions": ["redshift:CreateCluster", "lambda:InvokeFunction", "s3:GetObject"]}
    changes, asked, notes = _diff_asking(monkeypatch, before, after, **scope)
    assert changes == _asking_every_request(monkeypatch, before, after, **scope)
    assert changes and "differ only in" in notes[0], notes
    assert {p.split(":")[4] for p, _, _ in asked if p.startswith("arn:")} <= {"111111111111", "444444444444"}


def test_diff_asks_the_requests_of_the_services_an_rcp_services_list_adds(monkeypatch):
    """A service added to ``aws rcp_services``: only the requests of its actions."""
    from tests.unit.test_rcp_services import WORLD as RCP_WORLD

    before = iamlogic.loads(RCP_WORLD + 'aws rcp_services "s3", "kms"\n', "before.iaml")
    after = iamlogic.loads(RCP_WORLD + 'aws rcp_services "s3", "kms", "ec2"\n', "after.iaml")
    scope = {"actions": ["ec2:TerminateInstances", "s3:DeleteBucket", "kms:Decrypt"]}
    changes, asked, notes = _diff_asking(monkeypatch, before, after, **scope)
    assert changes == _asking_every_request(monkeypatch, before, after, **scope)
    assert ("ec2:TerminateInstances", "Allow", "ExplicitDeny") in [
        (c.action, c.before, c.after) for c in changes if c.principal.endswith("user/ops")]
    assert "differ only in" in notes[0], notes
    assert {a for _, a, _ in asked} == {"ec2:TerminateInstances"}


_SSO = (EXAMPLES / "identity-center" / "world.iaml").read_text()


@pytest.mark.parametrize("after, found", [
    # a user assigned a permission set in one more account, a user in one more group, an attribute
    (_SSO.replace('assign Admin to user carol in "dev"', 'assign Admin to user carol in "dev", "prod"'), 22),
    (_SSO.replace("user erin { groups Auditors }", "user erin { groups Auditors, Engineers }"), 5),
    (_SSO.replace('CostCenter = "payments"', 'CostCenter = "data"'), 2),
])
def test_diff_asks_only_the_requests_of_identity_center_sessions(monkeypatch, after, found):
    before, after = iamlogic.loads(_SSO, "before.iaml"), iamlogic.loads(after, "after.iaml")
    scope = {"actions": ["ec2:StartInstances", "ec2:TerminateInstances", "s3:GetObject", "iam:UpdateRole"]}
    changes, asked, _ = _diff_asking(monkeypatch, before, after, **scope)
    assert len(changes) == found
    assert changes == _asking_every_request(monkeypatch, before, after, **scope)
    assert asked and all("AWSReservedSSO_" in p or "AWSReservedSSO_" in r for p, _, r in asked)


@pytest.mark.parametrize("before, after, scope", [
    (BASE.replace('user bob {', 'user bob { policy D { sid "NoGet" deny s3:GetObject on * } '),
     BASE.replace('user alice {', 'user dave { policy P { allow s3:ListBucket on * } }\n  user alice {'), {}),
    # (a block whose requests read no key the first contexts give, and one they read later)
    (_TWO_KEYS.format("s3:GetObject"), _TWO_KEYS.format("s3:GetObject, s3:PutObject"),
     {"actions": ["s3:GetObject", "s3:PutObject"]}),
])
def test_diff_decides_a_block_at_a_time_as_all_at_once(monkeypatch, before, after, scope):
    before, after = iamlogic.loads(before, "before.iaml"), iamlogic.loads(after, "after.iaml")
    unknown: list = []
    whole = diff(before, after, undetermined=unknown, **scope)
    assert len(whole) >= 2
    monkeypatch.setattr(analysis, "_DIFF_BLOCK", 2)
    assert diff(before, after, undetermined=unknown, **scope) == whole
    # in two processes (the blocks pickled to them, the changes with their decisions back)
    in_two = diff(before, after, undetermined=unknown, jobs=2, **scope)
    assert in_two == whole and [c.to_json() for c in in_two] == [c.to_json() for c in whole]
    assert [(c.decision_before, c.decision_after) for c in in_two] == [
        (c.decision_before, c.decision_after) for c in whole]  # (their layers, derived again, compared)

    def proofs(changes):  # (each derivation names its own request: req1, req2, …)
        return [re.sub(r'"req[0-9]+"', '"req"', repr(d.proof())) for c in changes
                for d in (c.decision_before, c.decision_after) if d]

    assert proofs(in_two) == proofs(whole)
    # per_block: each block's changes made text where they are decided (with their statements)
    ordered = list(iter_diff(before, after, **scope))
    assert any("statements" in c.to_json() for c in ordered)
    for jobs in (1, 2):
        made = list(iter_diff(before, after, undetermined=[], jobs=jobs, **scope,
                              per_block=lambda changes: [json.dumps(c.to_json()) for c in changes]))
        assert made == [json.dumps(c.to_json()) for c in ordered]


def test_facts_diff_passes_over_are_read_by_no_decision():
    """The facts diff takes as read by no decision: no rule a decision is derived by reaches them,
    and the evaluator's code does not name them (but for where a statement is written and what it,
    or an OU, is called: the labels of a decision, not its outcome)."""
    import ast
    from pathlib import Path

    from iamlogic.compiled import _uses
    from iamlogic.evaluate import _detail_queries, rules

    package = Path(iamlogic.__file__).parent
    named: set[str] = set()
    for module in ("evaluate.py", "compiled.py", "matching.py", "catalog.py", "decision.py"):
        tree = ast.parse((package / module).read_text())
        named |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    uses = _uses(rules())

    def reached_from(roots, passing=()):  # the relations the rules reach from roots, not through passing
        reached, todo = set(), [rel for rel in roots if rel not in passing]
        while todo:
            rel = todo.pop()
            if rel not in reached:
                reached.add(rel)
                todo += [used for used in uses.get(rel, ()) if used not in passing]
        return reached

    # what a decision is read from, and the relations the evaluator asks the rules for by name
    roots = [q.body[0].relation for q in _detail_queries().values()] + sorted(named & set(uses))
    reached = reached_from(roots)
    assert {"decision", "sso_signin", "cognito_role", "statement_action", "scp_attached"} <= reached
    assert not analysis._UNREAD & reached
    assert analysis._UNREAD & named == {"statement_sid", "statement_source", "ou_name"}
    # the facts diff takes as read only through Amazon Cognito's sessions: the rules reach them only
    # through the roles Cognito gives identities and which roles are Cognito's (all of them so, but
    # the guests' session policy and the amr entries of tokens, which the evaluator reads itself,
    # WorldIndex, for Cognito's sessions alone)
    cognito = {"cognito_enhanced", "cognito_unknown_claim", "cognito_role", "cognito_identity_blocked"}
    assert not analysis._COGNITO_FACTS & reached_from(roots, passing=cognito)
    assert analysis._COGNITO_FACTS - {"cognito_guest_policy", "cognito_identity_amr"} <= reached_from(cognito)
    assert analysis._COGNITO_FACTS & named == {"cognito_pool", "cognito_identity", "cognito_identity_amr",
                                               "cognito_guest_policy"}


@pytest.mark.parametrize("example, old, new", [
    ("central-logging", '"arn:aws:cloudtrail:eu-west-1:555555555555:trail/local" { bucket "central-cloudtrail-logs" }',
     '"arn:aws:cloudtrail:eu-west-1:555555555555:trail/local" { bucket "central-cloudtrail-logs"  multi_region }'),
    ("billing", '"TimedStorage-GB-Month" 40000', '"TimedStorage-GB-Month" 80000'),
])
def test_diff_asks_no_request_when_the_worlds_differ_in_what_no_decision_reads(example, old, new):
    path = EXAMPLES / example / "world.iaml"
    text = path.read_text()
    assert old in text
    before, after = iamlogic.loads(text, str(path)), iamlogic.loads(text.replace(old, new), str(path))
    notes: list[str] = []
    assert diff(before, after, notes=notes) == []
    assert "do not differ in anything a decision reads" in notes[0] and "asked none" in notes[0]


def test_diff_passes_over_the_session_policies_requests_gave():
    """A session policy given with a request is kept with the world's facts (for its statements'
    labels); diff's requests carry none, so it makes no difference between two worlds."""
    before, after = iamlogic.loads(HOMES, "before.iaml"), iamlogic.loads(HOMES, "after.iaml")
    session = f"arn:aws:sts::{A}:assumed-role/ci/build"
    d = before.check(session, "s3:GetObject", "arn:aws:s3:::homes/AROAEXAMPLECIROLE001:build/k",
                     session_policy={"Version": "2012-10-17",
                                     "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    assert d.decision == "Allow" and "session policy" in [layer.layer for layer in d.layers]
    notes: list[str] = []
    assert diff(before, after, notes=notes) == []
    assert "do not differ in anything a decision reads" in notes[0], notes


def test_diff_of_a_world_with_itself_is_empty(small):
    assert diff(small, small, actions=["sqs:SendMessage", "sts:AssumeRole"], resources=["*"]) == []


def test_change_json_and_order():
    c = Change("p", "s3:GetObject", "*", "Allow", None)
    assert c.to_json() == {"kind": "access removed", "principal": "p", "action": "s3:GetObject", "resource": "*",
                           "before": "Allow", "after": None}


HOMES = f'''
account {A} "a" {{
  user alice {{
    id "AIDAEXAMPLEALICE0001"
    policy Home {{ allow s3:GetObject on "arn:aws:s3:::homes/${{aws:userid}}/*" }}
  }}
  role ci {{
    id "AROAEXAMPLECIROLE001"
    trust {{ allow sts:AssumeRole principal aws "{A}" }}
    policy Home {{ allow s3:GetObject on "arn:aws:s3:::homes/${{aws:userid}}/*" }}
  }}
  resource "arn:aws:s3:::homes"
}}
'''


def test_analyses_list_what_they_cannot_decide_and_answer_the_rest():
    """A role asked as a role has no session name: where a policy's answer depends on it (E507),
    who can, what can and diff list the request as undetermined instead of stopping, or, without a
    list to put it in, raise."""
    w = iamlogic.loads(HOMES, "homes.iaml")
    ci, root = f"arn:aws:iam::{A}:role/ci", f"arn:aws:iam::{A}:root"
    alices = "arn:aws:s3:::homes/AIDAEXAMPLEALICE0001/k"
    cis = "arn:aws:s3:::homes/AROAEXAMPLECIROLE001:build/k"
    # no session name could make the role's home pattern match alice's home
    assert [p for p, _ in who_can(w, "s3:GetObject", alices)] == [root, f"arn:aws:iam::{A}:user/alice"]
    with pytest.raises(InvalidInput, match="E507"):
        who_can(w, "s3:GetObject", cis)
    unknown: list[Undetermined] = []
    assert [p for p, _ in who_can(w, "s3:GetObject", cis, undetermined=unknown)] == [root]
    assert [(u.principal, u.action, u.resource, u.diagnostic.code, u.diagnostic.span.line) for u in unknown] == [
        (ci, "s3:GetObject", cis, "E507", 10)]
    assert unknown[0].to_json()["diagnostic"]["file"] == "homes.iaml"
    unknown.clear()
    assert what_can(w, ci, cis, services=["s3"], undetermined=unknown) == {}
    assert {u.action for u in unknown} == {"s3:GetObject"}
    # the session's own requests are decided
    session = f"arn:aws:sts::{A}:assumed-role/ci/build"
    assert what_can(w, session, cis, services=["s3"]) == {"s3": {"Read": ["s3:GetObject"]}}
    # diff: a request undetermined in either world is not a change
    after = iamlogic.loads(HOMES.replace('policy Home { allow s3:GetObject on "arn:aws:s3:::homes/${aws:userid}/*" }\n'
                                         '  }\n  resource', 'policy Home { allow s3:* on * }\n  }\n  resource'),
                           "after.iaml")
    assert after.check(ci, "s3:GetObject", cis).decision == "Allow"
    unknown.clear()
    changes = diff(w, after, [ci, session], ["s3:GetObject"], [cis, alices], undetermined=unknown)
    assert [(c.principal, c.resource, c.before, c.after) for c in changes] == [
        (ci, alices, "ImplicitDeny", "Allow"), (session, alices, "ImplicitDeny", "Allow")]
    assert [(u.principal, u.resource, u.diagnostic.span.file) for u in unknown] == [(ci, cis, "homes.iaml")]
    with pytest.raises(InvalidInput, match="E507"):
        diff(w, after, [ci], ["s3:GetObject"], [cis])


def test_a_few_undecidable_requests_among_many_are_found_by_halves(monkeypatch):
    """Requests are asked many at a time; a part that holds an undecidable request is asked
    again by halves, and only small parts a request at a time."""
    w = iamlogic.loads(HOMES, "homes.iaml")
    after = iamlogic.loads(HOMES.replace('policy Home { allow s3:GetObject on "arn:aws:s3:::homes/${aws:userid}/*" }\n'
                                         '  }\n  resource', 'policy Home { allow s3:* on * }\n  }\n  resource'),
                           "after.iaml")
    ci = f"arn:aws:iam::{A}:role/ci"
    resources = [f"arn:aws:s3:::homes/AIDAEXAMPLEALICE0001/k{i}" for i in range(100)]
    undecidable = ["arn:aws:s3:::homes/AROAEXAMPLECIROLE001:build/k", "arn:aws:s3:::homes/AROAEXAMPLECIROLE001:x/k"]
    resources[17:17] = undecidable[:1]
    resources[70:70] = undecidable[1:]
    alone: list[tuple] = []
    one = analysis._Asker._one
    monkeypatch.setattr(analysis._Asker, "_one", lambda self, target, request, ask: alone.append(request) or
                        one(self, target, request, ask))
    unknown: list[Undetermined] = []
    changes = diff(w, after, [ci], ["s3:GetObject"], resources, undetermined=unknown)
    assert [u.resource for u in unknown] == undecidable
    assert sorted(c.resource for c in changes) == sorted(r for r in resources if r not in undecidable)
    assert {c.after for c in changes} == {"Allow"}
    assert 2 <= len(alone) <= 2 * analysis._ALONE  # (each undecidable request: one part of at most 8 asked alone)


def test_diff_in_processes_lists_what_it_cannot_decide_and_raises_without_a_list(monkeypatch):
    """The requests a worker process cannot decide reach the caller's list; without a list, the
    worker's error reaches the caller."""
    w = iamlogic.loads(HOMES, "homes.iaml")
    after = iamlogic.loads(HOMES.replace('policy Home { allow s3:GetObject on "arn:aws:s3:::homes/${aws:userid}/*" }\n'
                                         '  }\n  resource', 'policy Home { allow s3:* on * }\n  }\n  resource'),
                           "after.iaml")
    ci, session = f"arn:aws:iam::{A}:role/ci", f"arn:aws:sts::{A}:assumed-role/ci/build"
    scope = ([ci, session], ["s3:GetObject"], ["arn:aws:s3:::homes/AROAEXAMPLECIROLE001:build/k",
                                                "arn:aws:s3:::homes/AIDAEXAMPLEALICE0001/k"])
    monkeypatch.setattr(analysis, "_DIFF_BLOCK", 1)
    unknown: list[Undetermined] = []
    alone = diff(w, after, *scope, undetermined=unknown)
    in_two: list[Undetermined] = []
    assert diff(w, after, *scope, undetermined=in_two, jobs=2) == alone and len(alone) == 2
    assert [u.to_json() for u in in_two] == [u.to_json() for u in unknown] and len(unknown) == 1
    with pytest.raises(InvalidInput, match="E507"):
        diff(w, after, *scope, jobs=2)


def test_a_decision_pickled_keeps_its_statements_and_cannot_give_its_layers():
    """What derives a decision's layers and proof stays in its process: elsewhere they are an
    error (diff gives the decisions of its worker processes a source that decides again)."""
    import pickle

    d = iamlogic.loads(BASE, "w.iaml").check(f"arn:aws:iam::{A}:user/alice", "s3:GetObject", "arn:aws:s3:::data/k")
    copy = pickle.loads(pickle.dumps(d))
    assert (copy.decision, copy.statements, copy.missing_context) == (d.decision, d.statements, d.missing_context)
    with pytest.raises(iamlogic.IamlogicError, match="unsupported: the layers and proof"):
        copy.layers
    with pytest.raises(iamlogic.IamlogicError, match="unsupported"):
        copy.proof()


# -- external access ---------------------------------------------------------------------------


def test_external_access(small):
    found = external_access(small)
    by = {(f.resource, f.principal, f.action, f.scope) for f in found}
    q = f"arn:aws:sqs:us-east-1:{A}:q"
    assert (q, f"arn:aws:iam::{OUT}:user/partner", "sqs:SendMessage", "outside organization") in by
    assert ("arn:aws:s3:::public-a", ANONYMOUS, "s3:GetObject", "public") in by
    assert ("arn:aws:s3:::public-a", f"arn:aws:iam::{B}:root", "s3:GetObject", "outside account") in by
    role = f"arn:aws:iam::{A}:role/Auditor"
    assert (role, f"arn:aws:iam::{B}:user/carol", "sts:AssumeRole", "outside account") in by
    assert all(f.scope != "public" or f.resource == "arn:aws:s3:::public-a" for f in found)
    # principals of the resource's own account are never external
    assert not any(f.principal.startswith(f"arn:aws:iam::{A}:") for f in found)
    public = next(f for f in found if f.principal == ANONYMOUS)
    assert public.target == "arn:aws:s3:::public-a/*" and public.to_json()["statements"][0]["sid"] == "Public"
    for f in found:
        assert f.decision.allowed


def test_external_access_of_an_org_only_bucket():
    w = iamlogic.load([str(EXAMPLES / "organization" / "world.iaml")])
    found = external_access(w)
    assert found and all(f.scope == "outside account" for f in found if f.resource == "arn:aws:s3:::reports-a")
    assert not any(f.principal == ANONYMOUS for f in found)


# -- why not -----------------------------------------------------------------------------------


def test_why_not_explicit_deny_and_missing_allow(small):
    b = why_not(small, "alice", "sqs:DeleteMessage", "*")
    assert b.decision.decision == "ExplicitDeny"
    assert [v.verdict for v in b.layers] == ["deny"]
    assert any("NoDelete" in s and s.startswith("remove or narrow") for s in b.suggestions)
    b = why_not(small, "bob", "sqs:SendMessage", "*")
    assert [v.layer for v in b.layers] == ["identity-based policies"]
    assert b.suggestions == (f'add `allow sqs:SendMessage on "*"` to an identity policy of arn:aws:iam::{A}:user/bob',)
    assert "would allow it" in b.render() and b.to_json()["suggestions"] == list(b.suggestions)
    ok = why_not(small, "alice", "sqs:SendMessage", "*")
    assert ok.decision.allowed and ok.suggestions == () and "nothing blocks it" in ok.render()


def test_why_not_names_the_failed_condition_and_key():
    w = iamlogic.loads(f'''
account {A} "a" {{
  user ivan {{ policy P {{ sid "Office" allow s3:GetObject on * when IpAddress aws:SourceIp "10.0.0.0/8" }} }}
}}''')
    b = why_not(w, "ivan", "s3:GetObject", "arn:aws:s3:::x/k")
    (f,) = b.failed_conditions
    assert (f.statement.sid, f.operator, f.key, f.values, f.request_values) == (
        "Office", "IpAddress", "aws:SourceIp", ("10.0.0.0/8",), None)
    assert any(s.startswith("supply aws:SourceIp") for s in b.suggestions)
    b = why_not(w, "ivan", "s3:GetObject", "arn:aws:s3:::x/k", {"aws:SourceIp": "192.0.2.1"})
    assert b.failed_conditions[0].request_values == ("192.0.2.1",)
    assert "the request has \"192.0.2.1\"" in b.render()


# -- agreement with check() --------------------------------------------------------------------


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_who_can_and_what_can_agree_with_check(data):
    model = data.draw(valid_world_models())
    world = World(model)
    req = data.draw(requests_for(model))
    action, resource, context = req["action"], req["resource"], req["context"]
    found = who_can(world, action, resource, context)
    reported = {p for p, _ in found}
    for p, d in found:
        assert d.allowed
        # outside the world, who_can asks with every identity permission: check() cannot know them
        if not any("outside the world" in w for w in d.warnings):
            assert world.check(p, action, resource, context).decision == d.decision == "Allow"
    others = [p for p in world_principals(world) if p not in reported]
    for p, d in zip(others, world.check_many([(p, action, resource, context) for p in others])):
        assert not d.allowed, p
    # what_can: every action it reports is allowed, and a sample of those it does not report is not.
    # (On the account's queue: sqs has 20 actions, and the generated policies name sqs:* and
    # sqs:SendMessage; an s3 bucket would cost 60 requests an example.)
    principal = req["principal"]
    queue = next(r for r in sample_resources(world) if r.startswith("arn:aws:sqs:"))
    allowed = what_can(world, principal, queue, context, services=["sqs"])
    reported_actions = [a for levels in allowed.values() for acts in levels.values() for a in acts]
    unreported = [a for a in actions_for_resource(queue, services=["sqs"]) if a not in reported_actions]
    sample = reported_actions + unreported[:: max(1, len(unreported) // 4)]
    for a, d in zip(sample, world.check_many([(principal, a, queue, context) for a in sample])):
        assert d.allowed == (a in reported_actions), (principal, a, queue)


def test_why_not_across_accounts_names_the_bucket_whose_policy_would_govern_an_object():
    w = iamlogic.loads(f'''
account {A} "a" {{
  user ivan {{ policy P {{ allow s3:GetObject on "arn:aws:s3:::shared/*" }} }}
}}
account {B} "b" {{
  resource "arn:aws:s3:::shared"
}}''')
    b = why_not(w, "ivan", "s3:GetObject", "arn:aws:s3:::shared/k")
    assert [v.layer for v in b.layers if v.verdict == "no allow"] == ["resource-based policy"]
    assert b.suggestions == (f'add `allow s3:GetObject on "arn:aws:s3:::shared/k" principal aws '
                             f'"arn:aws:iam::{A}:user/ivan"` to the resource policy of arn:aws:s3:::shared',)


def test_diff_reports_what_a_new_principal_is_allowed_not_its_denials():
    before = iamlogic.loads('account 111111111111 "a" { user alice }', "b.iaml")
    after = iamlogic.loads('account 111111111111 "a" { user alice  user bob { policy P { allow s3:GetObject on * '
                           'deny s3:PutObject on * } } }', "a.iaml")
    changes = diff(before, after)
    assert {(c.principal.rsplit("/", 1)[-1], c.action, c.before, c.after) for c in changes} == {
        ("bob", "s3:GetObject", None, "Allow")}
    assert {(c.before, c.after) for c in diff(after, before)} == {("Allow", None)}


def test_diff_finds_access_that_needs_several_values_of_a_multivalued_key_or_a_notresource():
    tags = ('account 111111111111 "a" {{ user u {{ policy P {{ allow s3:GetObject on * '
            'deny s3:GetObject on * when {} }} }} }}')
    before = iamlogic.loads(tags.format('ForAnyValue:StringNotEquals aws:TagKeys ["a"]'), "b.iaml")
    after = iamlogic.loads(tags.format('ForAllValues:StringNotEquals aws:TagKeys ["a"] and Null aws:TagKeys "false"'),
                           "a.iaml")
    (change,) = new_access(diff(before, after, resources=["*"]))
    values = dict(change.context)["aws:TagKeys"]  # "a" and another: the old deny held, the new one does not
    assert "a" in values and any(v != "a" for v in values), values
    not_resource = 'account 111111111111 "a" {{ user u {{ policy P {{ allow s3:GetObject on not "{}" }} }} }}'
    before = iamlogic.loads(not_resource.format("arn:aws:s3:::b/*"), "b.iaml")
    after = iamlogic.loads(not_resource.format("arn:aws:s3:::b/secret/*"), "a.iaml")
    assert [(c.resource, c.after) for c in new_access(diff(before, after))] == [("arn:aws:s3:::b/*", "Allow")]


def test_diff_asks_every_value_the_policies_name_however_many():
    vpcs = ", ".join(f'"vpc-{i:04d}"' for i in range(40))
    world = ('account 111111111111 "a" {{ user u {{ policy P {{ deny s3:PutObject on * when StringEquals '
             'aws:SourceVpc [' + vpcs + '] allow s3:GetObject on * when StringEquals aws:RequestedRegion [{}] }} }} }}')
    before = iamlogic.loads(world.format('"us-east-1"'), "b.iaml")
    after = iamlogic.loads(world.format('"us-east-1", "eu-west-1"'), "a.iaml")
    assert {dict(c.context).get("aws:RequestedRegion") for c in new_access(diff(before, after))} == {"eu-west-1"}


def test_who_can_names_the_principals_denied_for_want_of_a_key_the_caller_could_give():
    world = iamlogic.loads('''
account 111111111111 "a" {
  user passer { policy P { allow iam:PassRole on * when StringEquals iam:PassedToService "lambda.amazonaws.com" } }
  user orgless { policy P { allow iam:PassRole on * when StringEquals aws:PrincipalOrgID "o-abc1234567" } }
  role Power { trust { allow sts:AssumeRole principal service "lambda.amazonaws.com" } }
}''')
    maybe: list = []
    found = who_can(world, "iam:PassRole", "arn:aws:iam::111111111111:role/Power", conditional=maybe)
    assert "arn:aws:iam::111111111111:user/passer" not in {p for p, _ in found}
    # aws:PrincipalOrgID is the world's to say (the account is in no organization): not a key to give
    assert [(p, d.missing_context) for p, d in maybe] == [("arn:aws:iam::111111111111:user/passer",
                                                           ("iam:PassedToService",))]


@pytest.mark.parametrize("trust", [
    'principal aws "arn:aws:iam::444444444444:root"',  # a named account: its users, not its root, may assume
    'principal * when StringEquals aws:PrincipalAccount "555555555555"',  # an account a condition names
])
def test_a_trust_policy_opened_to_another_account_is_new_access(trust):
    world = 'account 222222222222 "prod" {{ role R {{ trust {{ allow sts:AssumeRole {} }} policy P {{ allow s3:* on * }} }} }}'
    before = iamlogic.loads(world.format('principal aws "arn:aws:iam::222222222222:root"'), "before.iaml")
    after = iamlogic.loads(world.format(trust), "after.iaml")
    granted = {c.principal for c in new_access(diff(before, after))}
    assert any(p.endswith(f":user/{analysis.ANYONE_USER}") and "222222222222" not in p for p in granted), granted
    assert any(p.endswith(f":user/{analysis.ANYONE_USER}")
               for p, _ in who_can(after, "sts:AssumeRole", "arn:aws:iam::222222222222:role/R"))
