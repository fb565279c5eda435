"""Amazon Cognito user pools in front of API Gateway (seed scenario 10): who gets tokens, which
routes their tokens reach (authorizer pool, OAuth scopes), and whether API Gateway may invoke each
route's backend."""

from __future__ import annotations

import os

import pytest

import iamlogic
from iamlogic.cli import main
from iamlogic.compiled import _strata, materialize
from iamlogic.grammar.diagnostics import InvalidInput
from iamlogic.evaluate import BUILTIN_SPECS, REQUEST_BUILTINS, rules
from iamlogic.grammar.printer import print_world
from iamlogic.routes import api_routes

from ..conftest import EXAMPLES

POOLS = EXAMPLES / "cognito-user-pools"
UPDATE = os.environ.get("IAMLOGIC_UPDATE_GOLDEN") == "1"

BACKEND = "arn:aws:lambda:us-east-1:111122223333:function:f"


def _world(pool_items: str, route: str):
    return iamlogic.loads(f'''account 111122223333 "app" {{
      user_pool P {{ id "us-east-1_Test"  {pool_items} }}
      api A {{ id "abc123"  region "us-east-1"  stage "prod"  {route} }}
      resource "{BACKEND}" {{
        policy {{ allow lambda:InvokeFunction on "{BACKEND}" principal service "apigateway.amazonaws.com"
                  when ArnLike aws:SourceArn "arn:aws:execute-api:us-east-1:111122223333:abc123/prod/GET/*" }}
      }}
    }}''', "w.iaml")


@pytest.fixture(scope="module")
def example():
    return iamlogic.load([str(POOLS / "world.iaml")])


def test_the_example_report_is_as_recorded(capsys, monkeypatch):
    monkeypatch.chdir(POOLS)
    assert main(["routes", "world.iaml"]) == 1  # the delete function admits another API
    out = capsys.readouterr().out
    if UPDATE:
        (POOLS / "routes.txt").write_text(out, encoding="utf-8")
    assert out == (POOLS / "routes.txt").read_text(encoding="utf-8")


def test_who_reaches_each_route_of_the_example(example):
    routes = {r.route: r for r in api_routes(example)}
    assert routes["GET /orders"].reached_by == ("alice", "carol", "erin")
    assert dict(routes["GET /orders"].kept_out) == {"bob": "unconfirmed", "dave": "disabled",
                                                    "frank": "provider not federated"}
    assert routes["GET /orders"].mfa_setup == ("erin",)
    assert routes["DELETE /orders/{id}"].reached_by == ()
    assert routes["GET /health"].pool is None
    assert {r: x.invoke.decision for r, x in routes.items()} == {
        "GET /orders": "Allow", "POST /orders": "Allow", "DELETE /orders/{id}": "ImplicitDeny", "GET /health": "Allow",
        "/app/*": "Allow", "/status": "ImplicitDeny"}
    # the load balancer signs in any user who gets tokens (no scope), and the function admits its target group
    app = routes["/app/*"]
    assert (app.kind, app.reached_by, app.scopes) == ("load balancer", ("alice", "carol", "erin"), ())
    assert [s.sid for s in app.invoke.statements] == ["WebTargetGroup"]


@pytest.mark.parametrize("user, scopes, reached", [
    ("user u", "", True),
    ("user u { unconfirmed }", "", False),
    ("user u { disabled }", "", False),
    ("user u { via \"Google\" }", "", False),  # the pool federates no provider
    ("user u  client C { scopes \"s/read\" }", "scopes \"s/read\", \"s/write\"", True),
    ("user u  client C { scopes \"s/write\" }", "scopes \"s/read\"", False),
])
def test_a_route_admits_the_pools_users_that_get_tokens_with_a_scope_it_requires(user, scopes, reached):
    w = _world(user, f'route "GET /x" authorizer P {scopes} backend "{BACKEND}"')
    r, = api_routes(w)
    assert r.reached_by == (("u",) if reached else ())
    assert r.invoke.decision == "Allow"


@pytest.mark.parametrize("route, decision", [("GET /x", "Allow"), ("POST /x", "ImplicitDeny"), ("ANY /x", "ImplicitDeny")])
def test_the_backend_is_invoked_for_the_routes_execute_api_arn(route, decision):
    # the function admits GET routes only; an ANY route is invoked with every method
    r, = api_routes(_world("", f'route "{route}" backend "{BACKEND}"'))
    assert r.invoke.decision == decision  # (ANY: GET is allowed, POST is not)


def test_both_evaluators_agree_and_the_world_prints_back(example):
    ev = example.evaluator()
    by_head = {}
    for rule in rules().rules:
        by_head.setdefault(rule.head.relation, []).append(rule)
    wanted = {"route_reaches", "route_open", "pool_user_blocked", "pool_mfa_setup", "lb_reaches", "lb_open",
              "cognito_enhanced", "cognito_identity_blocked"}
    pure = {name: getattr(ev, f"_b_{name}") for name in BUILTIN_SPECS if name not in REQUEST_BUILTINS}
    rows = materialize(_strata(wanted, by_head), by_head, BUILTIN_SPECS, lambda rel: ev.index.rows.get(rel, ()), pure)
    for rel in wanted:
        assert rows[rel] == set(ev.engine.materialize(rel)), rel
    again = iamlogic.loads(print_world(example.model), "again.iaml").model
    assert [(a.user_pools, a.apis, a.load_balancers, a.identity_pools) for a in again.accounts] == [
        (a.user_pools, a.apis, a.load_balancers, a.identity_pools) for a in example.model.accounts]


IDENTITY = "us-east-1:aaaaaaaa-0000-4000-8000-000000000001"


def _identity_world(user: str):
    return iamlogic.loads(f'''account 111122223333 "app" {{
      user_pool P {{ id "us-east-1_Test"  user u {{ {user} attributes {{ "custom:team" = "data" }} }} }}
      role Data {{
        trust {{ allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"
                 when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-90ab-cdef-1234-567890abcdef" }}
        policy Read {{ allow s3:GetObject on * }}
      }}
      role Other {{
        trust {{ allow sts:AssumeRoleWithWebIdentity principal federated "cognito-identity.amazonaws.com"
                 when StringEquals "cognito-identity.amazonaws.com:aud" "us-east-1:12345678-90ab-cdef-1234-567890abcdef" }}
      }}
      identity_pool I {{
        id "us-east-1:12345678-90ab-cdef-1234-567890abcdef"
        providers "cognito-idp.us-east-1.amazonaws.com/us-east-1_Test"
        classic_flow
        authenticated role Other
        rules "cognito-idp.us-east-1.amazonaws.com/us-east-1_Test" otherwise authenticated {{
          "custom:team" equals "data" role Data
        }}
        identity "{IDENTITY}" user P u
      }}
    }}''', "w.iaml")


def test_an_identity_that_is_a_user_pool_user_takes_its_claims_from_the_users_attributes():
    world = _identity_world("")
    ev = world.evaluator()
    assert ev.index.cognito_enhanced == {IDENTITY: {"arn:aws:iam::111122223333:role/Data"}}
    assert world.check(IDENTITY, "s3:GetObject", "arn:aws:s3:::b/k").decision == "Allow"
    assert ev.cognito_basic_roles(IDENTITY) == ("arn:aws:iam::111122223333:role/Data",
                                                "arn:aws:iam::111122223333:role/Other")


@pytest.mark.parametrize("user", ["unconfirmed", "disabled"])
def test_an_identity_whose_user_pool_user_cannot_sign_in_gets_no_credentials(user):
    world = _identity_world(user)
    ev = world.evaluator()
    assert ev.index.cognito_enhanced == {}
    assert ev.facts("cognito_identity_blocked") == {(IDENTITY, user)}
    with pytest.raises(InvalidInput, match=f"its user pool user cannot sign in \\({user}\\)"):
        world.check(IDENTITY, "s3:GetObject", "arn:aws:s3:::b/k")
    basic = "arn:aws:sts::111122223333:assumed-role/Data/app"  # the basic flow: no token either
    with pytest.raises(InvalidInput, match="cannot sign in"):
        world.check(basic, "s3:GetObject", "arn:aws:s3:::b/k", {"cognito-identity.amazonaws.com:sub": IDENTITY})
    assert ev.cognito_basic_roles(IDENTITY) == ()
