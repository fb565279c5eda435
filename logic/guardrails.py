"""Detective guardrails: rules of the user's over a world's inventory, and the compliance of each
account and organizational unit.

AWS Control Tower has preventive controls (SCPs and RCPs: in a world they are policies, and
``iamlogic verify``'s ``every_account_denies`` checks that every account keeps one) and detective
controls, which find what is already out of line in the accounts' inventory (AWS Config rules).
Here a detective guardrail is a Datalog rule over the world's facts, in the dialect of
``logic/rules/*.dl``. A guardrails file declares each guardrail by a fact and derives its
violations::

    guardrail("resources-have-an-owner", "every resource carries an owner tag").
    violation("resources-have-an-owner", Acct, R) :- resource(R, Acct), not owned(R).
    owned(R) :- resource_tag(R, "owner", _).

- ``guardrail(Name, Description)``: facts of two strings, one for each guardrail.
- ``violation(Guardrail, Account, Subject)``: the guardrail's name as a string, the account that
  is out of line, and what is (a resource, a principal, a policy, …).
- Other relations are the file's own helpers. Rules may read every declared relation (``:relations``
  in the REPL lists them), the relations iamlogic's rules derive without a request (``org_level``,
  ``scp_applies``, …), and the builtins that do not read a request (``action_match``, …). They may
  not redefine any of these, nor read a decision: access questions belong to ``iamlogic verify``.

The violations are computed bottom-up by the same evaluator as the request-independent part of
the built-in rules (:func:`iamlogic.compiled.materialize`). The compliance view says, for each
guardrail, whether it holds, and for the organization's root, each OU and each account, how many
of its accounts are out of line.

>>> import iamlogic
>>> w = iamlogic.loads('account 111122223333 "dev" { resource "arn:aws:s3:::logs" }')
>>> rules = read_guardrails('''
... guardrail("owned", "every resource carries an owner tag").
... violation("owned", A, R) :- resource(R, A), not resource_tag(R, "owner", _).
... ''', "detective.dl")
>>> [(v.guardrail, v.account, v.subject, str(v.where)) for v in check_guardrails(w, rules).violations]
[('owned', '111122223333', 'arn:aws:s3:::logs', '<world>:1:30')]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from .compiled import Unsupported, _strata, materialize, request_dependent
from .decision import ProofNode
from .dlcheck import check_program, derived_relations
from .engine import Engine
from .evaluate import BUILTIN_SPECS, REQUEST_BUILTINS, rules
from .grammar.datalog import Atom, Const, Negation, Program, parse_program
from .grammar.diagnostics import Diagnostic, Diagnostics, IamlogicError, InvalidInput, Span, read_text
from .schema import RELATIONS

__all__ = ["CODES", "Compliance", "Guardrail", "GuardrailSet", "NodeCompliance", "Violation", "check_guardrails",
           "explain", "load_guardrails", "read_guardrails"]

#: Every code of a guardrails file (besides the Datalog dialect's E4xx, which apply too).
CODES: dict[str, str] = {
    "E801": "a rule head names a relation of iamlogic's own rules",
    "E802": "a rule reads a decision or a request: guardrails read the world's facts",
    "E803": "guardrail or violation written in the wrong shape",
    "E804": "a violation of a guardrail that the file does not declare",
    "E805": "a guardrail declared twice",
    "E806": "the file declares no guardrail",
    "E807": "the guardrails file cannot be read",
    "W801": "a guardrail that no violation rule derives",
}

_DECLARE, _VIOLATION = "guardrail", "violation"


@dataclass(frozen=True)
class Guardrail:
    name: str
    description: str
    span: Span | None = None


@dataclass(frozen=True, order=True)
class Violation:
    """One thing out of line: ``subject`` in ``account`` breaks ``guardrail``."""

    guardrail: str
    account: str
    subject: str
    where: Span | None = field(default=None, compare=False)  # where the world declares the subject

    def to_json(self) -> dict[str, str | None]:
        return {"guardrail": self.guardrail, "account": self.account, "subject": self.subject,
                "where": str(self.where) if self.where else None}


@dataclass(frozen=True)
class GuardrailSet:
    """A checked guardrails file: its program, its guardrails in the order declared, its warnings."""

    program: Program
    guardrails: tuple[Guardrail, ...]
    warnings: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True)
class NodeCompliance:
    """The compliance of the root, an OU or an account: ``accounts`` at or below it, how many of them
    break a guardrail, and how many violations they have. ``kind`` is ``root``, ``ou``, ``account``,
    or ``other`` for the violations whose account the world does not declare."""

    kind: str
    id: str
    name: str
    depth: int
    accounts: int
    noncompliant: int
    violations: int

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "depth": self.depth, "accounts": self.accounts,
                "noncompliant": self.noncompliant, "violations": self.violations}


@dataclass(frozen=True)
class Compliance:
    """What :func:`check_guardrails` found: every violation, and the compliance of each guardrail
    and of each node of the organization tree (accounts outside an organization at depth 0 after it)."""

    guardrails: tuple[Guardrail, ...]
    violations: tuple[Violation, ...]
    nodes: tuple[NodeCompliance, ...]

    @property
    def compliant(self) -> bool:
        return not self.violations

    def violations_of(self, guardrail: str) -> list[Violation]:
        return [v for v in self.violations if v.guardrail == guardrail]

    def to_json(self) -> dict[str, Any]:
        return {"compliant": self.compliant,
                "guardrails": [{"name": g.name, "description": g.description,
                                "violations": len(self.violations_of(g.name))} for g in self.guardrails],
                "nodes": [n.to_json() for n in self.nodes],
                "violations": [v.to_json() for v in self.violations]}


# ---------------------------------------------------------------------------------------------
# Reading a guardrails file


@lru_cache(maxsize=1)
def _builtin_relations() -> tuple[dict[str, int], frozenset[str], frozenset[str]]:
    """iamlogic's own rules: every relation they derive (with its arity), the request-dependent
    ones, and the request builtins."""
    program = rules()
    return derived_relations(program), request_dependent(program, REQUEST_BUILTINS), REQUEST_BUILTINS


def load_guardrails(path: str) -> GuardrailSet:
    """Read and check a guardrails file (see :func:`read_guardrails`)."""
    return read_guardrails(read_text(path, "E807"), path)


def read_guardrails(text: str, file: str = "<guardrails>") -> GuardrailSet:
    """Parse and check the text of a guardrails file.

    Raises:
        InvalidInput: a syntax error (E401–E406), an error of the Datalog checker (E410–E418), or of
            the guardrails' own rules (E801–E806); the warnings (W401, W801) stay in the result.
    """
    program = parse_program(text, file)
    derived, dependent, request_builtins = _builtin_relations()
    diags = Diagnostics()
    own: list = []
    for rule in program.rules:
        head = rule.head
        if head.relation in derived:
            diags.add("E801", f"'{head.relation}' is derived by iamlogic's own rules; a guardrails file cannot "
                      "define it", head.span, help="give the relation a name of its own")
            continue
        own.append(rule)
        for lit in rule.body:
            atom = lit.atom if isinstance(lit, Negation) else lit
            if isinstance(atom, Atom) and (atom.relation in dependent or atom.relation in request_builtins):
                diags.add("E802", f"'{atom.relation}' depends on a request: a guardrail reads the world's facts",
                          atom.span, help="check access with iamlogic verify (invariants), or who can")
    guardrails: dict[str, Guardrail] = {}
    for rule in own:
        head = rule.head
        if head.relation == _DECLARE:
            if rule.body or head.arity != 2 or not all(isinstance(a, Const) and isinstance(a.value, str)
                                                        for a in head.args):
                diags.add("E803", "a guardrail is declared by a fact of two strings: "
                          "guardrail(\"name\", \"what it checks\").", head.span)
                continue
            name, description = (a.value for a in head.args)
            if name in guardrails:
                diags.add("E805", f"guardrail '{name}' is declared twice", head.span)
                continue
            guardrails[name] = Guardrail(name, description, head.span)
    derives: set[str] = set()
    for rule in own:
        head = rule.head
        if head.relation != _VIOLATION:
            continue
        first = head.args[0] if head.args else None
        if head.arity != 3 or not (isinstance(first, Const) and isinstance(first.value, str)):
            diags.add("E803", "a violation is violation(\"guardrail\", Account, Subject), with the guardrail's "
                      "name written as a string", head.span)
        elif first.value not in guardrails:
            diags.add("E804", f"no guardrail is declared as '{first.value}'", first.span,
                      help=f"declare it: guardrail(\"{first.value}\", \"what it checks\").")
        else:
            derives.add(first.value)
    if not guardrails and not diags.has_errors():
        diags.add("E806", "the file declares no guardrail", Span(file, 1, 1),
                  help="declare each with guardrail(\"name\", \"what it checks\"), and derive its violations "
                       "with violation(\"name\", Account, Subject) :- ….")
    for g in guardrails.values():
        if g.name not in derives:
            diags.add("W801", f"no rule derives a violation of guardrail '{g.name}': it always holds", g.span)
    declared = {name: rel.arity for name, rel in RELATIONS.items() if name not in BUILTIN_SPECS}
    declared.update((rel, n) for rel, n in derived.items())  # read, never defined (E801 above)
    builtins = {name: spec for name, spec in BUILTIN_SPECS.items() if name not in request_builtins}
    diags.extend(check_program(Program(tuple(own), file, text), declared, builtins))
    if diags.has_errors():
        raise InvalidInput(Diagnostics(diags).sorted(), {file: text})
    return GuardrailSet(Program(tuple(own), file, text), tuple(guardrails.values()),
                        tuple(d for d in Diagnostics(diags).sorted() if not d.is_error))


# ---------------------------------------------------------------------------------------------
# Checking a world


#: Rounds a recursive stratum of guardrails may take: reachability over a world's roles, accounts and
#: OUs ends in as many rounds as its longest chain; a rule that counts upwards never does.
MAX_ROUNDS = 1000
#: Solutions the rules of a recursive stratum of guardrails may make in all: a world's relations
#: give far fewer; rules that make new values from new values, more than any memory holds.
MAX_STEPS = 5_000_000


def check_guardrails(world, guardrails: GuardrailSet) -> Compliance:
    """Every violation of ``guardrails`` in ``world``, and the compliance of each guardrail, of the
    root and each OU of every organization, and of each account.

    Raises:
        InvalidInput: the world has errors, or a rule compares values of different types.
    """
    ev = world.evaluator()
    derived, dependent, request_builtins = _builtin_relations()
    by_head: dict[str, list] = defaultdict(list)
    for rule in rules().rules:
        if rule.head.relation not in dependent:
            by_head[rule.head.relation].append(rule)
    for rule in guardrails.program.rules:
        by_head[rule.head.relation].append(rule)
    builtins = {name: getattr(ev, f"_b_{name}") for name in BUILTIN_SPECS if name not in request_builtins}
    try:
        strata = _strata({_VIOLATION, *derived_relations(guardrails.program)}, by_head)
        rows = materialize(strata, by_head, BUILTIN_SPECS, lambda rel: ev.index.rows.get(rel, ()), builtins,
                           max_rounds=MAX_ROUNDS, max_steps=MAX_STEPS)
    except InvalidInput:
        raise
    except (Unsupported, TypeError, IamlogicError) as exc:  # TypeError: an order comparison of a string and a
        # number; IamlogicError: arithmetic out of range or on strings
        rule = getattr(exc, "rule", None)  # the rule it came from, when it is the file's
        span = rule.span if rule is not None and rule.span and rule.span.file == guardrails.program.file else None
        raise InvalidInput([Diagnostic("E802", f"the guardrails cannot be evaluated: {exc}",
                                       span or Span(guardrails.program.file, 1, 1))],
                           {guardrails.program.file: guardrails.program.text}) from None
    violations = tuple(sorted(Violation(g, str(a), str(s), world.locate(str(s)))
                              for g, a, s in rows.get(_VIOLATION, ())))
    return Compliance(guardrails.guardrails, violations, _nodes(ev.index.rows, violations))


def explain(world, guardrails: GuardrailSet, violations: Iterable[Violation]) -> list[ProofNode]:
    """The derivation of each violation, by pyDatalog over the world's facts, iamlogic's rules and
    the guardrails file's, re-derived rule by rule (as ``why`` shows a decision's)."""
    ev = world.evaluator()
    engine = Engine(ev._declared, {name: (spec, getattr(ev, f"_b_{name}")) for name, spec in BUILTIN_SPECS.items()})
    engine.add_facts((rel, *row) for rel, rows in ev.index.rows.items() if rel in ev._declared for row in rows)
    program = rules()
    engine.add_program(program)
    engine.add_program(guardrails.program)
    by_head: dict[str, list] = defaultdict(list)
    for rule in program.rules + guardrails.program.rules:
        by_head[rule.head.relation].append(rule)
    raw = {(str(g), str(a), str(s)): (g, a, s) for g, a, s in engine.materialize(_VIOLATION)}
    out = []
    for v in violations:
        atom = Atom(_VIOLATION, tuple(Const(x) for x in raw.get((v.guardrail, v.account, v.subject),
                                                              (v.guardrail, v.account, v.subject))))
        out.append(ev.prove(atom, engine, by_head) or ProofNode(str(atom), "not derivable"))
    return out


def _nodes(facts, violations: tuple[Violation, ...]) -> tuple[NodeCompliance, ...]:
    """The organization trees in preorder (children by name, accounts by id), then the accounts of
    no organization, then one ``other`` row for violations of accounts the world does not declare."""
    names = dict(facts.get("account", ()))
    node_names = dict(facts.get("ou_name", ()))
    children: dict[str, list[str]] = defaultdict(list)
    for child, parent in facts.get("ou_parent", ()):
        children[parent].append(child)
    accounts_at: dict[str, list[str]] = defaultdict(list)
    placed: set[str] = set()
    for acct, node in facts.get("account_parent", ()):
        accounts_at[node].append(acct)
        placed.add(acct)
    count: dict[str, int] = defaultdict(int)
    for v in violations:
        count[v.account] += 1
    out: list[NodeCompliance] = []

    def below(node: str) -> list[str]:
        return accounts_at[node] + [a for c in children[node] for a in below(c)]

    def visit(node: str, kind: str, depth: int) -> None:
        accts = below(node)
        out.append(NodeCompliance(kind, node, node_names.get(node, node), depth, len(accts),
                                  sum(1 for a in accts if count[a]), sum(count[a] for a in accts)))
        for child in sorted(children[node], key=lambda c: (node_names.get(c, c), c)):
            visit(child, "ou", depth + 1)
        for acct in sorted(accounts_at[node]):
            out.append(_account(acct, names, count, depth + 1))

    for _org, root in sorted(facts.get("org_root", ())):
        visit(root, "root", 0)
    for acct in sorted(set(names) - placed):
        out.append(_account(acct, names, count, 0))
    other = [v for v in violations if v.account not in names]
    if other:
        out.append(NodeCompliance("other", "", "not an account of the world", 0, len({v.account for v in other}),
                                  len({v.account for v in other}), len(other)))
    return tuple(out)


def _account(acct: str, names: dict[str, str], count: dict[str, int], depth: int) -> NodeCompliance:
    return NodeCompliance("account", acct, names.get(acct, acct), depth, 1, 1 if count[acct] else 0, count[acct])
