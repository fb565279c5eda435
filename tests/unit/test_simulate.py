"""``iamlogic simulate-custom-policy`` and ``simulate-principal-policy``: AWS-shaped results, offline.

Each simulation builds a world (about a second), so every test asks several questions at once.
"""

from __future__ import annotations

import json

import pytest

from iamlogic.cli import main
from iamlogic import InvalidInput
from iamlogic.simulate import parse_caller, parse_context_entries, parse_tags

from ..conftest import EXAMPLES

ACCT, OTHER = "111122223333", "444455556666"
ALICE = f"arn:aws:iam::{ACCT}:user/alice"


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def simulate(capsys, *argv: str, command: str = "simulate-custom-policy"):
    code = main([command, *argv])
    out, err = capsys.readouterr()
    data = json.loads(out) if out.startswith("{") else None
    return code, data, out, err


def by_action(data) -> dict[str, dict]:
    return {r["EvalActionName"]: r for r in data["EvaluationResults"]}


def per_resource(result) -> dict[str, str]:
    return {r["EvalResourceName"]: r["EvalResourceDecision"] for r in result["ResourceSpecificResults"]}


IDENTITY = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ReadBucket",
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::b/*"
    },
    {
      "Sid": "NoSecrets",
      "Effect": "Deny",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::b/secret"
    },
    {
      "Sid": "TaggedPut",
      "Effect": "Allow",
      "Action": "s3:PutObject",
      "Resource": "*",
      "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]},
                    "Bool": {"aws:MultiFactorAuthPresent": "true"}}
    }
  ]
}
"""


def test_identity_allow_deny_implicit_on_several_resources(tmp_path, capsys):
    policy = tmp_path / "identity.json"
    policy.write_text(IDENTITY)
    code, data, _, _ = simulate(
        capsys, "--policy-input-list", f"file://{policy}", "--caller-arn", ALICE,
        "--action-names", "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
        "--resource-arns", "arn:aws:s3:::b/public", "arn:aws:s3:::b/secret",
        # shorthand: a multivalued key without a type (the catalog says ArrayOfString), a typed boolean
        "--context-entries", "ContextKeyName=aws:TagKeys,ContextKeyValues=team,env",
        "ContextKeyName='aws:MultiFactorAuthPresent',ContextKeyValues='true',ContextKeyType=boolean")
    assert code == 2
    results = by_action(data)
    assert list(results) == ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]

    get = results["s3:GetObject"]
    # one result per action: the most restrictive decision on top, each resource's below
    assert get["EvalDecision"] == "explicitDeny" and get["EvalResourceName"] == "arn:aws:s3:::b/secret"
    assert per_resource(get) == {"arn:aws:s3:::b/public": "allowed", "arn:aws:s3:::b/secret": "explicitDeny"}
    assert get["MatchedStatements"] == [{
        "SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "IAM Policy",
        "StartPosition": {"Line": 10, "Column": 5}, "EndPosition": {"Line": 15, "Column": 6},
        "Sid": "NoSecrets", "SourceFile": str(policy)}]
    public = get["ResourceSpecificResults"][0]
    assert [(m["Sid"], m["StartPosition"]["Line"]) for m in public["MatchedStatements"]] == [("ReadBucket", 4)]
    assert get["EvalDecisionDetails"] == {}  # same account, resources given: present and empty
    assert "OrganizationsDecisionDetail" not in get and "PermissionsBoundaryDecisionDetail" not in get

    put = results["s3:PutObject"]  # "env", the second of the two tag keys: the values are a list
    assert put["EvalDecision"] == "allowed"
    assert [m["Sid"] for m in put["MatchedStatements"]] == ["TaggedPut"]

    delete = results["s3:DeleteObject"]
    assert delete["EvalDecision"] == "implicitDeny" and delete["MatchedStatements"] == []
    assert set(per_resource(delete).values()) == {"implicitDeny"}


def test_the_aws_cli_example_without_caller_or_resources(capsys):
    # The example of the AWS CLI reference for simulate-custom-policy, with a missing key added.
    policy = ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",'
              '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}')
    guarded = doc(allow("dynamodb:DeleteTable", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    code, data, _, _ = simulate(capsys, "--policy-input-list", policy, guarded,
                                "--action-names", "dynamodb:CreateBackup", "dynamodb:DeleteTable",
                                "--context-entries", "ContextKeyName='aws:CurrentTime',"
                                "ContextKeyValues='2019-04-25T11:00:00Z',ContextKeyType=date")
    assert code == 0
    backup, delete = data["EvaluationResults"]
    assert backup == {
        "EvalActionName": "dynamodb:CreateBackup", "EvalResourceName": "*", "EvalDecision": "allowed",
        "MatchedStatements": [{"SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "IAM Policy",
                               "StartPosition": {"Line": 1, "Column": 37},
                               "EndPosition": {"Line": 1, "Column": 167}}],
        "MissingContextValues": []}
    # dynamodb:* of the first policy allows DeleteTable; the second one looked for aws:SourceIp
    assert delete["EvalDecision"] == "allowed" and delete["MissingContextValues"] == ["aws:SourceIp"]
    assert "ResourceSpecificResults" not in delete and "EvalDecisionDetails" not in delete


def test_role_session_with_boundary_and_session_policy(capsys):
    role = f"arn:aws:iam::{ACCT}:role/ci/Deployer"
    code, data, _, _ = simulate(
        capsys, "--caller-arn", f"arn:aws:sts::{ACCT}:assumed-role/Deployer/build-42", "--caller-role-arn", role,
        "--policy-input-list", doc(allow(["s3:*", "sqs:*"])),
        "--permissions-boundary-policy-input-list",
        doc(allow("s3:*", Condition={"StringEquals": {"aws:PrincipalArn": role}})),  # the role's path counts
        "--session-policy", doc(allow(["s3:GetObject", "sqs:SendMessage"], Sid="OnlyGet")),
        "--action-names", "s3:GetObject", "s3:PutObject", "sqs:SendMessage")
    assert code == 2
    results = by_action(data)
    get = results["s3:GetObject"]
    assert get["EvalDecision"] == "allowed"
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in get["MatchedStatements"]] == [
        ("PolicyInputList.1", "IAM Policy"),
        ("PermissionsBoundaryPolicyInputList.1", "Permissions Boundary Policy"),
        ("SessionPolicy", "Session Policy")]
    assert get["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    put = results["s3:PutObject"]  # the session policy does not allow it
    assert put["EvalDecision"] == "implicitDeny"
    assert put["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    send = results["sqs:SendMessage"]  # the boundary does not allow it
    assert send["EvalDecision"] == "implicitDeny"
    assert send["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_resource_policy_same_account_and_cross_account(capsys):
    same, cross = f"arn:aws:sqs:us-east-1:{ACCT}:jobs", f"arn:aws:sqs:us-east-1:{OTHER}:jobs"
    code, data, _, _ = simulate(
        capsys, "--caller-arn", ALICE, "--policy-input-list", doc(allow("sqs:ListQueues")),
        "--resource-arns", same, cross,
        "--resource-policy", doc({"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "sqs:SendMessage",
                                  "Resource": "*"}),
        "--action-names", "sqs:SendMessage")
    assert code == 2
    (result,) = data["EvaluationResults"]
    # same account: the resource policy naming the user allows without an identity policy;
    # cross-account: the identity side must allow too
    assert per_resource(result) == {same: "allowed", cross: "implicitDeny"}
    assert result["EvalDecision"] == "implicitDeny" and result["EvalResourceName"] == cross
    assert result["EvalDecisionDetails"] == {"IAM Policy": "implicitDeny", "Resource Policy": "allowed"}
    same_result, cross_result = result["ResourceSpecificResults"]
    assert "EvalDecisionDetails" not in same_result  # returned only for cross-account simulations
    assert cross_result["EvalDecisionDetails"] == {"IAM Policy": "implicitDeny", "Resource Policy": "allowed"}
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in same_result["MatchedStatements"]] == [
        ("ResourcePolicy", "Resource Policy")]


def test_cross_account_with_resource_owner(capsys):
    obj = "arn:aws:s3:::their-bucket/report.csv"  # an S3 ARN names no account: --resource-owner does
    code, data, _, _ = simulate(
        capsys, "--caller-arn", ALICE, "--policy-input-list", doc(allow("s3:*")),
        "--resource-owner", f"arn:aws:iam::{OTHER}:root", "--resource-arns", obj,
        "--resource-policy", doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"},
                                  "Action": "s3:GetObject", "Resource": "arn:aws:s3:::their-bucket/*"}),
        "--action-names", "s3:GetObject", "s3:PutObject")
    assert code == 2
    results = by_action(data)
    assert results["s3:GetObject"]["EvalDecision"] == "allowed"
    assert results["s3:GetObject"]["EvalDecisionDetails"] == {"IAM Policy": "allowed", "Resource Policy": "allowed"}
    assert [m["SourcePolicyType"] for m in results["s3:GetObject"]["MatchedStatements"]] == [
        "IAM Policy", "Resource Policy"]
    assert results["s3:PutObject"]["EvalDecision"] == "implicitDeny"
    assert results["s3:PutObject"]["EvalDecisionDetails"] == {"IAM Policy": "allowed",
                                                              "Resource Policy": "implicitDeny"}


FULL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
DENY_ALL = {"Version": "2012-10-17",
            "Statement": [{"Sid": "DenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}]}


def test_root_caller_and_an_empty_scp_level(capsys):
    # root, an OU with no SCP at all, the account: FullAWSAccess is detached, so the empty OU level
    # denies everything, the member account's root user included
    levels = json.dumps([[FULL], [], [FULL]])
    code, data, _, _ = simulate(capsys, "--caller-arn", f"arn:aws:iam::{ACCT}:root", "--scp-levels", levels,
                                "--action-names", "s3:GetObject")
    assert code == 2
    (result,) = data["EvaluationResults"]
    assert result["EvalDecision"] == "implicitDeny" and result["MatchedStatements"] == []
    assert result["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}


def test_management_account_is_not_filtered_by_scps(capsys):
    code, data, _, _ = simulate(
        capsys, "--caller-arn", f"arn:aws:iam::{ACCT}:user/admin", "--management-account",
        "--caller-org-id", "o-abcdefghij1", "--scp-levels", json.dumps([[DENY_ALL], []]),
        "--policy-input-list", doc(allow("s3:*", Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij1"}})),
        "--action-names", "s3:GetObject")
    assert code == 0
    (result,) = data["EvaluationResults"]
    assert result["EvalDecision"] == "allowed"
    assert result["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}


def test_service_principal_with_rcp_levels_and_json_context(capsys):
    rcp = {"Version": "2012-10-17", "Statement": [{
        "Sid": "OnlyOurAccount", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*",
        "Condition": {"StringNotEqualsIfExists": {"aws:SourceAccount": ACCT}}}]}
    code, data, _, _ = simulate(
        capsys, "--caller-arn", "cloudtrail.amazonaws.com", "--resource-owner", ACCT,
        "--resource-arns", "arn:aws:s3:::trail/AWSLogs/x",
        "--resource-policy", doc({"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                  "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::trail/*"}),
        "--rcp-levels", json.dumps([[rcp], []]),
        "--context-entries", json.dumps([{"ContextKeyName": "aws:SourceAccount", "ContextKeyValues": [OTHER],
                                          "ContextKeyType": "string"}]),
        "--action-names", "s3:GetObject", "s3:PutObject")
    assert code == 2
    results = by_action(data)
    assert results["s3:GetObject"]["EvalDecision"] == "allowed"
    assert results["s3:GetObject"]["ResourceControlPolicyDecisionDetail"] == {"AllowedByResourceControlPolicies": True}
    put = results["s3:PutObject"]
    assert put["EvalDecision"] == "explicitDeny"
    # a document inside --rcp-levels has no text of its own: no positions
    assert put["MatchedStatements"] == [{"SourcePolicyId": "RcpLevels.1.1", "SourcePolicyType": "RCP",
                                         "Sid": "OnlyOurAccount"}]
    assert put["ResourceControlPolicyDecisionDetail"] == {"AllowedByResourceControlPolicies": False}


def test_anonymous_caller_resource_tags_and_untyped_json_context(capsys):
    code, data, _, _ = simulate(
        capsys, "--caller-arn", "anonymous", "--resource-arns", "arn:aws:s3:::public-site/index.html",
        "--resource-tags", "Key=public,Value=yes",
        "--resource-policy", doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
                                  "Condition": {"StringEquals": {"s3:ExistingObjectTag/public": "yes"},
                                                "Bool": {"aws:SecureTransport": "true"}}}),
        "--context-entries", '[{"ContextKeyName": "aws:SecureTransport", "ContextKeyValues": ["TRUE"]}]',
        "--action-names", "s3:GetObject", "s3:PutObject")
    assert code == 2
    results = by_action(data)
    assert results["s3:GetObject"]["EvalDecision"] == "allowed"
    assert results["s3:PutObject"]["EvalDecision"] == "implicitDeny"
    assert "OrganizationsDecisionDetail" not in results["s3:GetObject"]


def test_service_linked_role_is_not_filtered_by_scps(capsys):
    code, data, _, err = simulate(
        capsys, "--caller-arn", f"arn:aws:iam::{ACCT}:role/aws-service-role/AWSServiceRoleForX",
        "--service-linked-role", "--caller-tags", "Key=team,Value=red", "--scp-levels", json.dumps([[DENY_ALL], []]),
        "--policy-input-list", doc(allow("s3:*", Condition={"StringEquals": {"aws:PrincipalTag/team": "red"}})),
        "--action-names", "s3:GetObject")
    assert code == 0, err
    (result,) = data["EvaluationResults"]
    assert result["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert "a role acts through a session" in err


def test_federated_user_gets_the_intersection_with_its_session_policy(capsys):
    code, data, _, _ = simulate(
        capsys, "--caller-arn", f"arn:aws:sts::{ACCT}:federated-user/bob",
        "--federating-user-arn", f"arn:aws:iam::{ACCT}:user/ops/bob", "--policy-input-list", doc(allow("s3:*")),
        "--session-policy", doc(allow("s3:GetObject")), "--action-names", "s3:GetObject", "s3:PutObject")
    assert code == 2
    results = by_action(data)
    assert results["s3:GetObject"]["EvalDecision"] == "allowed"
    assert results["s3:PutObject"]["EvalDecision"] == "implicitDeny"


def test_principal_policy_on_the_example_organization(capsys):
    world = str(EXAMPLES / "organization" / "world.iaml")
    code, data, _, _ = simulate(
        capsys, world, "--policy-source-arn", "arn:aws:iam::222222222222:user/analytics/alice",
        "--action-names", "s3:GetObject", "redshift:DescribeClusters", "lambda:ListFunctions",
        "--resource-arns", "arn:aws:s3:::reports-a/q1.csv", command="simulate-principal-policy")
    assert code == 2
    results = by_action(data)
    get = results["s3:GetObject"]
    assert get["EvalDecision"] == "allowed"
    assert {(m["SourcePolicyId"], m["SourcePolicyType"]) for m in get["MatchedStatements"]} == {
        ("ReadOnlyAnalytics", "IAM Policy"), ("arn:aws:s3:::reports-a policy", "Resource Policy")}
    redshift = results["redshift:DescribeClusters"]  # the group allows it, the Analytics OU's SCP denies it
    assert redshift["EvalDecision"] == "explicitDeny"
    (stmt,) = redshift["MatchedStatements"]
    assert stmt["SourcePolicyId"] == "DenyRedshift" and stmt["SourcePolicyType"] == "SCP"
    assert stmt["SourceFile"].endswith("world.iaml") and stmt["StartPosition"] == {"Line": 15, "Column": 5}
    assert redshift["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
    assert results["lambda:ListFunctions"]["EvalDecision"] == "implicitDeny"


def test_principal_policy_role_as_text(capsys):
    world = str(EXAMPLES / "organization" / "world.iaml")
    code, _, out, _ = simulate(
        capsys, world, "--policy-source-arn", "arn:aws:iam::333333333333:role/Deployer",
        "--action-names", "lambda:ListFunctions", "s3:ListAllMyBuckets", "--output", "text",
        command="simulate-principal-policy")
    assert code == 2
    lines = out.splitlines()
    assert lines[0].split() == ["ACTION", "RESOURCE", "DECISION"]
    assert any(line.split()[:3] == ["lambda:ListFunctions", "*", "explicitDeny"] for line in lines)
    assert any(line.split()[:3] == ["s3:ListAllMyBuckets", "*", "allowed"] for line in lines)
    assert any("DenyLambda (SCP)" in line and "deny-lambda.scp.json:4:5" in line for line in lines)


# -- invalid and unsupported input: exit 3, before any world is built ------------------------


def test_an_invalid_policy_exits_3_with_diagnostics(capsys):
    bad = doc(allow("s3:GetObject", Condition={"StringEqual": {"aws:username": "a"}}))
    code, _, out, err = simulate(capsys, "--policy-input-list", bad, "--action-names", "s3:GetObject")
    assert code == 3 and out == ""
    assert "PolicyInputList.1:1:" in err and "E104" in err and "did you mean 'StringEquals'?" in err
    # an SCP is validated as an SCP: no Principal
    scp = {"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}
    code, _, _, err = simulate(capsys, "--policy-input-list", doc(allow("s3:*")), "--action-names", "s3:GetObject",
                               "--scp-levels", json.dumps([[scp], []]))
    assert code == 3 and "ScpLevels.1.1" in err and "E205" in err


@pytest.mark.parametrize("argv, message", [
    (["--caller-arn", "anonymous", "--policy-input-list", doc(allow("s3:*"))], "unsupported: --policy-input-list"),
    (["--caller-arn", "events.amazonaws.com", "--scp-levels", json.dumps([[FULL], [FULL]])],
     "unsupported: --scp-levels"),
    (["--caller-arn", ALICE, "--session-policy", doc(allow("s3:*"))], "unsupported: --session-policy"),
    (["--caller-arn", ALICE, "--resource-policy", doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                                                       "Resource": "*"})], "unsupported: --resource-policy"),
    (["--caller-arn", ALICE, "--resource-arns", "arn:aws:s3:::b/k", f"arn:aws:sqs:us-east-1:{OTHER}:q",
      "--resource-owner", ACCT, "--resource-policy", doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                                                          "Resource": "*"})], "unsupported: --resource-owner"),
    (["--caller-arn", ALICE, "--resource-owner", OTHER, "--resource-arns", f"arn:aws:sqs:us-east-1:{ACCT}:q"],
     "every resource ARN given names its account"),
    (["--caller-arn", ALICE, "--resource-handling-option", "ec2-vpc-instance"],
     "unsupported: --resource-handling-option"),
    (["--resource-arns", f"arn:aws:sqs:us-east-1:{ACCT}:a", f"arn:aws:sqs:us-east-1:{OTHER}:b"],
     "unsupported: the resources name several accounts"),
    (["--caller-arn", ALICE, "--scp-levels", json.dumps([[FULL], [FULL]]), "--rcp-levels",
      json.dumps([[], [], []])], "unsupported: --scp-levels has 2 levels and --rcp-levels 3"),
    (["--caller-arn", f"arn:aws:iam::{ACCT}:group/admins"], "a group is not a principal"),
    (["--caller-arn", f"arn:aws:sts::{ACCT}:federated-user/bob"], "needs --federating-user-arn"),
    (["--permissions-boundary-policy-input-list", doc(allow("s3:*")), doc(allow("s3:*"))], "one permissions boundary"),
    (["--resource-policy", doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
      "--resource-arns", "arn:aws:s3:::b/k"], "--resource-policy needs --caller-arn"),
    (["--scp-levels", json.dumps([[FULL]])], "give the root and the account at least"),
    (["--caller-org-id", "org-1"], "is not an organization id"),
    (["--context-entries", "ContextKeyName=aws:SourceIp,ContextKeyValues=1.2.3.4,5.6.7.8"],
     "single-valued"),
])
def test_unsupported_or_invalid_options_exit_3(capsys, argv, message):
    if "--action-names" not in argv:
        argv = [*argv, "--action-names", "s3:GetObject"]
    code, _, out, err = simulate(capsys, *argv)
    assert code == 3, out + err
    assert message in err


def test_action_patterns_and_group_sources_are_refused(capsys):
    code, _, _, err = simulate(capsys, "--policy-input-list", doc(allow("s3:*")), "--action-names", "s3:Get*")
    assert code == 3 and "not patterns" in err
    code, _, _, err = simulate(capsys, str(EXAMPLES / "organization" / "world.iaml"), "--policy-source-arn",
                               "arn:aws:iam::222222222222:group/analysts", "--action-names", "s3:GetObject",
                               command="simulate-principal-policy")
    assert code == 3 and "unsupported: group policy source" in err


def test_a_context_entry_contradicting_the_caller_is_refused(capsys):
    code, _, _, err = simulate(capsys, "--caller-arn", ALICE, "--policy-input-list", doc(allow("s3:*")),
                               "--action-names", "s3:GetObject",
                               "--context-entries", "ContextKeyName=aws:username,ContextKeyValues=bob")
    assert code == 3
    assert "unsupported: context entry aws:username=bob contradicts" in err and "alice" in err


# -- the option readers, without worlds --------------------------------------------------------


def test_context_entries_shorthand_json_and_types():
    ctx = parse_context_entries([
        "ContextKeyName=aws:TagKeys,ContextKeyValues=a,b",  # catalog: ArrayOfString
        "ContextKeyName=aws:MultiFactorAuthPresent,ContextKeyValues=True",  # catalog: Bool, normalized
        "ContextKeyName=my:key,ContextKeyValues=[x,'y,z']",  # unknown key, several values: a list
        "ContextKeyName=my:one,ContextKeyValues=v",  # unknown key, one value: a string
        "ContextKeyName=my:list,ContextKeyValues=v,ContextKeyType=stringList",
        '[{"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1"], "ContextKeyType": "ip"},'
        ' {"ContextKeyName": "aws:PrincipalTag/team", "ContextKeyValues": ["red"]}]',
    ])
    assert ctx == {"aws:TagKeys": ["a", "b"], "aws:MultiFactorAuthPresent": "true", "my:key": ["x", "y,z"],
                   "my:one": "v", "my:list": ["v"], "aws:SourceIp": "10.0.0.1", "aws:PrincipalTag/team": "red"}


@pytest.mark.parametrize("entry, message", [
    ("ContextKeyName=aws:SourceIp,ContextKeyValues=not-an-ip,ContextKeyType=ip", "not an IP address"),
    ("ContextKeyName=k:x,ContextKeyValues=a,ContextKeyType=strin", "did you mean 'string'?"),
    ("ContextKeyName=k:x,ContextKeyValues=a,b,ContextKeyType=string", "use ContextKeyType=stringList"),
    ("ContextKeyNam=k:x,ContextKeyValues=a", "did you mean 'ContextKeyName'?"),
    ("ContextKeyName=k:x,ContextKeyValues=5,ContextKeyTyp=numeric", "did you mean 'ContextKeyType'?"),  # not a value
    ("ContextKeyName=k:x", "has no ContextKeyValues"),
    ('[{"ContextKeyName": "k:x", "ContextKeyValues": ["1"], "Type": "numeric"}]', "unknown field 'Type'"),
])
def test_context_entry_errors(entry, message):
    from iamlogic import InvalidInput

    with pytest.raises(InvalidInput) as exc:
        parse_context_entries([entry])
    assert message in exc.value.render()


def test_callers_and_tags():
    assert (parse_caller("arn:aws:iam::111122223333:user/division/alice").path, parse_caller(ALICE).kind) == (
        "/division/", "user")
    s = parse_caller("arn:aws:sts::111122223333:assumed-role/R/sess")
    assert (s.kind, s.name, s.session) == ("session", "R", "sess")
    assert parse_caller("111122223333").arn == "arn:aws:iam::111122223333:root"
    assert parse_caller("events.amazonaws.com").kind == "service"
    assert parse_caller("anonymous").kind == "anonymous"
    assert parse_tags(["Key=team,Value=red", '[{"Key": "env", "Value": "a,b"}]'], "--caller-tags") == {
        "team": "red", "env": "a,b"}


@pytest.mark.parametrize("item", ["Key=a,Value=b,Key=c", "Key=a,Value=b,Value=c", "Key=a,Value=x,Key=a,Value=b",
                                  "Key=a", "Value=b", "Key=a,Value=b Key=c,Value=d", "Key=a,Valu=b", "Key=,Value=b",
                                  '[{"Key": null, "Value": true}]', '[{"Key": ["x"], "Value": {"a": 1}}]',
                                  '[{"Key": "a", "Value": 1}]'])
def test_a_tag_is_exactly_one_key_and_one_value(item):
    with pytest.raises(InvalidInput) as exc:
        parse_tags([item], "--caller-tags")
    assert exc.value.diagnostics[0].code == "E511" and "--caller-tags" in exc.value.diagnostics[0].message


def test_tags_in_shorthand_are_one_an_item(capsys):
    assert parse_tags(["Key=a,Value=b", "Value=d,Key=c", 'Key=e,Value="f,Key=g"', "Key=h,Value="],
                      "--caller-tags") == {"a": "b", "c": "d", "e": "f,Key=g", "h": ""}
    policy = doc(allow("s3:*"), deny("s3:*", Condition={"StringEquals": {"aws:PrincipalTag/a": "b"}}))
    code, _, _, err = simulate(capsys, "--policy-input-list", policy, "--action-names", "s3:GetObject",
                               "--caller-arn", ALICE, "--caller-tags", "Key=a,Value=b,Key=c")
    assert code == 3 and "E511" in err and "is not Key=K,Value=V" in err


def test_a_principal_tag_context_entry_is_a_tag_of_the_caller(capsys):
    """AWS's simulator gives a context entry to every condition that reads its key."""
    policy = doc(allow("s3:GetObject", Condition={"StringEquals": {"aws:PrincipalTag/team": "a"}}))
    args = ("--policy-input-list", policy, "--action-names", "s3:GetObject", "--context-entries")
    for caller in ((), ("--caller-arn", f"arn:aws:iam::{ACCT}:role/R"),
                   ("--caller-arn", f"arn:aws:sts::{ACCT}:assumed-role/R/s")):
        for value, decision in (("a", "allowed"), ("b", "implicitDeny")):
            entry = f"ContextKeyName=aws:PrincipalTag/team,ContextKeyValues={value}"
            code, data, _, err = simulate(capsys, *args, entry, *caller)
            assert by_action(data)["s3:GetObject"]["EvalDecision"] == decision, (caller, value, err)
    code, _, _, err = simulate(capsys, *args, "ContextKeyName=aws:PrincipalTag/team,ContextKeyValues=a",
                               "--caller-tags", "Key=team,Value=b")
    assert code == 3 and "E511" in err and "given twice" in err
    code, _, _, err = simulate(capsys, *args, "ContextKeyName=aws:PrincipalTag/team,ContextKeyValues=a",
                               "--caller-arn", f"arn:aws:sts::{ACCT}:federated-user/f",
                               "--federating-user-arn", f"arn:aws:iam::{ACCT}:user/u")
    assert code == 3 and "E510" in err and "aws:PrincipalTag/team" in err


@pytest.mark.parametrize("key, value, kind", [("aws:MultiFactorAuthAge", "inf", "numeric"),
                                              ("aws:MultiFactorAuthAge", "nan", "numeric"),
                                              ("aws:SourceIp", "0.0.0.0/0", "ip")])
def test_a_context_value_no_request_can_carry_is_invalid(capsys, key, value, kind):
    code, _, _, err = simulate(
        capsys, "--policy-input-list", doc(allow("s3:GetObject")), "--action-names", "s3:GetObject",
        "--context-entries", f"ContextKeyName={key},ContextKeyValues={value},ContextKeyType={kind}")
    assert code == 3 and key in err


def test_a_bucket_with_abac_enabled_is_matched_by_its_tags(capsys):
    policy = doc(allow("s3:ListBucket", Condition={"StringEquals": {"aws:ResourceTag/team": "red"}}))
    args = ("--policy-input-list", policy, "--action-names", "s3:ListBucket", "--resource-arns", "arn:aws:s3:::b",
            "--resource-tags", "Key=team,Value=red")
    code, data, _, _ = simulate(capsys, *args)
    assert by_action(data)["s3:ListBucket"]["EvalDecision"] == "implicitDeny"  # ABAC is off by default
    code, data, _, _ = simulate(capsys, *args, "--bucket-abac")
    assert code == 0 and by_action(data)["s3:ListBucket"]["EvalDecision"] == "allowed"
    code, _, _, err = simulate(capsys, "--policy-input-list", policy, "--action-names", "s3:ListBucket",
                               "--resource-arns", "arn:aws:s3:::b/k", "--bucket-abac")
    assert code == 3 and "--bucket-abac" in err


def test_a_context_entry_aws_sets_only_for_other_callers_is_refused_not_dropped(capsys):
    policy = doc(allow("s3:*"), deny("s3:GetObject", Condition={"StringEquals": {"aws:SourceAccount": "999999999999"}}))
    args = ("--policy-input-list", policy, "--action-names", "s3:GetObject", "--context-entries")
    code, _, _, err = simulate(capsys, *args, "ContextKeyName=aws:SourceAccount,ContextKeyValues=999999999999")
    assert code == 3 and "E510" in err and "aws:SourceAccount" in err and "service" in err
    code, _, _, err = simulate(capsys, *args, "ContextKeyName=aws:SourceIdentity,ContextKeyValues=alice")
    assert code == 3 and "E510" in err and "role session" in err
    code, data, _, err = simulate(capsys, *args, "ContextKeyName=aws:SourceIdentity,ContextKeyValues=alice",
                                  "--caller-arn", f"arn:aws:sts::{ACCT}:assumed-role/R/s")
    assert code == 0 and by_action(data)["s3:GetObject"]["EvalDecision"] == "allowed", err


def test_option_json_nested_too_deeply_is_an_error_not_a_crash(capsys):
    code, _, _, err = simulate(capsys, "--policy-input-list", doc(allow("s3:*")), "--action-names", "s3:GetObject",
                               "--context-entries", "[" * 5000 + "]" * 5000)
    assert code == 3 and "E511" in err and "nested too deeply" in err
