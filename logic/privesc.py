"""Privilege escalation: principals that can grant themselves more than they have.

Each finding is one path, proved by decisions of :meth:`World.check_many` (nothing here
re-implements evaluation). A step denied only because the request lacks condition keys (MFA, a
source address, a region: keys the caller may well give) is a finding too, with the keys it needs
(:attr:`Escalation.needs`). The techniques checked, with the IAM actions they rest on:

- ``modify-own-policy``: ``iam:CreatePolicyVersion`` on a customer-managed policy attached to the
  principal (directly or through a group) — a new default version can say ``allow * on *``;
- ``attach-to-self`` / ``put-inline-on-self``: ``iam:AttachUserPolicy`` / ``iam:PutUserPolicy`` on
  its own user, ``iam:AttachRolePolicy`` / ``iam:PutRolePolicy`` on its own role;
- ``join-group``: ``iam:AddUserToGroup`` on a group with policies the user does not hold;
- ``join-and-modify-group``: ``iam:AddUserToGroup`` on a group without policies together with
  ``iam:AttachGroupPolicy`` or ``iam:PutGroupPolicy`` on it;
- ``modify-own-group``: ``iam:PutGroupPolicy`` / ``iam:AttachGroupPolicy`` on a group of the user;
- ``credentials-of-user``: ``iam:CreateAccessKey``, ``iam:CreateLoginProfile`` or
  ``iam:UpdateLoginProfile`` on another user that holds policies (its keys or console password);
- ``rewrite-trust``: ``iam:UpdateAssumeRolePolicy`` on a role it cannot assume today (of the roles
  here and below, only those that hold policies);
- ``pass-role-to-code``: ``iam:PassRole`` on a role (asked with ``iam:PassedToService`` set to the
  service) together with a service action that runs code with it (Lambda, EC2, CloudFormation,
  CodeBuild, SageMaker, Glue, ECS, Data Pipeline), when the role's trust policy lets that service in;
- ``remove-own-boundary``: ``iam:DeleteUserPermissionsBoundary`` / ``iam:PutUserPermissionsBoundary``
  on its own user (``…RolePermissionsBoundary`` on its own role), when it has a permissions boundary;
- ``assume-role``: ``sts:AssumeRole`` into a role that holds policies (every such role reachable,
  with its path; a role whose trust or the caller's policies need condition keys, such as MFA,
  with the keys);
- ``modify-assumable-role``: ``iam:AttachRolePolicy`` / ``iam:PutRolePolicy`` on a role it can
  assume (with or without policies), or ``iam:CreatePolicyVersion`` on a customer-managed policy
  attached to one;
- ``create-user-without-boundary``: ``iam:CreateUser`` allowed with no ``iam:PermissionsBoundary``
  in the request, when the principal itself has a permissions boundary;
- ``identity-pool-basic-flow``: an identity of an Amazon Cognito identity pool that allows the
  basic (classic) flow takes a role the pool does not give it (its role-mapping rules, and a
  guest's limits, bypassed), because the role's trust policy admits the identity's token
  (``sts:AssumeRoleWithWebIdentity`` by ``cognito-identity.amazonaws.com``; Amazon Cognito
  developer guide: authentication-flow, role-trust-and-permissions).

A role that IAM Identity Center provisions acts through the sessions of its users (each with its
session tags), and is never a target: AWS refuses every IAM change to it except by Identity Center
(a protected role), and its trust policy lets in Identity Center's SAML provider only, so no
service can be passed it.

Sources: the IAM actions' documentation (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html)
and the IAM guide on permissions boundaries for delegated administration
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html).
"""

from __future__ import annotations

from dataclasses import dataclass

from .graph import role_reachability

#: Service actions that run code with a passed role (iam:PassRole into a service that runs code),
#: with the service principal the role is passed to (iam:PassedToService) and that assumes it.
RUNS_CODE = {"lambda:CreateFunction": "lambda.amazonaws.com", "ec2:RunInstances": "ec2.amazonaws.com",
             "cloudformation:CreateStack": "cloudformation.amazonaws.com",
             "codebuild:CreateProject": "codebuild.amazonaws.com",
             "sagemaker:CreateNotebookInstance": "sagemaker.amazonaws.com", "glue:CreateDevEndpoint": "glue.amazonaws.com",
             "ecs:RunTask": "ecs-tasks.amazonaws.com", "datapipeline:CreatePipeline": "datapipeline.amazonaws.com"}


#: The keys a service sets when it acts for a resource (its ARN, account and organization).
_SOURCE_KEYS = frozenset({"aws:sourcearn", "aws:sourceaccount", "aws:sourceorgid", "aws:sourceorgpaths"})


@dataclass(frozen=True)
class Escalation:
    """One way a principal can give itself more: the technique, the steps, and what they act on."""

    principal: str
    technique: str
    steps: tuple[str, ...]  # "action on resource" for each allowed request, or the role path
    needs: tuple[str, ...] = ()  # condition keys the request must carry (denied without them)

    def render(self) -> str:
        needs = f" [if the request carries {', '.join(self.needs)}]" if self.needs else ""
        return f"{self.principal}: {self.technique}: " + " ; ".join(self.steps) + needs


def escalations(world) -> list[Escalation]:
    """Every escalation path of every user and role of the world (the root users are left out:
    they hold every permission already)."""
    ev = world.evaluator()
    idx = ev.index
    principals = sorted(p for p, (t, _) in idx.principals.items() if t in ("user", "role") and p not in idx.sso_roles)
    role_of = {s: role for role in idx.sso_roles for s in idx.sso_sessions(role)}  # a session -> its role
    principals += sorted(role_of)
    identity = ev.facts("identity_policy")
    group_member = ev.facts("group_member")
    group_policy = ev.facts("group_policy")
    managed = {p for p, (k, _) in idx.policies.items() if ":policy/" in p and not p.startswith("arn:aws:iam::aws:")}
    groups = sorted({g for g, _a, _n in ev.facts("group")})
    roles = sorted(p for p, (t, _) in idx.principals.items() if t == "role" and p not in idx.sso_roles)
    policied_groups = {g for g, _ in group_policy}
    holds = {who for who, _ in identity} | {u for u, g in group_member if g in policied_groups}
    powerful_users = sorted(u for u in holds if idx.principals.get(u, ("",))[0] == "user")

    _, paths = role_reachability(world)
    reachable = {p: {path[-1] for path in ps} for p, ps in paths.items()}
    asks: list[tuple[str, str, str, str, tuple]] = []  # (principal, technique, action, resource, extra)
    for p in principals:
        me = role_of.get(p, p)
        kind = idx.principals[me][0]
        own = {pol for who, pol in identity if who == me}
        own |= {pol for g, pol in group_policy if (p, g) in group_member}
        for pol in sorted(own & managed):
            asks.append((p, "modify-own-policy", "iam:CreatePolicyVersion", pol, ()))
        if kind == "user":
            asks.append((p, "attach-to-self", "iam:AttachUserPolicy", p, ()))
            asks.append((p, "put-inline-on-self", "iam:PutUserPolicy", p, ()))
            for g in groups:
                if (p, g) not in group_member and g in policied_groups:
                    asks.append((p, "join-group", "iam:AddUserToGroup", g, ()))
                elif (p, g) not in group_member:  # a group without policies: join it, then give it some
                    asks.append((p, "join-and-modify-group", "iam:AddUserToGroup", g, ()))
                    for action in ("iam:AttachGroupPolicy", "iam:PutGroupPolicy"):
                        asks.append((p, "join-and-modify-group", action, g, ("then",)))
                elif (p, g) in group_member:
                    asks.append((p, "modify-own-group", "iam:PutGroupPolicy", g, ()))
                    asks.append((p, "modify-own-group", "iam:AttachGroupPolicy", g, ()))
            if p in idx.boundaries:
                asks.append((p, "create-user-without-boundary", "iam:CreateUser",
                             f"arn:aws:iam::{idx.principals[p][1]}:user/new-user", ()))
                asks.append((p, "remove-own-boundary", "iam:DeleteUserPermissionsBoundary", p, ()))
                asks.append((p, "remove-own-boundary", "iam:PutUserPermissionsBoundary", p, ()))
        elif me not in idx.sso_roles:
            asks.append((p, "attach-to-self", "iam:AttachRolePolicy", me, ()))
            asks.append((p, "put-inline-on-self", "iam:PutRolePolicy", me, ()))
            if me in idx.boundaries:
                asks.append((p, "remove-own-boundary", "iam:DeleteRolePermissionsBoundary", me, ()))
                asks.append((p, "remove-own-boundary", "iam:PutRolePermissionsBoundary", me, ()))
        for u in powerful_users:
            if u != me:
                for action in ("iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile"):
                    asks.append((p, "credentials-of-user", action, u, ()))
        for r in sorted(reachable.get(p, ())):  # a role it can assume: what it is given, it gets
            if r != me and r not in idx.sso_roles:
                asks.append((p, "modify-assumable-role", "iam:AttachRolePolicy", r, ()))
                asks.append((p, "modify-assumable-role", "iam:PutRolePolicy", r, ()))
                for pol in sorted({pol for who, pol in identity if who == r} & managed - own):
                    asks.append((p, "modify-assumable-role", "iam:CreatePolicyVersion", pol, (r,)))
        for r in roles:
            if r != me and r in holds and r not in reachable.get(p, ()):  # (with the keys it needs)
                asks.append((p, "assume-role", "sts:AssumeRole", r, ()))
        for r in roles:
            if r != me and r in holds:  # a role without policies grants nothing
                asks.append((p, "rewrite-trust", "iam:UpdateAssumeRolePolicy", r, ()))
                for runner, service in RUNS_CODE.items():
                    asks.append((p, "pass-role-to-code", "iam:PassRole", r, (runner, service)))
    decisions = world.check_many([(p, a, r, {"iam:PassedToService": extra[1]} if len(extra) == 2 else None)
                                  for p, _, a, r, extra in asks])
    allowed = {(p, a, r, extra) for (p, _, a, r, extra), d in zip(asks, decisions) if d.allowed}
    # denied only for want of keys the caller may well give (MFA, a source address, a region, …):
    # when some values of those keys that the world's policies compare let the request through
    needs = _needs(world, {(p, a, r, extra): d.missing_context for (p, _, a, r, extra), d in zip(asks, decisions)
                           if not d.allowed and d.missing_context})

    found: list[Escalation] = []
    joins = {(p, g) for (p, t, a, g, extra) in asks
             if t == "join-and-modify-group" and a == "iam:AddUserToGroup" and (p, a, g, extra) in allowed}
    passes = [(p, r, extra) for (p, t, _, r, extra) in asks if t == "pass-role-to-code" and (p, "iam:PassRole", r, extra) in allowed]
    code_asks = sorted({(p, runner) for p, _, (runner, _) in passes})
    code_ok = {k for k, d in zip(code_asks, world.check_many([(p, a, "*") for p, a in code_asks])) if d.allowed}
    # the service assumes the role on behalf of a resource of the role's account (aws:SourceAccount, the
    # confused-deputy condition AWS recommends); other keys it reads it may carry too (aws:SourceArn)
    trust_asks = sorted({(service, r) for _, r, (_, service) in passes})
    trusted = {k: tuple(m for m in d.missing_context if m.lower() not in _SOURCE_KEYS)
               for k, d in zip(trust_asks, world.check_many(
                   [(s, "sts:AssumeRole", r, {"aws:SourceAccount": idx.principals[r][1]}) for s, r in trust_asks]))
               if d.allowed or d.missing_context}
    passed: set[tuple[str, str]] = set()
    for p, technique, action, resource, extra in asks:
        if technique == "join-and-modify-group" and action == "iam:AddUserToGroup":
            continue  # a step of the next ones
        if (p, action, resource, extra) not in allowed:
            keys = needs.get((p, action, resource, extra), ())
            if technique == "join-and-modify-group" and (p, resource) not in joins:
                continue
            # (a user created with a permissions boundary is what keeps delegation safe)
            if keys and technique != "pass-role-to-code" and not (
                    technique == "create-user-without-boundary" and "iam:permissionsboundary" in map(str.lower, keys)):
                found.append(Escalation(p, technique, (f"{action} on {resource}",), keys))
            continue
        if technique == "rewrite-trust" and resource in reachable.get(p, ()):
            continue  # it can assume the role already: see assume-role
        if technique == "assume-role":
            continue  # allowed: a path of role_reachability, below
        if technique == "join-and-modify-group":
            if (p, resource) in joins:
                found.append(Escalation(p, technique, (f"iam:AddUserToGroup on {resource}", f"{action} on {resource}")))
            continue
        if technique == "modify-assumable-role":
            role = extra[0] if extra else resource
            path = next(ps for ps in paths[p] if ps[-1] == role)
            found.append(Escalation(p, technique, (*path[1:], f"{action} on {resource}")))
            continue
        if technique == "pass-role-to-code":
            runner, service = extra
            if (p, runner) not in code_ok or (service, resource) not in trusted or (p, resource) in passed:
                continue
            passed.add((p, resource))  # one runner a role is enough to show the path
            found.append(Escalation(p, technique, (f"{action} on {resource} (to {service})", f"{runner} on *"),
                                    trusted[(service, resource)]))
            continue
        found.append(Escalation(p, technique, (f"{action} on {resource}",)))
    for p, ps in sorted(paths.items()):
        if p in role_of or idx.principals.get(p, ("",))[0] in ("user", "role"):
            # a role without policies grants nothing (a role IAM Identity Center provisions holds its
            # permission set's)
            found += [Escalation(p, "assume-role", tuple(path[1:])) for path in ps
                      if path[-1] in holds or path[-1] in idx.sso_roles]
    return found + _basic_flow(world)


def _needs(world, wanting: dict[tuple, tuple[str, ...]]) -> dict[tuple, tuple[str, ...]]:
    """Of the requests denied for want of condition keys (``(principal, action, resource, extra)`` →
    the keys), those allowed for some combination of the values the world's policies compare the
    keys with (:func:`iamlogic.analysis.key_pools`): a key missing from a request is not
    enough, a policy elsewhere may deny or not name the principal whatever its value. A step with
    more combinations than :data:`_COMBINATIONS` is kept."""
    if not wanting:
        return {}
    from itertools import product
    from math import prod

    from .analysis import key_pools

    pools = {low: (key, pool) for low, (key, _multi, pool) in key_pools((world,)).items()}
    asked, kept = [], set()
    for k, keys in wanting.items():
        axes = [pools.get(key.lower()) for key in keys]
        if any(a is None or not a[1] for a in axes) or prod(len(a[1]) for a in axes) > _COMBINATIONS:
            kept.add(k)  # too many values to rule it out: kept, with the keys it needs
            continue
        asked += [(k, dict(zip((a[0] for a in axes), combo))) for combo in product(*(a[1] for a in axes))]
    decided = world.check_many([(p, a, r, {**ctx, **({"iam:PassedToService": extra[1]} if len(extra) == 2 else {})})
                                for (p, a, r, extra), ctx in asked])
    kept |= {k for (k, _), d in zip(asked, decided) if d.allowed}
    return {k: keys for k, keys in wanting.items() if k in kept}


_COMBINATIONS = 256  # of the values of the keys a step needs, asked before it is counted a finding


def _basic_flow(world) -> list[Escalation]:
    """The roles each declared identity of a pool with the basic flow can take beyond the ones the
    pool gives it (the enhanced flow's, by ``cognito_enhanced``); for a guest, its own role too,
    which the basic flow gives without the scope-down policy of the enhanced flow
    (:meth:`Evaluator.cognito_basic_roles`)."""
    ev = world.evaluator()
    idx = ev.index
    found: list[Escalation] = []
    for identity, (pool, provider) in sorted(idx.cognito_identities.items()):
        given = idx.cognito_enhanced.get(identity, frozenset())
        who = f"identity {identity} of identity pool '{idx.cognito_pools[pool][1]}' ({provider or 'guest'})"
        for role in ev.cognito_basic_roles(identity):
            if role in given and provider:
                continue
            why = ("without the scope-down policy of the enhanced flow" if role in given
                   else f"the pool gives it {', '.join(sorted(given)) or 'no role'}")
            found.append(Escalation(who, "identity-pool-basic-flow",
                                    (f"sts:AssumeRoleWithWebIdentity on {role} ({why})",)))
    return found


def add_commands(sub) -> None:
    """``iamlogic escalations WORLD... [--format text|json]``: exit 1 when any path exists."""
    e = sub.add_parser("escalations", help="list every privilege escalation path of the world's users and roles")
    e.add_argument("world", nargs="+")
    e.add_argument("--format", choices=("text", "json"), default="text")
    e.set_defaults(run=_cmd)


def _cmd(args) -> int:
    import json

    from .world import load

    found = escalations(load(args.world))
    if args.format == "json":
        print(json.dumps([{"principal": f.principal, "technique": f.technique, "steps": list(f.steps),
                           "needs": list(f.needs)} for f in found], indent=2))
    else:
        print("\n".join(f.render() for f in found) or "no escalation path found")
    return 1 if found else 0
