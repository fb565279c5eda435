"""Kind-aware validation: each check by code and span, the kind matrix, and quiet clean policies.
Also: every code the policy reader and validator can raise is listed in grammar/codes.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from iamlogic.catalog import Catalog
from iamlogic.grammar.ast import POLICY_KINDS, Policy, Principal, Statement
from iamlogic.grammar.codes import CODES
from iamlogic.grammar.json_policy import parse_policy_text
from iamlogic.validate import OPERATOR_FAMILIES, validate_policy

F = "v.json"
ROOT = Path(__file__).resolve().parents[2]


def check(statement: str, kind: str, version: str | None = "2012-10-17") -> list[tuple[str, int]]:
    """Validate a one-statement policy written on one line; ``(code, column)`` of each diagnostic."""
    head = "" if version is None else f'"Version": "{version}", '
    text = "{" + head + '"Statement": ' + statement + "}"
    policy, diags = parse_policy_text(text, F)
    assert not diags.has_errors(), diags.render({F: text})
    found = validate_policy(policy, kind)
    for d in found:
        assert d.span.file == F and d.span.line == 1
    return [(d.code, d.span.col) for d in found]


def col(statement: str, marker: str, nth: int = 1, version: str | None = "2012-10-17") -> int:
    """Column of the nth ``marker`` inside ``statement`` once placed in the document of :func:`check`."""
    head = "" if version is None else f'"Version": "{version}", '
    prefix = len("{" + head + '"Statement": ')
    pos = -1
    for _ in range(nth):
        pos = statement.index(marker, pos + 1)
    return prefix + pos + 1


def stmt(**elements) -> str:
    return json.dumps(elements)


ALLOW_S3 = dict(Effect="Allow", Action="s3:GetObject", Resource="arn:aws:s3:::bucket/*")


# ---------------------------------------------------------------------------------------------
# Principal / NotPrincipal by kind


@pytest.mark.parametrize("kind", ["identity", "boundary", "session"])
def test_principal_not_allowed_in_identity_kinds(kind):
    s = stmt(**ALLOW_S3, Principal={"AWS": "111122223333"})
    assert check(s, kind) == [("E204", col(s, '"111122223333"'))]
    s = stmt(Effect="Deny", NotPrincipal={"AWS": "111122223333"}, Action="s3:*", Resource="*")
    assert check(s, kind) == [("E204", col(s, '"111122223333"'))]


def test_principal_in_scp_has_its_own_code():
    s = stmt(Effect="Deny", Principal="*", Action="s3:*", Resource="*")
    assert check(s, "scp") == [("E205", col(s, '"*"'))]
    s = stmt(Effect="Deny", NotPrincipal={"AWS": "arn:aws:iam::111122223333:role/a"}, Action="s3:*", Resource="*")
    assert check(s, "scp") == [("E205", col(s, '"arn:'))]


@pytest.mark.parametrize("kind", ["resource", "trust", "key", "rcp"])
def test_principal_required(kind):
    s = stmt(Effect="Deny", Action="s3:*", Resource="*") if kind != "trust" else stmt(Effect="Allow",
                                                                                       Action="sts:AssumeRole")
    assert check(s, kind) == [("E206", col(s, "{"))]


def test_notprincipal_counts_as_principal_in_resource_policies():
    s = stmt(Effect="Deny", NotPrincipal={"AWS": "arn:aws:iam::111122223333:root"}, Action="s3:*", Resource="*")
    assert check(s, "resource") == []
    assert check(s, "key") == []


def test_notprincipal_with_allow_warns():
    s = stmt(Effect="Allow", NotPrincipal={"AWS": "arn:aws:iam::111122223333:root"}, Action="s3:GetObject",
             Resource="*")
    assert check(s, "resource") == [("W208", col(s, '"arn:'))]


def test_notprincipal_in_trust_policy():
    s = stmt(Effect="Allow", NotPrincipal={"AWS": "111122223333"}, Action="sts:AssumeRole")
    assert check(s, "trust") == [("E209", col(s, '"111122223333"'))]


@pytest.mark.parametrize(
    "principal, code, marker",
    [
        ({"AWS": "*"}, None, None),
        ({"AWS": "111122223333"}, None, None),
        ({"AWS": "AIDACKCEVSQ6C2EXAMPLE"}, None, None),
        ({"AWS": "arn:aws:iam::111122223333:role/path/r"}, None, None),
        ({"AWS": "arn:aws:sts::111122223333:assumed-role/r/session"}, None, None),
        ({"Service": "lambda.amazonaws.com"}, None, None),
        ({"Service": "ec2.amazonaws.com.cn"}, None, None),
        ({"Federated": "accounts.google.com"}, None, None),
        ({"Federated": "arn:aws:iam::111122223333:saml-provider/Okta"}, None, None),
        ({"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}, None, None),
        ({"AWS": "11112222333"}, "E225", '"1'),
        ({"AWS": "alice"}, "E225", '"alice"'),
        ({"AWS": "arn:aws:iam::*:root"}, "E225", '"arn'),
        ({"AWS": "arn:aws:iam::111122223333:user/a*"}, "E225", '"arn'),
        ({"AWS": "arn:aws:iam::111122223333"}, "E225", '"arn'),
        ({"AWS": "arn:aws:s3:::bucket"}, "E225", '"arn'),
        ({"AWS": "arn:aws:iam::${aws:PrincipalAccount}:root"}, "E225", '"arn'),
        ({"Federated": "arn:aws:iam::1:saml-provider/x"}, "E225", '"arn'),
        ({"CanonicalUser": "ABC"}, "E225", '"ABC"'),
        ({"Service": "ec2"}, "W226", '"ec2"'),
        ({"Service": "*"}, "W226", '"*"'),
    ],
)
def test_principal_values(principal, code, marker):
    s = stmt(Principal=principal, **ALLOW_S3)
    assert check(s, "resource") == ([] if code is None else [(code, col(s, marker))])


def test_rcp_principal_must_be_star():
    s = stmt(Effect="Deny", Principal={"AWS": ["*", "111122223333"]}, Action="s3:*", Resource="*")
    assert check(s, "rcp") == [("E217", col(s, '"111122223333"'))]
    s = stmt(Effect="Deny", Principal={"Service": "s3.amazonaws.com"}, Action="s3:*", Resource="*")
    assert check(s, "rcp") == [("E217", col(s, '"s3.amazonaws.com"'))]


# ---------------------------------------------------------------------------------------------
# Resource / NotResource


@pytest.mark.parametrize("kind", ["identity", "boundary", "session", "scp", "rcp", "resource", "key"])
def test_resource_required(kind):
    principal = {"Principal": "*"} if kind in ("resource", "key", "rcp") else {}
    s = stmt(Effect="Deny", **principal, Action="s3:GetObject")
    assert check(s, kind) == [("E207", col(s, "{"))]


def test_trust_policy_needs_no_resource_and_refuses_one():
    s = stmt(Effect="Allow", Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole")
    assert check(s, "trust") == []
    s = stmt(Effect="Allow", Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole",
             NotResource="arn:aws:iam::111122223333:role/x")
    assert check(s, "trust") == [("E221", col(s, "{"))]


@pytest.mark.parametrize(
    "resource, code",
    [
        ("*", None),
        ("arn:aws:s3:::bucket/${aws:username}/*", None),
        ("arn:aws:dynamodb:*:*:table/${aws:PrincipalTag/team}", None),
        ("arn:aws:s3::bucket", "E201"),
        ("arn:aws:s*:::bucket", "E201"),
        ("s3://bucket/key", "E201"),
        ("arn:aws:iam::${aws:PrincipalAccount}:user/x", "E202"),
        ("arn:${aws:partition}:s3:::x", "E202"),
    ],
)
def test_resource_values(resource, code):
    for element in ("Resource", "NotResource"):
        s = stmt(Effect="Deny", Action="s3:*", **{element: resource})
        # at the value itself
        assert check(s, "identity") == ([] if code is None else [(code, col(s, json.dumps(resource)))])


def test_resource_messages():
    policy, _ = parse_policy_text(json.dumps({"Version": "2012-10-17", "Statement": {
        "Effect": "Deny", "Action": "s3:*", "Resource": ["arn:aws:s*:::b", "arn:aws:iam::${x}:root"]}}), F)
    assert [(d.code, d.message) for d in validate_policy(policy, "identity")] == [
        ("E201", "malformed ARN in Resource \"arn:aws:s*:::b\": the service segment 's*' contains a wildcard; "
                 "wildcards are not allowed in the service segment of an ARN"),
        ("E202", "Resource \"arn:aws:iam::${x}:root\": policy variable '${x}' in the account segment; policy "
                 "variables are allowed only in the resource part of an ARN (after the fifth colon)"),
    ]


def test_key_policy_resource_is_star():
    s = stmt(Effect="Allow", Principal={"AWS": "111122223333"}, Action="kms:Decrypt", Resource="*")
    assert check(s, "key") == []
    s = stmt(Effect="Allow", Principal={"AWS": "111122223333"}, Action="kms:Decrypt",
             Resource="arn:aws:kms:us-east-1:111122223333:key/k")
    assert check(s, "key") == [("W228", col(s, '"arn:aws:kms'))]


# ---------------------------------------------------------------------------------------------
# Actions


@pytest.mark.parametrize(
    "actions, expected",
    [
        (["s3:GetObject", "S3:getobject", "s3:Get*", "s3:*", "*", "s*:GetObject", "ec2:Describe?mages"], []),
        (["s4:GetObject"], ["W210"]),
        (["s3:GetObjekt"], ["W211"]),
        (["s3:Nothing*"], ["W211"]),
        (["zz?:GetObject"], ["W211"]),  # a wildcard prefix that matches no action
    ],
)
def test_actions(actions, expected):
    # each at its action (the cases with a finding have one action)
    s = stmt(Effect="Allow", Action=actions, Resource="*")
    assert check(s, "identity") == [(code, col(s, json.dumps(actions[0]))) for code in expected]
    s = stmt(Effect="Deny", NotAction=actions, Resource="*")
    assert check(s, "identity") == [(code, col(s, json.dumps(actions[0]))) for code in expected]


def test_action_help_lines():
    policy, _ = parse_policy_text('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", '
                                  '"Action": ["s4:GetObject", "s3:GetObjekt"], "Resource": "*"}}', F)
    assert [(d.code, d.message, d.help) for d in validate_policy(policy, "identity")] == [
        ("W210", "unknown service prefix 's4' in action 's4:GetObject'", "did you mean 's3:GetObject'?"),
        ("W211", "action 's3:GetObjekt' is not a known action", "did you mean 's3:GetObject'?"),
    ]


def test_broad_allows():
    s = stmt(Effect="Allow", NotAction="iam:*", Resource="*")
    assert check(s, "identity") == [("W214", col(s, "{"))]
    s = stmt(Effect="Allow", Action="s3:*", NotResource="arn:aws:s3:::secret/*")
    assert check(s, "identity") == [("W215", col(s, "{"))]
    s = stmt(Effect="Deny", NotAction="iam:*", NotResource="arn:aws:s3:::secret/*")
    assert check(s, "identity") == []
    s = stmt(Effect="Allow", Action="*", Resource="*")
    assert check(s, "identity") == []  # full admin is a choice, not a mistake


# ---------------------------------------------------------------------------------------------
# Conditions


def cond(condition: dict, action="s3:GetObject", effect="Allow") -> str:
    return stmt(Effect=effect, Action=action, Resource="*", Condition=condition)


@pytest.mark.parametrize(
    "condition, action, code",
    [
        ({"StringEquals": {"aws:username": "a"}}, "s3:GetObject", None),
        ({"StringEquals": {"AWS:UserName": "a"}}, "s3:GetObject", None),
        ({"StringLike": {"s3:prefix": "home/*"}}, "s3:ListBucket", None),
        ({"StringEquals": {"aws:ResourceTag/Team": "x"}}, "ec2:StartInstances", None),
        ({"StringEquals": {"ec2:ResourceTag/Team": "x"}}, "ec2:StartInstances", None),
        ({"StringEquals": {"kms:ViaService": "x"}}, "*", None),  # every service: any known key fits
        ({"StringEquals": {"kms:ViaService": "x"}}, "s3:GetObject", "W212"),
        ({"StringEquals": {"aws:SourceIpp": "x"}}, "s3:GetObject", "W212"),
        ({"StringEquals": {"nosuchservice:key": "x"}}, "s3:GetObject", "W212"),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": "x"}}, "ec2:CreateTags", None),
        ({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": "x"}}, "dynamodb:GetItem", None),
        ({"ForAllValues:StringEquals": {"aws:username": "x"}}, "s3:GetObject", "W213"),
        ({"ForAnyValue:IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, "s3:GetObject", "W213"),
        ({"StringEquals": {"aws:TagKeys": "x"}}, "ec2:CreateTags", "W224"),
        ({"StringLike": {"aws:PrincipalOrgPaths": "o-1/*"}}, "s3:GetObject", "W224"),
        ({"Null": {"aws:TagKeys": "true"}}, "ec2:CreateTags", None),  # Null tests presence: no qualifier needed
    ],
)
def test_condition_keys(condition, action, code):
    s = cond(condition, action)
    (key,) = next(iter(condition.values()))
    assert check(s, "identity") == ([] if code is None else [(code, col(s, f'"{key}"'))])


def test_unknown_key_help_lines():
    policy, _ = parse_policy_text('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", '
                                  '"Resource": "*", "Condition": {"StringEquals": {"aws:SourceIpp": "x", '
                                  '"kms:ViaService": "y"}}}}', F)
    assert [(d.code, d.message, d.help) for d in validate_policy(policy, "identity")] == [
        ("W212", "unknown condition key 'aws:SourceIpp'", "did you mean 'aws:SourceIp'?"),
        ("W212", "condition key 'kms:ViaService' is not defined for the statement's services (s3)",
         "'kms:ViaService' belongs to kms"),
    ]


@pytest.mark.parametrize(
    "operator, key, value, ok",
    [
        ("Bool", "aws:SecureTransport", "true", True),
        ("Bool", "aws:SecureTransport", "False", True),
        ("BoolIfExists", "aws:MultiFactorAuthPresent", "yes", False),
        ("NumericLessThan", "aws:MultiFactorAuthAge", "3600", True),
        ("NumericLessThan", "aws:MultiFactorAuthAge", "-1.5", True),
        ("NumericLessThan", "aws:MultiFactorAuthAge", "1h", False),
        ("DateGreaterThan", "aws:CurrentTime", "2024-01-31T12:00:00Z", True),
        ("DateGreaterThan", "aws:CurrentTime", "2024-01-31T12:00+02:00", True),
        ("DateGreaterThan", "aws:CurrentTime", "2024-01-31", True),
        ("DateGreaterThan", "aws:CurrentTime", "1706702400", True),
        ("DateGreaterThan", "aws:CurrentTime", "2024-01-31 12:00", False),
        ("DateGreaterThan", "aws:CurrentTime", "yesterday", False),
        ("IpAddress", "aws:SourceIp", "203.0.113.0/24", True),
        ("IpAddress", "aws:SourceIp", "203.0.113.7", True),
        ("NotIpAddress", "aws:SourceIp", "2001:db8::/32", True),
        ("IpAddress", "aws:SourceIp", "203.0.113.0/33", False),
        ("IpAddress", "aws:SourceIp", "localhost", False),
        ("BinaryEquals", "aws:UserAgent", "QmluYXJ5", True),
        ("BinaryEquals", "aws:UserAgent", "Binary!", False),
        ("ArnLike", "aws:PrincipalArn", "arn:aws:iam::*:role/x", True),
        ("ArnEquals", "aws:SourceArn", "*", True),
        ("ArnLike", "aws:PrincipalArn", "role/x", False),
        ("Null", "aws:TokenIssueTime", "true", True),
        ("Null", "aws:TokenIssueTime", "absent", False),
        ("StringLike", "aws:username", "anything at all", True),
    ],
)
def test_condition_value_types(operator, key, value, ok):
    s = cond({operator: {key: value}})
    assert check(s, "identity") == ([] if ok else [("W218", col(s, f'"{key}"'))])


def test_wildcard_without_like():
    s = cond({"StringEquals": {"aws:PrincipalTag/team": ["dev", "ops-*"]}})
    assert check(s, "identity") == [("W219", col(s, '"aws:PrincipalTag'))]
    for operator in ("StringNotEqualsIgnoreCase", "StringEqualsIfExists", "ForAnyValue:StringNotEquals"):
        key = "aws:TagKeys" if operator.startswith("For") else "aws:username"
        s = cond({operator: {key: "a*"}}, action="ec2:CreateTags")
        assert [c for c, _ in check(s, "identity")] == ["W219"], operator
    for ok in ({"StringLike": {"aws:username": "a*"}}, {"StringEquals": {"aws:username": "${*}"}},
               {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"}}):
        assert check(cond(ok), "identity") == []


@pytest.mark.parametrize(
    "operator, key, ok",
    [
        ("StringEquals", "aws:username", True),
        ("StringNotLikeIfExists", "aws:username", True),
        ("ArnLike", "aws:PrincipalArn", True),
        ("NumericLessThan", "aws:MultiFactorAuthAge", False),
        ("DateLessThan", "aws:CurrentTime", False),
        ("Bool", "aws:SecureTransport", False),
        ("IpAddress", "aws:SourceIp", False),
        ("BinaryEquals", "aws:UserAgent", False),
        ("Null", "aws:username", False),
    ],
)
def test_policy_variables_in_condition_values(operator, key, ok):
    s = cond({operator: {key: "${aws:PrincipalTag/x}"}})
    assert check(s, "identity") == ([] if ok else [("E203", col(s, f'"{key}"'))])


def test_variables_are_literal_without_2012_version():
    for version in (None, "2008-10-17"):
        s = stmt(Effect="Allow", Action="s3:GetObject", Resource="arn:aws:s3:::home/${aws:username}/*")
        assert check(s, "identity", version) == [("W227", col(s, "{", version=version))]
        s = cond({"NumericLessThan": {"aws:MultiFactorAuthAge": "${x}"}})
        found = check(s, "identity", version)
        assert [c for c, _ in found] == ["W218", "W227"]  # a literal "${x}" is not a number
    assert check(stmt(**ALLOW_S3), "identity", None) == []


def test_every_operator_has_a_family():
    from iamlogic.grammar.json_policy import BASE_OPERATORS
    assert set(OPERATOR_FAMILIES) == set(BASE_OPERATORS)


# ---------------------------------------------------------------------------------------------
# RCPs


def test_rcp_full_access_is_the_only_allow():
    assert check(stmt(Effect="Allow", Principal="*", Action="*", Resource="*"), "rcp") == []
    assert check(stmt(Effect="Allow", Action="*", Resource="*"), "rcp") == [("E206", col("{}", "{"))]
    for other in (dict(Action="s3:*", Resource="*"), dict(Action="*", Resource="arn:aws:s3:::b"),
                  dict(Action="*", Resource="*", Condition={"Bool": {"aws:SecureTransport": "true"}})):
        s = stmt(Effect="Allow", Principal="*", **other)
        assert check(s, "rcp") == [("E216", col(s, "{"))], other


def test_rcp_elements():
    s = stmt(Effect="Deny", Principal="*", Action="*", Resource="*")
    assert check(s, "rcp") == [("E222", col(s, "{"))]
    s = stmt(Effect="Deny", Principal="*", NotAction="s3:GetObject", Resource="*")
    assert check(s, "rcp") == [("E220", col(s, "{"))]
    s = stmt(Effect="Deny", Principal="*", Action="s3:*", Resource="*",
             Condition={"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-123"},
                        "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}})
    assert check(s, "rcp") == []


def test_rcp_version():
    s = stmt(Effect="Deny", Principal="*", Action="s3:*", Resource="*")
    assert check(s, "rcp", version="2008-10-17") == [("E223", 1)]


# ---------------------------------------------------------------------------------------------
# API


def test_unknown_kind():
    policy = Policy((Statement("Allow", action=("*",), resource=("*",)),))
    assert [(d.code, d.message) for d in validate_policy(policy, "bucket")] == [("E200", "unknown policy kind 'bucket'")]


def test_policies_built_without_spans():
    policy = Policy((Statement("Allow", action=("s3:Nope",), resource=("arn:aws:s3::x",),
                               principal=(Principal("AWS", "*"),)),))
    found = validate_policy(policy, "identity")
    assert [d.code for d in found] == ["E204", "E201", "W211"]
    assert all(d.span is None for d in found)


def test_custom_catalog():
    tiny = Catalog({"s3": {"privileges": {"GetObject": {"resource_types": {}}}, "resources": {}, "conditions": {}}})
    policy = Policy((Statement("Allow", action=("s3:GetObject", "ec2:RunInstances"), resource=("*",)),))
    assert [d.code for d in validate_policy(policy, "identity", catalog=tiny)] == ["W210"]


@pytest.mark.parametrize("kind", POLICY_KINDS)
def test_clean_policies_by_kind(kind):
    statements = {
        "identity": stmt(**ALLOW_S3),
        "boundary": stmt(Effect="Allow", Action=["s3:*", "cloudwatch:*"], Resource="*"),
        "session": stmt(Effect="Allow", Action="s3:ListBucket", Resource="arn:aws:s3:::b",
                        Condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}),
        "scp": stmt(Effect="Deny", Action="organizations:LeaveOrganization", Resource="*"),
        "rcp": stmt(Effect="Deny", Principal="*", Action="sts:AssumeRole", Resource="*",
                    Condition={"StringNotEqualsIfExists": {"aws:PrincipalOrgID": "o-123"}}),
        "resource": stmt(**ALLOW_S3, Principal={"AWS": "arn:aws:iam::111122223333:root"}),
        "trust": stmt(Effect="Allow", Principal={"AWS": "arn:aws:iam::111122223333:root"}, Action="sts:AssumeRole",
                      Condition={"StringEquals": {"sts:ExternalId": "x"}, "Bool": {"aws:MultiFactorAuthPresent": True}}),
        "key": stmt(Effect="Allow", Principal={"AWS": "111122223333"}, Action="kms:*", Resource="*"),
    }
    assert check(statements[kind], kind) == []


# ---------------------------------------------------------------------------------------------
# Codes


MODULES = ["grammar/json_policy.py", "grammar/arn.py", "logic/catalog.py", "logic/validate.py",
           "grammar/world.py", "logic/world.py", "logic/evaluate.py", "logic/matching.py", "logic/cli.py",
           "logic/simulate.py", "grammar/gaad.py"]


def test_every_code_raised_is_documented():
    raised: set[str] = set()
    for module in MODULES:
        raised.update(re.findall(r"""["']([EW][0-9]{3})["']""", (ROOT / module).read_text(encoding="utf-8")))
    assert raised, "no code literals found: has the code style changed?"
    assert raised <= set(CODES), f"codes raised but not in grammar/codes.py: {sorted(raised - set(CODES))}"
    assert set(CODES) <= raised, f"codes documented but never raised: {sorted(set(CODES) - raised)}"


def test_codes_are_in_their_ranges():
    for code, meaning in CODES.items():
        assert re.fullmatch(r"[EW][0-359][0-9]{2}", code), code
        assert meaning.strip(), code
