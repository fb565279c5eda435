"""The engine boundary: logic/engine.py, the only module that talks to pyDatalog."""

from __future__ import annotations

import doctest
import re
import threading
import time
from pathlib import Path

import pytest

from iamlogic import engine as engine_module
from iamlogic.dlcheck import BuiltinSpec
from iamlogic.engine import Engine, EngineError
from iamlogic.grammar.datalog import Atom, Comparison, Const, Negation, Var, parse_program, parse_query, quote
from iamlogic.schema import RELATIONS
from iamlogic.grammar.diagnostics import IamlogicError, InvalidInput

ROOT = Path(__file__).resolve().parents[2]

ANCESTOR = parse_program(
    """
    anc(X, Y) :- parent(X, Y).
    anc(X, Y) :- anc(X, Z), parent(Z, Y).
    """,
    "anc.dl",
)


def wildcard_match(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def split_colon(text: str, part):
    for piece in text.split(":"):
        yield (text, piece)


BUILTINS = {
    "wildcard_match": (BuiltinSpec(inputs=(0, 1)), wildcard_match),
    "split": (BuiltinSpec(inputs=(0,), outputs=(1,)), split_colon),
}


def make(facts=(), program=None, declared=None, builtins=None) -> Engine:
    engine = Engine(declared or {"parent": 2, "node": 1, "blocked": 1, "pattern": 2}, builtins or BUILTINS)
    engine.add_facts(facts)
    if program is not None:
        engine.add_program(program if not isinstance(program, str) else parse_program(program, "t.dl"))
    return engine


def test_doctests():
    assert doctest.testmod(engine_module).failed == 0


def test_engine_error_is_an_iamlogic_error():
    assert issubclass(EngineError, IamlogicError)


# -- facts and queries ----------------------------------------------------------------------------


def test_facts_and_sorted_deterministic_answers():
    engine = make([("node", "b"), ("node", 10), ("node", "a"), ("node", 2), ("node", "a")])
    assert engine.query("node(X)") == [(2,), (10,), ("a",), ("b",)]
    assert engine.materialize("node") == {("a",), ("b",), (2,), (10,)}


def test_query_forms():
    engine = make([("parent", "a", "b"), ("parent", "b", "c")])
    expected = [("a", "b"), ("b", "c")]
    atom = Atom("parent", (Var("X"), Var("Y")))
    assert engine.query("?- parent(X, Y).") == expected
    assert engine.query(parse_query("parent(X, Y)")) == expected
    assert engine.query(atom) == expected
    assert engine.query([atom, Comparison("!=", Var("X"), Const("a"))]) == [("b", "c")]
    with pytest.raises(TypeError):
        engine.query([])


def test_answer_columns_follow_first_appearance_and_skip_anonymous():
    engine = make([("parent", "a", "b"), ("parent", "b", "c")])
    assert engine.query("parent(_, Y), parent(Y, X)") == [("b", "c")]


def test_ground_queries_answer_true_or_false():
    engine = make([("parent", "a", "b")])
    assert engine.query('parent("a", "b")') == [()]
    assert engine.query('parent("a", "c")') == []
    assert engine.query('parent("a", _)') == [()]


def test_values_keep_their_type():
    engine = make([("parent", "1", 1)])
    assert engine.query("parent(X, Y)") == [("1", 1)]
    assert engine.query('parent("1", 1)') == [()]
    assert engine.query('parent(1, "1")') == []


@pytest.mark.parametrize(
    "fact, message",
    [
        (("nope", "a"), "not a declared relation"),
        (("parnt", "a", "b"), "did you mean 'parent'?"),
        (("parent", "a"), "takes 2 argument(s)"),
        (("node", True), "bool"),
        (("node", 1.5), "float"),
        (("node", None), "NoneType"),
        (("wildcard_match", "a", "b"), "builtin"),
        ("node", "a fact is a tuple"),
        ((), "a fact is a tuple"),
    ],
)
def test_bad_facts_are_refused_and_nothing_is_added(fact, message):
    engine = make()
    with pytest.raises(EngineError, match=re.escape(message)):
        engine.add_facts([("node", "ok"), fact])
    assert engine.query("node(X)") == []


def test_facts_of_a_derived_relation_are_refused():
    engine = make(program="root(X) :- node(X), not parent(_, X).")
    with pytest.raises(EngineError, match="derived relation"):
        engine.add_facts([("root", "a")])


def test_the_schema_can_be_declared():
    engine = Engine({name: rel.arity for name, rel in RELATIONS.items()})
    engine.add_facts([("ou_parent", "ou-1", "r-root")])
    assert engine.query("ou_parent(C, P), not account_parent(_, C)") == [("ou-1", "r-root")]


def test_single_literals_are_queries():
    engine = make([("node", "a"), ("blocked", "a")])
    assert engine.query(Negation(Atom("blocked", (Const("b"),)))) == [()]


def test_bad_declarations_are_refused():
    with pytest.raises(EngineError):
        Engine({"Parent": 2})
    with pytest.raises(EngineError):
        Engine({"p": -1})
    with pytest.raises(EngineError):
        Engine({"x'); import os #": 1})
    with pytest.raises(EngineError):
        Engine({"p": 1}, {"p": (BuiltinSpec(inputs=(0,)), wildcard_match)})
    with pytest.raises(EngineError):
        Engine({}, {"b": (None, wildcard_match)})


# -- programs ---------------------------------------------------------------------------------


def test_program_errors_raise_and_load_nothing():
    engine = make([("parent", "a", "b")])
    text = "anc(X, Y) :- parent(X, Y).\nbad(X) :- nod(X)."
    with pytest.raises(InvalidInput) as info:
        engine.add_program(parse_program(text, "bad.dl"))
    assert [d.code for d in info.value.diagnostics] == ["E410"]
    assert "bad.dl:2:11: E410: unknown relation 'nod'" in info.value.render()
    assert engine.derived == {}
    with pytest.raises(InvalidInput):
        engine.query("anc(X, Y)")  # anc was not loaded


def test_programs_build_on_each_other_and_are_checked_together():
    engine = make([("parent", "a", "b"), ("node", "a"), ("node", "b")])
    engine.add_program(ANCESTOR)
    engine.add_program(parse_program("has_child(X) :- node(X), anc(X, _).", "more.dl"))
    assert engine.query("has_child(X)") == [("a",)]
    assert set(engine.derived) == {"anc", "has_child"}
    engine.add_program(parse_program("q(X) :- blocked(X).\np(X) :- node(X), not q(X).", "p.dl"))
    with pytest.raises(InvalidInput) as info:
        engine.add_program(parse_program("q(X) :- p(X).", "q.dl"))
    assert [d.code for d in info.value.diagnostics] == ["E417"]


def test_add_program_returns_only_new_warnings():
    engine = make()
    (w,) = engine.add_program(parse_program("p(X) :- parent(X, Y).", "w.dl"))
    assert w.code == "W401"
    assert engine.add_program(parse_program("q(X) :- node(X).", "q.dl")) == []


def test_facts_in_a_program_define_a_derived_relation():
    engine = make(program='color("red"). color("blue"). warm(C) :- color(C), C = "red".')
    assert engine.query("color(C)") == [("blue",), ("red",)]
    assert engine.query("warm(C)") == [("red",)]


def test_zero_arity_relations():
    engine = make([("node", "a")], program='any :- node(_). none :- node("zzz").')
    assert engine.query("any") == [()]
    assert engine.query("none") == []
    assert engine.materialize("any") == {()}


# -- negation and comparisons ---------------------------------------------------------------


def test_negation():
    engine = make(
        [("node", "a"), ("node", "b"), ("node", "c"), ("blocked", "b"), ("parent", "a", "b")],
        program="""
        open(X) :- node(X), not blocked(X).
        leaf(X) :- node(X), not parent(X, _).
        """,
    )
    assert engine.query("open(X)") == [("a",), ("c",)]
    assert engine.query("leaf(X)") == [("b",), ("c",)]


def test_negation_over_an_empty_relation_is_vacuously_true():
    engine = make([("node", "a"), ("node", "b")], program="""
        open(X) :- node(X), not blocked(X).
        leaf(X) :- node(X), not parent(X, _).
        never(X) :- node(X), blocked(X).
        fine(X) :- node(X), not never(X).
    """)
    assert engine.query("open(X)") == [("a",), ("b",)]
    assert engine.query("leaf(X)") == [("a",), ("b",)]
    assert engine.query("fine(X)") == [("a",), ("b",)]
    assert engine.query("not blocked(_)") == [()]
    assert engine.query("blocked(X)") == []


def test_negation_in_a_query():
    engine = make([("node", "a"), ("node", "b"), ("blocked", "a")])
    assert engine.query("node(X), not blocked(X)") == [("b",)]


@pytest.mark.parametrize(
    "op, expected",
    [("=", [(2,)]), ("!=", [(1,), (3,)]), ("<", [(1,)]), ("<=", [(1,), (2,)]), (">", [(3,)]), (">=", [(2,), (3,)])],
)
def test_comparisons(op, expected):
    engine = make([("node", 1), ("node", 2), ("node", 3)])
    assert engine.query(f"node(X), X {op} 2") == expected


def test_string_comparisons_and_equality_binding():
    engine = make([("node", "apple"), ("node", "pear")], program='k(X, K) :- node(X), K = "fruit".')
    assert engine.query('node(X), X < "b"') == [("apple",)]
    assert engine.query("k(X, K)") == [("apple", "fruit"), ("pear", "fruit")]
    assert engine.query('node(X), Y = X, Y != "pear"') == [("apple", "apple")]


def test_comparing_a_string_with_an_integer_fails_closed():
    engine = make([("node", "a")])
    with pytest.raises(EngineError):
        engine.query("node(X), X < 3")


# -- builtins ---------------------------------------------------------------------------------


def test_builtin_with_bound_inputs():
    engine = make(
        [("node", "s3:GetObject"), ("node", "s3:PutObject"), ("node", "ec2:RunInstances"), ("pattern", "p1", "s3:Get*")],
        program="""
        covered(A) :- node(A), pattern(_, P), wildcard_match(P, A).
        uncovered(A) :- node(A), pattern(_, P), not wildcard_match(P, A).
        """,
    )
    assert engine.query("covered(A)") == [("s3:GetObject",)]
    assert engine.query("uncovered(A)") == [("ec2:RunInstances",), ("s3:PutObject",)]
    assert engine.query('wildcard_match("s3:*", "s3:x")') == [()]


def test_builtin_outputs():
    engine = make([("node", "a:b"), ("node", "c")], program="part(X, P) :- node(X), split(X, P).")
    assert engine.query("part(X, P)") == [("a:b", "a"), ("a:b", "b"), ("c", "c")]
    assert engine.query('node(X), split(X, "b")') == [("a:b",)]


def test_builtin_with_unbound_input_is_refused_before_the_engine_runs():
    engine = make([("node", "a")])
    with pytest.raises(InvalidInput) as info:
        engine.query("wildcard_match(P, X), node(X)")
    assert {d.code for d in info.value.diagnostics} == {"E416"}


def test_failing_builtins_fail_closed():
    def boom(a, b):
        raise RuntimeError("kaboom")

    def bad_rows(a, b):
        return [("only-one",)]

    def bad_values(a, b):
        return [(a, 1.5)]

    spec = BuiltinSpec(inputs=(0,), outputs=(1,))
    engine = make(
        [("node", "a")],
        builtins={"boom": (spec, boom), "rows": (spec, bad_rows), "values": (spec, bad_values)},
    )
    for name, message in [("boom", "kaboom"), ("rows", "expected 2"), ("values", "expected 2")]:
        with pytest.raises(EngineError, match=message):
            engine.query(f"node(X), {name}(X, Y)")
    assert engine.query("node(X)") == [("a",)]  # the engine still works afterwards


def test_builtin_returning_bool_with_unbound_output_fails_closed():
    engine = make([("node", "a")], builtins={"f": (BuiltinSpec(inputs=(0,), outputs=(1,)), lambda a, b: True)})
    with pytest.raises(EngineError, match="returned a bool"):
        engine.query("node(X), f(X, Y)")


# -- recursion ------------------------------------------------------------------------------------


def test_left_recursion_over_a_cycle_terminates():
    engine = make([("parent", "a", "b"), ("parent", "b", "c"), ("parent", "c", "a")], program=ANCESTOR)
    start = time.perf_counter()
    assert engine.query('anc("a", X)') == [("a",), ("b",), ("c",)]
    assert len(engine.materialize("anc")) == 9
    assert time.perf_counter() - start < 2


def test_left_recursion_over_a_500_node_chain():
    engine = make([("parent", f"n{i:03}", f"n{i + 1:03}") for i in range(499)], program=ANCESTOR)
    start = time.perf_counter()
    answers = engine.query('anc("n000", X)')
    assert len(answers) == 499 and answers[0] == ("n001",) and answers[-1] == ("n499",)
    assert time.perf_counter() - start < 2


def test_right_recursion_is_refused():
    engine = make([("parent", "a", "b"), ("parent", "b", "a")])
    with pytest.raises(InvalidInput) as info:
        engine.add_program(parse_program("anc(X, Y) :- parent(X, Y).\nanc(X, Y) :- parent(X, Z), anc(Z, Y)."))
    assert [d.code for d in info.value.diagnostics] == ["E418"]


# -- materialize ----------------------------------------------------------------------------------


def test_materialize_caches_until_facts_or_rules_change():
    engine = make([("parent", "a", "b")], program=ANCESTOR)
    first = engine.materialize("anc")
    assert first == {("a", "b")}
    assert engine.materialize("anc") is first
    engine.add_facts([("parent", "b", "c")])
    assert engine.materialize("anc") == {("a", "b"), ("b", "c"), ("a", "c")}
    engine.add_program(parse_program("anc(X, Y) :- parent(Y, X)."))
    assert ("b", "a") in engine.materialize("anc")


def test_materialize_refuses_unknown_relations_and_builtins():
    engine = make(program=ANCESTOR)
    with pytest.raises(EngineError, match="did you mean 'anc'"):
        engine.materialize("anx")
    with pytest.raises(EngineError):
        engine.materialize("wildcard_match")


# -- isolation ------------------------------------------------------------------------------------


def test_two_engines_in_one_thread_never_share_facts_rules_or_builtins():
    a = Engine({"p": 1}, {"keep": (BuiltinSpec(inputs=(0,)), lambda v: v.startswith("a"))})
    b = Engine({"p": 1}, {"keep": (BuiltinSpec(inputs=(0,)), lambda v: v.startswith("b"))})
    a.add_facts([("p", "a1"), ("p", "b1")])
    b.add_facts([("p", "b2"), ("p", "a2")])
    a.add_program(parse_program("q(X) :- p(X), keep(X)."))
    b.add_program(parse_program("r(X) :- p(X), keep(X)."))
    assert a.query("p(X)") == [("a1",), ("b1",)]
    assert b.query("p(X)") == [("a2",), ("b2",)]
    assert a.query("q(X)") == [("a1",)]
    assert b.query("r(X)") == [("b2",)]
    with pytest.raises(InvalidInput):
        a.query("r(X)")
    c = Engine({"p": 1})  # a new engine starts empty
    assert c.query("p(X)") == []


def test_engines_work_from_threads_that_never_touched_pydatalog():
    engine = make([("node", "main")])
    result = {}

    def worker():
        try:
            engine.add_facts([("node", "thread")])
            result["answers"] = engine.query("node(X)")
            own = Engine({"node": 1})
            own.add_facts([("node", "own")])
            result["own"] = own
        except Exception as exc:  # reported below
            result["error"] = exc

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert "error" not in result, result.get("error")
    assert result["answers"] == [("main",), ("thread",)]
    assert result["own"].query("node(X)") == [("own",)]  # created in the thread, used in this one
    assert engine.query("node(X)") == [("main",), ("thread",)]


def test_two_engines_used_concurrently_from_two_threads():
    rounds = 40
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(tag: str):
        try:
            engine = Engine({"edge": 2})
            engine.add_program(parse_program("reach(X, Y) :- edge(X, Y). reach(X, Y) :- reach(X, Z), edge(Z, Y)."))
            barrier.wait()
            for i in range(rounds):
                engine.add_facts([("edge", f"{tag}{i}", f"{tag}{i + 1}")])
                answers = engine.query(f'reach("{tag}0", X)')
                expected = [(f"{tag}{k}",) for k in range(1, i + 2)]
                assert answers == sorted(expected), (tag, i, answers)
            assert all(row[0].startswith(tag) for row in engine.materialize("edge"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(tag,)) for tag in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


# -- security -------------------------------------------------------------------------------------

PAYLOADS = [
    "x'); __import__('os').system('touch {marker}')#",
    "x\"); __import__('os').system('touch {marker}')#",
    "a\nb\\c\"d'e",
    "{{}} %s %(x)s \\x00 \x00 ~p(X) <= q(X)",
    "+ p(__import__('os').system('touch {marker}'))",
]


@pytest.mark.parametrize("template", PAYLOADS)
def test_constants_holding_code_stay_data(template, tmp_path):
    marker = tmp_path / "pwned"
    payload = template.format(marker=marker)
    engine = Engine({"value": 1})
    engine.add_facts([("value", payload)])
    assert engine.query("value(X)") == [(payload,)]
    engine.add_program(parse_program(f"echo(X, {quote(payload)}) :- value(X)."))
    assert engine.query("echo(X, Y)") == [(payload, payload)]
    assert engine.query(f"value({quote(payload)})") == [()]
    assert engine.query(f"value(X), X = {quote(payload)}") == [(payload,)]
    assert engine.materialize("value") == {(payload,)}
    assert not marker.exists()


def test_only_the_engine_imports_pydatalog():
    pattern = re.compile(r"^\s*(?:import\s+pyDatalog|from\s+pyDatalog[\s.])|__import__\(\s*['\"]pyDatalog", re.M)
    offenders = []
    for folder in ("logic", "grammar"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if pattern.search(path.read_text(encoding="utf-8")):
                offenders.append(path.relative_to(ROOT).as_posix())
    assert offenders == ["logic/engine.py"]
