"""ARN parsing: valid patterns, and the exact message for each kind of mistake."""

from __future__ import annotations

import pytest

from iamlogic.grammar.arn import Arn, parse_arn, resource_pattern_error, variable_outside_resource


@pytest.mark.parametrize(
    "text, expected",
    [
        ("arn:aws:s3:::my-bucket/*", Arn("aws", "s3", "", "", "my-bucket/*")),
        ("arn:aws:iam::111122223333:user/division/alice", Arn("aws", "iam", "", "111122223333", "user/division/alice")),
        # the resource part keeps its own colons and slashes
        ("arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/f:*",
         Arn("aws", "logs", "us-east-1", "111122223333", "log-group:/aws/lambda/f:*")),
        ("arn:aws-cn:s3:::b", Arn("aws-cn", "s3", "", "", "b")),
        ("arn:aws-us-gov:ec2:us-gov-west-1:111122223333:instance/*",
         Arn("aws-us-gov", "ec2", "us-gov-west-1", "111122223333", "instance/*")),
        ("arn:aws:iam::aws:policy/ReadOnlyAccess", Arn("aws", "iam", "", "aws", "policy/ReadOnlyAccess")),
        ("arn:*:ec2:*:*:instance/*", Arn("*", "ec2", "*", "*", "instance/*")),
        ("arn:aws*:s3:::b", Arn("aws*", "s3", "", "", "b")),
        ("arn:aws:ec2:us-east-?:1111222233??:volume/*", Arn("aws", "ec2", "us-east-?", "1111222233??", "volume/*")),
        ("arn:aws:iam::1111*:role/x", Arn("aws", "iam", "", "1111*", "role/x")),
        ("arn:aws:s3:::home/${aws:username}/*", Arn("aws", "s3", "", "", "home/${aws:username}/*")),
    ],
)
def test_valid(text, expected):
    assert parse_arn(text) == expected
    assert str(expected) == text
    assert resource_pattern_error(text) is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("*", "'*' is a resource pattern meaning every resource, not an ARN"),
        ("bucket/*", "an ARN starts with 'arn:' (arn:partition:service:region:account-id:resource)"),
        ("ARN:aws:s3:::b", "'ARN:' must be written in lowercase: an ARN starts with 'arn:'"),
        ("arn:aws:ec2:*",
         "the ARN has 4 colon-separated segments, expected 6: arn:partition:service:region:account-id:resource"),
        ("arn:aws:s3::bucket/*",
         "the ARN has 5 colon-separated segments, expected 6: arn:partition:service:region:account-id:resource"),
        ("arn::s3:::b", "the partition segment is empty; expected one of aws, aws-cn, aws-us-gov, aws-iso, "
                        "aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc"),
        ("arn:amazon:s3:::b", "unknown partition 'amazon'; expected one of aws, aws-cn, aws-us-gov, aws-iso, "
                              "aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc"),
        ("arn:gcp*:s3:::b", "unknown partition 'gcp*'; expected one of aws, aws-cn, aws-us-gov, aws-iso, "
                            "aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc"),
        ("arn:AWS:s3:::b", "the partition 'AWS' must be lowercase ('aws')"),
        ("arn:aws::::b", "the service segment is empty; it must name a service prefix such as 's3' or 'iam'"),
        ("arn:aws:s*:::b",
         "the service segment 's*' contains a wildcard; wildcards are not allowed in the service segment of an ARN"),
        ("arn:aws:s?:::b",
         "the service segment 's?' contains a wildcard; wildcards are not allowed in the service segment of an ARN"),
        ("arn:aws:S3:::b", "the service segment 'S3' must be lowercase ('s3')"),
        ("arn:aws:s_3:::b", "the service segment 's_3' is not a service prefix (lowercase letters, digits, '-')"),
        ("arn:aws:s3:US-EAST-1::b", "the region segment 'US-EAST-1' must be lowercase ('us-east-1')"),
        ("arn:aws:s3:us east::b",
         "the region segment 'us east' is not a region name such as 'us-east-1' (or empty, or a wildcard)"),
        ("arn:aws:iam::12345:user/a", "the account segment '12345' has 5 characters; an account ID has 12 digits"),
        ("arn:aws:iam::1111222233334:user/a",
         "the account segment '1111222233334' has 13 characters; an account ID has 12 digits"),
        ("arn:aws:iam::acct:user/a", "the account segment 'acct' must be a 12-digit account ID, empty, 'aws' "
                                     "(AWS managed policies) or a wildcard pattern of digits, '*' and '?'"),
        ("arn:aws:s3:::", "the resource part (after the fifth colon) is empty"),
    ],
)
def test_invalid(text, message):
    assert parse_arn(text) == message


def test_star_alone_is_a_valid_resource_pattern():
    assert resource_pattern_error("*") is None
    assert isinstance(parse_arn("*"), str)


@pytest.mark.parametrize(
    "text, segment, variable",
    [
        ("arn:${aws:partition}:s3:::b", "partition", "${aws:partition}"),
        ("arn:aws:${svc}:::b", "service", "${svc}"),
        ("arn:aws:ec2:${aws:RequestedRegion}:111122223333:instance/*", "region", "${aws:RequestedRegion}"),
        ("arn:aws:iam::${aws:PrincipalAccount}:user/a", "account", "${aws:PrincipalAccount}"),
        ("arn:aws:iam::${x}", "account", "${x}"),
    ],
)
def test_variable_before_resource_part(text, segment, variable):
    message = (f"policy variable '{variable}' in the {segment} segment; policy variables are allowed only in the "
               "resource part of an ARN (after the fifth colon)")
    assert variable_outside_resource(text) == message
    assert parse_arn(text) == message


@pytest.mark.parametrize("text", [
    "arn:aws:s3:::b/${aws:username}/*",
    "arn:aws:s3:::${aws:username}",
    "arn:aws:dynamodb:us-east-1:111122223333:table/${aws:PrincipalTag/team}",
    "arn:aws:s3:::a:${x}",  # a colon inside the resource part
    "not-an-arn-${x}",      # not an ARN at all: parse_arn says so instead
])
def test_variable_in_resource_part_is_allowed(text):
    assert variable_outside_resource(text) is None
