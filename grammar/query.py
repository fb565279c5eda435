"""The query language of the REPL and of ``iamlogic query``: one line → one frozen AST value.

Forms (keywords are case-insensitive whole words)::

    can P A R [with KEY=VALUE, ...]        the decision, with the deciding statements
    why P A R [with ...]                   the proof tree of the decision
    why P A R [with ...] --graph [FILE]    the proof tree as a picture (same as :graph why)
    why not P A R [with ...]               what blocks the request, and what would allow it
    who can A R [with ...]                 every principal that is allowed
    what can P do on R [with ...]          the actions P may do on R, by service and access level
    ?- BODY                                read-only Datalog (the dialect of grammar/datalog.py)
    :load FILE...  :reload  :world  :relations  :explain full|blockers|summary
    :format table|json  :graph org|reach [FILE]  :graph why P A R [with ...] [FILE]  :help [TOPIC]  :quit

``P``, ``A`` and ``R`` are bare words (no blanks, quotes, commas or brackets) or quoted strings
(``"..."`` or ``'...'``, escapes ``\\"`` ``\\'`` ``\\\\`` ``\\n`` ``\\t``). A context value is a word, a
quoted string, or a list ``[v1, v2]`` for a multivalued key (the REPL refuses a key given twice,
E514; :meth:`context_dict` would collect its values into a list). The text after ``?-`` is parsed by
:func:`iamlogic.grammar.datalog.parse_query` with the spans of this line, so its errors (``E4xx``)
point into the line as well.

Nothing here is ever given to pyDatalog as text: the values are data, and Datalog queries are
:class:`~iamlogic.grammar.datalog.Query` values built by our own grammar.

Codes (:data:`CODES`): ``E601``–``E608`` are syntax errors raised by :func:`parse_line`;
``E610``–``E612`` and ``W613`` are reported by the REPL (:mod:`iamlogic.repl`) about a query that
parsed but cannot be answered as written.

>>> q = parse_line("can alice s3:GetObject arn:aws:s3:::b/k with aws:SourceIp=10.0.0.1")
>>> q.principal.value, q.action.value, q.resource.value, q.context_dict()
('alice', 's3:GetObject', 'arn:aws:s3:::b/k', {'aws:SourceIp': '10.0.0.1'})
>>> try:
...     parse_line(":lod w.iaml")
... except InvalidInput as exc:
...     print(exc.render())
<input>:1:1: E605: unknown command ':lod'
    :lod w.iaml
    ^^^^
  help: did you mean ':load'?
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Union

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import datalog
from .diagnostics import Diagnostic, InvalidInput, Span, did_you_mean, span_field
from .cache import lark_cache

__all__ = [
    "CODES",
    "COMMANDS",
    "Graph",
    "Guardrails",
    "Can",
    "Command",
    "ContextEntry",
    "DatalogQuery",
    "EXPLAIN_VIEWS",
    "FORMATS",
    "Help",
    "Load",
    "QUERY_FORMS",
    "Quit",
    "Reload",
    "SetExplain",
    "SetFormat",
    "ShowRelations",
    "ShowWorld",
    "Statement",
    "WhatCan",
    "WhoCan",
    "Why",
    "WhyNot",
    "Word",
    "help_text",
    "parse_line",
]

#: Every code of the query language and of the REPL that answers it.
CODES: dict[str, str] = {
    "E601": "syntax error: unexpected word or symbol",
    "E602": "syntax error: unexpected character",
    "E603": "unterminated string (a string closes on the line it opens)",
    "E604": "unexpected end of input: the query is incomplete",
    "E605": "unknown command",
    "E606": "wrong arguments for a command",
    "E607": "invalid escape sequence in a string",
    "E608": "not a query: the line starts with an unknown word",
    # reported by iamlogic.repl about a query that parsed
    "E610": "no world is loaded",
    "E611": "malformed resource: neither '*' nor an ARN",
    "E612": "empty value where a principal, action, resource or key is needed",
    "W613": "unknown action: not in the AWS action catalog (answered anyway)",
}

#: The explanation views of ``:explain`` (those of :meth:`iamlogic.decision.Decision.explain`).
EXPLAIN_VIEWS = ("full", "blockers", "summary")
#: The output formats of ``:format``.
FORMATS = ("table", "json")

#: Each query form: the word it starts with, and its usage line.
QUERY_FORMS: dict[str, str] = {
    "can": "can PRINCIPAL ACTION RESOURCE [with KEY=VALUE, ...]",
    "why": "why PRINCIPAL ACTION RESOURCE [with KEY=VALUE, ...] [--graph [FILE]]",
    "why not": "why not PRINCIPAL ACTION RESOURCE [with KEY=VALUE, ...]",
    "who": "who can ACTION RESOURCE [with KEY=VALUE, ...]",
    "what": "what can PRINCIPAL do on RESOURCE [with KEY=VALUE, ...]",
    "?-": "?- relation(X, \"literal\", _), not other(X).",
}


@dataclass(frozen=True)
class _CommandSpec:
    usage: str
    summary: str
    min_args: int = 0
    max_args: int | None = 0
    choices: tuple[str, ...] = ()


#: The commands, by name (with the leading colon).
COMMANDS: dict[str, _CommandSpec] = {
    ":load": _CommandSpec(":load FILE...", "load a world from .iaml files (replaces the current one)", 1, None),
    ":reload": _CommandSpec(":reload", "load the same files again (history and settings are kept)"),
    ":world": _CommandSpec(":world", "summary of the world: accounts, OUs, principals, policies, resources"),
    ":relations": _CommandSpec(":relations", "the relations a Datalog query may use, with arity and legend"),
    ":explain": _CommandSpec(":explain full|blockers|summary", "the explanation `can` shows", 1, 1, EXPLAIN_VIEWS),
    ":format": _CommandSpec(":format table|json", "how answers are printed", 1, 1, FORMATS),
    ":graph": _CommandSpec(":graph org|reach|why [P A R [with ...]] [FILE]",
                           "a picture as DOT: the organization tree, who can assume whom, or the proof of "
                           "`why P A R` (written to FILE when given: Mermaid for .mmd/.mermaid, SVG for .svg "
                           "when Graphviz is installed, else DOT)", 1, 2),
    ":guardrails": _CommandSpec(":guardrails FILE [why]", "check the detective guardrails of a rules file (.dl) "
                                "against the world: each guardrail, the compliance of each OU and account, every "
                                "violation (with `why`, the derivation of each)", 1, 2),
    ":help": _CommandSpec(":help [TOPIC]", "this help, or the help of one query form or command", 0, None),
    ":quit": _CommandSpec(":quit", "leave (Ctrl-D does too)"),
}
_ALIASES = {":q": ":quit", ":exit": ":quit", ":h": ":help", ":?": ":help"}


# ---------------------------------------------------------------------------------------------
# The abstract syntax
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """A principal, action, resource, key or argument as written (quotes removed)."""

    value: str
    span: Span | None = span_field()

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ContextEntry:
    """``KEY=VALUE`` or ``KEY=[V1, V2]`` (a multivalued key) of a ``with`` clause."""

    key: Word
    value: str | tuple[str, ...]
    span: Span | None = span_field()


def _context_dict(entries: tuple[ContextEntry, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for e in entries:
        value: object = list(e.value) if isinstance(e.value, tuple) else e.value
        if e.key.value in out:
            prev = out[e.key.value]
            out[e.key.value] = (prev if isinstance(prev, list) else [prev]) + (
                value if isinstance(value, list) else [value])
        else:
            out[e.key.value] = value
    return out


class _WithContext:
    context: tuple[ContextEntry, ...]

    def context_dict(self) -> dict[str, object]:
        """The ``with`` clause as a request context (a key given twice becomes a list)."""
        return _context_dict(self.context)


@dataclass(frozen=True)
class Can(_WithContext):
    """``can P A R [with ...]``: the decision."""

    principal: Word
    action: Word
    resource: Word
    context: tuple[ContextEntry, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class Why(_WithContext):
    """``why P A R [with ...]``: the decision and its proof tree."""

    principal: Word
    action: Word
    resource: Word
    context: tuple[ContextEntry, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class WhyNot(_WithContext):
    """``why not P A R [with ...]``: what blocks the request and what would allow it."""

    principal: Word
    action: Word
    resource: Word
    context: tuple[ContextEntry, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class WhoCan(_WithContext):
    """``who can A R [with ...]``: every principal that is allowed."""

    action: Word
    resource: Word
    context: tuple[ContextEntry, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class WhatCan(_WithContext):
    """``what can P do on R [with ...]``: the actions P may do on R."""

    principal: Word
    resource: Word
    context: tuple[ContextEntry, ...] = ()
    span: Span | None = span_field()


@dataclass(frozen=True)
class DatalogQuery:
    """``?- body``: a read-only Datalog query over facts and derived relations."""

    query: datalog.Query
    span: Span | None = span_field()


@dataclass(frozen=True)
class Load:
    """``:load FILE...``"""

    paths: tuple[Word, ...]
    span: Span | None = span_field()


@dataclass(frozen=True)
class Reload:
    """``:reload``"""

    span: Span | None = span_field()


@dataclass(frozen=True)
class ShowWorld:
    """``:world``"""

    span: Span | None = span_field()


@dataclass(frozen=True)
class ShowRelations:
    """``:relations``"""

    span: Span | None = span_field()


@dataclass(frozen=True)
class SetExplain:
    """``:explain full|blockers|summary``"""

    view: str
    span: Span | None = span_field()


@dataclass(frozen=True)
class SetFormat:
    """``:format table|json``"""

    format: str
    span: Span | None = span_field()


@dataclass(frozen=True)
class Graph:
    """``:graph org|reach [FILE]``, or ``:graph why P A R [with ...] [FILE]`` and
    ``why P A R [with ...] --graph [FILE]`` (``picture == "why"``, the request in ``why``)."""

    picture: str
    file: str | None = None
    span: Span | None = span_field()
    why: Why | None = None


@dataclass(frozen=True)
class Help:
    """``:help [TOPIC]``"""

    topic: str | None = None
    span: Span | None = span_field()


@dataclass(frozen=True)
class Guardrails:
    """``:guardrails FILE [why]``"""

    file: Word
    why: bool = False
    span: Span | None = span_field()


@dataclass(frozen=True)
class Quit:
    """``:quit``"""

    span: Span | None = span_field()


Command = Union[Load, Reload, ShowWorld, ShowRelations, SetExplain, SetFormat, Graph, Guardrails, Help, Quit]
Statement = Union[Can, Why, WhyNot, WhoCan, WhatCan, DatalogQuery, Command]


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GraphFlag:
    """``--graph [FILE]`` at the end of a ``why`` (becomes a :class:`Graph`)."""

    file: str | None


@lru_cache(maxsize=1)
def _parser() -> Lark:
    text = resources.files(__package__).joinpath("query.lark").read_text(encoding="utf-8")
    return Lark(text, parser="lalr", lexer="contextual", propagate_positions=True, maybe_placeholders=False,
                cache=lark_cache("query"))


_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t"}


class _ToAst(Transformer):
    """Lark tree → AST; collects E605–E607 and E612 so one line reports all of them."""

    def __init__(self, file: str, text: str):
        super().__init__()
        self.file = file
        self.text = text
        self.diagnostics: list[Diagnostic] = []

    def _span(self, meta) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + len(tok))

    # words
    def bare(self, children):
        (tok,) = children
        return Word(str(tok), self._tspan(tok))

    def string(self, children):
        (tok,) = children
        body, out, i = str(tok)[1:-1], [], 0
        while i < len(body):
            ch = body[i]
            if ch == "\\":
                nxt = body[i + 1]  # the lexer guarantees a character after every backslash
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                else:
                    out.append(body[i:i + 2])  # kept as written, so no second error follows from it
                    col = tok.column + 1 + i
                    self.diagnostics.append(Diagnostic(
                        "E607", f"invalid escape sequence '\\{nxt}' in a string",
                        Span(self.file, tok.line, col, tok.line, col + 2),
                        help="valid escapes are \\\" \\' \\\\ \\n and \\t"))
                i += 2
            else:
                out.append(ch)
                i += 1
        return Word("".join(out), self._tspan(tok))

    def _nonempty(self, word: Word, what: str) -> Word:
        if not word.value.strip():
            self.diagnostics.append(Diagnostic("E612", f"empty {what}", word.span))
        return word

    def principal(self, children):
        return self._nonempty(children[0], "principal")

    def action(self, children):
        return self._nonempty(children[0], "action")

    def resource(self, children):
        return self._nonempty(children[0], "resource")

    # context
    def value_list(self, children):
        return tuple(w.value for w in children if w is not None)

    @v_args(meta=True)
    def entry(self, meta, children):
        key_tok, value = children
        key = Word(str(key_tok), self._tspan(key_tok))
        return ContextEntry(key, value.value if isinstance(value, Word) else value, self._span(meta))

    def context(self, children):
        return tuple(c for c in children if isinstance(c, ContextEntry))

    # queries
    @staticmethod
    def _parts(children):
        words = [c for c in children if isinstance(c, Word)]
        context = next((c for c in children if isinstance(c, tuple)), ())
        return words, context

    @v_args(meta=True)
    def can(self, meta, children):
        (p, a, r), ctx = self._parts(children)
        return Can(p, a, r, ctx, self._span(meta))

    @v_args(meta=True)
    def why(self, meta, children):
        (p, a, r), ctx = self._parts(children)
        flag = next((c for c in children if isinstance(c, _GraphFlag)), None)
        why = Why(p, a, r, ctx, self._span(meta))
        return why if flag is None else Graph("why", flag.file, why.span, why)

    def graph_flag(self, children):
        return _GraphFlag(children[1].value if len(children) > 1 else None)

    @v_args(meta=True)
    def graph_why(self, meta, children):
        words, ctx = self._parts(children)
        span = self._span(meta)
        if any(isinstance(c, Token) and c.type == "NOT" for c in children):
            self.diagnostics.append(Diagnostic(
                "E606", ":graph why draws the proof of an answer; `why not` has none", self._tspan(children[0]),
                help="draw the decision's proof with :graph why P A R; `why not P A R` lists what blocks it"))
            return None
        p, a, r, *rest = words
        why = Why(p, a, r, ctx, span)
        return Graph("why", rest[0].value if rest else None, span, why)

    @v_args(meta=True)
    def why_not(self, meta, children):
        (p, a, r), ctx = self._parts(children)
        return WhyNot(p, a, r, ctx, self._span(meta))

    @v_args(meta=True)
    def who_can(self, meta, children):
        (a, r), ctx = self._parts(children)
        return WhoCan(a, r, ctx, self._span(meta))

    @v_args(meta=True)
    def what_can(self, meta, children):
        (p, r), ctx = self._parts(children)
        return WhatCan(p, r, ctx, self._span(meta))

    @v_args(meta=True)
    def datalog(self, meta, children):
        # The whole line goes to the Datalog grammar (blanks before "?-" are ignored there), so
        # the spans of its diagnostics are columns of this line.
        try:
            query = datalog.parse_query(self.text, self.file)
        except InvalidInput as exc:
            self.diagnostics.extend(exc.diagnostics)
            return None
        return DatalogQuery(query, self._span(meta))

    @v_args(meta=True)
    def command(self, meta, children):
        name_tok, *args = children
        span = self._span(meta)
        name = str(name_tok).lower()
        name = _ALIASES.get(name, name)
        spec = COMMANDS.get(name)
        if spec is None:
            hint = did_you_mean(name, [*COMMANDS, *_ALIASES]) if name != ":" else None
            self.diagnostics.append(Diagnostic(
                "E605", f"unknown command '{name_tok}'", self._tspan(name_tok),
                help=hint or "commands: " + " ".join(COMMANDS)))
            return None
        if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
            where = args[spec.max_args].span if spec.max_args is not None and len(args) > spec.max_args else span
            want = ("no argument" if spec.max_args == 0 else f"{spec.min_args} argument(s)"
                    if spec.min_args == spec.max_args else f"at least {spec.min_args} argument(s)"
                    if spec.max_args is None else f"at most {spec.max_args} argument(s)")
            self.diagnostics.append(Diagnostic("E606", f"{name} takes {want}", where, help=f"usage: {spec.usage}"))
            return None
        if spec.choices:
            choice = args[0].value.lower()
            if choice not in spec.choices:
                hint = did_you_mean(choice, spec.choices)
                self.diagnostics.append(Diagnostic(
                    "E606", f"{name} takes one of {', '.join(spec.choices)}, not '{args[0].value}'", args[0].span,
                    help=hint or f"usage: {spec.usage}"))
                return None
            return SetExplain(choice, span) if name == ":explain" else SetFormat(choice, span)
        if name == ":load":
            return Load(tuple(args), span)
        if name == ":graph":
            picture = args[0].value.lower()
            if picture not in ("org", "reach"):
                self.diagnostics.append(Diagnostic("E606", f":graph draws org, reach or why, not '{args[0].value}'",
                                                   args[0].span, help=f"usage: {spec.usage}"))
                return None
            return Graph(picture, args[1].value if len(args) > 1 else None, span)
        if name == ":guardrails":
            if len(args) > 1 and args[1].value.lower() != "why":
                self.diagnostics.append(Diagnostic("E606", f":guardrails takes a file, then optionally why, not "
                                                           f"'{args[1].value}'", args[1].span,
                                                   help=f"usage: {spec.usage}"))
                return None
            return Guardrails(args[0], len(args) > 1, span)
        if name == ":help":
            return Help(" ".join(a.value.lower() for a in args) if args else None, span)
        return {":reload": Reload, ":world": ShowWorld, ":relations": ShowRelations, ":quit": Quit}[name](span)

    def start(self, children):
        return children[0]


_TERMINALS = {
    "BARE": "a word (a name, action or ARN; quoted if it holds blanks)",
    "STRING": "a quoted string",
    "KEY": "a condition key",
    "COMMAND": "a command (:help lists them)",
    "DATALOG": "'?-'",
    "GRAPH_WHY": "':graph why'", "GRAPH_FLAG": "'--graph'",
    "CAN": "'can'", "WHY": "'why'", "NOT": "'not'", "WHO": "'who'", "WHAT": "'what'",
    "DO": "'do'", "ON": "'on'", "WITH": "'with'",
    "EQUAL": "'='", "COMMA": "','", "LSQB": "'['", "RSQB": "']'",
    "$END": "end of input",
}


def _expected(names) -> str | None:
    names = set(names or ())
    if "BARE" in names:
        names.discard("STRING")  # a bare word or a quoted string: one thing to the reader
    described = sorted({_TERMINALS.get(n, n) for n in names})
    if not described:
        return None
    return "expected " + (described[0] if len(described) == 1 else "one of: " + ", ".join(described))


def _form(text: str) -> str | None:
    """The query form the line starts with, for usage lines in messages."""
    words = text.split()
    if not words:
        return None
    first = words[0].lower()
    if first == "why" and len(words) > 1 and words[1].lower() == "not":
        return "why not"
    if first.startswith("?-"):
        return "?-"
    return first if first in QUERY_FORMS else None


def _usage(text: str, fallback: str | None) -> str | None:
    if text.lstrip().lower().startswith(":graph"):
        return f"usage: {COMMANDS[':graph'].usage}"
    form = _form(text)
    return f"usage: {QUERY_FORMS[form]}" if form else fallback


def _end_span(file: str, text: str) -> Span:
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    col = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return Span(file, line, col)


def _is_first_token(text: str, line: int, col: int) -> bool:
    before = text.split("\n")[: line - 1] + [text.split("\n")[line - 1][: col - 1]]
    return not "".join(before).strip()


def _not_a_query(word: str, span: Span) -> Diagnostic:
    hint = did_you_mean(word.split(":")[0] if not word.startswith(":") else word, ["can", "why", "who", "what"])
    return Diagnostic("E608", f"'{word}' does not start a query", span,
                      help=hint or "a query starts with can, why, why not, who can, what can or ?-; "
                                   "a command with ':' (:help lists both)")


def _syntax_error(exc: LarkError, file: str, text: str) -> Diagnostic:
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        if not text.strip():
            return Diagnostic("E604", "empty query", Span(file, 1, 1),
                              help="a query starts with can, why, why not, who can, what can or ?-; "
                                   "a command with ':' (:help lists both)")
        expected = _expected(getattr(exc, "accepts", None) or exc.expected)
        usage = _usage(text, None)
        return Diagnostic("E604", "unexpected end of input: the query is incomplete", _end_span(file, text),
                          "; ".join(h for h in (expected, usage) if h) or None)
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        span = Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + len(tok))
        if _is_first_token(text, tok.line, tok.column):
            return _not_a_query(str(tok), span)
        expected = _expected(getattr(exc, "accepts", None) or exc.expected)
        usage = _usage(text, None)
        return Diagnostic("E601", f"unexpected '{tok}'", span,
                          "; ".join(h for h in (expected, usage) if h) or None)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        ch = text[pos] if 0 <= pos < len(text) else ""
        span = Span(file, exc.line, exc.column)
        if ch in "\"'":
            return Diagnostic("E603", "unterminated string", span,
                              help=f"close the string with {ch} on the same line")
        if _is_first_token(text, exc.line, exc.column):
            end = pos
            while end < len(text) and not text[end].isspace():
                end += 1
            return _not_a_query(text[pos:end], Span(file, exc.line, exc.column, exc.line, exc.column + max(1, end - pos)))
        return Diagnostic("E602", f"unexpected character {ch!r}", span,
                          "; ".join(h for h in (_expected(exc.allowed), _usage(text, None)) if h) or None)
    line = getattr(exc, "line", 0) or 1
    col = getattr(exc, "column", 0) or 1
    return Diagnostic("E601", f"syntax error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                      Span(file, max(line, 1), max(col, 1)))


def parse_line(text: str, file: str = "<input>") -> Statement:
    """Parse one line of the query language.

    Args:
        text: the line (a query or a command).
        file: the name used in spans; render diagnostics with ``{file: text}`` as sources.

    Returns:
        One of :class:`Can`, :class:`Why`, :class:`WhyNot`, :class:`WhoCan`, :class:`WhatCan`,
        :class:`DatalogQuery`, or a command value (:class:`Load`, :class:`Reload`, ...).

    Raises:
        InvalidInput: a syntax error (``E601``–``E604``, ``E608``: the first one), or every invalid
            escape, unknown command, wrong command argument and empty word of the line (``E605``–
            ``E607``, ``E612``), or the Datalog dialect's ``E4xx`` errors for a ``?-`` query.
            Its ``sources`` hold ``{file: text}``, so :meth:`InvalidInput.render` shows carets.

    >>> parse_line("why not bob 'redshift:CreateCluster' *").principal.value
    'bob'
    >>> parse_line("who can s3:GetObject * with aws:TagKeys=[a, b]").context_dict()
    {'aws:TagKeys': ['a', 'b']}
    >>> parse_line("?- principal(P, \\"user\\", _).").query.variables
    ('P',)
    """
    if not isinstance(text, str):
        raise TypeError(f"a query line must be str, not {type(text).__name__}")
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise InvalidInput([_syntax_error(exc, file, text)], {file: text}) from None
    except LarkError as exc:  # any other lark failure is still a syntax error, never a crash
        raise InvalidInput([_syntax_error(exc, file, text)], {file: text}) from None
    builder = _ToAst(file, text)
    result = builder.transform(tree)
    if builder.diagnostics or result is None:
        raise InvalidInput(builder.diagnostics or [Diagnostic("E601", "cannot read the query", Span(file, 1, 1))],
                           {file: text})
    return result


def help_text(topic: str | None = None) -> str:
    """The ``:help`` text: every form and command, or the usage of one (``can``, ``why not``, ``:load``…)."""
    if topic:
        t = topic.lower().strip()
        key = t if t.startswith(":") else t
        if key in QUERY_FORMS:
            return QUERY_FORMS[key]
        cmd = COMMANDS.get(_ALIASES.get(key, key)) or COMMANDS.get(_ALIASES.get(":" + key, ":" + key))
        if cmd:
            return f"{cmd.usage}\n  {cmd.summary}"
        if t in ("not", "whynot", "why-not"):
            return QUERY_FORMS["why not"]
    lines = ["Queries:"]
    lines += [f"  {usage}" for usage in QUERY_FORMS.values()]
    lines += ["", "  PRINCIPAL: a user or role name, an ARN, an account id, a service principal, anonymous",
              "  words with blanks or keywords in them are quoted: \"my role\"",
              "  a line ending with \\ continues on the next; a ?- query continued over lines ends at '.'",
              "  (or at an empty line)", "", "Commands:"]
    width = max(len(c.usage) for c in COMMANDS.values())
    lines += [f"  {c.usage.ljust(width)}  {c.summary}" for c in COMMANDS.values()]
    return "\n".join(lines)
