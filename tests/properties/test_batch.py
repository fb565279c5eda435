"""``iamlogic batch`` answers each line as ``World.check`` answers its request, on generated
worlds, whatever the blocks a file is cut into and however often a line repeats, and on a row
of one principal and action that is solved together."""

from __future__ import annotations

import io
import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

import iamlogic.batch as batch
from iamlogic import World
from iamlogic.testing import requests_for, valid_world_models


@settings(max_examples=200 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 25, deadline=None)
@given(valid_world_models(), st.data())
def test_batch_answers_each_line_as_check_does(model, data):
    world = World(model)
    requests = [data.draw(requests_for(model)) for _ in range(12)]
    # a row: the first request's principal, action and context on every resource drawn (a run
    # long enough to be solved together, its requests answered by class)
    resources = {r["resource"] for r in requests}
    resources |= {f"arn:aws:s3:::bucket{i}/k{j}" for i in range(len(model.accounts)) for j in range(8)}
    requests += [dict(requests[0], resource=res) for res in sorted(resources)]
    lines = [json.dumps(r) for r in requests]
    lines += data.draw(st.lists(st.sampled_from(lines), max_size=6))  # repeated lines
    size = data.draw(st.one_of(st.just(len(lines)), st.integers(1, len(lines))))  # often one block
    block, batch.BLOCK = batch.BLOCK, size
    try:
        out = io.StringIO()
        decided, failed = batch.run_batch(world, lines, out)
    finally:
        batch.BLOCK = block
    if size == len(lines):  # one block: the row was solved together
        assert world.evaluator()._solver.together >= 8
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [row["line"] for row in rows] == list(range(1, len(lines) + 1))
    assert (decided, failed) == (len(lines), 0)
    for row, line in zip(rows, lines):
        r = json.loads(line)
        d = world.check(r["principal"], r["action"], r["resource"], r["context"])
        assert (row["principal"], row["action"], row["resource"]) == (r["principal"], r["action"], r["resource"])
        assert (row["decision"], row["statements"], row["missing_context"], row["warnings"]) == (
            d.decision, [s.label() for s in d.statements], list(d.missing_context), list(d.warnings)), line


@settings(max_examples=100 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 15, deadline=None)
@given(valid_world_models(), st.data())
def test_a_product_line_answers_as_its_requests_one_a_line(model, data):
    world = World(model)
    drawn = [data.draw(requests_for(model)) for _ in range(6)]
    principals = sorted({r["principal"] for r in drawn})
    actions = sorted({r["action"] for r in drawn})
    resources = sorted({r["resource"] for r in drawn} | {"arn:aws:s3:::bucket0/k"})
    context = drawn[0]["context"]
    product = json.dumps({"principal": principals, "action": actions, "resource": resources, "context": context})
    size = data.draw(st.integers(1, 3 * len(resources)))
    block, batch.BLOCK = batch.BLOCK, size
    try:
        one, each = io.StringIO(), io.StringIO()
        found = batch.run_batch(world, [product], one)
        lines = [json.dumps({"principal": p, "action": a, "resource": r, "context": context})
                 for p in principals for a in actions for r in resources]
        assert batch.run_batch(World(model), lines, each) == found
    finally:
        batch.BLOCK = block
    rows = [json.loads(x) for x in one.getvalue().splitlines()]
    assert {row["line"] for row in rows} == {1} and len(rows) == len(lines)
    for row, single in zip(rows, each.getvalue().splitlines()):
        single = json.loads(single)
        if "error" in single:
            assert row["error"] == single["error"]
        else:
            assert {**row, "line": single["line"]} == single
