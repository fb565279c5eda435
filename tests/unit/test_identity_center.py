"""IAM Identity Center and its directories (seed scenarios 11 and 12): the roles it provisions, who
signs in to them, their session tags, the protected roles, and the analyses' view of them."""

from __future__ import annotations

import pytest

import iamlogic
from iamlogic import InvalidInput
from iamlogic.analysis import who_can, world_principals
from iamlogic.grammar.printer import print_world
from iamlogic.privesc import escalations
from iamlogic.world import sso_role_name

from ..conftest import EXAMPLES

ORG = "o-ssoexample"
DEV = sso_role_name(ORG, "Developer")
ADMIN = sso_role_name(ORG, "Admin")
PROD, DEVACCT = "222222222222", "333333333333"
DATA = "arn:aws:ec2:eu-west-1:222222222222:instance/i-0data000000000001"
PAY = "arn:aws:ec2:eu-west-1:222222222222:instance/i-0pay0000000000001"


def session(acct: str, role: str, user: str) -> str:
    return f"arn:aws:sts::{acct}:assumed-role/{role}/{user}"


def role(acct: str, name: str) -> str:
    return f"arn:aws:iam::{acct}:role/aws-reserved/sso.amazonaws.com/{name}"


@pytest.fixture(scope="module")
def world():
    return iamlogic.load([str(EXAMPLES / "identity-center" / "world.iaml")])


def test_each_assignment_provisions_a_role_in_each_account(world):
    facts = set(world.facts())
    assert ("sso_role", role(PROD, DEV), ORG, "Developer", PROD) in facts
    assert ("sso_role", role(DEVACCT, ADMIN), ORG, "Admin", DEVACCT) in facts
    assert not any(f[0] == "sso_role" and f[1] == role(PROD, ADMIN) for f in facts)  # Admin is assigned in dev only
    assert ("directory_link", ORG, "corp.example.com", "onprem.example.com", "trust") in facts
    assert DEV.startswith("AWSReservedSSO_Developer_") and len(DEV.rsplit("_", 1)[1]) == 16
    # the permission set's policies are the role's
    ev = world.evaluator()
    assert {p for who, p in ev.facts("identity_policy") if who == role(PROD, DEV)} == {
        "arn:aws:iam::aws:policy/ReadOnlyAccess", f"{role(PROD, DEV)}#inline/StartStopOwnCostCenter"}


def test_who_signs_in_where_is_the_rule_and_the_evaluator_agrees_with_it(world):
    ev = world.evaluator()
    by_rule = ev.facts("sso_signin")
    assert ("bob", role(PROD, DEV)) in by_rule and ("carol", role(DEVACCT, ADMIN)) in by_rule
    assert ("bob", role(DEVACCT, ADMIN)) not in by_rule  # signing in once is not access everywhere
    assert by_rule == {(u, r) for r, users in ev.index.sso_signin.items() for u in users}


def test_the_session_carries_the_users_attributes_as_session_tags(world):
    dev = role(PROD, DEV).rsplit("/", 1)[1]
    assert world.check(session(PROD, dev, "bob"), "ec2:StartInstances", DATA).decision == "Allow"
    assert world.check(session(PROD, dev, "bob"), "ec2:StartInstances", PAY).decision == "ImplicitDeny"
    assert world.check(session(PROD, dev, "carol"), "ec2:StartInstances", PAY).decision == "Allow"
    # the caller cannot set them
    d = world.check(session(PROD, dev, "bob"), "ec2:StartInstances", PAY, {"aws:PrincipalTag/CostCenter": "payments"})
    assert d.decision == "ImplicitDeny" and any("set by IAM Identity Center" in w for w in d.warnings)


def test_only_an_assigned_user_has_a_session(world):
    with pytest.raises(InvalidInput) as exc:
        world.check(session(PROD, DEV, "erin"), "ec2:DescribeInstances", "*")
    assert exc.value.diagnostics[0].code == "E508" and "bob, carol" in exc.value.diagnostics[0].help


def test_the_role_given_as_the_principal_is_decided_unless_a_session_tag_matters(world):
    assert world.check(role(PROD, DEV), "ec2:DescribeInstances", "*").decision == "Allow"
    with pytest.raises(InvalidInput, match="E507"):
        world.check(role(PROD, DEV), "ec2:StartInstances", PAY)


def test_a_role_identity_center_provisions_is_protected_from_iam_changes(world):
    carol = session(DEVACCT, ADMIN, "carol")
    target = role(DEVACCT, DEV)
    d = world.check(carol, "iam:PutRolePolicy", target)
    assert d.decision == "ImplicitDeny" and [v.layer for v in d.blockers()] == ["protected role"]
    assert world.check(carol, "iam:GetRole", target).decision == "Allow"
    assert world.check(carol, "iam:CreateRole", f"arn:aws:iam::{DEVACCT}:role/other").decision == "Allow"
    # the engine (pyDatalog over the same rules) agrees
    ev = world.evaluator()
    (slow,) = ev.decide([ev.resolve(carol, "iam:PutRolePolicy", target)], engine=True)
    assert slow.decision == "ImplicitDeny"


def test_analyses_ask_the_sessions_of_the_users(world):
    principals = world_principals(world)
    assert session(PROD, DEV, "bob") in principals and role(PROD, DEV) not in principals
    allowed = [p for p, _ in who_can(world, "ec2:StartInstances", PAY)]
    assert allowed == [session(PROD, DEV, "carol"), f"arn:aws:iam::{PROD}:root"]
    # carol administers dev, but no protected role is a target of an escalation
    found = escalations(world)
    assert not any("AWSReservedSSO" in s for f in found for s in f.steps)


def test_the_printer_writes_identity_center_back(world):
    text = print_world(world.model)
    assert "identity_center {" in text and 'trust "onprem.example.com" {' in text
    assert iamlogic.loads(text).model == world.model


def test_identity_center_of_its_own_directory():
    w = iamlogic.loads('''
organization "o-aaaaaaaaaa" {
  management "m"
  identity_center {
    user alice { groups Admins }
    group Admins
    permission_set Admin { attach Power }
    assign Admin to group Admins in "m"
  }
}
account 111111111111 "m" { policy Power { allow s3:* on * } }
''', "w.iaml")
    name = sso_role_name("o-aaaaaaaaaa", "Admin")
    # a customer-managed policy is found by name in the account the set is assigned in
    assert w.check(f"arn:aws:sts::111111111111:assumed-role/{name}/alice", "s3:GetObject", "arn:aws:s3:::b/k").allowed
    assert w.evaluator().facts("sso_signin") == {("alice", f"arn:aws:iam::111111111111:role/aws-reserved/"
                                                           f"sso.amazonaws.com/{name}")}
