"""Law 1: the Datalog rules and the plain reference evaluator (tests/reference.py) agree.

Generated worlds exercise every layer (SCP levels, RCPs, boundaries, resource, trust and key
policies, sessions, conditions); each world is asked a batch of requests consistent with it.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from iamlogic import World, load
from iamlogic.testing import requests_for, valid_world_models

from ..conftest import EXAMPLES
from ..reference import reference_decide

REQUESTS_PER_WORLD = 25


def _disagreements(world: World, requests: list[dict]) -> list[str]:
    decisions = world.check_many(requests)
    out = []
    for r, d in zip(requests, decisions):
        expected = reference_decide(world.model, r["principal"], r["action"], r["resource"], r.get("context"))
        if d.decision != expected:
            out.append(f"{r}: rules say {d.decision}, reference says {expected}\n{d.explain('blockers')}")
    return out


@settings(max_examples=400 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 80, deadline=None)
@given(valid_world_models(), st.data())
def test_rules_agree_with_reference_on_generated_worlds(model, data):
    world = World(model)
    errors = [d for d in world.diagnostics() if d.is_error]
    assert not errors, errors
    requests = [data.draw(requests_for(model)) for _ in range(REQUESTS_PER_WORLD)]
    assert not _disagreements(world, requests), "\n".join(_disagreements(world, requests))


def test_rules_agree_with_reference_on_the_example_organization():
    world = load([str(EXAMPLES / "organization" / "world.iaml")])
    principals = sorted({f[1] for f in world.facts() if f[0] == "principal"}) + ["anonymous"]
    actions = ["s3:GetObject", "s3:PutObject", "redshift:CreateCluster", "lambda:InvokeFunction", "sts:AssumeRole"]
    resources = ["*", "arn:aws:s3:::reports-a", "arn:aws:s3:::reports-a/k",
                 "arn:aws:iam::333333333333:role/Deployer", "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"]
    requests = [{"principal": p, "action": a, "resource": r} for p in principals for a in actions for r in resources]
    assert not _disagreements(world, requests), "\n".join(_disagreements(world, requests))
