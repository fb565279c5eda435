"""The reference evaluator (tests/reference.py): hand-written worlds, one per step of the cascade.

Each world is a small ``.iaml`` text; each case is (principal, action, resource, expected, extra
keyword arguments). The choices R1–R8 are those of the reference module's docstring.
"""

from __future__ import annotations

import pytest

import iamlogic
from iamlogic.grammar.ast import WorldModel
from iamlogic.grammar.world import parse_world
from iamlogic.world import check_world

from ..conftest import EXAMPLES
from ..reference import reference_decide

A, X, I = "Allow", "ExplicitDeny", "ImplicitDeny"


def world(text: str) -> WorldModel:
    wf, diags = parse_world(text)
    assert wf is not None and not diags.has_errors(), diags.items
    model = WorldModel(wf.organizations, wf.accounts, wf.aws_policies)
    errors = [d for d in check_world(model) if d.is_error]
    assert not errors, errors
    return model


def session(*statements: dict):
    return iamlogic.parse_policy({"Version": "2012-10-17", "Statement": list(statements)})


S3_ONLY_SESSION = session({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
EC2_ONLY_SESSION = session({"Effect": "Allow", "Action": "ec2:*", "Resource": "*"})
DENY_GET_SESSION = session({"Effect": "Allow", "Action": "*", "Resource": "*"},
                           {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"})

TRUST_SELF = 'trust { allow sts:AssumeRole principal aws "ACCT" }'


def check(model, cases):
    for principal, action, resource, expected, kwargs in cases:
        got = reference_decide(model, principal, action, resource, **kwargs)
        assert got == expected, (principal, action, resource, kwargs, got)


# ---------------------------------------------------------------------------------------------
# 1. Identity policies, groups, managed policies, variables, NotAction, explicit deny (§1.2 1, 5)

BASICS = world("""
account 111111111111 "solo" {
  user alice { attach S3Read  groups devs }
  user bob
  user carol { policy Own { allow s3:GetObject on "arn:aws:s3:::home/${aws:username}/*" } }
  user dave { policy All { allow s3:* on * }  policy NoDelete { deny s3:DeleteObject on * } }
  user erin { policy NotIam { allow not iam:* on * } }
  user fred { attach AdministratorAccess  boundary DenyGetBoundary }
  group devs { policy Ec2 { allow ec2:Describe* on * } }
  policy S3Read { allow s3:GetObject, s3:ListBucket on * }
  policy DenyGetBoundary { allow * on *  deny s3:GetObject on * }
  resource "arn:aws:s3:::guarded" {
    policy { deny s3:GetObject on "arn:aws:s3:::guarded/*" principal * when Bool aws:SecureTransport "false" }
  }
}
aws policy AdministratorAccess { allow * on * }
""")
U = "arn:aws:iam::111111111111:user/"


def test_identity_policies_groups_and_explicit_denies():
    check(BASICS, [
        (U + "alice", "s3:GetObject", "arn:aws:s3:::b/k", A, {}),
        (U + "alice", "S3:getobject", "arn:aws:s3:::b/k", A, {}),  # actions are case-insensitive
        (U + "alice", "ec2:DescribeInstances", "*", A, {}),  # through the group
        (U + "alice", "s3:PutObject", "arn:aws:s3:::b/k", I, {}),
        (U + "bob", "s3:GetObject", "arn:aws:s3:::b/k", I, {}),
        (U + "carol", "s3:GetObject", "arn:aws:s3:::home/carol/x", A, {}),
        (U + "carol", "s3:GetObject", "arn:aws:s3:::home/alice/x", I, {}),
        (U + "dave", "s3:DeleteObject", "arn:aws:s3:::b/k", X, {}),
        (U + "dave", "s3:PutObject", "arn:aws:s3:::b/k", A, {}),
        (U + "erin", "iam:ListUsers", "*", I, {}),
        (U + "erin", "s3:GetObject", "arn:aws:s3:::b/k", A, {}),
        (U + "fred", "s3:GetObject", "arn:aws:s3:::b/k", X, {}),  # a Deny in the boundary
        (U + "fred", "s3:PutObject", "arn:aws:s3:::b/k", A, {}),
    ])


def test_resource_policy_deny_beats_identity_and_root():
    ctx_false, ctx_true = {"aws:SecureTransport": "false"}, {"AWS:securetransport": "true"}
    check(BASICS, [
        (U + "alice", "s3:GetObject", "arn:aws:s3:::guarded/k", X, {"context": ctx_false}),
        (U + "alice", "s3:GetObject", "arn:aws:s3:::guarded/k", A, {"context": ctx_true}),
        (U + "alice", "s3:GetObject", "arn:aws:s3:::guarded/k", A, {}),  # key absent: Bool fails
        ("arn:aws:iam::111111111111:root", "s3:GetObject", "arn:aws:s3:::guarded/k", X, {"context": ctx_false}),
        ("arn:aws:iam::111111111111:root", "s3:GetObject", "arn:aws:s3:::guarded/k", A, {}),  # root: full access
        # R8: a session policy given for an IAM user (not a session principal) is ignored
        (U + "alice", "s3:GetObject", "arn:aws:s3:::b/k", A, {"session_policy": DENY_GET_SESSION}),
    ])


def test_bad_principal_is_an_error():
    with pytest.raises(ValueError):
        reference_decide(BASICS, "alice", "s3:GetObject", "*")


# ---------------------------------------------------------------------------------------------
# 2. The §1.3 table: same-account resource policy × how it names the principal

TABLE = world("""
account 111111111111 "acct" {
  user ursula { boundary OnlyEc2 }
  user uma
  user ivan { attach S3All }
  user ulf { boundary OnlyEc2 }
  role rb { boundary OnlyEc2  TRUST }
  role rn { TRUST }
  policy OnlyEc2 { allow ec2:* on * }
  policy S3All { allow s3:* on * }
  resource "arn:aws:s3:::by-user" { policy { allow s3:GetObject on "arn:aws:s3:::by-user/*"
      principal aws "arn:aws:iam::111111111111:user/ursula" } }
  resource "arn:aws:s3:::by-role" { policy { allow s3:GetObject on "arn:aws:s3:::by-role/*"
      principal aws "arn:aws:iam::111111111111:role/rb", aws "arn:aws:iam::111111111111:role/rn" } }
  resource "arn:aws:s3:::by-session" { policy { allow s3:GetObject on "arn:aws:s3:::by-session/*"
      principal aws "arn:aws:sts::111111111111:assumed-role/rb/s1" } }
  resource "arn:aws:s3:::by-fed" { policy { allow s3:GetObject on "arn:aws:s3:::by-fed/*"
      principal aws "arn:aws:sts::111111111111:federated-user/f1" } }
  resource "arn:aws:s3:::by-feduser" { policy { allow s3:GetObject on "arn:aws:s3:::by-feduser/*"
      principal aws "arn:aws:iam::111111111111:user/ulf", aws "arn:aws:iam::111111111111:user/uma" } }
  resource "arn:aws:s3:::by-account" { policy { allow s3:GetObject on "arn:aws:s3:::by-account/*"
      principal aws "111111111111" } }
  resource "arn:aws:s3:::public" { policy { allow s3:GetObject on "arn:aws:s3:::public/*" principal * } }
}
""".replace("TRUST", TRUST_SELF.replace("ACCT", "111111111111")))
SESS = "arn:aws:sts::111111111111:assumed-role/"
FED = "arn:aws:sts::111111111111:federated-user/"
GET = "s3:GetObject"


def test_table_user_arn_lifts_identity_and_boundary():
    check(TABLE, [
        (U + "ursula", GET, "arn:aws:s3:::by-user/k", A, {}),
        (U + "uma", GET, "arn:aws:s3:::by-user/k", I, {}),  # not named
        (U + "ursula", GET, "arn:aws:s3:::public/k", A, {}),  # "*" lifts the boundary too (R3)
    ])


def test_table_role_arn_is_limited_by_boundary_and_session_policy():
    check(TABLE, [
        (SESS + "rb/s1", GET, "arn:aws:s3:::by-role/k", I, {}),  # boundary limits
        (SESS + "rn/s1", GET, "arn:aws:s3:::by-role/k", A, {}),
        (SESS + "rn/s1", GET, "arn:aws:s3:::by-role/k", I, {"session_policy": EC2_ONLY_SESSION}),
        (SESS + "rn/s1", GET, "arn:aws:s3:::by-role/k", A, {"session_policy": S3_ONLY_SESSION}),
        ("arn:aws:iam::111111111111:role/rn", GET, "arn:aws:s3:::by-role/k", A, {}),  # R1
        ("arn:aws:iam::111111111111:role/rn", GET, "arn:aws:s3:::by-role/k", I,
         {"session_policy": EC2_ONLY_SESSION}),
    ])


def test_table_session_and_federated_arns_lift_everything():
    check(TABLE, [
        (SESS + "rb/s1", GET, "arn:aws:s3:::by-session/k", A, {"session_policy": EC2_ONLY_SESSION}),
        (SESS + "rb/s2", GET, "arn:aws:s3:::by-session/k", I, {}),
        (FED + "f1", GET, "arn:aws:s3:::by-fed/k", A, {"federating_user": U + "ulf"}),
        (FED + "f1", GET, "arn:aws:s3:::by-fed/k", A, {"federating_user": "ulf", "session_policy": EC2_ONLY_SESSION}),
    ])


def test_table_federating_user_arn_is_limited_by_boundary_and_session_policy():
    check(TABLE, [
        (FED + "f1", GET, "arn:aws:s3:::by-feduser/k", I, {"federating_user": U + "ulf",
                                                            "session_policy": S3_ONLY_SESSION}),
        (FED + "f2", GET, "arn:aws:s3:::by-feduser/k", A, {"federating_user": U + "uma",
                                                            "session_policy": S3_ONLY_SESSION}),
        (FED + "f2", GET, "arn:aws:s3:::by-feduser/k", I, {"federating_user": U + "uma",
                                                            "session_policy": EC2_ONLY_SESSION}),
        (FED + "f2", GET, "arn:aws:s3:::by-feduser/k", I, {"federating_user": U + "uma"}),
    ])


def test_table_account_delegates_to_identity_policies():
    check(TABLE, [
        (U + "uma", GET, "arn:aws:s3:::by-account/k", I, {}),
        (U + "ivan", GET, "arn:aws:s3:::by-account/k", A, {}),
        (U + "ivan", GET, "arn:aws:s3:::no-policy/k", A, {}),  # same account: identity alone suffices
        (U + "ivan", "s3:GetObject", "arn:aws:s3:::by-user/k", A, {}),  # union rule (§1.2)
    ])


# ---------------------------------------------------------------------------------------------
# 3. Trust policies and KMS key policies must allow explicitly (§1.2 step 4, §1.8)

TRUST = world("""
account 111111111111 "acct" {
  user tina
  user ivan { attach Broad }
  role by-user { trust { allow sts:AssumeRole principal aws "arn:aws:iam::111111111111:user/tina" } }
  role by-account { trust { allow sts:AssumeRole principal aws "arn:aws:iam::111111111111:root" } }
  role by-other { trust { allow sts:AssumeRole principal aws "arn:aws:iam::111111111111:user/nobody" } }
  policy Broad { allow sts:AssumeRole, kms:Decrypt, s3:GetObject on * }
  resource "arn:aws:kms:us-east-1:111111111111:key/k1" { policy { allow kms:* on * principal aws "arn:aws:iam::111111111111:root" } }
  resource "arn:aws:kms:us-east-1:111111111111:key/k2" { policy { allow kms:Decrypt on * principal aws "arn:aws:iam::111111111111:user/tina" } }
  resource "arn:aws:s3:::nopolicy"
}
""")
ROLE = "arn:aws:iam::111111111111:role/"
KEY = "arn:aws:kms:us-east-1:111111111111:key/"


def test_trust_policy_must_name_the_principal():
    check(TRUST, [
        (U + "tina", "sts:AssumeRole", ROLE + "by-user", A, {}),  # named: no identity policy needed
        (U + "tina", "sts:AssumeRole", ROLE + "by-account", I, {}),  # account named: identity must allow
        (U + "ivan", "sts:AssumeRole", ROLE + "by-account", A, {}),
        (U + "ivan", "sts:AssumeRole", ROLE + "by-other", I, {}),  # identity alone is not enough
        (U + "tina", "iam:GetRole", ROLE + "by-user", I, {}),  # R6: trust policy only for sts actions
    ])


def test_kms_key_policy_must_allow():
    check(TRUST, [
        (U + "ivan", "kms:Decrypt", KEY + "k1", A, {}),
        (U + "tina", "kms:Decrypt", KEY + "k1", I, {}),
        (U + "tina", "kms:Decrypt", KEY + "k2", A, {}),
        (U + "ivan", "kms:Decrypt", KEY + "k2", I, {}),  # identity allows, key policy does not
        (U + "ivan", "s3:GetObject", "arn:aws:s3:::nopolicy/x", A, {}),  # an ordinary resource
    ])


# ---------------------------------------------------------------------------------------------
# 4. SCPs: every level must allow; exemptions (§1.6, §3.1, §3.2)

SCPS = world("""
organization "o-aaaaaaaaaa" {
  management "mgmt"
  scp DenyRedshift { deny redshift:* on * }
  scp AllowS3 { allow s3:* on * }
  scp DenyS3Delete { deny s3:DeleteObject on * }
  root "r-aaaa" {
    scp DenyRedshift
    ou Empty { detach scp FullAWSAccess  account "empty" }
    ou S3Only { detach scp FullAWSAccess  scp AllowS3  account "s3only"  ou Nested { account "nested" } }
    ou Open { account "open" { scp DenyS3Delete } }
  }
}
account 100000000000 "mgmt" { user admin { attach AdministratorAccess } }
account 200000000000 "empty" {
  user admin { attach AdministratorAccess }
  role AWSServiceRoleForX { service_linked  attach AdministratorAccess }
}
account 300000000000 "s3only" { user admin { attach AdministratorAccess } }
account 400000000000 "nested" { user admin { attach AdministratorAccess } }
account 500000000000 "open" {
  user admin { attach AdministratorAccess }
  role AWSServiceRoleForY { service_linked  attach AdministratorAccess }
}
aws policy AdministratorAccess { allow * on * }
""")


def admin(acct: str) -> str:
    return f"arn:aws:iam::{acct}:user/admin"


def test_scp_levels():
    obj = "arn:aws:s3:::b/k"
    check(SCPS, [
        (admin("100000000000"), "redshift:CreateCluster", "*", A, {}),  # management account: exempt
        (admin("500000000000"), "redshift:CreateCluster", "*", X, {}),  # root-level deny applies below
        (admin("500000000000"), "s3:DeleteObject", obj, X, {}),  # account-level SCP
        (admin("500000000000"), "s3:GetObject", obj, A, {}),
        (admin("200000000000"), "s3:GetObject", obj, I, {}),  # empty level
        (admin("300000000000"), "s3:GetObject", obj, A, {}),
        (admin("300000000000"), "ec2:DescribeInstances", "*", I, {}),
        (admin("400000000000"), "ec2:DescribeInstances", "*", I, {}),  # a parent level lacks an Allow
        (admin("400000000000"), "s3:GetObject", obj, A, {}),
    ])


def test_scp_root_users_and_service_linked_roles():
    obj = "arn:aws:s3:::b/k"
    check(SCPS, [
        ("arn:aws:iam::500000000000:root", "s3:DeleteObject", obj, X, {}),  # member root is subject
        ("arn:aws:iam::500000000000:root", "s3:GetObject", obj, A, {}),
        ("arn:aws:iam::200000000000:root", "s3:GetObject", obj, I, {}),
        ("arn:aws:iam::100000000000:root", "redshift:CreateCluster", "*", A, {}),
        ("arn:aws:sts::200000000000:assumed-role/AWSServiceRoleForX/s", "s3:GetObject", obj, A, {}),
        ("arn:aws:sts::500000000000:assumed-role/AWSServiceRoleForY/s", "redshift:CreateCluster", "*", A, {}),
    ])


# ---------------------------------------------------------------------------------------------
# 5. RCPs: resources of member accounts only (§1.7)

RCPS = world("""
organization "o-bbbbbbbbbb" {
  management "m"
  rcp OrgOnly {
    deny s3:* on * principal *
      when StringNotEqualsIfExists aws:PrincipalOrgID "o-bbbbbbbbbb" and Bool aws:PrincipalIsAWSService "false"
  }
  root { rcp OrgOnly  ou Data { account "data" }  account "plain" }
}
account 110000000000 "m" {
  resource "arn:aws:s3:::m-bucket" { policy { allow s3:GetObject on "arn:aws:s3:::m-bucket/*" principal aws "190000000000" } }
}
account 120000000000 "data" {
  resource "arn:aws:s3:::d-bucket" { policy { allow s3:GetObject on "arn:aws:s3:::d-bucket/*"
      principal aws "190000000000", aws "130000000000" } }
  resource "arn:aws:s3:::d-public" { policy { allow s3:GetObject on "arn:aws:s3:::d-public/*" principal * } }
  resource "arn:aws:s3:::d-trail" { policy { allow s3:PutObject on "arn:aws:s3:::d-trail/*"
      principal service "cloudtrail.amazonaws.com" } }
}
account 130000000000 "plain" { user p { attach S3All }  policy S3All { allow s3:* on * } }
account 190000000000 "external" { user x { attach S3All }  policy S3All { allow s3:* on * } }
""")


def test_rcp_denies_outside_principals_on_member_resources():
    check(RCPS, [
        ("arn:aws:iam::190000000000:user/x", GET, "arn:aws:s3:::d-bucket/k", X, {}),
        ("arn:aws:iam::130000000000:user/p", GET, "arn:aws:s3:::d-bucket/k", A, {}),
        ("arn:aws:iam::190000000000:user/x", GET, "arn:aws:s3:::m-bucket/k", A, {}),  # management: exempt
        # anonymous has no aws:PrincipalIsAWSService, so the Bool condition fails (§3.18)
        ("anonymous", GET, "arn:aws:s3:::d-public/k", A, {}),
        ("anonymous", GET, "arn:aws:s3:::d-bucket/k", I, {}),
        ("cloudtrail.amazonaws.com", "s3:PutObject", "arn:aws:s3:::d-trail/k", A, {}),
        ("config.amazonaws.com", "s3:PutObject", "arn:aws:s3:::d-trail/k", I, {}),
        ("anonymous", GET, "arn:aws:s3:::undeclared/k", I, {}),  # R5: no owner, no policy
    ])


# ---------------------------------------------------------------------------------------------
# 6. Cross-account: both sides must allow (§1.4)

CROSS = world("""
organization "o-cccccccccc" {
  management "mgmt"
  scp NoPut { deny s3:PutObject on * }
  root { ou Callers { scp NoPut  account "caller" }  account "owner" }
}
account 299999999999 "mgmt"
account 211111111111 "owner" {
  resource "arn:aws:s3:::shared" { policy { allow s3:GetObject, s3:PutObject on "arn:aws:s3:::shared/*"
      principal aws "222222222222" } }
  resource "arn:aws:s3:::to-user" { policy { allow s3:GetObject on "arn:aws:s3:::to-user/*"
      principal aws "arn:aws:iam::222222222222:user/bounded" } }
  resource "arn:aws:s3:::private"
  role xrole { trust { allow sts:AssumeRole principal aws "arn:aws:iam::222222222222:root" } }
}
account 222222222222 "caller" {
  user reader { attach Broad }
  user nopol
  user bounded { attach Broad  boundary OnlyEc2 }
  policy Broad { allow s3:*, sts:AssumeRole, sqs:* on * }
  policy OnlyEc2 { allow ec2:* on * }
}
""")
C = "arn:aws:iam::222222222222:user/"


def test_cross_account_needs_both_sides():
    check(CROSS, [
        (C + "reader", GET, "arn:aws:s3:::shared/k", A, {}),
        (C + "nopol", GET, "arn:aws:s3:::shared/k", I, {}),  # resource side alone is not enough
        (C + "reader", GET, "arn:aws:s3:::private/k", I, {}),  # identity side alone is not enough
        (C + "bounded", GET, "arn:aws:s3:::to-user/k", I, {}),  # the caller's boundary still limits
        (C + "reader", "s3:PutObject", "arn:aws:s3:::shared/k", X, {}),  # the caller's SCP
        (C + "reader", "sts:AssumeRole", "arn:aws:iam::211111111111:role/xrole", A, {}),
        (C + "nopol", "sts:AssumeRole", "arn:aws:iam::211111111111:role/xrole", I, {}),
        (C + "reader", "sqs:SendMessage", "arn:aws:sqs:us-east-1:211111111111:q", I, {}),  # R5: ARN account
        (C + "reader", "sqs:SendMessage", "arn:aws:sqs:us-east-1:222222222222:q", A, {}),
        ("arn:aws:iam::222222222222:root", GET, "arn:aws:s3:::shared/k", A, {}),
    ])


# ---------------------------------------------------------------------------------------------
# 7. Sessions: role sessions, federated users, session tags, aws:PrincipalArn (§1.2 step 7, §1.8)

SESSIONS = world("""
account 311111111111 "acct" {
  user fu { attach S3All }
  role app { attach S3All  TRUST }
  role tagged { tags { team = "blue" }  attach TagGated
    trust { allow sts:AssumeRole, sts:TagSession principal aws "arn:aws:iam::311111111111:root" } }
  role untaggable { tags { team = "blue" }  attach TagGated  TRUST }
  role gated { TRUST }
  role bare { TRUST }
  policy S3All { allow s3:* on * }
  policy TagGated { allow s3:GetObject on * when StringEquals aws:PrincipalTag/team "blue" }
  resource "arn:aws:s3:::arn-gated" { policy { allow s3:GetObject on "arn:aws:s3:::arn-gated/*" principal *
      when ArnEquals aws:PrincipalArn "arn:aws:iam::311111111111:role/gated" } }
  resource "arn:aws:s3:::fed-id" { policy { allow s3:GetObject on "arn:aws:s3:::fed-id/*" principal *
      when StringEquals aws:userid "311111111111:fx" and StringEquals aws:PrincipalType "FederatedUser" } }
}
""".replace("TRUST", TRUST_SELF.replace("ACCT", "311111111111")))
S = "arn:aws:sts::311111111111:assumed-role/"
F = "arn:aws:sts::311111111111:federated-user/"


def test_role_sessions_and_federated_users():
    obj = "arn:aws:s3:::b/k"
    check(SESSIONS, [
        (S + "app/s", GET, obj, A, {}),  # no session policy: the role's permissions
        (S + "app/s", GET, obj, I, {"session_policy": EC2_ONLY_SESSION}),
        (S + "app/s", GET, obj, A, {"session_policy": S3_ONLY_SESSION}),
        (S + "app/s", GET, obj, X, {"session_policy": DENY_GET_SESSION}),
        (F + "f", GET, obj, I, {"federating_user": "arn:aws:iam::311111111111:user/fu"}),  # no session policy
        (F + "f", GET, obj, A, {"federating_user": "arn:aws:iam::311111111111:user/fu", "session_policy": S3_ONLY_SESSION}),
        (F + "f", GET, obj, A, {"federating_user": "fu", "session_policy": S3_ONLY_SESSION}),
        (F + "f", GET, obj, I, {"session_policy": S3_ONLY_SESSION}),  # no federating user: no identity
    ])


def test_session_tags_and_principal_arn():
    obj = "arn:aws:s3:::b/k"
    check(SESSIONS, [
        (S + "tagged/s", GET, obj, A, {}),
        (S + "tagged/s", GET, obj, I, {"context": {"aws:PrincipalTag/team": "red"}}),  # session tag wins
        (S + "untaggable/s", GET, obj, A, {"context": {"aws:PrincipalTag/team": "red"}}),  # no sts:TagSession
        (S + "gated/s", GET, "arn:aws:s3:::arn-gated/k", A, {}),  # aws:PrincipalArn is the role ARN
        (S + "bare/s", GET, "arn:aws:s3:::arn-gated/k", I, {}),
        (S + "bare/s", GET, "arn:aws:s3:::arn-gated/k", I,  # the caller cannot set aws:PrincipalArn
         {"context": {"aws:PrincipalArn": "arn:aws:iam::311111111111:role/gated"}}),
        (F + "fx", GET, "arn:aws:s3:::fed-id/k", A, {}),  # aws:userid of a federated user: ACCOUNT:NAME
        (F + "fy", GET, "arn:aws:s3:::fed-id/k", I, {}),
    ])


# ---------------------------------------------------------------------------------------------
# 8. Deny + NotPrincipal (§1.5, §1.9, R4)

NOTPRINCIPAL = world("""
account 411111111111 "acct" {
  role ops { attach S3All  TRUST }
  role ops2 { attach S3All  TRUST }
  user ub { attach S3All  boundary S3All }
  user un { attach S3All }
  policy S3All { allow s3:* on * }
  resource "arn:aws:s3:::locked" { policy {
    deny s3:* on "arn:aws:s3:::locked", "arn:aws:s3:::locked/*" not principal
      aws "411111111111", aws "arn:aws:iam::411111111111:role/ops",
      aws "arn:aws:sts::411111111111:assumed-role/ops/s1", aws "arn:aws:iam::411111111111:role/ops2",
      aws "arn:aws:iam::411111111111:user/ub", aws "arn:aws:iam::411111111111:user/un"
  } }
}
""".replace("TRUST", TRUST_SELF.replace("ACCT", "411111111111")))


def test_deny_not_principal():
    obj = "arn:aws:s3:::locked/k"
    check(NOTPRINCIPAL, [
        ("arn:aws:sts::411111111111:assumed-role/ops/s1", GET, obj, A, {}),  # account, role, session listed
        ("arn:aws:sts::411111111111:assumed-role/ops/s2", GET, obj, X, {}),  # session not listed
        ("arn:aws:sts::411111111111:assumed-role/ops2/s1", GET, obj, X, {}),  # only the role listed
        ("arn:aws:iam::411111111111:user/un", GET, obj, A, {}),
        ("arn:aws:iam::411111111111:user/ub", GET, obj, X, {}),  # has a boundary: always denied
        ("arn:aws:iam::411111111111:root", GET, obj, A, {}),
        ("anonymous", GET, obj, X, {}),
    ])


# ---------------------------------------------------------------------------------------------
# 9. Context keys derived from the world (R7)

CONTEXT = world("""
organization "o-dddddddddd" {
  management "mgmt"
  root "r-dddd" { ou Eng id "ou-dddd-11111111" { account "eng" } }
}
account 500000000000 "mgmt"
account 511111111111 "eng" {
  user kim {
    tags { Project = "x" }
    policy P {
      allow s3:GetObject on * when StringEquals aws:PrincipalOrgID "o-dddddddddd"
      allow s3:PutObject on * when ForAnyValue:StringLike aws:PrincipalOrgPaths "o-dddddddddd/r-dddd/ou-dddd-11111111/*"
      allow sqs:SendMessage on * when StringEquals aws:ResourceTag/env "dev"
      allow sqs:ReceiveMessage on * when StringEquals sqs:ResourceTag/env "dev"
      allow ec2:DescribeInstances on * when IpAddress aws:SourceIp "10.0.0.0/8"
      allow iam:GetUser on "arn:aws:iam::511111111111:user/${aws:username}"
      allow kms:ListKeys on * when StringEquals aws:PrincipalTag/project "x"
      allow s3:ListBucket on * when StringEquals aws:ResourceAccount "511111111111"
      allow sts:GetCallerIdentity on * when StringEquals aws:PrincipalType "User"
    }
  }
  resource "arn:aws:sqs:us-east-1:511111111111:dev-q" { tags { env = "dev" } }
  resource "arn:aws:sqs:us-east-1:511111111111:prod-q" { tags { env = "prod" } }
}
account 599999999999 "outside" {
  user lee { policy P { allow s3:GetObject on * when StringEquals aws:PrincipalOrgID "o-dddddddddd" } }
}
""")
K = "arn:aws:iam::511111111111:user/kim"
Q = "arn:aws:sqs:us-east-1:511111111111:"


def test_world_derived_context_keys():
    check(CONTEXT, [
        (K, GET, "arn:aws:s3:::b/k", A, {}),
        (K, "s3:PutObject", "arn:aws:s3:::b/k", A, {}),
        (K, "sqs:SendMessage", Q + "dev-q", A, {}),
        (K, "sqs:SendMessage", Q + "prod-q", I, {}),
        (K, "sqs:SendMessage", Q + "prod-q", I, {"context": {"aws:ResourceTag/env": "dev"}}),  # world wins
        (K, "sqs:SendMessage", Q + "undeclared-q", A, {"context": {"aws:ResourceTag/env": "dev"}}),
        (K, "sqs:ReceiveMessage", Q + "dev-q", A, {}),
        (K, "sqs:ReceiveMessage", Q + "prod-q", I, {}),
        (K, "iam:GetUser", "arn:aws:iam::511111111111:user/kim", A, {}),
        (K, "iam:GetUser", "arn:aws:iam::511111111111:user/lee", I, {}),
        (K, "kms:ListKeys", "*", A, {}),  # tag key part is case-insensitive
        (K, "kms:ListKeys", "*", A, {"context": {"aws:PrincipalTag/Project": "y"}}),  # a user's tags: world wins
        (K, "s3:ListBucket", "arn:aws:s3:::anything", A, {}),  # R5: S3 ARN without account
        (K, "sts:GetCallerIdentity", "*", A, {}),
        ("arn:aws:iam::599999999999:user/lee", GET, "arn:aws:s3:::b/k", I, {}),
        ("arn:aws:iam::599999999999:user/lee", GET, "arn:aws:s3:::b/k", I,
         {"context": {"aws:PrincipalOrgID": "o-dddddddddd"}}),  # the caller cannot set it
    ])


def test_caller_given_environment_keys():
    check(CONTEXT, [
        (K, "ec2:DescribeInstances", "*", A, {"context": {"aws:SourceIp": "10.1.2.3"}}),
        (K, "ec2:DescribeInstances", "*", I, {"context": {"aws:sourceip": ["192.168.0.1"]}}),
        (K, "ec2:DescribeInstances", "*", I, {}),
    ])


USERIDS = world("""
account 711111111111 "ids" {
  user ann {
    id "AIDAEXAMPLEANN000001"
    policy P { allow s3:GetObject on "arn:aws:s3:::home/${aws:userid}/*" }
  }
  user ben { policy P { allow s3:GetObject on "arn:aws:s3:::home/${aws:userid}/*" } }
  role app {
    id "AROAEXAMPLEAPP000001"
    trust { allow sts:AssumeRole principal aws "711111111111" }
    policy P { allow s3:GetObject on * when StringLike aws:userid "AROAEXAMPLEAPP000001:batch-*" }
  }
  resource "arn:aws:s3:::drop" { policy {
    allow s3:PutObject on "arn:aws:s3:::drop/*" principal * when StringEquals aws:userid "anonymous"
  } }
}
""")


def test_aws_userid_of_each_kind_of_principal():
    """R7: a user's declared id, ROLE-ID:SESSION for a role session, "anonymous" for anonymous;
    a value the world does not give is the caller's, and reading it without one raises."""
    from ..reference import Undeclared

    ann, ben, app = "arn:aws:iam::711111111111:user/ann", "arn:aws:iam::711111111111:user/ben", \
        "arn:aws:sts::711111111111:assumed-role/app/"
    check(USERIDS, [
        (ann, GET, "arn:aws:s3:::home/AIDAEXAMPLEANN000001/k", A, {}),
        (ann, GET, "arn:aws:s3:::home/AIDAOTHER/k", I, {"context": {"aws:userid": "AIDAOTHER"}}),  # world wins
        (ben, GET, "arn:aws:s3:::home/AIDAEXAMPLEBEN000001/k", A, {"context": {"aws:userid": "AIDAEXAMPLEBEN000001"}}),
        (app + "batch-1", GET, "arn:aws:s3:::x/k", A, {}),
        (app + "web-1", GET, "arn:aws:s3:::x/k", I, {}),
        ("anonymous", "s3:PutObject", "arn:aws:s3:::drop/k", A, {}),
    ])
    with pytest.raises(Undeclared):
        reference_decide(USERIDS, ben, GET, "arn:aws:s3:::home/x/k")
    with pytest.raises(Undeclared):  # a role given by its ARN: the session's name is not known
        reference_decide(USERIDS, "arn:aws:iam::711111111111:role/app", GET, "arn:aws:s3:::x/k")


# ---------------------------------------------------------------------------------------------
# 10. Service principals: granted only by resource policies, never subject to SCPs

SERVICES = world("""
organization "o-eeeeeeeeee" {
  management "mgmt"
  scp DenyAll { deny * on * }
  root { scp DenyAll  account "member" }
}
account 600000000000 "mgmt"
account 611111111111 "member" {
  resource "arn:aws:sns:us-east-1:611111111111:alerts" { policy {
    allow sns:Publish on "arn:aws:sns:us-east-1:611111111111:alerts" principal service "Events.amazonaws.com"
      when StringEquals aws:SourceAccount "611111111111"
    deny sns:Publish on * principal * when Bool aws:PrincipalIsAWSService "true" and StringEquals aws:PrincipalServiceName "s3.amazonaws.com"
  } }
}
""")


def test_service_principals():
    topic = "arn:aws:sns:us-east-1:611111111111:alerts"
    check(SERVICES, [
        ("events.amazonaws.com", "sns:Publish", topic, A, {"context": {"aws:SourceAccount": "611111111111"}}),
        ("events.amazonaws.com", "sns:Publish", topic, I, {"context": {"aws:SourceAccount": "999999999999"}}),
        ("events.amazonaws.com", "sns:Publish", topic, I, {}),
        ("s3.amazonaws.com", "sns:Publish", topic, X, {}),  # aws:PrincipalServiceName
        ("arn:aws:iam::611111111111:root", "sns:Publish", topic, X, {}),  # the SCP denies the member root
    ])


# ---------------------------------------------------------------------------------------------
# 11. Cross-account KMS: the key policy names the other account, whose identity policy must allow

KMS = world("""
account 711111111111 "keys" {
  resource "arn:aws:kms:eu-west-1:711111111111:key/shared" { policy {
    allow kms:* on * principal aws "arn:aws:iam::711111111111:root"
    allow kms:Decrypt on * principal aws "722222222222", aws "arn:aws:iam::733333333333:user/named"
  } }
}
account 722222222222 "apps" { user app { policy P { allow kms:Decrypt on * } }  user none }
account 733333333333 "other" { user named }
""")


def test_cross_account_key_policy():
    key = "arn:aws:kms:eu-west-1:711111111111:key/shared"
    check(KMS, [
        ("arn:aws:iam::722222222222:user/app", "kms:Decrypt", key, A, {}),
        ("arn:aws:iam::722222222222:user/none", "kms:Decrypt", key, I, {}),
        ("arn:aws:iam::733333333333:user/named", "kms:Decrypt", key, I, {}),  # named, but no identity policy
        ("arn:aws:iam::722222222222:user/app", "kms:Encrypt", key, I, {}),
        ("arn:aws:iam::711111111111:root", "kms:Encrypt", key, A, {}),
    ])


# ---------------------------------------------------------------------------------------------
# 12. The bundled example organization


def test_example_organization():
    model = iamlogic.load(str(EXAMPLES / "organization" / "world.iaml")).model
    a = "arn:aws:iam::222222222222:user/"
    check(model, [
        (a + "analytics/alice", GET, "arn:aws:s3:::reports-a/q1.csv", A, {}),
        (a + "analytics/alice", "s3:PutObject", "arn:aws:s3:::reports-a/q1.csv", I, {}),
        (a + "bob", "redshift:CreateCluster", "*", X, {}),  # DenyRedshift on OU Analytics
        ("arn:aws:sts::333333333333:assumed-role/Deployer/d", "lambda:InvokeFunction", "*", X, {}),
        ("arn:aws:sts::333333333333:assumed-role/Deployer/d", "s3:ListAllMyBuckets", "*", A, {}),
        ("arn:aws:sts::111111111111:assumed-role/OrganizationAccountAccessRole/o", "redshift:CreateCluster", "*", A, {}),
        ("arn:aws:iam::444444444444:user/carol", GET, "arn:aws:s3:::reports-a/q1.csv", A, {}),  # org member
        # R9: the trust policy names the account, but a root user cannot assume a role
        ("arn:aws:iam::111111111111:root", "sts:AssumeRole", "arn:aws:iam::333333333333:role/Deployer", I, {}),
        ("arn:aws:iam::444444444444:root", "sts:AssumeRole", "arn:aws:iam::333333333333:role/Deployer", I, {}),
    ])
