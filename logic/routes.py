"""Amazon Cognito user pools in front of API Gateway and Application Load Balancers (seed scenario
10): which users of a pool reach each route or listener rule, why the others do not, and whether
the service may invoke the Lambda function behind it.

Who reaches a route is a query of ``rules/17-user-pools.dl`` (``route_reaches``, ``lb_reaches``,
``pool_user_blocked``, ``pool_mfa_setup``). Whether the service may invoke the backend is the
decision of its own request, ``lambda:InvokeFunction`` on the function:
- by ``apigateway.amazonaws.com`` with ``aws:SourceArn`` the route's execute-api ARN
  (``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/path``) and ``aws:SourceAccount``:
  https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html
  https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway.html
- by ``elasticloadbalancing.amazonaws.com`` with ``aws:SourceArn`` the rule's target group:
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .decision import Decision
from .world import World

__all__ = ["RouteReport", "api_routes", "render_routes"]

APIGATEWAY = "apigateway.amazonaws.com"
ELB = "elasticloadbalancing.amazonaws.com"


@dataclass(frozen=True)
class RouteReport:
    api: str  # an API's id, or a load balancer's ARN
    api_name: str
    route: str  # "METHOD /path" (an API's), or a path pattern (a load balancer's rule)
    pool: str | None  # the user pool its authorizer accepts (None: no authorizer, anyone reaches it)
    scopes: tuple[str, ...]
    reached_by: tuple[str, ...]  # pool users (NAME), sorted
    kept_out: tuple[tuple[str, str], ...]  # (pool user, why)
    mfa_setup: tuple[str, ...]  # of those it reaches: the users who first set up MFA at sign-in
    backend: str
    invoke: Decision  # may API Gateway (the load balancer) invoke the backend for this route
    kind: str = "api"  # "api" | "load balancer"

    def to_json(self) -> dict:
        return {"kind": self.kind, "api": self.api, "api_name": self.api_name, "route": self.route,
                "user_pool": self.pool,
                "scopes": list(self.scopes), "reached_by": list(self.reached_by),
                "kept_out": [{"user": u, "why": w} for u, w in self.kept_out], "mfa_setup": list(self.mfa_setup),
                "backend": self.backend,
                "invoke": {"decision": self.invoke.decision,
                           "statements": [s.to_json() for s in self.invoke.statements]}}


#: The methods an ``ANY`` route is invoked with: each must be allowed.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _invoke(world: World, region: str, account: str, api: str, stage: str, route: str, backend: str) -> Decision:
    """API Gateway's request to invoke the backend for the route; for an ``ANY`` route, the first of
    its methods' requests that is not allowed (else the first's)."""
    method, _, path = route.partition(" ")
    decisions = [world.check(APIGATEWAY, "lambda:InvokeFunction", backend,
                             {"aws:SourceArn": f"arn:aws:execute-api:{region}:{account}:{api}/{stage}/{m}{path}",
                              "aws:SourceAccount": account})
                 for m in (METHODS if method == "ANY" else (method,))]
    return next((d for d in decisions if d.decision != "Allow"), decisions[0])


def api_routes(world: World) -> list[RouteReport]:
    """Every route of every API, then every rule of every load balancer, of the world, sorted."""
    ask = world.evaluator().query  # (the queries are this module's own text)
    apis = {a: (acct, name, region, stage) for a, acct, name, region, stage in ask("?- api(A, C, N, R, S).")}
    pools = {p: name for p, _, name, _ in ask("?- user_pool(P, A, N, M).")}
    users: dict[str, list[str]] = {}
    for user, pool in ask("?- pool_user(U, P)."):
        users.setdefault(pool, []).append(user)
    blocked: dict[str, list[str]] = {}
    for user, why in ask("?- pool_user_blocked(U, W)."):
        blocked.setdefault(user, []).append(why)
    setup = {u for (u,) in ask("?- pool_mfa_setup(U).")}
    authorizer = {(a, r): p for a, r, p in ask("?- route_authorizer(A, R, P).")}
    scopes: dict[tuple, list[str]] = {}
    for a, r, s in ask("?- route_scope(A, R, S)."):
        scopes.setdefault((a, r), []).append(s)
    reaches: dict[tuple, set[str]] = {}
    for u, a, r in ask("?- route_reaches(U, A, R)."):
        reaches.setdefault((a, r), set()).add(u)
    for lb, path, pool in ask("?- lb_authenticate(L, P, U)."):
        authorizer[(lb, path)] = pool
    for u, lb, path in ask("?- lb_reaches(U, L, P)."):
        reaches.setdefault((lb, path), set()).add(u)
    lbs = {lb: name for lb, _, name in ask("?- load_balancer(L, A, N).")}

    def report(kind: str, key: str, name: str, route: str, backend: str, invoke: Decision) -> RouteReport:
        pool = authorizer.get((key, route))
        reached, kept = set(), []
        if pool is not None:
            reached = reaches.get((key, route), set())
            for user in sorted(users.get(pool, ())):
                if user not in reached:
                    kept.append((user.split("/", 1)[1], ", ".join(sorted(blocked.get(user, ())))
                                 or "its tokens carry none of the scopes"))
        return RouteReport(key, name, route, pools.get(pool) if pool else None, tuple(sorted(scopes.get((key, route), ()))),
                           tuple(sorted(u.split("/", 1)[1] for u in reached)), tuple(kept),
                           tuple(sorted(u.split("/", 1)[1] for u in reached & setup)), backend, invoke, kind)

    out = []
    for api, route, backend in sorted(ask("?- api_route(A, R, B).")):
        acct, name, region, stage = apis[api]
        out.append(report("api", api, name, route, backend, _invoke(world, region, acct, api, stage, route, backend)))
    for lb, path, backend, target_group in sorted(ask("?- lb_rule(L, P, B, T).")):
        out.append(report("load balancer", lb, lbs[lb], path, backend,
                          world.check(ELB, "lambda:InvokeFunction", backend, {"aws:SourceArn": target_group})))
    return out


def render_routes(reports: list[RouteReport]) -> str:
    lines = []
    for r in reports:
        api = r.kind == "api"
        lines.append(f"api {r.api_name} ({r.api}) {r.route}" if api else f"load balancer {r.api_name} rule {r.route}")
        if r.pool is None:
            lines.append(f"  no {'authorizer' if api else 'authenticate action'}: anyone reaches it")
        elif api:
            scopes = f", with one of the scopes {', '.join(r.scopes)}" if r.scopes else ""
            lines.append(f"  authorizer: tokens of user pool {r.pool}{scopes}")
        else:
            lines.append(f"  authenticate: signs users in with user pool {r.pool}")
        if r.pool is not None:
            lines.append("  reached by: " + (", ".join(f"{u} (after setting up MFA at sign-in)" if u in r.mfa_setup
                                                       else u for u in r.reached_by) or "nobody"))
            lines += [f"  kept out: {user} ({why})" for user, why in r.kept_out]
        verdict = "may invoke" if r.invoke.decision == "Allow" else "may NOT invoke"
        lines.append(f"  {'API Gateway' if api else 'the load balancer'} {verdict} {r.backend}")
        lines += ["    " + line for line in r.invoke.summary().splitlines()]
    return "\n".join(lines)


def cmd_routes(args) -> int:
    from .world import load

    reports = api_routes(load(args.world))
    print(json.dumps([r.to_json() for r in reports], indent=2) if args.format == "json" else render_routes(reports))
    return 0 if all(r.invoke.decision == "Allow" for r in reports) else 1


def add_commands(sub) -> None:
    p = sub.add_parser("routes", help="API Gateway routes and load balancer rules behind Cognito user pools: who "
                                      "reaches each, and whether the service may invoke its Lambda function (exit 1 "
                                      "if it may not for one)")
    p.add_argument("world", nargs="+", help="the world's .iaml files")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=cmd_routes)
