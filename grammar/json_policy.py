"""AWS JSON policy documents → :class:`~iamlogic.grammar.ast.Policy`, with source positions.

Two steps, each usable alone:

1. :func:`parse_json` reads JSON text (grammar ``json.lark``) into *located values*
   (:class:`JObject`, :class:`JArray`, :class:`JScalar`), each with the :class:`Span` it came from;
   syntax errors, bad string escapes and duplicate keys become diagnostics ``E001``–``E003``.
2. :func:`policy_from_value` checks the structure of a policy document (``E1xx``/``W1xx``) and
   builds the AST in the normal forms documented in ``ast.py``.

:func:`parse_policy_text` does both; :func:`policy_to_json` is the way back to canonical AWS JSON.
Kind-specific rules (may an SCP name a Principal? is this action known?) are not checked here:
they are ``iamlogic.validate``'s.

The element rules follow the IAM User Guide, "IAM JSON policy element reference",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html , and the
condition operators its "Condition operators" page,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html .

>>> policy, diags = parse_policy_text('{"Version": "2012-10-17", "Statement": '
...     '{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}')
>>> policy.statements[0].action, len(diags)
(('s3:GetObject',), 0)
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterable, Union

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import LarkError, UnexpectedInput, UnexpectedToken

from .ast import EFFECTS, PRINCIPAL_TYPES, Condition, Policy, Principal, Statement
from .diagnostics import Diagnostic, Diagnostics, InvalidInput, Span, did_you_mean
from .cache import lark_cache

__all__ = [
    "BASE_OPERATORS",
    "JArray",
    "JObject",
    "JScalar",
    "JValue",
    "JsonTransformer",
    "SET_QUALIFIERS",
    "VERSIONS",
    "VERSIONS_HELP",
    "check_operator",
    "decode_string",
    "json_parser",
    "parse_json",
    "parse_policy_text",
    "policy_from_value",
    "policy_to_json",
]

# ---------------------------------------------------------------------------------------------
# Located JSON values


@dataclass(frozen=True)
class JScalar:
    """A JSON string, number, boolean or null, with its span.

    ``raw`` keeps a number's text as written (``1.50``, ``1e3``), which is what a condition value
    becomes; it is None for other scalars and for values built without source text.
    """

    value: Union[str, int, float, bool, None]
    span: Span | None = field(default=None, compare=False)
    raw: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class JArray:
    """A JSON array: its items in order, with the span from ``[`` to ``]``."""

    items: tuple["JValue", ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, eq=False)
class JObject:
    """A JSON object: ``(key, key_span, value)`` in written order, duplicates kept, with its span.

    Like every located value, it compares without its spans (key spans included).
    """

    pairs: tuple[tuple[str, Span | None, "JValue"], ...]
    span: Span | None = field(default=None, compare=False)

    def _items(self) -> tuple[tuple[str, "JValue"], ...]:
        return tuple((key, value) for key, _, value in self.pairs)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JObject):
            return NotImplemented
        return self._items() == other._items()

    def __hash__(self) -> int:
        return hash(self._items())

    def get(self, key: str) -> "JValue | None":
        """The value of the first pair named ``key``, or None."""
        for name, _, value in self.pairs:
            if name == key:
                return value
        return None


JValue = Union[JObject, JArray, JScalar]


def _span_of(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def decode_string(token: str, line: int, column: int, file: str, diags: list[Diagnostic]) -> str:
    """Decode a JSON string token (quotes included), reporting bad content as ``E003``.

    Handles every RFC 8259 escape, ``\\uXXXX`` with surrogate pairs; a lone surrogate becomes
    U+FFFD, an unknown escape keeps its character, and each problem is reported at its column.

    Args:
        token: The token text, ``"..."``.
        line: Line of the opening quote.
        column: Column of the opening quote.
        file: File name for the diagnostics.
        diags: Where problems are appended.

    Returns:
        The decoded string.
    """
    out: list[str] = []
    body = token[1:-1]
    i, n = 0, len(body)

    def report(at: int, width: int, message: str, help: str | None = None) -> None:
        col = column + 1 + at
        diags.append(Diagnostic("E003", message, Span(file, line, col, line, col + width), help))

    def hex4(at: int) -> int | None:
        digits = body[at : at + 4]
        return int(digits, 16) if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits) else None

    while i < n:
        ch = body[i]
        if ch != "\\":
            if ord(ch) < 0x20:
                report(i, 1, f"raw control character U+{ord(ch):04X} in a string",
                       "write it as an escape such as \\n or \\t")
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1]  # the lexer guarantees a character after a backslash
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
            continue
        if esc != "u":
            report(i, 2, f"invalid escape '\\{esc}' in a string",
                   "JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX; write a backslash as \\\\")
            out.append(esc)
            i += 2
            continue
        code = hex4(i + 2)
        if code is None:
            report(i, 2, "invalid \\u escape: expected four hexadecimal digits")
            out.append("u")
            i += 2
            continue
        if 0xD800 <= code <= 0xDBFF:
            low = hex4(i + 8) if body[i + 6 : i + 8] == "\\u" else None
            if low is not None and 0xDC00 <= low <= 0xDFFF:
                out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                i += 12
                continue
            report(i, 6, f"lone surrogate \\u{code:04X}: a high surrogate must be followed by a low one")
            out.append("\ufffd")
        elif 0xDC00 <= code <= 0xDFFF:
            report(i, 6, f"lone surrogate \\u{code:04X}: a low surrogate must follow a high one")
            out.append("\ufffd")
        else:
            out.append(chr(code))
        i += 6
    return "".join(out)


@v_args(meta=True)
class JsonTransformer(Transformer_NonRecursive):
    """Turns a ``json.lark`` tree into located values; non-recursive, so nesting depth is free.

    One method per rule: ``object``, ``pair``, ``array``, ``string``, ``number``, ``true``,
    ``false``, ``null`` (and ``start``). A grammar that does ``%import .json (value)`` gets those
    rules as ``json__object`` …; merge with
    ``lark.visitors.merge_transformers(Yours(), json=JsonTransformer(file))``. The trees need
    ``propagate_positions=True``.

    Args:
        file: File name put in every span and diagnostic.

    Attributes:
        diagnostics: ``E002`` (duplicate key) and ``E003`` (bad string content) found while
            transforming; read it after ``transform``.
    """

    def __init__(self, file: str):
        super().__init__(visit_tokens=False)
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    def start(self, meta, children):
        return children[0]

    def object(self, meta, children):
        seen: dict[str, Span | None] = {}
        for key, key_span, _ in children:
            if key in seen:
                first = seen[key]
                where = f" (first at line {first.line}, column {first.col})" if first else ""
                self.diagnostics.append(Diagnostic("E002", f"duplicate key \"{key}\" in a JSON object{where}", key_span,
                                                   "AWS may keep either value; write each key once"))
            else:
                seen[key] = key_span
        return JObject(tuple(children), _span_of(self.file, meta))

    def pair(self, meta, children):
        key, value = children
        return (key.value, key.span, value)

    def array(self, meta, children):
        return JArray(tuple(children), _span_of(self.file, meta))

    def string(self, meta, children):
        tok: Token = children[0]
        text = decode_string(str(tok), tok.line, tok.column, self.file, self.diagnostics)
        return JScalar(text, _span_of(self.file, meta))

    def number(self, meta, children):
        raw = str(children[0])
        value: int | float = float(raw) if any(c in raw for c in ".eE") else int(raw)
        return JScalar(value, _span_of(self.file, meta), raw)

    def true(self, meta, children):
        return JScalar(True, _span_of(self.file, meta))

    def false(self, meta, children):
        return JScalar(False, _span_of(self.file, meta))

    def null(self, meta, children):
        return JScalar(None, _span_of(self.file, meta))


@functools.lru_cache(maxsize=None)
def json_parser() -> Lark:
    """The LALR parser of ``json.lark`` with positions, built once per process."""
    grammar = importlib.resources.files(__package__).joinpath("json.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False,
                cache=lark_cache("json"))


_TERMINALS = {
    "LBRACE": "'{'", "RBRACE": "'}'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "COLON": "':'",
    "STRING": "a string", "NUMBER": "a number", "TRUE": "true", "FALSE": "false", "NULL": "null",
    "$END": "end of input",
}
_VALUE_START = {"LBRACE", "LSQB", "STRING", "NUMBER", "TRUE", "FALSE", "NULL"}


def _expected(names: Iterable[str]) -> str:
    names = set(names)
    parts = []
    if _VALUE_START <= names:
        parts.append("a value")
        names -= _VALUE_START
    parts.extend(sorted(_TERMINALS.get(n, n) for n in names))
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _show(text: str, limit: int = 30) -> str:
    shown = text if len(text) <= limit else text[:limit] + "…"
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in shown)


def _end_position(text: str) -> tuple[int, int]:
    line = text.count("\n") + 1
    return line, len(text) - (text.rfind("\n") + 1) + 1


def _syntax_diagnostic(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END" or tok.line is None:
            line, col = _end_position(text)
            expected = exc.accepts or exc.expected
            return Diagnostic("E001", "unexpected end of input", Span(file, line, col),
                              f"expected {_expected(expected)}" if expected else None)
        value = str(tok)
        what = f"{tok.type.lower()} {_show(value)}" if tok.type in ("STRING", "NUMBER") else f"'{_show(value)}'"
        expected = exc.accepts or exc.expected
        help = f"expected {_expected(expected)}" if expected else None
        before = text[: tok.start_pos].rstrip() if tok.start_pos is not None else ""
        if tok.type in ("RBRACE", "RSQB") and before.endswith(","):
            help = "JSON does not allow a comma before a closing bracket"
        end = tok.column + len(value) if "\n" not in value else tok.column + 1
        return Diagnostic("E001", f"unexpected {what}", Span(file, tok.line, tok.column, tok.line, end), help)
    line, col = exc.line, exc.column
    pos = getattr(exc, "pos_in_stream", None)
    if pos is None or line is None or line < 1:
        line, col = _end_position(text)
        return Diagnostic("E001", "unexpected input", Span(file, line, col))
    ch = text[pos] if pos < len(text) else ""
    span = Span(file, line, col, line, col + 1)
    if ch == '"':
        return Diagnostic("E001", "unterminated string", span,
                          "a string must close on the same line; write a line break as \\n")
    if ch == "'":
        return Diagnostic("E001", "unexpected \"'\": JSON strings use double quotes", span)
    if text.startswith(("//", "/*"), pos):
        return Diagnostic("E001", "unexpected '/': JSON does not allow comments", span)
    word = re.match(r"[A-Za-z_]+", text[pos:])
    if word:
        w = word.group(0)
        span = Span(file, line, col, line, col + len(w))
        hints = {"True": "true", "False": "false", "None": "null", "Null": "null", "NULL": "null", "TRUE": "true",
                 "FALSE": "false"}
        if w in hints:
            return Diagnostic("E001", f"unexpected '{w}'", span, f"JSON writes it '{hints[w]}'")
        if w in ("NaN", "Infinity"):
            return Diagnostic("E001", f"unexpected '{w}'", span, "JSON has no NaN or Infinity")
        return Diagnostic("E001", f"unexpected '{_show(w)}'", span, "strings are written in double quotes")
    shown = f"'{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"
    return Diagnostic("E001", f"unexpected character {shown}", span)


def parse_json(text: str | bytes, file: str) -> tuple[JValue | None, list[Diagnostic]]:
    """Parse JSON text into located values.

    Never raises: every problem is returned as a diagnostic. Bytes are read as UTF-8; a leading
    byte-order mark is ignored.

    Args:
        text: The document.
        file: File name for spans and diagnostics.

    Returns:
        The value (None on a syntax error) and the diagnostics (``E001``–``E003``).
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            head = bytes(text[: exc.start]).decode("utf-8", "replace")
            line, col = _end_position(head)
            return None, [Diagnostic("E001", f"the document is not valid UTF-8 (byte 0x{text[exc.start]:02x})",
                                     Span(file, line, col))]
    if text.startswith("\ufeff"):
        text = " " + text[1:]  # keep columns: the mark takes one column
    value = _located(text, file)
    if value is not None:
        return value, []
    try:
        tree = json_parser().parse(text)
    except UnexpectedInput as exc:
        return None, [_syntax_diagnostic(exc, text, file)]
    except LarkError as exc:  # pragma: no cover - lark raises UnexpectedInput for every input error
        return None, [Diagnostic("E001", f"cannot parse JSON: {exc}", Span(file, 1, 1))]
    transformer = JsonTransformer(file)
    value = transformer.transform(tree)
    return value, transformer.diagnostics


# The located values of a document, read by one regular expression a token: four to six times
# faster than the grammar, for exports of account authorization details of many megabytes. It
# reads only documents that parse without a diagnostic (no syntax error, duplicate key or bad
# string content), and gives None for any other, which the grammar then reads and reports; it
# gives the same values and spans as the grammar (tests/properties/test_json_reading.py).
_TOKEN = re.compile(r'[ \t\r\n]*(?:("(?:[^"\\\n]|\\[^\n])*")|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)'
                    r"|([{}\[\]:,])|(true|false|null)|(.)|$)", re.DOTALL)
_WORDS = {"true": True, "false": False, "null": None}
_NEWLINE = re.compile("\n")


def _located(text: str, file: str) -> JValue | None:
    starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]  # where each line starts
    stack: list[list] = []  # open containers: [items, "{" or "[", start line, start column, pending key, keys]
    value: JValue | None = None
    expect = "value"  # next: value, first (a value or "]"), opening (a key or "}"), key, colon, comma, done
    pos = 0
    for m in _TOKEN.finditer(text):
        start = m.start()
        if start != pos:  # (finditer skipped what the pattern does not match: never valid JSON)
            return None
        kind = m.lastindex
        pos = m.end()
        if kind is None:  # the end of the text
            return value if not stack and expect == "done" else None
        begin = m.start(kind)
        line = bisect_right(starts, begin)
        tok = m.group(kind)
        col = begin - starts[line - 1] + 1
        if kind == 3:
            if tok in "{[":
                if expect != "value" and expect != "first":
                    return None
                stack.append([[], tok, line, col, None, set()])
                expect = "opening" if tok == "{" else "first"
                continue
            if tok == ":":
                if expect != "colon":
                    return None
                expect = "value"
                continue
            if tok == ",":
                if expect != "comma":
                    return None
                expect = "key" if stack[-1][1] == "{" else "value"
                continue
            if not stack or (tok == "}") != (stack[-1][1] == "{") or (
                    expect != "comma" and expect != ("opening" if tok == "}" else "first")):
                return None
            items, opened, start_line, start_col, _, _ = stack.pop()
            span = Span(file, start_line, start_col, line, col + 1)
            value = JObject(tuple(items), span) if opened == "{" else JArray(tuple(items), span)
        elif kind == 5:
            return None
        else:
            span = Span(file, line, col, line, col + len(tok))
            if kind == 1:
                if "\\" not in tok and tok.isprintable():
                    string = tok[1:-1]
                else:
                    found: list[Diagnostic] = []
                    string = decode_string(tok, line, col, file, found)
                    if found:
                        return None
                if expect == "key" or expect == "opening":
                    frame = stack[-1]
                    if string in frame[5]:
                        return None  # a duplicate key: the grammar's reading reports it (E002)
                    frame[5].add(string)
                    frame[4] = (string, span)
                    expect = "colon"
                    continue
                value = JScalar(string, span)
            elif kind == 4:
                value = JScalar(_WORDS[tok], span)
            else:
                value = JScalar(float(tok) if "." in tok or "e" in tok or "E" in tok else int(tok), span, tok)
            if expect != "value" and expect != "first":
                return None
        if not stack:
            expect = "done"
            continue
        frame = stack[-1]
        if frame[1] == "{":
            key, key_span = frame[4]
            frame[0].append((key, key_span, value))
        else:
            frame[0].append(value)
        expect = "comma"
    return None


# ---------------------------------------------------------------------------------------------
# Policy structure

#: Valid ``Version`` values — https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html
VERSIONS = ("2012-10-17", "2008-10-17")
VERSIONS_HELP = 'the only valid versions are "2012-10-17" (current) and "2008-10-17"'

#: The 27 base condition operators (aws-semantics §2.1; IAM User Guide "Condition operators").
BASE_OPERATORS = (
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
    "StringLike", "StringNotLike",
    "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
    "NumericGreaterThan", "NumericGreaterThanEquals",
    "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool", "BinaryEquals", "IpAddress", "NotIpAddress",
    "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike",
    "Null",
)
#: Set qualifiers written before a colon: ``ForAllValues:StringLike``.
SET_QUALIFIERS = ("ForAllValues", "ForAnyValue")

_ALL_OPERATORS = tuple(
    f"{q}{base}{suffix}"
    for q in ("", "ForAllValues:", "ForAnyValue:")
    for base in BASE_OPERATORS
    for suffix in ("", "IfExists")
    if not (base == "Null" and suffix)
)

_TOP_ELEMENTS = ("Version", "Id", "Statement")
_STATEMENT_ELEMENTS = ("Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource",
                       "NotResource", "Condition")
# Action names: "*", or a service prefix and a name, each possibly with * and ? wildcards
# (IAM User Guide, "IAM JSON policy elements: Action").
ACTION_SHAPE = re.compile(r"\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?_-]+")


def check_operator(operator: str, span: Span | None, diags: Diagnostics) -> bool:
    """Check a condition operator as written; report ``E104`` (unknown) or ``E112`` (Null…IfExists).

    Operator names are case-sensitive: IAM rejects ``stringEquals`` ("Invalid Condition type",
    seen in ministryofjustice/modernisation-platform-environments#8893), so a wrong case is an
    unknown operator whose help names the right spelling.

    Args:
        operator: ``[ForAllValues:|ForAnyValue:]BaseOperator[IfExists]``.
        span: Where the operator is written.
        diags: Where problems are added.

    Returns:
        True when the operator is valid.
    """
    qualifier, sep, rest = operator.partition(":")
    base_if = rest if sep else operator
    base = base_if[: -len("IfExists")] if base_if.endswith("IfExists") else base_if
    if (sep and qualifier not in SET_QUALIFIERS) or base not in BASE_OPERATORS:
        exact = next((op for op in _ALL_OPERATORS if op.lower() == operator.lower()), None)
        if exact is not None:
            help = f"did you mean '{exact}'? (operator names are case-sensitive)"
        else:
            help = did_you_mean(operator, _ALL_OPERATORS)
        diags.add("E104", f"unknown condition operator '{operator}'", span, help)
        return False
    if base == "Null" and base_if != base:
        diags.add("E112", f"'{operator}': the Null operator takes no IfExists suffix", span,
                  "Null already tests whether the key is present; use 'Null'")
        return False
    return True


def _type_name(value: JValue) -> str:
    if isinstance(value, JObject):
        return "an object"
    if isinstance(value, JArray):
        return "an array"
    v = value.value
    if isinstance(v, bool):
        return "a boolean"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return "a number"
    return "a string"


def _join(a: Span | None, b: Span | None) -> Span | None:
    if a is None or b is None:
        return a or b
    return Span(a.file, a.line, a.col, b.end_line, b.end_col)


def _condition_text(value: JScalar) -> str:
    """The string AWS compares for a JSON scalar: ``true`` → ``"true"``, ``1.50`` → ``"1.50"``."""
    v = value.value
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return value.raw if value.raw is not None else repr(v)
    return v


class _PolicyReader:
    """Walks a located JSON value as a policy document, adding diagnostics as it goes."""

    def __init__(self, file: str, diags: Diagnostics):
        self.file = file
        self.diags = diags

    def error_type(self, element: str, value: JValue, expected: str) -> None:
        self.diags.add("E110", f"{element} must be {expected}, not {_type_name(value)}", value.span)

    def elements(self, obj: JObject, known: tuple[str, ...], code: str, where: str) -> dict[str, tuple[Span, JValue]]:
        """Known elements of an object by name (first occurrence); unknown ones reported."""
        found: dict[str, tuple[Span, JValue]] = {}
        for key, key_span, value in obj.pairs:
            if key in known:
                found.setdefault(key, (key_span, value))
                continue
            exact = next((k for k in known if k.lower() == key.lower()), None)
            help = (f"did you mean '{exact}'? (element names are case-sensitive)" if exact
                    else did_you_mean(key, known) or "valid elements: " + ", ".join(known))
            self.diags.add(code, f"unknown {where} element \"{key}\"", key_span, help)
        return found

    # -- document

    def policy(self, value: JValue) -> Policy | None:
        if not isinstance(value, JObject):
            self.diags.add("E100", f"a policy document must be a JSON object, not {_type_name(value)}", value.span)
            return None
        found = self.elements(value, _TOP_ELEMENTS, "E101", "top-level policy")
        version: str | None = None
        if "Version" in found:
            version = self.version(found["Version"][1])
        else:
            self.diags.add("W115", "the policy has no Version element", value.span,
                           "without \"Version\": \"2012-10-17\", policy variables such as ${aws:username} are "
                           "literal text")
        policy_id: str | None = None
        if "Id" in found:
            node = found["Id"][1]
            if isinstance(node, JScalar) and isinstance(node.value, str):
                policy_id = node.value
            else:
                self.error_type("Id", node, "a string")
        if "Statement" not in found:
            self.diags.add("E117", "the policy has no Statement element", value.span)
            return Policy((), version, policy_id, span=value.span)
        statements = self.statements(found["Statement"][1])
        return Policy(tuple(statements), version, policy_id, span=value.span)

    def version(self, node: JValue) -> str | None:
        if not (isinstance(node, JScalar) and isinstance(node.value, str)):
            self.error_type("Version", node, "a string")
            return None
        if node.value not in VERSIONS:
            self.diags.add("E114", f"unknown policy Version \"{node.value}\"", node.span,
                           VERSIONS_HELP + "; the Version is a fixed language date, not the date of the policy")
            return None
        return node.value

    def statements(self, node: JValue) -> list[Statement]:
        if isinstance(node, JObject):
            items: tuple[JValue, ...] = (node,)
        elif isinstance(node, JArray):
            items = node.items
            if not items:
                self.diags.add("E116", "the Statement list is empty", node.span,
                               "a policy needs at least one statement")
        else:
            self.error_type("Statement", node, "an object or an array of objects")
            return []
        out: list[Statement] = []
        sids: dict[str, Span | None] = {}
        for item in items:
            if not isinstance(item, JObject):
                self.error_type("each statement", item, "an object")
                continue
            stmt, sid_span = self.statement(item)
            if stmt is None:
                continue
            if stmt.sid is not None:
                if stmt.sid in sids:
                    first = sids[stmt.sid]
                    where = f" (first at line {first.line})" if first else ""
                    self.diags.add("W119", f"Sid \"{stmt.sid}\" is used by two statements{where}", sid_span,
                                   "several policy types (SCPs, key policies, …) require unique Sids")
                else:
                    sids[stmt.sid] = sid_span
            out.append(stmt)
        return out

    # -- statement

    def statement(self, obj: JObject) -> tuple[Statement | None, Span | None]:
        found = self.elements(obj, _STATEMENT_ELEMENTS, "E102", "statement")
        ok = True
        sid, sid_span = None, None
        if "Sid" in found:
            sid_span, node = found["Sid"]
            if isinstance(node, JScalar) and isinstance(node.value, str):
                sid, sid_span = node.value, node.span
            else:
                self.error_type("Sid", node, "a string")
        effect = None
        if "Effect" not in found:
            self.diags.add("E103", "the statement has no Effect", obj.span, "add \"Effect\": \"Allow\" or \"Deny\"")
            ok = False
        else:
            node = found["Effect"][1]
            if not (isinstance(node, JScalar) and isinstance(node.value, str)):
                self.error_type("Effect", node, "\"Allow\" or \"Deny\"")
                ok = False
            elif node.value not in EFFECTS:
                exact = next((e for e in EFFECTS if e.lower() == node.value.lower()), None)
                help = f"write '{exact}' (Effect values are case-sensitive)" if exact else did_you_mean(node.value, EFFECTS)
                self.diags.add("E105", f"Effect must be \"Allow\" or \"Deny\", not \"{node.value}\"", node.span, help)
                ok = False
            else:
                effect = node.value
        parts: dict[str, object] = {}
        spans: dict[tuple[str, str], Span] = {}
        for name in ("Action", "NotAction"):
            if name in found:
                values = self.strings(name, found[name][1])
                for text, span in values or ():
                    if not ACTION_SHAPE.fullmatch(text):
                        help = "remove the spaces" if text.strip() != text or " " in text else None
                        self.diags.add("E120", f"malformed action \"{_show(text, 60)}\": expected "
                                               "'service:ActionName' or '*'", span, help)
                        ok = False
                ok = ok and values is not None
                parts[name] = tuple(t for t, _ in values or ())
                spans.update(((name, t), at) for t, at in reversed(values or ()) if at is not None)
        for name in ("Resource", "NotResource"):
            if name in found:
                values = self.strings(name, found[name][1])
                ok = ok and values is not None
                parts[name] = tuple(t for t, _ in values or ())
                spans.update(((name, t), at) for t, at in reversed(values or ()) if at is not None)
        for name in ("Principal", "NotPrincipal"):
            if name in found:
                principals = self.principals(name, found[name][1])
                ok = ok and principals is not None
                parts[name] = principals or ()
        for a, b, code in (("Action", "NotAction", "E107"), ("Resource", "NotResource", "E108"),
                           ("Principal", "NotPrincipal", "E109")):
            if a in found and b in found:
                second = max(found[a][0], found[b][0], key=lambda s: (s.line, s.col) if s else (0, 0))
                self.diags.add(code, f"a statement cannot have both {a} and {b}", second,
                               f"keep either {a} or {b}")
                ok = False
        if "Action" not in found and "NotAction" not in found:
            self.diags.add("E106", "the statement has neither Action nor NotAction", obj.span)
            ok = False
        conditions: tuple[Condition, ...] = ()
        if "Condition" in found:
            built = self.conditions(found["Condition"][1])
            ok = ok and built is not None
            conditions = built or ()
        if not ok or effect is None:
            return None, sid_span
        return Statement(
            effect, sid,
            action=parts.get("Action"), not_action=parts.get("NotAction"),
            resource=parts.get("Resource"), not_resource=parts.get("NotResource"),
            principal=parts.get("Principal"), not_principal=parts.get("NotPrincipal"),
            conditions=conditions, span=obj.span, value_spans=tuple(spans.items()),
        ), sid_span

    def strings(self, element: str, node: JValue) -> list[tuple[str, Span | None]] | None:
        """A string or a non-empty list of non-empty strings; None after reporting a problem."""
        if isinstance(node, JScalar) and isinstance(node.value, str):
            items: tuple[JValue, ...] = (node,)
        elif isinstance(node, JArray):
            items = node.items
            if not items:
                self.diags.add("E118", f"{element} is an empty list", node.span, f"give {element} at least one value")
                return None
        else:
            self.error_type(element, node, "a string or a list of strings")
            return None
        out: list[tuple[str, Span | None]] = []
        ok = True
        for item in items:
            if not (isinstance(item, JScalar) and isinstance(item.value, str)):
                self.error_type(f"each {element} entry", item, "a string")
                ok = False
            elif item.value == "":
                self.diags.add("E121", f"empty string in {element}", item.span)
                ok = False
            else:
                out.append((item.value, item.span))
        return out if ok else None

    def principals(self, element: str, node: JValue) -> tuple[Principal, ...] | None:
        if isinstance(node, JScalar) and node.value == "*":
            return (Principal("AWS", "*", node.span),)  # "Principal": "*" ≡ {"AWS": "*"}
        if not isinstance(node, JObject):
            self.diags.add("E110", f"{element} must be \"*\" or an object such as "
                                   "{\"AWS\": \"arn:aws:iam::111122223333:root\"}, not "
                                   + (f"\"{_show(node.value)}\"" if isinstance(node, JScalar) and isinstance(node.value, str)
                                      else _type_name(node)), node.span)
            return None
        if not node.pairs:
            self.diags.add("E118", f"{element} is an empty object", node.span,
                           "name at least one principal, e.g. {\"AWS\": \"111122223333\"}")
            return None
        out: list[Principal] = []
        ok = True
        for key, key_span, value in node.pairs:
            if key not in PRINCIPAL_TYPES:
                exact = next((t for t in PRINCIPAL_TYPES if t.lower() == key.lower()), None)
                help = (f"did you mean '{exact}'? (principal types are case-sensitive)" if exact
                        else did_you_mean(key, PRINCIPAL_TYPES) or "valid types: " + ", ".join(PRINCIPAL_TYPES))
                self.diags.add("E113", f"unknown principal type \"{key}\"", key_span, help)
                ok = False
                continue
            values = self.strings(f"{element} {key}", value)
            if values is None:
                ok = False
                continue
            out.extend(Principal(key, text, span) for text, span in values)
        return tuple(out) if ok else None

    def conditions(self, node: JValue) -> tuple[Condition, ...] | None:
        if not isinstance(node, JObject):
            self.diags.add("E111", f"Condition must be an object of operators, not {_type_name(node)}", node.span,
                           "e.g. \"Condition\": {\"StringEquals\": {\"aws:username\": \"alice\"}}")
            return None
        out: list[Condition] = []
        ok = True
        for operator, op_span, block in node.pairs:
            valid = check_operator(operator, op_span, self.diags)
            ok = ok and valid
            if not isinstance(block, JObject):
                self.diags.add("E111", f"the value of operator \"{operator}\" must be an object of condition keys, "
                                       f"not {_type_name(block)}", block.span,
                               f"e.g. \"{operator}\": {{\"aws:username\": \"alice\"}}")
                ok = False
                continue
            if not block.pairs:
                self.diags.add("W122", f"operator \"{operator}\" has no condition keys and tests nothing", block.span)
            seen: dict[str, str] = {}
            for key, key_span, values in block.pairs:
                if key == "":
                    self.diags.add("E111", "empty condition key", key_span)
                    ok = False
                    continue
                lower = key.lower()
                if lower in seen:
                    if seen[lower] != key:  # an exact duplicate is already E002
                        self.diags.add("E123", f"condition key \"{key}\" repeats \"{seen[lower]}\" under "
                                               f"\"{operator}\"", key_span,
                                       "condition key names are case-insensitive: merge the two")
                        ok = False
                    continue
                seen[lower] = key
                texts = self.condition_values(operator, key, values)
                if texts is None:
                    ok = False
                    continue
                if valid:
                    out.append(Condition(operator, key, texts, _join(key_span, values.span)))
        return tuple(out) if ok else None

    def condition_values(self, operator: str, key: str, node: JValue) -> tuple[str, ...] | None:
        items = node.items if isinstance(node, JArray) else (node,)
        out: list[str] = []
        for item in items:
            if isinstance(item, JScalar) and item.value is not None:
                out.append(_condition_text(item))
            else:
                self.diags.add("E111", f"a value of \"{key}\" under \"{operator}\" must be a string, number or "
                                       f"boolean{'' if isinstance(node, JArray) else ' or a list of them'}, "
                                       f"not {_type_name(item)}", item.span)
                return None
        return tuple(out)


def policy_from_value(value: JValue, file: str, diags: Diagnostics) -> Policy | None:
    """Build a :class:`Policy` from a located JSON value, checking its structure.

    Normal forms (see ``ast.py``): single values become 1-tuples; ``"Principal": "*"`` becomes
    ``(Principal("AWS", "*"),)``; condition booleans and numbers become the strings AWS compares
    (``true`` → ``"true"``, a number → its text as written); a single statement object becomes a
    1-tuple; a missing Version becomes ``None`` (with warning ``W115``).

    Args:
        value: The document, from :func:`parse_json` or an embedding grammar.
        file: File name for diagnostics that have no value span.
        diags: Where every structural problem (``E1xx``/``W1xx``) is added.

    Returns:
        The policy, or None when this document has a structural error (all of them are in
        ``diags``).
    """
    before = len(diags.errors)
    if value is None:
        diags.add("E100", "a policy document must be a JSON object", Span(file, 1, 1))
        return None
    policy = _PolicyReader(file, diags).policy(value)
    return policy if len(diags.errors) == before else None


def parse_policy_text(text: str | bytes, file: str = "<input>") -> tuple[Policy | None, Diagnostics]:
    """Parse and structurally check an AWS JSON policy document.

    Never raises on any input.

    Args:
        text: The JSON document.
        file: Name used in spans and rendered diagnostics.

    Returns:
        The policy (None when there is any error) and every diagnostic found.
    """
    value, json_diags = parse_json(text, file)
    diags = Diagnostics(json_diags)
    if value is None:
        return None, diags
    policy = policy_from_value(value, file, diags)
    return (None if diags.has_errors() else policy), diags


# ---------------------------------------------------------------------------------------------
# Back to JSON


def _principal_json(principals: tuple[Principal, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in principals:
        out.setdefault(p.type, []).append(p.value)
    return out


def policy_to_json(policy: Policy) -> dict:
    """The canonical AWS JSON of a policy (a dict ready for ``json.dumps``).

    Multi-valued elements are always lists, principals are grouped by type
    (``{"AWS": [...], "Service": [...]}``), conditions by operator. For a policy whose principals
    and conditions are already grouped that way (every parsed policy is),
    ``parse_policy_text(json.dumps(policy_to_json(p)))`` gives back ``p``.

    Args:
        policy: The policy.

    Returns:
        A JSON-shaped dict.

    Raises:
        InvalidInput: ``E123`` when one condition key appears twice under one operator, which
            JSON cannot write.
    """
    doc: dict = {}
    if policy.version is not None:
        doc["Version"] = policy.version
    if policy.id is not None:
        doc["Id"] = policy.id
    statements = []
    for s in policy.statements:
        out: dict = {}
        if s.sid is not None:
            out["Sid"] = s.sid
        out["Effect"] = s.effect
        if s.principal is not None:
            out["Principal"] = _principal_json(s.principal)
        if s.not_principal is not None:
            out["NotPrincipal"] = _principal_json(s.not_principal)
        for name, values in (("Action", s.action), ("NotAction", s.not_action), ("Resource", s.resource),
                             ("NotResource", s.not_resource)):
            if values is not None:
                out[name] = list(values)
        if s.conditions:
            block: dict[str, dict[str, list[str]]] = {}
            for c in s.conditions:
                keys = block.setdefault(c.operator, {})
                if c.key in keys:
                    raise InvalidInput([Diagnostic("E123", f"condition key \"{c.key}\" appears twice under "
                                                           f"\"{c.operator}\"; JSON cannot write that", c.span)])
                keys[c.key] = list(c.values)
            out["Condition"] = block
        statements.append(out)
    doc["Statement"] = statements
    return doc
