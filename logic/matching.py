"""Value-level matching for IAM policies: wildcards, ARNs, condition operators, policy variables.

The Datalog rules decide *which* statements apply; the pure functions here decide whether one
value matches another. Everything is a pure function of hashable arguments (the one exception,
:func:`substitute`/:func:`evaluate_condition`, takes a ``lookup`` callable and is not cached);
the hot paths are memoized with :func:`functools.lru_cache`.

Public API
----------
- :func:`wildcard_match` — IAM ``*`` / ``?`` globbing (actions, ``StringLike``, resources).
- :func:`arn_match`, :func:`resource_match` — per-segment ARN matching (``ArnLike``, ``Resource``).
- :func:`match_value` — one request value against one policy value under the *positive* form of a
  base condition operator; :func:`is_negated`, :func:`positive_form`, :func:`parse_operator`.
- :func:`evaluate_condition` — one condition key under one operator as written in the policy
  (set qualifiers, ``IfExists``, ``Null``, missing keys, negation as NOR, …) → :class:`ConditionResult`.
- :func:`substitute`, :func:`has_variables`, :func:`make_lookup` — policy variables.
- :data:`NAMED_CHOICES` — every reading of a disputed or undocumented behaviour, with sources.

Escaped patterns
----------------
IAM has no escape character: in a policy, ``*`` and ``?`` in a ``*Like``/``Arn*``/``Resource``
value are always wildcards. The only way to write a literal ``*`` or ``?`` is the special policy
variables ``${*}`` and ``${?}``, and text substituted for a variable is literal too (see
``substituted-text-is-literal``). To carry that distinction in a plain ``str``,
``substitute(..., wildcards=True)`` returns an *escaped pattern*: a backslash makes the following
character literal (``\\*`` is a literal asterisk, ``\\\\`` a literal backslash) and every
backslash that was in the policy text is doubled. The matchers accept ``escaped=True`` to read
that form. With ``escaped=False`` (the default) a backslash is an ordinary character, exactly as
in IAM.

Sources: ``/work/shared/aws-semantics.md`` §1.9–1.12, §2 and §3.10–3.16 (our specification) and
the AWS pages cited next to each rule.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache, partial
from types import MappingProxyType
from typing import NamedTuple

from .grammar.diagnostics import Diagnostic, InvalidInput

__all__ = [
    "NAMED_CHOICES",
    "context_values",
    "NamedChoice",
    "ConditionResult",
    "ParsedOperator",
    "wildcard_match",
    "arn_match",
    "resource_match",
    "match_value",
    "is_negated",
    "positive_form",
    "parse_operator",
    "operator_family",
    "evaluate_condition",
    "substitute",
    "has_variables",
    "make_lookup",
    "VARIABLES_VERSION",
]

# --------------------------------------------------------------------------------------------
# Named choices: every place where the AWS documentation is silent, inconsistent or disputed.
# --------------------------------------------------------------------------------------------

_OPERATORS_PAGE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"
_MULTI_VALUE_PAGE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html"
_MULTI_EXAMPLES_PAGE = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
    "reference_policies_condition_examples-multi-valued-context-keys.html"
)
_SINGLE_VS_MULTI_PAGE = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
    "reference_policies_condition-single-vs-multi-valued-context-keys.html"
)
_VARIABLES_PAGE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"
_RESOURCE_PAGE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html"
_ANALYZER_CHECKS = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html"
)
_W3C_DATETIME = "http://www.w3.org/TR/NOTE-datetime"


class NamedChoice(NamedTuple):
    """One reading of an undocumented or disputed behaviour.

    Attributes:
        reading: What this module does, in one or two sentences.
        sources: Where the reading comes from (AWS pages first, then practitioner reports).
    """

    reading: str
    sources: tuple[str, ...]


NAMED_CHOICES: Mapping[str, NamedChoice] = MappingProxyType({
    "bare-operator-on-multivalued-key": NamedChoice(
        "An operator without ForAllValues:/ForAnyValue: on a multivalued key that is present "
        "(more than one value, or a key the catalog marks multivalued) does not match, whether "
        "the operator is positive or negated, with or without IfExists.",
        (_SINGLE_VS_MULTI_PAGE,
         "aws-semantics.md §2.3 'Bare operator on a multivalued key' (cloud-copilot/iam-simulate "
         "singleValueMatch, re:Inforce 2025 IAM431; ExtendDB/extenddb PR #271)"),
    ),
    "foranyvalue-ifexists-missing-key": NamedChoice(
        "ForAnyValue:<op>IfExists with the key absent is false: IfExists is applied per value "
        "inside the ForAnyValue loop, so it has no effect on a missing key.",
        ("https://iam.cloudcopilot.io/resources/operators/ForAnyValue:StringNotEqualsIfExists",
         "https://repost.aws/questions/QU9HFmDzP0QGuU-fd7rS6B7w",
         "aws-semantics.md §2.2"),
    ),
    "foranyvalue-negated-not-subset": NamedChoice(
        "ForAnyValue with a negated operator holds when some request value matches none of the "
        "policy values (per value NOR over the policy values), i.e. request ⊄ policy.",
        (_MULTI_VALUE_PAGE + " (negated operators: NOR over policy values)",
         "aws-semantics.md §2.3"),
    ),
    "empty-policy-value-list": NamedChoice(
        "A policy value list that is empty: ForAllValues matches only if the key is missing; "
        "ForAnyValue never matches; <op>IfExists matches only if the key is missing; a plain "
        "operator (and Null) does not affect the policy (the condition holds).",
        (_ANALYZER_CHECKS + " (empty array findings)", "aws-semantics.md §2.3"),
    ),
    "null-with-set-qualifier": NamedChoice(
        "ForAllValues:Null always holds and ForAnyValue:Null never holds.",
        (_ANALYZER_CHECKS + " ('Null with qualifier')", "aws-semantics.md §2.3"),
    ),
    "empty-request-value-set": NamedChoice(
        "A key present with an empty value set (request_values == ()) is the 'null data set': it "
        "is treated like a missing key by every operator form (Null 'true' holds, ForAllValues "
        "holds, ForAnyValue fails, negated operators hold, IfExists holds). A context value that is "
        "a list of empty strings only is that null data set (context_values); a single empty string "
        "is an ordinary value (s3:prefix is '' when a bucket's root is listed, and the IAM guide's "
        "home-folder policy matches it with StringLike s3:prefix '').",
        (_MULTI_EXAMPLES_PAGE + " ('context keys with empty values' + Null false)",
         _MULTI_VALUE_PAGE + " ('resolve to a null data set')"),
    ),
    "type-mismatch-is-no-match": NamedChoice(
        "A value that cannot be read as the operator's type (not a number, not a date, not "
        "true/false, not base64, not an IP/CIDR, request value not an ARN) makes that single "
        "comparison a non-match of the positive operator (so a negated operator counts it as "
        "'does not match') and is reported in type_errors.",
        (_ANALYZER_CHECKS + " ('Type mismatch …' warnings)", "aws-semantics.md §2.4"),
    ),
    "substituted-text-is-literal": NamedChoice(
        "Text put into a pattern by a policy variable (a request-context value or a "
        "${key, 'default'} default) is literal: a '*' or '?' in it is not a wildcard.",
        (_VARIABLES_PAGE + " §Special characters (${*}, ${?} exist to insert literal characters)",),
    ),
    "variable-default-on-multivalued": NamedChoice(
        "A variable naming a key with more than one value does not resolve (multivalued keys "
        "cannot be variables); if the variable has a default, the default is used.",
        (_VARIABLES_PAGE + " (only single-valued keys; default values)",),
    ),
    "bool-policy-variables": NamedChoice(
        "Policy variables are substituted in Bool values (the operators page says they can be; "
        "the variables page lists Boolean among operators that cannot).",
        (_OPERATORS_PAGE + " §Boolean", _VARIABLES_PAGE + " §Condition element",
         "aws-semantics.md §1.10"),
    ),
    "short-arn-pattern": NamedChoice(
        "An ARN pattern with fewer than six colon-separated parts: the parts before the last are "
        "matched segment by segment, the last part is matched against the rest of the ARN "
        "(colons included), so 'arn:aws:ec2:*' matches every EC2 ARN and '*' matches anything.",
        (_RESOURCE_PAGE + " ('If the * wildcard is the last character of a resource ARN segment, "
         "it can expand to match beyond colon boundaries')", "aws-semantics.md §1.9"),
    ),
    "date-formats": NamedChoice(
        "Date values: W3C ISO 8601 (YYYY-MM, YYYY-MM-DD, date-time with minutes, seconds and a "
        "fraction; zone Z or ±hh:mm, a date-time without zone is UTC) or epoch seconds. A value of "
        "digits only (even 4 digits) is epoch seconds, never the W3C year-only form.",
        (_OPERATORS_PAGE + " §Date", _W3C_DATETIME),
    ),
    "ip-cidr-host-bits": NamedChoice(
        "A CIDR whose host bits are set (203.0.113.5/24) is read as its network (203.0.113.0/24).",
        (_OPERATORS_PAGE + " §IP address",),
    ),
})

#: The only policy language version that supports policy variables.
VARIABLES_VERSION = "2012-10-17"

# --------------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------------

# base operator → (family, positive form).
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
_OPERATORS: dict[str, tuple[str, str]] = {
    "StringEquals": ("String", "StringEquals"),
    "StringNotEquals": ("String", "StringEquals"),
    "StringEqualsIgnoreCase": ("String", "StringEqualsIgnoreCase"),
    "StringNotEqualsIgnoreCase": ("String", "StringEqualsIgnoreCase"),
    "StringLike": ("String", "StringLike"),
    "StringNotLike": ("String", "StringLike"),
    "NumericEquals": ("Numeric", "NumericEquals"),
    "NumericNotEquals": ("Numeric", "NumericEquals"),
    "NumericLessThan": ("Numeric", "NumericLessThan"),
    "NumericLessThanEquals": ("Numeric", "NumericLessThanEquals"),
    "NumericGreaterThan": ("Numeric", "NumericGreaterThan"),
    "NumericGreaterThanEquals": ("Numeric", "NumericGreaterThanEquals"),
    "DateEquals": ("Date", "DateEquals"),
    "DateNotEquals": ("Date", "DateEquals"),
    "DateLessThan": ("Date", "DateLessThan"),
    "DateLessThanEquals": ("Date", "DateLessThanEquals"),
    "DateGreaterThan": ("Date", "DateGreaterThan"),
    "DateGreaterThanEquals": ("Date", "DateGreaterThanEquals"),
    "Bool": ("Bool", "Bool"),
    "BinaryEquals": ("Binary", "BinaryEquals"),
    "IpAddress": ("Ip", "IpAddress"),
    "NotIpAddress": ("Ip", "IpAddress"),
    "ArnEquals": ("Arn", "ArnEquals"),
    "ArnLike": ("Arn", "ArnLike"),
    "ArnNotEquals": ("Arn", "ArnEquals"),
    "ArnNotLike": ("Arn", "ArnLike"),
    "Null": ("Null", "Null"),
}
_CANONICAL = {name.lower(): name for name in _OPERATORS}
_QUALIFIERS = {"forallvalues": "ForAllValues", "foranyvalue": "ForAnyValue"}
# Families whose values may hold policy variables (variables page §Condition element; Bool per
# the named choice "bool-policy-variables").
_VARIABLE_FAMILIES = frozenset({"String", "Arn", "Bool"})
# Positive forms whose policy values are wildcard patterns.
_WILDCARD_FORMS = frozenset({"StringLike", "ArnLike", "ArnEquals"})


class ParsedOperator(NamedTuple):
    """An operator as written, split into its parts.

    Attributes:
        qualifier: ``"ForAllValues"``, ``"ForAnyValue"`` or ``None``.
        base: The canonical base operator (``"StringNotEquals"``, ``"Null"``, …).
        if_exists: Whether the ``IfExists`` suffix was present.
    """

    qualifier: str | None
    base: str
    if_exists: bool


def context_values(value, key: str | None = None) -> tuple[tuple[str, ...], bool]:
    """A context value as the request gives it, as conditions read it: its values as strings
    (``True`` is ``"true"``), and whether it was given as a list. A list of empty strings only is
    the null data set ``()`` (named choice ``empty-request-value-set``); a single empty string is a
    value (``s3:prefix`` is ``""`` for a listing of a bucket's root).
    A value that is not a string,
    a number, a boolean or a list of them (``None``, an object, a list in a list) is an input
    error (E506), never read as its Python spelling; ``key`` names it in the message.

    >>> context_values(True), context_values(["a", 1])
    ((('true',), False), (('a', '1'), True))
    """
    if type(value) is str:
        return (value,), False
    if isinstance(value, (list, tuple, set, frozenset)):
        values = tuple(_context_value(v, key) for v in value)
        return (values if any(values) else ()), True
    return (_context_value(value, key),), False


def _context_value(v, key: str | None) -> str:
    if type(v) is str:
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, Decimal)):
        finite = v.is_finite() if isinstance(v, Decimal) else not isinstance(v, float) or math.isfinite(v)
        if not finite:  # NaN, Infinity, 1e400: no value a request carries
            raise InvalidInput([Diagnostic("E506", f"context key {key or '(unnamed)'}: {v} is not a finite number")])
        return str(v)
    what = ("null" if v is None else "an object" if isinstance(v, Mapping) else
            "a list inside a list" if isinstance(v, (list, tuple, set, frozenset)) else type(v).__name__)
    raise InvalidInput([Diagnostic("E506", f"context key {key or '(unnamed)'}: a value is a string, a number, "
                                           f"a boolean or a list of them, not {what}")])


@lru_cache(maxsize=1024)
def parse_operator(operator: str) -> ParsedOperator:
    """Split an operator as written in a policy into qualifier, base operator and IfExists.

    Names are matched case-insensitively and returned in their canonical spelling.

    Args:
        operator: e.g. ``"ForAnyValue:StringNotEqualsIfExists"``.

    Returns:
        The parsed operator.

    Raises:
        ValueError: Unknown operator, unknown qualifier, or ``NullIfExists`` (Access Analyzer
            error "Null with if exists").

    >>> parse_operator("ForAnyValue:StringNotEqualsIfExists")
    ParsedOperator(qualifier='ForAnyValue', base='StringNotEquals', if_exists=True)
    """
    text = operator.strip()
    qualifier = None
    if ":" in text:
        prefix, text = text.split(":", 1)
        qualifier = _QUALIFIERS.get(prefix.strip().lower())
        if qualifier is None:
            raise ValueError(f"unknown set qualifier {prefix!r} in operator {operator!r}")
        text = text.strip()
    if_exists = False
    base = _CANONICAL.get(text.lower())
    if base is None and text.lower().endswith("ifexists"):
        base = _CANONICAL.get(text[: -len("ifexists")].lower())
        if_exists = True
    if base is None:
        raise ValueError(f"unknown condition operator {operator!r}")
    if if_exists and base == "Null":
        raise ValueError("the Null operator takes no IfExists suffix")
    return ParsedOperator(qualifier, base, if_exists)


def operator_family(base_operator: str) -> str:
    """The family of an operator: String, Numeric, Date, Bool, Binary, Ip, Arn or Null.

    Args:
        base_operator: Any operator form (qualifiers and IfExists are ignored).

    Returns:
        The family name.

    >>> operator_family("ForAllValues:ArnNotLikeIfExists")
    'Arn'
    """
    return _OPERATORS[parse_operator(base_operator).base][0]


def is_negated(base_operator: str) -> bool:
    """Whether an operator is a negated member of its family (NotEquals, NotLike, NotIpAddress …).

    A negated operator with several policy values holds when the request value matches *none* of
    them (NOR), and it holds when the key is missing — see :func:`evaluate_condition`.

    Args:
        base_operator: Any operator form (qualifiers and IfExists are ignored).

    Returns:
        True for the 8 negated operators.

    >>> is_negated("StringNotEquals"), is_negated("StringEquals"), is_negated("NotIpAddress")
    (True, False, True)
    """
    base = parse_operator(base_operator).base
    return _OPERATORS[base][1] != base


def positive_form(base_operator: str) -> str:
    """The positive operator whose comparison a (possibly negated) operator negates.

    Args:
        base_operator: Any operator form (qualifiers and IfExists are ignored).

    Returns:
        e.g. ``"StringEquals"`` for ``StringNotEquals``; ``"ArnEquals"`` for ``ArnNotEquals``;
        the operator itself for positive operators.

    >>> positive_form("ArnNotLike"), positive_form("NumericLessThan")
    ('ArnLike', 'NumericLessThan')
    """
    return _OPERATORS[parse_operator(base_operator).base][1]


# --------------------------------------------------------------------------------------------
# Wildcards
# --------------------------------------------------------------------------------------------

_STAR_RUN = re.compile(r"\*{2,}")
_STAR = 0  # token: any run of characters
_ONE = 1  # token: exactly one character

@lru_cache(maxsize=16384)
def _tokenize(pattern: str, escaped: bool) -> tuple[str | int, ...]:
    """Pattern → tokens: one-character literal strings, ``_STAR`` or ``_ONE`` (runs of ``*`` merged)."""
    if not escaped or "\\" not in pattern:  # no escapes: every character is its own token
        if "*" not in pattern and "?" not in pattern:
            return tuple(pattern)
        return tuple(_STAR if c == "*" else _ONE if c == "?" else c for c in _STAR_RUN.sub("*", pattern))
    return _tokenize_walk(pattern, escaped)


def _tokenize_walk(pattern: str, escaped: bool) -> tuple[str | int, ...]:
    """:func:`_tokenize` character by character (escapes read)."""
    out: list[str | int] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if escaped and ch == "\\" and i + 1 < n:
            out.append(pattern[i + 1])
            i += 2
            continue
        if ch == "*":
            if not (out and type(out[-1]) is int and out[-1] == _STAR):
                out.append(_STAR)
        elif ch == "?":
            out.append(_ONE)
        else:
            out.append(ch)
        i += 1
    return tuple(out)


def _same_char(a: str, b: str, ignore_case: bool) -> bool:
    return a == b or (ignore_case and a.casefold() == b.casefold())


@lru_cache(maxsize=16384)
def _plan(tokens: tuple[str | int, ...]) -> tuple[str, str, str]:
    """How to match a token sequence without walking it: ``("equal", text, "")``,
    ``("prefix", text, "")`` (text then one ``*``), ``("around", prefix, suffix)`` (one ``*`` between
    literals), or ``("walk", "", "")`` for anything else (``?``, several ``*``)."""
    stars = [i for i, t in enumerate(tokens) if type(t) is int]
    if not stars:
        return "equal", "".join(tokens), ""
    if len(stars) == 1 and tokens[stars[0]] == _STAR:
        i = stars[0]
        prefix, suffix = "".join(tokens[:i]), "".join(tokens[i + 1:])
        return ("prefix", prefix, "") if not suffix else ("around", prefix, suffix)
    return "walk", "", ""


def _match_tokens(tokens: tuple[str | int, ...], value: str, ignore_case: bool) -> bool:
    """Glob match of a whole value: literal text, text then ``*`` and one ``*`` between literals
    are compared directly (case-insensitively only for ASCII, where per-character case folding
    is ``lower``); anything else is walked by :func:`_walk_tokens`."""
    kind, a, b = _plan(tokens)
    if kind != "walk" and (not ignore_case or (value.isascii() and a.isascii() and b.isascii())):
        if ignore_case:
            value, a, b = value.lower(), a.lower(), b.lower()
        if kind == "equal":
            return value == a
        if kind == "prefix":
            return value.startswith(a)
        return len(value) >= len(a) + len(b) and value.startswith(a) and value.endswith(b)
    return _walk_tokens(tokens, value, ignore_case)


def _walk_tokens(tokens: tuple[str | int, ...], value: str, ignore_case: bool) -> bool:
    """Greedy glob match with backtracking to the last ``*`` — O(len(tokens)·len(value))."""
    p = v = 0
    star_p, star_v = -1, 0
    n, m = len(tokens), len(value)
    while v < m:
        if p < n:
            tok = tokens[p]
            if type(tok) is int:
                if tok == _STAR:
                    star_p, star_v = p, v
                    p += 1
                    continue
                p += 1  # _ONE: any single character
                v += 1
                continue
            if _same_char(tok, value[v], ignore_case):
                p += 1
                v += 1
                continue
        if star_p >= 0:
            star_v += 1
            p, v = star_p + 1, star_v
            continue
        return False
    while p < n and type(tokens[p]) is int and tokens[p] == _STAR:
        p += 1
    return p == n


@lru_cache(maxsize=65536)
def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False,
                   escaped: bool = False) -> bool:
    """IAM wildcard matching of a whole value.

    ``*`` matches any run of characters (including none, ``/`` and ``:``); ``?`` matches exactly
    one character; every other character is literal (regex metacharacters included). Used for
    actions (``ignore_case=True``, actions are case-insensitive —
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html),
    ``StringLike`` and resources (case-sensitive).

    Args:
        pattern: The policy pattern.
        value: The request value.
        ignore_case: Compare characters case-insensitively (per character ``casefold``).
        escaped: Read ``pattern`` as an escaped pattern (a backslash makes the next character
            literal), as produced by ``substitute(..., wildcards=True)``.

    Returns:
        Whether the whole value matches.

    >>> wildcard_match("iam:*AccessKey*", "IAM:ListAccessKeys", ignore_case=True)
    True
    >>> wildcard_match("a?c", "ac"), wildcard_match("a.c", "abc"), wildcard_match(r"a\\*", "ab", escaped=True)
    (False, False, False)
    """
    return _match_tokens(_tokenize(pattern, escaped), value, ignore_case)


def action_key(text: str) -> str | None:
    """The key an action name is looked up by: its characters case-folded one by one, or None for
    text that :func:`wildcard_match` must compare itself (a ``*`` or ``?``, or a character whose
    case folding is longer than one character).

    For texts that both have a key, ``wildcard_match(a, b, ignore_case=True)`` holds exactly when
    their keys are equal; a pattern with a key matches no text without one. So the statements
    that list an action by its exact name can be found by key, and only the others need matching.

    >>> action_key("S3:GetObject"), action_key("s3:Get*"), action_key("straße:Get")
    ('s3:getobject', None, None)
    """
    if text.isascii():
        return None if "*" in text or "?" in text else text.lower()
    folded = [c.casefold() for c in text]
    if "*" in folded or "?" in folded or any(len(f) != 1 for f in folded):
        return None
    return "".join(folded)


#: The scope of the Action patterns that may match any action (a wildcard in their service prefix).
ANY_SCOPE = "*"


def action_glob_scope(pattern: str) -> str | None:
    """The scope of an Action pattern without a key (None for one with a key: it names one action):
    the key of its service prefix, the text before its first ``:``, when that has one (no
    wildcard in it), else :data:`ANY_SCOPE`. Such a pattern matches only actions whose own prefix
    has the same key: its prefix and the ``:`` after it are matched character by character, and
    only ``:`` matches ``:`` (see :func:`action_scope`).

    >>> [action_glob_scope(p) for p in ("EC2:Describe*", "s3*:Get*", "*", "s3:GetObject")]
    ['ec2', '*', '*', None]
    """
    if action_key(pattern) is not None:
        return None
    found = action_scope(pattern)
    return ANY_SCOPE if found is None else found


def action_scope(action: str) -> str | None:
    """The scope (:func:`action_glob_scope`) of the patterns with a literal prefix that may match
    ``action``: the key of its service prefix, or None when it has none (only the patterns of
    :data:`ANY_SCOPE` may match it).

    >>> action_scope("S3:GetObject"), action_scope("GetObject")
    ('s3', None)
    """
    prefix, colon, _ = action.partition(":")
    return action_key(prefix) if colon else None


_COMPONENT_END = re.compile(r"[/:]")


def resource_scope(pattern: str) -> str:
    """The scope of a Resource entry: ``SERVICE:FIRST``, its ARN's service and the
    first component of its resource part (up to the first ``/`` or ``:``), when both are literal
    (no wildcard, no policy variable, no escape); else :data:`ANY_SCOPE`. :func:`resource_match`
    compares an ARN's service and resource part character by character, a literal one exactly,
    so such an entry matches only ARNs of the same scope (see :func:`resource_scopes`).

    >>> [resource_scope(p) for p in ("arn:aws:s3:::bucket-1/*", "arn:aws:logs:*:*:log-group:/aws/*",
    ...                              "arn:aws:s3:::bucket-*", "*", "arn:aws:s3:::${aws:username}/*")]
    ['s3:bucket-1', 'logs:log-group', '*', '*', '*']
    """
    if "$" in pattern or "\\" in pattern:
        return ANY_SCOPE
    parts = pattern.split(":", 5)
    if len(parts) < 6:  # ("*", or a short pattern: its last part is matched against the rest)
        return ANY_SCOPE
    service, first = parts[2], _COMPONENT_END.split(parts[5], 1)[0]
    if "*" in service or "?" in service or "*" in first or "?" in first:
        return ANY_SCOPE
    return f"{service}:{first}"


def resource_scopes(arn: str) -> tuple[str, ...]:
    """The scopes (:func:`resource_scope`) of the entries that may match a request's resource:
    :data:`ANY_SCOPE`, and its own service and first component when it is an ARN.

    >>> resource_scopes("arn:aws:s3:::bucket-1/key"), resource_scopes("*")
    (('*', 's3:bucket-1'), ('*',))
    """
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return (ANY_SCOPE,)
    return ANY_SCOPE, f"{parts[2]}:{_COMPONENT_END.split(parts[5], 1)[0]}"


def _unescape(pattern: str) -> str:
    """Escaped pattern → the literal text it denotes when wildcards are not in play."""
    return "".join(t if isinstance(t, str) else ("*" if t == _STAR else "?")
                   for t in _tokenize_literal(pattern))


@lru_cache(maxsize=4096)
def _tokenize_literal(pattern: str) -> tuple[str | int, ...]:
    # Like _tokenize(escaped=True) but without merging stars (used only by _unescape).
    out: list[str | int] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append(_STAR if ch == "*" else _ONE if ch == "?" else ch)
        i += 1
    return tuple(out)


# --------------------------------------------------------------------------------------------
# ARNs
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=16384)
def _arn_parts(pattern: str, escaped: bool) -> tuple[tuple[str | int, ...], ...]:
    """Pattern tokens split on the first five literal colons (the resource part keeps its colons)."""
    if not escaped or "\\" not in pattern:  # no escapes: split the text, then tokenize each part
        return tuple(_tokenize(part, False) for part in pattern.split(":", 5))
    return _arn_parts_walk(pattern, escaped)


def _arn_parts_walk(pattern: str, escaped: bool) -> tuple[tuple[str | int, ...], ...]:
    """:func:`_arn_parts` token by token (escapes read)."""
    parts: list[tuple[str | int, ...]] = []
    current: list[str | int] = []
    for tok in _tokenize(pattern, escaped):
        if tok == ":" and len(parts) < 5:
            parts.append(tuple(current))
            current = []
        else:
            current.append(tok)
    parts.append(tuple(current))
    return tuple(parts)


def _is_short_arn_pattern(pattern: str, escaped: bool = False) -> bool:
    return len(_arn_parts(pattern, escaped)) < 6


@lru_cache(maxsize=65536)
def arn_match(pattern: str, arn: str, *, escaped: bool = False) -> bool:
    """ArnLike / ArnEquals matching: each of the six colon-separated parts is matched separately.

    Both pattern and ARN are split on their first five colons; the sixth part (the resource)
    keeps its colons. Each part is matched with :func:`wildcard_match`, case-sensitively, so a
    ``*`` never spans a colon between the first five parts: ``arn:aws:someservice:*:111122223333:
    finance/*`` does not match ``arn:aws:someservice:us-east-2:999999999999:store/abc:
    111122223333:finance/document.txt`` (it would under StringLike) —
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
    A pattern with fewer than six parts follows the named choice ``short-arn-pattern``: its last
    part is matched against the rest of the ARN.

    Args:
        pattern: The policy ARN pattern.
        arn: The request ARN.
        escaped: Read ``pattern`` as an escaped pattern (see the module docstring).

    Returns:
        Whether the ARN matches.

    >>> arn_match("arn:aws:someservice:*:111122223333:finance/*",
    ...           "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt")
    False
    >>> arn_match("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a:b/c.txt")
    True
    """
    return _arn_match(pattern, arn, escaped)


def _arn_match(pattern: str, arn: str, escaped: bool) -> bool:
    """:func:`arn_match`, not kept: for the matchers that keep their own answers (one cache, not
    two, for a pair met for the first time)."""
    head, splits, plans = _arn_head_plans(pattern, escaped)
    if head:  # the leading literal parts, compared at once
        if not arn.startswith(head):
            return False
        arn = arn[len(head):]
    k = len(plans)
    if k == 1:  # the last part of the pattern: the rest of the ARN
        values = (arn,)
    else:
        values = arn.split(":", splits)
        if len(values) < k:
            return False
        if len(values) > k:  # a short pattern: its last part is matched against the rest of the ARN
            values[k - 1:] = [":".join(values[k - 1:])]
    for (kind, a, b, tokens), value in zip(plans, values):
        if kind == "equal":
            if value != a:
                return False
        elif kind == "prefix":
            if not value.startswith(a):
                return False
        elif kind == "around":
            if len(value) < len(a) + len(b) or not value.startswith(a) or not value.endswith(b):
                return False
        elif not _walk_tokens(tokens, value, False):
            return False
    return True


def plan_arn_pattern(pattern: str, *, escaped: bool = False) -> None:
    """Work out (and keep) how :func:`arn_match` matches an ARN pattern, ahead of its first match:
    an evaluator does it at load for the patterns of its world."""
    if pattern != "*":
        _arn_head_plans(pattern, escaped)


@lru_cache(maxsize=1 << 18)
def _arn_head_plans(pattern: str, escaped: bool) -> tuple[str, int, tuple]:
    """An ARN pattern as its leading literal parts (``arn:aws:s3:::`` — each part with the colon
    after it; never the last part), the splits left for the rest of the ARN, and the plans
    (:func:`_plan` and its tokens) of the other parts: the ARN's first parts match the literal
    ones exactly when the ARN starts with them, since a part holds no colon."""
    plans = tuple(_plan(tokens) + (tokens,) for tokens in _arn_parts(pattern, escaped))
    m = 0
    while m < len(plans) - 1 and plans[m][0] == "equal":
        m += 1
    return "".join(plan[1] + ":" for plan in plans[:m]), 5 - m, plans[m:]


@lru_cache(maxsize=65536)
def resource_match(pattern: str, resource_arn: str, *, escaped: bool = False) -> bool:
    """Match a ``Resource``/``NotResource`` entry against the ARN of the requested resource.

    ``*`` alone matches everything (including a request resource of ``*``); anything else is
    matched per ARN segment as :func:`arn_match` does — wildcards in any segment, the resource
    part case-sensitive (S3 object keys, IAM user names:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html),
    ``*`` spanning ``/`` inside a segment.

    Args:
        pattern: The policy's resource pattern (after variable substitution).
        resource_arn: The request's resource ARN.
        escaped: Read ``pattern`` as an escaped pattern, as returned by
            ``substitute(pattern, lookup, version=v, wildcards=True)``.

    Returns:
        Whether the resource is covered by the pattern.

    >>> resource_match("*", "arn:aws:s3:::b/k"), resource_match("arn:aws:s3:::b/*", "arn:aws:s3:::B/k")
    (True, False)
    """
    if pattern == "*":
        return True
    return _arn_match(pattern, resource_arn, escaped)


def escaped_resource_match(pattern: str, resource_arn: str) -> bool:
    """``resource_match(pattern, resource_arn, escaped=True)``, with its arguments positional: the
    form the evaluator asks on every decision (see :func:`escaped_resource_matcher`)."""
    return escaped_resource_matcher(pattern)(resource_arn)


@lru_cache(maxsize=1 << 16)
def escaped_resource_matcher(pattern: str) -> Callable[[str], bool]:
    """The test of ARNs against one escaped Resource pattern, worked out once for the pattern: a
    pattern whose parts are literal but the last, and whose last part is literal, literal then
    ``*``, or ``*`` between literals (``arn:aws:s3:::bucket/*``), is compared with the ARN whole,
    since its last part is matched against the rest of the ARN (:func:`arn_match`) and the
    literal parts before it hold no wildcard: no answer needs keeping, and an ARN met for the
    first time (a new object of a bucket) costs a string comparison. Any other pattern keeps its
    answers, ARN by ARN."""
    if pattern == "*":
        return _any_arn
    head, _, plans = _arn_head_plans(pattern, True)
    if len(plans) == 1:
        kind, a, b, _ = plans[0]
        start = head + a
        if kind == "equal":
            return lambda arn: arn == start
        if kind == "prefix":
            return lambda arn: arn.startswith(start)
        if kind == "around":
            least = len(start) + len(b)
            return lambda arn: len(arn) >= least and arn.startswith(start) and arn.endswith(b)
    return partial(_kept_resource_match, pattern)


def _any_arn(arn: str) -> bool:
    return True


@lru_cache(maxsize=65536)
def _kept_resource_match(pattern: str, resource_arn: str) -> bool:
    return _arn_match(pattern, resource_arn, True)


# --------------------------------------------------------------------------------------------
# Typed operands
# --------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_EPOCH = re.compile(r"[+-]?\d+(?:\.\d+)?")
_W3C = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})"
    r"(?:-(?P<d>\d{2})"
    r"(?:[Tt](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}:?\d{2})?)?)?"
)
_EPOCH_START = datetime(1970, 1, 1, tzinfo=timezone.utc)


@lru_cache(maxsize=4096)
def _parse_number(text: str) -> Decimal | None:
    """Integer or decimal → Decimal (no exponent, no NaN/Infinity); None if not a number."""
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        return None


@lru_cache(maxsize=4096)
def parse_date(text: str) -> Decimal | None:
    """W3C ISO 8601 or epoch seconds → exact seconds since the epoch (UTC); None if neither.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Date
    and http://www.w3.org/TR/NOTE-datetime; named choice ``date-formats``.
    """
    if _EPOCH.fullmatch(text):
        return Decimal(text)
    m = _W3C.fullmatch(text)
    if not m:
        return None
    g = m.groupdict()
    tz = timezone.utc
    if g["tz"] and g["tz"] not in ("Z", "z"):
        sign = -1 if g["tz"][0] == "-" else 1
        digits = g["tz"][1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        moment = datetime(int(g["y"]), int(g["mo"]), int(g["d"] or 1), int(g["h"] or 0),
                          int(g["mi"] or 0), int(g["s"] or 0), tzinfo=tz)
    except ValueError:
        return None
    delta = moment - _EPOCH_START
    seconds = Decimal(delta.days * 86400 + delta.seconds)
    if g["f"]:
        seconds += Decimal("0." + g["f"])
    return seconds


def _date_choice_applies(text: str) -> bool:
    """Whether reading ``text`` as a date relies on the ``date-formats`` choice."""
    if re.fullmatch(r"\d{4}", text):
        return True
    m = _W3C.fullmatch(text)
    return bool(m and m.group("h") and not m.group("tz"))


def _parse_bool(text: str) -> bool | None:
    folded = text.casefold()
    return True if folded == "true" else False if folded == "false" else None


@lru_cache(maxsize=4096)
def _parse_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4096)
def _parse_network(text: str) -> IpNetwork | None:
    """CIDR v4/v6 (bare address ⇒ /32 or /128; host bits masked) → network; None if malformed."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _network_has_host_bits(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=True)
        return False
    except ValueError:
        return _parse_network(text) is not None


@lru_cache(maxsize=4096)
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_arn(text: str) -> bool:
    return text.count(":") >= 5


_COMPARE = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanEquals": lambda a, b: a >= b,
}


@lru_cache(maxsize=65536)
def match_value(base_operator: str, request_value: str, policy_value: str, *,
                escaped: bool = False) -> bool | None:
    """Whether ONE request value matches ONE policy value under the operator's POSITIVE form.

    For a negated operator (StringNotEquals, NotIpAddress, ArnNotLike, …) this returns the result
    of the positive comparison (StringEquals, IpAddress, ArnLike, …): the caller applies the
    negation as a NOR over all policy values ("cannot match any of the values" —
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html),
    which :func:`evaluate_condition` does. Comparisons, per family
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):

    - String: ``StringEquals`` exact; ``StringEqualsIgnoreCase`` on ``str.casefold``;
      ``StringLike`` with ``*``/``?`` (:func:`wildcard_match`), all case-sensitive otherwise.
    - Numeric: integers and decimals (``-1``, ``2.50``, ``.5``), compared exactly as decimals;
      request value on the left (``NumericLessThan``: request < policy).
    - Date: W3C ISO 8601 or epoch seconds, compared as instants in UTC (named choice
      ``date-formats``); request value on the left.
    - Bool: ``true``/``false`` case-insensitively on both sides.
    - BinaryEquals: the request value is base64 text as well (how the request context carries a
      binary value); the base64-decoded bytes of both are compared.
    - IpAddress: the policy value is a v4 or v6 CIDR (bare address ⇒ /32 or /128), the request
      value an address; an address of the other IP version never matches.
    - ArnEquals ≡ ArnLike: :func:`arn_match`.

    Args:
        base_operator: Base operator (qualifiers and IfExists are ignored); not ``Null``.
        request_value: One value from the request context.
        policy_value: One value from the policy (an escaped pattern if ``escaped``).
        escaped: ``policy_value`` is in escaped-pattern form (see the module docstring).

    Returns:
        True / False, or None when a value cannot be read as the operator's type (not a number,
        not a date, not true/false, invalid base64, malformed IP or CIDR, request value not an
        ARN). The caller counts None as "no match" and reports it.

    Raises:
        ValueError: Unknown operator, or ``Null`` (which compares no values).

    >>> match_value("StringNotEquals", "a", "a")  # the StringEquals comparison
    True
    >>> match_value("NumericLessThan", "9", "10"), match_value("NumericLessThan", "nine", "10")
    (True, None)
    >>> match_value("IpAddress", "203.0.113.7", "203.0.113.0/24")
    True
    """
    parsed = parse_operator(base_operator)
    family, positive = _OPERATORS[parsed.base]
    if family == "String":
        if positive == "StringLike":
            return wildcard_match(policy_value, request_value, escaped=escaped)
        literal = _unescape(policy_value) if escaped else policy_value
        if positive == "StringEquals":
            return request_value == literal
        return request_value.casefold() == literal.casefold()
    if family == "Arn":
        if not _is_arn(request_value):
            return None
        return arn_match(policy_value, request_value, escaped=escaped)
    literal = _unescape(policy_value) if escaped else policy_value
    if family in ("Numeric", "Date"):
        parse = _parse_number if family == "Numeric" else parse_date
        left, right = parse(request_value), parse(literal)
        if left is None or right is None:
            return None
        return _COMPARE[positive[len(family):]](left, right)
    if family == "Bool":
        left, right = _parse_bool(request_value), _parse_bool(literal)
        return None if left is None or right is None else left == right
    if family == "Binary":
        left, right = _parse_base64(request_value), _parse_base64(literal)
        return None if left is None or right is None else left == right
    if family == "Ip":
        network, address = _parse_network(literal), _parse_ip(request_value)
        if network is None or address is None:
            return None
        return address.version == network.version and address in network
    raise ValueError(f"{parsed.base} compares no values (use evaluate_condition)")


_TYPE_NAMES = {"Numeric": "a number", "Date": "a date (W3C ISO 8601 or epoch seconds)",
               "Bool": "true or false", "Binary": "base64", "Null": "true or false"}


def _type_error(family: str, request_value: str, policy_value: str) -> str:
    """Human-readable reason why match_value returned None."""
    problems = []
    if family == "Arn":
        problems.append(f"request value {request_value!r} is not an ARN")
    elif family == "Ip":
        if _parse_network(policy_value) is None:
            problems.append(f"policy value {policy_value!r} is not an IP address or CIDR")
        if _parse_ip(request_value) is None:
            problems.append(f"request value {request_value!r} is not an IP address")
    else:
        check = {"Numeric": _parse_number, "Date": parse_date, "Bool": _parse_bool,
                 "Binary": _parse_base64}[family]
        for side, text in (("policy", policy_value), ("request", request_value)):
            if check(text) is None:
                problems.append(f"{side} value {text!r} is not {_TYPE_NAMES[family]}")
    return "; ".join(problems) or f"cannot compare {request_value!r} with {policy_value!r}"


# --------------------------------------------------------------------------------------------
# Policy variables
# --------------------------------------------------------------------------------------------

Lookup = Callable[[str], "tuple[str, ...] | None"]
_SPECIALS = {"*": "*", "?": "?", "$": "$"}


class _Var(NamedTuple):
    key: str
    default: str | None


class _Special(NamedTuple):
    char: str


@lru_cache(maxsize=4096)
def _scan(template: str) -> tuple[str | _Var | _Special, ...]:
    """Template → literal text runs, variables and special characters.

    Syntax (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html):
    ``${key}``, ``${key, 'default'}`` (whitespace around the key and the comma is tolerated), and
    ``${*}``, ``${?}``, ``${$}``. A ``${`` that does not start a well-formed variable is text.
    """
    out: list[str | _Var | _Special] = []
    text: list[str] = []
    i, n = 0, len(template)
    while i < n:
        if template.startswith("${", i):
            item, end = _scan_variable(template, i)
            if item is not None:
                if text:
                    out.append("".join(text))
                    text = []
                out.append(item)
                i = end
                continue
        text.append(template[i])
        i += 1
    if text:
        out.append("".join(text))
    return tuple(out)


def _scan_variable(template: str, start: int) -> tuple[_Var | _Special | None, int]:
    """Parse the variable starting at ``template[start:]`` (which begins with ``${``)."""
    i = start + 2
    for ch, value in _SPECIALS.items():
        if template.startswith(ch + "}", i):
            return _Special(value), i + 2
    j = i
    while j < len(template) and template[j] not in ",}":
        j += 1
    if j >= len(template):
        return None, start
    key = template[i:j].strip()
    if not key or any(c in key for c in "${'"):
        return None, start
    if template[j] == "}":
        return _Var(key, None), j + 1
    k = j + 1  # after the comma
    while k < len(template) and template[k] == " ":
        k += 1
    if k >= len(template) or template[k] != "'":
        return None, start
    close = template.find("'", k + 1)
    if close < 0:
        return None, start
    default = template[k + 1:close]
    k = close + 1
    while k < len(template) and template[k] == " ":
        k += 1
    if k >= len(template) or template[k] != "}":
        return None, start
    return _Var(key, default), k + 1


def has_variables(text: str) -> bool:
    """Whether ``text`` contains a policy variable (``${key}``, ``${key, 'd'}``, ``${*}`` …).

    Args:
        text: A policy value or resource pattern.

    Returns:
        True if at least one well-formed variable or special character occurs.

    >>> has_variables("arn:aws:s3:::b/${aws:username}/*"), has_variables("a$b{c}")
    (True, False)
    """
    return any(not isinstance(item, str) for item in _scan(text))


def variable_keys(text: str) -> tuple[str, ...]:
    """The context keys the policy variables of ``text`` name, lower case, in order (not the
    special characters ``${*}``, ``${?}``, ``${$}``).

    >>> variable_keys("${aws:PrincipalTag/team}/${aws:userid, 'x'}/${*}")
    ('aws:principaltag/team', 'aws:userid')
    """
    return tuple(dict.fromkeys(item.key.lower() for item in _scan(text) if isinstance(item, _Var)))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


class _Substitution(NamedTuple):
    text: str | None
    unresolved: tuple[str, ...]  # keys that did not resolve and had no default
    choices: tuple[str, ...]


def _substitute(template: str, lookup: Lookup, version: str | None,
                wildcards: bool) -> _Substitution:
    if version != VARIABLES_VERSION:
        return _Substitution(template.replace("\\", "\\\\") if wildcards else template, (), ())
    out: list[str] = []
    unresolved: list[str] = []
    choices: list[str] = []
    for item in _scan(template):
        if isinstance(item, str):
            out.append(item.replace("\\", "\\\\") if wildcards else item)
            continue
        if isinstance(item, _Special):
            out.append(("\\" + item.char) if wildcards and item.char in "*?" else item.char)
            continue
        values = lookup(item.key)
        if values is not None and len(values) > 1:
            choices.append("variable-default-on-multivalued")
            values = None
        if values:
            value = values[0]
        elif item.default is not None:
            value = item.default
        else:
            unresolved.append(item.key)
            continue
        if wildcards and ("*" in value or "?" in value):
            choices.append("substituted-text-is-literal")
        out.append(_escape(value) if wildcards else value)
    text = None if unresolved else "".join(out)
    return _Substitution(text, tuple(unresolved), tuple(dict.fromkeys(choices)))


def substitute(template: str, lookup: Lookup, *, version: str | None,
               wildcards: bool = False) -> str | None:
    """Replace the policy variables of ``template`` with values from the request context.

    Rules (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html):

    - ``${key}`` is replaced by the key's value; ``lookup`` receives the key as written and must
      match key names case-insensitively (:func:`make_lookup` builds such a callable).
    - ``${key, 'default'}`` uses ``default`` when the key has no value.
    - ``${*}``, ``${?}``, ``${$}`` are the literal characters ``*``, ``?``, ``$``.
    - Only ``Version`` ``2012-10-17`` has variables: for ``2008-10-17`` or no Version element
      (``version=None``) the template is returned unchanged — variables are literal text.
    - A variable that does not resolve and has no default makes the whole value unresolved:
      ``None`` is returned and the caller applies the null rules (positive operators do not match,
      negated ones do; a ``Resource`` matches nothing). A key with more than one value cannot be a
      variable: it does not resolve either (its default, if any, is used —
      ``variable-default-on-multivalued``). The lookup should also return None for a key the
      catalog marks multivalued even when it holds a single value.

    With ``wildcards=True`` the result is an *escaped pattern* for the matchers' ``escaped=True``
    mode: the template's own ``*``/``?`` stay wildcards, while ``${*}``, ``${?}`` and all
    substituted text are literal (``substituted-text-is-literal``), and the template's own
    backslashes are doubled (also for version 2008 / None). Use it for ``*Like``, ``Arn*`` and
    ``Resource`` values; use ``wildcards=False`` (plain text) for the other operators.

    Args:
        template: A policy value or resource pattern.
        lookup: ``key → tuple of values`` (None or ``()`` when the key is absent).
        version: The policy's ``Version`` element, None when it has none.
        wildcards: Produce an escaped pattern instead of plain text.

    Returns:
        The substituted text or escaped pattern, or None if a variable did not resolve.

    >>> ctx = make_lookup({"aws:username": "alice"})
    >>> substitute("home/${AWS:UserName}/${*}", ctx, version="2012-10-17")
    'home/alice/*'
    >>> substitute("home/${aws:username}/${*}", ctx, version="2012-10-17", wildcards=True)
    'home/alice/\\\\*'
    >>> substitute("${aws:userid, 'anonymous'}", ctx, version="2012-10-17")
    'anonymous'
    >>> substitute("${aws:userid}", ctx, version="2012-10-17") is None
    True
    >>> substitute("${aws:username}", ctx, version="2008-10-17")
    '${aws:username}'
    """
    return _substitute(template, lookup, version, wildcards).text


def make_lookup(context: Mapping[str, str | Sequence[str]]) -> Lookup:
    """A case-insensitive ``lookup`` over a mapping of context keys to a value or values.

    Args:
        context: ``{key: value}`` or ``{key: [values]}``; key names are case-insensitive
            (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html).

    Returns:
        ``lookup(key) -> tuple[str, ...] | None`` as :func:`substitute` expects.

    >>> make_lookup({"aws:PrincipalTag/Team": "blue"})("AWS:principaltag/team")
    ('blue',)
    """
    folded: dict[str, tuple[str, ...]] = {}
    for key, value in context.items():
        folded[key.casefold()] = (value,) if isinstance(value, str) else tuple(value)

    def lookup(key: str) -> tuple[str, ...] | None:
        return folded.get(key.casefold())

    return lookup


# --------------------------------------------------------------------------------------------
# Whole conditions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionResult:
    """The outcome of one condition key under one operator.

    Attributes:
        holds: Whether the condition is satisfied.
        missing_key: The key was absent from the request (or present with an empty value set —
            named choice ``empty-request-value-set``).
        type_errors: Why some comparisons could not be made (named choice
            ``type-mismatch-is-no-match``).
        choices: Names (keys of :data:`NAMED_CHOICES`) of the disputed-semantics readings that
            decided or shaped this result, for the explanation to show.
        unresolved: Policy values whose variables did not resolve (they match nothing);
            filled only when values were compared, i.e. when the key is present.
    """

    holds: bool
    missing_key: bool = False
    type_errors: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    unresolved: tuple[str, ...] = ()


def _normalise_values(values: object) -> tuple[str, ...]:
    """Policy JSON value(s) → tuple of strings (JSON booleans → 'true'/'false', numbers → text)."""
    if values is None:
        return ()
    if isinstance(values, (str, bool, int, float, Decimal)):
        values = (values,)
    out = []
    for value in values:  # type: ignore[union-attr]
        if isinstance(value, bool):
            out.append("true" if value else "false")
        else:
            out.append(value if isinstance(value, str) else str(value))
    return tuple(out)


def evaluate_condition(operator: str, policy_values: str | Sequence[str],
                       request_values: tuple[str, ...] | None, *, multivalued: bool = False,
                       lookup: Lookup | None = None,
                       version: str | None = VARIABLES_VERSION) -> ConditionResult:
    """Evaluate one condition key under one operator, exactly as aws-semantics §2.2–2.3 specify.

    Missing key (``request_values is None``; an empty tuple is treated the same way — named
    choice ``empty-request-value-set``), from the operators page "Important" box, §IfExists and
    §Null (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)
    and the multivalued-key pages:

    ==========================================  =====================================
    operator form                               key absent
    ==========================================  =====================================
    positive (StringEquals, Bool, IpAddress …)  false
    negated (StringNotEquals, NotIpAddress …)   true
    any ``…IfExists``                           true
    ``Null`` "true" / "false"                   true / false
    ``ForAllValues:…``                          true (vacuous)
    ``ForAnyValue:…``                           false
    ``ForAnyValue:…IfExists``                   false (``foranyvalue-ifexists-missing-key``)
    ==========================================  =====================================

    Key present: several policy values are OR-ed for a positive operator and NOR-ed for a negated
    one ("cannot match any of the values" —
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html).
    ``ForAllValues:op`` holds when every request value passes that per-value test (so with a
    negated op: request ∩ policy = ∅), ``ForAnyValue:op`` when some request value does (with a
    negated op: request ⊄ policy — ``foranyvalue-negated-not-subset``). An operator without a
    set qualifier on a multivalued key (several values, or ``multivalued=True`` from the catalog)
    does not match (``bare-operator-on-multivalued-key``). An empty policy value list follows
    ``empty-policy-value-list``; ``ForAllValues:Null``/``ForAnyValue:Null`` follow
    ``null-with-set-qualifier``.

    Policy variables are substituted in String, Arn and Bool values when ``lookup`` is given
    (``bool-policy-variables``); a value with an unresolved variable matches nothing, so positive
    operators fail and negated operators hold on it.

    Args:
        operator: The operator as written, e.g. ``"ForAnyValue:StringNotEqualsIfExists"``.
        policy_values: The policy's value(s) for the key (JSON booleans and numbers accepted).
        request_values: None when the key is absent from the request context, otherwise the
            key's values (a single-valued key is a 1-tuple).
        multivalued: The catalog marks the key multivalued (``ArrayOf…``).
        lookup: Request-context lookup for policy variables; None = take values verbatim.
        version: The policy's ``Version`` element (None when absent); only ``2012-10-17``
            substitutes variables.

    Returns:
        The :class:`ConditionResult`.

    Raises:
        ValueError: Unknown operator or ``NullIfExists``.

    >>> evaluate_condition("StringNotEquals", ["a", "b"], ("a",)).holds  # NOR
    False
    >>> evaluate_condition("ForAllValues:StringNotLike", "key1*", None).holds
    True
    >>> r = evaluate_condition("ForAnyValue:StringEqualsIfExists", "x", None)
    >>> r.holds, r.missing_key, r.choices
    (False, True, ('foranyvalue-ifexists-missing-key',))
    """
    op = parse_operator(operator)
    family, positive = _OPERATORS[op.base]
    negated = is_negated(op.base)
    values = _normalise_values(policy_values)
    request = None if request_values is None else tuple(request_values)
    absent = not request
    choices: list[str] = []
    if request == ():
        choices.append("empty-request-value-set")

    def result(holds: bool, errors: Iterable[str] = (), unresolved: Iterable[str] = ()) -> ConditionResult:
        return ConditionResult(bool(holds), absent, tuple(dict.fromkeys(errors)),
                               tuple(dict.fromkeys(choices)), tuple(unresolved))

    # Null: an existence check, not a value comparison (operators page §Null).
    if op.base == "Null":
        if op.qualifier is not None:
            choices.append("null-with-set-qualifier")
            return result(op.qualifier == "ForAllValues")
        if not values:
            choices.append("empty-policy-value-list")
            return result(True)
        errors, holds = [], False
        for value in values:
            wanted = _parse_bool(value)
            if wanted is None:
                errors.append(f"Null: policy value {value!r} is not true or false")
                choices.append("type-mismatch-is-no-match")
            elif wanted == absent:
                holds = True
        return result(holds, errors)

    # Empty policy value list (Access Analyzer finding texts).
    if not values:
        choices.append("empty-policy-value-list")
        if op.qualifier == "ForAllValues" or (op.qualifier is None and op.if_exists):
            return result(absent)
        return result(op.qualifier is None)

    # Missing key (or the null data set).
    if absent:
        if op.qualifier == "ForAllValues":
            return result(True)
        if op.qualifier == "ForAnyValue":
            if op.if_exists:
                choices.append("foranyvalue-ifexists-missing-key")
            return result(False)
        return result(True if op.if_exists else negated)

    assert request is not None
    if op.qualifier is None and (multivalued or len(request) > 1):
        choices.append("bare-operator-on-multivalued-key")
        return result(False)

    # Policy variables.
    wildcards = positive in _WILDCARD_FORMS
    escaped = False
    patterns: list[str | None] = []
    unresolved: list[str] = []
    if lookup is not None and family in _VARIABLE_FAMILIES and version == VARIABLES_VERSION:
        escaped = wildcards
        for value in values:
            sub = _substitute(value, lookup, version, wildcards)
            choices.extend(sub.choices)
            if family == "Bool" and has_variables(value):
                choices.append("bool-policy-variables")
            if sub.text is None:
                unresolved.append(value)
            patterns.append(sub.text)
    else:
        patterns.extend(values)

    # Choices that shape how values are read.
    if family == "Arn" and any(p is not None and _is_short_arn_pattern(p, escaped) for p in patterns):
        choices.append("short-arn-pattern")
    if family == "Date" and any(_date_choice_applies(t) for t in (*values, *request)):
        choices.append("date-formats")
    if family == "Ip" and any(_network_has_host_bits(v) for v in values):
        choices.append("ip-cidr-host-bits")

    errors: list[str] = []

    def passes(request_value: str) -> bool:
        """The per-request-value test: OR over policy values, NOR for a negated operator."""
        matched = False
        for pattern in patterns:
            if pattern is None:  # unresolved variable: matches nothing
                continue
            outcome = match_value(positive, request_value, pattern, escaped=escaped)
            if outcome is None:
                literal = _unescape(pattern) if escaped else pattern
                errors.append(f"{op.base}: {_type_error(family, request_value, literal)}")
                choices.append("type-mismatch-is-no-match")
            elif outcome:
                matched = True
        return not matched if negated else matched

    if op.qualifier == "ForAllValues":
        holds = all([passes(r) for r in request])
    elif op.qualifier == "ForAnyValue":
        if negated:
            choices.append("foranyvalue-negated-not-subset")
        holds = any([passes(r) for r in request])
    else:
        holds = passes(request[0])
    return result(holds, errors, unresolved)


def condition_on_unknown_suffix(operator: str, policy_values: Sequence[str], prefix: str) -> bool | None:
    """Whether a condition holds on a single string value known only to start with ``prefix``
    and go on with at least one unknown character: the session of a role given by its ARN has
    ``aws:userid`` ``ROLE-ID:SESSION``, its name unknown. ``None`` when the answer depends on the
    unknown part, or the operator is not a plain String one (qualifiers, policy variables).

    ``StringLike "ROLE-ID:*"`` holds whatever the session's name, ``StringEquals "OTHER:x"``
    never does; ``StringLike "ROLE-ID:batch-*"`` depends on it.

    >>> condition_on_unknown_suffix("StringNotLike", ("AROAEXAMPLE:*", "111122223333"), "AROAEXAMPLE:")
    False
    >>> condition_on_unknown_suffix("StringLike", ("AROAEXAMPLE:batch-*",), "AROAEXAMPLE:") is None
    True
    """
    try:
        op = parse_operator(operator)
    except ValueError:
        return None
    base = op.base.removeprefix("StringNot").removeprefix("String")
    if op.qualifier is not None or not op.base.startswith("String") or any("${" in v for v in policy_values):
        return None
    fold = base == "EqualsIgnoreCase"
    known = prefix.casefold() if fold else prefix

    def always(value: str) -> bool:  # every value prefix+S matches
        if base != "Like":
            return False
        star = value.find("*")
        return star >= 0 and not value[star:].strip("*") and star <= len(known) and fits(value[:star])

    def never(value: str) -> bool:  # no value prefix+S matches
        if base != "Like":
            v = value.casefold() if fold else value
            return not (v.startswith(known) and len(v) > len(known))
        star = value.find("*")
        head = value if star < 0 else value[:star]
        return not fits(head) or (star < 0 and len(value) <= len(known))

    def fits(head: str) -> bool:  # the pattern's text before any '*' agrees with what is known
        return all(c == "?" or c == k for c, k in zip(head, known))

    if base not in ("Equals", "EqualsIgnoreCase", "Like"):
        return None
    if any(always(v) for v in policy_values):
        matched = True
    elif all(never(v) for v in policy_values):
        matched = False
    else:
        return None
    return not matched if op.base.startswith("StringNot") else matched
