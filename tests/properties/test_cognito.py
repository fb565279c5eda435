"""The role an identity pool gives each identity (rules/16-cognito.dl) is the documented one.

On generated pools (default roles, guests, role-mapping rules of every match type and both
``otherwise``), the evaluator's view of the rule ``cognito_enhanced`` (computed at load by the
compiled rules' evaluator), pyDatalog's evaluation of the same rule, and a reading of the Amazon
Cognito developer guide written here in Python (role-based-access-control: rules in order, the
first that matches gives the role; AmbiguousRoleResolution otherwise) all agree.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

import iamlogic

ROLES = ("R1", "R2", "R3")
PROVIDERS = ("p1", "p2")
CLAIMS = ("a", "b")
VALUES = ("x", "xy", "yx")
OPS = ("equals", "not_equals", "contains", "starts_with")


def _matches(op: str, value: str, text: str) -> bool:
    return {"equals": text == value, "not_equals": text != value, "contains": value in text,
            "starts_with": text.startswith(value)}[op]


def expected_role(pool: dict, identity: dict) -> set[str]:
    """The role the Amazon Cognito developer guide says the enhanced flow gives ``identity``."""
    if identity["provider"] is None:
        return {pool["unauthenticated"]} if pool["guests"] and pool["unauthenticated"] else set()
    mapping = pool["rules"] if identity["provider"] == "p1" else None
    if mapping is None:
        return {pool["authenticated"]} if pool["authenticated"] else set()
    rules, otherwise = mapping
    for claim, op, value, role in rules:
        text = identity["claims"].get(claim)
        if text is not None and _matches(op, value, text):
            return {role}
    return {pool["authenticated"]} if otherwise == "authenticated" and pool["authenticated"] else set()


@st.composite
def pools(draw):
    authenticated = draw(st.sampled_from((None, *ROLES)))
    rules = None
    if draw(st.booleans()):
        rule = st.tuples(st.sampled_from(CLAIMS), st.sampled_from(OPS), st.sampled_from(VALUES), st.sampled_from(ROLES))
        otherwise = draw(st.sampled_from(("authenticated", "deny") if authenticated else ("deny",)))
        rules = (draw(st.lists(rule, min_size=1, max_size=4)), otherwise)
    guests = draw(st.booleans())
    # most tokens carry every claim (so that several rules may match one identity); some lack one
    identity = st.fixed_dictionaries({
        "provider": st.sampled_from(("p1", *PROVIDERS, None) if guests else ("p1", *PROVIDERS)),
        "claims": st.tuples(*(st.sampled_from(VALUES) for _ in CLAIMS), st.sampled_from((None, *CLAIMS, None))).map(
            lambda t: {c: v for c, v in zip(CLAIMS, t) if c != t[-1]}),
    })
    identities = draw(st.lists(identity, min_size=1, max_size=6))
    for x in identities:
        if x["provider"] is None:
            x["claims"] = {}
    return {"authenticated": authenticated, "unauthenticated": draw(st.sampled_from((None, *ROLES))),
            "guests": guests, "rules": rules, "identities": identities}


def world_text(pool: dict) -> str:
    lines = ['account 111122223333 "app" {', *(f"  role {r}" for r in ROLES), "  identity_pool P {",
             '    id "us-east-1:12345678-90ab-cdef-1234-567890abcdef"', '    providers "p1", "p2"']
    lines += ["    guests"] if pool["guests"] else []
    lines += [f"    {kind} role {pool[kind]}" for kind in ("authenticated", "unauthenticated") if pool[kind]]
    if pool["rules"] is not None:
        rules, otherwise = pool["rules"]
        lines += [f'    rules "p1" otherwise {otherwise} {{',
                  *(f'      "{c}" {op} "{v}" role {r}' for c, op, v, r in rules), "    }"]
    for n, x in enumerate(pool["identities"]):
        login = "guest" if x["provider"] is None else f'via "{x["provider"]}"'
        claims = ", ".join(f'{k} = "{v}"' for k, v in x["claims"].items())
        lines.append(f'    identity "{identity_id(n)}" {login}' + (f" {{ claims {{ {claims} }} }}" if claims else ""))
    return "\n".join([*lines, "  }", "}"])


def identity_id(n: int) -> str:
    return f"us-east-1:00000000-0000-4000-8000-{n:012d}"


@settings(max_examples=300 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 40, deadline=None)
@given(pools())
def test_the_enhanced_flow_gives_the_documented_role(pool):
    world = iamlogic.loads(world_text(pool))
    ev = world.evaluator()
    arn = "arn:aws:iam::111122223333:role/{}".format
    expected = {(identity_id(n), arn(r)) for n, x in enumerate(pool["identities"]) for r in expected_role(pool, x)}
    assert {(i, r) for i, roles in ev.index.cognito_enhanced.items() for r in roles} == expected
    assert ev.facts("cognito_enhanced") == expected
