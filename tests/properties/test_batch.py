"""``iamlogic batch`` answers each line as ``World.check`` answers its request, on generated
worlds, whatever the blocks a file is cut into and however often a line repeats."""

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
    lines = [json.dumps(r) for r in requests]
    lines += data.draw(st.lists(st.sampled_from(lines), max_size=6))  # repeated lines
    block, batch.BLOCK = batch.BLOCK, data.draw(st.integers(1, len(lines)))
    try:
        out = io.StringIO()
        decided, failed = batch.run_batch(world, lines, out)
    finally:
        batch.BLOCK = block
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [row["line"] for row in rows] == list(range(1, len(lines) + 1))
    assert (decided, failed) == (len(lines), 0)
    for row, line in zip(rows, lines):
        r = json.loads(line)
        d = world.check(r["principal"], r["action"], r["resource"], r["context"])
        assert (row["principal"], row["action"], row["resource"]) == (r["principal"], r["action"], r["resource"])
        assert (row["decision"], row["statements"], row["missing_context"], row["warnings"]) == (
            d.decision, [s.label() for s in d.statements], list(d.missing_context), list(d.warnings)), line
