"""The engine boundary: the only module of iamlogic that imports pyDatalog.

An :class:`Engine` holds one world's facts and rules in a pyDatalog logic of its own, and answers
queries written in the project's Datalog dialect (:mod:`iamlogic.grammar.datalog`), checked by
:mod:`iamlogic.dlcheck` before they run.

How pyDatalog is driven, and why:

- **No text, ever.** ``pyDatalog.load`` and ``pyDatalog.ask`` compile their argument as Python.
  Facts, rules and queries are built as ``pyEngine`` values (``Pred``, ``Literal``, ``Clause``,
  ``Var``, ``Const``) and given to ``pyEngine.assert_`` and ``Literal.ask``. A constant is a
  ``Const`` holding the Python value, whatever characters it contains. The ``pyParser`` layer
  (``Term``, ``create_terms``, ``assert_fact``) was not chosen: it decides variable-or-constant from
  the first letter of a name, its ``Term`` is a ``threading.local`` whose attributes vanish in other
  threads, and it builds the same ``pyEngine`` values underneath, 7–8x slower per fact (figures below).
- **One logic per engine.** pyDatalog keeps its state in a per-thread ``Logic`` object. Each
  engine creates a fresh ``Logic()`` and installs that very object as the current thread's logic
  for the duration of each call, under one process-wide lock, then restores what was there.
  ``Logic(saved)`` is not used to switch: it installs a shallow *copy*, so predicates created
  through the copy would be lost, and copies share fact tables. Calls from threads that never
  called ``Logic()`` work, because the switch also seeds pyEngine's per-thread variable counter.
- **Builtins are per-engine primitives.** A builtin is installed as the ``prim`` of a predicate in
  the engine's own logic (pyEngine's primitive mechanism, used by pyDatalog for ``==`` and ``<``),
  not with ``@pyDatalog.predicate()``, which registers into one process-global table where two
  engines with same-named builtins would overwrite each other.
- **Every relation exists.** Declared relations and builtins are created when the engine is, so a
  query or a negation over a relation without facts is empty (pyDatalog raises on unknown ones).

Measured on this machine (pyDatalog 0.22.4, Python 3.11; figures from one run):

- ``add_facts``: about 15 µs a fact including validation (100,000 three-argument facts: 1.5 s),
  against 100–130 µs a fact through ``pyDatalog.assert_fact`` (measured the same way).
- Left-recursive closure ``anc(X, Y) :- anc(X, Z), parent(Z, Y)`` over a 500-node chain:
  ``anc("n0", Y)`` (first argument bound, 499 answers) 18 ms; ``anc(X, "n499")`` (second argument
  bound) 5.2 s, because the recursive literal is then asked unbound; the full closure
  (``materialize``, 124,750 tuples) 9.8 s. Over a 3-node cycle: bound and full closure < 1 ms;
  over a 100-node cycle, the full closure (10,000 tuples) 0.3 s. So bind the first argument of a
  left-recursive relation, and materialize only relations of modest size.
- The right-recursive closure ``anc(X, Y) :- parent(X, Z), anc(Z, Y)`` (built directly in pyEngine)
  did not terminate on the 3-node cycle (killed after 20 s, bound and unbound) and took 0.9 s for
  the bound query over a 300-node chain. The checker therefore rejects every recursive rule that
  is not left-recursive (E418). The engine does not rewrite such rules: moving the recursive
  literal to the front turns a bound query into the unbound closure, silently and expensively.
- A one-fact query: 0.13 ms from a parsed :class:`Query`, 0.29 ms from text (parsing included).
  Answer many questions from :meth:`Engine.materialize` and Python indexes, not query by query.

Example:
    >>> from iamlogic.grammar.datalog import parse_program
    >>> engine = Engine({"parent": 2})
    >>> engine.add_facts([("parent", "a", "b"), ("parent", "b", "c"), ("parent", "c", "a")])
    3
    >>> engine.add_program(parse_program('''
    ...     anc(X, Y) :- parent(X, Y).
    ...     anc(X, Y) :- anc(X, Z), parent(Z, Y).
    ... '''))
    []
    >>> engine.query('?- anc("a", X), X != "a".')
    [('b',), ('c',)]
"""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from pyDatalog import Logic
from pyDatalog import pyEngine

from .dlcheck import BuiltinSpec, check_program, check_query, derived_relations
from .grammar.datalog import (
    Atom,
    BodyLiteral,
    Comparison,
    Const,
    Negation,
    Program,
    Query,
    Rule,
    aggregate_rows,
    is_relation_name,
    parse_query,
)
from .grammar.diagnostics import Diagnostic, IamlogicError, InvalidInput, did_you_mean

__all__ = ["BuiltinFunction", "BuiltinSpec", "Engine", "EngineError"]

#: A builtin's implementation. It is called with one Python value per argument (``None`` for an
#: unbound output) and returns either a bool (only when every argument is bound) or an iterable
#: of complete argument tuples of str/int values.
BuiltinFunction = Callable[..., Any]

# pyDatalog's state is global to the process and per thread; every call into it holds this lock.
_LOCK = threading.RLock()
_QUERY_COUNTER = itertools.count(1)
_OPERATORS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class EngineError(IamlogicError):
    """The engine could not do what was asked: bad facts, a failing builtin, an engine failure.

    Problems with program or query *text* are :class:`~iamlogic.grammar.diagnostics.InvalidInput`.
    """


def _is_value(value: Any) -> bool:
    return type(value) is str or type(value) is int  # bool, float and subclasses are refused


def row_key(row: tuple) -> tuple:
    """Sort key for answer rows that may mix str and int: integers first, each in natural order."""
    return tuple((0, v, "") if type(v) is int else (1, 0, v) for v in row)


class Engine:
    """One world's facts and rules, answering Datalog queries through pyDatalog.

    Args:
        declared: the extensional relations (name → arity), e.g.
            ``{name: r.arity for name, r in iamlogic.schema.RELATIONS.items()}``.
        builtins: builtin predicates (name → ``(BuiltinSpec, function)``); see :data:`BuiltinFunction`.

    Raises:
        EngineError: a name that is not a relation name of the dialect, or a name both declared
            and builtin, or a builtin whose spec is not a :class:`BuiltinSpec`.

    Every method is safe to call from any thread; calls are serialized.

    >>> def prefix(p, v):
    ...     return v.startswith(p)
    >>> engine = Engine({"user": 1}, {"prefix": (BuiltinSpec(inputs=(0, 1)), prefix)})
    >>> engine.add_facts([("user", "alice"), ("user", "bob")])
    2
    >>> engine.query('user(U), prefix("al", U)')
    [('alice',)]
    """

    def __init__(
        self,
        declared: Mapping[str, int],
        builtins: Mapping[str, tuple[BuiltinSpec, BuiltinFunction]] | None = None,
    ):
        builtins = dict(builtins or {})
        for name, arity in declared.items():
            if not is_relation_name(name) or type(arity) is not int or arity < 0:
                raise EngineError(f"cannot declare relation {name!r} with arity {arity!r}")
        for name, entry in builtins.items():
            if not is_relation_name(name):
                raise EngineError(f"{name!r} is not a valid builtin name")
            if name in declared:
                raise EngineError(f"{name!r} is both a declared relation and a builtin")
            if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], BuiltinSpec)
                    and callable(entry[1])):
                raise EngineError(f"builtin {name!r} must be given as (BuiltinSpec, function)")
        self._declared: dict[str, int] = dict(declared)
        self._specs: dict[str, BuiltinSpec] = {name: spec for name, (spec, _) in builtins.items()}
        self._rules: tuple[Rule, ...] = ()
        self._derived: dict[str, int] = {}
        self._warnings: set[Diagnostic] = set()
        self._sources: dict[str, str] = {}
        self._materialized: dict[str, frozenset[tuple]] = {}
        self._preds: dict[str, Any] = {}
        self._aggregates: list[Rule] = []  # rules with an aggregate head, in an order they can be computed
        self._aggregated: list[Any] | None = []  # the fact clauses they gave, None when stale

        with _LOCK:
            previous = getattr(Logic.tl, "logic", None)
            try:
                self._logic = Logic()  # a fresh logic, never a copy of another one
                for name, arity in self._declared.items():
                    self._preds[name] = self._new_pred(name, arity)
                for name, (spec, function) in builtins.items():
                    self._new_pred(name, spec.arity).prim = _primitive(name, spec, function)
            finally:
                _restore(previous)

    # -- introspection -------------------------------------------------------------------------

    @property
    def declared(self) -> dict[str, int]:
        """The extensional relations (name → arity)."""
        return dict(self._declared)

    @property
    def derived(self) -> dict[str, int]:
        """The relations defined by the rules loaded so far (name → arity)."""
        return dict(self._derived)

    @property
    def builtins(self) -> dict[str, BuiltinSpec]:
        """The builtin predicates (name → spec)."""
        return dict(self._specs)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule loaded so far, in load order."""
        return self._rules

    # -- loading -------------------------------------------------------------------------------

    def add_facts(self, facts: Iterable[Sequence[Any]]) -> int:
        """Add facts of declared relations; adding a fact twice changes nothing.

        Args:
            facts: tuples ``(relation, arg, ...)`` whose arguments are ``str`` or ``int``.

        Returns:
            The number of facts given.

        Raises:
            EngineError: on the first fact of an undeclared relation, of the wrong arity, or with
                a value of another type. Nothing is added then.

        >>> engine = Engine({"edge": 2})
        >>> engine.add_facts([("edge", "a", "b"), ("edge", "a", 1)])
        2
        >>> engine.materialize("edge") == {("a", "b"), ("a", 1)}
        True
        """
        rows: list[tuple[str, tuple]] = []
        for fact in facts:
            if not isinstance(fact, (tuple, list)) or not fact:
                raise EngineError(f"a fact is a tuple (relation, arg, ...), not {fact!r}")
            relation, args = fact[0], tuple(fact[1:])
            arity = self._declared.get(relation)
            if arity is None:
                known = "a derived relation" if relation in self._derived else (
                    "a builtin" if relation in self._specs else "not a declared relation")
                hint = did_you_mean(str(relation), self._declared) if known.startswith("not") else None
                raise EngineError(f"cannot add a fact of {relation!r}: it is {known}" + (f"; {hint}" if hint else ""))
            if len(args) != arity:
                raise EngineError(f"{relation!r} takes {arity} argument(s), but the fact {tuple(fact)!r} has {len(args)}")
            for value in args:
                if not _is_value(value):
                    raise EngineError(
                        f"fact {tuple(fact)!r}: {value!r} is a {type(value).__name__}; values must be str or int")
            rows.append((relation, args))
        with self._active():
            for relation, args in rows:
                pred = self._preds[relation]
                head = pyEngine.Literal(pred, [pyEngine.Const(v) for v in args])
                pyEngine.assert_(pyEngine.Clause(head, []))
            self._materialized.clear()
            self._stale()
        return len(rows)

    def add_program(self, program: Program) -> list[Diagnostic]:
        """Check a program together with the rules already loaded, then load it.

        Args:
            program: a parsed program (:func:`iamlogic.grammar.datalog.parse_program`).

        Returns:
            The warnings that this program adds.

        Raises:
            InvalidInput: when the checker reports an error; nothing is loaded then.

        >>> from iamlogic.grammar.datalog import parse_program
        >>> engine = Engine({"user": 1})
        >>> try:
        ...     engine.add_program(parse_program("admin(X) :- usr(X).", "r.dl"))
        ... except InvalidInput as exc:
        ...     print(exc.diagnostics[0].code, exc.diagnostics[0].help)
        E410 did you mean 'user'?
        """
        if not isinstance(program, Program):
            raise TypeError(f"add_program expects a Program, not {type(program).__name__}")
        combined = Program(self._rules + program.rules, program.file, program.text)
        diagnostics = check_program(combined, self._declared, self._specs)
        sources = {**self._sources, program.file: program.text}
        if any(d.is_error for d in diagnostics):
            raise InvalidInput(diagnostics, sources)
        with self._active():
            for rule in program.rules:
                if rule.aggregate is None:
                    pyEngine.assert_(_clause(rule))
                else:  # computed from its body's answers (see _aggregate), not by pyDatalog
                    self._new_pred(rule.head.relation, rule.head.arity)
            self._aggregates = _aggregate_order(combined.rules)
            self._stale()
            self._rules = combined.rules
            self._derived = derived_relations(combined)
            self._sources = sources
            self._materialized.clear()
            new_warnings = [d for d in diagnostics if d not in self._warnings]
            self._warnings = set(diagnostics)
        return new_warnings

    # -- answering -----------------------------------------------------------------------------

    def query(self, query: Query | Atom | Sequence[BodyLiteral] | str) -> list[tuple]:
        """Answer a query: one row per binding of its named variables, sorted.

        Args:
            query: a parsed :class:`Query`, an :class:`Atom`, a sequence of body literals, or query
                text (parsed with the dialect's grammar, never by pyDatalog).

        Returns:
            Rows of values for :attr:`Query.variables`, in that order, sorted (integers before
            strings in each column). A query without named variables answers ``[()]`` when it
            holds and ``[]`` when it does not.

        Raises:
            InvalidInput: the text does not parse, or the checker reports an error.
            EngineError: a builtin failed, or pyDatalog failed while answering.

        >>> engine = Engine({"edge": 2})
        >>> engine.add_facts([("edge", "a", "b"), ("edge", "b", "c")])
        2
        >>> engine.query('?- edge(X, Y), not edge(Y, _).')
        [('b', 'c')]
        >>> engine.query('edge("a", "b")'), engine.query('edge("a", "c")')
        ([()], [])
        """
        sources = dict(self._sources)
        if isinstance(query, str):
            sources["<query>"] = query
        query = _as_query(query)
        diagnostics = check_query(query, self._declared, self._specs, self._derived)
        if any(d.is_error for d in diagnostics):
            raise InvalidInput(diagnostics, sources)
        return self._answer(query)

    def _answer(self, query: Query) -> list[tuple]:
        """A checked query's rows (see :meth:`query`)."""
        names = query.variables
        with self._active():
            self._aggregate()
            head = pyEngine.Literal(f"_pyD_query_iamlogic{next(_QUERY_COUNTER)}", [pyEngine.Var(n) for n in names])
            anonymous = itertools.count(1)
            clause = pyEngine.Clause(head, [_literal(lit, anonymous) for lit in query.body])
            pyEngine.assert_(clause)
            try:
                raw = _ask(head)
            finally:
                pyEngine.retract(clause)  # also drops the temporary predicate
        return _rows(raw)

    def materialize(self, relation: str) -> frozenset[tuple]:
        """Every tuple of a declared or derived relation, computed once and cached until facts
        or rules change: the way to build Python indexes for many questions.

        Raises:
            EngineError: ``relation`` is neither declared nor derived.

        >>> from iamlogic.grammar.datalog import parse_program
        >>> engine = Engine({"edge": 2})
        >>> engine.add_facts([("edge", 1, 2), ("edge", 2, 3)])
        2
        >>> _ = engine.add_program(parse_program("path(X, Y) :- edge(X, Y). path(X, Y) :- path(X, Z), edge(Z, Y)."))
        >>> sorted(engine.materialize("path"))
        [(1, 2), (1, 3), (2, 3)]
        """
        arity = self._declared.get(relation, self._derived.get(relation))
        if arity is None:
            hint = did_you_mean(str(relation), [*self._declared, *self._derived])
            raise EngineError(f"cannot materialize {relation!r}: not a declared or derived relation"
                              + (f"; {hint}" if hint else ""))
        with self._active():
            self._aggregate()
            cached = self._materialized.get(relation)
            if cached is None:
                literal = pyEngine.Literal(relation, [pyEngine.Var(f"V{i}") for i in range(arity)])
                cached = frozenset(_rows(_ask(literal)))
                self._materialized[relation] = cached
            return cached

    # -- aggregates ----------------------------------------------------------------------------

    def _stale(self) -> None:
        """Facts or rules changed: the aggregates are computed again before the next answer."""
        if self._aggregated:
            for clause in self._aggregated:
                pyEngine.retract(clause)
        self._aggregated = None if self._aggregates else []

    def _aggregate(self) -> None:
        """Assert the tuples of every aggregate rule, computed from the answers to its body (the
        relations it reads are complete: the checker refuses recursion through an aggregate), in
        an order where each comes after the aggregates its body reads. Runs under ``_active``."""
        if self._aggregated is not None:
            return
        self._aggregated = []
        for rule in self._aggregates:
            body = Query(rule.body, rule.span)
            names = body.variables
            solutions = [dict(zip(names, row)) for row in self._answer(body)]
            for row in aggregate_rows(rule, solutions):
                clause = pyEngine.Clause(pyEngine.Literal(rule.head.relation, [pyEngine.Const(v) for v in row]), [])
                pyEngine.assert_(clause)
                self._aggregated.append(clause)
        self._materialized.clear()

    # -- pyDatalog state -----------------------------------------------------------------------

    @contextmanager
    def _active(self) -> Iterator[None]:
        """Make this engine's logic the current thread's pyDatalog logic, under the lock."""
        with _LOCK:
            previous = getattr(Logic.tl, "logic", None)
            Logic.tl.logic = self._logic
            if not hasattr(pyEngine.Fresh_var.tl, "counter"):  # a thread that never called Logic()
                pyEngine.Fresh_var.tl.counter = 0
            try:
                yield
            finally:
                _restore(previous)

    @staticmethod
    def _new_pred(name: str, arity: int):
        pred = pyEngine.Pred(name, arity)
        pred.prearity = arity
        return pyEngine.insert(pred)


def _aggregate_order(rules: Sequence[Rule]) -> list[Rule]:
    """The aggregate rules, each after those whose head its body reaches (directly or through
    other relations): there is such an order, since no aggregate depends on itself."""
    uses: dict[str, set[str]] = {}
    for rule in rules:
        uses.setdefault(rule.head.relation, set()).update(
            (lit.atom if isinstance(lit, Negation) else lit).relation for lit in rule.body if not isinstance(lit, Comparison))
    aggregates = [r for r in rules if r.aggregate is not None]
    heads = {r.head.relation for r in aggregates}

    def reaches(rel: str) -> set[str]:
        seen, todo = set(), [rel]
        while todo:
            for dep in uses.get(todo.pop(), ()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    below = {h: reaches(h) & heads for h in heads}
    ordered: list[Rule] = []
    todo = list(aggregates)
    while todo:
        waiting = {r.head.relation for r in todo}
        ready = [r for r in todo if not below[r.head.relation] & waiting]
        if not ready:  # pragma: no cover - the checker refuses such programs (E419)
            raise EngineError("aggregates that depend on each other cannot be computed")
        ordered += ready
        todo = [r for r in todo if not any(r is x for x in ready)]
    return ordered


def _restore(previous) -> None:
    if previous is None:
        if hasattr(Logic.tl, "logic"):
            del Logic.tl.logic
    else:
        Logic.tl.logic = previous


def _as_query(query: Query | Atom | Sequence[BodyLiteral] | str) -> Query:
    if isinstance(query, Query):
        return query
    if isinstance(query, str):
        return parse_query(query)
    if isinstance(query, (Atom, Negation, Comparison)):
        return Query((query,), query.span)
    literals = tuple(query)
    if not literals or not all(isinstance(lit, (Atom, Negation, Comparison)) for lit in literals):
        raise TypeError("a query is a Query, query text, or a non-empty sequence of body literals")
    return Query(literals, literals[0].span)


def _term(term, anonymous: Iterator[int]):
    if isinstance(term, Const):
        return pyEngine.Const(term.value)
    if term.is_anonymous:
        return pyEngine.Var(f"_?{next(anonymous)}")  # '?' cannot occur in a written variable name
    return pyEngine.Var(term.name)


def _atom(atom: Atom, anonymous: Iterator[int], prefix: str = ""):
    return pyEngine.Literal(prefix + atom.relation, [_term(t, anonymous) for t in atom.args])


def _literal(lit: BodyLiteral, anonymous: Iterator[int]):
    if isinstance(lit, Atom):
        return _atom(lit, anonymous)
    if isinstance(lit, Negation):
        return _atom(lit.atom, anonymous, "~")
    return pyEngine.Literal(_OPERATORS[lit.op], [_term(lit.left, anonymous), _term(lit.right, anonymous)])


def _clause(rule: Rule):
    anonymous = itertools.count(1)
    return pyEngine.Clause(_atom(rule.head, anonymous), [_literal(lit, anonymous) for lit in rule.body])


def _ask(literal) -> Any:
    try:
        return literal.ask()
    except IamlogicError:
        raise
    except Exception as exc:  # pyDatalog raises plain Python errors from deep inside; fail closed
        raise EngineError(f"the engine failed while answering: {type(exc).__name__}: {exc}") from exc


def _rows(raw: Any) -> list[tuple]:
    if raw is True:
        return [()]
    return sorted({tuple(row) for row in raw or ()}, key=row_key)


def _primitive(name: str, spec: BuiltinSpec, function: BuiltinFunction):
    """A pyEngine primitive (``Pred.prim``) that calls ``function`` with Python values."""
    arity = spec.arity
    inputs = frozenset(spec.inputs)

    def primitive(literal, subgoal) -> None:
        args = []
        for i, term in enumerate(literal.terms):
            if term.is_const():
                args.append(term.id)
            elif i in inputs:
                raise EngineError(f"builtin {name!r} called with input {i + 1} unbound")
            else:
                args.append(None)
        try:
            result = function(*args)
            if isinstance(result, bool):
                if None in args:
                    raise EngineError(f"builtin {name!r} returned a bool but has unbound outputs")
                rows = [tuple(args)] if result else []
            else:
                rows = [tuple(row) if isinstance(row, (tuple, list)) else row for row in result]
        except IamlogicError:  # a builtin's own error (input the world cannot answer) goes through as it is
            raise
        except Exception as exc:  # a failing builtin fails the query: never a silent "no answer"
            raise EngineError(f"builtin {name!r} failed on {tuple(args)!r}: {type(exc).__name__}: {exc}") from exc
        for row in rows:
            if not isinstance(row, tuple) or len(row) != arity or not all(_is_value(v) for v in row):
                raise EngineError(f"builtin {name!r} produced {row!r}; expected {arity} str/int values")
            subgoal.fact_candidate(None, row)

    primitive.__name__ = f"builtin_{name}"
    return primitive
