"""Tests for iamlogic.matching — one row per documented case, each citing its AWS page.

Page abbreviations used in the row comments (all under https://docs.aws.amazon.com/IAM/latest/UserGuide/):
  OPS   reference_policies_elements_condition_operators.html
  MVC   reference_policies_multi-value-conditions.html  (negated operators: NOR)
  MVX   reference_policies_condition_examples-multi-valued-context-keys.html
  SVM   reference_policies_condition-single-vs-multi-valued-context-keys.html
  VARS  reference_policies_variables.html
  RES   reference_policies_elements_resource.html
  ACT   reference_policies_elements_action.html
  KEYS  reference_policies_condition-keys.html
  AA    access-analyzer-reference-policy-checks.html
  SEM   /work/shared/aws-semantics.md (project specification; section given)
"""

from __future__ import annotations

import base64
import doctest
import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given, strategies as st

import iamlogic.matching as matching
from iamlogic.matching import (
    ANY_SCOPE,
    NAMED_CHOICES,
    ConditionResult,
    action_glob_scope,
    action_key,
    action_scope,
    arn_match,
    escaped_resource_match,
    evaluate_condition,
    has_variables,
    is_negated,
    make_lookup,
    match_value,
    parse_operator,
    positive_form,
    resource_match,
    resource_scope,
    resource_scopes,
    substitute,
    wildcard_match,
)

V2012 = "2012-10-17"


def test_doctests():
    failures, tried = doctest.testmod(matching)
    assert tried > 20 and failures == 0


def test_named_choices_have_sources():
    for name, choice in NAMED_CHOICES.items():
        assert re.fullmatch(r"[a-z0-9-]+", name)
        assert choice.reading and choice.sources


# ----------------------------------------------------------------------------------------------
# wildcard_match
# ----------------------------------------------------------------------------------------------

WILDCARD_CASES = [
    # pattern, value, ignore_case, escaped, expected
    ("*", "", False, False, True),  # RES: * = any combination of characters (incl. none)
    ("*", "a/b:c", False, False, True),  # RES: * spans '/' (and ':' outside ARN matching)
    ("s3:Get*", "s3:GetObject", True, False, True),  # ACT: '*' inside action names
    ("iam:*AccessKey*", "IAM:listaccesskeys", True, False, True),  # ACT: case-insensitive
    ("s3:get*", "S3:GETOBJECT", False, False, False),  # OPS StringLike: case-sensitive
    ("a?c", "abc", False, False, True),  # RES: ? = any single character
    ("a?c", "ac", False, False, False),  # RES: ? is exactly one char (SEM §3.15: not '.?')
    ("a?c", "abbc", False, False, False),  # RES: ? is exactly one char
    ("??", "ab", False, False, True),  # RES: multiple ? in a segment
    ("a.c", "abc", False, False, False),  # OPS StringLike: only * and ? are special
    ("a+b", "aab", False, False, False),  # OPS StringLike: regex metacharacters literal
    ("[ab]", "a", False, False, False),  # OPS StringLike: regex metacharacters literal
    ("[ab]", "[ab]", False, False, True),  # OPS StringLike: regex metacharacters literal
    ("(x)|y", "y", False, False, False),  # OPS StringLike: regex metacharacters literal
    ("^$", "^$", False, False, True),  # OPS StringLike: regex metacharacters literal
    ("a\\b", "a\\b", False, False, True),  # IAM has no escape character: '\' is literal
    ("*a*a*a*a*a*b", "a" * 200, False, False, False),  # linear-time matcher (no blow-up)
    ("a\\*", "a*", False, True, True),  # VARS §Special characters: ${*} → literal '*'
    ("a\\*", "ab", False, True, False),  # VARS §Special characters: ${*} → literal '*'
    ("a\\?", "a?", False, True, True),  # VARS §Special characters: ${?} → literal '?'
    ("a\\?", "ab", False, True, False),  # VARS §Special characters: ${?} → literal '?'
    ("a\\\\*", "a\\xyz", False, True, True),  # escaped backslash, then a real wildcard
]


@pytest.mark.parametrize("pattern,value,ignore_case,escaped,expected", WILDCARD_CASES)
def test_wildcard_match(pattern, value, ignore_case, escaped, expected):
    assert wildcard_match(pattern, value, ignore_case=ignore_case, escaped=escaped) is expected


def _reference_wildcard(pattern: str, value: str, flags: int = 0) -> bool:
    """Independent reference: translate each character to a regex piece."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL | flags) is not None


_W_ALPHABET = "ab*?:/.\\[]+$"


@given(st.text(_W_ALPHABET, max_size=10), st.text("ab:/.\\[]+$*?", max_size=14))
def test_wildcard_match_agrees_with_reference(pattern, value):
    assert wildcard_match(pattern, value) == _reference_wildcard(pattern, value)


# letters that fold to the same text: one character each, or more (ß, ŉ, ﬁ fold to two)
_FOLDS = [("a", "A"), ("k", "K", "\u212a"), ("s", "S", "\u017f"), ("\u00df",), ("\ufb01",), (":",), ("*",), ("?",)]


@st.composite
def _action_pairs(draw):
    classes = draw(st.lists(st.sampled_from(_FOLDS), max_size=6))
    pattern = "".join(draw(st.sampled_from(c)) for c in classes)
    action = "".join(draw(st.sampled_from(c)) for c in classes)
    if draw(st.booleans()):  # sometimes an unrelated action
        action = draw(st.text("aAkKsS:\u00df\u212a\u017f", max_size=6))
    return pattern, action


@pytest.mark.parametrize("pattern,action,expected", [
    ("S3:GetObject", "s3:getobject", True), ("\u00df", "ss", False), ("ss", "\u00df", False),
    ("k", "\u212a", True), ("\u017f", "S", True), ("\ufb01", "fi", False), ("s3:*", "s3:x", True)])
def test_action_key_examples(pattern, action, expected):
    assert wildcard_match(pattern, action, ignore_case=True) is expected
    pk, ak = action_key(pattern), action_key(action)
    if pk is not None:
        assert (ak is not None and pk == ak) is expected
    else:  # left to wildcard_match: a wildcard, or a letter folding to more than one
        assert any(c in pattern for c in "*?\u00df\ufb01")


@given(_action_pairs())
def test_action_key_finds_exactly_the_case_insensitive_matches(pair):
    # the statements listing an action by name are found by key; the other patterns are matched
    pattern, action = pair
    pk, ak = action_key(pattern), action_key(action)
    if pk is not None:
        assert wildcard_match(pattern, action, ignore_case=True) == (ak is not None and pk == ak)


@given(_action_pairs())
@example(("\u017f3:*", "S3:GetObject"))
@example(("k:*", "\u212a:x"))
@example(("s*:a", "ss:a"))
@example(("\u00df:*", "ss:x"))
def test_a_pattern_without_a_key_matches_only_the_actions_of_its_scope(pair):
    # (rules/30-statements.dl keeps such patterns by scope, and matches an action only against the
    # patterns of its scopes)
    pattern, action = pair
    scope = action_glob_scope(pattern)
    assert (scope is None) == (action_key(pattern) is not None)
    if scope is not None and wildcard_match(pattern, action, ignore_case=True):
        assert scope in (ANY_SCOPE, action_scope(action))


_ARN_TEXT = st.text("aAb*?/:$\\", max_size=6)


_ARNS = st.lists(_ARN_TEXT, min_size=1, max_size=7).map(":".join)


@given(_ARNS, _ARNS)
@example("arn:aws:s3:::bucket-1/*", "arn:aws:s3:::bucket-1/a/b")
@example("arn:aws:s3:::b", "arn:aws:s3:::b")
@example("arn:aws:logs:*:*:log-group:/aws/*", "arn:aws:logs:us-east-1:1:log-group:/aws/x")
@example("arn:aws:s3:::a:b", "arn:aws:s3:::a:b:c")
def test_a_resource_entry_matches_only_the_resources_of_its_scope(pattern, arn):
    # (rules/30-statements.dl matches a Resource entry only against requests that have its scope)
    if resource_match(pattern, arn, escaped=True):
        assert resource_scope(pattern) in resource_scopes(arn)


@given(st.text("aAbB*?", max_size=8), st.text("aAbB", max_size=10))
def test_wildcard_match_ignore_case_agrees_with_reference(pattern, value):
    assert (wildcard_match(pattern, value, ignore_case=True)
            == _reference_wildcard(pattern, value, re.IGNORECASE))


# ----------------------------------------------------------------------------------------------
# arn_match / resource_match
# ----------------------------------------------------------------------------------------------

DOC_ARN_PATTERN = "arn:aws:someservice:*:111122223333:finance/*"
DOC_ARN_VALUE = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"

ARN_CASES = [
    # pattern, arn, expected
    (DOC_ARN_PATTERN, DOC_ARN_VALUE, False),  # OPS §ARN: ArnLike matches per segment
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b/c", True),  # OPS §ARN: 6th part keeps ':'
    ("arn:aws:iam::*:role/x", "arn:aws:iam::123456789012:role/x", True),  # OPS §ARN: * per segment
    ("arn:aws:iam::12345678901?:role/x", "arn:aws:iam::123456789012:role/x", True),  # OPS §ARN: ?
    ("arn:aws:iam::12345678901?:role/x", "arn:aws:iam::1234567890123:role/x", False),  # OPS: ? = 1
    ("arn:aws:sqs:us-east-?:*:q", "arn:aws:sqs:us-east-1:123:q", True),  # OPS §ARN: ? in region
    ("arn:aws:sqs:us-east-?:*:q", "arn:aws:sqs:us-east-10:123:q", False),  # OPS §ARN: ? = 1 char
    ("arn:aws:s3:::Bucket/Key", "arn:aws:s3:::bucket/key", False),  # OPS §ARN: case-sensitive
    ("arn:*:s3:::b", "arn:aws-cn:s3:::b", True),  # RES: wildcards in any segment
    ("arn:aws:s3:::b", "arn:aws:s3:::b/k", False),  # OPS §ARN: whole ARN must match
    ("arn:aws:s3:::b", "arn:aws:s3", False),  # not an ARN: fewer parts than the pattern
    ("arn:aws:*:*:*:*", "arn:aws:s3:::b", True),  # RES: * matches an empty segment
    ("arn:aws:ec2:*", "arn:aws:ec2:us-east-1:123:instance/i-1", True),  # RES/SEM §1.9 short ARN
    ("arn:aws:ec2:*", "arn:aws:s3:::b", False),  # short ARN: leading segments still compared
    ("arn:aws:iam::123", "arn:aws:iam::123:user/x", False),  # short ARN: tail matched whole
    ("*", "arn:aws:s3:::b", True),  # short-arn-pattern: '*' matches anything
]


@pytest.mark.parametrize("pattern,arn,expected", ARN_CASES)
def test_arn_match(pattern, arn, expected):
    assert arn_match(pattern, arn) is expected


def test_arnlike_vs_stringlike_doc_example():
    # OPS §ARN: "With a StringLike condition, the match succeeds … With an ArnLike condition … fails"
    assert match_value("StringLike", DOC_ARN_VALUE, DOC_ARN_PATTERN) is True
    assert match_value("ArnLike", DOC_ARN_VALUE, DOC_ARN_PATTERN) is False
    assert match_value("ArnEquals", DOC_ARN_VALUE, DOC_ARN_PATTERN) is False  # OPS: Equals ≡ Like


RESOURCE_CASES = [
    ("*", "arn:aws:s3:::b/k", True),  # RES: Resource "*" = all resources
    ("*", "*", True),  # RES: actions without resource-level permissions use "*"
    ("arn:aws:s3:::*", "*", False),  # an ARN pattern does not match the "*" resource
    ("arn:aws:s3:::my_corporate_bucket/*", "arn:aws:s3:::my_corporate_bucket/a/b/c", True),  # RES
    ("arn:aws:s3:::b/*", "arn:aws:s3:::B/k", False),  # RES: resource part case-sensitive
    ("arn:aws:s3:::b/Key", "arn:aws:s3:::b/key", False),  # RES: S3 keys case-sensitive
    ("arn:aws:iam::123:user/accounting/*", "arn:aws:iam::123:user/accounting/bob", True),  # RES
    ("arn:aws:iam::123:user/Bob", "arn:aws:iam::123:user/bob", False),  # RES: user name case
    ("arn:aws:dynamodb:us-east-2:123:table/books_table", "arn:aws:dynamodb:us-east-2:123:table/books_table", True),  # RES
    ("arn:aws:logs:*:*:log-group:g:*", "arn:aws:logs:us-east-1:123:log-group:g:log-stream:s", True),  # RES
]


@pytest.mark.parametrize("pattern,arn,expected", RESOURCE_CASES)
def test_resource_match(pattern, arn, expected):
    assert resource_match(pattern, arn) is expected


def test_resource_with_policy_variable():
    # VARS §Resource element: "arn:aws:s3:::mybucket/${aws:username}/*"
    template = "arn:aws:s3:::mybucket/${aws:username}/*"
    pattern = substitute(template, make_lookup({"aws:username": "David"}), version=V2012,
                         wildcards=True)
    assert resource_match(pattern, "arn:aws:s3:::mybucket/David/x", escaped=True)
    assert not resource_match(pattern, "arn:aws:s3:::mybucket/Adele/x", escaped=True)
    # VARS §Policy variables with no value: the resource "will not match any resource".
    assert substitute(template, make_lookup({}), version=V2012, wildcards=True) is None


_SEG = st.text("ab*?/", max_size=4)


@given(st.lists(_SEG, min_size=5, max_size=5), st.text("ab*?/:", max_size=6),
       st.lists(st.text("ab/", max_size=3), min_size=5, max_size=5), st.text("ab/:", max_size=6))
def test_arn_match_implies_stringlike(pattern_segments, pattern_resource, arn_segments, arn_resource):
    # OPS §ARN: an ArnLike match is a StringLike match, never the other way round necessarily.
    pattern = ":".join([*pattern_segments, pattern_resource])
    arn = ":".join([*arn_segments, arn_resource])
    if arn_match(pattern, arn):
        assert wildcard_match(pattern, arn)


@given(st.text("ab*?/:", max_size=14), st.text("ab/:", max_size=14))
@example("a*b*", "ab")  # two stars in one part: walked, not read as prefix and suffix
@example("b:a**b:*a", "b:ab:aa")  # a run of stars is one star
@example("a?:b", "ab:b")
def test_arn_match_is_a_wildcard_match_part_by_part(pattern, arn):
    # OPS §ARN: pattern and ARN split on their first five colons, each part matched on its own; a
    # pattern with fewer parts matches its last part against the rest of the ARN (short patterns).
    parts, values = pattern.split(":", 5), arn.split(":", 5)
    k = len(parts)
    expected = len(values) >= k and all(wildcard_match(p, v) for p, v in zip(parts[:-1], values)) and \
        wildcard_match(parts[-1], ":".join(values[k - 1:]))
    assert arn_match(pattern, arn) == expected


@given(st.text("ab*?/:", max_size=14), st.text("ab/:", max_size=14))
@example("a:b:c:d:e:a*", "a:b:c:d:e:ab")
def test_escaped_literal_characters_match_as_themselves_in_arns(pattern, arn):
    # An escaped pattern (policy variables substituted) reads "\x" as the literal x: escaping
    # characters that are literal anyway changes no match.
    escaped = "".join("\\" + c if c in "a:" else c for c in pattern)
    assert arn_match(escaped, arn, escaped=True) == arn_match(pattern, arn)


@given(st.text("ab*?/:", max_size=14), st.text("ab/:*", max_size=14))
@example("*", "*")
@example("a:b:c:d:e:ab", "a:b:c:d:e:ab")  # the last part literal
@example("a:b:c:d:e:a*", "a:b:c:d:e:a:b")  # literal then *: the rest of the ARN, colons and all
@example("a:b:c:d:e:a*b", "a:b:c:d:e:ab")  # * between literals
@example("a:b:c:d:e:ab*b", "a:b:c:d:e:ab")  # too short for both ends, though it starts and ends so
@example("a:b:c:d:e:a*b", "a:b:c:d:e:a:b")
@example("a:*:c:d:e:a*", "a:b:c:d:e:ab")  # a wildcard before the last part: kept ARN by ARN
@example("ab*", "ab:b")  # a short pattern: its one part against the whole ARN
def test_the_evaluators_resource_test_is_arn_match(pattern, arn):
    # What the evaluator asks of every Resource entry (escaped_resource_match, a test worked out
    # once per pattern) answers as arn_match, escaped or not, whatever ARN comes first.
    escaped = "".join("\\" + c if c in "a:" else c for c in pattern)
    expected = pattern == "*" or arn_match(pattern, arn)
    assert escaped_resource_match(pattern, arn) == expected
    assert escaped_resource_match(escaped, arn) == expected
    assert escaped_resource_match(pattern, arn + "b") == (pattern == "*" or arn_match(pattern, arn + "b"))


@given(st.lists(st.text("ab/", max_size=3), min_size=6, max_size=6),
       st.lists(st.text("ab/", max_size=3), min_size=6, max_size=6))
def test_arn_match_without_wildcards_is_equality(a, b):
    assert arn_match(":".join(a), ":".join(b)) == (a == b)


# ----------------------------------------------------------------------------------------------
# match_value
# ----------------------------------------------------------------------------------------------

B64_DOC = "QmluYXJ5VmFsdWVJbkJhc2U2NA=="  # OPS §Binary example value

MATCH_VALUE_CASES = [
    # operator, request value, policy value, expected
    # String — OPS §String
    ("StringEquals", "abc", "abc", True),  # OPS: exact matching, case sensitive
    ("StringEquals", "abc", "ABC", False),  # OPS: exact matching, case sensitive
    ("StringEquals", "abc", "a*", False),  # AA 'Wildcard without like operator': literal '*'
    ("StringEquals", "*", "*", True),  # AA: '*' under StringEquals is a literal asterisk
    ("StringNotEquals", "abc", "abc", True),  # positive form (StringEquals) is returned
    ("StringEqualsIgnoreCase", "abc", "ABC", True),  # OPS: exact matching, ignoring case
    ("StringEqualsIgnoreCase", "Straße", "STRASSE", True),  # casefold (full Unicode folding)
    ("StringNotEqualsIgnoreCase", "x", "X", True),  # positive form returned
    ("StringLike", "home/alice/x", "home/*", True),  # OPS: * anywhere
    ("StringLike", "Home/alice", "home/*", False),  # OPS: case-sensitive matching
    ("StringLike", "ab", "a?", True),  # OPS: ? single-character wildcard
    ("StringLike", "a", "a?", False),  # OPS: ? is exactly one character
    ("StringNotLike", "ab", "a*", True),  # positive form (StringLike) is returned
    # Numeric — OPS §Numeric: integer or decimal
    ("NumericEquals", "10", "10.0", True),
    ("NumericEquals", "10", "1e1", None),  # not an integer/decimal literal → type mismatch
    ("NumericEquals", "0x10", "16", None),  # type mismatch
    ("NumericEquals", "NaN", "1", None),  # type mismatch
    ("NumericEquals", " 1", "1", None),  # type mismatch (no whitespace trimming)
    ("NumericLessThan", "9.99", "10", True),  # request < policy
    ("NumericLessThan", "10", "10", False),
    ("NumericLessThanEquals", "10", "10", True),  # OPS: s3:max-keys example
    ("NumericGreaterThan", "-1", "-2", True),
    ("NumericGreaterThanEquals", "+.5", "0.5", True),
    ("NumericNotEquals", "3", "3", True),  # positive form (NumericEquals) returned
    ("NumericLessThan", "nine", "10", None),  # AA 'Type mismatch number'
    # Date — OPS §Date: W3C ISO 8601 or epoch (UNIX) time
    ("DateEquals", "2020-01-01T00:00:00Z", "1577836800", True),  # ISO vs epoch, same instant
    ("DateGreaterThan", "2020-01-01T00:00:02Z", "2020-01-01T00:00:01Z", True),  # OPS example
    ("DateGreaterThan", "2019-12-31T23:59:59Z", "2020-01-01T00:00:01Z", False),  # OPS example
    ("DateLessThan", "2019-12-31T23:59:59Z", "2020-01-01", True),  # date-only = midnight UTC
    ("DateEquals", "2020-01-01T02:00:00+02:00", "2020-01-01T00:00:00Z", True),  # offsets → UTC
    ("DateEquals", "2020-01-01T00:00:00.500Z", "1577836800.5", True),  # fractional seconds
    ("DateGreaterThan", "2020-01-01T00:00:00.5Z", "2020-01-01T00:00:00Z", True),  # fraction
    ("DateEquals", "2020-01", "2020-01-01T00:00Z", True),  # W3C YYYY-MM and hh:mm forms
    ("DateLessThanEquals", "1577836800", "2020-01-01T00:00:00Z", True),  # aws:EpochTime
    ("DateEquals", "2020-01-01T00:00:00", "1577836800", True),  # date-formats: no zone = UTC
    ("DateEquals", "2020", "2020-01-01", False),  # date-formats: digits are epoch seconds
    ("DateEquals", "2020-13-01", "2020-01-01", None),  # not a date → type mismatch
    ("DateEquals", "yesterday", "2020-01-01", None),  # AA 'Type mismatch date'
    ("DateLessThan", "2020-01-01T00:00:00Z", "2020-*", None),  # OPS: wildcards not permitted
    ("DateNotEquals", "1", "1", True),  # positive form (DateEquals) returned
    # Bool — OPS §Boolean
    ("Bool", "true", "true", True),
    ("Bool", "TRUE", "true", True),  # true/false compared case-insensitively
    ("Bool", "false", "true", False),
    ("Bool", "yes", "true", None),  # AA 'Type mismatch Boolean'
    ("Bool", "true", "1", None),  # AA 'Type mismatch Boolean'
    # Binary — OPS §Binary: byte for byte against the base-64 value in the policy
    ("BinaryEquals", B64_DOC, B64_DOC, True),
    ("BinaryEquals", base64.b64encode(b"other").decode(), B64_DOC, False),
    ("BinaryEquals", "QR==", "QQ==", True),  # different text, same decoded bytes (b"A")
    ("BinaryEquals", B64_DOC.rstrip("="), B64_DOC, None),  # request not valid base64
    ("BinaryEquals", B64_DOC, "not base64!", None),  # policy not valid base64
    # IP — OPS §IP address: CIDR v4/v6, bare address ⇒ /32
    ("IpAddress", "203.0.113.7", "203.0.113.0/24", True),  # OPS example 203.0.113.0/24
    ("IpAddress", "203.0.114.1", "203.0.113.0/24", False),
    ("IpAddress", "203.0.113.7", "203.0.113.7", True),  # bare IP = /32
    ("IpAddress", "203.0.113.8", "203.0.113.7", False),  # bare IP = /32
    ("IpAddress", "0.0.0.1", "0.0.0.0/0", True),
    ("IpAddress", "2001:db8:1234:5678::1", "2001:DB8:1234:5678::/64", True),  # OPS v6 example
    ("IpAddress", "2001:db8:1234:5679::1", "2001:DB8:1234:5678::/64", False),
    ("IpAddress", "2001:db8::1", "2001:db8::1", True),  # bare v6 address = /128
    ("IpAddress", "2001:db8::2", "2001:db8::1", False),  # bare v6 address = /128
    ("IpAddress", "203.0.113.7", "::/0", False),  # v4 never matches a v6 network
    ("IpAddress", "::ffff:203.0.113.7", "203.0.113.0/24", False),  # v6 never matches v4 network
    ("IpAddress", "203.0.113.7", "203.0.113.5/24", True),  # ip-cidr-host-bits
    ("IpAddress", "203.0.113.7", "203.0.113.0/33", None),  # AA 'Type mismatch IP range'
    ("IpAddress", "203.0.113.300", "203.0.113.0/24", None),  # request not an IP
    ("IpAddress", "203.0.113.0/24", "203.0.113.0/24", None),  # request must be an address
    ("NotIpAddress", "203.0.113.7", "203.0.113.0/24", True),  # positive form returned
    # ARN — OPS §ARN
    ("ArnEquals", "arn:aws:sns:us-east-1:123456789012:t", "arn:aws:sns:*:123456789012:*", True),
    ("ArnLike", "arn:aws:sns:us-east-1:123456789012:t", "arn:aws:sns:us-east-1:123456789012:t", True),
    ("ArnNotLike", "arn:aws:s3:::b", "arn:aws:s3:::b", True),  # positive form returned
    ("ArnLike", "not-an-arn", "*", None),  # request value not an ARN → type mismatch
]


@pytest.mark.parametrize("operator,request_value,policy_value,expected", MATCH_VALUE_CASES)
def test_match_value(operator, request_value, policy_value, expected):
    assert match_value(operator, request_value, policy_value) is expected


def test_match_value_rejects_null_and_unknown():
    with pytest.raises(ValueError):
        match_value("Null", "x", "true")
    with pytest.raises(ValueError):
        match_value("StringSortOf", "x", "x")


OPERATOR_FORMS = [
    # operator, negated, positive form — OPS operator tables
    ("StringNotEquals", True, "StringEquals"),
    ("StringNotEqualsIgnoreCase", True, "StringEqualsIgnoreCase"),
    ("StringNotLike", True, "StringLike"),
    ("NumericNotEquals", True, "NumericEquals"),
    ("DateNotEquals", True, "DateEquals"),
    ("NotIpAddress", True, "IpAddress"),
    ("ArnNotEquals", True, "ArnEquals"),
    ("ArnNotLike", True, "ArnLike"),
    ("StringEquals", False, "StringEquals"),
    ("NumericLessThan", False, "NumericLessThan"),
    ("Bool", False, "Bool"),
    ("BinaryEquals", False, "BinaryEquals"),
    ("ArnEquals", False, "ArnEquals"),
    ("Null", False, "Null"),
    ("ForAnyValue:stringnotequalsifexists", True, "StringEquals"),  # forms accepted too
]


@pytest.mark.parametrize("operator,negated,positive", OPERATOR_FORMS)
def test_operator_forms(operator, negated, positive):
    assert is_negated(operator) is negated
    assert positive_form(operator) == positive


def test_parse_operator():
    assert parse_operator("ForAllValues:StringLikeIfExists") == ("ForAllValues", "StringLike", True)
    assert parse_operator("stringequals") == (None, "StringEquals", False)
    with pytest.raises(ValueError):  # AA error "Null with if exists"
        parse_operator("NullIfExists")
    with pytest.raises(ValueError):
        parse_operator("ForSomeValues:StringEquals")


# ----------------------------------------------------------------------------------------------
# evaluate_condition — missing key (SEM §2.2)
# ----------------------------------------------------------------------------------------------

MISSING_KEY_CASES = [
    # operator, policy values, expected holds, expected choice (or None)
    ("StringEquals", "x", False, None),  # OPS "Important": key not present → false
    ("StringLike", "x*", False, None),  # OPS "Important"
    ("NumericLessThan", "10", False, None),  # OPS §Numeric: "values do not match"
    ("DateGreaterThan", "2020-01-01T00:00:01Z", False, None),  # OPS §Date (TokenIssueTime)
    ("Bool", "true", False, None),  # OPS §Boolean
    ("BinaryEquals", B64_DOC, False, None),  # OPS §Binary: "the key value does not match"
    ("IpAddress", "203.0.113.0/24", False, None),  # OPS §IP: VPC endpoint → false
    ("ArnLike", "arn:aws:sns:*:*:*", False, None),  # OPS §ARN: SourceArn absent → false
    ("ArnEquals", "arn:aws:sns:*:*:*", False, None),  # OPS §ARN
    ("StringNotEquals", "x", True, None),  # OPS "Important": negated + not present → true
    ("StringNotEqualsIgnoreCase", "x", True, None),  # OPS "Important"
    ("StringNotLike", "x*", True, None),  # OPS "Important" (SEM §3.10: PMapper gets it wrong)
    ("NumericNotEquals", "1", True, None),  # OPS "Important"
    ("DateNotEquals", "2020-01-01", True, None),  # OPS "Important"
    ("NotIpAddress", "203.0.113.0/24", True, None),  # OPS "Important"
    ("ArnNotEquals", "arn:aws:s3:::b", True, None),  # OPS "Important"
    ("ArnNotLike", "arn:aws:s3:::b", True, None),  # OPS "Important"
    ("StringEqualsIfExists", "x", True, None),  # OPS §IfExists: key absent → true
    ("StringNotEqualsIfExists", "x", True, None),  # OPS §IfExists (Deny still applies)
    ("NumericLessThanIfExists", "1", True, None),  # OPS §IfExists
    ("ArnLikeIfExists", "arn:*:*:*:*:*", True, None),  # OPS §IfExists
    ("Null", "true", True, None),  # OPS §Null: true = the key doesn't exist
    ("Null", "false", False, None),  # OPS §Null: false = the key exists and is not null
    ("Null", ["true", "false"], True, None),  # several values: OR
    ("ForAllValues:StringEquals", "x", True, None),  # MVX: ForAllValues true with no key
    ("ForAllValues:StringNotLike", "key1*", True, None),  # MVX TagKeys table, last row
    ("ForAllValues:StringEqualsIfExists", "x", True, None),  # MVX: ForAllValues vacuous
    ("ForAnyValue:StringEquals", "x", False, None),  # MVC / SEM §2.2
    ("ForAnyValue:StringNotEquals", "x", False, None),  # SEM §2.2
    ("ForAnyValue:StringEqualsIfExists", "x", False, "foranyvalue-ifexists-missing-key"),  # SEM §2.2
    ("ForAnyValue:StringNotEqualsIfExists", "x", False, "foranyvalue-ifexists-missing-key"),  # SEM §2.2
    ("ForAllValues:Null", "false", True, "null-with-set-qualifier"),  # AA
    ("ForAnyValue:Null", "true", False, "null-with-set-qualifier"),  # AA
]


@pytest.mark.parametrize("operator,policy_values,expected,choice", MISSING_KEY_CASES)
def test_missing_key(operator, policy_values, expected, choice):
    result = evaluate_condition(operator, policy_values, None)
    assert result.holds is expected
    assert result.missing_key or "Null" in operator
    if choice:
        assert choice in result.choices


MFA_CASES = [
    # KEYS §aws:MultiFactorAuthPresent (SEM §2.4): long-term access keys carry no MFA key.
    ("Bool", "false", None, False),  # Deny + Bool false does NOT deny long-term keys
    ("BoolIfExists", "false", None, True),  # recommended Deny + BoolIfExists false
    ("BoolIfExists", "true", None, True),  # Allow + BoolIfExists true allows long-term keys
    ("Bool", "true", None, False),  # Allow + Bool true: only MFA temporary credentials
    ("Bool", "true", ("true",), True),
    ("BoolIfExists", "false", ("true",), False),
]


@pytest.mark.parametrize("operator,policy_values,request_values,expected", MFA_CASES)
def test_mfa_examples(operator, policy_values, request_values, expected):
    assert evaluate_condition(operator, policy_values, request_values).holds is expected


# ----------------------------------------------------------------------------------------------
# evaluate_condition — present keys, multivalued keys, set qualifiers (SEM §2.1, §2.3)
# ----------------------------------------------------------------------------------------------

PRESENT_CASES = [
    # operator, policy values, request values, multivalued, expected, choice (or None)
    # MVX "Deny a single policy condition value" table — ForAllValues:StringNotLike key1*
    ("ForAllValues:StringNotLike", "key1*", ("key1:legal",), True, False, None),  # MVX no match
    ("ForAllValues:StringNotLike", "key1*", ("key1:hr", "key1:personnel"), True, False, None),  # MVX
    ("ForAllValues:StringNotLike", "key1*", ("key2:audit",), True, True, None),  # MVX match
    ("ForAllValues:StringNotLike", ["key1*", "key2*"], ("key2:audit",), True, False, None),  # MVX
    # Several values under one operator: OR; negated: NOR (MVC)
    ("StringEquals", ["a", "b"], ("b",), False, True, None),  # MVC: OR
    ("StringEquals", ["a", "b"], ("c",), False, False, None),  # MVC: OR
    ("StringNotEquals", ["a", "b"], ("a",), False, False, None),  # MVC: NOR (not OR, SEM §3.11)
    ("StringNotEquals", ["a", "b"], ("b",), False, False, None),  # MVC: NOR
    ("StringNotEquals", ["a", "b"], ("c",), False, True, None),  # MVC: NOR
    ("StringNotLike", ["a*", "b*"], ("bx",), False, False, None),  # MVC: NOR
    ("NotIpAddress", ["10.0.0.0/8", "192.168.0.0/16"], ("10.1.1.1",), False, False, None),  # MVC
    ("NotIpAddress", ["10.0.0.0/8", "192.168.0.0/16"], ("8.8.8.8",), False, True, None),  # MVC
    ("ArnNotLike", ["arn:aws:s3:::a*", "arn:aws:s3:::b*"], ("arn:aws:s3:::bx",), False, False, None),  # MVC
    # ForAllValues: every request value matches ≥1 policy value (MVC / MVX)
    ("ForAllValues:StringEquals", ["a", "b"], ("a",), True, True, None),  # MVX
    ("ForAllValues:StringEquals", ["a", "b"], ("a", "b"), True, True, None),  # MVX
    ("ForAllValues:StringEquals", ["a", "b"], ("a", "c"), True, False, None),  # MVX
    ("ForAllValues:StringNotEquals", ["a", "b"], ("c", "d"), True, True, None),  # SEM §2.3: ∩ = ∅
    ("ForAllValues:StringNotEquals", ["a", "b"], ("c", "a"), True, False, None),  # SEM §2.3
    # ForAnyValue: some request value matches some policy value (MVC / MVX)
    ("ForAnyValue:StringEquals", ["a", "b"], ("c", "a"), True, True, None),  # MVX
    ("ForAnyValue:StringEquals", ["a", "b"], ("c",), True, False, None),  # MVX
    ("ForAnyValue:StringLike", ["key1*"], ("x", "key1:y"), True, True, None),  # MVX
    ("ForAnyValue:StringNotEquals", ["a", "b"], ("a", "b"), True, False, "foranyvalue-negated-not-subset"),  # SEM §2.3
    ("ForAnyValue:StringNotEquals", ["a", "b"], ("a", "c"), True, True, "foranyvalue-negated-not-subset"),  # SEM §2.3
    ("ForAnyValue:StringEqualsIfExists", "a", ("a",), True, True, None),  # IfExists no effect
    # Set qualifier on a single-valued key: treated as a 1-element set (AA warning; SEM §2.3)
    ("ForAnyValue:StringEquals", "a", ("a",), False, True, None),
    ("ForAllValues:StringEquals", "a", ("b",), False, False, None),
    # Bare operator on a multivalued key (SEM §2.3, SVM)
    ("StringEquals", "a", ("a", "b"), False, False, "bare-operator-on-multivalued-key"),
    ("StringNotEquals", "x", ("a", "b"), False, False, "bare-operator-on-multivalued-key"),
    ("StringEquals", "a", ("a",), True, False, "bare-operator-on-multivalued-key"),
    ("StringEqualsIfExists", "a", ("a",), True, False, "bare-operator-on-multivalued-key"),
    ("StringEquals", "a", ("a",), False, True, None),  # single-valued key: plain comparison
    # Null on a present key (OPS §Null) — not a value comparison, multivalued or not
    ("Null", "false", ("a", "b"), True, True, None),
    ("Null", "true", ("a",), False, False, None),
    # Empty request value set = null data set (MVX: "context keys with empty values")
    ("Null", "true", (), True, True, "empty-request-value-set"),
    ("Null", "false", (), True, False, "empty-request-value-set"),
    ("ForAllValues:StringEquals", "a", (), True, True, "empty-request-value-set"),  # MVC
    ("ForAnyValue:StringEquals", "a", (), True, False, "empty-request-value-set"),
    ("StringEquals", "a", (), False, False, "empty-request-value-set"),
    ("StringNotEquals", "a", (), False, True, "empty-request-value-set"),
    ("StringEquals", "", ("",), False, True, None),  # OPS s3:prefix "" example: '' is a value
    # Policy-side empty value lists (AA finding texts, SEM §2.3)
    ("ForAllValues:StringEquals", [], None, True, True, "empty-policy-value-list"),  # AA
    ("ForAllValues:StringEquals", [], ("a",), True, False, "empty-policy-value-list"),  # AA
    ("ForAllValues:StringNotEquals", [], ("a",), True, False, "empty-policy-value-list"),  # AA
    ("ForAnyValue:StringEquals", [], None, True, False, "empty-policy-value-list"),  # AA
    ("ForAnyValue:StringNotEquals", [], ("a",), True, False, "empty-policy-value-list"),  # AA
    ("StringEqualsIfExists", [], None, False, True, "empty-policy-value-list"),  # AA
    ("StringEqualsIfExists", [], ("a",), False, False, "empty-policy-value-list"),  # AA
    ("StringEquals", [], ("a",), False, True, "empty-policy-value-list"),  # AA: no effect
    ("StringEquals", [], None, False, True, "empty-policy-value-list"),  # AA: no effect
    ("StringNotEquals", [], ("a",), False, True, "empty-policy-value-list"),  # AA: no effect
    ("Null", [], None, False, True, "empty-policy-value-list"),  # AA: no effect
    # Type mismatch (SEM §2.4, AA 'Type mismatch …')
    ("NumericLessThan", "ten", ("5",), False, False, "type-mismatch-is-no-match"),
    ("NumericNotEquals", "ten", ("5",), False, True, "type-mismatch-is-no-match"),
    ("NumericLessThan", ["ten", "10"], ("5",), False, True, "type-mismatch-is-no-match"),
    ("Bool", "yes", ("true",), False, False, "type-mismatch-is-no-match"),
    ("Null", "maybe", None, False, False, "type-mismatch-is-no-match"),
    # JSON booleans and numbers in the policy (OPS §Boolean / §Numeric examples use strings)
    ("Bool", False, ("false",), False, True, None),
    ("NumericLessThanEquals", 10, ("10",), False, True, None),
    # Typed operands that rely on a reading
    ("DateEquals", "2020", ("2020",), False, True, "date-formats"),
    ("IpAddress", "203.0.113.5/24", ("203.0.113.7",), False, True, "ip-cidr-host-bits"),
    ("ArnLike", "arn:aws:sqs:*", ("arn:aws:sqs:us-east-1:1:q",), False, True, "short-arn-pattern"),
]


@pytest.mark.parametrize("operator,policy_values,request_values,multivalued,expected,choice",
                         PRESENT_CASES)
def test_present_key(operator, policy_values, request_values, multivalued, expected, choice):
    result = evaluate_condition(operator, policy_values, request_values, multivalued=multivalued)
    assert result.holds is expected, result
    if choice:
        assert choice in result.choices, result
    assert set(result.choices) <= set(NAMED_CHOICES)


def test_type_errors_are_reported():
    result = evaluate_condition("NumericLessThan", "ten", ("5",))
    assert result.type_errors == ("NumericLessThan: policy value 'ten' is not a number",)
    result = evaluate_condition("IpAddress", "203.0.113.0/24", ("nowhere",))
    assert "not an IP address" in result.type_errors[0]
    assert evaluate_condition("StringEquals", "a", ("a",)) == ConditionResult(True)


def test_unknown_operator_raises():
    with pytest.raises(ValueError):
        evaluate_condition("StringAlmostEquals", "a", ("a",))


# ----------------------------------------------------------------------------------------------
# Policy variables (VARS)
# ----------------------------------------------------------------------------------------------

CTX = {
    "aws:username": "alice",
    "aws:PrincipalTag/team": "*",  # a tag value that looks like a wildcard
    "aws:PrincipalAccount": "111122223333",
    "aws:SecureTransport": "true",
    "aws:TagKeys": ["k1", "k2"],  # multivalued
    "aws:CalledVia": ["athena.amazonaws.com"],
}

SUBSTITUTE_CASES = [
    # template, version, wildcards, expected
    ("home/${aws:username}/", V2012, False, "home/alice/"),  # VARS §Introduction
    ("home/${AWS:UserName}/", V2012, False, "home/alice/"),  # VARS: key names case-insensitive
    ("${aws:userid, 'anonymous'}", V2012, False, "anonymous"),  # VARS §Specifying default values
    ("${aws:username, 'anonymous'}", V2012, False, "alice"),  # VARS: default only when absent
    ("${aws:userid}", V2012, False, None),  # VARS §no value: unresolved → null rules
    ("a${*}b${?}c${$}d", V2012, False, "a*b?c$d"),  # VARS §Special characters
    ("a${*}b${?}c${$}d", V2012, True, "a\\*b\\?c$d"),  # specials are literal in patterns
    ("${aws:username}/*", V2012, True, "alice/*"),  # template '*' stays a wildcard
    ("${aws:PrincipalTag/team}", V2012, True, "\\*"),  # substituted-text-is-literal
    ("${aws:username}", "2008-10-17", False, "${aws:username}"),  # VARS: literal strings
    ("${aws:username}", None, False, "${aws:username}"),  # VARS: no Version → literal strings
    ("a\\${aws:username}", None, True, "a\\\\${aws:username}"),  # backslash escaped in patterns
    ("${aws:TagKeys}", V2012, False, None),  # VARS: multivalued keys cannot be variables
    ("${aws:TagKeys, 'none'}", V2012, False, "none"),  # variable-default-on-multivalued
    ("${aws:CalledVia}", V2012, False, "athena.amazonaws.com"),  # one value: lookup decides
    ("${aws:userid, '${aws:username}'}", V2012, False, "${aws:username}"),  # one round only
    ("${aws:username", V2012, False, "${aws:username"),  # malformed: literal text
    ("$${aws:username}", V2012, False, "$alice"),
    ("no variables", V2012, False, "no variables"),
    ("", V2012, False, ""),
]


@pytest.mark.parametrize("template,version,wildcards,expected", SUBSTITUTE_CASES)
def test_substitute(template, version, wildcards, expected):
    assert substitute(template, make_lookup(CTX), version=version, wildcards=wildcards) == expected


HAS_VARIABLES_CASES = [
    ("arn:aws:s3:::b/${aws:username}/*", True),  # VARS §Resource element
    ("${*}", True),  # VARS §Special characters
    ("${aws:userid, 'anonymous'}", True),  # VARS §Specifying default values
    ("a$b{c}", False),
    ("${", False),
    ("plain", False),
]


@pytest.mark.parametrize("text,expected", HAS_VARIABLES_CASES)
def test_has_variables(text, expected):
    assert has_variables(text) is expected


VARIABLE_CONDITION_CASES = [
    # operator, policy values, request values, version, expected, choice (or None)
    ("StringLike", "home/${aws:username}/*", ("home/alice/docs",), V2012, True, None),  # VARS
    ("StringLike", "home/${aws:username}/*", ("home/bob/docs",), V2012, False, None),  # VARS
    ("StringEquals", "${aws:userid}", ("x",), V2012, False, None),  # VARS §no value: no match
    ("StringLike", "${aws:userid}", ("x",), V2012, False, None),  # VARS §no value: no match
    ("StringNotEquals", "${aws:userid}", ("x",), V2012, True, None),  # VARS §no value: matches
    ("StringNotLike", "${aws:userid}", ("x",), V2012, True, None),  # VARS §no value: matches
    ("StringNotEquals", ["${aws:userid}", "x"], ("x",), V2012, False, None),  # NOR still applies
    ("StringLike", "${aws:PrincipalTag/team}", ("anything",), V2012, False, "substituted-text-is-literal"),
    ("StringLike", "${aws:PrincipalTag/team}", ("*",), V2012, True, "substituted-text-is-literal"),
    ("StringLike", "a${*}", ("a*",), V2012, True, None),  # VARS §Special characters
    ("StringLike", "a${*}", ("ab",), V2012, False, None),  # VARS §Special characters
    ("StringLike", "a${?}", ("ab",), V2012, False, None),  # VARS §Special characters
    ("StringEquals", "${aws:username}", ("${aws:username}",), "2008-10-17", True, None),  # VARS
    ("StringEquals", "${aws:username}", ("alice",), None, False, None),  # VARS: no Version
    ("StringEquals", "${aws:PrincipalTag/dept, 'none'}", ("none",), V2012, True, None),  # VARS
    ("StringEquals", "${aws:TagKeys}", ("k1",), V2012, False, "variable-default-on-multivalued"),
    ("StringEquals", "${aws:TagKeys, 'x'}", ("x",), V2012, True, "variable-default-on-multivalued"),
    ("ArnLike", "arn:aws:iam::${aws:PrincipalAccount}:role/*",
     ("arn:aws:iam::111122223333:role/r",), V2012, True, None),  # OPS §ARN: variables allowed
    ("ArnLike", "arn:aws:iam::${aws:PrincipalAccount}:role/*",
     ("arn:aws:iam::999999999999:role/r",), V2012, False, None),
    ("Bool", "${aws:SecureTransport}", ("true",), V2012, True, "bool-policy-variables"),  # OPS
    ("NumericEquals", "${aws:username}", ("1",), V2012, False, "type-mismatch-is-no-match"),  # VARS
    ("ForAllValues:StringEquals", "${aws:username}", ("alice",), V2012, True, None),  # SEM §1.12
]


@pytest.mark.parametrize("operator,policy_values,request_values,version,expected,choice",
                         VARIABLE_CONDITION_CASES)
def test_conditions_with_variables(operator, policy_values, request_values, version, expected,
                                   choice):
    result = evaluate_condition(operator, policy_values, request_values,
                                lookup=make_lookup(CTX), version=version)
    assert result.holds is expected, result
    if choice:
        assert choice in result.choices, result


def test_unresolved_values_are_reported():
    result = evaluate_condition("StringEquals", ["${aws:userid}", "x"], ("x",),
                                lookup=make_lookup(CTX))
    assert result.holds and result.unresolved == ("${aws:userid}",)


def test_cognito_leading_keys():
    # SEM §1.12: ForAllValues:StringEquals dynamodb:LeadingKeys ${cognito-identity…:sub}
    lookup = make_lookup({"cognito-identity.amazonaws.com:sub": "us-east-1:1234"})
    value = "${cognito-identity.amazonaws.com:sub}"
    op = "ForAllValues:StringEquals"
    assert evaluate_condition(op, value, ("us-east-1:1234",), lookup=lookup).holds
    assert not evaluate_condition(op, value, ("us-east-1:9999",), lookup=lookup).holds
    assert evaluate_condition(op, value, None, lookup=lookup).holds  # the Scan hazard: vacuous


# ----------------------------------------------------------------------------------------------
# Properties
# ----------------------------------------------------------------------------------------------

_STRING_PAIRS = [("StringEquals", "StringNotEquals"), ("StringLike", "StringNotLike"),
                 ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase")]
_STRINGS = st.text("aAb*?", max_size=4)


@given(st.sampled_from(_STRING_PAIRS), st.lists(_STRINGS, min_size=1, max_size=3), _STRINGS,
       st.booleans())
def test_negated_is_negation_of_positive_strings(pair, policy, request, if_exists):
    # MVC: negated operator = NOR of the positive comparison over the policy values.
    suffix = "IfExists" if if_exists else ""
    pos = evaluate_condition(pair[0] + suffix, policy, (request,))
    neg = evaluate_condition(pair[1] + suffix, policy, (request,))
    assert neg.holds == (not pos.holds)


_NUMBERS = st.integers(-5, 5).map(str) | st.sampled_from(["0.5", "-0.5", "1.0", ".5"])


@given(st.lists(_NUMBERS, min_size=1, max_size=3), _NUMBERS)
def test_negated_is_negation_of_positive_numbers(policy, request):
    pos = evaluate_condition("NumericEquals", policy, (request,))
    neg = evaluate_condition("NumericNotEquals", policy, (request,))
    assert not pos.type_errors and neg.holds == (not pos.holds)


_IPS = st.sampled_from(["10.0.0.1", "10.1.2.3", "192.168.1.1", "2001:db8::1", "::1"])
_NETS = st.sampled_from(["10.0.0.0/8", "10.0.0.1", "192.168.0.0/16", "2001:db8::/32", "::/0"])


@given(st.lists(_NETS, min_size=1, max_size=3), _IPS)
def test_negated_is_negation_of_positive_ips(policy, request):
    pos = evaluate_condition("IpAddress", policy, (request,))
    neg = evaluate_condition("NotIpAddress", policy, (request,))
    assert not pos.type_errors and neg.holds == (not pos.holds)


_SMALL_SET = st.lists(st.sampled_from("abcd"), min_size=1, max_size=4, unique=True)


@given(_SMALL_SET, _SMALL_SET)
def test_set_qualifier_readings(policy, request):
    # SEM §2.3 readings for equality operators, as set algebra.
    p, r = set(policy), set(request)
    req = tuple(request)
    assert evaluate_condition("ForAllValues:StringEquals", policy, req).holds == (r <= p)
    assert evaluate_condition("ForAnyValue:StringEquals", policy, req).holds == bool(r & p)
    assert evaluate_condition("ForAllValues:StringNotEquals", policy, req).holds == (not r & p)
    assert evaluate_condition("ForAnyValue:StringNotEquals", policy, req).holds == (not r <= p)


@given(st.text(max_size=8), st.text(max_size=8))
def test_substituted_text_is_literal_in_patterns(text, value):
    # VARS §Special characters / substituted-text-is-literal: an escaped substitution only
    # matches itself.
    pattern = substitute("${k}", make_lookup({"k": text}), version=V2012, wildcards=True)
    assert wildcard_match(pattern, value, escaped=True) == (text == value)


@given(st.text(st.characters(blacklist_characters="$"), max_size=20))
def test_substitute_without_variables_is_identity(text):
    assert substitute(text, make_lookup({}), version=V2012) == text


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
       st.integers(-12 * 60, 12 * 60))
def test_dates_compare_as_instants(moment, offset_minutes):
    # OPS §Date: ISO 8601 and epoch values denote instants; offsets are normalised to UTC.
    utc = moment.replace(microsecond=0, tzinfo=timezone.utc)
    epoch = str(int(utc.timestamp()))
    tz = timezone(timedelta(minutes=offset_minutes))
    local = utc.astimezone(tz).isoformat()
    assert match_value("DateEquals", local, epoch) is True
    assert match_value("DateEquals", utc.strftime("%Y-%m-%dT%H:%M:%SZ"), local) is True
    assert match_value("DateLessThan", epoch, str(int(epoch) + 1)) is True


@given(st.text(alphabet=st.characters(blacklist_characters="$\\", blacklist_categories=("Cs",)), max_size=40),
       st.sampled_from([None, "2008-10-17", "2012-10-17"]))
def test_a_pattern_without_variable_or_backslash_is_its_own_escaped_form(pattern, version):
    # the evaluator matches such Resource patterns without substituting (and caches the match)
    lookup = matching.make_lookup({"aws:username": "alice"})
    assert matching.substitute(pattern, lookup, version=version, wildcards=True) == pattern


# The direct comparisons of _match_tokens (literal, text then *, one * between literals) are the
# walk's answers: the walk is the definition.
_GLOB_ALPHABET = st.sampled_from(["a", "A", "b", ":", "/", "*", "?", "ß", "ſ", "K", "k", "é"])


@given(st.lists(_GLOB_ALPHABET, max_size=8).map("".join), st.lists(_GLOB_ALPHABET, max_size=10).map("".join),
       st.booleans())
def test_direct_glob_comparisons_agree_with_the_walk(pattern, value, ignore_case):
    tokens = matching._tokenize(pattern, False)
    assert matching._match_tokens(tokens, value, ignore_case) == matching._walk_tokens(tokens, value, ignore_case)


@pytest.mark.parametrize("pattern, value, ignore_case, expected", [
    ("abc", "abc", False, True), ("abc", "abd", False, False), ("ab*", "abzz", False, True),
    ("ab*", "a", False, False), ("a*c", "ac", False, True), ("a*c", "abcbc", False, True),
    ("a*bc", "abc", False, True), ("ab*bc", "abc", False, False), ("IAM:*Key", "iam:ListKey", True, True),
    ("s3:Get*", "S3:GETOBJECT", True, True), ("s3:Get*", "S3:GETOBJECT", False, False),
])
def test_direct_glob_comparisons(pattern, value, ignore_case, expected):
    assert matching._match_tokens(matching._tokenize(pattern, False), value, ignore_case) is expected


@given(st.lists(_GLOB_ALPHABET, max_size=12).map("".join), st.booleans())
def test_tokens_of_a_pattern_without_escapes_are_the_walks(pattern, escaped):
    assert matching._tokenize(pattern, escaped) == matching._tokenize_walk(pattern, escaped)
    assert matching._arn_parts(pattern, escaped) == matching._arn_parts_walk(pattern, escaped)


_ID_TEXT = st.text("AB:*?", max_size=6)


@given(st.sampled_from(["StringLike", "StringNotLike", "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
                        "StringNotEqualsIgnoreCase", "StringLikeIfExists", "ForAnyValue:StringLike"]),
       st.lists(_ID_TEXT, min_size=1, max_size=3), st.text("AB:", max_size=4),
       st.lists(st.text("AB:ab", min_size=1, max_size=5), max_size=8))
def test_a_condition_on_an_unknown_suffix_is_decided_only_when_every_suffix_agrees(operator, values, prefix, suffixes):
    found = matching.condition_on_unknown_suffix(operator, tuple(values), prefix)
    if found is None:
        return
    for suffix in suffixes:
        got = matching.evaluate_condition(operator, tuple(values), (prefix + suffix,)).holds
        assert got == found, (operator, values, prefix, suffix)


def test_a_condition_on_an_unknown_suffix_decides_the_usual_forms():
    decide = matching.condition_on_unknown_suffix
    assert decide("StringNotLike", ("AROAX:*", "111122223333"), "AROAX:") is False
    assert decide("StringNotLike", ("AROAY:*",), "AROAX:") is True
    assert decide("StringLike", ("AROA?:*",), "AROAX:") is True
    assert decide("StringEquals", ("AROAY:s",), "AROAX:") is False
    assert decide("StringEquals", ("AROAX:s",), "AROAX:") is None  # the session may be called s
    assert decide("StringLike", ("AROAX:ci-*",), "AROAX:") is None
    assert decide("StringLike", ("${aws:username}",), "AROAX:") is None  # a policy variable
    assert decide("ForAnyValue:StringLike", ("*",), "AROAX:") is None  # a set qualifier
    assert decide("NumericEquals", ("1",), "AROAX:") is None
