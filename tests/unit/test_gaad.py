"""Worlds from IAM's account authorization details: what an export becomes, what it cannot say, and
where each problem is in the file."""

from __future__ import annotations

import json
import os
from urllib.parse import quote

import pytest

import iamlogic
from iamlogic import InvalidInput
from iamlogic.cli import main
from iamlogic.grammar.gaad import authorization_details, authorization_details_model

from ..conftest import EXAMPLES

EXPORT = EXAMPLES / "gaad" / "account-authorization-details.json"
GOLDEN = EXAMPLES.parent / "tests" / "golden" / "gaad" / "example.iaml"
UPDATE = os.environ.get("IAMLOGIC_UPDATE_GOLDEN") == "1"
ACCT = "123456789012"


def doc(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_S3 = doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})


def policy(name: str, document: dict, owner: str = ACCT, path: str = "/") -> dict:
    return {"PolicyName": name, "Arn": f"arn:aws:iam::{owner}:policy{path}{name}", "Path": path,
            "DefaultVersionId": "v1",
            "PolicyVersionList": [{"Document": document, "VersionId": "v1", "IsDefaultVersion": True}]}


def user(name: str, **extra) -> dict:
    return {"Path": "/", "UserName": name, "UserId": f"AIDA{name.upper():0<16}",
            "Arn": f"arn:aws:iam::{ACCT}:user/{name}", **extra}


def errors(export: dict) -> list[tuple[str, int]]:
    """The codes of the export's problems, with their line in the file written."""
    text = json.dumps(export, indent=1)
    _, diags = authorization_details(text, "e.json")
    return [(d.code, d.span.line if d.span else 0) for d in diags]


def line_of(export: dict, needle: str) -> int:
    return next(i for i, line in enumerate(json.dumps(export, indent=1).splitlines(), 1) if needle in line)


def test_the_example_imports_as_written(capsys):
    assert main(["import-gaad", str(EXPORT), "--account-name", "444455556666=app"]) == 0
    out, err = capsys.readouterr()
    text = out.replace(str(EXPORT), "account-authorization-details.json")
    if UPDATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
    assert 'policy DevBoundary path "/boundaries/"' in text  # the path is kept, a part of the ARN
    imported = iamlogic.loads(text, "imported.iaml")  # the world file written decides as the export does
    direct = iamlogic.load([str(EXPORT)])
    for w in (imported, direct):
        assert w.check("arn:aws:iam::444455556666:user/engineering/alice", "s3:PutObject",
                       "arn:aws:s3:::app-data/alice/x").decision == "Allow"
        assert w.check("arn:aws:iam::444455556666:user/engineering/alice", "iam:CreateAccessKey",
                       "arn:aws:iam::444455556666:user/engineering/alice").decision == "ImplicitDeny"
        assert "arn:aws:iam::444455556666:policy/boundaries/DevBoundary" in {
            p for p, _ in w.evaluator().facts("identity_policy")} | {
            b for _, b in w.evaluator().facts("permissions_boundary")}


def test_a_policy_document_may_be_url_encoded_as_the_api_returns_it():
    export = {"UserDetailList": [user("ana", UserPolicyList=[{"PolicyName": "S3", "PolicyDocument": quote(
        json.dumps(ALLOW_S3), safe="")}])]}
    model, diags = authorization_details(json.dumps(export), "e.json")
    assert not diags.has_errors()
    (acct,) = model.accounts
    assert acct.users[0].inline[0].document.statements[0].action == ("s3:*",)


def test_every_managed_policy_is_kept_attached_or_not_and_only_its_default_version():
    unused = policy("Unused", ALLOW_S3)
    unused["PolicyVersionList"].insert(0, {"Document": doc({"Effect": "Deny", "Action": "*", "Resource": "*"}),
                                           "VersionId": "v2", "IsDefaultVersion": False})
    model, diags = authorization_details(json.dumps({"UserDetailList": [user("ana")], "Policies": [unused]}), "e.json")
    assert not diags.has_errors()
    (kept,) = model.accounts[0].policies
    assert (kept.name, kept.document.statements[0].effect) == ("Unused", "Allow")


def test_a_truncated_export_is_refused():
    export = {"UserDetailList": [user("ana")], "IsTruncated": True, "Marker": "abc"}
    assert errors(export) == [("E901", line_of(export, "IsTruncated"))]


def test_an_attached_policy_the_export_lacks_is_an_error_where_it_is_attached():
    export = {"UserDetailList": [user("ana", PermissionsBoundary={
        "PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": f"arn:aws:iam::{ACCT}:policy/Ceiling"})]}
    assert errors(export) == [("E907", line_of(export, "PermissionsBoundary\""))]


def test_one_file_is_one_account():
    other = user("bo")
    other["Arn"] = "arn:aws:iam::210987654321:user/bo"
    export = {"UserDetailList": [user("ana"), other]}
    assert [code for code, _ in errors(export)] == ["E903"]
    assert errors({"Policies": []}) == [("E903", 1)]
    assert errors({}) == [("E902", 1)]


def test_a_policy_document_is_not_an_export():
    assert errors(ALLOW_S3) == [("E902", 1)]


def test_an_arn_that_does_not_fit_its_entity_is_an_error():
    bad = user("ana")
    bad["Arn"] = f"arn:aws:iam::{ACCT}:user/someone-else"
    export = {"UserDetailList": [bad]}
    assert errors(export) == [("E902", line_of(export, "someone-else"))]


def test_another_partition_is_unsupported_not_rewritten():
    china = user("ana")
    china["Arn"] = f"arn:aws-cn:iam::{ACCT}:user/ana"
    export = {"UserDetailList": [china]}
    assert errors(export) == [("E909", line_of(export, "aws-cn"))]


def test_two_default_versions_are_an_error_not_a_choice():
    twice = policy("Twice", ALLOW_S3)
    twice["PolicyVersionList"].insert(0, {"Document": doc({"Effect": "Allow", "Action": "*", "Resource": "*"}),
                                          "VersionId": "v2", "IsDefaultVersion": True})
    twice["DefaultVersionId"] = "v2"
    twice["PolicyVersionList"][1]["IsDefaultVersion"] = True  # and v1 says so too
    export = {"UserDetailList": [user("ana", AttachedManagedPolicies=[
        {"PolicyName": "Twice", "PolicyArn": twice["Arn"]}])], "Policies": [twice]}
    assert [code for code, _ in errors(export)] == ["E902"]


def test_a_tag_key_given_twice_in_two_cases_is_an_error():
    export = {"UserDetailList": [user("ana", Tags=[{"Key": "team", "Value": "a"}, {"Key": "Team", "Value": "b"}])]}
    assert [code for code, _ in errors(export)] == ["E910"]


def test_a_key_iamlogic_does_not_know_is_a_warning_not_silence():
    export = {"UserDetailList": [user("ana", LoginProfileHint="x")]}
    assert errors(export) == [("W902", line_of(export, "LoginProfileHint"))]


def test_a_policy_error_is_reported_at_its_place_in_the_export():
    export = {"UserDetailList": [user("ana", UserPolicyList=[{"PolicyName": "Bad", "PolicyDocument": doc(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringEqual": {"a:b": "c"}}})}])]}
    assert errors(export) == [("E104", line_of(export, "StringEqual"))]


def test_a_customer_policy_named_like_an_aws_managed_one_of_the_account_is_unsupported():
    export = {"UserDetailList": [user("ana", AttachedManagedPolicies=[
        {"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}])],
        "Policies": [policy("ReadOnlyAccess", ALLOW_S3), policy("ReadOnlyAccess", ALLOW_S3, owner="aws")]}
    assert [code for code, _ in errors(export)] == ["E906"]


def test_two_exports_share_an_aws_managed_policy_only_when_it_is_the_same(tmp_path):
    def export(acct: str, document: dict) -> str:
        path = tmp_path / f"{acct}.json"
        u = user("ana", AttachedManagedPolicies=[{"PolicyName": "S3", "PolicyArn": "arn:aws:iam::aws:policy/S3"}])
        u["Arn"], u["UserId"] = u["Arn"].replace(ACCT, acct), f"AIDA{acct}0000"
        path.write_text(json.dumps({"UserDetailList": [u], "Policies": [policy("S3", document, owner="aws")]}))
        return str(path)

    a, b = export("111111111111", ALLOW_S3), export("222222222222", ALLOW_S3)
    model, diags = authorization_details_model([a, b])
    assert not diags.has_errors()
    assert [p.name for p in model.aws_policies] == ["S3"] and len(model.accounts) == 2
    c = export("333333333333", doc({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}))
    _, diags = authorization_details_model([a, c])
    assert [d.code for d in diags] == ["E905"]
    world = iamlogic.load([a, b])  # two exports are two accounts of one world
    assert world.check("arn:aws:iam::222222222222:user/ana", "s3:GetObject", "arn:aws:s3:::x/y").decision == "Allow"
    with pytest.raises(InvalidInput) as exc:
        iamlogic.load([a, str(tmp_path / "missing.json")])
    assert "E320" in exc.value.render()


def test_validate_reads_an_export_as_a_world(tmp_path, capsys):
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"UserDetailList": [user("ana")], "IsTruncated": True}))
    assert main(["validate", str(path)]) == 3
    out = capsys.readouterr().out
    assert f"{path}:1:" in out and "E901" in out


def test_a_world_file_gives_an_exported_account_what_the_export_lacks(tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps({"UserDetailList": [user("ana", UserPolicyList=[
        {"PolicyName": "S3", "PolicyDocument": ALLOW_S3}])]}))
    world = tmp_path / "world.iaml"
    world.write_text(f'import "export.json"\naccount {ACCT} "prod" {{\n  tags {{ env = "prod" }}\n'
                     f'  resource "arn:aws:s3:::b" {{ policy {{ sid "NoDeletes" deny s3:DeleteObject on * principal * }} }}\n}}\n')
    w = iamlogic.load([str(world)])
    (acct,) = w.model.accounts
    assert (acct.name, acct.tags, [u.name for u in acct.users]) == ("prod", (("env", "prod"),), ["ana"])
    d = w.check(f"arn:aws:iam::{ACCT}:user/ana", "s3:DeleteObject", "arn:aws:s3:::b/k")
    assert (d.decision, [s.sid for s in d.statements]) == ("ExplicitDeny", ["NoDeletes"])
    world.write_text(f'import "export.json"\naccount {ACCT} "prod" {{ user other }}\n')
    with pytest.raises(InvalidInput) as exc:
        iamlogic.load([str(world)])
    assert [d.code for d in exc.value.diagnostics] == ["E908"]
    assert exc.value.diagnostics[0].span.line == 2
