"""JSON policy documents: located JSON values, structural checks, normal forms, the way back to
JSON, and properties (round trip; no input makes the reader raise)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark, Transformer
from lark.visitors import merge_transformers

import iamlogic.grammar as grammar_pkg
from iamlogic.grammar.ast import POLICY_KINDS, PRINCIPAL_TYPES, Condition, Policy, Principal, Statement
from iamlogic.grammar.diagnostics import Diagnostics, InvalidInput, Span
from iamlogic.grammar.json_policy import (
    BASE_OPERATORS,
    JArray,
    JObject,
    JScalar,
    JsonTransformer,
    check_operator,
    parse_json,
    parse_policy_text,
    policy_from_value,
    policy_to_json,
)
from iamlogic.validate import validate_policy

F = "p.json"


def codes(diags) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.col) for d in diags]


# ---------------------------------------------------------------------------------------------
# Located JSON values


def test_values_and_spans():
    text = '{\n  "a": [1, -2.50, 1e3, true, false, null, "x"]\n}'
    value, diags = parse_json(text, F)
    assert diags == []
    assert value.span == Span(F, 1, 1, 3, 2)
    (key, key_span, arr), = value.pairs
    assert key == "a" and key_span == Span(F, 2, 3, 2, 6)
    assert arr.span == Span(F, 2, 8, 2, 47)
    assert [v.value for v in arr.items] == [1, -2.5, 1000.0, True, False, None, "x"]
    assert [v.raw for v in arr.items[:3]] == ["1", "-2.50", "1e3"]
    assert isinstance(arr.items[0].value, int) and isinstance(arr.items[3].value, bool)
    assert arr.items[6].span == Span(F, 2, 43, 2, 46)
    assert value.get("a") is arr and value.get("b") is None


def test_values_compare_without_spans():
    a, _ = parse_json('{"k": [1, "v"]}', "a")
    b, _ = parse_json('{ "k" : [ 1 , "v" ] }', "b")
    assert a == b
    assert a == JObject((("k", None, JArray((JScalar(1), JScalar("v")))),))


@pytest.mark.parametrize(
    "token, decoded",
    [
        (r'"plain"', "plain"),
        (r'"\" \\ \/ \b \f \n \r \t"', '" \\ / \b \f \n \r \t'),
        (r'"\u00e9\u4E2D"', "é中"),
        (r'"\ud83d\ude00"', "😀"),  # a surrogate pair is one character
        (r'"a\u0000b"', "a\x00b"),
        ('"ünïcödé ✓"', "ünïcödé ✓"),
    ],
)
def test_string_escapes(token, decoded):
    value, diags = parse_json(token, F)
    assert diags == [] and value.value == decoded


@pytest.mark.parametrize(
    "token, decoded, col, width, message",
    [
        (r'"a\qb"', "aqb", 3, 2, "invalid escape '\\q' in a string"),
        (r'"\ud83d"', "\ufffd", 2, 6, "lone surrogate \\uD83D: a high surrogate must be followed by a low one"),
        (r'"\ud83dx"', "\ufffdx", 2, 6, "lone surrogate \\uD83D: a high surrogate must be followed by a low one"),
        (r'"\ude00"', "\ufffd", 2, 6, "lone surrogate \\uDE00: a low surrogate must follow a high one"),
        (r'"\u12"', "u12", 2, 2, "invalid \\u escape: expected four hexadecimal digits"),
        ('"a\tb"', "a\tb", 3, 1, "raw control character U+0009 in a string"),
    ],
)
def test_bad_string_content(token, decoded, col, width, message):
    value, diags = parse_json(token, F)
    assert value.value == decoded
    assert [(d.code, d.message, d.span.col, d.span.end_col - d.span.col) for d in diags] == [
        ("E003", message, col, width)]


def test_duplicate_keys_are_reported_and_kept():
    value, diags = parse_json('{"a": 1,\n "b": 2,\n "a": 3}', F)
    assert [p[0] for p in value.pairs] == ["a", "b", "a"]
    assert value.get("a").value == 1
    assert [(d.code, d.span.line, d.span.col, d.message) for d in diags] == [
        ("E002", 3, 2, 'duplicate key "a" in a JSON object (first at line 1, column 2)')]


@pytest.mark.parametrize(
    "text, line, col, message, help",
    [
        ("", 1, 1, "unexpected end of input", "expected a value"),
        ("{", 1, 2, "unexpected end of input", "expected '}' or a string"),
        ('{"a": 1,}', 1, 9, "unexpected '}'", "JSON does not allow a comma before a closing bracket"),
        ("[1, 2, ]", 1, 8, "unexpected ']'", "JSON does not allow a comma before a closing bracket"),
        ('{"a" 1}', 1, 6, "unexpected number 1", "expected ':'"),
        ('{"a": 1 "b": 2}', 1, 9, 'unexpected string "b"', "expected ',' or '}'"),
        ('{"a": }', 1, 7, "unexpected '}'", "expected a value"),
        ("01", 1, 2, "unexpected number 1", "expected end of input"),
        ("{} {}", 1, 4, "unexpected '{'", "expected end of input"),
        ('{1: 2}', 1, 2, "unexpected number 1", "expected '}' or a string"),
        ('\n  "abc', 2, 3, "unterminated string", "a string must close on the same line; write a line break as \\n"),
        ('"a\nb"', 1, 1, "unterminated string", "a string must close on the same line; write a line break as \\n"),
        ("{'a': 1}", 1, 2, "unexpected \"'\": JSON strings use double quotes", None),
        ('{"a": True}', 1, 7, "unexpected 'True'", "JSON writes it 'true'"),
        ('{"a": None}', 1, 7, "unexpected 'None'", "JSON writes it 'null'"),
        ("NaN", 1, 1, "unexpected 'NaN'", "JSON has no NaN or Infinity"),
        ("// note\n{}", 1, 1, "unexpected '/': JSON does not allow comments", None),
        ('{"a": yes}', 1, 7, "unexpected 'yes'", "strings are written in double quotes"),
        ("\x00", 1, 1, "unexpected character U+0000", None),
        ("[1] \x0c", 1, 5, "unexpected character U+000C", None),
        ("+1", 1, 1, "unexpected character '+'", None),
    ],
)
def test_syntax_errors(text, line, col, message, help):
    value, diags = parse_json(text, F)
    assert value is None
    assert [(d.code, d.span.line, d.span.col, d.message, d.help) for d in diags] == [
        ("E001", line, col, message, help)]


def test_bytes_and_byte_order_mark():
    value, diags = parse_json('\ufeff{"a": "é"}'.encode("utf-8"), F)
    assert diags == [] and value.get("a").value == "é"
    assert value.span.col == 2  # the mark keeps its column
    value, diags = parse_json(b'{\n "a": "\xff"}', F)
    assert value is None
    assert [(d.code, d.span.line, d.span.col, d.message) for d in diags] == [
        ("E001", 2, 8, "the document is not valid UTF-8 (byte 0xff)")]


def test_deep_nesting_does_not_recurse():
    depth = 20_000
    value, diags = parse_json("[" * depth + "]" * depth, F)
    assert diags == [] and isinstance(value, JArray)
    policy, diags = parse_policy_text('{"Statement": ' + "[" * depth + "]" * depth + "}", F)
    assert policy is None and [d.code for d in diags] == ["W115", "E110"]


def test_transformer_merges_into_an_importing_grammar():
    grammar = 'start: "policy" value\n%import json (value)\n%ignore /[ \\n]+/\n'
    parser = Lark(grammar, parser="lalr", propagate_positions=True,
                  import_paths=[str(Path(grammar_pkg.__file__).parent)])

    class World(Transformer):
        def start(self, children):
            return children[0]

    json_transformer = JsonTransformer("w.iaml")
    world = merge_transformers(World(), json=json_transformer)
    value = world.transform(parser.parse('policy\n{"Version": "2012-10-17", "Version": 1}'))
    assert isinstance(value, JObject)
    assert value.pairs[0][1] == Span("w.iaml", 2, 2, 2, 11)
    assert value.get("Version").span == Span("w.iaml", 2, 13, 2, 25)
    assert [d.code for d in json_transformer.diagnostics] == ["E002"]


# ---------------------------------------------------------------------------------------------
# Policies: normal forms


def parse_ok(doc) -> Policy:
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=2)
    policy, diags = parse_policy_text(text, F)
    assert diags.errors == [], diags.render({F: text})
    return policy


def test_normal_forms():
    policy = parse_ok({
        "Version": "2012-10-17",
        "Id": "doc-1",
        "Statement": {
            "Sid": "S1",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": ["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"],
            "Condition": {
                "Bool": {"aws:SecureTransport": True},
                "NumericLessThan": {"s3:max-keys": 10},
                "ForAnyValue:StringLike": {"aws:TagKeys": ["a*", "b*"]},
                "StringEqualsIfExists": {"aws:username": []},
            },
        },
    })
    assert policy == Policy(
        (Statement("Allow", "S1", action=("s3:GetObject",), resource=("arn:aws:s3:::a/*", "arn:aws:s3:::b/*"),
                   principal=(Principal("AWS", "*"),),
                   conditions=(Condition("Bool", "aws:SecureTransport", ("true",)),
                               Condition("NumericLessThan", "s3:max-keys", ("10",)),
                               Condition("ForAnyValue:StringLike", "aws:TagKeys", ("a*", "b*")),
                               Condition("StringEqualsIfExists", "aws:username", ()))),),
        "2012-10-17", "doc-1")
    c = policy.statements[0].conditions[2]
    assert (c.qualifier, c.base, c.if_exists) == ("ForAnyValue", "StringLike", False)


def test_numbers_keep_their_text_and_false_is_lowercase():
    policy = parse_ok('{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*",'
                      ' "Condition": {"NumericGreaterThan": {"s3:max-keys": [1.50, 1e3, -0]},'
                      ' "Bool": {"aws:ViaAWSService": false}}}}')
    assert [c.values for c in policy.statements[0].conditions] == [("1.50", "1e3", "-0"), ("false",)]


def test_principal_forms():
    policy = parse_ok({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:role/r"],
                                              "Service": "ec2.amazonaws.com"},
             "Action": "sts:AssumeRole"},
            {"Effect": "Deny", "NotPrincipal": {"Federated": "cognito-identity.amazonaws.com",
                                                "CanonicalUser": "a" * 64}, "NotAction": "s3:*",
             "NotResource": "*"},
        ],
    })
    s1, s2, s3 = policy.statements
    assert s1.principal == (Principal("AWS", "*"),)
    assert s2.principal == (Principal("AWS", "111122223333"), Principal("AWS", "arn:aws:iam::111122223333:role/r"),
                            Principal("Service", "ec2.amazonaws.com"))
    assert s2.resource is None and s2.not_resource is None
    assert s3.not_principal == (Principal("Federated", "cognito-identity.amazonaws.com"),
                                Principal("CanonicalUser", "a" * 64))
    assert (s3.not_action, s3.not_resource, s3.action) == (("s3:*",), ("*",), None)


def test_spans_of_statements_principals_conditions():
    text = ('{\n'
            '  "Version": "2012-10-17",\n'
            '  "Statement": [{\n'
            '    "Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "s3:*", "Resource": "*",\n'
            '    "Condition": {"StringEquals": {"aws:username": ["a", "b"]}}\n'
            '  }]\n'
            '}\n')
    policy, diags = parse_policy_text(text, F)
    assert len(diags) == 0
    s = policy.statements[0]
    assert policy.span == Span(F, 1, 1, 7, 2)
    assert s.span == Span(F, 3, 17, 6, 4)
    assert s.principal[0].span == Span(F, 4, 45, 4, 59)
    assert s.conditions[0].span == Span(F, 5, 36, 5, 62)


def test_missing_version_is_a_warning_and_none():
    policy, diags = parse_policy_text('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}', F)
    assert policy.version is None
    assert codes(diags) == [("W115", 1, 1)]


def test_2008_version_is_kept():
    assert parse_ok('{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
                    ).version == "2008-10-17"


# ---------------------------------------------------------------------------------------------
# Policies: structural errors (each code with its span; the golden corpus has the full texts)

S = '"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"'
V = '{"Version": "2012-10-17", "Statement": '


def at(text: str, marker: str, nth: int = 1) -> int:
    """Column (1-based) of the nth occurrence of ``marker`` in one-line ``text``."""
    pos = -1
    for _ in range(nth):
        pos = text.index(marker, pos + 1)
    return pos + 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ('["x"]', [("E100", "[")]),
        ('"x"', [("E100", '"x"')]),
        (V + '{' + S + '}, "Extra": 1}', [("E101", '"Extra"')]),
        ('{"Version": "2012-10-17", "statement": {' + S + '}}', [("E101", '"statement"'), ("E117", "{")]),
        (V + '{' + S + ', "Conditions": {}}}', [("E102", '"Conditions"')]),
        (V + '{"Action": "*", "Resource": "*"}}', [("E103", '{"Action"')]),
        (V + '{"Effect": "Allow", "Action": "*"}}', []),
        (V + '{"Effect": "Allow", "Resource": "*"}}', [("E106", '{"Effect"')]),
        (V + '{"Effect": "ALLOW", "Action": "*"}}', [("E105", '"ALLOW"')]),
        (V + '{"Effect": true, "Action": "*"}}', [("E110", "true")]),
        (V + '{"Effect": "Deny", "Action": "*", "NotAction": "s3:*"}}', [("E107", '"NotAction"')]),
        (V + '{"Effect": "Deny", "NotResource": "*", "Action": "*", "Resource": "*"}}', [("E108", '"Resource"')]),
        (V + '{"Effect": "Deny", "Principal": "*", "NotPrincipal": "*", "Action": "*"}}',
         [("E109", '"NotPrincipal"')]),
        ('{"Version": 2012, "Statement": {' + S + '}}', [("E110", "2012")]),
        ('{"Version": "2012-10-17", "Id": ["x"], "Statement": {' + S + '}}', [("E110", '["x"]')]),
        (V + '"Allow"}', [("E110", '"Allow"')]),
        (V + '[{' + S + '}, 1]}', [("E110", "1]")]),
        (V + '{"Sid": 1, ' + S + '}}', [("E110", "1,")]),
        (V + '{"Effect": "Allow", "Action": {"s3": "*"}}}', [("E110", '{"s3"')]),
        (V + '{"Effect": "Allow", "Action": "*", "Principal": "arn:x"}}', [("E110", '"arn:x"')]),
        (V + '{"Effect": "Allow", "Action": "*", "Principal": {"AWS": 1}}}', [("E110", "1}")]),
        (V + '{' + S + ', "Condition": "x"}}', [("E111", '"x"')]),
        (V + '{' + S + ', "Condition": {"Bool": {"": "true"}}}}', [("E111", '""')]),
        (V + '{' + S + ', "Condition": {"Bool": {"k": [["true"]]}}}}', [("E111", '["true"]')]),
        (V + '{' + S + ', "Condition": {"Bool": {"k": {"v": 1}}}}}', [("E111", '{"v"')]),
        (V + '{' + S + ', "Condition": {"StringEquals": 1}}}', [("E111", "1}")]),
        (V + '{' + S + ', "Condition": {"Strings": {"k": "v"}}}}', [("E104", '"Strings"')]),
        (V + '{' + S + ', "Condition": {"NullIfExists": {"k": "true"}}}}', [("E112", '"NullIfExists"')]),
        (V + '{"Effect": "Allow", "Action": "*", "Principal": {"User": "a"}}}', [("E113", '"User"')]),
        ('{"Version": "1.0", "Statement": {' + S + '}}', [("E114", '"1.0"')]),
        (V + '[]}', [("E116", "[]")]),
        ('{"Version": "2012-10-17"}', [("E117", "{")]),
        (V + '{"Effect": "Allow", "Action": "*", "Resource": []}}', [("E118", "[]")]),
        (V + '{"Effect": "Allow", "Action": "*", "Principal": {"AWS": []}}}', [("E118", "[]")]),
        (V + '[{"Sid": "A", ' + S + '}, {"Sid": "A", ' + S + '}]}', [("W119", '"A"', 2)]),
        (V + '{"Effect": "Allow", "Action": "s3", "Resource": "*"}}', [("E120", '"s3"')]),
        (V + '{"Effect": "Allow", "Action": "s3:Get$", "Resource": "*"}}', [("E120", '"s3:Get$"')]),
        (V + '{"Effect": "Allow", "Action": "", "Resource": "*"}}', [("E121", '""')]),
        (V + '{' + S + ', "Condition": {"Bool": {}}}}', [("W122", "{}")]),
        (V + '{' + S + ', "Condition": {"Bool": {"k": "true", "K": "false"}}}}', [("E123", '"K"')]),
    ],
)
def test_structure_codes(text, expected):
    policy, diags = parse_policy_text(text, F)
    assert codes(diags) == [(code, 1, at(text, *where)) for code, *where in expected]
    assert (policy is None) == any(code.startswith("E") for code, *_ in expected)


def test_all_errors_of_a_document_are_reported_at_once():
    text = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Deny", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEqual": {"a": "b"}}},
    ]})
    policy, diags = parse_policy_text(text, F)
    assert policy is None
    assert [d.code for d in diags] == ["E105", "E106", "E104"]


def test_policy_from_value_returns_none_only_for_its_own_errors():
    value, _ = parse_json('{"Version": "2012-10-17", "Statement": {' + S + '}}', F)
    diags = Diagnostics()
    diags.add("E999", "an earlier, unrelated error")
    assert policy_from_value(value, F, diags) is not None
    bad, _ = parse_json('{"Statement": []}', F)
    assert policy_from_value(bad, F, diags) is None
    assert [d.code for d in diags] == ["E999", "W115", "E116"]


# ---------------------------------------------------------------------------------------------
# Condition operators

VALID_OPERATORS = [f"{q}{b}{s}" for q in ("", "ForAllValues:", "ForAnyValue:") for b in BASE_OPERATORS
                   for s in ("", "IfExists") if not (b == "Null" and s)]


def test_there_are_27_base_operators():
    assert len(BASE_OPERATORS) == len(set(BASE_OPERATORS)) == 27


@pytest.mark.parametrize("operator", VALID_OPERATORS)
def test_valid_operators(operator):
    diags = Diagnostics()
    assert check_operator(operator, None, diags) and len(diags) == 0


@pytest.mark.parametrize(
    "operator, code, help",
    [
        ("StringEqual", "E104", "did you mean 'StringEquals'?"),
        ("stringequals", "E104", "did you mean 'StringEquals'? (operator names are case-sensitive)"),
        ("forallvalues:stringlike", "E104", "did you mean 'ForAllValues:StringLike'? (operator names are case-sensitive)"),
        ("ForAllValue:StringLike", "E104", "did you mean 'ForAllValues:StringLike'?"),
        ("ForAnyValue:", "E104", "did you mean 'ForAnyValue:Null'?"),
        ("StringEqualsIfexists", "E104", "did you mean 'StringEqualsIfExists'? (operator names are case-sensitive)"),
        ("IfExists", "E104", "did you mean 'BoolIfExists'?"),
        ("ForAnyValue:ForAllValues:StringLike", "E104", "did you mean 'ForAllValues:StringLike'?"),
        ("NullIfExists", "E112", "Null already tests whether the key is present; use 'Null'"),
        ("ForAnyValue:NullIfExists", "E112", "Null already tests whether the key is present; use 'Null'"),
    ],
)
def test_invalid_operators(operator, code, help):
    diags = Diagnostics()
    assert not check_operator(operator, Span(F, 3, 4), diags)
    assert [(d.code, d.span, d.help) for d in diags] == [(code, Span(F, 3, 4), help)]


# ---------------------------------------------------------------------------------------------
# Back to JSON


def test_policy_to_json_is_canonical():
    policy = Policy((
        Statement("Allow", "S", principal=(Principal("AWS", "*"), Principal("Service", "s.amazonaws.com")),
                  action=("s3:GetObject",), resource=("*",),
                  conditions=(Condition("Bool", "aws:SecureTransport", ("true",)),
                              Condition("Bool", "aws:ViaAWSService", ("false",)),
                              Condition("StringLike", "s3:prefix", ()))),
        Statement("Deny", not_action=("iam:*",), not_resource=("arn:aws:iam::*:role/x",),
                  not_principal=(Principal("AWS", "111122223333"),)),
    ), "2012-10-17", "id")
    assert policy_to_json(policy) == {
        "Version": "2012-10-17",
        "Id": "id",
        "Statement": [
            {"Sid": "S", "Effect": "Allow", "Principal": {"AWS": ["*"], "Service": ["s.amazonaws.com"]},
             "Action": ["s3:GetObject"], "Resource": ["*"],
             "Condition": {"Bool": {"aws:SecureTransport": ["true"], "aws:ViaAWSService": ["false"]},
                           "StringLike": {"s3:prefix": []}}},
            {"Effect": "Deny", "NotPrincipal": {"AWS": ["111122223333"]}, "NotAction": ["iam:*"],
             "NotResource": ["arn:aws:iam::*:role/x"]},
        ],
    }
    assert parse_ok(json.dumps(policy_to_json(policy))) == policy


def test_policy_to_json_without_version_or_id():
    doc = policy_to_json(Policy((Statement("Deny", action=("*",), resource=("*",)),), None))
    assert doc == {"Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"]}]}


def test_policy_to_json_refuses_a_key_twice_under_one_operator():
    policy = Policy((Statement("Deny", action=("*",), resource=("*",),
                               conditions=(Condition("Bool", "k", ("true",)), Condition("Bool", "k", ("false",)))),))
    with pytest.raises(InvalidInput) as err:
        policy_to_json(policy)
    assert [d.code for d in err.value.diagnostics] == ["E123"]


# ---------------------------------------------------------------------------------------------
# Properties

_text = st.text(min_size=1, max_size=12)
_action = st.builds("{}:{}".format, st.sampled_from(["s3", "ec2", "iam", "kms", "execute-api", "s*"]),
                    st.text(alphabet="AbcZ019*?_-", min_size=1, max_size=8))
_actions = st.lists(st.just("*") | _action, min_size=1, max_size=3).map(tuple)
_strings = st.lists(_text, min_size=1, max_size=3).map(tuple)
_principals = st.dictionaries(st.sampled_from(PRINCIPAL_TYPES), st.lists(_text, min_size=1, max_size=2),
                              min_size=1).map(lambda d: tuple(Principal(t, v) for t, vs in d.items() for v in vs))


@st.composite
def _conditions(draw) -> tuple[Condition, ...]:
    out: list[Condition] = []
    for operator in draw(st.lists(st.sampled_from(VALID_OPERATORS), unique=True, max_size=3)):
        keys = draw(st.lists(_text, unique_by=str.lower, min_size=1, max_size=2))
        for key in keys:
            out.append(Condition(operator, key, tuple(draw(st.lists(st.text(max_size=8), max_size=3)))))
    return tuple(out)


@st.composite
def statements(draw) -> Statement:
    kw: dict = {}
    kw[draw(st.sampled_from(["action", "not_action"]))] = draw(_actions)
    which = draw(st.sampled_from([None, "resource", "not_resource"]))
    if which:
        kw[which] = draw(_strings)
    which = draw(st.sampled_from([None, "principal", "not_principal"]))
    if which:
        kw[which] = draw(_principals)
    return Statement(draw(st.sampled_from(["Allow", "Deny"])), draw(st.none() | st.text(max_size=8)),
                     conditions=draw(_conditions()), **kw)


policies = st.builds(
    Policy,
    st.lists(statements(), min_size=1, max_size=3).map(tuple),
    st.sampled_from(["2012-10-17", "2008-10-17", None]),
    st.none() | st.text(max_size=8),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies, st.sampled_from([None, 2]))
def test_round_trip(policy, indent):
    text = json.dumps(policy_to_json(policy), indent=indent, ensure_ascii=bool(indent))
    parsed, diags = parse_policy_text(text, F)
    assert diags.errors == []
    assert parsed == policy


VALID_TEXTS = [
    json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": ["s3:GetObject", "s3:List*"],
         "Resource": "arn:aws:s3:::b/${aws:username}/*",
         "Condition": {"Bool": {"aws:SecureTransport": True}, "ForAnyValue:StringLike": {"aws:TagKeys": ["a*"]},
                       "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
        {"Effect": "Deny", "NotAction": "iam:*", "NotResource": "*", "Principal": {"AWS": ["111122223333"]}},
    ]}, indent=2),
    '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},'
    '"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"},"NumericLessThan":{"a:b":3}}}}',
]


_edits = st.lists(st.tuples(st.integers(0, 400), st.sampled_from(["insert", "delete", "replace"]),
                            st.sampled_from(list('{}[],:"\\ \n0aA*$') + ["true", "null", "\\u", "\ud800", "\x00", "é"])),
                  min_size=1, max_size=4)


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(VALID_TEXTS))
    for pos, op, piece in draw(_edits):
        pos = min(pos, len(text))
        if op == "insert":
            text = text[:pos] + piece + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + len(piece):]
        else:
            text = text[:pos] + piece + text[pos + 1:]
    return text


def _read_and_validate(text, kind="identity"):
    policy, diags = parse_policy_text(text, F)
    assert isinstance(diags, Diagnostics)
    for d in diags:
        d.render({F: text})
    if policy is not None:
        for d in validate_policy(policy, kind):
            d.render({F: text})


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_raises(text):
    _read_and_validate(text)


@settings(max_examples=1000, deadline=None)
@given(mutated(), st.sampled_from(POLICY_KINDS))
def test_mutated_policies_never_raise(text, kind):
    _read_and_validate(text, kind)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
    | st.sampled_from(["Allow", "Deny", "*", "s3:GetObject", "2012-10-17", "AWS", "Bool", "StringLike"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["Version", "Statement", "Effect", "Action", "NotAction", "Resource", "NotResource",
                         "Principal", "NotPrincipal", "Condition", "Sid", "Id", "AWS", "Service", "Bool",
                         "ForAnyValue:StringLike", "aws:username"]) | st.text(max_size=4),
        children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(_json, st.sampled_from(POLICY_KINDS))
def test_arbitrary_json_documents_never_raise(doc, kind):
    _read_and_validate(json.dumps(doc), kind)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_arbitrary_bytes_never_raise(data):
    policy, diags = parse_policy_text(data, F)
    assert policy is None or not diags.has_errors()


def test_a_diagnostic_on_a_long_line_shows_the_part_around_its_column():
    from iamlogic.grammar.diagnostics import Diagnostic, Span

    line = "x" * 100_000 + "BAD" + "y" * 100_000
    text = Diagnostic("E201", "here", Span("f", 1, 100_001, 1, 100_004)).render({"f": line})
    _, src, caret = text.splitlines()
    assert len(src) < 300 and src.strip().startswith("…") and src.endswith("…")
    assert src[caret.index("^"):caret.rindex("^") + 1] == "BAD"
