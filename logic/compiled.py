"""The request-time rules compiled into Python: the fast decision path.

``rules/*.dl`` stay the one statement of the AWS semantics. pyDatalog answers any query over
them, but one pyDatalog query costs hundreds of microseconds, and a decision needs several. This
module reads the same rules (their parsed AST) and splits them in two:

- **request-independent** relations (no request builtin below them: ``org_level``,
  ``member_account``, ``has_not_action``, …) are materialized once per world, by the engine that
  runs the rules, and indexed by the argument positions the rules look them up by;
- **request-dependent** relations (``candidate``, ``allows``, ``decision``, …) become Python
  functions, one per call pattern (which arguments are bound when the rules call it), evaluated
  top-down in the order the rule bodies are written (a request builtin that reads only the request
  is read first), and memoized per request. A relation whose whole extension for the request is
  asked for anyway, or that is made only of such relations, tables and builtins that read nothing
  but the request, is computed whole once and looked up by its bound arguments; the others
  (resource matching, conditions, principal names) stay demand-driven, so a condition is evaluated
  only for a statement whose Action, Resource and Principal matched. Negation, comparisons and
  builtins keep their meaning; the builtins are the very functions the engine calls, their
  answers kept per request (or per world when they do not read the request).

One solve decides one request: every request-dependent call passes the head's request on (checked
at compile time), so memo keys leave the request out.

The generated source holds only names this module makes (``f3``, ``v7``) and integer indexes:
constants of the rules are reached as ``K[i]``, relations as ``X[i]`` (an index) and builtins as
``B[i]``. No text of a rule, a policy or a request ever becomes code.

Request-dependent relations must not be recursive (the rules' are not); a program where they are
raises :class:`Unsupported`, and the caller uses the engine instead.

A differential test (``tests/properties/test_fastpath.py``) checks on generated worlds and
requests that this path and the engine give the same decision, the same deciding statements,
the same layer verdicts and the same missing keys.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any, Callable, Iterable, Mapping

from .dlcheck import BuiltinSpec, derived_relations
from .engine import EngineError
from .grammar.datalog import Atom, Comparison, Const, Negation, Program, Rule, Var

__all__ = ["CompiledRules", "Unsupported"]

_PY_OPERATORS = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_MISS = object()
_WORLD_MEMO_LIMIT = 1 << 20  # answers of builtins that do not read the request, kept for the world


class Unsupported(Exception):
    """The program has a shape the compiler does not handle; use the engine."""


def _rows(fn: Callable) -> Callable:
    """A builtin's answers as a tuple of rows, from the engine's protocol (rows, or a bool when
    every argument is bound). The generated code keeps them: per request in the request's memo
    when the builtin reads the request, else in the world's."""

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


class _Generator:
    """Writes the Python source of the request-dependent relations, one function per call pattern."""

    def __init__(self, rules_by_head: Mapping[str, list[Rule]], dependent: set[str], tables: set[str],
                 builtins: Mapping[str, BuiltinSpec], request_builtins: frozenset[str],
                 extensions: frozenset[str] = frozenset()):
        self.rules_by_head = rules_by_head
        self.request_builtins = request_builtins
        # relations whose whole extension for the request is computed anyway (some rule asks for
        # it with only the request bound): a call with more arguments bound is a lookup into it
        self.extensions = extensions
        self.ext_specs: list[tuple[tuple[int, ...], str]] = []
        self._ext_slot: dict[tuple, int] = {}
        self.dependent = dependent
        self.tables = tables
        self.builtins = builtins
        self.consts: list[Any] = []
        self._const_slot: dict[tuple, int] = {}
        self.indexes: list[tuple[str, tuple[int, ...], str]] = []
        self._index_slot: dict[tuple, int] = {}
        self.builtin_order: list[str] = []
        self._builtin_slot: dict[str, int] = {}
        self.functions: dict[tuple[str, tuple[bool, ...], str], str] = {}
        self._pending: list[tuple[str, tuple[bool, ...], str]] = []
        self._names = itertools.count()
        self._constant_call: dict[tuple, int] = {}
        self._tails: list[list[str]] = []  # source of the request-independent runs of rule bodies

    # -- slots ------------------------------------------------------------------------------------
    def const(self, value: Any) -> str:
        key = (type(value).__name__, value)
        if key not in self._const_slot:
            self._const_slot[key] = len(self.consts)
            self.consts.append(value)
        return f"K[{self._const_slot[key]}]"

    def index(self, relation: str, positions: tuple[int, ...], mode: str) -> str:
        key = (relation, positions, mode)
        if key not in self._index_slot:
            self._index_slot[key] = len(self.indexes)
            self.indexes.append(key)
        return f"X[{self._index_slot[key]}]"

    def ext(self, relation: str, bound: dict[int, str], mode: str) -> tuple[int, str]:
        """A lookup into the request's extension of ``relation`` by its bound arguments after the first."""
        positions = tuple(sorted(i for i in bound if i != 0))
        key = (relation, positions, mode)
        if key not in self._ext_slot:
            self._ext_slot[key] = len(self.ext_specs)
            self.ext_specs.append((positions, mode))
        whole = self.function(relation, (True,) + (False,) * (len(self.rules_by_head[relation][0].head.args) - 1), "all")
        return self._ext_slot[key], whole

    def _uses_extension(self, relation: str, bound: dict[int, str], arity: int) -> bool:
        return relation in self.extensions and 0 in bound and len(bound) > 1

    def builtin(self, name: str) -> int:
        if name not in self._builtin_slot:
            self._builtin_slot[name] = len(self.builtin_order)
            self.builtin_order.append(name)
        return self._builtin_slot[name]

    def function(self, relation: str, adornment: tuple[bool, ...], kind: str) -> str:
        key = (relation, adornment, kind)
        if key not in self.functions:
            self.functions[key] = f"f{len(self.functions)}"
            self._pending.append(key)
        return self.functions[key]

    def fresh(self, prefix: str = "v") -> str:
        return f"{prefix}{next(self._names)}"

    # -- source -----------------------------------------------------------------------------------
    def source(self) -> str:
        out = ["def build(K, X, B, G, EMPTY):"]
        done: set = set()
        while self._pending:
            key = self._pending.pop(0)
            if key in done:
                continue
            done.add(key)
            out.extend("    " + line for line in self._function(*key))
        for tail in self._tails:
            out.extend("    " + line for line in tail)
        names = ", ".join(f"{name!r}: {name}" for name in self.functions.values())
        out.append(f"    return {{{names}}}")
        self.source_text = "\n".join(out) + "\n"
        return self.source_text

    def _function(self, relation: str, adornment: tuple[bool, ...], kind: str) -> list[str]:
        name = self.functions[(relation, adornment, kind)]
        params = [f"a{i}" for i, bound in enumerate(adornment) if bound]
        rest = params[1:] if adornment[0] else params  # one request a solve: the request is no key
        key = f"({name[1:]}, {', '.join(rest)})" if rest else name[1:]
        lines = [f"def {name}(M{''.join(', ' + p for p in params)}):",
                 f"    k = {key}",
                 "    r = M.get(k, MISS)",
                 "    if r is not MISS:",
                 "        return r"]
        if kind == "all":
            lines.append("    out = set()")
        for rule in self.rules_by_head[relation]:
            lines.extend(self._rule(rule, adornment, kind, indent=1))
        if kind == "all":
            lines += ["    M[k] = out", "    return out"]
        else:
            lines += ["    M[k] = False", "    return False"]
        return lines

    def _rule(self, rule: Rule, adornment: tuple[bool, ...], kind: str, indent: int) -> list[str]:
        lines: list[str] = []
        env: dict[str, str] = {}
        pad = "    " * indent
        for i, (term, bound) in enumerate(zip(rule.head.args, adornment)):
            if not bound:
                continue
            if isinstance(term, Const):
                lines.append(f"{pad}if a{i} == {self.const(term.value)}:")
                indent += 1
                pad = "    " * indent
            elif term.is_anonymous:
                raise Unsupported(f"'_' in the head of {rule}")
            elif term.name in env:
                lines.append(f"{pad}if a{i} == {env[term.name]}:")
                indent += 1
                pad = "    " * indent
            else:
                env[term.name] = f"a{i}"
        indent = self._body(rule, self._hoisted(rule, set(env)), env, indent, lines)
        pad = "    " * indent
        if kind == "all":
            parts = []
            for i, term in enumerate(rule.head.args):
                if adornment[i]:
                    parts.append(f"a{i}")
                elif isinstance(term, Const):
                    parts.append(self.const(term.value))
                elif term.name in env:
                    parts.append(env[term.name])
                else:
                    raise Unsupported(f"head variable {term.name} of {rule} is not bound by its body")
            lines.append(f"{pad}out.add(({', '.join(parts)}{',' if len(parts) == 1 else ''}))")
        else:
            lines += [f"{pad}M[k] = True", f"{pad}return True"]
        return lines

    def _hoisted(self, rule: Rule, bound: set[str]) -> list:
        """The body with the request's own attributes read first: a positive call of a request
        builtin whose inputs the head binds does not depend on the loops before it, so it is
        moved ahead of them (a conjunction means the same in any order that binds inputs first)."""
        first, rest = [], []
        for lit in rule.body:
            spec = self.builtins.get(lit.relation) if isinstance(lit, Atom) else None
            if spec is not None and lit.relation in self.request_builtins and all(
                    isinstance(lit.args[i], Const) or (not lit.args[i].is_anonymous and lit.args[i].name in bound)
                    for i in spec.inputs):
                first.append(lit)
            else:
                rest.append(lit)
        return first + rest

    def _independent(self, lit) -> bool:
        """A literal whose answers do not depend on the request: a table, or a builtin that does not
        read the request (pure: its answers are already kept for the world), or a comparison."""
        if isinstance(lit, Comparison):
            return True
        atom = lit.atom if isinstance(lit, Negation) else lit
        return atom.relation in self.tables or (atom.relation in self.builtins
                                                and atom.relation not in self.request_builtins)

    def _segment_at(self, body: list) -> tuple[int, int] | None:
        """The first run of request-independent literals worth keeping for the world: two literals
        or more, one of them positive, after a request-dependent literal."""
        i = 0
        while i < len(body):
            if not self._independent(body[i]) or i == 0:
                i += 1
                continue
            j = i
            while j < len(body) and self._independent(body[j]):
                j += 1
            if j - i >= 2 and any(isinstance(lit, Atom) for lit in body[i:j]):
                return i, j
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
        name = f"t{slot}"
        inner_env = {v: f"p{i}" for i, v in enumerate(used)}
        body_lines: list[str] = []
        depth = self._body(rule, segment, inner_env, 1, body_lines, segments=False)
        row = ", ".join(inner_env[v] for v in outputs)
        body_lines.append("    " * depth + f"out.add(({row}{',' if len(outputs) == 1 else ''}))")
        self._tails.append([f"def {name}({', '.join(inner_env[v] for v in used)}):", "    out = set()",
                            *body_lines, "    return tuple(out)"])
        pad = "    " * indent
        key, rows, t = self.fresh("k"), self.fresh("r"), self.fresh("t")
        args = ", ".join(env[v] for v in used)
        lines += [f"{pad}{key} = ({-2_000_000 - slot}, {args})" if used else f"{pad}{key} = {-2_000_000 - slot}",
                  f"{pad}{rows} = G.get({key}, MISS)",
                  f"{pad}if {rows} is MISS:",
                  f"{pad}    {rows} = G[{key}] = {name}({args})",
                  f"{pad}for {t} in {rows}:"]
        indent += 1
        pad = "    " * indent
        for i, v in enumerate(outputs):
            env[v] = fresh = self.fresh()
            lines.append(f"{pad}{fresh} = {t}[{i}]")
        return indent

    def _body(self, rule: Rule, body: list, env: dict[str, str], indent: int, lines: list[str],
              segments: bool = True) -> int:
        found = self._segment_at(body) if segments else None
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
                cond = self._exists(rule, lit.atom, env, pad, lines)
                lines.append(f"{pad}if not {cond}:")
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

    def _shape(self, rule: Rule, atom: Atom, env: dict[str, str]):
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

    def _key(self, bound: dict[int, str]) -> str:
        values = list(bound.values())
        return values[0] if len(values) == 1 else f"({', '.join(values)}{',' if len(values) == 1 else ''})"

    def _exists(self, rule: Rule, atom: Atom, env: dict[str, str], pad: str, lines: list[str]) -> str:
        """A condition that is true when some tuple matches the bound arguments (free ones are
        ``_``); lines it needs first are appended to ``lines``."""
        bound, new, same = self._shape(rule, atom, env)
        if new or same:
            raise Unsupported(f"unbound variable in the negation {atom} of {rule}")
        rel, positions = atom.relation, tuple(sorted(bound))
        if rel in self.dependent and self._uses_extension(rel, bound, atom.arity):
            found = self._ext_lookup(rel, bound, "exists", pad, lines)
            return f"{self._key({i: e for i, e in bound.items() if i != 0})} in {found}"
        if rel in self.dependent:
            adornment = tuple(i in bound for i in range(atom.arity))
            args = "".join(f", {bound[i]}" for i in positions)
            return f"{self.function(rel, adornment, 'any')}(M{args})"
        if rel in self.tables:
            if len(positions) == atom.arity:
                return f"({', '.join(bound[i] for i in positions)}{',' if len(positions) == 1 else ''}) in " \
                       f"{self.index(rel, positions, 'set')}"
            if not positions:
                return f"() in {self.index(rel, (), 'exists')}"
            return f"{self._key(bound)} in {self.index(rel, positions, 'exists')}"
        return self._builtin_call(rule, atom, bound, pad, lines)

    def _builtin_call(self, rule: Rule, atom: Atom, bound: dict[int, str], pad: str, lines: list[str]) -> str:
        """The rows of a builtin call (a tuple), memoized: per request when it reads the request,
        else for the world."""
        rel = atom.relation
        spec = self.builtins[rel]
        missing = [i for i in spec.inputs if i not in bound]
        if missing:
            raise Unsupported(f"builtin {rel} called with input {missing[0] + 1} unbound in {rule}")
        slot = self.builtin(rel)
        values = [bound.get(i, "None") for i in range(atom.arity)]
        args = ", ".join(values)
        rows = self.fresh("r")
        if rel in self.request_builtins:
            # one request a solve: the request is no key; a call whose other arguments are
            # constants gets a key of its own
            memo, rest = "M", values[1:]
            if all(v == "None" or v.startswith("K[") for v in rest):
                key = str(self._constant_call.setdefault((slot, tuple(rest)), -1_000_000 - len(self._constant_call)))
            else:
                key = f"({-1 - slot}, {', '.join(rest)})"
        else:
            memo, key = "G", f"({-1 - slot}, {args})"
        if not key.lstrip("-").isdigit():
            name = self.fresh("k")
            lines.append(f"{pad}{name} = {key}")
            key = name
        lines += [f"{pad}{rows} = {memo}.get({key}, MISS)",
                  f"{pad}if {rows} is MISS:",
                  f"{pad}    {rows} = {memo}[{key}] = B[{slot}]({args})"]
        return rows

    def _ext_lookup(self, rel: str, bound: dict[int, str], mode: str, pad: str, lines: list[str]) -> str:
        """The request's extension of ``rel``, indexed by the bound arguments after the first."""
        slot, whole = self.ext(rel, bound, mode)
        found = self.fresh("e")
        lines += [f"{pad}{found} = M.get({-1 - slot})",
                  f"{pad}if {found} is None:",
                  f"{pad}    {found} = EXT(M, {slot}, {whole}, {bound[0]})"]
        return found

    def _atom(self, rule: Rule, atom: Atom, env: dict[str, str], indent: int, lines: list[str]) -> int:
        pad = "    " * indent
        bound, new, same = self._shape(rule, atom, env)
        if not new and not same:
            cond = self._exists(rule, atom, env, pad, lines)
            lines.append(f"{pad}if {cond}:")
            return indent + 1
        rel, positions = atom.relation, tuple(sorted(bound))
        row = self.fresh("t")
        checks: list[str] = []
        if rel in self.dependent and self._uses_extension(rel, bound, atom.arity):
            rest = {i: e for i, e in bound.items() if i != 0}
            source = f"{self._ext_lookup(rel, bound, 'iter', pad, lines)}.get({self._key(rest)}, EMPTY)"
        elif rel in self.dependent:
            adornment = tuple(i in bound for i in range(atom.arity))
            args = "".join(f", {bound[i]}" for i in positions)
            source = f"{self.function(rel, adornment, 'all')}(M{args})"
        elif rel in self.tables:
            if positions:
                source = f"{self.index(rel, positions, 'iter')}.get({self._key(bound)}, EMPTY)"
            else:
                source = self.index(rel, (), "iter")
        else:
            source = self._builtin_call(rule, atom, bound, pad, lines)
            # a builtin is given its bound outputs, and must filter on them; check anyway
            checks += [f"{row}[{i}] == {bound[i]}" for i in self.builtins[rel].outputs if i in bound]
        lines.append(f"{pad}for {row} in {source}:")
        indent += 1
        pad = "    " * indent
        for i, var in new.items():
            env[var] = name = self.fresh()
            lines.append(f"{pad}{name} = {row}[{i}]")
        checks += [f"{row}[{i}] == {env[var]}" for i, var in same]
        if checks:
            lines.append(f"{pad}if {' and '.join(checks)}:")
            indent += 1
        return indent


class CompiledRules:
    """A program's request-dependent rules as Python functions, for a fixed set of entry queries.

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
            with an unbound argument, or an entry whose first argument is not a variable.
    """

    def __init__(self, program: Program, declared: Mapping[str, int], builtins: Mapping[str, BuiltinSpec],
                 request_builtins: Iterable[str], entries: Mapping[str, Atom]):
        rules_by_head: dict[str, list[Rule]] = defaultdict(list)
        for rule in program.rules:
            rules_by_head[rule.head.relation].append(rule)
        derived = derived_relations(program)
        uses: dict[str, set[str]] = defaultdict(set)
        for rule in program.rules:
            for lit in rule.body:
                atom = lit.atom if isinstance(lit, Negation) else lit
                if isinstance(atom, Atom):
                    uses[rule.head.relation].add(atom.relation)
        request_builtins = frozenset(request_builtins)
        dependent: set[str] = set(request_builtins)
        changed = True
        while changed:
            changed = False
            for rel in derived:
                if rel not in dependent and uses[rel] & dependent:
                    dependent.add(rel)
                    changed = True
        self.dependent = frozenset(dependent & set(derived))
        self.independent = frozenset(set(derived) - self.dependent)
        self._check_acyclic(uses)
        tables = set(declared) | set(self.independent)
        for atom in entries.values():
            if not atom.args or not isinstance(atom.args[0], Var) or atom.relation not in self.dependent:
                raise Unsupported(f"entry {atom}: the first argument must be the request of a request-dependent relation")
        for rel in self.dependent:
            for rule in rules_by_head[rel]:
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

        def generate(extensions: frozenset[str]) -> tuple[_Generator, dict[str, str]]:
            gen = _Generator(rules_by_head, set(self.dependent), tables, builtins, frozenset(request_builtins),
                             extensions)
            found = {name: gen.function(atom.relation, (True,) + (False,) * (atom.arity - 1), "all")
                     for name, atom in entries.items()}
            gen.source()
            return gen, found

        first, _ = generate(frozenset())
        whole = {rel for (rel, adornment, kind) in first.functions
                 if kind == "all" and adornment[0] and not any(adornment[1:])}

        def cheap(rel: str) -> bool:
            """Computing the whole extension costs no builtin call that depends on the statement
            at hand (resource matching, conditions, principal names stay demand-driven)."""
            for rule in rules_by_head[rel]:
                for lit in rule.body:
                    atom = lit.atom if isinstance(lit, Negation) else lit
                    if not isinstance(atom, Atom) or atom.relation in tables or atom.relation in whole:
                        continue
                    if atom.relation in request_builtins:  # a cheap one reads the request alone
                        if all(isinstance(atom.args[i], Const) for i in builtins[atom.relation].inputs if i):
                            continue
                        return False
                    if atom.relation in self.dependent:
                        return False
            return True

        grown = True
        while grown:  # also whole: relations made only of whole ones, tables and cheap builtins
            grown = False
            for rel in sorted(self.dependent - whole):
                if cheap(rel):
                    whole.add(rel)
                    grown = True
        gen, self.entries = generate(frozenset(whole))
        self.source = gen.source_text
        #: generated function name → (relation, which arguments are bound, "all" or "any"): for profiles
        self.functions = {name: key for key, name in gen.functions.items()}
        self.consts = tuple(gen.consts)
        self.indexes = tuple(gen.indexes)
        self.builtin_names = tuple(gen.builtin_order)
        ext_specs = tuple(gen.ext_specs)

        def ext(M, slot, whole_fn, req):  # one request a solve: the slot is the key
            positions, mode = ext_specs[slot]
            found = M[-1 - slot] = _build_index(list(whole_fn(M, req)), positions, mode)
            return found

        namespace: dict[str, Any] = {"MISS": _MISS, "EXT": ext}
        exec(compile(self.source, "<iamlogic: compiled rules>", "exec"), namespace)  # generated names only
        self._build = namespace["build"]

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

    def bind(self, table: Callable[[str], Iterable[tuple]], builtins: Mapping[str, Callable]) -> "Solver":
        """The functions over one world's tables (``table(name)`` gives every tuple of a declared
        or request-independent relation) and builtins (the engine's builtin functions)."""
        return Solver(self, table, builtins)


class Solver:
    """Answers the entries of :class:`CompiledRules` for one request at a time."""

    def __init__(self, compiled: CompiledRules, table: Callable[[str], Iterable[tuple]],
                 builtins: Mapping[str, Callable]):
        rows: dict[str, list[tuple]] = {}
        for rel, _, _ in compiled.indexes:
            if rel not in rows:
                rows[rel] = [tuple(t) for t in table(rel)]
        indexes = [_build_index(rows[rel], positions, mode) for rel, positions, mode in compiled.indexes]
        self._world_memo: dict = {}
        wrapped = [_rows(builtins[name]) for name in compiled.builtin_names]
        self._functions = compiled._build(compiled.consts, indexes, wrapped, self._world_memo, ())
        self._entries = {name: self._functions[fn] for name, fn in compiled.entries.items()}

    def solve(self, req: Any) -> dict[str, list[tuple]]:
        """The rows (without the request column) of each entry, for the request ``req``."""
        memo: dict = {}
        out = {}
        if len(self._world_memo) > _WORLD_MEMO_LIMIT:
            self._world_memo.clear()
        try:
            for name, fn in self._entries.items():
                out[name] = [row[1:] for row in fn(memo, req)]
        except (EngineError, Unsupported):
            raise
        except Exception as exc:  # a failing builtin fails the decision, never a silent "no answer"
            raise EngineError(f"the compiled rules failed while answering: {type(exc).__name__}: {exc}") from exc
        return out


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
    return dict(index)
