"""Amazon Cognito identity pools on generated pools.

The role an identity pool gives each identity (rules/16-cognito.dl) is the documented one.

On generated pools (default roles, guests, role-mapping rules of every match type and both
``otherwise``), the evaluator's view of the rule ``cognito_enhanced`` (computed at load by the
compiled rules' evaluator), pyDatalog's evaluation of the same rule, and a reading of the Amazon
Cognito developer guide written here in Python (role-based-access-control: rules in order, the
first that matches gives the role; AmbiguousRoleResolution otherwise) all agree.

Identities of the provider ``p1`` are, drawn, users of a user pool whose ID token is p1's: their
claims are the user's attributes, and a user who cannot sign in (unconfirmed, disabled) gets no
role at all (amazon-cognito-integrating-user-pools-with-identity-pools).

The sessions of the enhanced and basic flows are decided alike by the compiled rules and by
pyDatalog's evaluation of the rules, with trust and role policies that read Cognito's keys.
"""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

import iamlogic
from iamlogic.grammar.diagnostics import InvalidInput

from .test_fastpath import _disagreements

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
    if identity["user"] not in (None, "signs in"):  # a user pool user who gets no token
        return set()
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
        # an identity of p1 is, drawn, a user of the user pool whose provider p1 stands for
        x["user"] = draw(st.sampled_from((None, "signs in", "unconfirmed", "disabled"))) if x["provider"] == "p1" else None
    return {"authenticated": authenticated, "unauthenticated": draw(st.sampled_from((None, *ROLES))),
            "guests": guests, "rules": rules, "identities": identities}


#: the provider of the user pool whose users are identities of p1
USER_POOL_PROVIDER = "cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool"


def world_text(pool: dict) -> str:
    users = [f'    user u{n} {{ {x["user"] if x["user"] != "signs in" else ""} attributes {{ '
             + ", ".join(f'"{k}" = "{v}"' for k, v in x["claims"].items()) + " } }"
             for n, x in enumerate(pool["identities"]) if x["user"] is not None]
    lines = ['account 111122223333 "app" {', *(f"  role {r}" for r in ROLES),
             '  user_pool Users {', '    id "us-east-1_Pool"', *users, "  }", "  identity_pool P {",
             '    id "us-east-1:12345678-90ab-cdef-1234-567890abcdef"', '    providers "p1", "p2"']
    lines += ["    guests"] if pool["guests"] else []
    lines += [f"    {kind} role {pool[kind]}" for kind in ("authenticated", "unauthenticated") if pool[kind]]
    if pool["rules"] is not None:
        rules, otherwise = pool["rules"]
        lines += [f'    rules "p1" otherwise {otherwise} {{',
                  *(f'      "{c}" {op} "{v}" role {r}' for c, op, v, r in rules), "    }"]
    for n, x in enumerate(pool["identities"]):
        if x["user"] is not None:
            lines.append(f'    identity "{identity_id(n)}" user Users u{n}')
            continue
        login = "guest" if x["provider"] is None else f'via "{x["provider"]}"'
        claims = ", ".join(f'{k} = "{v}"' for k, v in x["claims"].items())
        lines.append(f'    identity "{identity_id(n)}" {login}' + (f" {{ claims {{ {claims} }} }}" if claims else ""))
    return "\n".join([*lines, "  }", "}"]).replace('"p1"', f'"{USER_POOL_PROVIDER}"')


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


AMRS = (None, "authenticated", "unauthenticated", "p1")


@st.composite
def cognito_worlds(draw):
    """A generated pool (see :func:`pools`), with the basic flow or not, a scope-down policy for
    guests, trust policies that check the pool and, drawn, the amr claim, and role policies that
    read Amazon Cognito's keys (a policy variable, amr, aud)."""
    pool = draw(pools())
    text = world_text(pool).replace("  identity_pool P {", "  identity_pool P {\n    classic_flow"
                                    if draw(st.booleans()) else "  identity_pool P {")
    lines = ['aws policy AmazonCognitoUnAuthedIdentitiesSessionPolicy { allow s3:GetObject on "arn:aws:s3:::b/*" }']
    for role in ROLES:
        amr = draw(st.sampled_from(AMRS))
        amr = USER_POOL_PROVIDER if amr == "p1" else amr
        trust = (f'allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com" '
                 f'when StringEquals "cognito-identity.amazonaws.com:aud" "{POOL_ID}"'
                 + (f' and ForAnyValue:StringLike "cognito-identity.amazonaws.com:amr" "{amr}"' if amr else ""))
        grants = [
            'allow s3:GetObject on "arn:aws:s3:::b/${cognito-identity.amazonaws.com:sub}/*"',
            'allow s3:PutObject on "arn:aws:s3:::b/*" when ForAnyValue:StringEquals '
            f'"cognito-identity.amazonaws.com:amr" "{draw(st.sampled_from(AMRS[1:])).replace("p1", USER_POOL_PROVIDER)}"',
            f'deny s3:DeleteObject on * when StringNotEquals "cognito-identity.amazonaws.com:aud" "{POOL_ID}"',
            "allow s3:DeleteObject on *",
        ]
        chosen = draw(st.lists(st.sampled_from(grants), min_size=1, max_size=4, unique=True))
        lines.append(f"  role {role} {{ trust {{ {trust} }} policy P {{ {' '.join(chosen)} }} }}")
    body = "\n".join(f"  role {r}" for r in ROLES)
    return text.replace(body, "\n".join(lines[1:])).replace('account 111122223333', lines[0] + "\naccount 111122223333"), pool


POOL_ID = "us-east-1:12345678-90ab-cdef-1234-567890abcdef"


@settings(max_examples=100 if os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE") == "deep" else 15, deadline=None)
@given(cognito_worlds())
def test_cognito_sessions_are_decided_alike_by_the_compiled_rules_and_pydatalog(drawn):
    text, pool = drawn
    world = iamlogic.loads(text)
    ev = world.evaluator()
    requests = []
    for n, _ in enumerate(pool["identities"]):
        identity = identity_id(n)
        for role in ROLES:
            for name in ("CognitoIdentityCredentials", "app"):
                principal = f"arn:aws:sts::111122223333:assumed-role/{role}/{name}"
                for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
                    for key in (identity, "someone-else"):
                        r = {"principal": principal, "action": action, "resource": f"arn:aws:s3:::b/{key}/k",
                             "context": {"cognito-identity.amazonaws.com:sub": identity}}
                        try:
                            ev.resolve(r["principal"], r["action"], r["resource"], r["context"])
                        except InvalidInput:  # a session Amazon Cognito does not create
                            continue
                        requests.append(r)
    problems = _disagreements(world, requests)
    assert not problems, "\n".join(problems[:5])
