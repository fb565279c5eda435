"""The action and condition-key catalog: a tiny hand-made catalog for exact semantics, and the
bundled one for real names."""

from __future__ import annotations

import pytest

from iamlogic.catalog import GLOBAL_CONDITION_KEYS, Catalog, KeyInfo

TINY = {
    "policy_sentry_schema_version": "v2",
    "s3": {
        "prefix": "s3",
        "privileges": {
            "GetObject": {"access_level": "Read", "resource_types": {
                "object": {"required": True, "condition_keys": ["s3:ExistingObjectTag/<key>"]},
                "": {"required": False, "condition_keys": ["s3:authType"]}}},
            "GetObjectAcl": {"access_level": "Read", "resource_types": {}},
            "PutObject": {"access_level": "Write", "resource_types": {}},
            "ListBucket": {"access_level": "List", "resource_types": {}},
        },
        "resources": {"object": {"arn": "arn:${Partition}:s3:::${BucketName}/${ObjectName}"}},
        "conditions": {
            "s3:authType": {"type": "String"},
            "s3:ExistingObjectTag/<key>": {"type": "String"},
            "aws:TagKeys": {"type": "ArrayOfString"},
        },
    },
    "s3express": {
        "prefix": "s3express",
        "privileges": {"CreateSession": {"access_level": "Write", "resource_types": {}}},
        "resources": {},
        "conditions": {},
    },
    "ec2": {
        "prefix": "ec2",
        "privileges": {
            "DescribeInstances": {"access_level": "List", "resource_types": {}},
            "DescribeImages": {"access_level": "List", "resource_types": {}},
        },
        "resources": {},
        "conditions": {"ec2:ResourceTag/${TagKey}": {"type": "String"}, "ec2:Region": {"type": "String"}},
    },
}


@pytest.fixture(scope="module")
def tiny() -> Catalog:
    return Catalog(TINY)


@pytest.fixture(scope="module")
def real() -> Catalog:
    return Catalog.default()


# ---------------------------------------------------------------------------------------------
# Actions


def test_action_lookup_is_case_insensitive(tiny):
    info = tiny.action("S3:getobject")
    assert info.name == "s3:GetObject"
    assert info.service == "s3"
    assert info.access_level == "Read"
    assert info.resource_types == (("object", True, "arn:${Partition}:s3:::${BucketName}/${ObjectName}"),)
    assert info.condition_keys == ("s3:ExistingObjectTag/<key>", "s3:authType")
    assert tiny.action("s3:GetObjects") is None
    assert tiny.action("GetObject") is None


def test_has_service(tiny):
    assert tiny.has_service("s3") and tiny.has_service("EC2")
    assert not tiny.has_service("s4")
    assert not tiny.has_service("policy_sentry_schema_version")


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("s3:GetObject", ("s3:GetObject",)),
        ("s3:getobject", ("s3:GetObject",)),
        ("s3:Get*", ("s3:GetObject", "s3:GetObjectAcl")),
        ("s3:GetObject*", ("s3:GetObject", "s3:GetObjectAcl")),  # * matches the empty run too
        ("s3:*Object", ("s3:GetObject", "s3:PutObject")),
        ("s3:?etObject", ("s3:GetObject",)),
        ("s3:GetObjec?", ("s3:GetObject",)),
        ("s3:GetObject?", ()),  # ? is exactly one character, never zero
        ("s3:??tObject", ("s3:GetObject", "s3:PutObject")),
        ("s3*:*", ("s3:GetObject", "s3:GetObjectAcl", "s3:PutObject", "s3:ListBucket", "s3express:CreateSession")),
        ("ec2:Describe*", ("ec2:DescribeInstances", "ec2:DescribeImages")),
        ("s3:Get.bject", ()),  # regex characters are literal
        ("s4:GetObject", ()),
        ("s3:", ()),
    ],
)
def test_expand(tiny, pattern, expected):
    assert tiny.expand(pattern) == expected


def test_star_alone_is_every_action(tiny, real):
    assert len(tiny.expand("*")) == 7
    everything = real.expand("*")
    assert len(everything) > 15_000 and "iam:PassRole" in everything


def test_expand_is_memoized(tiny):
    assert tiny.expand("s3:Get*") is tiny.expand("s3:Get*")


def test_real_catalog_names(real):
    assert real.action("iam:passrole").name == "iam:PassRole"
    assert real.action("sts:AssumeRole").access_level == "Write"
    assert "s3:GetObject" in real.expand("s3:Get*")
    assert "s3:PutObject" not in real.expand("s3:Get*")
    assert real.has_service("kms") and real.has_service("dynamodb")


@pytest.mark.parametrize(
    "name, help",
    [
        ("s3:GetObjekt", "did you mean 's3:GetObject'?"),
        ("iam:PassRol", "did you mean 'iam:PassRole'?"),
        ("S3:getobjekt", "did you mean 's3:GetObject'?"),
        ("s4:GetObject", "did you mean 's3:GetObject'?"),  # same action name under the closest prefix
        ("ec3:DescribeInstances", "did you mean 'ec2:DescribeInstances'?"),
        ("lamda:NoSuchThing", "unknown service prefix 'lamda'; did you mean 'lambda'?"),
        ("s3:Xyzzy", None),
        ("zzqqxx:Xyzzy", None),
        ("no-colon", None),
    ],
)
def test_suggest_action(real, name, help):
    assert real.suggest_action(name) == help


# ---------------------------------------------------------------------------------------------
# Condition keys


def test_global_key_lookup_is_case_insensitive(real):
    info = real.condition_key("AWS:sourceip")
    assert info == KeyInfo("aws:SourceIp", "aws:SourceIp", "IPAddress", True, ())
    assert not info.multivalued


@pytest.mark.parametrize(
    "key, name, template",
    [
        ("aws:ResourceTag/Project", "aws:ResourceTag/Project", "aws:ResourceTag/${TagKey}"),
        ("aws:resourcetag/Project", "aws:ResourceTag/Project", "aws:ResourceTag/${TagKey}"),  # tag part kept
        ("AWS:PrincipalTag/cost-center", "aws:PrincipalTag/cost-center", "aws:PrincipalTag/${TagKey}"),
        ("aws:RequestTag/a/b:c", "aws:RequestTag/a/b:c", "aws:RequestTag/${TagKey}"),
    ],
)
def test_global_templated_keys(real, key, name, template):
    info = real.condition_key(key)
    assert (info.name, info.template, info.type, info.is_global) == (name, template, "String", True)


def test_template_needs_a_tag_key(real):
    assert real.condition_key("aws:ResourceTag/") is None
    assert real.condition_key("aws:ResourceTag") is None


def test_service_keys(tiny, real):
    assert tiny.condition_key("s3:AuthType") == KeyInfo("s3:authType", "s3:authType", "String", False, ("s3",))
    info = tiny.condition_key("s3:existingobjecttag/Owner")
    assert (info.name, info.template, info.services) == ("s3:ExistingObjectTag/Owner", "s3:ExistingObjectTag/<key>",
                                                         ("s3",))
    info = tiny.condition_key("ec2:ResourceTag/Name")
    assert (info.name, info.is_global) == ("ec2:ResourceTag/Name", False)
    assert real.condition_key("dynamodb:LeadingKeys").multivalued
    assert real.condition_key("kms:ViaService").services == ("kms",)
    assert tiny.condition_key("s3:nothing") is None


def test_global_table_wins_over_service_entries(tiny):
    info = tiny.condition_key("aws:TagKeys")
    assert info.is_global and info.services == () and info.multivalued


@pytest.mark.parametrize(
    "key, type_",
    [
        ("aws:PrincipalOrgPaths", "ArrayOfString"),
        ("aws:CalledVia", "ArrayOfString"),
        ("aws:TagKeys", "ArrayOfString"),
        ("aws:PrincipalArn", "ARN"),
        ("aws:MultiFactorAuthPresent", "Bool"),
        ("aws:MultiFactorAuthAge", "Numeric"),
        ("aws:CurrentTime", "Date"),
        ("aws:SourceIp", "IPAddress"),
        ("aws:Referer", "String"),
        ("ec2:SourceInstanceArn", "ARN"),
    ],
)
def test_global_key_types(tiny, key, type_):
    info = tiny.condition_key(key)
    assert info.type == type_ and info.is_global
    assert info.multivalued == type_.startswith("ArrayOf")


def test_global_table_is_well_formed():
    names = [name.lower() for name, _ in GLOBAL_CONDITION_KEYS]
    assert len(names) == len(set(names))
    types = {"String", "ArrayOfString", "ARN", "Bool", "Numeric", "Date", "IPAddress"}
    assert {t for _, t in GLOBAL_CONDITION_KEYS} <= types


def test_identity_provider_keys(real):
    assert real.condition_key("cognito-identity.amazonaws.com:amr").multivalued  # corrected type
    assert not real.condition_key("cognito-identity.amazonaws.com:aud").multivalued
    assert real.condition_key("saml:edupersonaffiliation").multivalued
    gh = real.condition_key("token.actions.githubusercontent.com:sub")
    assert (gh.type, gh.is_global) == ("String", True)
    assert real.condition_key("oidc.eks.us-east-1.amazonaws.com/id/ABC:amr").multivalued
    assert real.condition_key("nodots:sub") is None


def test_service_condition_keys(tiny, real):
    assert tiny.service_condition_keys("S3") == ("s3:authType", "s3:ExistingObjectTag/<key>", "aws:TagKeys")
    assert tiny.service_condition_keys("s4") == ()
    assert "s3:prefix" in real.service_condition_keys("s3")


@pytest.mark.parametrize(
    "key, help",
    [
        ("aws:SourceIpp", "did you mean 'aws:SourceIp'?"),
        ("aws:ResorceTag/Project", "did you mean 'aws:ResourceTag/Project'?"),
        ("aws:PrincipalOrgId2", "did you mean 'aws:PrincipalOrgID'?"),
        ("s3:prefx", "did you mean 's3:prefix'?"),
        ("s4:prefix", "did you mean 's3:prefix'?"),
        ("aws:Completely-Different-Thing", None),
    ],
)
def test_suggest_condition_key(real, key, help):
    assert real.suggest_condition_key(key) == help


def test_default_is_shared(real):
    assert Catalog.default() is real
