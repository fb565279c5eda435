"""The request-time rules compiled into Python: the fast decision path.

``rules/*.dl`` stay the one statement of the AWS semantics. pyDatalog answers any query over
them, but one pyDatalog query costs hundreds of microseconds, and a decision needs several. This
module reads the same rules (their parsed AST) and splits them in two:

- **request-independent** relations (no request builtin below them: ``org_level``,
  ``member_account``, ``policy_action_key``, …) are computed once per world from its facts, by
  the same rules evaluated bottom-up here (stratum by stratum, a recursive stratum until nothing
  new is derived), and indexed by the argument positions the rules look them up by;
- **request-dependent** relations (``request_policy``, ``allows``, ``decision``, …) become one
  Python function, ``solve(q)``, that computes for one request every relation the entries need,
  bottom-up, each after the relations it uses (the rules have no recursion among them, so this
  order exists and every negation meets a complete relation). A relation is a flag (it has only
  the request), a set of values or a set of tuples; the request column is left out, since one
  solve is one request. A later rule that looks a relation up by some of its columns gets an
  index of it, built once the relation is complete.

The rules decide how much work a request costs: their bodies are read in the order written (a
request builtin that reads only the request is read once, at the start), and ``30-statements.dl``
matches the elements of a statement in turn (Action, then Resource, Principal, Condition), so a
condition is evaluated only for a statement whose Action, Resource and Principal matched.

Answers that do not depend on the request are kept for the world: builtins that do not read the
request, and runs of request-independent literals inside a rule body (which statements of a
request's sources list its action), by the values bound before them; a table at the start of
such a run that only tests values bound before it is read in place, first (few of a request's
sources have a NotAction statement: the others are passed over before any answer is looked up).
Builtins that read the request are the very functions the engine calls.

The generated source holds only names this module makes (``s3``, ``v7``) and integer indexes:
constants of the rules are reached as ``Ki`` (``K[i]``, bound once when the function is built),
tables as ``Xi`` and builtins as ``Bi`` (rows) or ``Fi`` (tests). No text of a rule, a policy or
a request ever becomes code.

Each world gets the functions compiled for what its tables hold (:meth:`CompiledRules.specialized`):
a rule that needs a row of a table the world leaves empty (no NotResource, no service-linked role,
no Identity Center) derives nothing there, and is left out; so is a negation of such a table, which
holds. A request-dependent relation left without rules is empty in turn. Most worlds leave a few
tables empty, and every request skips their rules.

A program with recursion among request-dependent relations, a builtin or negation called with
an unbound argument, or a request-dependent call that does not pass the head's request on,
raises :class:`Unsupported`, and the caller uses the engine instead.

The solver reuses work across requests (:class:`Solver`): the function reads the request only
through the request builtins, so requests whose builtin calls get the same answers get the same
relations; it keeps a tree of the calls solves made and the relations they gave.

The same rules are compiled a second time over a set of requests (``Solver.solve_many``): request
``i`` is bit ``1 << i`` of a mask, a flag is the mask of the requests it holds for, and a set maps
each row to such a mask. A rule body carries the mask of the requests still at hand: a literal of
a request-dependent relation or a request builtin narrows it (``m & mask``), a negation removes
those for which a tuple exists (``m & ~mask``), and the head adds it. Request builtins get the
mask and answer (row, mask) pairs, or a test the mask it holds for; one whose answer the requests
share is asked once. So what requests of one principal and action have in common (their sources,
the statements listing the action, the identity side) is computed once for all of them.

A differential test (``tests/properties/test_fastpath.py``) checks on generated worlds and
requests that this path and the engine (pyDatalog running every rule, the request-independent
ones included) give the same decision, the same deciding statements, the same layer verdicts
and the same missing keys.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from functools import partial
from operator import itemgetter
from typing import Any, Callable, Iterable, Mapping, Sequence

from .dlcheck import BuiltinSpec, derived_relations
from .engine import EngineError
from .grammar.diagnostics import IamlogicError
from .grammar.datalog import Atom, Comparison, Const, Negation, Program, Rule, Var, aggregate_rows

__all__ = ["CompiledRules", "Unsupported"]

_PY_OPERATORS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_MISS = object()
_WORLD_MEMO_LIMIT = 1 << 20  # answers of builtins that do not read the request, kept for the world
_NONE = frozenset()
_SPECIALIZED_LIMIT = 32  # the rules compiled for a world's empty tables (CompiledRules.specialized), kept
_REUSE_LIMIT = 1 << 14  # leaves and hints of a solver's tree of recorded calls (about 4 KiB a leaf; see Solver)


class Unsupported(Exception):
    """The program has a shape the compiler does not handle; use the engine."""


def _rows(fn: Callable) -> Callable:
    """A builtin's answers as a tuple of rows, from the engine's protocol (rows, or a bool when
    every argument is bound): the function itself when it is declared to return a tuple."""
    if getattr(fn, "__annotations__", {}).get("return") in (tuple, "tuple"):
        return fn

    def rows(*args):
        found = fn(*args)
        if type(found) is tuple:
            return found
        if found is True:
            return (args,)
        if found is False:
            return ()
        return tuple(found)

    return rows


def _flag(fn: Callable) -> Callable:
    """A builtin without outputs as a test: the function itself when it is declared to return a
    bool, else its answer (a bool, or rows) made one."""
    if getattr(fn, "__annotations__", {}).get("return") in (bool, "bool"):
        return fn

    def flag(*args):
        found = fn(*args)
        if found is True or found is False:
            return found
        return any(True for _ in found)

    return flag


class _Generator:
    """Writes the Python source of the request-dependent relations: one function that computes,
    for one request, every relation the entries need, bottom-up, in dependency order."""

    def __init__(self, rules_by_head: Mapping[str, list[Rule]], dependent: set[str], tables: set[str],
                 builtins: Mapping[str, BuiltinSpec], request_builtins: frozenset[str], order: list[str],
                 widths: Mapping[str, int], vector: bool = False, share: "_Generator | None" = None):
        self.rules_by_head = rules_by_head
        self.widths = widths
        self.request_builtins = request_builtins
        self.dependent = dependent
        self.tables = tables
        self.builtins = builtins
        self.order = order
        # vector: the function solves a set of requests at once (see _Vector); share: a generator
        # whose constants, indexes and builtin slots this one uses too (one set for both functions)
        self.vector = vector
        self.slot = {rel: i for i, rel in enumerate(order)}
        self.consts: list[Any] = share.consts if share else []
        self._const_slot: dict[tuple, int] = share._const_slot if share else {}
        self.indexes: list[tuple[str, tuple[int, ...], str]] = share.indexes if share else []
        self._index_slot: dict[tuple, int] = share._index_slot if share else {}
        self.builtin_order: list[str] = share.builtin_order if share else []
        self._builtin_slot: dict[str, int] = share._builtin_slot if share else {}
        self._names = itertools.count()
        self._prologue: dict[tuple, str] = {}  # (builtin slot, constant arguments) -> its rows, read once
        self._prologue_lines: list[str] = []
        self._field_names: dict[tuple[str, int], str] = {}  # (rows of a fields builtin, position) -> its name
        self.prologue_calls: list[tuple[str, int, str]] = []  # (its rows' name, builtin slot, arguments)
        self._tails: list[list[str]] = []  # request-independent runs of rule bodies, kept for the world
        self._lookups: dict[str, set[tuple[tuple[int, ...], str]]] = defaultdict(set)  # relation -> indexes of it
        # what the rules read of each request builtin's answer: the columns after the request that
        # some literal names (a variable or a constant); the rest no rule looks at (None: a test)
        found: dict[str, set[int]] = defaultdict(set)
        for rules in rules_by_head.values():
            for rule in rules:
                for lit in rule.body:
                    atom = lit.atom if isinstance(lit, Negation) else lit
                    if isinstance(atom, Atom) and atom.relation in request_builtins:
                        found[atom.relation] |= {i for i, t in enumerate(atom.args) if i and (
                            isinstance(t, Const) or not t.is_anonymous)}
        self.reads = {name: tuple(sorted(found[name])) if builtins[name].outputs else None for name in found}

    # -- slots ------------------------------------------------------------------------------------
    def const(self, value: Any) -> str:
        key = (type(value).__name__, value)
        if key not in self._const_slot:
            self._const_slot[key] = len(self.consts)
            self.consts.append(value)
        return f"K{self._const_slot[key]}"

    def index(self, relation: str, positions: tuple[int, ...], mode: str) -> str:
        key = (relation, positions, mode)
        if key not in self._index_slot:
            self._index_slot[key] = len(self.indexes)
            self.indexes.append(key)
        return f"X{self._index_slot[key]}"

    def builtin(self, name: str) -> int:
        if name not in self._builtin_slot:
            self._builtin_slot[name] = len(self.builtin_order)
            self.builtin_order.append(name)
        return self._builtin_slot[name]

    def fresh(self, prefix: str = "v") -> str:
        return f"{prefix}{next(self._names)}"

    def width(self, relation: str) -> int:
        """Columns of a request-dependent relation without the request: 0 is a flag, 1 a set of
        values, more a set of tuples."""
        return self.widths[relation]

    def var(self, relation: str) -> str:
        return f"s{self.slot[relation]}"

    def lookup(self, relation: str, positions: tuple[int, ...], mode: str) -> str:
        """An index of a request-dependent relation by some of its columns (built once it is complete)."""
        self._lookups[relation].add((positions, mode))
        return f"i{self.slot[relation]}_{mode[0]}{'_'.join(map(str, positions))}"

    # -- source -----------------------------------------------------------------------------------
    def source(self, entries: list[str]) -> str:
        parts: dict[str, list[str]] = {}
        for rel in self.order:
            v = self.var(rel)
            if self.vector:  # a flag is the mask of the requests it holds for; a set maps each row to one
                part = parts[rel] = [f"{v} = {'0' if self.width(rel) == 0 else '{}'}"]
            else:
                part = parts[rel] = [f"{v} = {'False' if self.width(rel) == 0 else 'set()'}"]
            for n, rule in enumerate(self.rules_by_head[rel]):
                lines = self._rule(rule)
                if self.width(rel) == 0 and n:  # a flag already raised (for every request) needs no other rule
                    part.append(f"if {v} != ALL:" if self.vector else f"if not {v}:")
                    part.extend("    " + line for line in lines)
                else:
                    part.extend(lines)
        body: list[str] = []
        for rel in self.order:  # each relation, then the indexes later relations look it up by
            body += parts[rel]
            for positions, mode in sorted(self._lookups.get(rel, ())):
                body.extend(self._index_lines(rel, positions, mode))
        out = ["def build(K, X, B, F, G, EMPTY):"]
        # every constant, index and builtin bound to a name of its own once, when built
        out += [f"    K{i} = K[{i}]" for i in range(len(self.consts))]
        out += [f"    X{i} = X[{i}]" for i in range(len(self.indexes))]
        out += [f"    B{i} = B[{i}]" for i in range(len(self.builtin_order))]
        out += [f"    F{i} = F[{i}]" for i in range(len(self.builtin_order))]
        out.append("    G_get = G.get")
        for tail in self._tails:
            out.extend("    " + line for line in tail)
        if self.vector:
            out.append("    def solve(q, ALL):")
            out += [f"        {name} = B{slot}(q, ALL{args[1:]})" for name, slot, args in self.prologue_calls]
            out.extend("        " + line for line in self._prologue_lines + body)
            out.append(f"        return ({', '.join(self.var(rel) for rel in entries)}{',' if len(entries) == 1 else ''})")
            out.append("    return solve")
            self.source_text = "\n".join(out) + "\n"
            return self.source_text
        # the request builtins read with the request alone, every solve, first: their answers are
        # read once, by prologue(q), and given to solve (an attribute of the request read inline:
        # the builtin's rows, without a call)
        calls = ", ".join(self._prologue_call(slot, args) for _, slot, args in self.prologue_calls)
        names = ", ".join(name for name, _, _ in self.prologue_calls)
        one = "," if len(self.prologue_calls) == 1 else ""
        out += ["    def prologue(q):", f"        return ({calls}{one})"]
        # what the rules read of those answers (Solver): the columns some literal names, of each row
        keys = []
        for _, slot, _ in self.prologue_calls:
            read = self.reads[self.builtin_order[slot]]
            if read:
                out.append(f"    I{slot} = itemgetter({', '.join(map(str, read))})")
            # the key _answer_key makes, inline (a call less for each of the prologue's answers)
            keys.append(f"((I{slot}({{0}}[0]),) if len({{0}}) == 1 else tuple(map(I{slot}, {{0}})))" if read
                        else "len({0})")
        out.append("    def prologue_key(pre):")
        if self.prologue_calls:
            out.append(f"        {names}{one} = pre")
        key = ", ".join(k.format(name) for k, (name, _, _) in zip(keys, self.prologue_calls))
        out += [f"        return ({key}{one})", "    def solve(q, pre):"]
        if self.prologue_calls:
            out.append(f"        {names}{one} = pre")
        out.extend("        " + line for line in self._prologue_lines + body)
        # an empty set is answered as the one empty frozenset: answers may be kept (see Solver)
        results = ", ".join(self.var(rel) if self.width(rel) == 0 else f"{self.var(rel)} or NONE" for rel in entries)
        out.append(f"        return ({results}{',' if len(entries) == 1 else ''})")
        out.append("    return prologue, prologue_key, solve")
        self.source_text = "\n".join(out) + "\n"
        return self.source_text

    def _index_lines(self, rel: str, positions: tuple[int, ...], mode: str) -> list[str]:
        name = self.lookup(rel, positions, mode)
        row = self.fresh("t")
        key = f"{row}[{positions[0]}]" if len(positions) == 1 else f"({', '.join(f'{row}[{p}]' for p in positions)})"
        if self.vector:  # rows carry masks: an index gives (row, mask) pairs, or the union of their masks
            mask, k = self.fresh("m"), self.fresh("k")
            if mode == "exists" and not positions:
                return [f"{name} = 0", f"for {mask} in {self.var(rel)}.values():", f"    {name} |= {mask}"]
            if mode == "exists":
                return [f"{name} = {{}}", f"for {row}, {mask} in {self.var(rel)}.items():", f"    {k} = {key}",
                        f"    {name}[{k}] = {name}.get({k}, 0) | {mask}"]
            return [f"{name} = {{}}", f"for {row}, {mask} in {self.var(rel)}.items():",
                    f"    {name}.setdefault({key}, []).append(({row}, {mask}))"]
        if mode == "exists":
            return [f"{name} = {{{key} for {row} in {self.var(rel)}}}"]
        return [f"{name} = {{}}",
                f"for {row} in {self.var(rel)}:",
                f"    {name}.setdefault({key}, []).append({row})"]

    def _rule(self, rule: Rule) -> list[str]:
        found = self._set_rule(rule)
        if found is not None:
            return found
        lines: list[str] = []
        req = rule.head.args[0]
        env: dict[str, str] = {req.name: "q", "#m": "ALL"}  # "#m": the mask of the requests at hand (vector)
        indent = self._body(rule, list(rule.body), env, 0, lines)
        pad = "    " * indent
        parts = []
        for term in rule.head.args[1:]:
            if isinstance(term, Const):
                parts.append(self.const(term.value))
            elif term.is_anonymous or term.name not in env:
                raise Unsupported(f"head variable {term} of {rule} is not bound by its body")
            else:
                parts.append(env[term.name])
        v = self.var(rule.head.relation)
        if self.vector:
            m = env["#m"]
            if not parts:
                lines.append(f"{pad}{v} |= {m}")
            else:
                key = self._key(parts)
                lines.append(f"{pad}{v}[{key}] = {v}.get({key}, 0) | {m}")
        elif not parts:
            lines.append(f"{pad}{v} = True")
        elif len(parts) == 1:
            lines.append(f"{pad}{v}.add({parts[0]})")
        else:
            lines.append(f"{pad}{v}.add(({', '.join(parts)}))")
        return lines

    def _set_rule(self, rule: Rule) -> list[str] | None:
        """A rule of one value (``r(Req, X)``) whose body only tests ``X`` against one-column
        relations (of the request, or tables), some of them negated, at least one positive
        relation of the request among them: its rows as one expression over sets, ``A & B - C``
        (one request: in a vector the rows carry masks). None for any other rule."""
        if self.vector or len(rule.head.args) != 2 or not isinstance(rule.head.args[1], Var):
            return None
        req, x = rule.head.args[0].name, rule.head.args[1]
        if x.is_anonymous:
            return None
        keep, tables, drop = [], [], []
        for lit in rule.body:
            atom = lit.atom if isinstance(lit, Negation) else lit
            if not isinstance(atom, Atom):
                return None
            args = atom.args
            if atom.relation in self.dependent and len(args) == 2 and all(
                    isinstance(a, Var) and not a.is_anonymous and a.name == want for a, want in zip(args, (req, x.name))):
                name = self.var(atom.relation)
            elif atom.relation in self.tables and len(args) == 1 and isinstance(args[0], Var) \
                    and args[0].name == x.name:
                name = self.index(atom.relation, (0,), "exists")
            else:
                return None
            (drop if lit is not atom else keep if atom.relation in self.dependent else tables).append(name)
        if not keep:
            return None
        expr = " & ".join(keep + tables)
        if drop:
            expr = f"({expr}) - {' - '.join(drop)}" if len(keep) + len(tables) > 1 else f"{expr} - {' - '.join(drop)}"
        return [f"{self.var(rule.head.relation)} |= {expr}"]

    def _independent(self, lit) -> bool:
        """A literal whose answers do not depend on the request: a table, or a builtin that does not
        read the request (pure: its answers are already kept for the world), or a comparison."""
        if isinstance(lit, Comparison):
            return True
        atom = lit.atom if isinstance(lit, Negation) else lit
        return atom.relation in self.tables or (atom.relation in self.builtins
                                                and atom.relation not in self.request_builtins)

    def _segment_at(self, body: list, bound: Iterable[str]) -> tuple[int, int] | None:
        """The first run of request-independent literals worth keeping for the world: two literals
        or more, one of them positive, after a request-dependent literal. A table the run would
        start with, whose variables are all bound before it (``bound``, or by the literals before),
        is left out of the run: a test answered at once, before the answer kept is looked up."""
        bound = set(bound)
        i = 0
        while i < len(body):
            lit = body[i]
            if i == 0 or not self._independent(lit) or (
                    isinstance(lit, Atom) and lit.relation in self.tables and set(self._variables(lit)) <= bound):
                bound.update(self._variables(lit))
                i += 1
                continue
            j = i
            while j < len(body) and self._independent(body[j]):
                j += 1
            if j - i >= 2 and any(isinstance(lit, Atom) for lit in body[i:j]):
                return i, j
            for lit in body[i:j]:
                bound.update(self._variables(lit))
            i = j
        return None

    @staticmethod
    def _variables(lit) -> list[str]:
        atom = lit.atom if isinstance(lit, Negation) else lit
        terms = (atom.left, atom.right) if isinstance(atom, Comparison) else atom.args
        return [t.name for t in terms if isinstance(t, Var) and not t.is_anonymous]

    def _segment(self, rule: Rule, segment: list, later: list, env: dict[str, str], indent: int,
                 lines: list[str]) -> int:
        """A run of request-independent literals, answered by a function of the variables bound
        before it and kept for the world: rows of the variables it binds that are used after it
        (by later literals or the head)."""
        used: list[str] = []
        for lit in segment:
            used += [n for n in self._variables(lit) if n in env and n not in used]
        after = {n for lit in later for n in self._variables(lit)}
        after |= {t.name for t in rule.head.args if isinstance(t, Var) and not t.is_anonymous}
        outputs: list[str] = []
        for lit in segment:
            outputs += [n for n in self._variables(lit) if n not in env and n in after and n not in outputs]
        slot = len(self._tails)
        name = f"seg{slot}"
        inner_env = {v: f"p{i}" for i, v in enumerate(used)}
        body_lines: list[str] = []
        depth = self._body(rule, segment, inner_env, 1, body_lines, segments=False)
        row = ", ".join(inner_env[v] for v in outputs)
        body_lines.append("    " * depth + f"out.add(({row}{',' if len(outputs) == 1 else ''}))")
        self._tails.append([f"def {name}({', '.join(inner_env[v] for v in used)}):", "    out = set()",
                            *body_lines, "    return tuple(out)"])
        pad = "    " * indent
        key, rows = self.fresh("k"), self.fresh("r")
        args = ", ".join(env[v] for v in used)
        lines += [f"{pad}{key} = ({-2_000_000 - slot}, {args})" if used else f"{pad}{key} = {-2_000_000 - slot}",
                  f"{pad}{rows} = G_get({key}, MISS)",
                  f"{pad}if {rows} is MISS:",
                  f"{pad}    {rows} = G[{key}] = {name}({args})"]
        names = []
        for v in outputs:
            env[v] = fresh = self.fresh()
            names.append(fresh)
        # each row unpacked into the variables it binds
        target = ", ".join(names) + ("," if len(names) == 1 else "") if names else self.fresh("t")
        lines.append(f"{pad}for {target} in {rows}:")
        return indent + 1

    def _body(self, rule: Rule, body: list, env: dict[str, str], indent: int, lines: list[str],
              segments: bool = True) -> int:
        found = self._segment_at(body, env) if segments else None
        if found is not None:
            i, j = found
            indent = self._body(rule, body[:i], env, indent, lines, segments=False)
            indent = self._segment(rule, body[i:j], body[j:], env, indent, lines)
            return self._body(rule, body[j:], env, indent, lines)
        for lit in body:
            pad = "    " * indent
            if isinstance(lit, Comparison):
                indent = self._comparison(rule, lit, env, indent, lines)
            elif isinstance(lit, Negation):
                self._test(*self._exists(rule, lit.atom, env, pad, lines), True, env, pad, lines)
                indent += 1
            else:
                indent = self._atom(rule, lit, env, indent, lines)
        return indent

    def _term(self, term, env: dict[str, str]) -> str | None:
        """The expression of a bound term, None for an unbound or anonymous variable."""
        if isinstance(term, Const):
            return self.const(term.value)
        if term.is_anonymous:
            return None
        return env.get(term.name)

    def _comparison(self, rule: Rule, lit: Comparison, env: dict[str, str], indent: int, lines: list[str]) -> int:
        pad = "    " * indent
        left, right = self._term(lit.left, env), self._term(lit.right, env)
        if lit.op == "=" and (left is None) != (right is None):
            var, value = (lit.left, right) if left is None else (lit.right, left)
            if var.is_anonymous:
                return indent
            env[var.name] = name = self.fresh()
            lines.append(f"{pad}{name} = {value}")
            return indent
        if left is None or right is None:
            raise Unsupported(f"comparison {lit} in {rule} with an unbound side")
        lines.append(f"{pad}if {left} {_PY_OPERATORS[lit.op]} {right}:")
        return indent + 1

    def _shape(self, atom: Atom, env: dict[str, str]):
        """Bound argument expressions, new variables (position → name) and in-atom equalities."""
        bound: dict[int, str] = {}
        new: dict[int, str] = {}
        same: list[tuple[int, str]] = []
        first: dict[str, int] = {}
        for i, term in enumerate(atom.args):
            expr = self._term(term, env)
            if expr is not None:
                bound[i] = expr
            elif isinstance(term, Var) and not term.is_anonymous:
                if term.name in first:
                    same.append((i, term.name))
                else:
                    first[term.name] = i
                    new[i] = term.name
        return bound, new, same

    @staticmethod
    def _key(values: list[str]) -> str:
        return values[0] if len(values) == 1 else f"({', '.join(values)})"

    def _dependent_args(self, rule: Rule, atom: Atom, bound: dict[int, str]) -> None:
        if bound.get(0) != "q":
            raise Unsupported(f"{atom} in {rule}: a request-dependent call must pass the request first")

    def _exists(self, rule: Rule, atom: Atom, env: dict[str, str], pad: str, lines: list[str]) -> tuple[str, bool]:
        """A condition that is true when some tuple matches the bound arguments (free ones are
        ``_``), and whether it is a mask (vector: the requests for which it is true); lines it needs
        first are appended to ``lines``."""
        bound, new, same = self._shape(atom, env)
        if new or same:
            raise Unsupported(f"unbound variable in the negation {atom} of {rule}")
        rel = atom.relation
        if rel in self.dependent:
            self._dependent_args(rule, atom, bound)
            v, width = self.var(rel), self.width(rel)
            cols = tuple(sorted(i - 1 for i in bound if i))
            if self.vector:
                if width == 0:
                    return v, True
                if not cols:
                    return self.lookup(rel, (), "exists"), True
                key = self._key([bound[i + 1] for i in cols])
                return f"{v if len(cols) == width else self.lookup(rel, cols, 'exists')}.get({key}, 0)", True
            if width == 0 or not cols:
                return (f"bool({v})" if width else v), False
            if len(cols) == width:
                return f"{self._key([bound[i + 1] for i in cols])} in {v}", False
            return f"{self._key([bound[i + 1] for i in cols])} in {self.lookup(rel, cols, 'exists')}", False
        positions = tuple(sorted(bound))
        if rel in self.tables:
            if atom.arity == 1 and positions:  # a one-column table: a set of its values
                return f"{bound[0]} in {self.index(rel, (0,), 'exists')}", False
            if len(positions) == atom.arity:
                return f"({', '.join(bound[i] for i in positions)}) in {self.index(rel, positions, 'set')}", False
            if not positions:
                return f"() in {self.index(rel, (), 'exists')}", False
            return f"{self._key([bound[i] for i in positions])} in {self.index(rel, positions, 'exists')}", False
        found = self._builtin_call(rule, atom, bound, pad, lines, env.get("#m", "ALL"))
        if self.vector and rel in self.request_builtins:  # a test's mask, or the union of the rows' masks
            return (found if not self.builtins[rel].outputs else f"ORM({found})"), True
        return found, False

    def _prologue_call(self, slot: int, args: str) -> str:
        """The rows of a request builtin the prologue reads: its call, or for a builtin that answers
        an attribute of the request (its spec's ``attribute``), asked with no value, that
        attribute's row read inline."""
        spec = self.builtins[self.builtin_order[slot]]
        if spec.fields and args == ", ".join(["q"] + ["None"] * len(spec.fields)):
            return f"((q, {', '.join(f'q.{f}' for f in spec.fields)}),)"
        if spec.attribute is None or args != "q, None":
            return f"B{slot}({args})"
        return f"(((q, a{slot}),) if (a{slot} := q.{spec.attribute}) is not None else ())"

    def _builtin_call(self, rule: Rule, atom: Atom, bound: dict[int, str], pad: str, lines: list[str],
                      mask: str = "ALL") -> str:
        """The rows of a builtin call (a tuple): read once a solve when it reads the request alone,
        kept for the world when it does not read the request, else called where it stands.

        (vector: a request builtin is given the mask of the requests at hand after the requests,
        and answers (row, mask) pairs, or a test the mask of the requests it holds for.)"""
        rel = atom.relation
        spec = self.builtins[rel]
        missing = [i for i in spec.inputs if i not in bound]
        if missing:
            raise Unsupported(f"builtin {rel} called with input {missing[0] + 1} unbound in {rule}")
        slot = self.builtin(rel)
        values = [bound.get(i, "None") for i in range(atom.arity)]
        args = ", ".join(values)
        call = f"B{slot}({args})"
        if not spec.outputs:  # a test: a flag, not rows
            call = f"F{slot}({args})"
        if self.vector and rel in self.request_builtins and values[0] == "q":
            call = f"{call[:call.index('(')]}(q, {mask}{args[1:]})"
        if rel in self.request_builtins and not spec.outputs and values[0] == "q":
            return call  # the answer at hand, called where it stands
        if rel in self.request_builtins:
            if values[0] != "q":
                raise Unsupported(f"{atom} in {rule}: a request builtin must be given the request first")
            if all(v == "None" or v.startswith("K") for v in values[1:]):  # constants are K0, K1, …
                key = (slot, tuple(values[1:]))
                if key not in self._prologue:
                    self._prologue[key] = name = self.fresh("r")
                    if spec.outputs and all(v != "None" for v in values[1:]) and set(spec.inputs) <= {0}:
                        # every output given: the row, when the request's rows (read once) hold it
                        every = self._builtin_call(rule, Atom(rel, (atom.args[0],) + (Var("_"),) * (atom.arity - 1)),
                                                   {0: "q"}, pad, lines)
                        if self.vector:
                            t = self.fresh("t")
                            self._prologue_lines.append(
                                f"{name} = [{t} for {t} in {every} if {t}[0][1:] == ({args[3:]},)]")
                        else:
                            self._prologue_lines.append(f"{name} = (({args}),) if ({args}) in {every} else ()")
                    else:
                        self.prologue_calls.append((name, slot, args))
                return self._prologue[key]
            rows = self.fresh("r")
            lines.append(f"{pad}{rows} = {call}")
            return rows
        rows, key = self.fresh("r"), self.fresh("k")
        lines += [f"{pad}{key} = ({-1 - slot}, {args})",
                  f"{pad}{rows} = G_get({key}, MISS)",
                  f"{pad}if {rows} is MISS:",
                  f"{pad}    {rows} = G[{key}] = {call}"]
        return rows

    def _test(self, cond: str, mask: bool, negated: bool, env: dict[str, str], pad: str, lines: list[str]) -> None:
        """An ``if`` on ``cond`` (true when some tuple matches), or on its negation; a mask
        (vector) instead narrows the mask at hand to the requests for which it holds (or not)."""
        if not mask:
            lines.append(f"{pad}if {'not ' if negated else ''}{cond}:")
            return
        m = self.fresh("m")
        lines += [f"{pad}{m} = {env['#m']} & {'~' if negated else ''}{cond}", f"{pad}if {m}:"]
        env["#m"] = m

    def _loop(self, row: str, source: str, env: dict[str, str], pad: str, lines: list[str], masked: bool) -> int:
        """A loop over ``source``, and the indentation it adds; over (row, mask) pairs when
        ``masked`` (vector), narrowing the mask at hand to the row's."""
        if not masked:
            lines.append(f"{pad}for {row} in {source}:")
            return 1
        mt, m = self.fresh("m"), self.fresh("m")
        lines += [f"{pad}for {row}, {mt} in {source}:", f"{pad}    {m} = {env['#m']} & {mt}", f"{pad}    if {m}:"]
        env["#m"] = m
        return 2

    def _fields(self, rule: Rule, atom: Atom, bound: dict[int, str], new: dict[int, str], same: list,
                env: dict[str, str], indent: int, lines: list[str]) -> int:
        """A builtin that answers the request's fields (its spec's ``fields``): its one row is read
        once a solve, each field into a name of its own; a new variable is that name, a bound one
        or one named twice a test of it."""
        self._dependent_args(rule, atom, bound)
        rows = self._builtin_call(rule, Atom(atom.relation, (atom.args[0],) + (Var("_"),) * (atom.arity - 1)),
                                  {0: "q"}, "", lines)

        def field(i: int) -> str:
            if (rows, i) not in self._field_names:
                self._field_names[(rows, i)] = name = self.fresh("f")
                self._prologue_lines.append(f"{name} = {rows}[0][{i}]")
            return self._field_names[(rows, i)]

        for i, var in new.items():
            env[var] = field(i)
        checks = [f"{field(i)} == {bound[i]}" for i in sorted(bound) if i] + [
            f"{field(i)} == {env[var]}" for i, var in same]
        if checks:
            lines.append(f"{'    ' * indent}if {' and '.join(checks)}:")
            return indent + 1
        return indent

    def _atom(self, rule: Rule, atom: Atom, env: dict[str, str], indent: int, lines: list[str]) -> int:
        pad = "    " * indent
        bound, new, same = self._shape(atom, env)
        if not self.vector and atom.relation in self.request_builtins and self.builtins[atom.relation].fields:
            return self._fields(rule, atom, bound, new, same, env, indent, lines)
        if not new and not same:
            self._test(*self._exists(rule, atom, env, pad, lines), False, env, pad, lines)
            return indent + 1
        rel, positions = atom.relation, tuple(sorted(bound))
        row = self.fresh("t")
        checks: list[str] = []
        offset = 0
        masked = self.vector and (rel in self.dependent or rel in self.request_builtins)  # (row, mask) pairs
        if rel in self.dependent:
            self._dependent_args(rule, atom, bound)
            v, width, offset = self.var(rel), self.width(rel), 1
            cols = tuple(sorted(i - 1 for i in bound if i))
            if width == 1:  # a set of values: the row is the value
                indent += self._loop(row, f"{v}.items()" if self.vector else v, env, pad, lines, self.vector)
                env[new[1]] = row
                return indent
            source = f"{self.lookup(rel, cols, 'iter')}.get({self._key([bound[i + 1] for i in cols])}, EMPTY)" \
                if cols else (f"{v}.items()" if self.vector else v)
        elif rel in self.tables:
            if positions:
                source = f"{self.index(rel, positions, 'iter')}.get({self._key([bound[i] for i in positions])}, EMPTY)"
            else:
                source = self.index(rel, (), "iter")
        else:
            source = self._builtin_call(rule, atom, bound, pad, lines, env.get("#m", "ALL"))
            # a builtin is given its bound outputs, and must filter on them; check anyway (but for
            # the request: a request builtin answers for the request it is given, and no other)
            checks += [f"{row}[{i}] == {bound[i]}" for i in self.builtins[rel].outputs if i in bound
                       and not (i == 0 and bound[i] == "q" and rel in self.request_builtins)]
        width = None if checks else self.width(rel) if rel in self.dependent else atom.arity
        if width and len(new) * 4 > width + 1:  # the row unpacked: fewer steps than reading its columns one by one
            names, again = [], dict(same)  # (again: a position whose variable an earlier one binds)
            for i in range(offset, offset + width):
                if i in new:
                    env[new[i]] = name = self.fresh()
                elif i in again:
                    name = self.fresh()
                    checks.append(f"{name} == {env[again[i]]}")
                else:
                    name = "_"
                names.append(name)
            target = ", ".join(names) + ("," if width == 1 else "")
            indent += self._loop(f"({target})" if masked else target, source, env, pad, lines, masked)
            if checks:
                lines.append(f"{'    ' * indent}if {' and '.join(checks)}:")
                indent += 1
            return indent
        indent += self._loop(row, source, env, pad, lines, masked)
        pad = "    " * indent
        for i, var in new.items():
            env[var] = name = self.fresh()
            lines.append(f"{pad}{name} = {row}[{i - offset}]")
        checks += [f"{row}[{i - offset}] == {env[var]}" for i, var in same]
        if checks:
            lines.append(f"{pad}if {' and '.join(checks)}:")
            indent += 1
        return indent


def _uses(program: Program) -> dict[str, set[str]]:
    """Each derived relation -> the relations and builtins its rules' bodies call."""
    uses: dict[str, set[str]] = defaultdict(set)
    for rule in program.rules:
        for lit in rule.body:
            atom = lit.atom if isinstance(lit, Negation) else lit
            if isinstance(atom, Atom):
                uses[rule.head.relation].add(atom.relation)
    return uses


def request_dependent(program: Program, request_builtins: Iterable[str]) -> frozenset[str]:
    """The derived relations of ``program`` that call a request builtin, directly or through
    another relation: the others are request-independent, the same for every request."""
    derived = derived_relations(program)
    uses = _uses(program)
    dependent: set[str] = set(request_builtins)
    changed = True
    while changed:
        changed = False
        for rel in derived:
            if rel not in dependent and uses[rel] & dependent:
                dependent.add(rel)
                changed = True
    return frozenset(dependent & set(derived))


def _without_empty(rules_by_head: Mapping[str, list[Rule]], order: Sequence[str],
                   empty: frozenset[str]) -> dict[str, list[Rule]]:
    """The rules of the relations of ``order`` (each after the relations it uses) in a world where
    the relations ``empty`` have no row (see :meth:`CompiledRules.specialized`)."""
    out = dict(rules_by_head)
    gone = set(empty)
    for rel in order:
        kept = []
        for rule in rules_by_head[rel]:
            if any(isinstance(lit, Atom) and lit.relation in gone for lit in rule.body):
                continue  # it needs a row of a relation that has none
            body = tuple(lit for lit in rule.body if not (isinstance(lit, Negation) and lit.atom.relation in gone))
            kept.append(rule if len(body) == len(rule.body) else Rule(rule.head, body, rule.span))
        out[rel] = kept
        if not kept:
            gone.add(rel)
    return out


class CompiledRules:
    """A program's request-dependent rules as one Python function of the request, for a fixed set
    of entry queries.

    Args:
        program: the rules.
        declared: the extensional relations (name → arity).
        builtins: name → spec, for every builtin the rules call.
        request_builtins: the builtins that read the request (everything that calls one, directly
            or through another relation, is request-dependent).
        entries: name → the atom to answer, e.g. ``decision(Req, D)``; its first argument is the
            request, bound when solving, the others free variables.

    Raises:
        Unsupported: recursion among request-dependent relations, a builtin or negation called
            with an unbound argument, or an entry whose first argument is not a variable or whose
            other arguments are not distinct variables.
    """

    def __init__(self, program: Program, declared: Mapping[str, int], builtins: Mapping[str, BuiltinSpec],
                 request_builtins: Iterable[str], entries: Mapping[str, Atom], empty: frozenset[str] = frozenset()):
        self._args = (program, declared, builtins, request_builtins, entries)
        self.empty = empty  # the tables it is compiled as having no row (see specialized)
        self._specialized: dict[frozenset[str], CompiledRules] = {}
        rules_by_head: dict[str, list[Rule]] = defaultdict(list)
        for rule in program.rules:
            rules_by_head[rule.head.relation].append(rule)
        derived = derived_relations(program)
        uses = _uses(program)
        request_builtins = frozenset(request_builtins)
        self.dependent = request_dependent(program, request_builtins)
        dependent = set(self.dependent) | request_builtins
        self.independent = frozenset(set(derived) - self.dependent)
        self._check_acyclic(uses)
        tables = set(declared) | set(self.independent)
        for atom in entries.values():
            if not atom.args or not isinstance(atom.args[0], Var) or atom.relation not in self.dependent:
                raise Unsupported(f"entry {atom}: the first argument must be the request of a request-dependent relation")
        for rel in self.dependent:
            for rule in rules_by_head[rel]:
                if rule.aggregate is not None:
                    raise Unsupported(f"{rule}: an aggregate of request-dependent relations")
                req = rule.head.args[0] if rule.head.args else None
                if not isinstance(req, Var) or req.is_anonymous or req in rule.head.args[1:]:
                    raise Unsupported(f"{rel}: a request-dependent relation takes the request first")
                # one request a solve: every request-dependent call passes the head's request on
                for lit in rule.body:
                    atom = lit.atom if isinstance(lit, Negation) else lit
                    if isinstance(atom, Atom) and atom.relation in dependent and (
                            not atom.args or atom.args[0] != req):
                        raise Unsupported(f"{atom} in {rule}: a request-dependent call must pass the "
                                          f"request {req} first")

        order: list[str] = []  # request-dependent relations the entries need, each after what it uses
        seen: set[str] = set()

        def visit(rel: str) -> None:
            seen.add(rel)
            for dep in sorted(uses.get(rel, ())):
                if dep in self.dependent and dep not in seen:
                    visit(dep)
            order.append(rel)

        for atom in entries.values():
            if atom.relation not in seen:
                visit(atom.relation)
        names = list(entries)
        for name, atom in entries.items():
            variables = [t for t in atom.args[1:] if isinstance(t, Var)]
            if len(variables) != len(atom.args) - 1 or len({v.name for v in variables}) != len(variables) or any(
                    v.is_anonymous for v in variables):
                raise Unsupported(f"entry {atom}: its arguments after the request must be distinct variables")
        widths = {rel: len(rules_by_head[rel][0].head.args) - 1 for rel in order}
        generated = _without_empty(rules_by_head, order, empty)
        gen = _Generator(generated, set(self.dependent), tables, builtins, request_builtins, order, widths)
        self.source = gen.source([entries[name].relation for name in names])
        # the same rules over a set of requests at once (Solver.solve_many), with the same slots
        vgen = _Generator(generated, set(self.dependent), tables, builtins, request_builtins, order, widths,
                          vector=True, share=gen)
        self.vector_source = vgen.source([entries[name].relation for name in names])
        self.strata = _strata({rel for rel, _, _ in gen.indexes if rel in self.independent}, rules_by_head)
        self._rules_by_head = {rel: tuple(rules_by_head[rel]) for stratum in self.strata for rel in stratum}
        self._builtin_specs = dict(builtins)
        self.order = tuple(order)
        self.consts = tuple(gen.consts)
        self.indexes = tuple(gen.indexes)
        self.builtin_names = tuple(gen.builtin_order)
        self.request_reads = {name: gen.reads[name] for name in gen.builtin_order if name in request_builtins}
        self.entry_names = tuple(names)
        self.widths = tuple(gen.width(entries[name].relation) for name in names)
        namespace: dict[str, Any] = {"MISS": _MISS, "NONE": _NONE, "itemgetter": itemgetter}
        exec(compile(self.source, "<iamlogic: compiled rules>", "exec"), namespace)  # generated names only
        self._build = namespace["build"]
        namespace = {"MISS": _MISS, "ORM": _union}
        exec(compile(self.vector_source, "<iamlogic: compiled rules, vector>", "exec"), namespace)  # generated names only
        self._build_vector = namespace["build"]

    def specialized(self, empty: frozenset[str]) -> "CompiledRules":
        """The same rules compiled for a world in which the tables ``empty`` (declared or
        request-independent relations) have no row: a rule that needs a row of one is left out,
        and so is a negation of one (it holds); a request-dependent relation left without rules
        has no row either, and counts as one of them in turn. The relations, entries and builtins
        keep their meaning; the functions only skip what cannot derive anything in that world.
        Kept for each set of empty tables."""
        if not empty:
            return self
        found = self._specialized.get(empty)
        if found is None:
            if len(self._specialized) >= _SPECIALIZED_LIMIT:
                self._specialized.clear()
            found = self._specialized[empty] = CompiledRules(*self._args, empty=empty)
        return found

    def _check_acyclic(self, uses: Mapping[str, set[str]]) -> None:
        state: dict[str, int] = {}

        def visit(rel: str, path: list[str]) -> None:
            state[rel] = 1
            for dep in uses.get(rel, ()):
                if dep not in self.dependent:
                    continue
                if state.get(dep) == 1:
                    raise Unsupported("recursion among request-dependent relations: "
                                      + " → ".join([*path[path.index(dep):], dep]) if dep in path else dep)
                if dep not in state:
                    visit(dep, [*path, dep])
            state[rel] = 2

        for rel in sorted(self.dependent):
            if rel not in state:
                visit(rel, [rel])

    def bind(self, table: Callable[[str], Iterable[tuple]], builtins: Mapping[str, Callable],
             shared: Mapping[str, tuple[int, ...]] | None = None,
             vectors: Mapping[str, Callable] | None = None,
             tests: Mapping[str, Callable] | None = None) -> "Solver":
        """The functions over one world's tables (``table(name)`` gives every tuple of a declared
        relation) and builtins (the engine's builtin functions). The request-independent relations
        the functions read are computed here, bottom-up (see :meth:`materialize`).

        ``shared`` and ``vectors`` serve :meth:`Solver.solve_many`: the request builtins whose
        answers every request given to it together shares (name → the columns after the request
        that they agree on), and builtins that answer for such a set of requests at once (name →
        a function of the :class:`_Vector`, the mask of the requests asked about and the
        arguments, with the protocol of the generated vector function).

        ``tests`` serve the solver's tree of calls: a request builtin's name → a function of what
        the rules read of its answer (:attr:`request_reads`: None for a builtin without outputs)
        and of the arguments after the request that gives, when it can, a function of the request
        alone answering that: the answer (a bool) of a builtin without outputs, else the
        :func:`_answer_key` of its rows; or None."""
        return Solver(self, table, builtins, shared or {}, vectors or {}, tests or {})

    def materialize(self, table: Callable[[str], Iterable[tuple]], builtins: Mapping[str, Callable]) -> dict[str, set]:
        """Every tuple of each request-independent relation the compiled rules read (see
        :func:`materialize`)."""
        return materialize(self.strata, self._rules_by_head, self._builtin_specs, table, builtins)


class Solver:
    """Answers the entries of :class:`CompiledRules` for one request at a time.

    **Reuse.** The generated function reads the request only through the request builtins, and
    everything else it reads (the world's tables, the request-independent builtins) is the same
    for every request. So its answer is a function of the answers its request-builtin calls get:
    two requests whose calls get the same answers, call by call, get the same entries. The solver
    keeps a tree of the calls solves made, each with what the rules read of its answer
    (:attr:`CompiledRules.request_reads`), and the entries at the leaves. Its root is keyed by the
    answers of the calls every solve makes first (the prologue: the request's action, its
    principal's identity, type and account, the resource's account and policy holder, …); below
    it, a node is one call (a Resource entry tested against the resource, a condition, a Principal
    entry), with a branch for each answer seen.

    A request walks the tree, making each call for itself, and takes the entries of the leaf it
    reaches; when an answer leads where no request went before, it is solved, and its calls are
    added to the tree. This is a decision cache keyed on exactly the request features the rules
    read: a resource that no rule tells apart from another is decided with the other's work. A
    request whose hint (its caller and action) was not seen before is solved without the tree:
    in a mix of unrelated requests most are such, and pay nothing for it. A node whose call has a
    test of the request alone (``tests`` of :meth:`CompiledRules.bind`: a plain Resource pattern
    against the request's resource, say) makes that test instead of the call, with the same
    answer. The tree belongs to one world (a world that changes gets a new solver), and is
    dropped when it holds :data:`_REUSE_LIMIT` leaves and hints.
    """

    def __init__(self, compiled: CompiledRules, table: Callable[[str], Iterable[tuple]],
                 builtins: Mapping[str, Callable], shared: Mapping[str, tuple[int, ...]],
                 vectors: Mapping[str, Callable], tests: Mapping[str, Callable]):
        derived = compiled.materialize(table, builtins)
        self.tables = derived  # the request-independent relations, as computed for this world
        rows: dict[str, list[tuple]] = {}
        for rel, _, _ in compiled.indexes:
            if rel not in rows:
                rows[rel] = list(derived[rel]) if rel in derived else [tuple(t) for t in table(rel)]
        # the functions compiled for what this world's tables hold (the same tables, read by fewer rules)
        compiled = self.compiled = compiled.specialized(frozenset(rel for rel, found in rows.items() if not found))
        indexes = [_build_index(rows[rel], positions, mode) for rel, positions, mode in compiled.indexes]
        self._world_memo: dict = {}
        wrapped = [_rows(builtins[name]) for name in compiled.builtin_names]
        flags = [_flag(builtins[name]) for name in compiled.builtin_names]
        self._prologue, self._prologue_key, self._solve = compiled._build(
            compiled.consts, indexes, wrapped, flags, self._world_memo, ())
        self._entries = tuple(zip(compiled.entry_names, compiled.widths))
        # the same function, its request builtins recording their calls into self._trace
        self._trace: list[tuple] = []
        rec_rows, rec_flags = list(wrapped), list(flags)
        for slot, name in enumerate(compiled.builtin_names):
            if name in compiled.request_reads:
                rec_rows[slot] = _recorder(wrapped[slot], _answer_key(compiled.request_reads[name]), self._trace)
                rec_flags[slot] = _recorder(flags[slot], bool, self._trace)
        _, _, self._record = compiled._build(compiled.consts, indexes, rec_rows, rec_flags, self._world_memo, ())
        # a recorded builtin -> the maker of a function of the request alone for its calls (bind's
        # tests), which the tree's nodes call instead
        self._tests = {flags[slot] if compiled.request_reads[name] is None else wrapped[slot]:
                       partial(tests[name], compiled.request_reads[name])
                       for slot, name in enumerate(compiled.builtin_names) if name in tests}
        # over a set of requests at once (solve_many): a builtin whose answer, as far as the rules
        # read it, the set shares is asked once, any other for each request asked about
        vec_rows, vec_flags = list(wrapped), list(flags)
        for slot, name in enumerate(compiled.builtin_names):
            if name in compiled.request_reads:
                read = compiled.request_reads[name]
                one = name in shared and set(read or ()) <= set(shared[name])
                vec_rows[slot] = vectors.get(name) or _vector_rows(wrapped[slot], one)
                vec_flags[slot] = vectors.get(name) or _vector_flag(flags[slot], one)
        self._vector_memo: dict = {}  # its own answers kept for the world (its segments are numbered apart)
        self._solve_vector = compiled._build_vector(compiled.consts, indexes, vec_rows, vec_flags,
                                                    self._vector_memo, ())
        self.reuse = True  # until a conflict (see _conflict)
        # prologue answers -> a node [test of the request or None, {answer key: node}, builtin, arguments,
        # answer key], or a leaf
        self._root: dict = {}
        self._hints: set = set()
        self._leaves = 0
        self._outputs: dict[tuple, tuple] = {}  # the entries at the leaves, each kept once
        self.reused = self.solved = self.conflicts = 0
        self.together = 0  # requests solved by solve_many

    def solve_raw(self, req: Any, hint: Any = None) -> tuple:
        """The entries for the request ``req``, in the order given: a bool for an entry without
        columns after the request, a set of values for one column, of tuples for more. Read-only:
        a request may get the entries of another (see the class).

        ``hint``: requests with the same hint are likely to share work (the evaluator gives the
        caller and the action). A request whose hint was not seen before is solved without the
        tree; answers never depend on the hint."""
        if len(self._world_memo) > _WORLD_MEMO_LIMIT:
            self._world_memo.clear()
        if self._leaves >= _REUSE_LIMIT:
            self.forget()
        try:
            pre = self._prologue(req)
            if not self.reuse:
                return self._solve(req, pre)
            if hint is not None and hint not in self._hints:
                self._hints.add(hint)
                self._leaves += 1
                self.solved += 1
                return self._solve(req, pre)
            key = self._prologue_key(pre)
            node = self._root.get(key)
            while node.__class__ is list:
                test, below, fn, args, answer = node
                node = below.get(answer(fn(req, *args)) if test is None else test(req))
            if node is not None:
                self.reused += 1
                return node
            self._trace.clear()
            out = self._record(req, pre)
            self.solved += 1
            # kept once however many leaves hold it: the fewer objects the tree holds, the less the
            # garbage collector walks
            out = tuple([frozenset(v) if v.__class__ is set else v for v in out])
            out = self._outputs.setdefault(out, out)
            self._keep(key, out)
            return out
        except (IamlogicError, Unsupported):
            raise
        except Exception as exc:  # a failing builtin fails the decision, never a silent "no answer"
            raise EngineError(f"the compiled rules failed while answering: {type(exc).__name__}: {exc}") from exc

    def warm(self, req: Any) -> bool:
        """Solve ``req`` for the answers the solver keeps for the world (its entries are dropped,
        and the tree of calls is left as it is): a later request that asks the same of the world
        finds them. False, without solving, once that memo is half full (the other half is left
        to requests: solve_raw empties a full memo)."""
        if len(self._world_memo) >= _WORLD_MEMO_LIMIT // 2:
            return False
        self._solve(req, self._prologue(req))
        return True

    def solve_many(self, requests: list, memo: dict | None = None, only: Iterable[str] | None = None) -> list[tuple]:
        """The entries of each request (as :meth:`solve_raw` gives them), computed for all of them
        at once: every relation maps each of its rows to the mask of the requests it holds for, so
        what the requests share is computed once. The requests must agree on what the builtins
        named ``shared`` (see :meth:`CompiledRules.bind`) answer; ``memo`` is kept by builtins that
        answer for sets of requests (see ``vectors``), for as long as the caller gives it again.
        ``only``: the entries the caller reads (the others are None: requests that differ only in
        those are not told apart)."""
        if len(self._vector_memo) > _WORLD_MEMO_LIMIT:
            self._vector_memo.clear()
        vec = _Vector(tuple(requests), {} if memo is None else memo)
        self.together += len(vec.requests)
        try:
            found = self._solve_vector(vec, vec.all)
        except (IamlogicError, Unsupported):
            raise
        except Exception as exc:  # a failing builtin fails the decision, never a silent "no answer"
            raise EngineError(f"the compiled rules failed while answering: {type(exc).__name__}: {exc}") from exc
        # the classes of requests no entry tells apart, each answered once
        every = vec.all
        masks: set[int] = set()
        shape = []  # each entry: a flag's mask; or the rows every request has, and (row, mask) of the others
        if only is not None:
            keep = set(only)
            found = [e if name in keep else None for (name, _), e in zip(self._entries, found)]
        for entry in found:
            if entry is None:
                shape.append(None)
            elif entry.__class__ is int:
                masks.add(entry)
                shape.append(entry)
            else:
                some = [(row, mask) for row, mask in entry.items() if mask != every]
                masks.update(mask for _, mask in some)
                shape.append((frozenset(entry) or _NONE) if not some else
                             ([row for row, mask in entry.items() if mask == every], some))
        masks.discard(every)
        masks.discard(0)
        # a label for each request, split by each mask: those of the mask's smaller side move to
        # new labels, one for each label they had (a partition, refined)
        n = len(vec.requests)
        label = [0] * n
        fresh = 1
        for mask in masks:
            moved: dict[int, int] = {}
            for i in _indexes(every ^ mask if mask.bit_count() * 2 > n else mask):
                new = moved.get(label[i])
                if new is None:
                    new = moved[label[i]] = fresh
                    fresh += 1
                label[i] = new
        first = {k: i for i, k in reversed(list(enumerate(label)))}  # each label -> its first request
        spread: dict[int, Iterable[int]] = {}  # a mask -> the labels of its requests
        for i, e in enumerate(shape):  # the rows of each label, beyond those of every request
            if e.__class__ is tuple:
                extra: dict[int, list] = {}
                for row, mask in e[1]:
                    labels = spread.get(mask)
                    if labels is None:
                        labels = spread[mask] = ({label[j] for j in _indexes(mask)} if mask.bit_count() <= 8 else
                                                 [k for k, j in first.items() if mask >> j & 1])
                    for k in labels:
                        extra.setdefault(k, []).append(row)
                shape[i] = (frozenset(e[0]) or _NONE, e[0], extra)
        answers = {k: tuple([e >> j & 1 == 1 if e.__class__ is int else e if e.__class__ is frozenset or e is None
                             else frozenset(e[1] + e[2][k]) if k in e[2] else e[0] for e in shape])
                   for k, j in first.items()}
        return list(map(answers.__getitem__, label))

    def forget(self) -> None:
        """Drop the tree of calls (the answers kept for requests)."""
        self._root.clear()
        self._outputs.clear()
        self._hints.clear()
        self._leaves = 0

    def solve(self, req: Any) -> dict[str, list[tuple]]:
        """The rows (without the request column) of each entry, for the request ``req``."""
        out = {}
        for (name, width), rows in zip(self._entries, self.solve_raw(req)):
            if width == 0:
                out[name] = [()] if rows else []
            elif width == 1:
                out[name] = [(v,) for v in rows]
            else:
                out[name] = list(rows)
        return out

    def _keep(self, key: tuple, out: tuple) -> None:
        """Add the calls just recorded, with ``out`` at their leaf, to the tree under ``key``."""
        trace = self._trace
        node, below, found, i = self._root.get(key), self._root, key, 0
        if node is not None:  # follow the calls the tree holds
            for i, (fn, args, _, found) in enumerate(trace):
                if node.__class__ is not list or node[2] is not fn or node[3] != args:
                    return self._conflict()
                below = node[1]
                node = below.get(found)
                if node is None:
                    i += 1
                    break
            else:  # every call is in the tree already (as when two requests were solved in turn)
                if node.__class__ is list:
                    self._conflict()
                return
        tail = out  # the calls the tree lacks, from the last one back
        tests = self._tests
        for fn, args, answer, answered in reversed(trace[i:]):
            test = tests.get(fn)
            tail = [test and test(*args), {answered: tail}, fn, args, answer]
        below[found] = tail
        self._leaves += 1

    def _conflict(self) -> None:
        """The same answers led to another call: the function read the request some other way
        than through its calls. The answer just computed stands; nothing more is reused."""
        self.conflicts += 1
        self.reuse = False
        self._root.clear()


class _Vector:
    """Requests solved together (:meth:`Solver.solve_many`). Request ``i`` is bit ``1 << i`` of a
    mask; a vector builtin is given the vector and the mask of the requests it is asked about."""

    __slots__ = ("requests", "all", "pairs", "memo")

    def __init__(self, requests: tuple, memo: dict):
        self.requests = requests
        self.all = (1 << len(requests)) - 1
        self.pairs = [(1 << i, r) for i, r in enumerate(requests)]
        self.memo = memo

    def each(self, mask: int) -> list[tuple[int, Any]]:
        """(bit, request) for each request of ``mask``."""
        if mask == self.all:
            return self.pairs
        return [self.pairs[i] for i in _indexes(mask)]


def _indexes(mask: int) -> list[int]:
    """The positions of the bits of ``mask``."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


def _union(rows: list[tuple[tuple, int]]) -> int:
    """The requests some (row, mask) pair holds for."""
    out = 0
    for _, mask in rows:
        out |= mask
    return out


def _vector_rows(fn: Callable, one: bool) -> Callable:
    """A request builtin (rows) over a vector: (row, mask) pairs, a row for each answer the
    requests asked about give (by what follows the request). ``one``: they all give the same
    answer, so one of them is asked."""
    if one:
        return lambda vec, mask, *args: [(row, mask) for row in fn(vec.requests[0], *args)]

    def rows(vec, mask, *args):
        found: dict = {}
        for bit, req in vec.each(mask):
            for row in fn(req, *args):
                key = row[1:]
                seen = found.get(key)
                if seen is None:
                    found[key] = [row, bit]
                else:
                    seen[1] |= bit
        return [(row, m) for row, m in found.values()]

    return rows


def _vector_flag(fn: Callable, one: bool) -> Callable:
    """A request builtin (a test) over a vector: the mask of the requests asked about it holds for."""
    if one:
        return lambda vec, mask, *args: mask if fn(vec.requests[0], *args) else 0

    def flag(vec, mask, *args):
        out = 0
        for bit, req in vec.each(mask):
            if fn(req, *args):
                out |= bit
        return out

    return flag


def _answer_key(read: tuple[int, ...] | None) -> Callable:
    """What the rules read of a request builtin's answer (rows, each starting with the request):
    the columns ``read`` of each row, in order; how many rows there are when no column is read."""
    if not read:
        return len
    get = itemgetter(*read)
    # (one row, the usual answer, without building a map: the same key)
    return lambda rows: (get(rows[0]),) if len(rows) == 1 else tuple(map(get, rows))


def _recorder(fn: Callable, key: Callable, trace: list) -> Callable:
    """``fn``, appending each call to ``trace``: (fn, arguments after the request, key, key of the answer)."""

    def call(req, *args):
        found = fn(req, *args)
        trace.append((fn, args, key, key(found)))
        return found

    return call


def _build_index(rows: list[tuple], positions: tuple[int, ...], mode: str):
    if mode == "set":
        return set(rows)
    if mode == "exists":
        if len(positions) == 1:
            p = positions[0]
            return {t[p] for t in rows}
        return {tuple(t[p] for p in positions) for t in rows}
    if not positions:
        return rows
    index: dict[Any, list[tuple]] = defaultdict(list)
    if len(positions) == 1:
        p = positions[0]
        for t in rows:
            index[t[p]].append(t)
    else:
        for t in rows:
            index[tuple(t[p] for p in positions)].append(t)
    # tuples of tuples of strings: the garbage collector stops tracking them, and then the index
    return {key: tuple(found) for key, found in index.items()}


_COMPARE = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def materialize(strata: Sequence[Sequence[str]], rules_by_head: Mapping[str, Sequence[Rule]],
                builtin_specs: Mapping[str, BuiltinSpec], table: Callable[[str], Iterable[tuple]],
                builtins: Mapping[str, Callable], max_rounds: int | None = None,
                max_steps: int | None = None) -> dict[str, set]:
    """Every tuple of each relation of ``strata`` (see :func:`_strata`), computed from the declared
    relations (``table(name)``) by the rules, one stratum after another: a relation after those it
    uses, and the relations of a recursive stratum together, again until nothing new is derived
    (:class:`Unsupported` after ``max_rounds`` rounds, or ``max_steps`` solutions of the rules of
    a recursive stratum: arithmetic in a recursive rule can derive new values without end).
    Negation and comparison mean what they mean in the engine: a negated relation is complete when
    it is read (no recursion goes through a negation); so is every relation an aggregate reads."""
    rows: dict[str, set] = {}
    indexes: dict[tuple, dict] = {}
    rows_fn = {name: _rows(fn) for name, fn in builtins.items()}

    def lookup(rel: str, positions: tuple[int, ...], key: tuple, growing: set[str]):
        if rel not in rows:
            rows[rel] = {tuple(t) for t in table(rel)}
        if not positions:
            return rows[rel]
        if rel in growing:  # a relation of the stratum being computed: read as it stands
            return [t for t in rows[rel] if tuple(t[p] for p in positions) == key]
        index = indexes.get((rel, positions))
        if index is None:
            index = indexes[(rel, positions)] = defaultdict(list)
            for t in rows[rel]:
                index[tuple(t[p] for p in positions)].append(t)
        return index.get(key, ())

    def solutions(rule: Rule, i: int, env: dict, growing: set[str]):
        if i == len(rule.body):
            yield env
            return
        lit = rule.body[i]
        if isinstance(lit, Comparison):
            left, right = _value(lit.left, env), _value(lit.right, env)
            if lit.op == "=" and (left is _MISS) != (right is _MISS):
                var, value = (lit.left, right) if left is _MISS else (lit.right, left)
                yield from solutions(rule, i + 1, env if var.is_anonymous else {**env, var.name: value}, growing)
            elif left is _MISS or right is _MISS:
                raise Unsupported(f"comparison {lit} in {rule} with an unbound side")
            elif _COMPARE[lit.op](left, right):
                yield from solutions(rule, i + 1, env, growing)
            return
        atom = lit.atom if isinstance(lit, Negation) else lit
        args = [_value(t, env) for t in atom.args]
        if atom.relation in rows_fn:
            spec = builtin_specs[atom.relation]
            if any(args[k] is _MISS for k in spec.inputs):
                raise Unsupported(f"builtin {atom.relation} called with an unbound input in {rule}")
            found = rows_fn[atom.relation](*(None if a is _MISS else a for a in args))
        else:
            positions = tuple(k for k, a in enumerate(args) if a is not _MISS)
            found = lookup(atom.relation, positions, tuple(args[k] for k in positions), growing)
        if isinstance(lit, Negation):
            if not any(_unify(atom.args, args, t, env) is not None for t in found):
                yield from solutions(rule, i + 1, env, growing)
            return
        for t in found:
            bound = _unify(atom.args, args, t, env)
            if bound is not None:
                yield from solutions(rule, i + 1, bound, growing)

    for stratum in strata:
        growing = set(stratum)
        recursive = len(stratum) > 1 or _recursive(stratum[0], rules_by_head)
        for rel in stratum:
            rows[rel] = set()
        rounds, steps, growing_rule = 0, [0], None
        while True:
            rounds += 1
            if max_rounds is not None and rounds > max_rounds:
                exc = Unsupported(f"the rules for {', '.join(stratum)} still derive new facts after {max_rounds} "
                                  "rounds, the limit for guardrails (a recursive rule that makes new values with add "
                                  "or multiply may never end)")
                exc.rule = growing_rule
                raise exc
            before = sum(len(rows[rel]) for rel in stratum)
            for rel in stratum:
                for rule in rules_by_head[rel]:
                    try:
                        if rule.aggregate is not None:  # (never recursive: the checker says so, E419)
                            rows[rel] |= aggregate_rows(rule, solutions(rule, 0, {}, growing))
                            continue
                        found = solutions(rule, 0, {}, growing)
                        if max_steps is not None and recursive:
                            found = _counted(found, steps, max_steps, stratum)
                        new = {tuple(_value(t, env) for t in rule.head.args) for env in found}
                        if any(_MISS in row for row in new):
                            raise Unsupported(f"a head variable of {rule} is not bound by its body")
                    except Exception as exc:  # the rule it came from: where the error is (guardrails)
                        if getattr(exc, "rule", None) is None:
                            exc.rule = rule
                        raise
                    if max_rounds is not None and not new <= rows[rel]:
                        growing_rule = rule
                    rows[rel] |= new
            if not recursive or sum(len(rows[rel]) for rel in stratum) == before:
                break
    return {rel: rows[rel] for stratum in strata for rel in stratum}


def _counted(found, steps: list[int], limit: int, stratum):
    """``found``, counted into ``steps[0]``; :class:`Unsupported` past ``limit``."""
    for env in found:
        steps[0] += 1
        if steps[0] > limit:
            raise Unsupported(f"the rules for {', '.join(stratum)} made more than {limit:,} solutions: a recursive "
                              "rule makes new values faster than a world's relations can (add, multiply, …)")
        yield env


def _value(term, env: dict):
    """A term's value under ``env``; ``_MISS`` for an unbound or anonymous variable."""
    if isinstance(term, Const):
        return term.value
    return _MISS if term.is_anonymous else env.get(term.name, _MISS)


def _unify(terms: tuple, args: list, row: tuple, env: dict) -> dict | None:
    """``env`` extended so that ``terms`` match ``row`` (``args``: their values, ``_MISS`` where
    unbound), or None."""
    if len(row) != len(terms):
        return None
    out = env
    for term, value, got in zip(terms, args, row):
        if value is not _MISS:
            if got != value:
                return None
        elif not term.is_anonymous:
            seen = out.get(term.name, _MISS)
            if seen is _MISS:
                if out is env:
                    out = dict(env)
                out[term.name] = got
            elif seen != got:
                return None
    return out


def _recursive(rel: str, rules_by_head: Mapping[str, tuple[Rule, ...]]) -> bool:
    return any((lit.atom if isinstance(lit, Negation) else lit).relation == rel
               for rule in rules_by_head.get(rel, ()) for lit in rule.body if not isinstance(lit, Comparison))


def _strata(needed: set[str], rules_by_head: Mapping[str, list[Rule]]) -> list[list[str]]:
    """The derived relations ``needed`` and those they use, as strongly connected components in an
    order where each comes after the ones it uses.

    Raises:
        Unsupported: a negation inside a recursive component (no stratified order).
    """
    uses: dict[str, set[str]] = {}
    todo = list(needed)
    while todo:
        rel = todo.pop()
        if rel in uses:
            continue
        uses[rel] = {(lit.atom if isinstance(lit, Negation) else lit).relation
                     for rule in rules_by_head.get(rel, ()) for lit in rule.body
                     if not isinstance(lit, Comparison)} & set(rules_by_head)
        todo.extend(uses[rel])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(rel: str) -> None:  # Tarjan: components come out after those they reach
        index[rel] = low[rel] = len(index)
        stack.append(rel)
        on_stack.add(rel)
        for dep in sorted(uses[rel]):
            if dep not in index:
                visit(dep)
                low[rel] = min(low[rel], low[dep])
            elif dep in on_stack:
                low[rel] = min(low[rel], index[dep])
        if low[rel] == index[rel]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == rel:
                    break
            out.append(sorted(component))

    for rel in sorted(uses):
        if rel not in index:
            visit(rel)
    for component in out:
        members = set(component)
        for rel in component:
            for rule in rules_by_head[rel]:
                for lit in rule.body:
                    if isinstance(lit, Negation) and lit.atom.relation in members:
                        raise Unsupported(f"negation of {lit.atom.relation} inside its own recursion in {rule}")
    return out
