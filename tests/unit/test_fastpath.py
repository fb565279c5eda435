"""The compiled rules (the fast decision path), the decision cache and the scoped query API."""

from __future__ import annotations

import re

import pytest

from iamlogic import World, loads
from iamlogic.compile import compile_world
from iamlogic.compiled import CompiledRules, Unsupported
from iamlogic.dlcheck import BuiltinSpec
from iamlogic.evaluate import Evaluator, compiled_rules
from iamlogic.grammar.datalog import Atom, Var, parse_program, parse_query
from iamlogic.grammar.diagnostics import InvalidInput

WORLD = '''
account 111122223333 "dev" {
  user alice {
    policy P {
      allow s3:GetObject on "arn:aws:s3:::b/*" when StringEquals custom:flag "1"
      allow sqs:SendMessage on * when Bool aws:SecureTransport "true"
    }
  }
  resource "arn:aws:s3:::b"
}
'''


def test_the_shipped_rules_compile_and_decisions_use_them():
    world = loads(WORLD)
    assert world.evaluator().path == "compiled"
    assert world.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": "1"}).decision == "Allow"


def test_generated_source_holds_no_text_of_the_rules():
    compiled = compiled_rules()
    constants = {c for c in compiled.consts if isinstance(c, str)}
    assert {"Allow", "ExplicitDeny", "identity", "resource"} <= constants
    for text in constants:
        assert repr(text) not in compiled.source and f'"{text}"' not in compiled.source
    for rel in ("candidate", "statement_applies", "decision"):  # relation names are not in it either
        assert rel not in compiled.source


def test_request_independent_relations_are_tables_and_the_rest_functions():
    compiled = compiled_rules()
    assert {"org_level", "member_account", "policy_action_key", "account_ancestor"} <= compiled.independent
    assert {"candidate", "allows", "decision", "conditions_reached"} <= compiled.dependent


def test_recursion_among_request_dependent_relations_is_refused():
    program = parse_program("reach(R, X) :- req(R, X). reach(R, Y) :- reach(R, X), edge(X, Y).")
    with pytest.raises(Unsupported, match="recursion"):
        CompiledRules(program, {"edge": 2}, {"req": BuiltinSpec(inputs=(0,), outputs=(1,))}, {"req"},
                      {"reach": Atom("reach", (Var("R"), Var("X")))})


def test_an_evaluator_without_compiled_rules_uses_the_engine():
    world = loads(WORLD)

    ev = Evaluator(compile_world(world.model, with_catalog=False), compiled=False)
    assert ev.path == "engine"
    r = ev.resolve("alice", "sqs:SendMessage", "*", {"aws:SecureTransport": "true"})
    assert ev.decide([r])[0].decision == "Allow"
    d = world.check("alice", "sqs:SendMessage", "*", {"aws:SecureTransport": "true"})
    assert ev.verdicts_many([("alice", "sqs:SendMessage", "*", {"aws:SecureTransport": "true"}, None, None)]) == [
        (d.decision, d.statements, d.missing_context, d.warnings)]


def test_the_decision_cache_answers_a_repeated_request_with_the_same_decision():
    world = loads(WORLD)
    first = world.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": "1"})
    assert world.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": "1"}) is first
    assert len(world.evaluator().decisions) == 1


def test_the_decision_cache_tells_true_from_1_and_lists_from_strings():
    world = loads(WORLD)
    assert world.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": 1}).decision == "Allow"
    # True == 1 in Python; as a context value True is "true", which the condition does not match
    assert world.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": True}).decision == "ImplicitDeny"
    assert world.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": "2"}).decision == "ImplicitDeny"
    for value in (["1"], "1", ["1", "2"], 1.0):  # each as a fresh world decides it
        expected = loads(WORLD).check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": value})
        assert world.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": value}).decision == \
            expected.decision, value


def test_a_changed_world_never_answers_from_the_old_cache():
    world = World()
    world.add_account("111122223333", "dev").add_user("bob", policies={"P": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}})
    assert world.check("bob", "s3:GetObject", "*").decision == "Allow"
    world.add_aws_policy("Unused", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]})
    world.add_account("444455556666", "other")
    assert world.evaluator().decisions.get(("bob", "s3:GetObject", "*", None, None)) is None
    assert world.check("bob", "s3:GetObject", "*").decision == "Allow"


def test_requests_with_a_session_policy_are_never_answered_from_the_cache():
    world = loads(WORLD_WITH_ROLE)
    session = "arn:aws:sts::111122223333:assumed-role/R/s"
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}
    assert world.check(session, "sqs:SendMessage", "*", session_policy=allow).decision == "Allow"
    assert world.check(session, "sqs:SendMessage", "*", session_policy=deny).decision == "ImplicitDeny"
    assert world.check(session, "sqs:SendMessage", "*").decision == "Allow"  # no session policy: the role's
    assert world.check(session, "sqs:SendMessage", "*", session_policy=deny).decision == "ImplicitDeny"
    assert len(world.evaluator().decisions) == 1


def test_a_session_policy_that_fills_a_table_the_world_left_empty_is_read():
    # the world has no NotResource nor NotAction: its functions are compiled without their rules
    # until a session policy brings one (CompiledRules.specialized)
    world = loads(WORLD_WITH_ROLE)
    session = "arn:aws:sts::111122223333:assumed-role/R/s"
    assert world.check(session, "sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q").decision == "Allow"
    assert {"statement_not_resource", "policy_not_action"} <= world.evaluator()._solver.compiled.empty
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:sqs:us-east-1:111122223333:secret"}]}
    decide = lambda queue: world.check(session, "sqs:SendMessage", f"arn:aws:sqs:us-east-1:111122223333:{queue}",
                                       session_policy=policy).decision
    assert decide("q") == "Allow" and decide("secret") == "ImplicitDeny"
    assert "statement_not_resource" not in world.evaluator()._solver.compiled.empty


WORLD_WITH_ROLE = '''
account 111122223333 "dev" {
  role R {
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:root" }
    policy P { allow sqs:* on * }
  }
}
'''


def test_query_scopes_requests_and_reads_every_relation():
    world = loads(WORLD)
    ev = world.evaluator()
    r = ev.resolve("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": "1"})
    rows = ev.query(parse_query(f'?- decision("{r.id}", D).'), [r])
    assert rows == [("Allow",)]
    assert ev.query(parse_query(f'?- decision("{r.id}", D).')) == []  # out of scope: no request
    reached = ev.query(parse_query(f'?- conditions_reached("{r.id}", S).'), [r])
    assert len(reached) == 1


def test_the_fast_path_and_the_engine_report_the_same_missing_keys():
    world = loads(WORLD)
    ev = world.evaluator()
    fast = ev.decide([ev.resolve("alice", "sqs:SendMessage", "*")])[0]
    slow = ev.decide([ev.resolve("alice", "sqs:SendMessage", "*")], engine=True)[0]
    assert fast.missing_context == slow.missing_context == ("aws:SecureTransport",)
    # the s3 statement's condition is not reached (its action does not match): its key is not reported
    assert "custom:flag" not in fast.missing_context


def test_layer_verdicts_are_assembled_on_first_access_and_compare_by_value():
    world = loads(WORLD)
    ev = world.evaluator()
    first = ev.decide_one("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": "1"})
    second = ev.decide([ev.resolve("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": "1"})])[0]
    assert first._layers is None  # not built yet
    assert first == second and hash(first) == hash(second)
    assert first.layers is first.layers  # built once
    assert [v.layer for v in first.layers] == ["resource-based policy", "identity-based policies"]
    assert first.layers[1].verdict == "allow" and first.layers[1].statements == first.statements
    other = ev.decide_one("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"custom:flag": "2"})
    assert other != first and other.layers[1].verdict == "no allow"


def test_a_cached_decision_keeps_no_request_and_proves_the_same_derivation_twice():
    import gc

    from iamlogic.decision import StatementRef
    from iamlogic.evaluate import Request

    world = loads(WORLD)
    context = {"custom:flag": ["1", "2"], "aws:SecureTransport": True}
    d = world.check("alice", "s3:GetObject", "arn:aws:s3:::b/k", context)
    todo, seen, held = [d], set(), []
    while todo:  # what the decision holds, short of the evaluator (which holds the whole world)
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, Evaluator) or isinstance(obj, type):
            continue
        seen.add(id(obj))
        assert not isinstance(obj, Request)
        if gc.is_tracked(obj) and not isinstance(obj, (tuple, StatementRef)):
            held.append(type(obj).__name__)
        todo.extend(gc.get_referents(obj))
    # the decision and one object for its layers and proof: no closures, partials or bound methods
    assert sorted(held) == ["Decision", "_Derivation"]
    context["custom:flag"].append("3")  # the caller's context may change afterwards
    assert d.proof().render() == d.proof().render()
    assert d.proof().judgement.startswith('decision("req') and d.proof().judgement.endswith(f'"{d.decision}")')


def test_the_compiler_runs_any_program_of_the_supported_shape_bottom_up():
    # builtins that answer by the engine's protocol without declaring it: rows from a generator,
    # and a test answered with rows rather than a bool
    program = parse_program(
        "tag(R, T) :- req(R, X), label(X, T).\n"
        "hot(R) :- tag(R, T), big(T).\n"
        "cold(R) :- req(R, _), not hot(R).\n"
        "pair(R, T, U) :- tag(R, T), tag(R, U), T != U.\n")
    requests = {"r1": ["a", "b"], "r2": ["c"]}

    def req(r, x):
        return ((r, v) for v in requests.get(r, ()) if x is None or x == v)

    def big(t):
        return [(t,)] if t.startswith("big") else []

    tables = {"label": [("a", "big-a"), ("b", "small-b"), ("b", "big-b2"), ("c", "small-c")]}
    specs = {"req": BuiltinSpec(inputs=(0,), outputs=(1,)), "big": BuiltinSpec(inputs=(0,))}
    entries = {"tag": Atom("tag", (Var("R"), Var("T"))), "hot": Atom("hot", (Var("R"),)),
               "cold": Atom("cold", (Var("R"),)), "pair": Atom("pair", (Var("R"), Var("T"), Var("U")))}
    compiled = CompiledRules(program, {"label": 2}, specs, {"req"}, entries)
    solver = compiled.bind(lambda name: tables[name], {"req": req, "big": big})
    r1, r2 = solver.solve("r1"), solver.solve("r2")
    assert sorted(r1["tag"]) == [("big-a",), ("big-b2",), ("small-b",)]
    assert r1["hot"] == [()] and r1["cold"] == []
    assert r2["hot"] == [] and r2["cold"] == [()]
    assert len(r1["pair"]) == 6 and r2["pair"] == []


def test_a_builtin_that_answers_an_attribute_of_the_request_is_read_inline_as_its_rows():
    # the builtin itself is never called for the request's rows; an absent value (None) gives none
    program = parse_program("owned(R, A) :- acct(R, A), known(A).\nloose(R) :- req(R), not owned(R, _).\n"
                            "some(R) :- acct(R, _).\n")

    class Asked:
        def __init__(self, account):
            self.account = account

    def refused(*args):
        raise AssertionError(f"called {args}")

    specs = {"acct": BuiltinSpec(inputs=(0,), outputs=(1,), attribute="account"), "req": BuiltinSpec(inputs=(0,))}
    entries = {"owned": Atom("owned", (Var("R"), Var("A"))), "loose": Atom("loose", (Var("R"),)),
               "some": Atom("some", (Var("R"),))}
    compiled = CompiledRules(program, {"known": 1}, specs, {"acct", "req"}, entries)
    assert ".account" in compiled.source
    solver = compiled.bind(lambda name: [("111",)], {"acct": refused, "req": lambda r: True})
    assert solver.solve(Asked("111")) == {"owned": [("111",)], "loose": [], "some": [()]}
    assert solver.solve(Asked("222")) == {"owned": [], "loose": [()], "some": [()]}
    assert solver.solve(Asked(None)) == {"owned": [], "loose": [()], "some": []}


def test_a_rule_that_only_tests_one_value_is_one_set_expression_and_means_the_same():
    program = parse_program(
        "seen(R, X) :- req(R, X).\n"
        "gone(R, X) :- req(R, X), bad(X).\n"
        "kept(R, X) :- seen(R, X), listed(X), not gone(R, X), not banned(X).\n"
        "kept(R, X) :- seen(R, X), extra(X).\n"
        "lone(R, X) :- seen(R, X), not listed(X).\n")
    tables = {"listed": [("a",), ("b",), ("c",), ("d",)], "banned": [("b",)], "bad": [("c",)], "extra": [("e",)]}
    specs = {"req": BuiltinSpec(inputs=(0,), outputs=(1,))}
    entries = {name: Atom(name, (Var("R"), Var("X"))) for name in ("kept", "lone")}
    compiled = CompiledRules(program, {name: 1 for name in tables}, specs, {"req"}, entries)
    assert re.search(r"\bs\d+ \|= \(s\d+ & X\d+\) - s\d+ - X\d+\n", compiled.source)
    assert re.search(r"\bs\d+ \|= s\d+ - X\d+\n", compiled.source)
    solver = compiled.bind(lambda name: tables[name], {
        "req": lambda r, x: tuple((r, v) for v in ("abcde" if r == "r" else "") if x in (None, v))})
    found = solver.solve("r")
    assert sorted(found["kept"]) == [("a",), ("d",), ("e",)]
    assert found["lone"] == [("e",)]
    alone = _by_request(solver, [solver.solve_raw("r")])[0]
    assert _by_request(solver, solver.solve_many(["r", "q"])) == [alone, {"kept": [], "lone": []}]


def test_a_world_without_rows_of_a_table_gets_the_rules_compiled_without_what_needs_one():
    program = parse_program(
        "seen(R, X) :- req(R, X).\n"
        "gone(R, X) :- seen(R, X), bad(X).\n"  # no rule left where bad has no row: gone has none either
        "kept(R, X) :- seen(R, X), not gone(R, X), not banned(X).\n"
        "extra(R, X) :- seen(R, X), special(X).\n"
        "some(R) :- extra(R, _).\n"
        "some(R) :- kept(R, _).\n")
    specs = {"req": BuiltinSpec(inputs=(0,), outputs=(1,))}
    entries = {"kept": Atom("kept", (Var("R"), Var("X"))), "extra": Atom("extra", (Var("R"), Var("X"))),
               "some": Atom("some", (Var("R"),))}
    compiled = CompiledRules(program, {"bad": 1, "banned": 1, "special": 1}, specs, {"req"}, entries)
    builtins = {"req": lambda r, x: tuple((r, v) for v in ("abc" if r == "r" else "") if x in (None, v))}

    def answers(tables):
        solver = compiled.bind(lambda name: tables[name], builtins)
        alone = [_by_request(solver, [solver.solve_raw(r)])[0] for r in ("r", "q")]
        assert _by_request(solver, solver.solve_many(["r", "q"])) == alone
        return solver, alone[0]

    solver, found = answers({"bad": [], "banned": [("b",)], "special": []})
    assert solver.compiled is compiled.specialized(frozenset({"bad", "special"})) and solver.compiled is not compiled
    assert len(solver.compiled.indexes) == 1  # banned alone is read
    assert found == {"kept": ["a", "c"], "extra": [], "some": True}
    solver, found = answers({"bad": [("a",)], "banned": [], "special": [("c",)]})
    assert solver.compiled is compiled.specialized(frozenset({"banned"}))
    assert found == {"kept": ["b", "c"], "extra": ["c"], "some": True}
    solver, found = answers({"bad": [("a",)], "banned": [("b",)], "special": [("a",)]})
    assert solver.compiled is compiled  # every table has rows: the rules as compiled
    assert found == {"kept": ["c"], "extra": ["a"], "some": True}


def test_request_independent_relations_are_computed_bottom_up_by_strata():
    # a recursive stratum until nothing new, then a negation of the complete relation
    program = parse_program(
        "path(X, Y) :- edge(X, Y).\n"
        "path(X, Z) :- path(X, Y), edge(Y, Z).\n"
        "cut(X, Y) :- node(X), node(Y), X != Y, not path(X, Y).\n"
        "hit(R, Y) :- req(R, X), cut(X, Y).\n")
    tables = {"edge": [(1, 2), (2, 3), (3, 1), (4, 4)], "node": [(1,), (2,), (3,), (4,)]}
    specs = {"req": BuiltinSpec(inputs=(0,), outputs=(1,))}
    compiled = CompiledRules(program, {"edge": 2, "node": 1}, specs, {"req"},
                             {"hit": Atom("hit", (Var("R"), Var("Y")))})
    assert compiled.strata == [["path"], ["cut"]]
    found = compiled.materialize(lambda name: tables[name], {})
    assert found["path"] == {(a, b) for a in (1, 2, 3) for b in (1, 2, 3)} | {(4, 4)}
    assert found["cut"] == {(a, 4) for a in (1, 2, 3)} | {(4, a) for a in (1, 2, 3)}
    solver = compiled.bind(lambda name: tables[name], {"req": lambda r, x: ((r, 4),) if x in (None, 4) else ()})
    assert sorted(solver.solve("r")["hit"]) == [(1,), (2,), (3,)]


def test_a_negation_inside_a_recursion_is_refused():
    program = parse_program("odd(X) :- num(X), not even(X). even(X) :- num(X), not odd(X). "
                            "pick(R, X) :- req(R, X), odd(X).")
    with pytest.raises(Unsupported, match="negation"):
        CompiledRules(program, {"num": 1}, {"req": BuiltinSpec(inputs=(0,), outputs=(1,))}, {"req"},
                      {"pick": Atom("pick", (Var("R"), Var("X")))})


def test_a_world_loaded_to_decide_does_not_build_the_engine_until_asked():
    world = loads(WORLD)
    ev = world.evaluator()
    assert world.check("alice", "sqs:SendMessage", "*", {"aws:SecureTransport": "true"}).decision == "Allow"
    assert ev._engine is None
    assert ev.facts("principal") == ev.engine.materialize("principal")  # built on first use
    assert ev._engine is not None


def _tagged_solver(tests: bool = False):
    """A program whose answer depends on a request's kind and on which labels match it; requests
    carry a note no rule reads. ``tests``: the tree tests a label on the request alone."""
    program = parse_program(
        "hit(R, T) :- kind(R, K, _), label(K, T), match(R, T).\n"
        "some(R) :- hit(R, _).\n"
        "none(R) :- kind(R, _, _), not some(R).\n")
    requests = {"r1": ("k1", {"a"}, "note-1"), "r2": ("k1", {"a"}, "note-2"), "r3": ("k1", {"b"}, "note-3"),
                "r4": ("k2", {"a"}, "note-4"), "r5": ("k1", {"a", "b"}, "note-5")}
    calls = []

    def kind(r, k, note) -> tuple:
        calls.append(("kind", r))
        found = requests[r]
        return ((r, found[0], found[2]),) if k in (None, found[0]) else ()

    def match(r, t) -> bool:
        calls.append(("match", r, t))
        return t in requests[r][1]

    specs = {"kind": BuiltinSpec(inputs=(0,), outputs=(1, 2)), "match": BuiltinSpec(inputs=(0, 1))}
    entries = {"hit": Atom("hit", (Var("R"), Var("T"))), "none": Atom("none", (Var("R"),))}
    compiled = CompiledRules(program, {"label": 2}, specs, {"kind", "match"}, entries)
    tables = {"label": [("k1", "a"), ("k1", "b"), ("k2", "a")]}
    alone = {"match": lambda read, t: None if read is not None else lambda r: t in requests[r][1]} if tests else None
    return compiled, compiled.bind(lambda name: tables[name], {"kind": kind, "match": match}, tests=alone), calls


def test_a_request_whose_calls_get_the_same_answers_reuses_the_entries_of_another():
    compiled, solver, calls = _tagged_solver()
    assert compiled.request_reads == {"kind": (1,), "match": None}  # the note is never read
    expected = {"r1": ["a"], "r2": ["a"], "r3": ["b"], "r4": ["a"], "r5": ["a", "b"]}
    for _ in range(3):  # recorded, then reused (no hint given: every request goes through the tree)
        for r, hits in expected.items():
            found = solver.solve(r)
            assert sorted(t for (t,) in found["hit"]) == hits and found["none"] == [], r
    assert solver.conflicts == 0 and solver.reused > 0
    # a reused answer makes the calls the solve made, for the request asking, and nothing more
    calls.clear()
    before = solver.reused
    assert solver.solve("r2")["hit"] == [("a",)]
    assert solver.reused == before + 1
    assert sorted(calls) == [("kind", "r2"), ("match", "r2", "a"), ("match", "r2", "b")]


def test_a_request_that_answers_one_call_otherwise_is_solved_again():
    _, solver, _ = _tagged_solver()
    for r in ("r1", "r1", "r1"):
        solver.solve(r)
    solved = solver.solved
    assert sorted(solver.solve("r5")["hit"]) == [("a",), ("b",)]
    assert solver.solved == solved + 1  # "b" matches r5, not r1: a new branch of the tree
    assert sorted(solver.solve("r3")["hit"]) == [("b",)]


def test_a_node_of_the_tree_with_a_test_of_the_request_alone_calls_it_instead_of_the_builtin():
    _, plain, _ = _tagged_solver()
    _, solver, calls = _tagged_solver(tests=True)
    for r in ("r1", "r1", "r3", "r3", "r5"):
        solver.solve(r)
    assert solver.reused == 2
    calls.clear()
    for r in ("r1", "r2", "r3", "r5"):  # the answers of a branch seen: walked, with no call of match
        assert solver.solve(r) == plain.solve(r)
    assert solver.reused == 6 and calls == [("kind", r) for r in ("r1", "r2", "r3", "r5")]


def test_a_solve_whose_calls_disagree_with_the_tree_stops_reuse_and_keeps_its_answer():
    _, solver, _ = _tagged_solver()
    for r in ("r1", "r1", "r1"):
        solver.solve(r)
    key = next(iter(solver._root))
    solver._trace[:] = [(len, ("other",), bool, True)]  # as if the same answers had led to another call
    solver._keep(key, ())
    assert solver.conflicts == 1 and not solver.reuse and not solver._root
    assert [t for (t,) in solver.solve("r1")["hit"]] == ["a"]


def _asked(world, name: str) -> list[tuple]:
    """The arguments after the request of each call of the evaluator's builtin ``name``."""
    ev = world.evaluator()
    asked: list[tuple] = []
    builtin = getattr(ev, f"_b_{name}")

    def counted(req, *args):
        asked.append(args)
        return builtin(req, *args)

    setattr(ev, f"_b_{name}", counted)
    ev._bind()  # (its tree calls what the solver was given)
    return asked


def test_requests_on_resources_no_rule_tells_apart_share_their_work():
    world = loads(WORLD)
    ev = world.evaluator()
    asked = _asked(world, "condition_holds")
    keys = [f"arn:aws:s3:::b/k{i}" for i in range(20)]
    for _ in range(2):
        ev.decisions.clear()
        for k in keys:
            assert world.check("alice", "s3:GetObject", k, {"custom:flag": "1"}).decision == "Allow"
            assert world.check("alice", "s3:GetObject", k).decision == "ImplicitDeny"
    solver = ev._solver
    # the first request of alice and s3:GetObject is solved without the tree, the next two record
    # their calls (the condition holds for one, not for the other), and the other 77 (of two
    # rounds) reuse their work
    assert solver.solved == 3 and solver.reused == 77 and solver.conflicts == 0
    assert len(asked) == 3  # the condition: asked by the solves; the tree tests it on the request alone
    assert world.check("alice", "s3:GetObject", "arn:aws:s3:::c/k", {"custom:flag": "1"}).decision == "ImplicitDeny"
    ev.forget()  # the decision cache and the tree: the next request is solved afresh
    solved = solver.solved
    assert world.check("alice", "s3:GetObject", keys[0], {"custom:flag": "1"}).decision == "Allow"
    assert solver.solved == solved + 1 and len(ev.decisions) == 1


PATTERNS_WORLD = '''
account 111122223333 "dev" {
  user alice {
    policy P {
      allow s3:GetObject on "arn:aws:s3:::b/*"
      allow s3:GetObject on "arn:aws:s3:::home/${aws:username}/*"
      deny s3:GetObject on "arn:aws:s3:::b/secret/*"
    }
  }
  resource "arn:aws:s3:::b"
  resource "arn:aws:s3:::home"
}
'''


def test_the_tree_tests_a_plain_resource_pattern_on_the_resource_alone_and_a_variable_one_by_the_builtin():
    world = loads(PATTERNS_WORLD)
    ev = world.evaluator()
    asked = _asked(world, "resource_matches")
    keys = ["b/k0", "home/alice/k0", "b/secret/k0", "home/bob/k0"]
    expected = ["Allow", "Allow", "ExplicitDeny", "ImplicitDeny"]
    for i in range(6):  # solved without the tree, recorded, then walked
        for key, want in zip(keys, expected):
            assert world.check("alice", "s3:GetObject", f"arn:aws:s3:::{key}{i}").decision == want
    solver = ev._solver
    assert solver.reused >= 12 and solver.conflicts == 0
    asked.clear()
    before = solver.reused
    for key, want in zip(keys, expected):
        assert world.check("alice", "s3:GetObject", f"arn:aws:s3:::{key}x").decision == want
    assert solver.reused == before + 4
    # the walk asks the builtin for the pattern with a variable alone
    assert asked and {pattern for _, pattern in asked} == {"arn:aws:s3:::home/${aws:username}/*"}


NAMED_WORLD = '''
account 111122223333 "dev" {
  role R { trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:root" } }
  role Q { trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:root" } }
  resource "arn:aws:s3:::b" {
    policy {
      allow s3:GetObject on "arn:aws:s3:::b/*" principal aws "arn:aws:iam::111122223333:role/R"
      deny s3:GetObject on "arn:aws:s3:::b/*" principal aws "arn:aws:sts::111122223333:assumed-role/R/bad"
    }
  }
}
'''


def test_the_tree_reads_how_a_principal_entry_names_the_caller_without_the_builtin():
    world = loads(NAMED_WORLD)
    ev = world.evaluator()
    asked = _asked(world, "principal_named")
    session = "arn:aws:sts::111122223333:assumed-role/{}/{}"
    callers = {session.format("R", "good"): "Allow", session.format("R", "bad"): "ExplicitDeny",
               session.format("Q", "good"): "ImplicitDeny"}
    for i in range(4):  # each caller: solved without the tree, recorded, then walked
        for caller, want in callers.items():
            assert world.check(caller, "s3:GetObject", f"arn:aws:s3:::b/k{i}").decision == want
    solver = ev._solver
    assert solver.reused >= 6 and solver.conflicts == 0
    asked.clear()
    before = solver.reused
    for caller, want in callers.items():
        assert world.check(caller, "s3:GetObject", "arn:aws:s3:::b/new").decision == want
    assert solver.reused == before + 3 and not asked


def _by_request(solver, found):
    return [{name: sorted(rows) if isinstance(rows, (set, frozenset)) else rows
             for (name, _), rows in zip(solver._entries, entries)} for entries in found]


def test_requests_solved_together_get_the_entries_each_gets_alone():
    compiled, solver, calls = _tagged_solver()
    alone = _by_request(solver, [solver.solve_raw(r) for r in ("r1", "r2", "r3", "r4", "r5")])
    assert alone[4]["hit"] == ["a", "b"] and alone[3]["none"] is False
    calls.clear()
    assert _by_request(solver, solver.solve_many(["r1", "r2", "r3", "r4", "r5"])) == alone
    # a builtin not shared is asked of each request; match only of those whose kind has the label
    assert sorted(c for c in calls if c[0] == "match") == [
        ("match", r, t) for r in ("r1", "r2", "r3", "r4", "r5") for t in ("a", "b") if r != "r4" or t == "a"]
    assert solver.together == 5


@pytest.mark.parametrize("shared, asked", [((1,), ["r1"]), ((2,), ["r1", "r3", "r5"])])
def test_a_builtin_the_requests_share_is_asked_once(shared, asked):
    compiled, _, calls = _tagged_solver()
    requests = {"r1": ("k1", {"a"}, "note-1"), "r3": ("k1", {"b"}, "note-3"), "r5": ("k1", {"a", "b"}, "note-5")}
    solver = compiled.bind(lambda name: {"label": [("k1", "a"), ("k1", "b"), ("k2", "a")]}[name], {
        "kind": lambda r, k, note: calls.append(("kind", r)) or (
            ((r, requests[r][0], requests[r][2]),) if k in (None, requests[r][0]) else ()),
        "match": lambda r, t: t in requests[r][1]}, shared={"kind": shared})
    found = _by_request(solver, solver.solve_many(["r1", "r3", "r5"]))
    assert [f["hit"] for f in found] == [["a"], ["b"], ["a", "b"]]
    # the rules read the kind (column 1), not the note: declared shared in the kind, the builtin
    # is asked once; declared shared only in the note, which they do not read, it is asked of each
    assert compiled.request_reads["kind"] == (1,)
    assert [r for c, r in calls] == asked
    assert found == _by_request(solver, [solver.solve_raw(r) for r in ("r1", "r3", "r5")])


def test_check_many_decides_the_requests_of_one_principal_and_action_together():
    world = loads(WORLD)
    ev = world.evaluator()
    requests = [("alice", "s3:GetObject", f"arn:aws:s3:::{b}/k{i}", ctx)
                for b in ("b", "c") for i in range(10) for ctx in ({"custom:flag": "1"}, None)]
    together = world.check_many(requests)
    assert ev._solver.together == len(requests)
    ev.forget()
    alone = [world.check(*r) for r in requests]
    assert [(d.decision, d.statements, d.missing_context, d.warnings) for d in together] == [
        (d.decision, d.statements, d.missing_context, d.warnings) for d in alone]
    assert {d.decision for d in together} == {"Allow", "ImplicitDeny"}


def test_runs_end_where_the_key_changes_and_keep_equal_keys_together():
    from iamlogic.world import runs

    items = list("aaabbbbcdd")
    assert runs(items, 2, lambda x: x) == [list("aaa"), list("bbbb"), list("cdd")]
    assert runs(items, 5, lambda x: x) == [list("aaabbbb"), list("cdd")]
    assert runs([], 3, lambda x: x) == []
    assert sum(runs(items, 1, lambda x: x), []) == items


def test_requests_decided_together_each_carry_the_note_of_a_canonical_user_entry():
    world = loads('''
account 111122223333 "dev" {
  user alice {
    policy P { allow s3:GetObject on * }
  }
  resource "arn:aws:s3:::b" {
    policy {
      allow s3:GetObject on "arn:aws:s3:::b/*"
        principal canonical_user "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
    }
  }
}
''')
    requests = [("alice", "s3:GetObject", f"arn:aws:s3:::b/k{i}") for i in range(10)]
    together = world.check_many(requests)
    assert world.evaluator()._solver.together == len(requests)
    world.evaluator().forget()
    alone = [world.check(*r) for r in requests]
    assert all(any("CanonicalUser" in w for w in d.warnings) for d in together)
    assert [(d.decision, d.statements, d.warnings) for d in together] == [
        (d.decision, d.statements, d.warnings) for d in alone]


def test_verdicts_many_says_what_decide_many_decides_request_by_request():
    world = loads('''
account 111122223333 "dev" {
  resource "arn:aws:ec2:eu-central-1:111122223333:instance/i-1" { tags { Project = "Data" } }
  resource "arn:aws:ec2:eu-central-1:111122223333:instance/i-2" { tags { Project = "Web" } }
  resource "arn:aws:s3:::b" {
    policy {
      allow s3:GetObject on "arn:aws:s3:::b/*"
        principal canonical_user "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
    }
  }
  role R {
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:user/alice" }
  }
  role Q { trust { allow sts:AssumeRole principal service "ec2.amazonaws.com" } }
  user alice {
    policy P {
      allow ec2:StartInstances on * when StringEquals ec2:ResourceTag/Project "Data"
      deny ec2:StartInstances on * when NumericLessThan aws:MultiFactorAuthAge "300"
      allow s3:GetObject on *
      allow sts:AssumeRole on *
    }
  }
}
''')
    ev = world.evaluator()
    instances = [f"arn:aws:ec2:eu-central-1:111122223333:instance/i-{i}" for i in (1, 2, 3)]
    items = [("alice", "ec2:StartInstances", r, c, None, None)
             for r in instances for c in (None, {"aws:MultiFactorAuthAge": "60"}, {"aws:MultiFactorAuthAge": "x"})]
    items *= 3  # a run long enough to be decided together
    items += [("alice", "s3:GetObject", f"arn:aws:s3:::b/k{i}", None, None, None) for i in range(10)]
    items += [("alice", "sts:AssumeRole", f"arn:aws:iam::111122223333:role/{r}", None, None, None) for r in "RQ"]
    items += [("alice", "ec2:NoSuchAction", "*", None, None, None)]
    verdicts = ev.verdicts_many(items)
    ev.forget()
    decisions = ev.decide_many(items)
    assert verdicts == [(d.decision, d.statements, d.missing_context, d.warnings) for d in decisions]
    kinds = {v[0] for v in verdicts}
    assert kinds == {"Allow", "ExplicitDeny", "ImplicitDeny"}
    assert any(v[2] for v in verdicts) and any("named choice" in w or "NumericLessThan" in w
                                               for v in verdicts for w in v[3])
    assert any("CanonicalUser" in w for v in verdicts for w in v[3])
    assert any("trust policy or KMS key policy" in w for v in verdicts for w in v[3])
    # requests no entry tells apart, with the same keys missing and the same warnings, share one tuple
    first = verdicts[:9]
    assert all(v is w for v, w in zip(first, verdicts[9:18]))
    # a row (one principal, action and context on several resources) says what verdicts_many says,
    # by the compiled rules and by the engine alone
    engine = Evaluator(compile_world(world.model, with_catalog=False), compiled=False)
    for c in (None, {"aws:MultiFactorAuthAge": "60"}):
        row = [("alice", "ec2:StartInstances", r, c, None, None) for r in instances * 3]
        assert ev.verdicts_row("alice", "ec2:StartInstances", instances * 3, c) == ev.verdicts_many(row)
        assert engine.verdicts_row("alice", "ec2:StartInstances", instances, c) == ev.verdicts_many(row[:3])


def test_verdicts_many_reads_each_request_with_its_own_context_when_contexts_compare_equal():
    # Requests of one principal and action with the same context object are made as a row; a
    # context equal to the previous one as a dict (True == 1) is still read for itself.
    world = loads('''
account 111122223333 "dev" {
  user alice {
    policy P { allow s3:GetObject on * when Bool aws:MultiFactorAuthPresent "true" }
  }
}
''')
    ev = world.evaluator()
    yes, one = {"aws:MultiFactorAuthPresent": True}, {"aws:MultiFactorAuthPresent": 1}
    assert yes == one
    items = [("alice", "s3:GetObject", f"arn:aws:s3:::b/k{i}", c, None, None)
             for c in (yes, one, None) for i in range(4)]
    verdicts = ev.verdicts_many(items)
    assert [v[0] for v in verdicts] == ["Allow"] * 4 + ["ImplicitDeny"] * 8
    assert verdicts == _each_alone(ev, items)


def _each_alone(ev, items: list[tuple]) -> list[tuple]:
    """The verdict of each request, decided afresh by itself."""
    ev.forget()
    return [(d.decision, d.statements, d.missing_context, d.warnings) for d in (ev.decide_one(*i) for i in items)]


def test_verdicts_many_keeps_the_warnings_of_each_class_of_a_row():
    # The key and the object reach the same statement with the same condition, but only the key
    # needs its own policy to allow (a class warning): their missing keys and warnings are worked
    # out once for both, their warnings are each class's own.
    world = loads('''
account 111122223333 "dev" {
  user alice { policy P { allow kms:Decrypt on * when Bool aws:MultiFactorAuthPresent "true" } }
  resource "arn:aws:kms:us-east-1:111122223333:key/k1"
  resource "arn:aws:s3:::b"
}
''')
    ev = world.evaluator()
    context = {"aws:MultiFactorAuthPresent": "true"}
    resources = ["arn:aws:s3:::b/o", "arn:aws:kms:us-east-1:111122223333:key/k1"] * 6
    for order in (resources, resources[::-1]):
        items = [("alice", "kms:Decrypt", r, context, None, None) for r in order]
        verdicts = ev.verdicts_many(items)
        assert {v[0] for v in verdicts} == {"Allow", "ImplicitDeny"}
        assert verdicts == _each_alone(ev, items)


def test_requests_decided_together_evaluate_a_condition_with_policy_variables_each_for_itself():
    # The condition's key has one value on every request; the variable's value (the principal's
    # tag, which a session tag in the context overrides) differs. Conditions without variables
    # are evaluated once for each value of their key, which would give all these one answer.
    world = loads('''
account 111122223333 "dev" {
  role R {
    trust { allow sts:AssumeRole, sts:TagSession principal aws "arn:aws:iam::111122223333:root" }
    tags { team = "data" }
    policy P {
      allow s3:PutObject on * when StringEquals aws:RequestTag/team "${aws:PrincipalTag/team}"
      allow s3:GetObject on * when StringEquals aws:RequestTag/team "web"
    }
  }
}
''')
    ev = world.evaluator()
    items = [("arn:aws:sts::111122223333:assumed-role/R/s", action, f"arn:aws:s3:::b/k{i}",
              {"aws:RequestTag/team": "web", **({"aws:PrincipalTag/team": "web"} if i % 2 else {})}, None, None)
             for action in ("s3:PutObject", "s3:GetObject") for i in range(10)]
    verdicts = ev.verdicts_many(items)
    assert ev._solver.together == len(items)
    assert [v[0] for v in verdicts[:10]] == ["ImplicitDeny", "Allow"] * 5
    assert {v[0] for v in verdicts[10:]} == {"Allow"}
    ev.forget()
    assert verdicts == [(d.decision, d.statements, d.missing_context, d.warnings) for d in ev.decide_many(items)]


def test_requests_decided_together_report_missing_keys_by_what_the_world_says_of_each_resource():
    # aws:ResourceOrgID of a declared account in no organization is absent, not missing; of an account
    # the world does not declare it is the caller's to give, so missing; likewise a declared resource's tags
    world = loads('''
account 111122223333 "dev" {
  user alice { policy P {
    allow sqs:SendMessage on * when StringEquals aws:ResourceOrgID "o-abc1234567"
    allow sqs:ReceiveMessage on * when StringEquals aws:ResourceTag/team "web"
  } }
  resource "arn:aws:sqs:us-east-1:111122223333:q0" { tags { owner = "x" } }
}
''')
    ev = world.evaluator()
    queues = [f"arn:aws:sqs:us-east-1:{acct}:q{i}" for i in range(5) for acct in ("111122223333", "444455556666")]
    items = [("alice", action, q, None, None, None) for action in ("sqs:SendMessage", "sqs:ReceiveMessage") for q in queues]
    verdicts = ev.verdicts_many(items)
    ev.forget()
    assert verdicts == [(d.decision, d.statements, d.missing_context, d.warnings) for d in ev.decide_many(items)]
    send = {q: v[2] for (_, a, q, *_), v in zip(items, verdicts) if a == "sqs:SendMessage"}
    assert send["arn:aws:sqs:us-east-1:111122223333:q1"] == () and send["arn:aws:sqs:us-east-1:444455556666:q1"]
    receive = {q: v[2] for (_, a, q, *_), v in zip(items, verdicts) if a == "sqs:ReceiveMessage"}
    assert receive["arn:aws:sqs:us-east-1:111122223333:q0"] == () and receive["arn:aws:sqs:us-east-1:111122223333:q1"]


def test_a_context_read_once_is_kept_apart_from_one_equal_to_it_of_another_type():
    """The evaluator keeps each context given as it read it; True == 1 in Python, but a condition
    reads "true" and "1": neither context may take the other's reading."""
    ev = loads(WORLD).evaluator()
    read = []
    for value in (True, 1, True, "1", [True], [True], (True,), (1,)):
        r = ev.resolve("alice", "s3:GetObject", "arn:aws:s3:::b/k", {"aws:MultiFactorAuthPresent": value})
        read.append(r.context["aws:multifactorauthpresent"][1:])
    assert read == [(("true",), False), (("1",), False), (("true",), False), (("1",), False),
                    (("true",), True), (("true",), True), (("true",), True), (("1",), True)]


def test_each_resource_of_an_account_carries_its_owner_keys_and_only_s3_the_s3_one():
    """The keys AWS sets from a resource's owner account are worked out once per account; each of
    its resources still carries them, and only a resource of S3 carries s3:ResourceAccount."""
    ev = loads(WORLD).evaluator()
    asked = ["arn:aws:s3:::b", "arn:aws:sqs:us-east-1:111122223333:q", "arn:aws:s3:::b/k",
             "arn:aws:sqs:us-east-1:111122223333:q2", "arn:aws:sqs:us-east-1:444455556666:q"]
    keys = [{k: v[1] for k, v in ev.resolve("alice", "s3:GetObject", arn).context.items()
             if "resourceaccount" in k} for arn in asked]
    assert keys == [{"aws:resourceaccount": ("111122223333",), "s3:resourceaccount": ("111122223333",)},
                    {"aws:resourceaccount": ("111122223333",)},
                    {"aws:resourceaccount": ("111122223333",), "s3:resourceaccount": ("111122223333",)},
                    {"aws:resourceaccount": ("111122223333",)},
                    {"aws:resourceaccount": ("444455556666",)}]


BUCKET_WORLD = '''
account 111122223333 "dev" {
  user alice {
    policy P { allow s3:GetObject on "arn:aws:s3:::b/*" when StringEquals aws:ResourceTag/team "red" }
  }
  resource "arn:aws:s3:::b" {
    tags { team = "red" }
    abac
    policy { deny s3:GetObject on "arn:aws:s3:::b/private/*" principal * }
  }
  resource "arn:aws:s3:::b/tagged" { tags { class = "secret" } }
}
'''


@pytest.mark.parametrize("bucket_first", [False, True])
def test_an_undeclared_object_reads_its_bucket_and_a_declared_one_its_own_tags(bucket_first):
    """An object the world does not declare is resolved from its bucket (holder, owner, the
    bucket's tags under ABAC), whether the bucket was asked about before or not; an object the
    world tags, and one named with a wildcard, keep what is their own."""
    world = loads(BUCKET_WORLD)
    ev = world.evaluator()
    if bucket_first:
        ev.resolve("alice", "s3:GetObject", "arn:aws:s3:::b")

    def seen(arn):
        r = ev.resolve("alice", "s3:GetObject", arn)
        keys = {k: v[1] for k, v in r.context.items() if k.startswith(("aws:resource", "s3:"))}
        return r.policy_holder, r.resource_account, keys, [n for n in r.notes if "wildcard" in n]

    bucket_keys = {"aws:resourceaccount": ("111122223333",), "s3:resourceaccount": ("111122223333",),
                   "aws:resourcetag/team": ("red",)}
    holder = "arn:aws:s3:::b"
    assert seen("arn:aws:s3:::b/k") == (holder, "111122223333", bucket_keys, [])
    assert seen("arn:aws:s3:::b/private/k") == (holder, "111122223333", bucket_keys, [])
    assert seen("arn:aws:s3:::b/tagged") == (
        holder, "111122223333", {**bucket_keys, "s3:existingobjecttag/class": ("secret",)}, [])
    holder_, account, keys, notes = seen("arn:aws:s3:::b/k*")
    assert (holder_, account, keys, len(notes)) == (holder, "111122223333", bucket_keys, 1)
    assert [world.check("alice", "s3:GetObject", arn).decision
            for arn in ("arn:aws:s3:::b/k", "arn:aws:s3:::b/private/k", "arn:aws:s3:::c/k", "arn:aws:s3:::b/$:x")] == \
        ["Allow", "ExplicitDeny", "ImplicitDeny", "Allow"]
    for malformed in ("arn:aws:s3:::", "arn:aws:s3::b/k"):
        with pytest.raises(InvalidInput, match="E513"):
            ev.resolve("alice", "s3:GetObject", malformed)


def test_an_object_tagged_but_not_declared_by_the_facts_keeps_its_tags():
    """Facts given to an evaluator may tag an object they do not declare: it is not read from its
    bucket alone, and keeps its s3:ExistingObjectTag keys."""
    facts = [f for f in compile_world(loads(BUCKET_WORLD).model)
             if f[:2] != ("resource", "arn:aws:s3:::b/tagged")]
    r = Evaluator(facts).resolve("alice", "s3:GetObject", "arn:aws:s3:::b/tagged")
    assert r.policy_holder == "arn:aws:s3:::b"
    assert r.context["s3:existingobjecttag/class"][1] == ("secret",)


class _Asked:
    """A request with two fields."""

    def __init__(self, who: str, what: str):
        self.who, self.what = who, what


def _fields_solver(fields: tuple[str, ...]):
    """A program reading a request builtin of the request's two fields: as a new variable, bound
    before (a test), named twice (a test), and alone (always true)."""
    program = parse_program(
        "mine(R, X) :- req(R, W, _), owns(W, X), req(R, _, X).\n"
        "selfish(R) :- req(R, W, W).\n"
        "asked(R) :- req(R, _, _).\n"
        "nothing(R) :- asked(R), not mine(R, _), not selfish(R).\n")
    asked = []

    def req(r, who, what) -> tuple:
        asked.append(r)
        return ((r, r.who, r.what),) if who in (None, r.who) and what in (None, r.what) else ()

    specs = {"req": BuiltinSpec(inputs=(), outputs=(0, 1, 2), fields=fields)}
    entries = {name: Atom(name, (Var("R"), Var("X"))) if name == "mine" else Atom(name, (Var("R"),))
               for name in ("mine", "selfish", "nothing")}
    compiled = CompiledRules(program, {"owns": 2}, specs, {"req"}, entries)
    tables = {"owns": [("ann", "doc"), ("ann", "ann"), ("bob", "log")]}
    return compiled, compiled.bind(lambda name: tables[name], {"req": req}), asked


def test_a_builtin_of_the_requests_fields_is_read_once_inline_with_the_answers_of_its_calls():
    generic, plain, asked_plain = _fields_solver(())
    compiled, solver, asked = _fields_solver(("who", "what"))
    assert "B0(" in generic.source and "B0(" not in compiled.source
    assert "((q, q.who, q.what),)" in compiled.source  # the prologue's row, read from the request
    assert compiled.source.count("[0][1]") == 1 and compiled.source.count("[0][2]") == 1  # each field once
    requests = [_Asked("ann", "doc"), _Asked("ann", "log"), _Asked("ann", "ann"), _Asked("bob", "log"),
                _Asked("bob", "doc"), _Asked("eve", "eve")]
    answers = [(sorted(found["mine"]), found["selfish"], found["nothing"])
               for found in map(solver.solve, requests)]
    assert answers == [(sorted(found["mine"]), found["selfish"], found["nothing"])
                       for found in map(plain.solve, requests)]
    assert answers == [([("doc",)], [], []), ([], [], [()]), ([("ann",)], [()], []), ([("log",)], [], []),
                       ([], [], [()]), ([], [()], [])]
    assert asked == [] and asked_plain  # the builtin itself is never called


def test_a_builtin_spec_names_one_field_for_each_argument_after_the_request():
    with pytest.raises(ValueError, match="fields"):
        BuiltinSpec(inputs=(), outputs=(0, 1, 2), fields=("who",))
    with pytest.raises(ValueError, match="fields"):
        BuiltinSpec(inputs=(), outputs=(0, 1), fields=("not a name",))
