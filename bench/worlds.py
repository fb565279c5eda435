"""Seeded synthetic worlds and request mixes for the benchmark (issue 6).

A world is built directly as a :class:`~iamlogic.grammar.ast.WorldModel` (the AST dataclasses),
not through the builder API: the builder copies the account on every call, which is quadratic for
large worlds. Everything is drawn from one ``random.Random(seed)``, so a (size, seed) pair always
gives the same world and the same requests.

Sizes (``SIZES``): XS (smoke runs), S (5 accounts, 50 principals, 500 statements), M (50 accounts
in a 3-level OU tree, 1,000 principals, 10,000 statements, 20 % of statements with conditions, SCPs
at every level, 200 resources with resource policies, permission boundaries on 20 % of principals)
and L (500 accounts, 10,000 principals, 100,000 statements). Every size uses the same knobs (an
organization with SCPs at every level, conditions, boundaries, bucket and queue policies, role
trust policies), scaled, so the small worlds exercise the same semantics as the large ones.

The statement count is exact: the statements of SCPs, trust policies, boundaries and resource
policies are counted first and the identity policies (managed, group inline, principal inline)
get the rest.

Requests (``unique_requests``) are ``(principal, action, resource, context)`` tuples drawn so that
allows, explicit denies and implicit denies all occur: 60 % instantiate a statement that reaches
the principal (an Allow or a Deny), 30 % are random actions on resources of the principal's
account, 10 % go to another account. ``zipf_requests`` repeats them with Zipf-distributed
popularity (the warm mix).

>>> g = generate("XS", seed=1)
>>> g.stats["statements"] == SIZES["XS"].statements
True
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

from iamlogic.grammar.ast import (
    Account,
    AccountRef,
    Attachment,
    Condition,
    Group,
    NamedPolicy,
    Organization,
    OrgNode,
    Policy,
    Principal,
    Resource,
    Role,
    Statement,
    User,
    WorldModel,
)
from iamlogic.matching import wildcard_match


@dataclass(frozen=True)
class Size:
    accounts: int
    principals: int
    statements: int
    ou_fanout: tuple[int, ...]  # children per OU at each level below the root (len = OU levels)
    resource_policies: int  # resources that carry a resource-based policy
    condition_share: float = 0.20  # of identity statements (the others have fixed shapes)
    boundary_share: float = 0.20  # of principals


SIZES: dict[str, Size] = {
    "XS": Size(2, 6, 60, (2,), 2),
    "S": Size(5, 50, 500, (2,), 10),
    "M": Size(50, 1_000, 10_000, (3, 2, 2), 200),
    "L": Size(500, 10_000, 100_000, (4, 3, 2), 2_000),
}

REGION = "us-east-1"
TEAMS = ("payments", "search", "data")

# The action vocabulary: (service, resource kind) -> actions of the AWS catalog.
VOCAB: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "object"): ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectTagging"),
    ("s3", "bucket"): ("s3:ListBucket", "s3:GetBucketTagging", "s3:GetBucketPolicy"),
    ("dynamodb", "table"): ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan",
                            "dynamodb:DeleteItem"),
    ("sqs", "queue"): ("sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"),
    ("ec2", "instance"): ("ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances",
                          "ec2:RebootInstances"),
    ("lambda", "function"): ("lambda:InvokeFunction", "lambda:GetFunction", "lambda:UpdateFunctionCode",
                             "lambda:DeleteFunction"),
}
KINDS = list(VOCAB)
# Wildcard action patterns per service (each matches some actions of VOCAB).
PATTERNS: dict[str, tuple[str, ...]] = {
    "s3": ("s3:Get*", "s3:Put*", "s3:Delete*", "s3:List*"),
    "dynamodb": ("dynamodb:Get*", "dynamodb:Put*", "dynamodb:*Item", "dynamodb:Delete*"),
    "sqs": ("sqs:*Message", "sqs:Get*", "sqs:Send*"),
    "ec2": ("ec2:*Instances", "ec2:Stop*", "ec2:Start*"),
    "lambda": ("lambda:Get*", "lambda:*Function*", "lambda:Invoke*"),
}
ALL_ACTIONS = tuple(a for acts in VOCAB.values() for a in acts)


@dataclass
class Generated:
    """A generated world and what the request generator needs to know about it."""

    size: str
    seed: int
    model: WorldModel
    principals: list[str]  # user and role ARNs
    principal_account: dict[str, str]
    examples: dict[str, list[tuple[str, str]]]  # principal -> (action, resource) its statements cover
    universe: dict[str, dict[tuple[str, str], list[str]]]  # account -> (service, kind) -> ARNs
    accounts: list[str]
    stats: dict = field(default_factory=dict)


def account_id(i: int) -> str:
    return f"{100_000_000_000 + i * 1_000_003:012d}"


def _universe(acct: str, k: int) -> dict[tuple[str, str], list[str]]:
    buckets = [f"arn:aws:s3:::data-{acct}-{i}" for i in range(k)]
    return {
        ("s3", "bucket"): buckets,
        ("s3", "object"): [f"{b}/reports/{j}.csv" for b in buckets for j in range(2)],
        ("dynamodb", "table"): [f"arn:aws:dynamodb:{REGION}:{acct}:table/orders{i}" for i in range(k)],
        ("sqs", "queue"): [f"arn:aws:sqs:{REGION}:{acct}:jobs{i}" for i in range(k)],
        ("ec2", "instance"): [f"arn:aws:ec2:{REGION}:{acct}:instance/i-{int(acct) % 65536:04x}{i:04x}"
                              for i in range(k)],
        ("lambda", "function"): [f"arn:aws:lambda:{REGION}:{acct}:function:fn{i}" for i in range(k)],
    }


def _resource_patterns(kind: tuple[str, str], arn: str, acct: str) -> list[str]:
    """Wildcard resource patterns that cover ``arn`` (the last one is untranslatable to Cedar)."""
    svc = kind[0]
    if kind == ("s3", "object"):
        bucket = arn.split("/", 1)[0]
        return [f"{bucket}/*", f"arn:aws:s3:::data-{acct}-*", f"{bucket}/reports/*"]
    if kind == ("s3", "bucket"):
        return [f"arn:aws:s3:::data-{acct}-*"]
    region_wild = arn.replace(f":{REGION}:", ":*:", 1)  # a wildcard in the region segment
    prefix = {"dynamodb": f"arn:aws:dynamodb:{REGION}:{acct}:table/orders*",
              "sqs": f"arn:aws:sqs:{REGION}:{acct}:jobs*",
              "ec2": f"arn:aws:ec2:{REGION}:{acct}:instance/*",
              "lambda": f"arn:aws:lambda:{REGION}:{acct}:function:fn*"}[svc]
    return [prefix, prefix, prefix, region_wild]


def _allow_conditions(rng: random.Random) -> tuple[Condition, ...]:
    c = rng.randrange(6)
    if c == 0:
        return (Condition("Bool", "aws:MultiFactorAuthPresent", ("true",)),)
    if c == 1:
        return (Condition("IpAddress", "aws:SourceIp", ("10.0.0.0/8",)),)
    if c == 2:
        return (Condition("StringEquals", "aws:RequestedRegion", (REGION, "eu-west-1")),)
    if c == 3:  # ABAC: the resource's team is the principal's team (a policy variable)
        return (Condition("StringEquals", "aws:ResourceTag/team", ("${aws:PrincipalTag/team}",)),)
    if c == 4:
        return (Condition("StringEquals", "aws:PrincipalTag/team", (rng.choice(TEAMS),)),)
    return (Condition("BoolIfExists", "aws:SecureTransport", ("true",)),
            Condition("StringLike", "aws:PrincipalTag/team", ("*a*",)))


def _deny_conditions(rng: random.Random) -> tuple[Condition, ...]:
    c = rng.randrange(3)
    if c == 0:
        return (Condition("BoolIfExists", "aws:MultiFactorAuthPresent", ("false",)),)
    if c == 1:
        return (Condition("NotIpAddress", "aws:SourceIp", ("10.0.0.0/8",)),)
    return (Condition("StringNotEquals", "aws:RequestedRegion", (REGION,)),)


class _Gen:
    def __init__(self, size: Size, seed: int):
        self.size = size
        self.rng = random.Random(seed)
        self.accounts = [account_id(i) for i in range(size.accounts)]
        per = max(2, math.ceil(2 * size.resource_policies / size.accounts / 2) + 1)
        self.universe = {a: _universe(a, per) for a in self.accounts}
        self.count = 0  # statements made
        self.conditioned = 0
        self.sid = itertools.count()

    # -- statements --------------------------------------------------------------------------
    def stmt(self, effect: str, **kw) -> Statement:
        self.count += 1
        if kw.get("conditions"):
            self.conditioned += 1
        return Statement(effect, sid=f"S{next(self.sid)}", **kw)

    def identity_statement(self, acct: str) -> tuple[Statement, list[tuple[str, str]]]:
        """One identity statement, and the (action, resource) pairs it was drawn from."""
        rng = self.rng
        target = acct if rng.random() < 0.9 or len(self.accounts) == 1 else rng.choice(self.accounts)
        kind = rng.choice(KINDS)
        arn = rng.choice(self.universe[target][kind])
        vocab = VOCAB[kind]
        effect = "Deny" if rng.random() < 0.12 else "Allow"
        if rng.random() < 0.01:  # a NotAction guardrail (outside the Cedar subset)
            st = self.stmt("Deny", not_action=("s3:*", "dynamodb:*", "sqs:*", "iam:*"), resource=("*",),
                           conditions=(Condition("StringNotEquals", "aws:RequestedRegion", (REGION, "eu-west-1")),))
            return st, [(rng.choice(ALL_ACTIONS), arn)]
        r = rng.random()
        if r < 0.60:
            actions = tuple(rng.sample(vocab, rng.randint(1, min(3, len(vocab)))))
        elif r < 0.85:
            actions = (rng.choice(PATTERNS[kind[0]]),)
        elif r < 0.97:
            actions = (f"{kind[0]}:*",)
        else:
            actions = ("*",)
        covered = [a for a in vocab if any(wildcard_match(p, a, ignore_case=True) for p in actions)]
        if not covered:  # a pattern for another kind of resource of the same service
            actions = actions + (rng.choice(vocab),)
            covered = [a for a in vocab if any(wildcard_match(p, a, ignore_case=True) for p in actions)]
        r = rng.random()
        if r < 0.20:
            resources = ("*",)
        elif r < 0.55:
            resources = (arn,) if rng.random() < 0.8 else (arn, rng.choice(self.universe[target][kind]))
        else:
            resources = (rng.choice(_resource_patterns(kind, arn, target)),)
        conds = ()
        if rng.random() < self.size.condition_share:
            conds = _deny_conditions(rng) if effect == "Deny" else _allow_conditions(rng)
        st = self.stmt(effect, action=actions, resource=resources, conditions=conds)
        return st, [(a, arn) for a in covered]

    # -- organization --------------------------------------------------------------------------
    def scps(self) -> tuple[tuple[str, NamedPolicy], ...]:
        S = self.stmt
        deny_pool = {
            "DenyLeaveOrg": Policy((S("Deny", action=("organizations:LeaveOrganization",), resource=("*",)),)),
            "DenyTerminate": Policy((S("Deny", action=("ec2:TerminateInstances",), resource=("*",)),)),
            "DenyIAMWrite": Policy((S("Deny", action=("iam:Create*", "iam:Delete*", "iam:Put*", "iam:Attach*"),
                                      resource=("*",)),)),
            "DenyTableDeleteOutsideData": Policy((S("Deny", action=("dynamodb:DeleteItem",), resource=("*",),
                                                    conditions=(Condition("StringNotEquals", "aws:PrincipalTag/team",
                                                                          ("data",)),)),)),
            "DenyLambdaDeployWithoutMFA": Policy((S("Deny", action=("lambda:UpdateFunctionCode",), resource=("*",),
                                                    conditions=(Condition("BoolIfExists",
                                                                          "aws:MultiFactorAuthPresent",
                                                                          ("false",)),)),)),
            "DenyS3PolicyChanges": Policy((S("Deny", action=("s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
                                             resource=("*",)),)),
        }
        self.deny_scps = list(deny_pool)
        allow = {
            "SandboxAllowList": Policy((S("Allow", action=("s3:*", "dynamodb:*", "sqs:*", "lambda:Get*",
                                                           "lambda:Invoke*", "ec2:Describe*"), resource=("*",)),)),
            "RegionGuard": Policy((S("Deny", not_action=("iam:*", "organizations:*", "sts:*"), resource=("*",),
                                     conditions=(Condition("StringNotEqualsIfExists", "aws:RequestedRegion",
                                                           (REGION, "eu-west-1")),)),)),
        }
        return tuple(("scp", NamedPolicy(n, p)) for n, p in {**deny_pool, **allow}.items())

    def org(self) -> Organization:
        rng = self.rng
        policies = self.scps()
        mgmt, members = self.accounts[0], self.accounts[1:]

        def deny_att():
            return (Attachment("scp", rng.choice(self.deny_scps)),)

        # Build the OU tree level by level; collect every OU as (path, depth).
        names = ["Workloads", "Sandbox", "Security", "Platform"]
        sub = [["Prod", "Dev", "Test"], ["TeamA", "TeamB"]]
        nodes: list[dict] = []

        def make(depth: int, name: str, path: str) -> dict:
            node = {"name": name, "path": path, "children": [], "accounts": [], "atts": deny_att()}
            if name == "Sandbox":  # an allow-list OU: FullAWSAccess replaced by an allow list
                node["atts"] = (Attachment("scp", "SandboxAllowList"), Attachment("scp", "FullAWSAccess", True))
            if depth == 2 and name == "Prod" and path.startswith("Workloads"):
                node["atts"] = node["atts"] + (Attachment("scp", "RegionGuard"),)
            nodes.append(node)
            if depth < len(self.size.ou_fanout):
                pool = sub[min(depth - 1, len(sub) - 1)]
                for i in range(self.size.ou_fanout[depth]):
                    n = pool[i % len(pool)] + ("" if i < len(pool) else str(i))
                    node["children"].append(make(depth + 1, n, f"{path}/{n}"))
            return node

        top = [make(1, names[i % len(names)] + ("" if i < len(names) else str(i)), names[i % len(names)])
               for i in range(self.size.ou_fanout[0])]
        for i, acct in enumerate(members):  # every OU gets accounts before any gets a second one
            node = nodes[i % len(nodes)]
            node["accounts"].append(AccountRef(acct, deny_att()))

        def freeze(node: dict) -> OrgNode:
            return OrgNode("ou", node["name"], None, node["atts"], tuple(node["accounts"]),
                           tuple(freeze(c) for c in node["children"]))

        root = OrgNode("root", "Root", None, deny_att(), (), tuple(freeze(n) for n in top))
        self.ou_count = len(nodes)
        return Organization("o-bench00000", mgmt, root, policies)

    # -- accounts ------------------------------------------------------------------------------
    def build(self) -> tuple[WorldModel, dict]:
        size = self.size
        org = self.org()
        A = size.accounts
        ppa = [size.principals // A + (1 if i < size.principals % A else 0) for i in range(A)]
        # Fixed-shape statements first: trust policies (1 per role), boundaries (3 per account),
        # resource policies; the identity policies get the rest of the statement budget.
        roles_per = [max(1, round(n * 0.4)) if n > 1 else 0 for n in ppa]
        rp_per = [size.resource_policies // A + (1 if i < size.resource_policies % A else 0) for i in range(A)]
        accounts, principals, examples, principal_account = [], [], {}, {}
        plans = []
        for i, acct in enumerate(self.accounts):
            plans.append(self.plan_account(i, acct, ppa[i], roles_per[i], rp_per[i]))
        fixed = self.count + sum(p["fixed"] for p in plans)
        budget = size.statements - fixed
        if budget < A:
            raise ValueError(f"size {size}: {fixed} fixed statements leave too few identity statements")
        per_account = [budget // A + (1 if i < budget % A else 0) for i in range(A)]
        for i, acct in enumerate(self.accounts):
            account, plist, ex = self.account(acct, plans[i], per_account[i])
            accounts.append(account)
            for p in plist:
                principals.append(p)
                principal_account[p] = acct
                examples[p] = ex[p]
        model = WorldModel((org,), tuple(accounts), ())
        return model, dict(principals=principals, principal_account=principal_account, examples=examples)

    def plan_account(self, i: int, acct: str, n: int, roles: int, rps: int) -> dict:
        rng = self.rng
        users = n - roles
        # resource policies: on buckets and queues of the account
        candidates = [("s3", "bucket", a) for a in self.universe[acct][("s3", "bucket")]] + \
                     [("sqs", "queue", a) for a in self.universe[acct][("sqs", "queue")]]
        rng.shuffle(candidates)
        with_policy = candidates[:rps]
        fixed = roles + 3 + sum(3 if svc == "s3" else 2 for svc, _, _ in with_policy)
        return dict(users=users, roles=roles, with_policy=with_policy, fixed=fixed)

    def account(self, acct: str, plan: dict, budget: int):
        rng, size = self.rng, self.size
        others = [a for a in self.accounts if a != acct] or [acct]
        user_names = [f"u{j}" for j in range(plan["users"])]
        role_names = [f"r{j}" for j in range(plan["roles"])]
        arns = ([f"arn:aws:iam::{acct}:user/{u}" for u in user_names]
                + [f"arn:aws:iam::{acct}:role/{r}" for r in role_names])
        n = len(arns)
        n_groups = max(1, n // 5)
        n_managed = max(2, n // 2)
        # Split the identity budget: managed 35 %, group inline 15 %, principal inline 50 %.
        managed_budget = max(n_managed, round(budget * 0.35))
        group_budget = max(n_groups, round(budget * 0.15))
        inline_budget = budget - managed_budget - group_budget
        if inline_budget < 0:
            managed_budget += inline_budget
            inline_budget = 0

        def split(total: int, parts: int, minimum: int) -> list[int]:
            base = [minimum] * parts
            for _ in range(total - minimum * parts):
                base[rng.randrange(parts)] += 1
            return base

        def policy(count: int) -> tuple[Policy, list[tuple[str, str]]]:
            stmts, ex = [], []
            for _ in range(count):
                s, e = self.identity_statement(acct)
                stmts.append(s)
                ex.extend(e)
            return Policy(tuple(stmts)), ex

        managed, managed_ex = [], {}
        for j, c in enumerate(split(managed_budget, n_managed, 1)):
            doc, ex = policy(c)
            managed.append(NamedPolicy(f"mp{j}", doc))
            managed_ex[f"mp{j}"] = ex
        groups, group_ex = [], {}
        for j, c in enumerate(split(group_budget, n_groups, 1)):
            doc, ex = policy(c)
            groups.append(Group(f"g{j}", inline=(NamedPolicy(f"g{j}-inline", doc),)))
            group_ex[f"g{j}"] = ex
        # Boundaries (3 statements per account, counted in the plan).
        S = self.stmt
        boundaries = [
            NamedPolicy("BoundaryData", Policy((S("Allow", action=("s3:*", "dynamodb:*", "sqs:*", "lambda:*"),
                                                  resource=("*",)),))),
            NamedPolicy("BoundaryNoDelete", Policy((
                S("Allow", action=("*",), resource=("*",)),
                S("Deny", action=("s3:DeleteObject", "dynamodb:DeleteItem", "lambda:DeleteFunction",
                                  "ec2:TerminateInstances"), resource=("*",))))),
        ]
        inline_counts = split(inline_budget, n, 0)
        users, roles, examples = [], [], {}
        for k, arn in enumerate(arns):
            is_user = k < len(user_names)
            name = (user_names + role_names)[k]
            attach = tuple(rng.sample([m.name for m in managed], rng.randint(1, min(2, len(managed)))))
            inline = ()
            ex = [e for m in attach for e in managed_ex[m]]
            if inline_counts[k]:
                doc, iex = policy(inline_counts[k])
                inline = (NamedPolicy(f"{name}-inline", doc),)
                ex += iex
            boundary = rng.choice(boundaries).name if rng.random() < size.boundary_share else None
            tags = (("team", rng.choice(TEAMS)),)
            if is_user:
                gs = tuple(rng.sample([g.name for g in groups], rng.randint(0, min(2, len(groups)))))
                for g in gs:
                    ex += group_ex[g]
                users.append(User(name, tags=tags, groups=gs, inline=inline, managed=attach, boundary=boundary))
            else:
                trust = Policy((S("Allow", action=("sts:AssumeRole",),
                                  principal=(Principal("AWS", f"arn:aws:iam::{acct}:root"),)),))
                roles.append(Role(name, tags=tags, trust=trust, inline=inline, managed=attach, boundary=boundary))
            examples[arn] = ex
        # Resources: every bucket and queue of the account is declared (tagged); some carry a policy.
        with_policy = {arn: svc for svc, _, arn in plan["with_policy"]}
        resources = []
        role_arns = [a for a in arns if ":role/" in a] or arns
        for kind in (("s3", "bucket"), ("sqs", "queue"), ("dynamodb", "table")):
            for arn in self.universe[acct][kind]:
                pol = None
                if arn in with_policy:
                    other = rng.choice(others)
                    if kind[0] == "s3":
                        pol = Policy((
                            S("Allow", action=("s3:GetObject", "s3:ListBucket"), resource=(arn, f"{arn}/*"),
                              principal=(Principal("AWS", f"arn:aws:iam::{other}:root"),)),
                            S("Allow", action=("s3:PutObject",), resource=(f"{arn}/*",),
                              principal=(Principal("AWS", rng.choice(role_arns)),)),
                            S("Deny", action=("s3:*",), resource=(arn, f"{arn}/*"),
                              principal=(Principal("AWS", "*"),),
                              conditions=(Condition("Bool", "aws:SecureTransport", ("false",)),)),
                        ))
                    else:
                        pol = Policy((
                            S("Allow", action=("sqs:SendMessage", "sqs:ReceiveMessage"), resource=(arn,),
                              principal=(Principal("AWS", f"arn:aws:iam::{other}:root"),)),
                            S("Deny", action=("sqs:DeleteMessage",), resource=(arn,),
                              not_principal=(Principal("AWS", f"arn:aws:iam::{acct}:root"),
                                             Principal("AWS", rng.choice(role_arns)))),
                        ))
                # (a bucket with ABAC enabled: S3 evaluates aws:ResourceTag against its tags only then)
                resources.append(Resource(arn, (("team", rng.choice(TEAMS)),), pol, abac=arn.startswith("arn:aws:s3:::")))
        account = Account(acct, f"acct-{acct[-6:]}", (), tuple(users), tuple(groups), tuple(roles),
                          tuple(managed) + tuple(boundaries), tuple(resources))
        return account, arns, examples


def generate(size: str, seed: int = 42) -> Generated:
    """The world of ``size`` (a key of :data:`SIZES`) drawn with ``seed``."""
    spec = SIZES[size]
    g = _Gen(spec, seed)
    model, info = g.build()
    boundaries = sum(1 for a in model.accounts for p in (*a.users, *a.roles) if p.boundary)
    stats = {
        "accounts": len(model.accounts),
        "ous": g.ou_count,
        "ou_levels": len(spec.ou_fanout),
        "principals": len(info["principals"]),
        "users": sum(len(a.users) for a in model.accounts),
        "roles": sum(len(a.roles) for a in model.accounts),
        "groups": sum(len(a.groups) for a in model.accounts),
        "statements": g.count,
        "with_conditions": g.conditioned,
        "boundaries": boundaries,
        "resources": sum(len(a.resources) for a in model.accounts),
        "resource_policies": sum(1 for a in model.accounts for r in a.resources if r.policy is not None),
        "scps": len(model.organizations[0].policies),
    }
    if g.count != spec.statements:
        raise AssertionError(f"generated {g.count} statements, wanted {spec.statements}")
    return Generated(size, seed, model, info["principals"], info["principal_account"], info["examples"],
                     g.universe, g.accounts, stats)


# ---------------------------------------------------------------------------------------------
# Requests

Request = tuple  # (principal, action, resource, context dict)


def _kind_of(action: str) -> tuple[str, str]:
    for kind, acts in VOCAB.items():
        if action in acts:
            return kind
    raise KeyError(action)


def _context(rng: random.Random) -> dict:
    ctx = {}
    r = rng.random()
    if r < 0.90:
        ctx["aws:RequestedRegion"] = REGION
    elif r < 0.96:
        ctx["aws:RequestedRegion"] = "eu-west-1"
    else:
        ctx["aws:RequestedRegion"] = "ap-south-1"
    ctx["aws:SecureTransport"] = "true" if rng.random() < 0.93 else "false"
    r = rng.random()
    if r < 0.7:
        ctx["aws:MultiFactorAuthPresent"] = "true"
    elif r < 0.9:
        ctx["aws:MultiFactorAuthPresent"] = "false"
    ctx["aws:SourceIp"] = "10.1.2.3" if rng.random() < 0.8 else "203.0.113.7"
    return ctx


def _as_caller(rng: random.Random, principal: str) -> str:
    """A role is asked for as itself, or (one time in ten) as a session of it."""
    if ":role/" in principal and rng.random() < 0.1:
        acct = principal.split(":")[4]
        return f"arn:aws:sts::{acct}:assumed-role/{principal.rsplit('/', 1)[1]}/s{rng.randrange(3)}"
    return principal


def _one(g: Generated, rng: random.Random) -> Request:
    p = rng.choice(g.principals)
    acct = g.principal_account[p]
    r = rng.random()
    ex = g.examples.get(p)
    if r < 0.6 and ex:
        action, resource = rng.choice(ex)
    else:
        target = acct if r < 0.9 or len(g.accounts) == 1 else rng.choice(g.accounts)
        kind = rng.choice(KINDS)
        resource = rng.choice(g.universe[target][kind])
        action = rng.choice(VOCAB[kind])
    return (_as_caller(rng, p), action, resource, _context(rng))


def request_key(req: Request) -> tuple:
    return (req[0], req[1], req[2], tuple(sorted(req[3].items())))


def unique_requests(g: Generated, n: int, seed: int = 7) -> list[Request]:
    """``n`` distinct requests (fewer only if the world cannot give that many)."""
    rng = random.Random(f"{g.size}/{g.seed}/{seed}")
    seen, out = set(), []
    attempts = 0
    while len(out) < n and attempts < 50 * n:
        attempts += 1
        req = _one(g, rng)
        k = request_key(req)
        if k not in seen:
            seen.add(k)
            out.append(req)
    return out


def zipf_requests(unique: list[Request], n: int, s: float = 1.1, seed: int = 11) -> list[Request]:
    """``n`` requests drawn from ``unique`` with Zipf(s) popularity (rank k has weight 1/k^s)."""
    rng = random.Random(seed)
    order = list(range(len(unique)))
    rng.shuffle(order)
    weights = list(itertools.accumulate(1.0 / (k + 1) ** s for k in range(len(order))))
    return [unique[order[i]] for i in rng.choices(range(len(order)), cum_weights=weights, k=n)]


def row_requests(unique: list[Request], n: int, callers: int = 20, seed: int = 13) -> list[Request]:
    """``n`` requests of a service that checks rows: the first ``callers`` (principal, action)
    pairs of ``unique`` on S3 objects, drawn at random, each request on an object no request named
    before (``<bucket>/rows/<i>.json``), with its pair's context. Every request is new to the
    decision cache; its caller and action are not."""
    pairs: dict[tuple[str, str], Request] = {}
    for req in unique:
        if req[2].startswith("arn:aws:s3:::") and "/" in req[2]:
            pairs.setdefault((req[0], req[1]), req)
            if len(pairs) == callers:
                break
    rng = random.Random(seed)
    chosen = list(pairs.values())
    out = []
    for i in range(n):
        principal, action, resource, context = rng.choice(chosen)
        out.append((principal, action, f"{resource.split('/', 1)[0]}/rows/{i}.json", context))
    return out


def who_can_target(g: Generated, requests: list[Request]) -> tuple[str, str]:
    """The (action, resource) asked most often in ``requests``: the who-can question of the run."""
    counts: dict[tuple[str, str], int] = {}
    for _, a, r, _ in requests:
        counts[(a, r)] = counts.get((a, r), 0) + 1
    return max(counts, key=lambda k: (counts[k], k))


def matrix_axes(g: Generated) -> tuple[list[str], list[str], list[str]]:
    """The full access matrix: principals × the vocabulary actions its policies name × declared resources."""
    named: set[str] = set()
    patterns: set[str] = set()
    for a in g.model.accounts:
        docs = [p.document for p in a.policies] + [p.document for u in (*a.users, *a.groups, *a.roles)
                                                   for p in u.inline]
        for d in docs:
            for s in d.statements:
                patterns.update(s.action or ())
    for pat in patterns:
        named.update(a for a in ALL_ACTIONS if wildcard_match(pat, a, ignore_case=True))
    resources = [r.arn for a in g.model.accounts for r in a.resources]
    return list(g.principals), sorted(named), resources


if __name__ == "__main__":  # pragma: no cover
    import sys

    for name in sys.argv[1:] or ["XS", "S"]:
        g = generate(name)
        print(name, g.stats)
