"""The fast path is the rules: the compiled rules and pyDatalog's evaluation of ``rules/*.dl`` agree.

On generated worlds and requests, and on every example world, both paths must compute the same
request-independent relations and give the same decision, the same deciding statements, the
same verdict for every layer, the same missing context keys and the same notes; and so must the
answers the compiled rules' solver reuses for requests whose calls got the same answers, and those
it computes for requests of one principal and action together.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iamlogic import World, load
from iamlogic.testing import requests_for, valid_world_models

from ..conftest import EXAMPLES

REQUESTS_PER_WORLD = 25


def _view(d):
    return (d.decision, [s.id for s in d.statements],
            [(layer.layer, layer.verdict, [s.id for s in layer.statements], layer.note) for layer in d.layers],
            d.missing_context, d.warnings)


def _disagreements(world: World, requests: list[dict]) -> list[str]:
    ev = world.evaluator()
    assert ev.path == "compiled"

    def resolved():
        return [ev.resolve(r["principal"], r["action"], r["resource"], r.get("context")) for r in requests]

    slow = ev.decide(resolved(), engine=True)
    # three passes: the first request of a caller and action is solved without the solver's tree,
    # the others record their calls into it or reuse the work of a request whose calls got the
    # same answers (Solver)
    passes = [ev.decide(resolved()) for _ in range(3)]
    # and a fourth: requests of one principal and action solved together (Solver.solve_many)
    passes.append(ev.decide(resolved(), together=1))
    # the request-independent relations, computed by the compiled rules and by pyDatalog
    tables = [f"{rel}: compiled {sorted(rows ^ ev.engine.materialize(rel))[:3]} differ"
              for rel, rows in ev._solver.tables.items() if rows != ev.engine.materialize(rel)]
    conflicts = ["the calls of a solve disagreed with the solver's tree"] if ev._solver.conflicts else []
    return tables + conflicts + [f"{r} (pass {n + 1}):\n  compiled: {_view(f)}\n  engine:   {_view(s)}"
                                 for n, fast in enumerate(passes)
                                 for r, f, s in zip(requests, fast, slow) if _view(f) != _view(s)]


@settings(max_examples=300 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 40, deadline=None)
@given(valid_world_models(), st.data())
def test_compiled_rules_agree_with_the_engine_on_generated_worlds(model, data):
    world = World(model)
    requests = [data.draw(requests_for(model)) for _ in range(REQUESTS_PER_WORLD)]
    problems = _disagreements(world, requests)
    assert not problems, "\n".join(problems)


@settings(max_examples=100 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 15, deadline=None)
@given(valid_world_models(), st.data())
def test_a_prepared_world_agrees_with_the_engine(model, data):
    # World.prepare solves requests of its own first: the answers it keeps for the world are the
    # ones the requests then read
    world = World(model)
    world.prepare()
    requests = [data.draw(requests_for(model)) for _ in range(REQUESTS_PER_WORLD)]
    problems = _disagreements(world, requests)
    assert not problems, "\n".join(problems)


@settings(max_examples=200 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 25, deadline=None)
@given(valid_world_models(), st.data())
def test_requests_that_share_their_principal_and_action_agree_with_the_engine(model, data):
    # a grid of the principals and actions of some requests with the resources and contexts of
    # others: requests that differ only in their resource or context, whose work the solver reuses
    drawn = [data.draw(requests_for(model)) for _ in range(5)]
    requests = [{**who, "resource": what["resource"], "context": what.get("context")}
                for who in drawn for what in drawn]
    problems = _disagreements(World(model), requests)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in EXAMPLES.glob("*/world.iaml")))
def test_compiled_rules_agree_with_the_engine_on_the_examples(folder):
    world = load([str(EXAMPLES / folder / "world.iaml")])
    facts = world.facts()
    principals = sorted({f[1] for f in facts if f[0] == "principal"})[:12] + ["anonymous", "events.amazonaws.com"]
    idx = world.evaluator().index  # a role IAM Identity Center provisions acts through its users' sessions
    principals = [s for p in principals for s in (idx.sso_sessions(p) if p in idx.sso_roles else [p])]
    resources = sorted({f[1] for f in facts if f[0] == "resource"})[:8] + ["*"]
    actions = sorted({f[2] for f in facts if f[0] == "statement_action" and "*" not in f[2]})[:10] + ["sts:AssumeRole"]
    requests = [{"principal": p, "action": a, "resource": r} for p in principals for a in actions for r in resources]
    # the sessions Amazon Cognito gives the identities of the example's pools, and a guest's of the basic flow
    sessions = [(f"arn:aws:sts::{role.split(':')[4]}:assumed-role/{role.rsplit('/', 1)[1]}/{name}", identity)
                for identity, roles in sorted(idx.cognito_enhanced.items()) for role in sorted(roles)
                for name in ("CognitoIdentityCredentials", "app")
                if name != "app" or idx.cognito_pools[idx.cognito_identities[identity][0]][2]]
    requests += [{"principal": p, "action": a, "resource": r, "context": {"cognito-identity.amazonaws.com:sub": i}}
                 for p, i in sessions for a in actions for r in resources]
    problems = _disagreements(world, requests)
    assert not problems, "\n".join(problems[:5])
