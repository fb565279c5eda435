"""The REPL and the ``repl``, ``query``, ``diff`` and ``guardrails`` commands: a face over the library.

All the work is in :class:`Session`: :meth:`Session.handle` takes one line of the query language
(:mod:`iamlogic.grammar.query`) and returns the rendered answer as text. It never raises on any
input: errors come back as diagnostics with a caret under the input. It knows no terminal, so it
is tested line by line; :func:`run_repl` wraps it in prompt_toolkit (history, completion, Ctrl-C
cancels the line, Ctrl-D leaves), and rich draws tables and colours when it prints to a terminal.

>>> s = Session()
>>> print(s.handle("can alice s3:GetObject *"))
<input>:1:1: E610: no world is loaded
    can alice s3:GetObject *
    ^^^^^^^^^^^^^^^^^^^^^^^^
  help: load one with :load FILE... (or start with iamlogic repl WORLD.iaml)
>>> s.handle(":explain full")
'explain: full'

Exit codes of ``iamlogic query``: 0 answered (allowed, for ``can``), 2 denied (``can``), 3 invalid
input, or an answer of ``who can`` / ``what can`` that leaves requests undecided (a policy reads what
the world does not give: E507). ``iamlogic diff``: 1 when new access appears, 0 otherwise, 3 invalid
input or requests left undecided.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any, Iterable, Sequence

from .analysis import (
    ANONYMOUS,
    Undetermined,
    iter_diff,
    policy_actions,
    sample_resources,
    what_can,
    who_can,
    why_not,
)
from .catalog import Catalog
from .decision import ProofNode
from .evaluate import frozen_for_run
from .grammar.arn import parse_arn
from .grammar.diagnostics import Diagnostic, IamlogicError, InvalidInput, Span
from .grammar.query import (
    COMMANDS,
    EXPLAIN_VIEWS,
    FORMATS,
    QUERY_FORMS,
    Can,
    DatalogQuery,
    Graph,
    Guardrails,
    Help,
    Load,
    Quit,
    Reload,
    SetExplain,
    SetFormat,
    ShowRelations,
    ShowWorld,
    WhatCan,
    WhoCan,
    Why,
    WhyNot,
    Word,
    help_text,
    parse_line,
)

__all__ = ["Session", "add_commands", "completion_word", "history_path", "join_continuations", "needs_more",
           "run_repl"]

EXIT_OK, EXIT_NEW_ACCESS, EXIT_DENIED, EXIT_INVALID = 0, 1, 2, 3
INPUT = "<input>"
PROMPT = "iamlogic> "
CONTINUATION_PROMPT = "     ...> "  # as wide as PROMPT, so continued lines line up
#: Rows of a Datalog answer shown as a table (JSON output has them all).
MAX_ROWS = 200
_COLOURS = {"Allow": "bold green", "ExplicitDeny": "bold red", "ImplicitDeny": "bold yellow"}


def history_path() -> str:
    """Where the REPL keeps its history: ``$IAMLOGIC_HISTORY``, else ``~/.iamlogic_history``."""
    return os.environ.get("IAMLOGIC_HISTORY") or os.path.join(os.path.expanduser("~"), ".iamlogic_history")


class _Text:
    """Plain rendering: aligned columns, no colour."""

    rich = False

    def __init__(self, width: int = 100):
        self.width = width

    def decision(self, word: str) -> str:
        return word

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
        header = [str(c) for c in columns]
        body = [[_cell(v).split("\n") for v in row] for row in rows]  # a cell may hold several lines
        widths = [max([len(header[i])] + [len(part) for row in body for part in row[i]]) for i in range(len(header))]
        lines = [title] if title else []
        lines.append("  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip())
        lines.append("  ".join("-" * w for w in widths))
        for row in body:
            for k in range(max(len(cell) for cell in row)):
                parts = [cell[k] if k < len(cell) else "" for cell in row]
                lines.append("  ".join(p.ljust(w) for p, w in zip(parts, widths)).rstrip())
        return "\n".join(lines)

    def proof(self, node: ProofNode) -> str:
        return node.render("  ")

    def colour_head(self, text: str) -> str:
        return text


class _Rich(_Text):
    """rich rendering, for a terminal: tables, trees and colour, returned as ANSI text."""

    rich = True

    def _render(self, renderable) -> str:
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, force_terminal=True, width=self.width, highlight=False).print(renderable)
        return buf.getvalue().rstrip("\n")

    def decision(self, word: str) -> str:
        from rich.text import Text

        return self._render(Text(word, style=_COLOURS.get(word, "bold")))

    def table(self, columns, rows, title=None) -> str:
        from rich.table import Table
        from rich.text import Text

        # Text values, never markup: "[...]" in an ARN or a judgement is data, not a style
        t = Table(title=Text(title) if title else None, title_justify="left", show_lines=False)
        for c in columns:
            t.add_column(Text(str(c)), overflow="fold")
        for row in rows:
            t.add_row(*(Text(_cell(v)) for v in row))
        return self._render(t)

    def proof(self, node: ProofNode) -> str:
        from rich.text import Text
        from rich.tree import Tree

        def label(n: ProofNode) -> Text:
            t = Text(n.judgement)
            if n.rule:
                t.append(f"   [{n.rule}]", style="dim")
            if n.source:
                t.append(f"\n| {n.source}", style="cyan")
            return t

        def grow(tree, n: ProofNode):
            for c in n.children:
                grow(tree.add(label(c)), c)

        root = Tree(label(node))
        grow(root, node)
        return self._render(root)

    def colour_head(self, text: str) -> str:
        head, sep, rest = text.partition(":")
        if head in _COLOURS:
            return self.decision(head) + sep + rest
        return text


def _graph_format(file: str | None) -> str:
    """The picture's format, from the file's name: ``.mmd``/``.mermaid`` Mermaid, ``.svg`` SVG, else DOT."""
    ext = os.path.splitext(file or "")[1].lower()
    return {".mmd": "mermaid", ".mermaid": "mermaid", ".svg": "svg"}.get(ext, "dot")


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value) if not isinstance(value, int) else str(value)


def _warnings_text(warnings: Iterable[str], action_warned: bool = False) -> str:
    """A decision's warnings after its answer, as ``iamlogic check`` prints them ("" when none);
    ``action_warned``: without the unknown action, which the answer's W613 gives already."""
    warnings = [w for w in warnings if not (action_warned and w.startswith("unknown action '"))]
    return "\nwarnings:" + "".join(f"\n  {w}" for w in warnings) if warnings else ""


class Session:
    """One REPL session: a world, settings, and :meth:`handle` for each line.

    Args:
        paths: world files to load at the start (``:load`` them later otherwise).
        world: a :class:`~iamlogic.World` to start with instead (built in memory).
        format: ``table`` (text) or ``json``.
        explain: the view ``can`` shows: ``summary`` (default), ``blockers`` or ``full``.
        rich: draw tables, trees and colours with rich (ANSI text, for a terminal).
        width: the width rich draws to.

    Attributes:
        world: the loaded :class:`~iamlogic.World`, or None.
        status: the exit code the last line earns in ``iamlogic query`` (0, 2 or 3).
        done: set by ``:quit``.
        banner: what loading ``paths`` printed.
        line: the line of a script the next text answered starts at: its diagnostics say that
            line (``<input>:LINE:COL``); 1 for a line typed.
    """

    def __init__(self, paths: Sequence[str] = (), *, world=None, format: str = "table", explain: str = "summary",
                 rich: bool = False, width: int = 100):
        self.world = world
        self.paths: list[str] = []
        self.format = format
        self.explain = explain
        self.out = _Rich(width) if rich else _Text(width)
        self.status = EXIT_OK
        self.done = False
        self._line = ""
        self.line = 1
        self._vocab: dict[str, list[str]] | None = None
        self.banner = self._load(list(paths)) if paths else ""

    # -- the one entry point -------------------------------------------------------------------

    def handle(self, line: str) -> str:
        """Answer one line: a query or a command. Never raises on any input."""
        self._line = line if isinstance(line, str) else str(line)
        if not self._line.strip():
            self.status = EXIT_OK
            return ""
        return self.answer(lambda: parse_line(join_continuations(self._line), INPUT))

    def answer(self, statement) -> str:
        """Answer a statement (or a function that parses one), as :meth:`handle` does a line."""
        self.status = EXIT_OK
        try:
            return self._dispatch(statement() if callable(statement) else statement)
        except InvalidInput as exc:
            return self._errors(exc.diagnostics, exc.sources)
        except IamlogicError as exc:  # an engine failure: a message, never a traceback
            self.status = EXIT_INVALID
            return self._plain_error(f"error: {exc}")
        except RecursionError as exc:
            self.status = EXIT_INVALID
            return self._plain_error(f"error: the query is too deep to answer ({exc})")
        except Exception as exc:  # noqa: BLE001 - the REPL must survive every line
            self.status = EXIT_INVALID
            return self._plain_error(f"internal error: {type(exc).__name__}: {exc}")

    # -- rendering helpers ---------------------------------------------------------------------

    def _json(self, value: Any) -> str:
        return json.dumps(value, indent=2, ensure_ascii=False)

    def _errors(self, diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None) -> str:
        diagnostics = list(diagnostics)
        if any(d.is_error for d in diagnostics):
            self.status = EXIT_INVALID
        diagnostics = [self._on_script_line(d) for d in diagnostics]
        if self.format == "json":
            return self._json({"errors": [d.to_json() for d in diagnostics]})
        srcs = {**(sources or {}), INPUT: self._script_text()}
        return "\n".join(d.render(srcs) for d in diagnostics)

    def _on_script_line(self, d: Diagnostic) -> Diagnostic:
        """``d``, its span on the line of the script where the text answered is (:attr:`line`)."""
        span = d.span
        if self.line == 1 or span is None or span.file != INPUT or not span.line:
            return d
        shift = self.line - 1
        return replace(d, span=replace(span, line=span.line + shift, end_line=span.end_line and span.end_line + shift))

    def _script_text(self) -> str:
        """The text answered, at its line of the script (the source diagnostics are rendered with)."""
        return "\n" * (self.line - 1) + self._line

    def _plain_error(self, message: str) -> str:
        if self.format == "json":
            return self._json({"errors": [{"code": None, "severity": "error", "message": message}]})
        return message

    def _line_span(self) -> Span:
        text = self._line.rstrip()
        start = len(text) - len(text.lstrip()) + 1
        return Span(INPUT, 1, start, 1, len(text) + 1) if "\n" not in text else Span(INPUT, 1, start)

    def _need_world(self) -> None:
        if self.world is None:
            raise InvalidInput([Diagnostic("E610", "no world is loaded", self._line_span(),
                                           help="load one with :load FILE... (or start with iamlogic repl WORLD.iaml)")])

    # -- checks of the words of a request -------------------------------------------------------

    def _check_resource(self, word: Word) -> None:
        value = word.value
        if value == "*":
            return
        if isinstance(parse_arn(value), str):
            problem = parse_arn(value) if value.startswith("arn:") else None
            raise InvalidInput([Diagnostic(
                "E611", f"malformed resource '{value}'" + (f": {problem}" if problem else ""), word.span,
                help="a resource is '*' or an ARN: arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE")])

    def _context(self, q) -> dict[str, object]:
        """The ``with`` clause as a request context. A key given twice (in any case: condition key
        names are case-insensitive) is E514: a multivalued key's values are one entry, KEY=[V1, V2]."""
        seen: dict[str, str] = {}
        for e in q.context:
            key = e.key.value
            if key.lower() in seen:
                raise InvalidInput([Diagnostic(
                    "E514", f"context key {key} is given twice" + (
                        "" if seen[key.lower()] == key else
                        f" (as {seen[key.lower()]}): condition key names are case-insensitive"), e.key.span,
                    help=f"give a key once; a multivalued key's values in one entry: {key}=[V1, V2]")])
            seen[key.lower()] = key
        return q.context_dict()

    def _action_warnings(self, word: Word) -> list[Diagnostic]:
        catalog = Catalog.default()
        if catalog.action(word.value) is not None:
            return []
        hint = catalog.suggest_action(word.value)
        return [Diagnostic("W613", f"unknown action '{word.value}': not in the AWS action catalog", word.span,
                           help=hint)]

    def _with_principal_span(self, exc: InvalidInput, word: Word | None) -> InvalidInput:
        """Point the evaluator's principal errors (E501–E504, which have no span) at the word."""
        if word is None:
            return exc
        diags = [Diagnostic(d.code, d.message, word.span, d.help) if d.span is None and d.code.startswith("E50") else d
                 for d in exc.diagnostics]
        return InvalidInput(diags, exc.sources)

    def _warned(self, warnings: list[Diagnostic], text: str) -> str:
        if not warnings:
            return text
        if self.format == "json":
            data = json.loads(text)
            if isinstance(data, dict):
                data["diagnostics"] = [w.to_json() for w in warnings]
            return self._json(data)
        return self._errors(warnings) + "\n" + text

    # -- dispatch ------------------------------------------------------------------------------

    def _dispatch(self, stmt) -> str:
        if isinstance(stmt, (Can, Why, WhyNot)):
            return self._request(stmt)
        if isinstance(stmt, WhoCan):
            return self._who_can(stmt)
        if isinstance(stmt, WhatCan):
            return self._what_can(stmt)
        if isinstance(stmt, DatalogQuery):
            return self._datalog(stmt)
        if isinstance(stmt, Load):
            return self._load([w.value for w in stmt.paths])
        if isinstance(stmt, Reload):
            if not self.paths:
                raise InvalidInput([Diagnostic("E610", "no world is loaded: nothing to reload", self._line_span(),
                                               help="load one with :load FILE...")])
            return self._load(list(self.paths))
        if isinstance(stmt, ShowWorld):
            return self._show_world()
        if isinstance(stmt, ShowRelations):
            return self._show_relations()
        if isinstance(stmt, SetExplain):
            self.explain = stmt.view
            return self._setting("explain", stmt.view)
        if isinstance(stmt, SetFormat):
            self.format = stmt.format
            return self._setting("format", stmt.format)
        if isinstance(stmt, Graph):
            return self._graph(stmt)
        if isinstance(stmt, Guardrails):
            return self._guardrails(stmt)
        if isinstance(stmt, Help):
            text = help_text(stmt.topic)
            return self._json({"help": text}) if self.format == "json" else text
        if isinstance(stmt, Quit):
            self.done = True
            return ""
        raise TypeError(f"unhandled statement {stmt!r}")

    def _guardrails(self, stmt: Guardrails) -> str:
        from .guardrails import check_guardrails, explain, load_guardrails

        self._need_world()
        try:
            rules = load_guardrails(os.path.expanduser(stmt.file.value))
        except InvalidInput as exc:
            if stmt.file.span is not None and exc.diagnostics[0].code == "E807":  # the file: point at its name
                exc = InvalidInput([Diagnostic("E807", exc.diagnostics[0].message, stmt.file.span)])
            raise exc from None
        found = check_guardrails(self.world, rules)
        if not found.compliant:
            self.status = EXIT_NEW_ACCESS  # 1: a guardrail is violated
        proofs = explain(self.world, rules, found.violations) if stmt.why else []
        if self.format == "json":
            data = found.to_json()
            if stmt.why:
                data["violations"] = [{**v, "proof": p.to_json()} for v, p in zip(data["violations"], proofs)]
            return self._json({**data, "diagnostics": [w.to_json() for w in rules.warnings]})
        broken = [g for g in found.guardrails if found.violations_of(g.name)]
        head = (f"{len(found.guardrails)} guardrail(s): {len(broken)} violated, "
                f"{len(found.guardrails) - len(broken)} hold")
        parts = [self.out.table(["guardrail", "status", "violations", "what it checks"],
                                [[g.name, "VIOLATED" if g in broken else "holds", len(found.violations_of(g.name)),
                                  g.description] for g in found.guardrails], head)]
        if found.nodes:
            def label(n) -> str:
                if n.kind == "account":
                    return f"{'  ' * n.depth}{n.id} {n.name}"
                return f"{'  ' * n.depth}{'OU ' if n.kind == 'ou' else ''}{n.name}"

            parts.append(self.out.table(["node", "accounts", "out of line", "violations"],
                                        [[label(n), n.accounts, n.noncompliant, n.violations] for n in found.nodes],
                                        "compliance by organization node and account"))
        if found.violations:
            names = {n.id: n.name for n in found.nodes if n.kind == "account"}
            parts.append(self.out.table(["guardrail", "account", "subject", "declared at"],
                                        [[v.guardrail, f"{v.account} {names[v.account]}" if v.account in names
                                          else v.account, v.subject, str(v.where) if v.where else "—"]
                                         for v in found.violations], "violations"))
        if proofs:
            parts.append("\n".join(["derivations"] + [self.out.proof(p) for p in proofs]))
        text = "\n\n".join(parts)
        if rules.warnings:
            text = "\n".join(w.render({rules.program.file: rules.program.text}) for w in rules.warnings) + "\n" + text
        return text

    def _graph(self, stmt: "Graph") -> str:
        from .graph import org_graph, proof_graph, reach_graph, to_svg

        self._need_world()
        fmt = _graph_format(stmt.file)
        text_fmt = "mermaid" if fmt == "mermaid" else "dot"
        warnings: list[Diagnostic] = []
        if stmt.picture == "why":
            q = stmt.why
            self._check_resource(q.resource)
            warnings = self._action_warnings(q.action)
            try:
                d = self.world.check(q.principal.value, q.action.value, q.resource.value, self._context(q))
            except InvalidInput as exc:
                raise self._with_principal_span(exc, q.principal) from None
            text = proof_graph(d.proof(), text_fmt)
        else:
            text = (org_graph if stmt.picture == "org" else reach_graph)(self.world, text_fmt)
        if stmt.file is None:
            out = self._json({"graph": text}) if self.format == "json" else text.rstrip("\n")
            return self._warned(warnings, out)
        data = text.encode("utf-8")
        if fmt == "svg":
            try:
                svg = to_svg(text)
            except (OSError, subprocess.SubprocessError) as exc:
                self.status = EXIT_INVALID
                return self._plain_error(f"error: {stmt.file} was not written: Graphviz's dot failed ({exc})")
            if svg is None:
                self.status = EXIT_INVALID
                return self._plain_error(f"error: {stmt.file} was not written: SVG needs Graphviz's dot program; "
                                         "write a .dot or .mmd file instead")
            data = svg
        try:
            with open(stmt.file, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            self.status = EXIT_INVALID
            return self._plain_error(f"error: cannot write {stmt.file}: {exc.strerror or exc}")
        done = f"wrote {stmt.file}"
        return self._warned(warnings, self._json({"wrote": stmt.file}) if self.format == "json" else done)

    def _setting(self, name: str, value: str) -> str:
        return self._json({name: value}) if self.format == "json" else f"{name}: {value}"

    # -- world ---------------------------------------------------------------------------------

    def _load(self, paths: list[str]) -> str:
        from .world import load

        paths = [os.path.expanduser(p) for p in paths]
        try:
            world = load(paths)
            world.evaluator()  # compile now, so that the first query does not pay for it
        except InvalidInput as exc:
            self.status = EXIT_INVALID
            if self.format == "json":
                return self._json({"errors": [d.to_json() for d in exc.diagnostics]})
            return exc.render() + ("\n(the world was not changed)" if self.world is not None else "")
        self.world, self.paths = world, list(paths)
        self._vocab = None
        idx = world.evaluator().index
        n_users = sum(1 for t, _ in idx.principals.values() if t == "user")
        n_roles = sum(1 for t, _ in idx.principals.values() if t == "role")
        if self.format == "json":
            return self._json({"loaded": paths, "accounts": len(idx.accounts), "users": n_users, "roles": n_roles,
                               "resources": len(idx.resources),
                               "diagnostics": [w.to_json() for w in world.warnings]})
        lines = [w.render(world.sources) for w in world.warnings]
        lines.append(f"loaded {', '.join(paths)}: {len(idx.accounts)} account(s), {n_users} user(s), "
                     f"{n_roles} role(s), {len(idx.resources)} resource(s)")
        return "\n".join(lines)

    def _show_world(self) -> str:
        self._need_world()
        w = self.world
        idx = w.evaluator().index
        model = w.model
        accounts = []
        for a in model.accounts:
            accounts.append({"id": a.id, "name": a.name, "organization": idx.account_org.get(a.id),
                             "path": idx.org_path(a.id)})
        principals = sorted(idx.principals)
        by_kind: dict[str, int] = {}
        for kind, _name in idx.policies.values():
            by_kind[kind] = by_kind.get(kind, 0) + 1
        ous = sorted(n for n in idx.node_names if n.startswith("ou-"))
        data = {
            "files": self.paths,
            "organizations": [{"id": o.id, "management": o.management} for o in model.organizations],
            "accounts": accounts,
            "ous": [{"id": n, "name": idx.node_names[n]} for n in ous],
            "principals": [{"arn": p, "type": idx.principals[p][0]} for p in principals],
            "policies": dict(sorted(by_kind.items())),
            "resources": sorted(idx.resources),
        }
        if self.format == "json":
            return self._json(data)
        lines = [f"world: {', '.join(self.paths) or '(built in memory)'}"]
        for o in data["organizations"]:
            lines.append(f"organization {o['id']} (management {o['management']}), {len(ous)} OU(s): "
                         + ", ".join(f"{idx.node_names[n]}" for n in ous))
        lines.append(self.out.table(["account", "name", "organization path"],
                                    [[a["id"], a["name"], a["path"] or "-"] for a in accounts],
                                    f"accounts ({len(accounts)})"))
        lines.append(self.out.table(["principal", "type"], [[p["arn"], p["type"]] for p in data["principals"]],
                                    f"principals ({len(principals)})"))
        lines.append("policies: " + (", ".join(f"{n} {k}" for k, n in data["policies"].items()) or "none"))
        lines.append(f"resources ({len(data['resources'])}): " + (", ".join(data["resources"]) or "none"))
        return "\n".join(lines)

    def _show_relations(self) -> str:
        from .evaluate import BUILTIN_SPECS, rules
        from .dlcheck import derived_relations
        from .schema import RELATIONS

        rows = []
        for name, rel in RELATIONS.items():
            kind = "builtin" if name in BUILTIN_SPECS else "fact"
            rows.append([name, rel.arity, kind, f"{name}({', '.join(rel.args)}): {rel.legend}"])
        first_rule: dict[str, str] = {}
        for rule in rules().rules:
            if rule.span:
                first_rule.setdefault(rule.head.relation, rule.span.file)
        for name, arity in sorted(derived_relations(rules()).items()):
            rows.append([name, arity, "derived", f"derived by {first_rule.get(name, 'the rules')}"])
        for name, spec in sorted(BUILTIN_SPECS.items()):
            if name not in RELATIONS:
                rows.append([name, spec.arity, "builtin", "computed in Python (request-scoped: empty outside a decision)"
                             if name.startswith("request") else "computed in Python"])
        if self.format == "json":
            return self._json([{"relation": r[0], "arity": r[1], "kind": r[2], "legend": r[3]} for r in rows])
        return self.out.table(["relation", "arity", "kind", "legend"], rows)

    # -- requests ------------------------------------------------------------------------------

    def _request(self, q) -> str:
        self._need_world()
        self._check_resource(q.resource)
        warnings = self._action_warnings(q.action)
        context = self._context(q)
        try:
            if isinstance(q, WhyNot):
                blockers = why_not(self.world, q.principal.value, q.action.value, q.resource.value, context)
                text = self._json(blockers.to_json()) if self.format == "json" else self._colour(
                    blockers.render()) + _warnings_text(blockers.decision.warnings, bool(warnings))
                return self._warned(warnings, text)
            d = self.world.check(q.principal.value, q.action.value, q.resource.value, context)
        except InvalidInput as exc:
            raise self._with_principal_span(exc, q.principal) from None
        if isinstance(q, Can) and not d.allowed:
            self.status = EXIT_DENIED
        if self.format == "json":
            data = d.to_json()
            if isinstance(q, Why):
                data["explanation"] = d.proof().to_json()
            elif self.explain != "summary":
                data["explanation"] = d.proof().to_json() if self.explain == "full" else d.explain(self.explain)
            return self._warned(warnings, self._json(data))
        notes = _warnings_text(d.warnings, bool(warnings))
        if isinstance(q, Why) or self.explain == "full":
            text = self._colour(d.explain("blockers")) + "\n\nderivation:\n" + self.out.proof(d.proof()) + (
                "\n" if notes else "")
        else:
            text = self._colour(d.explain(self.explain))
        return self._warned(warnings, text + notes)

    def _colour(self, text: str) -> str:
        first, sep, rest = text.partition("\n")
        return self.out.colour_head(first) + sep + rest

    def _who_can(self, q: WhoCan) -> str:
        self._need_world()
        self._check_resource(q.resource)
        warnings = self._action_warnings(q.action)
        unknown: list[Undetermined] = []
        maybe: list = []
        found = who_can(self.world, q.action.value, q.resource.value, self._context(q), undetermined=unknown,
                        conditional=maybe)
        action = found[0][1].action if found else q.action.value
        if self.format == "json":
            return self._warned(warnings, self._undetermined(unknown, self._json({
                "action": action, "resource": q.resource.value,
                "principals": [{"principal": p, "as": d.principal, "decision": d.decision,
                                "statements": [s.to_json() for s in d.statements],
                                "missing_context": list(d.missing_context), "warnings": list(d.warnings)}
                               for p, d in found],
                "conditional": [{"principal": p, "decision": d.decision, "missing_context": list(d.missing_context)}
                                for p, d in maybe]})))
        notes = _warnings_text(dict.fromkeys(w for _, d in found + maybe for w in d.warnings), bool(warnings))
        # denied for want of keys the question did not give: given them, they may be allowed
        more = "".join(f"\n  {p} (reads {', '.join(d.missing_context)})" for p, d in maybe)
        if more:
            more = (f"\n{len(maybe)} principal(s) more are denied by decisions that read keys the question did not "
                    f"give (add: with KEY=VALUE):{more}")
        if not found:
            text = f"no principal of the world {'is known to be able to' if unknown else 'can'} {action} on " \
                   f"{q.resource.value}"
            return self._warned(warnings, self._undetermined(unknown, text + more + notes))
        rows = []
        for p, d in found:
            via = [s.label() for s in d.statements if s.policy_kind not in ("scp", "rcp")] or [
                next((v.note for v in d.layers if v.note), "allowed")]
            if d.missing_context:  # a Deny that reads them did not apply: given them, it may
                via.append(f"decided without {', '.join(d.missing_context)} (a policy reads it)")
            rows.append([p, "\n".join(via)])
        title = f"{len(found)} principal(s) can {action} on {q.resource.value}"
        return self._warned(warnings, self._undetermined(unknown, self.out.table(["principal", "allowed by"], rows,
                                                                                 title) + more + notes))

    def _undetermined(self, unknown: list[Undetermined], text: str) -> str:
        """An answer with the requests it could not decide: each one's error, after the answer
        (as JSON, under ``undetermined``). The answer is incomplete, so the status is invalid."""
        if not unknown:
            return text
        self.status = EXIT_INVALID
        if self.format == "json":
            data = json.loads(text)
            data["undetermined"] = [u.to_json() for u in unknown]
            return self._json(data)
        srcs = {**(self.world.sources if self.world is not None else {}), INPUT: self._script_text()}
        head = f"{len(unknown)} request(s) could not be decided, each for the reason its error gives"
        return "\n".join([text, head] + [f"  {u.principal} {u.action} {u.resource}:\n    "
                                          + self._on_script_line(u.diagnostic).render(srcs).replace("\n", "\n    ")
                                          for u in unknown])

    def _what_can(self, q: WhatCan) -> str:
        self._need_world()
        self._check_resource(q.resource)
        unknown: list[Undetermined] = []
        warned: list[str] = []
        try:
            found = what_can(self.world, q.principal.value, q.resource.value, self._context(q), undetermined=unknown,
                             warnings=warned)
        except InvalidInput as exc:
            raise self._with_principal_span(exc, q.principal) from None
        scope = ("the catalog actions that take this resource" if q.resource.value != "*" else
                 "the actions of the services the world's policies name")
        if self.format == "json":
            caller = self.world.evaluator().resolve(q.principal.value, "sts:GetCallerIdentity", "*").caller
            return self._undetermined(unknown, self._json({"principal": q.principal.value, "as": caller,
                                                           "resource": q.resource.value, "scope": scope,
                                                           "actions": found, "warnings": warned}))
        if not found:
            return self._undetermined(unknown, f"{q.principal.value} can do nothing{' known' if unknown else ''} on "
                                               f"{q.resource.value} (asked: {scope})" + _warnings_text(warned))
        rows = [[service, level, ", ".join(acts)] for service, levels in found.items() for level, acts in levels.items()]
        n = sum(len(a) for levels in found.values() for a in levels.values())
        title = f"{q.principal.value} can do {n} action(s) on {q.resource.value} (asked: {scope})"
        return self._undetermined(unknown, self.out.table(["service", "access level", "actions"], rows, title)
                                  + _warnings_text(warned))

    def _datalog(self, q: DatalogQuery) -> str:
        self._need_world()
        rows = self.world.evaluator().query(q.query)
        columns = list(q.query.variables)
        if self.format == "json":
            return self._json({"columns": columns, "rows": [list(r) for r in rows]})
        if not columns:
            return "yes" if rows else "no"
        if not rows:
            return "no answers"
        shown = rows[:MAX_ROWS]
        text = self.out.table(columns, shown, f"{len(rows)} answer(s)")
        if len(rows) > MAX_ROWS:
            text += f"\n… {len(rows) - MAX_ROWS} more (:format json shows every row)"
        return text

    # -- completion ----------------------------------------------------------------------------

    def vocabulary(self) -> dict[str, list[str]]:
        """The words tab completion offers: commands, query words, principals, actions, resources,
        condition keys and relation names of the loaded world."""
        from .evaluate import BUILTIN_SPECS, rules
        from .dlcheck import derived_relations
        from .schema import RELATIONS

        if self._vocab is not None:
            return self._vocab
        vocab = {
            "commands": list(COMMANDS),
            "forms": ["can", "why", "why not", "who can", "what can", "?-"],
            "relations": sorted({*RELATIONS, *derived_relations(rules()), *BUILTIN_SPECS}),
            "explain": list(EXPLAIN_VIEWS), "format": list(FORMATS),
            "principals": [], "actions": [], "resources": [], "keys": [],
        }
        if self.world is not None:
            idx = self.world.evaluator().index
            names = sorted({n for n, _ in idx.names.values()})
            vocab["principals"] = names + sorted(idx.principals) + sorted(idx.accounts) + [ANONYMOUS]
            vocab["actions"] = sorted(policy_actions(self.world)[0])
            vocab["resources"] = sample_resources(self.world)
            vocab["keys"] = sorted({key for (_s, _op, key) in idx.conditions.values()})
        self._vocab = vocab
        return vocab

    def complete(self, text_before_cursor: str) -> list[str]:
        """Completions of the word before the cursor, for the words before it.

        After ``with``: condition keys, those of the action asked about first (from the catalog),
        then the keys the world's conditions test, the action's service's keys, and the AWS global
        keys. A templated key (``aws:ResourceTag/${TagKey}``) is offered up to its tag part.
        """
        vocab = self.vocabulary()
        text = join_continuations(text_before_cursor)
        stripped = text.lstrip()
        words = stripped.split()
        current = completion_word(text)
        before = words[:-1] if stripped and not stripped[-1].isspace() else words
        if stripped.startswith("?-"):
            pool = vocab["relations"]
        elif not before:
            pool = vocab["commands"] + ["can", "why", "who", "what", "?-"]
        elif before[0] == ":explain":
            pool = vocab["explain"]
        elif before[0] == ":format":
            pool = vocab["format"]
        elif before[0] in (":help",):
            pool = list(QUERY_FORMS) + vocab["commands"]
        elif before[0] == ":graph":
            if len(before) == 1:
                pool = ["org", "reach", "why"]
            elif before[1].lower() == "why":
                pool = self._query_pool(before[1:], vocab, graph=True)
            else:
                pool = []
        elif before[0].startswith(":"):
            pool = []
        else:
            pool = self._query_pool(before, vocab)
        low = current.lower()
        return [c for c in dict.fromkeys(pool) if c.lower().startswith(low) and c != current]

    def _query_pool(self, before: list[str], vocab: dict[str, list[str]], graph: bool = False) -> list[str]:
        head = [b.lower() for b in before]
        if "with" in head:
            return self._key_pool(head[:head.index("with")], before, vocab)
        pool = self._position_pool(before, vocab)
        if graph and pool == ["with", "--graph"]:
            return ["with"]  # :graph why P A R [with ...] [FILE]
        return pool

    @staticmethod
    def _key_pool(head: list[str], before: list[str], vocab: dict[str, list[str]]) -> list[str]:
        """Condition keys for a ``with`` clause: the action's, the world's, its service's, the global ones."""
        from .catalog import GLOBAL_CONDITION_KEYS

        catalog = Catalog.default()
        action = None
        if head[:1] == ["why"] and head[1:2] == ["not"]:
            action = before[3] if len(head) > 3 else None
        elif head[:1] in (["can"], ["why"], ["who"]):
            action = before[2] if len(head) > 2 else None
        action_keys: tuple[str, ...] = ()
        service_keys: tuple[str, ...] = ()
        if action and ":" in action:
            info = catalog.action(action)
            action_keys = info.condition_keys if info else ()
            service_keys = catalog.service_condition_keys(info.service if info else action.partition(":")[0])
        keys = [*action_keys, *vocab["keys"], *service_keys, *(name for name, _type in GLOBAL_CONDITION_KEYS)]
        out: dict[str, str] = {}
        for key in keys:
            m = _KEY_PLACEHOLDER.search(key)
            key = key[:m.start()] if m else key
            out.setdefault(key.lower(), key)
        return list(out.values())

    @staticmethod
    def _position_pool(before: list[str], vocab: dict[str, list[str]]) -> list[str]:
        head = [b.lower() for b in before]
        if head[0] == "who":
            slots, rest = [["can"], "actions", "resources"], head[1:]
        elif head[0] == "what":
            slots, rest = [["can"], "principals", ["do"], ["on"], "resources"], head[1:]
        elif head[0] == "why" and len(head) > 1 and head[1] == "not":
            slots, rest = ["principals", "actions", "resources"], head[2:]
        elif head[0] == "why":
            slots, rest = [["not"] + vocab["principals"], "actions", "resources"], head[1:]
            if len(rest) >= len(slots):
                return ["with", "--graph"]
        elif head[0] == "can":
            slots, rest = ["principals", "actions", "resources"], head[1:]
        else:
            return []
        if len(rest) >= len(slots):
            return ["with"]
        slot = slots[len(rest)]
        return slot if isinstance(slot, list) else vocab[slot]

    def needs_more(self, text: str) -> bool:
        """Whether the REPL reads another line before answering ``text``: see :func:`needs_more`."""
        return needs_more(text)


#: The placeholder of a templated condition key: ``${TagKey}``, ``<key>``.
_KEY_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|<[^>]*>")


def completion_word(text: str) -> str:
    """The word the cursor is in, which a completion replaces: the identifier at the end of a
    ``?-`` query; in a ``with`` clause, the key after the last comma or bracket; else the last
    blank-separated word."""
    text = join_continuations(text)
    if text.lstrip().startswith("?-"):
        return _last_identifier(text)
    if not text.strip() or text[-1].isspace():
        return ""
    words = text.split()
    word = words[-1]
    if "with" in (w.lower() for w in words[:-1]):
        word = re.split(r"[,\[]", word)[-1]
    return word


# ---------------------------------------------------------------------------------------------
# Multi-line input


_CONTINUED = re.compile(r"\\(?=[ \t]*\n)")


def join_continuations(text: str) -> str:
    r"""The text a continued input means: each backslash that ends a line becomes a blank.

    Newlines stay, and every other character keeps its place, so the line and column of a
    diagnostic are those of the text as typed.

    >>> join_continuations("can dana \\\ns3:GetObject *")
    'can dana  \ns3:GetObject *'
    """
    return _CONTINUED.sub(" ", text)


def _datalog_tail(text: str) -> tuple[int, str]:
    """The bracket depth at the end of a ``?-`` query, and its code with strings and comments removed."""
    depth, code, i, in_string = 0, [], 0, False
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\" and i + 1 < len(text) and text[i + 1] != "\n":
                i += 2
                continue
            if ch in '"\n':  # a string closes on its line (else the parser reports it)
                in_string = False
                code.append('""')
            i += 1
            continue
        if ch == '"':
            in_string = True
        elif ch in "%#":  # a comment, to the end of the line
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            depth += ch == "("
            depth -= ch == ")"
            code.append(ch)
        i += 1
    return depth, "".join(code)


def needs_more(text: str) -> bool:
    r"""Whether the REPL should read another line before answering ``text`` (the lines so far).

    - A line ending with a backslash continues on the next one.
    - A ``?-`` query continues while a bracket is open, or after a ``,`` or ``not``; once it spans
      several lines it continues until it ends with ``.``. A one-line query needs no ``.``.
    - An empty line ends any input, complete or not (the parser then says what is missing).

    >>> needs_more("can dana \\"), needs_more("?- principal(P,"), needs_more("?- account(A, _)")
    (True, True, False)
    >>> needs_more("?- principal(P, _, A),\n  not group_member(P, _)"), needs_more("?- a(X),\n b(X).")
    (True, False)
    """
    lines = text.split("\n")
    if len(lines) > 1 and not lines[-1].strip():
        return False
    if lines[-1].rstrip(" \t").endswith("\\"):
        return True
    body = join_continuations(text).lstrip()
    if not body.startswith("?-"):
        return False
    depth, code = _datalog_tail(body[2:])
    code = code.rstrip()
    if depth > 0:
        return True
    if code.endswith("."):
        return False
    if not code or code.endswith((",", "(", "-", "=", "<", ">", "!")) or re.search(r"(^|[^A-Za-z0-9_])not$", code):
        return True
    return "\n" in text.rstrip()


def _last_identifier(text: str) -> str:
    i = len(text)
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_"):
        i -= 1
    return text[i:]


# ---------------------------------------------------------------------------------------------
# The terminal face


def run_repl(paths: Sequence[str] = (), *, input=None, output=None, stdout=None) -> int:
    """The interactive REPL: prompt_toolkit for input, :class:`Session` for answers.

    History is kept in :func:`history_path`; Tab completes commands, principals, actions, resource
    ARNs, condition keys and relation names; Ctrl-C cancels the line; Ctrl-D (or ``:quit``) leaves.
    An input continues over several lines (prompt ``...>``) while :func:`needs_more` says so: after a
    line ending with a backslash, and in a ``?-`` query until its ``.``; the lines are answered as
    one text, so a diagnostic points at the line and column typed.
    ``input``/``output`` are prompt_toolkit's, for tests (``create_pipe_input``).
    """
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    stdout = stdout or sys.stdout
    tty = hasattr(stdout, "isatty") and stdout.isatty() and input is None
    width = 100
    try:
        width = os.get_terminal_size(stdout.fileno()).columns if tty else 100
    except (OSError, ValueError, AttributeError):
        pass
    session = Session(rich=tty, width=width)
    if paths:
        session.banner = session._load(list(paths))

    pending: list[str] = []  # the lines of an input continued over several lines
    read_lines = first = 0  # the lines read, and the line the input answered next starts at

    class _Complete(Completer):
        def get_completions(self, document, complete_event):
            text = "\n".join([*pending, document.text_before_cursor])
            current = completion_word(text)
            for word in session.complete(text):
                yield Completion(word, start_position=-len(current))

    script = input is None and not sys.stdin.isatty()
    if script:
        # a script on standard input (`iamlogic repl world.iaml < queries.txt`): its lines are read
        # as they are, without prompts or line editing, and answered in turn; the run exits 3 when
        # the world failed to load or a line was invalid
        lines = iter(sys.stdin)

        def read(_prompt: str) -> str:
            line = next(lines, None)
            if line is None:
                raise EOFError
            return line.rstrip("\r\n")
    else:
        try:
            path = history_path()
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "ab"):
                pass  # fail here, not at the first line, when the file cannot be written
            history = FileHistory(path)
        except OSError:
            history = InMemoryHistory()
        read = PromptSession(history=history, completer=_Complete(), complete_while_typing=False,
                             input=input, output=output).prompt
    print("iamlogic REPL: :help lists queries and commands; Ctrl-D leaves.", file=stdout)
    if session.banner:
        print(session.banner, file=stdout)
    failed = bool(paths) and session.world is None
    while not session.done:
        try:
            line = read(CONTINUATION_PROMPT if pending else PROMPT)
        except KeyboardInterrupt:
            pending.clear()  # Ctrl-C drops the whole input, continued lines and all
            continue
        except EOFError:
            if not pending:
                break
            line = None  # the input ends inside an unfinished query: answered as it is (an error)
        if line is not None:
            read_lines += 1
            first = first if pending else read_lines
            pending.append(line)
        text = "\n".join(pending)
        if line is not None and session.needs_more(text):
            continue
        pending.clear()
        if script:  # a diagnostic says the line of the script
            session.line = first
        try:
            answer = session.handle(text)
        except KeyboardInterrupt:
            answer = "interrupted"
        failed = failed or session.status == EXIT_INVALID
        if answer:
            print(answer, file=stdout, flush=True)
    return EXIT_INVALID if script and failed else EXIT_OK


# ---------------------------------------------------------------------------------------------
# Commands


def cmd_repl(args) -> int:
    return run_repl(args.world)


def cmd_query(args) -> int:
    if len(args.args) < 2:
        print("iamlogic query: give the world's files, then the query: iamlogic query WORLD.iaml \"can alice "
              "s3:GetObject *\"", file=sys.stderr)
        return EXIT_INVALID
    *paths, query = args.args
    session = Session(format="json" if args.format == "json" else "table", explain=args.explain)
    loaded = session._load(paths)
    if session.world is None:
        print(loaded, file=sys.stderr if args.format != "json" else sys.stdout)
        return EXIT_INVALID
    for w in session.world.warnings:
        print(w.render(session.world.sources), file=sys.stderr)
    answer = session.handle(query)
    if answer:
        print(answer)
    return session.status


def _diff_text(c, requests: int | None = None) -> str:
    """A change as text; ``requests``: the change stands for a group of that many (``diff --summary``)."""
    mark = {"new access": "+", "access removed": "-"}.get(c.kind, "~")
    line = f"{mark} {c.kind}: {c.principal} {c.action} {c.resource} ({c.before or 'absent'} -> {c.after or 'absent'})"
    if requests is not None:
        line = (f"{mark} {c.kind}: {c.principal} {c.action} on {requests:,} request(s) "
                f"({c.before or 'absent'} -> {c.after or 'absent'}), such as {c.resource}")
    if c.context:
        line += " with " + ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in c.context)
    for d in c.behind():
        line += "".join(f"\n    {'allowed' if d.allowed else 'denied'} by {s.label()}"
                        for s in d.statements if s.policy_kind not in ("scp", "rcp") or not d.allowed)
    return line


def cmd_guardrails(args) -> int:
    session = Session(format="json" if args.format == "json" else "table")
    loaded = session._load(list(args.world))
    if session.world is None:
        print(loaded, file=sys.stderr if args.format != "json" else sys.stdout)
        return EXIT_INVALID
    for w in session.world.warnings:
        print(w.render(session.world.sources), file=sys.stderr)
    print(session.answer(Guardrails(Word(args.rules), args.why)))
    return session.status


def cmd_diff(args) -> int:
    from .cli import parse_context
    from .world import load

    if not args.old or not args.new:
        print("iamlogic diff: give the old world's files, then --, then the new world's: "
              "iamlogic diff old.iaml -- new.iaml", file=sys.stderr)
        return EXIT_INVALID
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return EXIT_INVALID
    before, after = load(args.old), load(args.new)
    for principal in args.principal or ():  # a principal neither world knows would be "no change"
        problems = []
        for world in (before, after):
            try:
                world.evaluator().resolve(principal, "sts:GetCallerIdentity", "*")
            except InvalidInput as exc:
                problems.append(exc)
        if len(problems) == 2:
            raise problems[0]
    context = parse_context(args.context)
    _check_context_values(context, before.evaluator().catalog)
    unknown: list[Undetermined] = []
    notes: list[str] = []
    counts = {"new access": 0, "access removed": 0, "denial changed": 0}
    # --summary: (kind, principal, action, before, after) -> [the requests, the first change with its decisions]
    groups: dict[tuple, list] | None = {} if args.summary else None
    explained: set[tuple] = set()

    def explain(principal: str, action: str, v0: str | None, v1: str | None) -> bool:
        """In a summary, only a group's first change is shown with its statements."""
        key = (principal, action, v0, v1)
        if key in explained:
            return False
        explained.add(key)
        return True

    def lines(changes) -> list[tuple[str, int, str]]:
        """Each change of a block as (its kind, 1, its line)."""
        return [(c.kind, 1, json.dumps(c.to_json(), ensure_ascii=False) if args.format == "json" else _diff_text(c))
                for c in changes]

    def summed(changes) -> list[tuple[str, int, tuple, Any]]:
        """The changes of a block by group: (kind, requests, group, its first change with decisions)."""
        found: dict[tuple, list] = {}
        for c in changes:
            _add_to_group(found, (c.kind, c.principal, c.action, c.before, c.after), 1, c)
        return [(key[0], n, key, c) for key, (n, c) in found.items()]

    after.evaluator()  # (both loaded before they are frozen)
    flushed = time.monotonic()
    # on a terminal, how far a long diff has got (not among the lines of changes on a terminal too)
    show_progress = sys.stderr.isatty() and (args.summary or not sys.stdout.isatty())
    shown = [0.0, time.monotonic()]  # when the progress was last shown (0: never), when the diff began

    def progress(asked: int, total: int) -> None:
        now = time.monotonic()
        if now - max(shown) >= 1:
            print(f"\r(asked {asked:,} of {total:,} requests, {asked * 100 // max(total, 1)} %, "
                  f"{now - shown[1]:.0f} s)", end="", file=sys.stderr, flush=True)
            shown[0] = now

    # each change as it is found (in the scope's order): memory does not grow with their number.
    # A block's changes are made text, or counted by group, where they are decided (with --jobs,
    # in the worker, as batch writes its answers): their decisions do not cross processes.
    with frozen_for_run():  # the loaded worlds
        for kind, n, *made in iter_diff(before, after, args.principal, args.action, args.resource, context,
                                        undetermined=unknown, notes=notes, explain=explain if args.summary else None,
                                        per_block=summed if args.summary else lines,
                                        progress=progress if show_progress else None, jobs=args.jobs):
            counts[kind] += n
            if groups is None:
                print(made[0])
                if time.monotonic() > flushed + 1:  # (written as they come, not a system call a change)
                    sys.stdout.flush()
                    flushed = time.monotonic()
                continue
            key, c = made
            _add_to_group(groups, key, n, c)
    if shown[0]:
        print("\r\033[K", end="", file=sys.stderr, flush=True)  # (the progress line erased)
    for (kind, principal, action, v0, v1), (n, example) in (groups or {}).items():
        if args.format == "json":
            print(json.dumps({"kind": kind, "principal": principal, "action": action, "before": v0, "after": v1,
                              "requests": n, "example": example.to_json()}, ensure_ascii=False))
        else:
            print(_diff_text(example, n))
    sources = {**before.sources, **after.sources}
    for u in unknown:
        if args.format == "json":
            print(json.dumps({"undetermined": u.to_json()}, ensure_ascii=False))
        else:
            print(f"? {u.principal} {u.action} {u.resource}: not decided\n    "
                  + u.diagnostic.render(sources).replace("\n", "\n    "))
    print(f"{sum(counts.values())} change(s): {counts['new access']} new access, {counts['access removed']} removed, "
          f"{counts['denial changed']} denial(s) changed"
          + (f", in {len(groups)} group(s) of one principal, action and change" if groups is not None else "")
          + (f"; {len(unknown)} request(s) not decided" if unknown else ""), file=sys.stderr)
    for note in notes:
        print(f"({note})", file=sys.stderr)
    print("(asked: the worlds' principals and accounts their policies name, the actions their policies name "
          "— one action for each service they do not name —, sample resources, and sample values of the "
          "condition keys their policies read: a sample, not a proof; `iamlogic verify` checks invariants "
          "over every principal, resource and action of a world, and searches contexts more widely)",
          file=sys.stderr)
    return EXIT_NEW_ACCESS if counts["new access"] else EXIT_INVALID if unknown else EXIT_OK


def _add_to_group(groups: dict[tuple, list], key: tuple, n: int, change) -> None:
    """``n`` more changes in a group of ``diff --summary`` (key -> [its requests, its example]);
    its example is its first change with decisions (the others of a block have none)."""
    group = groups.setdefault(key, [0, change])
    group[0] += n
    if group[1].decision_before is None and group[1].decision_after is None:
        group[1] = change


def _check_context_values(context: dict, catalog) -> None:
    """E511 for a value given with --context that is not of its key's type in the AWS catalog (an
    address, a number, a date, a boolean, base64): a malformed value would make every condition on
    the key fail alike in both worlds, and hide a change."""
    from .simulate import check_context_value

    bases = {"IPAddress": "ip", "Numeric": "numeric", "Date": "date", "Bool": "boolean", "Binary": "binary"}
    for key, value in context.items():
        info = catalog.condition_key(key)
        base = bases.get(info.type.replace("ArrayOf", "")) if info is not None else None
        if base is not None:
            for v in value if isinstance(value, list) else [value]:
                check_context_value(key, base, str(v))


def _split_at_double_dash(parser):
    """``diff OLD... -- NEW...``: argparse drops ``--``, so the diff parser splits there itself.

    After ``--`` every word is a new world's file, but an option (``--format json``, ``-j 2``,
    ``-j2``) and its value, which still count as options (a flag, ``--summary``, has none).
    """
    original = parser.parse_known_args
    flags = {o for a in parser._actions if a.nargs == 0 for o in a.option_strings}
    short = {o for a in parser._actions for o in a.option_strings if not o.startswith("--")}

    def parse_known_args(args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        new: list[str] = []
        if "--" in args:
            i = args.index("--")
            head, rest = args[:i], args[i + 1:]
            j = 0
            while j < len(rest):
                word = rest[j]
                glued = any(word.startswith(o) and word != o for o in short - flags)  # -j2
                if (word.startswith("--") and word != "--") or word in short or glued:
                    head.append(word)
                    if "=" not in word and not glued and word not in flags and j + 1 < len(rest):  # its value
                        head.append(rest[j + 1])
                        j += 1
                else:
                    new.append(word)
                j += 1
            args = head
        ns, extras = original(args, namespace)
        ns.new = new
        return ns, extras

    parser.parse_known_args = parse_known_args
    return parser


def add_commands(sub) -> None:
    """Register ``repl``, ``query``, ``diff`` and ``guardrails`` on the CLI's sub-parsers."""
    from .cli import positionals_anywhere

    r = sub.add_parser("repl", help="interactive queries over a world (can, why, why not, who can, what can, ?-)")
    r.add_argument("world", nargs="*", help="the world's .iaml files (or :load them later)")
    r.set_defaults(run=cmd_repl)

    q = sub.add_parser("query", help="answer one query of the REPL's language (exit 0 ok/allowed, 2 denied, 3 invalid)",
                       description="iamlogic query WORLD.iaml... \"who can s3:GetObject arn:aws:s3:::b/k\"")
    q.usage = "iamlogic query [-h] [--format {text,json}] [--explain {%s}] WORLD... QUERY" % ",".join(EXPLAIN_VIEWS)
    q.add_argument("args", nargs="+", metavar="WORLD... QUERY", help="the world's .iaml files, then the query")
    q.add_argument("--format", choices=("text", "json"), default="text")
    q.add_argument("--explain", choices=EXPLAIN_VIEWS, default="summary", help="the view `can` shows")
    q.set_defaults(run=cmd_query)
    positionals_anywhere(q)

    d = sub.add_parser("diff", help="requests whose decision changes between two worlds (exit 1 on new access, 3 "
                            "when some cannot be decided)",
                       description="iamlogic diff OLD.iaml... -- NEW.iaml...: every (principal, action, resource) "
                                   "whose decision changes, both ways. Exit 1 when new access appears; otherwise 3 "
                                   "when a request cannot be decided (a policy reads what the world does not give).")
    d.add_argument("old", nargs="*", metavar="OLD", help="the old world's files; then --, then the new world's")
    d.add_argument("--format", choices=("text", "json"), default="text", help="json: one JSON object a line")
    d.add_argument("--principal", action="append", help="ask only this principal (repeatable)")
    d.add_argument("--action", action="append", help="ask only this action (repeatable)")
    d.add_argument("--resource", action="append", help="ask only this resource (repeatable)")
    d.add_argument("--context", action="append", metavar="KEY=VALUE",
                   help="ask every request with this condition key (repeatable); the condition keys the policies "
                        "test are also varied over their policies' values, but those given here")
    d.add_argument("--jobs", "-j", type=int, default=1,
                   help="processes to decide in (default 1; forked, each with both worlds)")
    d.add_argument("--summary", action="store_true",
                   help="one line for each principal, action and change (its number of requests, and one of them "
                        "with the statements behind it) instead of one a request")
    d.set_defaults(run=cmd_diff)
    _split_at_double_dash(d)

    g = sub.add_parser("guardrails", help="check detective guardrails (Datalog rules over the world's inventory) "
                                          "(exit 0 all hold, 1 one is violated, 3 invalid)",
                       description="iamlogic guardrails WORLD.iaml... --rules detective.dl: each guardrail, the "
                                   "compliance of the root, each OU and each account, and every violation.")
    g.add_argument("world", nargs="+", help="the world's .iaml files")
    g.add_argument("--rules", required=True, help="the guardrails file (.dl)")
    g.add_argument("--format", choices=("text", "json"), default="text")
    g.add_argument("--why", action="store_true", help="print the derivation of each violation")
    g.set_defaults(run=cmd_guardrails)
