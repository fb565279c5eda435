"""The Datalog dialect of iamlogic: rule files, user rules and REPL queries → frozen AST values.

One dialect serves the shipped rules (``logic/rules/*.dl``), rules that users write, and the
queries typed at the REPL. It is parsed here, checked by :mod:`iamlogic.dlcheck`, and handed to
the engine as values: no text written in this dialect is ever given to pyDatalog's own loader.

Syntax::

    % a comment runs from '%' or '#' to the end of the line
    head(X, "lit", 3) :- body(X, Y), not other(Y), X != Y.   % a rule
    edge("a", "b").                                           % a fact: a rule without a body
    ?- head(X, _, N), N >= 2.                                 % a query

- A **relation name** is a lowercase word: ``[a-z][A-Za-z0-9_]*``. A relation without
  arguments may be written ``done`` or ``done()``. ``not`` is reserved.
- A **variable** starts with an uppercase letter or ``_``. ``_`` alone is anonymous: each
  occurrence is a distinct variable that is never reported. A name such as ``_Unused`` is an
  ordinary variable that the singleton warning (W401) leaves alone.
- A **constant** is a double-quoted string or a (possibly negative) integer. Strings accept the
  escapes ``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\r`` and ``\\uXXXX``; a string ends on the line
  it starts. Bare lowercase words are *not* constants: ``p(alice)`` is an error (E406) with the
  help line ``write "alice"``. One reading for every lowercase word keeps a misspelt relation name
  from silently becoming a constant, and IAM values (``s3:GetObject``, ARNs) need quotes anyway.
- A **body literal** is an atom ``rel(T, ...)``, a negated atom ``not rel(T, ...)``, or a
  comparison ``T op T`` with ``op`` one of ``=  !=  <  <=  >  >=``. In a negated atom ``_``
  means "any value": ``not parent(X, _)`` holds when ``X`` has no child. Builtins implemented in Python
  (``wildcard_match(Pattern, Value)``) are written as ordinary atoms: which names are builtins is
  for the checker to know, not the grammar.
- A **query** is a body, optionally introduced by ``?-`` and optionally ended by ``.``.
- A rule head may hold one **aggregate** argument, ``sum(V)``, ``count(V)``, ``min(V)`` or
  ``max(V)``: computed over the distinct solutions of the body (the bindings of all its named
  variables), one head tuple for each value of the head's other arguments:
  ``bill(Acct, sum(C)) :- line(Acct, _Item, C).``

Syntax errors (codes E401–E406):

- ``E401`` unexpected token (the help line lists what was expected);
- ``E402`` unexpected character;
- ``E403`` unterminated string (a string must close on the line it opens);
- ``E404`` unexpected end of input;
- ``E405`` invalid escape sequence in a string;
- ``E406`` unquoted word where a term is expected;
- ``E407`` unknown aggregate (``sum``, ``count``, ``min`` and ``max`` are).

Example:
    >>> program = parse_program('anc(X, Y) :- parent(X, Y).\\nanc(X, Y) :- anc(X, Z), parent(Z, Y).', "anc.dl")
    >>> [str(rule) for rule in program.rules]
    ['anc(X, Y) :- parent(X, Y).', 'anc(X, Y) :- anc(X, Z), parent(Z, Y).']
    >>> parse_query('?- anc("a", X), not blocked(X).').variables
    ('X',)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping, Union

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from .diagnostics import Diagnostic, IamlogicError, InvalidInput, Span, span_field
from .cache import lark_cache

__all__ = [
    "AGGREGATES",
    "Aggregate",
    "Atom",
    "BodyLiteral",
    "COMPARISON_OPERATORS",
    "Comparison",
    "Const",
    "Negation",
    "Program",
    "Query",
    "Rule",
    "Term",
    "Var",
    "aggregate_rows",
    "is_relation_name",
    "parse_program",
    "parse_query",
    "quote",
]

#: The comparison operators, as written in the dialect.
COMPARISON_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")

_RELATION_NAME = re.compile(r"[a-z][A-Za-z0-9_]*\Z")


def is_relation_name(name: str) -> bool:
    """Whether ``name`` can be written as a relation name in the dialect.

    >>> is_relation_name("ou_parent"), is_relation_name("Parent"), is_relation_name("not")
    (True, False, False)
    """
    return isinstance(name, str) and bool(_RELATION_NAME.match(name)) and name != "not"


# ---------------------------------------------------------------------------------------------
# The abstract syntax
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    """A variable; ``_`` is anonymous (each occurrence distinct)."""

    name: str
    span: Span | None = span_field()

    @property
    def is_anonymous(self) -> bool:
        return self.name == "_"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Const:
    """A constant: a string or an integer."""

    value: str | int
    span: Span | None = span_field()

    def __str__(self) -> str:
        return quote(self.value) if isinstance(self.value, str) else str(self.value)


Term = Union[Var, Const]

#: The aggregate functions of a rule head.
AGGREGATES = ("sum", "count", "min", "max")


@dataclass(frozen=True)
class Aggregate:
    """``sum(V)``, ``count(V)``, ``min(V)`` or ``max(V)``: a head argument computed over the
    distinct solutions of the rule's body (the bindings of all its named variables), grouped by
    the head's other arguments. ``count`` counts those solutions; the others read ``V``, which the
    body binds to integers."""

    func: str
    var: Var
    span: Span | None = span_field()

    def __str__(self) -> str:
        return f"{self.func}({self.var})"


@dataclass(frozen=True)
class Atom:
    """``relation(arg, ...)``: a rule head, a body literal, or the operand of a negation."""

    relation: str
    args: tuple[Term, ...] = ()  # (an Aggregate may stand among the arguments of a rule head)
    span: Span | None = span_field()

    @property
    def arity(self) -> int:
        return len(self.args)

    def __str__(self) -> str:
        if not self.args:
            return self.relation
        return f"{self.relation}({', '.join(str(a) for a in self.args)})"


@dataclass(frozen=True)
class Negation:
    """``not atom``: true when no tuple of the relation matches the atom."""

    atom: Atom
    span: Span | None = span_field()

    def __str__(self) -> str:
        return f"not {self.atom}"


@dataclass(frozen=True)
class Comparison:
    """``left op right`` with ``op`` one of :data:`COMPARISON_OPERATORS`."""

    op: str
    left: Term
    right: Term
    span: Span | None = span_field()

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


BodyLiteral = Union[Atom, Negation, Comparison]


def _body_text(body: tuple[BodyLiteral, ...]) -> str:
    return ", ".join(str(lit) for lit in body)


def _named_variables(literals) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for lit in literals:
        for term in _terms(lit):
            if isinstance(term, Var) and not term.is_anonymous:
                seen.setdefault(term.name)
    return tuple(seen)


def _terms(lit: Atom | BodyLiteral) -> tuple[Term, ...]:
    if isinstance(lit, Atom):
        return lit.args
    if isinstance(lit, Negation):
        return lit.atom.args
    return (lit.left, lit.right)


@dataclass(frozen=True)
class Rule:
    """``head :- body.``; a fact is a rule with an empty body."""

    head: Atom
    body: tuple[BodyLiteral, ...] = ()
    span: Span | None = span_field()

    @property
    def is_fact(self) -> bool:
        return not self.body

    @property
    def aggregate(self) -> tuple[int, Aggregate] | None:
        """The position and the aggregate of the head's aggregate argument, if it has one."""
        return next(((i, a) for i, a in enumerate(self.head.args) if isinstance(a, Aggregate)), None)

    @property
    def variables(self) -> tuple[str, ...]:
        """Named variables in order of first appearance (head first)."""
        return _named_variables((self.head, *self.body))

    def __str__(self) -> str:
        return f"{self.head}." if not self.body else f"{self.head} :- {_body_text(self.body)}."


@dataclass(frozen=True)
class Program:
    """The rules of one source, in the order written; ``text`` is kept for error rendering."""

    rules: tuple[Rule, ...] = ()
    file: str = "<datalog>"
    text: str = field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        return "".join(f"{rule}\n" for rule in self.rules)


@dataclass(frozen=True)
class Query:
    """``?- body.``: its answers are the bindings of :attr:`variables`, in that order."""

    body: tuple[BodyLiteral, ...]
    span: Span | None = span_field()

    @property
    def variables(self) -> tuple[str, ...]:
        """Named variables in order of first appearance; ``_`` is never an answer column."""
        return _named_variables(self.body)

    def __str__(self) -> str:
        return f"?- {_body_text(self.body)}."


def aggregate_rows(rule: Rule, solutions: Iterable[Mapping[str, Any]]) -> set[tuple]:
    """The head tuples of an aggregate rule, from the solutions of its body (one mapping of its
    named variables to values each; repeated solutions count once).

    >>> rule = parse_program("bill(A, sum(C)) :- line(A, _I, C).").rules[0]
    >>> sorted(aggregate_rows(rule, [{"A": "x", "_I": 1, "C": 5}, {"A": "x", "_I": 2, "C": 5}]))
    [('x', 10)]

    Raises:
        IamlogicError: ``sum``, ``min`` or ``max`` over a value that is not an integer.
    """
    position, agg = rule.aggregate
    names = _named_variables(rule.body)
    groups: dict[tuple, set] = {}
    for solution in solutions:
        key = tuple(a.value if isinstance(a, Const) else solution[a.name]
                    for i, a in enumerate(rule.head.args) if i != position)
        groups.setdefault(key, set()).add(tuple(solution[n] for n in names))
    value_at = names.index(agg.var.name)
    out = set()
    for key, found in groups.items():
        if agg.func == "count":
            result = len(found)
        else:
            values = [row[value_at] for row in found]
            bad = next((v for v in values if type(v) is not int), None)
            if bad is not None:
                raise IamlogicError(f"{agg} in {rule}: {bad!r} is not an integer")
            result = sum(values) if agg.func == "sum" else (min(values) if agg.func == "min" else max(values))
        out.add((*key[:position], result, *key[position:]))
    return out


# ---------------------------------------------------------------------------------------------
# Strings
# ---------------------------------------------------------------------------------------------

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_QUOTES = {v: "\\" + k for k, v in _ESCAPES.items()}


def quote(value: str) -> str:
    """Write ``value`` as a string constant of the dialect; parsing it gives ``value`` back.

    >>> print(quote('say "hi"\\n'))
    "say \\"hi\\"\\n"
    """
    out = []
    for ch in value:
        if ch in _QUOTES:
            out.append(_QUOTES[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _unescape(body: str) -> tuple[str, list[tuple[int, str]]]:
    """The value of a string literal's body, and ``(offset, escape)`` for each invalid escape."""
    out, bad, i = [], [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]  # the lexer guarantees a character after every backslash
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            bad.append((i, body[i : i + 2]))
            i += 2
    return "".join(out), bad


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = resources.files(__package__).joinpath("datalog.lark").read_text(encoding="utf-8")
    return Lark(
        text,
        start=["program", "query"],
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=lark_cache("datalog"),
    )


class _ToAst(Transformer):
    """Lark tree → AST; collects E405/E406 instead of raising, so a run reports all of them."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    def _span(self, meta) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _token_span(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def variable(self, children):
        (tok,) = children
        return Var(str(tok), self._token_span(tok))

    def integer(self, children):
        (tok,) = children
        return Const(int(tok), self._token_span(tok))

    def string(self, children):
        (tok,) = children
        value, bad = _unescape(str(tok)[1:-1])
        for offset, escape in bad:
            col = tok.column + 1 + offset
            self.diagnostics.append(
                Diagnostic(
                    "E405",
                    f"invalid escape sequence '{escape}' in a string",
                    Span(self.file, tok.line, col, tok.line, col + len(escape)),
                    help='valid escapes are \\" \\\\ \\n \\t \\r and \\uXXXX',
                )
            )
        return Const(value, self._token_span(tok))

    def bare_word(self, children):
        (tok,) = children
        self.diagnostics.append(
            Diagnostic(
                "E406",
                f"unquoted word '{tok}' where a variable or a constant is expected",
                self._token_span(tok),
                help=f"write {quote(str(tok))} for a string constant, or a capitalised name for a variable",
            )
        )
        return Const(str(tok), self._token_span(tok))

    @v_args(meta=True)
    def aggregate(self, meta, children):
        name, var = children
        if str(name) not in AGGREGATES:
            self.diagnostics.append(Diagnostic("E407", f"unknown aggregate '{name}'", self._span(meta),
                                               help="aggregates are: " + ", ".join(AGGREGATES)))
        return Aggregate(str(name), Var(str(var), self._token_span(var)), self._span(meta))

    @v_args(meta=True)
    def atom(self, meta, children):
        name, *args = children
        return Atom(str(name), tuple(args), self._span(meta))

    @v_args(meta=True)
    def negation(self, meta, children):
        (atom,) = children
        return Negation(atom, self._span(meta))

    @v_args(meta=True)
    def comparison(self, meta, children):
        left, op, right = children
        return Comparison(str(op), left, right, self._span(meta))

    def body(self, children):
        return tuple(children)

    @v_args(meta=True)
    def clause(self, meta, children):
        head, *body = children
        return Rule(head, body[0] if body else (), self._span(meta))

    def program(self, children):
        return tuple(children)

    @v_args(meta=True)
    def query(self, meta, children):
        (body,) = children
        return Query(body, self._span(meta))


_TERMINAL_NAMES = {
    "RELATION": "a relation name",
    "VARIABLE": "a variable",
    "STRING": "a string",
    "INT": "an integer",
    "CMP": "a comparison operator",
    "$END": "end of input",
}


_TOKEN_NOUNS = {"RELATION": "relation name", "VARIABLE": "variable", "STRING": "string", "INT": "integer"}


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    for term in _parser().terminals:
        if term.name == name and isinstance(term.pattern, PatternStr):
            return f"'{term.pattern.value}'"
    return name


def _expected(names) -> str | None:
    described = sorted({_describe_terminal(n) for n in names or ()})
    if not described:
        return None
    return "expected " + (described[0] if len(described) == 1 else "one of: " + ", ".join(described))


def _end_position(text: str) -> tuple[int, int]:
    """Line and column just after the last non-blank character of ``text``."""
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    col = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return line, col


def _syntax_error(exc: LarkError, file: str, text: str) -> Diagnostic:
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END" or isinstance(exc, UnexpectedEOF):
        tok = getattr(exc, "token", None)
        if tok is not None and getattr(tok, "end_line", None) and tok.end_column:
            line, col = tok.end_line, tok.end_column  # just after the last token read
        else:
            line, col = _end_position(text)
        expected = getattr(exc, "accepts", None) or exc.expected
        return Diagnostic("E404", "unexpected end of input", Span(file, line, col), _expected(expected))
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        what = _TOKEN_NOUNS.get(tok.type)
        return Diagnostic(
            "E401",
            f"unexpected {what} '{tok}'" if what else f"unexpected '{tok}'",
            Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + len(tok)),
            _expected(getattr(exc, "accepts", None) or exc.expected),
        )
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(text) else ""
        if ch == '"':
            return Diagnostic(
                "E403",
                "unterminated string",
                Span(file, exc.line, exc.column),
                help="close the string with '\"' on the same line; write a newline as \\n",
            )
        return Diagnostic("E402", f"unexpected character {ch!r}", Span(file, exc.line, exc.column), _expected(exc.allowed))
    line = getattr(exc, "line", 0) or 0
    col = getattr(exc, "column", 0) or 0
    return Diagnostic("E401", f"syntax error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                      Span(file, max(line, 0), max(col, 0)))


def _parse(text: str, file: str, start: str):
    if not isinstance(text, str):
        raise TypeError(f"Datalog source must be str, not {type(text).__name__}")
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as exc:
        raise InvalidInput([_syntax_error(exc, file, text)], {file: text}) from None
    except LarkError as exc:  # any other lark failure is still a syntax error, never a crash
        raise InvalidInput([_syntax_error(exc, file, text)], {file: text}) from None
    builder = _ToAst(file)
    result = builder.transform(tree)
    if builder.diagnostics:
        raise InvalidInput(builder.diagnostics, {file: text})
    return result


def parse_program(text: str, file: str = "<datalog>") -> Program:
    """Parse a Datalog program (rules and facts).

    Args:
        text: the program text.
        file: the name used in spans and messages.

    Returns:
        The :class:`Program`, with ``text`` kept for rendering diagnostics.

    Raises:
        InvalidInput: on a syntax error (E401–E404, the first one found) or on invalid string
            escapes and unquoted words (E405, E406, all of them).

    >>> parse_program('ok(X) :- user(X), not banned(X).  % comment', "r.dl").rules[0].body[1]
    Negation(atom=Atom(relation='banned', args=(Var(name='X'),)))
    >>> try:
    ...     parse_program("p(X) :- q(X)", "r.dl")
    ... except InvalidInput as exc:
    ...     print(exc.diagnostics[0].render({"r.dl": "p(X) :- q(X)"}))
    r.dl:1:13: E404: unexpected end of input
        p(X) :- q(X)
                    ^
      help: expected '.'
    """
    rules = _parse(text, file, "program")
    return Program(rules, file, text)


def parse_query(text: str, file: str = "<query>") -> Query:
    """Parse a query: a body, optionally written ``?- body.``.

    Args:
        text: the query text, e.g. ``?- anc("a", X), X != "b".``
        file: the name used in spans and messages.

    Raises:
        InvalidInput: as :func:`parse_program`.

    >>> q = parse_query('?- anc("a", X), X != "b".')
    >>> str(q), q.variables
    ('?- anc("a", X), X != "b".', ('X',))
    """
    return _parse(text, file, "query")
