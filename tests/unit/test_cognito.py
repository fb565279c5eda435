"""Amazon Cognito identity pools (seed scenario 10): the role a pool gives each identity, the keys
its sessions carry, the enhanced and basic flows, guests and their scope-down policy."""

from __future__ import annotations

import pytest

import iamlogic
from iamlogic import InvalidInput
from iamlogic.analysis import who_can, why_not, world_principals
from iamlogic.graph import role_reachability
from iamlogic.grammar.printer import print_world
from iamlogic.privesc import escalations

from ..conftest import EXAMPLES

ACCT = "111122223333"
POOL = "us-east-1:12345678-dead-beef-cafe-123456789012"
ALICE = "us-east-1:11111111-aaaa-4aaa-8aaa-111111111111"  # Google
DANA = "us-east-1:22222222-bbbb-4bbb-8bbb-222222222222"  # user pool, custom:team = data
ERIN = "us-east-1:33333333-cccc-4ccc-8ccc-333333333333"  # user pool, custom:team = web
GUEST = "us-east-1:44444444-dddd-4ddd-8ddd-444444444444"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCT}:table/UserData"
ASSET = "arn:aws:s3:::app-public-assets/logo.png"
SUB, AUD, AMR = (f"cognito-identity.amazonaws.com:{k}" for k in ("sub", "aud", "amr"))


def session(role: str, name: str = "CognitoIdentityCredentials") -> str:
    return f"arn:aws:sts::{ACCT}:assumed-role/{role}/{name}"


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCT}:role/{name}"


@pytest.fixture(scope="module")
def world():
    return iamlogic.load([str(EXAMPLES / "cognito" / "world.iaml")])


def code(excinfo) -> str:
    return excinfo.value.diagnostics[0].code


def test_the_role_each_identity_gets_is_the_rule_and_the_evaluator_agrees_with_pyDatalog(world):
    ev = world.evaluator()
    by_rule = ev.facts("cognito_enhanced")  # pyDatalog's answer
    assert by_rule == {(ALICE, role("CognitoAuthRole")), (DANA, role("DataRole")),
                       (ERIN, role("CognitoAuthRole")), (GUEST, role("GuestRole"))}
    assert by_rule == {(i, r) for i, roles in ev.index.cognito_enhanced.items() for r in roles}
    assert ev.facts("cognito_trusting") == {(role(n),) for n in ("CognitoAuthRole", "DataRole", "GuestRole",
                                                                   "AdminRole")}


def test_a_session_carries_the_identity_its_pool_and_how_it_signed_in(world):
    r = world.evaluator().resolve(session("CognitoAuthRole"), "dynamodb:GetItem", TABLE, {SUB: ALICE})
    assert r.context[SUB][1] == (ALICE,) and r.context[AUD][1] == (POOL,)
    assert r.context[AMR][1:] == (("authenticated", "accounts.google.com"), True)
    r = world.evaluator().resolve(session("GuestRole"), "polly:SynthesizeSpeech", "*", {SUB: GUEST})
    assert r.context[AMR][1] == ("unauthenticated",)
    assert r.session_policy == "cognito-guest-session:AmazonCognitoUnAuthedIdentitiesSessionPolicy"


def test_row_level_security_reads_the_identity_of_the_session(world):
    assert world.check(session("CognitoAuthRole"), "dynamodb:GetItem", TABLE,
                       {SUB: ALICE, "dynamodb:LeadingKeys": [ALICE]}).decision == "Allow"
    assert world.check(session("CognitoAuthRole"), "dynamodb:GetItem", TABLE,
                       {SUB: ALICE, "dynamodb:LeadingKeys": [ERIN]}).decision == "ImplicitDeny"


def test_keys_given_by_the_caller_do_not_replace_cognitos(world):
    d = world.check(session("CognitoAuthRole"), "dynamodb:GetItem", TABLE,
                    {SUB: ALICE, AMR: ["unauthenticated"], AUD: "us-east-1:00000000-0000-0000-0000-000000000000",
                     "dynamodb:LeadingKeys": [ALICE]})
    assert d.decision == "Allow"
    assert sum("set by Amazon Cognito" in n for n in d.warnings) == 2


def test_the_enhanced_flow_gives_the_role_the_pool_chooses_only(world):
    with pytest.raises(InvalidInput) as e:  # dana's claims map her to DataRole
        world.check(session("CognitoAuthRole"), "dynamodb:GetItem", TABLE, {SUB: DANA})
    assert code(e) == "E509" and "gives it arn:aws:iam::111122223333:role/DataRole" in str(e.value)
    with pytest.raises(InvalidInput) as e:
        world.check(session("AdminRole"), "s3:DeleteObject", ASSET, {SUB: GUEST})
    assert code(e) == "E509"
    assert world.check(session("DataRole"), "dynamodb:Scan", f"arn:aws:dynamodb:us-east-1:{ACCT}:table/Analytics",
                       {SUB: DANA}).decision == "Allow"


def test_a_guest_of_the_enhanced_flow_is_held_to_the_scope_down_policy_and_explained(world):
    d = world.check(session("GuestRole"), "s3:GetObject", ASSET, {SUB: GUEST})
    assert d.decision == "ImplicitDeny"
    layer = next(v for v in d.layers if v.layer == "session policy")
    assert layer.verdict == "no allow" and "scope-down" in layer.note
    text = why_not(world, session("GuestRole"), "s3:GetObject", ASSET, {SUB: GUEST}).render()
    assert "none for a guest of the enhanced flow" in text and "pass a session policy" not in text
    assert world.check(session("GuestRole"), "polly:SynthesizeSpeech", "*", {SUB: GUEST}).decision == "Allow"


def test_the_basic_flow_lets_any_identity_take_a_role_whose_trust_admits_its_token(world):
    # AdminRole's trust checks the pool, not amr: a guest gets it, without the scope-down policy
    d = world.check(session("AdminRole", "app"), "s3:DeleteObject", ASSET, {SUB: GUEST})
    assert d.decision == "Allow"
    assert world.check(session("GuestRole", "app"), "s3:GetObject", ASSET, {SUB: GUEST}).decision == "Allow"
    with pytest.raises(InvalidInput) as e:  # CognitoAuthRole's trust wants amr "authenticated"
        world.check(session("CognitoAuthRole", "app"), "dynamodb:GetItem", TABLE, {SUB: GUEST})
    assert code(e) == "E509" and "trust policy" in str(e.value)


def test_a_pool_without_the_basic_flow_refuses_its_sessions():
    text = (EXAMPLES / "cognito" / "world.iaml").read_text().replace("    classic_flow\n", "")
    w = iamlogic.loads(text)
    with pytest.raises(InvalidInput) as e:
        w.check(session("AdminRole", "app"), "s3:DeleteObject", ASSET, {SUB: GUEST})
    assert code(e) == "E509" and "basic (classic) flow" in str(e.value)


def test_identities_the_world_does_not_declare_or_name_are_not_guessed(world):
    with pytest.raises(InvalidInput) as e:
        world.check(session("CognitoAuthRole"), "dynamodb:GetItem", TABLE,
                    {SUB: "us-east-1:99999999-aaaa-4aaa-8aaa-111111111111"})
    assert code(e) == "E509"
    with pytest.raises(InvalidInput) as e:  # the role, not a session: which flow is not known
        world.check(role("CognitoAuthRole"), "dynamodb:GetItem", TABLE, {SUB: ALICE})
    assert code(e) == "E509"
    with pytest.raises(InvalidInput) as e:  # no identity named: the key is one the world does not give
        world.check(session("CognitoAuthRole"), "dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": [ALICE]})
    assert code(e) == "E507" and "cognito-identity.amazonaws.com:sub" in str(e.value)


def test_the_enhanced_flow_takes_no_session_policy_from_the_caller(world):
    with pytest.raises(InvalidInput) as e:
        world.check(session("CognitoAuthRole"), "dynamodb:GetItem", TABLE, {SUB: ALICE},
                    session_policy='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", '
                                   '"Resource": "*"}]}')
    assert code(e) == "E509"


def test_guests_without_the_scope_down_policy_declared_are_unsupported():
    text = (EXAMPLES / "cognito" / "world.iaml").read_text()
    start = text.index("aws policy AmazonCognitoUnAuthedIdentitiesSessionPolicy")
    w = iamlogic.loads(text[:start] + text[text.index("}", start) + 1:])
    with pytest.raises(InvalidInput) as e:
        w.check(session("GuestRole"), "polly:SynthesizeSpeech", "*", {SUB: GUEST})
    assert code(e) == "E512"
    assert w.check(session("GuestRole", "app"), "polly:SynthesizeSpeech", "*", {SUB: GUEST}).decision == "Allow"


POOL_WORLD = """
account 111122223333 "app" {
  role Auth { trust { allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"
          when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-90ab-cdef-1234-567890abcdef" } }
  role Ops { trust { allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"
          when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-90ab-cdef-1234-567890abcdef" } }
  role Eng { trust { allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"
          when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-90ab-cdef-1234-567890abcdef" } }
  identity_pool P {
    id "us-east-1:12345678-90ab-cdef-1234-567890abcdef"
    providers "idp"
    authenticated role Auth
    rules "idp" otherwise OTHERWISE {
      "dept" starts_with "ops" role Ops
      "email" contains "@eng." role Eng
      "dept" not_equals "none" role Eng
    }
    identity "us-east-1:00000000-0000-4000-8000-000000000001" via "idp" { claims { dept = "ops-1", email = "a@eng.x" } }
    identity "us-east-1:00000000-0000-4000-8000-000000000002" via "idp" { claims { dept = "sales", email = "b@x" } }
    identity "us-east-1:00000000-0000-4000-8000-000000000003" via "idp" { claims { dept = "none", email = "c@x" } }
    identity "us-east-1:00000000-0000-4000-8000-000000000004" via "idp" { claims { email = "d@x" } }
  }
}
"""


@pytest.mark.parametrize("otherwise", ["authenticated", "deny"])
def test_the_first_matching_rule_gives_the_role_else_otherwise(otherwise):
    w = iamlogic.loads(POOL_WORLD.replace("OTHERWISE", otherwise))
    ev = w.evaluator()
    got = {(i[-1], r.rsplit("/", 1)[1]) for i, r in ev.facts("cognito_enhanced")}
    assert got == {("1", "Ops"),  # the first of two rules that match
                   ("2", "Eng"),  # not_equals
                   *([("3", "Auth"), ("4", "Auth")] if otherwise == "authenticated" else [])}  # no rule matches
    assert ev.index.cognito_enhanced == {i: frozenset(r for j, r in ev.facts("cognito_enhanced") if j == i)
                                         for i, _ in ev.facts("cognito_enhanced")}
    with pytest.raises(InvalidInput) as e:  # a not_equals rule on a claim identity 4 lacks
        w.check("arn:aws:sts::111122223333:assumed-role/Auth/CognitoIdentityCredentials", "s3:ListAllMyBuckets", "*",
                {SUB: "us-east-1:00000000-0000-4000-8000-000000000004"})
    assert code(e) == "E512"


def test_the_printer_writes_identity_pools_back(world):
    again = iamlogic.loads(print_world(world.model))
    assert again.model.accounts[0].identity_pools == world.model.accounts[0].identity_pools
    assert set(again.facts()) == set(world.facts()) - {f for f in world.facts() if f[0] == "statement_source"} \
        | {f for f in again.facts() if f[0] == "statement_source"}


def test_a_denied_web_identity_is_told_to_add_a_federated_principal(world):
    text = why_not(world, "cognito-identity.amazonaws.com", "sts:AssumeRoleWithWebIdentity", role("CognitoAuthRole"),
                   {SUB: GUEST, AUD: POOL, AMR: ["unauthenticated"]}).render()
    assert 'principal federated "cognito-identity.amazonaws.com"' in text


SHARED_ROLE = """
aws policy AmazonCognitoUnAuthedIdentitiesSessionPolicy { allow polly:* on * }
account 111122223333 "app" {
  role Shared {
    trust { allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"
          when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-90ab-cdef-1234-567890abcdef" }
    policy P { allow s3:GetObject, polly:SynthesizeSpeech on * }
  }
  identity_pool P {
    id "us-east-1:12345678-90ab-cdef-1234-567890abcdef"
    providers "idp"
    guests
    authenticated role Shared
    unauthenticated role Shared
    identity "us-east-1:00000000-0000-4000-8000-000000000001" via "idp"
    identity "us-east-1:00000000-0000-4000-8000-000000000002" guest
  }
}
"""


def test_a_batch_tells_a_guest_from_an_identity_that_signed_in_in_one_session():
    # one session ARN, one action: only the guest is held to the scope-down policy
    w = iamlogic.loads(SHARED_ROLE)
    arn = "arn:aws:sts::111122223333:assumed-role/Shared/CognitoIdentityCredentials"
    items = [(arn, "s3:GetObject", f"arn:aws:s3:::b/{n}", {SUB: f"us-east-1:00000000-0000-4000-8000-00000000000{i}"})
             for n in range(8) for i in (1, 2)]
    got = [d.decision for d in w.check_many(items)]
    assert got == ["Allow", "ImplicitDeny"] * 8
    assert got == [w.check(*item).decision for item in items]
    batch = w.evaluator().verdicts_many([(*item, None, None) for item in items])  # iamlogic batch's path
    assert [v[0] for v in batch] == got


def test_escalations_show_the_roles_the_basic_flow_opens_to_each_identity(world):
    found = {(f.principal.split()[1], f.steps[0].split()[2].rsplit("/", 1)[1]) for f in escalations(world)
             if f.technique == "identity-pool-basic-flow"}
    assert found == {
        (ALICE, "AdminRole"), (ALICE, "DataRole"),  # the rules give DataRole to the data team only
        (DANA, "AdminRole"), (DANA, "CognitoAuthRole"), (ERIN, "AdminRole"), (ERIN, "DataRole"),
        (GUEST, "AdminRole"),  # AdminRole's trust checks the pool, not amr
        (GUEST, "GuestRole"),  # its own role, without the scope-down policy
    }
    # without the basic flow, the pool's choice stands
    text = (EXAMPLES / "cognito" / "world.iaml").read_text().replace("    classic_flow\n", "")
    assert not [f for f in escalations(iamlogic.loads(text)) if f.technique == "identity-pool-basic-flow"]


CROSS_ACCOUNT = """
account 111122223333 "app" {
  identity_pool P {
    id "us-east-1:12345678-90ab-cdef-1234-567890abcdef"
    providers "idp"
    classic_flow
    identity "us-east-1:00000000-0000-4000-8000-000000000001" via "idp"
  }
}
account 444455556666 "other" {
  role PoolOnly {
    trust { allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"
              when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-90ab-cdef-1234-567890abcdef" }
    policy P { allow s3:ListAllMyBuckets on * }
  }
  role PoolAndAmr {
    trust { allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"
              when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-90ab-cdef-1234-567890abcdef"
               and ForAnyValue:StringLike "cognito-identity.amazonaws.com:amr" "authenticated" }
    policy P { allow s3:ListAllMyBuckets on * }
  }
  role AnyPool {
    trust { allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com" }
  }
}
"""


def test_the_basic_flow_into_another_account_needs_aud_and_amr_in_the_trust_policy():
    w = iamlogic.loads(CROSS_ACCOUNT)
    ctx = {SUB: "us-east-1:00000000-0000-4000-8000-000000000001"}
    assert w.check("arn:aws:sts::444455556666:assumed-role/PoolAndAmr/app", "s3:ListAllMyBuckets", "*",
                   ctx).decision == "Allow"
    with pytest.raises(InvalidInput) as e:
        w.check("arn:aws:sts::444455556666:assumed-role/PoolOnly/app", "s3:ListAllMyBuckets", "*", ctx)
    assert code(e) == "E509" and "another account" in str(e.value)
    # IAM refuses a trust policy that lets in every identity pool
    assert [(x.code, x.span.line) for x in w.warnings] == [("W302", 23)]


def test_a_declared_identity_is_a_principal_and_who_can_lists_identities(world):
    d = world.check(ALICE, "dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": [ALICE]})
    assert d.decision == "Allow" and d.principal == session("CognitoAuthRole")
    assert world.check(GUEST, "s3:GetObject", ASSET).decision == "ImplicitDeny"  # the scope-down policy
    assert world_principals(world)[-5:] == [ALICE, DANA, ERIN, GUEST, "anonymous"]
    undetermined: list = []
    allowed = [p for p, _ in who_can(world, "dynamodb:GetItem", TABLE, {"dynamodb:LeadingKeys": [ERIN]},
                                     undetermined=undetermined)]
    assert allowed == [f"arn:aws:iam::{ACCT}:root", ERIN]
    assert [(u.principal, u.diagnostic.code) for u in undetermined] == [(role("CognitoAuthRole"), "E507")]


def test_an_identity_the_pool_gives_no_role_is_not_a_principal_of_who_can():
    w = iamlogic.loads(POOL_WORLD.replace("OTHERWISE", "deny"))
    three = "us-east-1:00000000-0000-4000-8000-000000000003"  # no rule matches, otherwise deny
    with pytest.raises(InvalidInput) as e:
        w.check(three, "s3:ListAllMyBuckets", "*")
    assert code(e) == "E509" and "no role" in str(e.value)
    assert three not in world_principals(w)
    undetermined: list = []  # identity 4's role rests on a claim it lacks: listed, not dropped
    who_can(w, "s3:ListAllMyBuckets", "*", undetermined=undetermined)
    assert [(u.principal, u.diagnostic.code) for u in undetermined] == [
        ("us-east-1:00000000-0000-4000-8000-000000000004", "E512")]


def test_escalations_leave_out_a_role_of_another_account_that_sts_refuses_in_the_basic_flow():
    found = [f.steps[0].split()[2] for f in escalations(iamlogic.loads(CROSS_ACCOUNT))
             if f.technique == "identity-pool-basic-flow"]
    assert found == ["arn:aws:iam::444455556666:role/PoolAndAmr"]


def test_who_can_become_whom_has_the_identities_and_the_flows_that_give_them_roles(world):
    edges, paths = role_reachability(world)
    guest = {e.role.rsplit("/", 1)[1]: e.statements for e in edges if e.source == GUEST}
    assert guest == {"AdminRole": ("Amazon Cognito: the basic flow",),
                     "GuestRole": ("Amazon Cognito: the enhanced flow, the basic flow",)}
    assert [p[-1] for p in paths[GUEST]] == [role("AdminRole"), role("GuestRole")]
    without = iamlogic.loads((EXAMPLES / "cognito" / "world.iaml").read_text().replace("    classic_flow\n", ""))
    assert {(e.source, e.role) for e in role_reachability(without)[0]} == {
        (ALICE, role("CognitoAuthRole")), (DANA, role("DataRole")), (ERIN, role("CognitoAuthRole")),
        (GUEST, role("GuestRole"))}
    # the escalations' assume-role paths stay the users' and roles': the basic flow has its own technique
    assert not [f for f in escalations(world) if f.technique == "assume-role"]
