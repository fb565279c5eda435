"""The checker of the Datalog dialect: what must hold before a program or query reaches the engine.

pyDatalog answers a misspelt relation with silence, raises deep inside the engine when a builtin
or a negated literal meets an unbound variable, and loops on some recursive shapes. Every one of
those is caught here, on the AST from :mod:`iamlogic.grammar.datalog`, with a code and a span.

Relations come in three kinds:

- *declared* (extensional): the facts the compiler emits (:data:`iamlogic.schema.RELATIONS`);
- *derived*: defined by the heads of the program's rules;
- *builtins*: implemented in Python; a :class:`BuiltinSpec` says which argument positions must be
  bound when the builtin is called (inputs) and which it can produce (outputs).

Bodies are read left to right, which is also the order in which the engine evaluates them: a
positive atom binds its variables, a builtin binds its outputs once its inputs are bound, and
``X = T`` binds ``X`` when ``T`` is bound.

Codes:

- ``E410`` unknown relation (with a did-you-mean help line);
- ``E411`` arity mismatch;
- ``E412`` a rule head names a declared (extensional) relation or a builtin;
- ``E413`` a head variable is not bound by the body (range restriction), or ``_`` in a head;
- ``E414`` a variable of a negated literal is not bound by an earlier literal;
- ``E415`` an argument of a comparison is not bound by an earlier literal;
- ``E416`` an input argument of a builtin is not bound by an earlier literal;
- ``E417`` recursion through negation (the program cannot be stratified); the cycle is shown;
- ``E418`` a recursive rule that is not left-recursive: its first body literal is not recursive.
  pyDatalog 0.22.4 did not terminate on a three-node cycle with the right-recursive closure
  ``anc(X, Y) :- parent(X, Z), anc(Z, Y)`` (measured, see :mod:`iamlogic.engine`); the same closure
  written left-recursive answers in under a millisecond. Trust graphs have cycles, and a hang is
  not an answer, so this is an error rather than a warning. Moving a positive literal to the front
  never breaks the binding order, so the fix is always available;
- ``E419`` an aggregate where it cannot be computed: in a body or a query, in a fact, twice in
  one head, or in a rule whose body depends on its own head (an aggregate reads relations that are
  complete, as a negation does);
- ``W401`` a named variable occurs only once in a rule (write ``_`` or ``_Name`` if intended).

Example:
    >>> from iamlogic.grammar.datalog import parse_program
    >>> program = parse_program('anc(X, Y) :- parnt(X, Y).', "anc.dl")
    >>> [d.render() for d in check_program(program, {"parent": 2}, {})]
    ["anc.dl:1:14: E410: unknown relation 'parnt'\\n  help: did you mean 'parent'?"]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Mapping

from .grammar.datalog import Aggregate, Atom, BodyLiteral, Comparison, Const, Negation, Program, Query, Rule, Term, Var
from .grammar.diagnostics import Diagnostic, Diagnostics, did_you_mean

__all__ = ["BuiltinSpec", "CODES", "check_program", "check_query", "derived_relations"]

#: Every code of the Datalog parser and checker, with its meaning.
CODES: dict[str, str] = {
    "E401": "syntax error: unexpected token",
    "E402": "syntax error: unexpected character",
    "E403": "unterminated string",
    "E404": "unexpected end of input",
    "E405": "invalid escape sequence in a string",
    "E406": "unquoted word where a variable or constant is expected",
    "E407": "unknown aggregate",
    "E410": "unknown relation",
    "E411": "relation used with the wrong number of arguments",
    "E412": "rule head names a declared (extensional) relation or a builtin",
    "E413": "head variable not bound by a positive body literal (range restriction)",
    "E414": "variable of a negated literal not bound by an earlier literal",
    "E415": "comparison argument not bound by an earlier literal",
    "E416": "builtin input argument not bound by an earlier literal",
    "E417": "recursion through negation",
    "E418": "recursive rule is not left-recursive (pyDatalog may not terminate)",
    "E419": "aggregate in a body, a query or a fact, twice in a head, or in a recursive rule",
    "W401": "variable occurs only once in a rule",
}


@dataclass(frozen=True)
class BuiltinSpec:
    """How a builtin predicate may be called; positions count from 0.

    Attributes:
        inputs: argument positions that must be bound when the builtin is called.
        outputs: argument positions the builtin can produce when they are unbound.
        attribute: for a builtin of two arguments that reads the request (the first): the name of
            the request's attribute it answers, one row (request, value) when the request has a
            value (not None) equal to the one given, if one is; compiled code may read it inline.
        fields: for a builtin whose first argument is the request: the request's attributes its
            other arguments are, in order, each one always set; given the request, it answers
            exactly one row (request, its fields), when they equal the values given, if any;
            compiled code may read them inline, once.

    Together they cover every argument exactly once.

    >>> BuiltinSpec(inputs=(0, 1)).arity
    2
    >>> BuiltinSpec(inputs=(0,), outputs=(1,)).outputs
    (1,)
    """

    inputs: tuple[int, ...]
    outputs: tuple[int, ...] = ()
    attribute: str | None = None
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        positions = sorted((*self.inputs, *self.outputs))
        if positions != list(range(len(positions))):
            raise ValueError(
                f"builtin inputs {self.inputs} and outputs {self.outputs} must number each argument "
                "position from 0 exactly once"
            )
        if self.attribute is not None and (not self.attribute.isidentifier() or self.inputs != (0,)
                                           or self.outputs != (1,)):
            raise ValueError(f"a builtin that answers the request's attribute {self.attribute!r} takes the "
                             "request as its input and the attribute as its output")
        if self.fields and (len(self.fields) != self.arity - 1 or not all(f.isidentifier() for f in self.fields)):
            raise ValueError(f"a builtin that answers the request's fields {self.fields} takes the request and "
                             "one argument for each field")

    @property
    def arity(self) -> int:
        return len(self.inputs) + len(self.outputs)


def derived_relations(program: Program) -> dict[str, int]:
    """The relations defined by the program's rule heads, with the arity of their first definition.

    >>> from iamlogic.grammar.datalog import parse_program
    >>> derived_relations(parse_program('a(X) :- b(X). c :- a(_).'))
    {'a': 1, 'c': 0}
    """
    derived: dict[str, int] = {}
    for rule in program.rules:
        derived.setdefault(rule.head.relation, rule.head.arity)
    return derived


def check_program(
    program: Program,
    declared: Mapping[str, int],
    builtins: Mapping[str, BuiltinSpec],
) -> list[Diagnostic]:
    """Every error and warning of a program, sorted by position.

    Args:
        program: the parsed program.
        declared: the extensional relations and their arities (name → arity).
        builtins: the builtin predicates (name → :class:`BuiltinSpec`).

    Returns:
        Diagnostics with codes E410–E418 and W401; the program may be run when none is an error.

    >>> from iamlogic.grammar.datalog import parse_program
    >>> p = parse_program('ok(X) :- not banned(X), user(X).', "r.dl")
    >>> [d.code for d in check_program(p, {"user": 1, "banned": 1}, {})]
    ['E414']
    """
    diags = Diagnostics()
    derived: dict[str, int] = {}
    for rule in program.rules:
        head = rule.head
        if head.relation in declared:
            diags.add(
                "E412",
                f"'{head.relation}' is a declared (extensional) relation; rules may define derived relations only",
                head.span,
                help="give the derived relation a name of its own",
            )
        elif head.relation in builtins:
            diags.add("E412", f"'{head.relation}' is a builtin; a rule cannot define it", head.span)
        elif head.relation in derived and derived[head.relation] != head.arity:
            diags.add(
                "E411",
                f"'{head.relation}' is defined with {_args(derived[head.relation])} elsewhere, "
                f"but this head has {head.arity}",
                head.span,
            )
        else:
            derived.setdefault(head.relation, head.arity)

    arities = _arities(declared, builtins, derived)
    for rule in program.rules:
        _check_aggregates(rule, diags)
        diags.extend(_check_relations(rule.body, arities))
        bound = _check_binding(rule.body, builtins, arities, diags)
        _check_head(rule, bound, diags)
        _check_singletons(rule, diags)
    _check_recursion(program.rules, derived, diags)
    return Diagnostics(diags).sorted()


def check_query(
    query: Query,
    declared: Mapping[str, int],
    builtins: Mapping[str, BuiltinSpec],
    derived: Mapping[str, int] | None = None,
) -> list[Diagnostic]:
    """Every error of a query, sorted by position (codes E410, E411, E414–E416).

    Args:
        query: the parsed query.
        declared: the extensional relations and their arities.
        builtins: the builtin predicates.
        derived: the relations defined by the rules loaded so far (see :func:`derived_relations`).

    >>> from iamlogic.grammar.datalog import parse_query
    >>> [d.code for d in check_query(parse_query('?- X != "a".'), {}, {})]
    ['E415']
    """
    diags = Diagnostics()
    arities = _arities(declared, builtins, derived or {})
    _check_aggregates(Rule(Atom("query"), query.body), diags)
    diags.extend(_check_relations(query.body, arities))
    _check_binding(query.body, builtins, arities, diags)
    return Diagnostics(diags).sorted()


# ---------------------------------------------------------------------------------------------


def _args(n: int) -> str:
    return f"{n} argument" + ("" if n == 1 else "s")


def _arities(declared, builtins, derived) -> dict[str, int]:
    arities = dict(derived)
    arities.update({name: spec.arity for name, spec in builtins.items()})
    arities.update(declared)
    return arities


def _atom_of(lit: BodyLiteral) -> Atom | None:
    if isinstance(lit, Atom):
        return lit
    if isinstance(lit, Negation):
        return lit.atom
    return None


def _check_relations(body: Iterable[BodyLiteral], arities: Mapping[str, int]) -> Iterable[Diagnostic]:
    for lit in body:
        atom = _atom_of(lit)
        if atom is None:
            continue
        if atom.relation not in arities:
            yield Diagnostic(
                "E410", f"unknown relation '{atom.relation}'", atom.span, did_you_mean(atom.relation, arities)
            )
        elif arities[atom.relation] != atom.arity:
            yield Diagnostic(
                "E411",
                f"'{atom.relation}' takes {_args(arities[atom.relation])}, but {atom.arity} given",
                atom.span,
            )


def _is_bound(term: Term, bound: set[str]) -> bool:
    if isinstance(term, Const):
        return True
    return not term.is_anonymous and term.name in bound


def _named(terms: Iterable[Term]) -> set[str]:
    return {t.name for t in terms if isinstance(t, Var) and not t.is_anonymous}


def _describe(term: Term) -> str:
    return "the anonymous variable '_'" if isinstance(term, Var) and term.is_anonymous else f"variable '{term}'"


def _check_binding(
    body: Iterable[BodyLiteral],
    builtins: Mapping[str, BuiltinSpec],
    arities: Mapping[str, int],
    diags: Diagnostics,
) -> set[str]:
    """Walk the body left to right; report unbound uses; return the variables bound at the end."""
    bound: set[str] = set()
    for lit in body:
        atom = _atom_of(lit)
        spec = builtins.get(atom.relation) if atom is not None else None
        if spec is not None and arities.get(atom.relation) == spec.arity == atom.arity:
            for i in spec.inputs:
                arg = atom.args[i]
                if not _is_bound(arg, bound):
                    diags.add(
                        "E416",
                        f"{_describe(arg)} is input {i + 1} of builtin '{atom.relation}' "
                        "but is not bound by an earlier literal",
                        arg.span or atom.span,
                        help="move a positive literal that binds it before this one",
                    )
        if isinstance(lit, Atom):
            bound |= _named(lit.args)
        elif isinstance(lit, Negation):
            inputs = set(spec.inputs) if spec is not None and spec.arity == lit.atom.arity else set()
            for i, arg in enumerate(lit.atom.args):
                if isinstance(arg, Var) and not arg.is_anonymous and arg.name not in bound and i not in inputs:
                    diags.add(
                        "E414",
                        f"variable '{arg}' of a negated literal is not bound by an earlier positive literal",
                        arg.span or lit.span,
                        help=f"bind {arg} in a positive literal before 'not', or write '_' for 'any value'",
                    )
        else:
            _check_comparison(lit, bound, diags)
    return bound


def _check_comparison(lit: Comparison, bound: set[str], diags: Diagnostics) -> None:
    left, right = _is_bound(lit.left, bound), _is_bound(lit.right, bound)
    if lit.op == "=" and left != right:
        free = lit.right if left else lit.left
        if isinstance(free, Var) and not free.is_anonymous:
            bound.add(free.name)  # X = T binds X to the value of T
            return
    for term, ok in ((lit.left, left), (lit.right, right)):
        if not ok:
            diags.add(
                "E415",
                f"{_describe(term)} in comparison '{lit}' is not bound by an earlier literal",
                term.span or lit.span,
                help="compare only values bound by a positive literal written before the comparison",
            )


def _check_aggregates(rule: Rule, diags: Diagnostics) -> None:
    """E419 for an aggregate in a body literal, in a fact, or a second one in a head."""
    for lit in rule.body:
        atom = _atom_of(lit)
        for arg in atom.args if atom is not None else ():
            if isinstance(arg, Aggregate):
                diags.add("E419", f"aggregate '{arg}' in a rule body: aggregates are rule-head arguments",
                          arg.span or atom.span)
    found = [a for a in rule.head.args if isinstance(a, Aggregate)]
    if found and not rule.body:
        diags.add("E419", f"aggregate '{found[0]}' in a fact: it needs a body to aggregate over", found[0].span)
    for extra in found[1:]:
        diags.add("E419", f"a second aggregate '{extra}' in one head", extra.span or rule.head.span,
                  help="define each aggregate in a rule of its own")


def _check_head(rule: Rule, bound: set[str], diags: Diagnostics) -> None:
    reported: set[str] = set()
    for arg in rule.head.args:
        if isinstance(arg, Aggregate):
            arg = arg.var
        if not isinstance(arg, Var):
            continue
        if arg.is_anonymous:
            diags.add("E413", "the anonymous variable '_' cannot appear in a rule head", arg.span or rule.head.span)
        elif arg.name not in bound and arg.name not in reported:
            reported.add(arg.name)
            diags.add(
                "E413",
                f"variable '{arg}' of the head of '{rule.head.relation}' is not bound by a positive body literal",
                arg.span or rule.head.span,
                help="every head variable must appear in a positive atom of the body",
            )


def _check_singletons(rule: Rule, diags: Diagnostics) -> None:
    """W401 for a variable written once, in a positive atom (elsewhere E413–E415 already apply)."""
    count: dict[str, int] = {}
    where: dict[str, Var] = {}
    positive = [lit for lit in rule.body if isinstance(lit, Atom)]
    for term in _all_terms(rule):
        if isinstance(term, Var) and not term.name.startswith("_"):
            count[term.name] = count.get(term.name, 0) + 1
    for lit in positive:
        for term in lit.args:
            if isinstance(term, Var) and count.get(term.name) == 1:
                where[term.name] = term
    for name, var in where.items():
        diags.add(
            "W401",
            f"variable '{name}' occurs only once in this rule",
            var.span,
            help=f"write '_' (or '_{name}') if any value will do; otherwise check the spelling",
        )


def _all_terms(rule: Rule) -> Iterable[Term]:
    yield from (a.var if isinstance(a, Aggregate) else a for a in rule.head.args)
    for lit in rule.body:
        atom = _atom_of(lit)
        if atom is not None:
            yield from atom.args
        else:
            yield lit.left
            yield lit.right


def _check_recursion(rules: Iterable[Rule], derived: Mapping[str, int], diags: Diagnostics) -> None:
    rules = list(rules)
    graph: dict[str, set[str]] = {name: set() for name in derived}
    for rule in rules:
        if rule.head.relation not in graph:
            continue  # E412 already reported
        for lit in rule.body:
            atom = _atom_of(lit)
            if atom is not None and atom.relation in graph:
                graph[rule.head.relation].add(atom.relation)
    reach = {name: _reachable(graph, name) for name in graph}

    def recursive(head: str, atom: Atom | None) -> bool:
        return atom is not None and atom.relation in graph and head in reach[atom.relation]

    for rule in rules:
        head = rule.head.relation
        if head not in graph:
            continue
        if rule.aggregate is not None:
            atoms = [a for a in map(_atom_of, rule.body) if recursive(head, a)]
            if atoms:
                diags.add("E419", f"aggregate rule for '{head}' depends on '{head}' through '{atoms[0].relation}'",
                          atoms[0].span, help="an aggregate reads relations that are complete: compute them "
                                              "without the aggregated relation")
        for lit in rule.body:
            if isinstance(lit, Negation) and recursive(head, lit.atom):
                cycle = _path(graph, lit.atom.relation, head)
                shown = " -> ".join([head, f"not {lit.atom.relation}", *cycle[1:]])
                diags.add(
                    "E417",
                    f"recursion through negation: {shown}",
                    lit.span,
                    help=f"'{head}' must not depend, through this 'not', on itself; "
                    "split the relation or compute the negated part without it",
                )
        recursive_atoms = [lit for lit in rule.body if isinstance(lit, Atom) and recursive(head, lit)]
        if recursive_atoms and not (isinstance(rule.body[0], Atom) and recursive(head, rule.body[0])):
            first = recursive_atoms[0]
            diags.add(
                "E418",
                f"recursive rule for '{head}' is not left-recursive: its recursive literal '{first}' "
                "is not the first literal of the body, and pyDatalog does not terminate on cyclic data "
                "with such rules",
                first.span,
                help=f"move '{first}' to the front of the body, e.g. anc(X, Y) :- anc(X, Z), parent(Z, Y).",
            )


def _reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    """Relations reachable from ``start`` through one or more dependency edges."""
    seen: set[str] = set()
    stack = list(graph[start])
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(graph[node])
    return seen


def _path(graph: Mapping[str, set[str]], start: str, goal: str) -> list[str]:
    """The shortest dependency path ``start`` → … → ``goal`` (``[start]`` when they are equal)."""
    if start == goal:
        return [start]
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt not in parent:
                parent[nxt] = node
                if nxt == goal:
                    path = [nxt]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])
                    return path[::-1]
                queue.append(nxt)
    return [start, goal]  # unreachable: callers only ask for paths that exist
