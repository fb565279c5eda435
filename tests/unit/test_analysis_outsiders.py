"""What an outside principal may claim, and what the analyses find of it: a wildcard condition on
the principal's organization, account or ARN opens a ``Principal *`` policy to other accounts;
``diff`` reports both directions of a change; a question's action is one action."""

from __future__ import annotations

import pytest

import iamlogic
from iamlogic.analysis import diff, new_access, who_can
from iamlogic.grammar.diagnostics import InvalidInput

WORLD = '''
organization "o-aaaa111111" {{
  management "mgmt"
  root "r-aaaa" {{ ou Work {{ account "prod" }} }}
}}
account 111111111111 "mgmt"
account 222222222222 "prod" {{
  user alice {{ policy P {{ allow s3:ListBucket on * }} }}
  resource "arn:aws:s3:::data-bucket" {{
    policy {{
      sid "Read" allow s3:GetObject on "arn:aws:s3:::data-bucket/*" principal * when {condition}
    }}
  }}
}}
'''
OLD = 'StringEquals aws:PrincipalOrgID "o-aaaa111111"'
OUTSIDER = "arn:aws:iam::999999999999:root"


def world(condition: str):
    return iamlogic.loads(WORLD.format(condition=condition), "w.iaml")


@pytest.mark.parametrize("condition", ['StringLike aws:PrincipalOrgID "o-*"',
                                       'Null aws:PrincipalOrgID "false"',
                                       'StringLike aws:PrincipalOrgID "*"',
                                       'StringLike aws:PrincipalAccount "3*"',
                                       'ArnLike aws:PrincipalArn "arn:aws:iam::*:role/deploy"'])
def test_diff_finds_outsiders_a_wildcard_condition_on_the_principal_lets_in(condition):
    granted = new_access(diff(world(OLD), world(condition), actions=["s3:GetObject"]))
    assert granted, condition
    assert all(not c.principal.startswith(("arn:aws:iam::111111111111", "arn:aws:iam::222222222222"))
               for c in granted)


def test_an_outside_account_of_an_analysis_cannot_claim_an_organization_of_the_world():
    w = world(OLD)
    found = who_can(w, "s3:GetObject", "arn:aws:s3:::data-bucket/k", {"aws:PrincipalOrgID": "o-aaaa111111"})
    assert [p for p, _ in found if p.startswith("arn:aws:iam::999999999999:")] == []
    # another organization is the outside account's to name
    other = world('StringEquals aws:PrincipalOrgID "o-partner999"')
    found = who_can(other, "s3:GetObject", "arn:aws:s3:::data-bucket/k", {"aws:PrincipalOrgID": "o-partner999"})
    assert OUTSIDER in [p for p, _ in found]
    # a question about one account the world does not declare may name any organization
    assert w.check(OUTSIDER, "s3:GetObject", "arn:aws:s3:::data-bucket/k", {"aws:PrincipalOrgID": "o-aaaa111111"}).allowed


def test_diff_reports_a_change_that_closes_and_opens_access_both_ways():
    vpce = '''
account 222222222222 "prod" {{
  user alice {{ policy P {{ allow s3:GetObject on * }} }}
  resource "arn:aws:s3:::b" {{
    policy {{ sid "OnlyVpce" deny s3:GetObject on "arn:aws:s3:::b/*" principal *
              when StringNotEquals aws:SourceVpce "{v}" }}
  }}
}}
'''
    old = iamlogic.loads(vpce.format(v="vpce-0aaa1111"), "old.iaml")
    new = iamlogic.loads(vpce.format(v="vpce-0bbb2222"), "new.iaml")
    changes = [c for c in diff(old, new, principals=["arn:aws:iam::222222222222:user/alice"],
                               actions=["s3:GetObject"], resources=["arn:aws:s3:::b/k"])]
    assert sorted((c.before, c.after) for c in changes) == [("Allow", "ExplicitDeny"), ("ExplicitDeny", "Allow")]
    assert dict(next(c for c in changes if c.grants).context) == {"aws:SourceVpce": "vpce-0bbb2222"}


@pytest.mark.parametrize("action", ["s3:Get*", "*", "s3"])
def test_who_can_and_diff_refuse_a_pattern_for_an_action(action):
    w = world(OLD)
    with pytest.raises(InvalidInput, match="E513"):
        who_can(w, action, "arn:aws:s3:::data-bucket/k")
    with pytest.raises(InvalidInput, match="E513"):
        diff(w, w, actions=[action])


def test_diff_refuses_an_action_the_catalog_does_not_know():
    w = world(OLD)
    with pytest.raises(InvalidInput, match="s3:GetObject"):
        diff(w, w, actions=["s3:GetObjects"])


def test_diff_finds_the_change_of_a_principal_tag_an_abac_policy_compares_both_ways():
    abac = '''
account 222222222222 "prod" {{
  user alice {{
    tags {{ Team = "{team}" }}
    policy Abac {{
      allow ec2:StartInstances on "arn:aws:ec2:*:222222222222:instance/*"
        when StringEquals aws:ResourceTag/Team "${{aws:PrincipalTag/Team}}"
    }}
  }}
}}
'''
    old = iamlogic.loads(abac.format(team="red"), "old.iaml")
    new = iamlogic.loads(abac.format(team="blue"), "new.iaml")
    found = {(c.before, c.after, dict(c.context).get("aws:ResourceTag/Team"))
             for c in diff(old, new, principals=["arn:aws:iam::222222222222:user/alice"])}
    assert found == {("Allow", "ImplicitDeny", "red"), ("ImplicitDeny", "Allow", "blue")}


def test_diff_varies_the_session_tags_a_role_session_may_carry():
    tagged = '''
account 222222222222 "prod" {{
  role App {{
    trust {{ allow sts:AssumeRole, sts:TagSession principal aws "222222222222" }}
    policy P {{ allow s3:GetObject on "arn:aws:s3:::team-bucket/*" }}
  }}
  resource "arn:aws:s3:::team-bucket" {{
    policy {{ sid "TeamOnly" deny s3:GetObject on "arn:aws:s3:::team-bucket/*" principal *
              when StringNotEquals aws:PrincipalTag/team "{team}" }}
  }}
}}
'''
    old = iamlogic.loads(tagged.format(team="data"), "old.iaml")
    new = iamlogic.loads(tagged.format(team="ops"), "new.iaml")
    granted = new_access(diff(old, new, actions=["s3:GetObject"]))
    assert any(dict(c.context).get("aws:PrincipalTag/team") == "ops" for c in granted)


@pytest.mark.parametrize("condition, context", [
    ('StringEqualsIgnoreCase aws:PrincipalOrgID "O-AAAA1111AA"', {"aws:PrincipalOrgID": "O-AAAA1111AA"}),
    ('ForAnyValue:StringLike aws:PrincipalOrgPaths "*o-aaaa1111aa/*"', {"aws:PrincipalOrgPaths": ["xo-aaaa1111aa/x"]})])
def test_an_outsider_does_not_get_in_by_another_spelling_of_the_worlds_organization(condition, context):
    ours = '''
organization "o-aaaa1111aa" {{
  management "mgmt"
  root "r-aaaa" {{ account "prod" }}
}}
account 111111111111 "mgmt"
account 222222222222 "prod" {{
  resource "arn:aws:s3:::b" {{ policy {{ sid "Org" allow s3:GetObject on "arn:aws:s3:::b/*" principal * when {condition} }} }}
}}
'''
    w = iamlogic.loads(ours.format(condition=condition), "w.iaml")
    found = who_can(w, "s3:GetObject", "arn:aws:s3:::b/k", context)
    assert not [p for p, _ in found if not p.startswith(("arn:aws:iam::111111111111", "arn:aws:iam::222222222222"))]


def test_diff_reports_removed_access_and_a_change_between_denials_apart():
    world = '''
account 111111111111 "a" {{
  user u {{ policy P {{ allow s3:GetObject on * {deny} }} }}
  resource "arn:aws:s3:::b"
}}
'''
    old = iamlogic.loads(world.format(deny='deny s3:GetObject on * when Bool aws:SecureTransport "false"'), "o.iaml")
    new = iamlogic.loads(world.format(deny='').replace("allow s3:GetObject on * ", "allow s3:ListBucket on * "),
                         "n.iaml")
    kinds = {(c.before, c.after) for c in diff(old, new, principals=["arn:aws:iam::111111111111:user/u"],
                                               actions=["s3:GetObject"], resources=["arn:aws:s3:::b/k"])}
    assert ("Allow", "ImplicitDeny") in kinds and ("ExplicitDeny", "ImplicitDeny") in kinds


@pytest.mark.parametrize("condition", ['Null aws:PrincipalOrgID "false"', 'StringLike aws:PrincipalOrgID "*"',
                                       'ForAnyValue:StringLike aws:PrincipalOrgPaths "*/r-ab12/*"'])
def test_an_outsider_in_any_organization_is_found_where_no_policy_names_one(condition):
    shared = '''
account 222222222222 "prod" {{
  resource "arn:aws:s3:::b" {{ policy {{ sid "Read" allow s3:GetObject on "arn:aws:s3:::b/*" {who} }} }}
}}
'''
    old = iamlogic.loads(shared.format(who='principal aws "222222222222"'), "old.iaml")
    new = iamlogic.loads(shared.format(who=f"principal * when {condition}"), "new.iaml")
    granted = new_access(diff(old, new, actions=["s3:GetObject"]))
    assert [c for c in granted if not c.principal.startswith("arn:aws:iam::222222222222:")], condition
