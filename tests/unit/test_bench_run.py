"""bench/run.py's split of a decision's time: inside the compiled rules' function and the rest."""

import importlib.util
from pathlib import Path

from iamlogic import World

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def _bench():
    spec = importlib.util.spec_from_file_location("iamlogic_bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_split_times_the_compiled_function_and_leaves_the_solver_and_its_answers_as_they_were():
    bench = _bench()
    gen = bench.generate("XS", 7)
    requests = bench.unique_requests(gen, 40)
    world = World(gen.model)
    expected = [world.check(*r) for r in requests]
    ev = world.evaluator()
    ev.forget()
    solver, inner = ev._solver, ev._solver._solve
    split = bench.solve_split(world, requests)
    assert ev._solver is solver and solver._solve is inner
    assert [len(split[k]) for k in ("total", "solve", "rest")] == [40, 40, 40]
    assert all(t == s + r for t, s, r in zip(split["total"], split["solve"], split["rest"]))
    # each request not decided before (its decision forgotten) is solved by the function, which
    # takes part of its time, not all of it
    assert sum(s > 0 for s in split["solve"]) >= 20
    assert all(r > 0 for r in split["rest"])
    assert [(d.decision, d.statements) for d in map(lambda r: world.check(*r), requests)] == \
        [(d.decision, d.statements) for d in expected]
