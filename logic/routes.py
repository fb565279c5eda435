"""Amazon Cognito user pools in front of API Gateway (seed scenario 10): which users of a pool reach
each route, why the others do not, and whether API Gateway may invoke the route's backend.

Who reaches a route is a query of ``rules/17-user-pools.dl`` (``route_reaches``, ``route_open``,
``pool_user_blocked``, ``pool_mfa_setup``). Whether API Gateway may invoke the backend is the
decision of its own request: ``lambda:InvokeFunction`` on the function by ``apigateway.amazonaws.com``
with ``aws:SourceArn`` the route's execute-api ARN
(``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/path``) and ``aws:SourceAccount``:
  https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html
  https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .decision import Decision
from .world import World

__all__ = ["RouteReport", "api_routes", "render_routes"]

APIGATEWAY = "apigateway.amazonaws.com"


@dataclass(frozen=True)
class RouteReport:
    api: str  # its id
    api_name: str
    route: str  # "METHOD /path"
    pool: str | None  # the user pool its authorizer accepts (None: no authorizer, anyone reaches it)
    scopes: tuple[str, ...]
    reached_by: tuple[str, ...]  # pool users (NAME), sorted
    kept_out: tuple[tuple[str, str], ...]  # (pool user, why)
    mfa_setup: tuple[str, ...]  # of those it reaches: the users who first set up MFA at sign-in
    backend: str
    invoke: Decision  # may API Gateway invoke the backend for this route

    def to_json(self) -> dict:
        return {"api": self.api, "api_name": self.api_name, "route": self.route, "user_pool": self.pool,
                "scopes": list(self.scopes), "reached_by": list(self.reached_by),
                "kept_out": [{"user": u, "why": w} for u, w in self.kept_out], "mfa_setup": list(self.mfa_setup),
                "backend": self.backend,
                "invoke": {"decision": self.invoke.decision,
                           "statements": [s.to_json() for s in self.invoke.statements]}}


def _source_arn(region: str, account: str, api: str, stage: str, route: str) -> str:
    method, _, path = route.partition(" ")
    return f"arn:aws:execute-api:{region}:{account}:{api}/{stage}/{'*' if method == 'ANY' else method}{path}"


def api_routes(world: World) -> list[RouteReport]:
    """Every route of every API of the world, sorted by API and route."""
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
    out = []
    for api, route, backend in sorted(ask("?- api_route(A, R, B).")):
        acct, name, region, stage = apis[api]
        pool = authorizer.get((api, route))
        reached, kept = set(), []
        if pool is not None:
            reached = reaches.get((api, route), set())
            for user in sorted(users.get(pool, ())):
                if user not in reached:
                    kept.append((user.split("/", 1)[1], ", ".join(sorted(blocked.get(user, ())))
                                 or "its tokens carry none of the scopes"))
        context = {"aws:SourceArn": _source_arn(region, acct, api, stage, route), "aws:SourceAccount": acct}
        invoke = world.check(APIGATEWAY, "lambda:InvokeFunction", backend, context)
        out.append(RouteReport(api, name, route, pools.get(pool) if pool else None,
                               tuple(sorted(scopes.get((api, route), ()))),
                               tuple(sorted(u.split("/", 1)[1] for u in reached)), tuple(kept),
                               tuple(sorted(u.split("/", 1)[1] for u in reached & setup)), backend, invoke))
    return out


def render_routes(reports: list[RouteReport]) -> str:
    lines = []
    for r in reports:
        lines.append(f"api {r.api_name} ({r.api}) {r.route}")
        if r.pool is None:
            lines.append("  no authorizer: anyone reaches it")
        else:
            scopes = f", with one of the scopes {', '.join(r.scopes)}" if r.scopes else ""
            lines.append(f"  authorizer: tokens of user pool {r.pool}{scopes}")
            lines.append("  reached by: " + (", ".join(f"{u} (after setting up MFA at sign-in)" if u in r.mfa_setup
                                                       else u for u in r.reached_by) or "nobody"))
            lines += [f"  kept out: {user} ({why})" for user, why in r.kept_out]
        verdict = "may invoke" if r.invoke.decision == "Allow" else "may NOT invoke"
        lines.append(f"  API Gateway {verdict} {r.backend}")
        lines += ["    " + line for line in r.invoke.summary().splitlines()]
    return "\n".join(lines)


def cmd_routes(args) -> int:
    from .world import load

    reports = api_routes(load(args.world))
    print(json.dumps([r.to_json() for r in reports], indent=2) if args.format == "json" else render_routes(reports))
    return 0 if all(r.invoke.decision == "Allow" for r in reports) else 1


def add_commands(sub) -> None:
    p = sub.add_parser("routes", help="API Gateway routes behind Cognito user pools: who reaches each, and whether "
                                      "API Gateway may invoke its backend (exit 1 if it may not for one)")
    p.add_argument("world", nargs="+", help="the world's .iaml files")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=cmd_routes)
