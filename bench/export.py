"""An account as `aws iam get-account-authorization-details` exports it, decided: how fast iamlogic
reads a real-shaped export and decides requests on it.

    python bench/export.py [--roles 3000] [--requests 2000] [--seed 5] [--keep export.json]

The synthetic worlds of ``worlds.py`` have short Action and Resource lists. Real accounts attach
AWS managed policies whose Action lists run to hundreds of entries, most of them patterns
(``ReadOnlyAccess``: ``ec2:Describe*``, ``s3:Get*``, … for every service), and policies that list
their buckets one by one. This script writes a seeded export of that shape — ``--roles`` roles
(one user for six roles, 30 groups), each with an inline policy and one to four managed policies
drawn from 60 customer managed policies (one in six with a statement listing 300 buckets) and
three AWS managed ones made from the catalog: a ReadOnlyAccess-like policy (every service's
Describe/Get/List/BatchGet/Search/Query actions as patterns, the other read actions by name), an
AdministratorAccess and a PowerUserAccess (NotAction) — then loads it as a world and prints:
load time and peak memory, cold ``World.check`` latency (p50, p99, mean CPU time) and
``check_many`` throughput of requests of random roles (a quarter of them reading or writing
objects of the 400 buckets, the rest any action of eight services, on an object, a queue or
``*``), and who-can for one action and resource.
The answers' digest is printed, so that two versions can be compared on the same requests.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ACCOUNT = "123456789012"
COMMON = ("s3", "ec2", "lambda", "dynamodb", "sqs", "sns", "kms", "logs", "cloudwatch", "iam", "sts",
          "secretsmanager", "ssm", "ecr", "ecs")
READ_VERBS = ("Describe", "Get", "List", "BatchGet", "Search", "Query")


def _document(statements: list[dict]) -> dict:
    return {"Version": "2012-10-17", "Statement": statements}


def _managed(name: str, document: dict, aws: bool = False) -> dict:
    arn = f"arn:aws:iam::aws:policy/{name}" if aws else f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    return {"PolicyName": name, "PolicyId": "ANPA" + name.upper()[:17].ljust(17, "X"), "Arn": arn, "Path": "/",
            "DefaultVersionId": "v1", "AttachmentCount": 1, "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
            "PolicyVersionList": [{"Document": document, "VersionId": "v1", "IsDefaultVersion": True}]}


def read_only_actions(catalog) -> list[str]:
    """Every service's read and list actions, as ReadOnlyAccess lists them: a pattern for each verb
    prefix that has some, the other actions by name."""
    out: list[str] = []
    by_service: dict[str, list[str]] = {}
    for info in catalog._actions.values():
        if info.access_level in ("Read", "List"):
            by_service.setdefault(info.service, []).append(info.name)
    for service in sorted(by_service):
        found: set[str] = set()
        for name in by_service[service]:
            verb = name.partition(":")[2]
            prefix = next((v for v in READ_VERBS if verb.startswith(v)), None)
            found.add(f"{service}:{prefix}*" if prefix else name)
        out += sorted(found)
    return out


def export(roles: int, seed: int) -> dict:
    """A seeded export of one account (see the module's docstring)."""
    from iamlogic.catalog import Catalog

    catalog = Catalog.default()
    rng = random.Random(seed)
    actions: dict[str, list[str]] = {}
    for info in catalog._actions.values():
        actions.setdefault(info.service, []).append(info.name)
    policies = [
        _managed("ReadOnlyAccess",
                 _document([{"Effect": "Allow", "Action": read_only_actions(catalog), "Resource": "*"}]), aws=True),
        _managed("AdministratorAccess", _document([{"Effect": "Allow", "Action": "*", "Resource": "*"}]), aws=True),
        _managed("PowerUserAccess", _document([
            {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["iam:CreateServiceLinkedRole", "iam:ListRoles",
                                           "organizations:DescribeOrganization"], "Resource": "*"}]), aws=True)]
    for i in range(60):
        statements = []
        for j in range(rng.randint(2, 6)):
            service = rng.choice(COMMON)
            listed = rng.sample(actions[service], min(len(actions[service]), rng.randint(1, 12)))
            if rng.random() < 0.3:
                listed.append(f"{service}:Get*")
            statement = {"Sid": f"S{j}", "Effect": "Deny" if rng.random() < 1 / 6 else "Allow", "Action": listed,
                         "Resource": rng.choice(["*", f"arn:aws:s3:::bucket-{i}/*",
                                                 f"arn:aws:{service}:us-east-1:{ACCOUNT}:*"])}
            if rng.random() < 0.2:
                statement["Condition"] = {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
            statements.append(statement)
        if i % 6 == 0:  # a data team's buckets, listed one by one
            statements.append({"Sid": "Buckets", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                               "Resource": [f"arn:aws:s3:::bucket-{b}/*" for b in rng.sample(range(400), 300)]})
        policies.append(_managed(f"Team{i}", _document(statements)))
    arns = {p["PolicyName"]: p["Arn"] for p in policies}

    def attached(k: int) -> list[dict]:
        return [{"PolicyName": n, "PolicyArn": arns[n]} for n in rng.sample(sorted(arns), k)]

    trust = _document([{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole"}])
    role_list = [{
        "Path": "/", "RoleName": f"role{i}", "RoleId": f"AROA{i:017d}", "Arn": f"arn:aws:iam::{ACCOUNT}:role/role{i}",
        "CreateDate": "2025-01-01T00:00:00+00:00", "AssumeRolePolicyDocument": trust, "InstanceProfileList": [],
        "Tags": [{"Key": "team", "Value": f"t{i % 20}"}],
        "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": _document([{
            "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:aws:s3:::bucket-{i % 100}/*"}])}],
        "AttachedManagedPolicies": attached(rng.randint(1, 4)), "RoleLastUsed": {}} for i in range(roles)]
    users = [{
        "Path": "/", "UserName": f"user{i}", "UserId": f"AIDA{i:017d}", "Arn": f"arn:aws:iam::{ACCOUNT}:user/user{i}",
        "CreateDate": "2025-01-01T00:00:00+00:00", "UserPolicyList": [], "GroupList": [f"group{i % 30}"],
        "AttachedManagedPolicies": attached(rng.randint(0, 2)), "Tags": []} for i in range(roles // 6)]
    groups = [{
        "Path": "/", "GroupName": f"group{i}", "GroupId": f"AGPA{i:017d}",
        "Arn": f"arn:aws:iam::{ACCOUNT}:group/group{i}",
        "CreateDate": "2025-01-01T00:00:00+00:00", "GroupPolicyList": [], "AttachedManagedPolicies": attached(2)}
        for i in range(30)]
    return {"UserDetailList": users, "GroupDetailList": groups, "RoleDetailList": role_list, "Policies": policies,
            "IsTruncated": False}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--roles", type=int, default=3000)
    ap.add_argument("--requests", type=int, default=2000, help="unique requests for each of check and check_many")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--keep", metavar="FILE", help="write the export here (else to a temporary file)")
    args = ap.parse_args(argv)

    import iamlogic
    from iamlogic import analysis
    from iamlogic.catalog import Catalog

    data = export(args.roles, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "export.json"
        path.write_text(json.dumps(data))
        print(f"# python bench/export.py --roles {args.roles} --requests {args.requests} --seed {args.seed}")
        print(f"Export: {args.roles:,} roles, {len(data['UserDetailList']):,} users, {len(data['GroupDetailList'])} "
              f"groups, {len(data['Policies'])} managed policies (ReadOnlyAccess-like: "
              f"{len(data['Policies'][0]['PolicyVersionList'][0]['Document']['Statement'][0]['Action']):,} "
              f"Action entries); {path.stat().st_size / 1e6:.1f} MB")
        t = time.perf_counter()
        world = iamlogic.load([str(path)])
        world.evaluator()
        print(f"Load and compile: {time.perf_counter() - t:.2f} s; peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
    rng = random.Random(args.seed + 1)
    services = ("s3", "ec2", "lambda", "dynamodb", "sqs", "iam", "kms", "logs")
    names = [i.name for i in Catalog.default()._actions.values() if i.service in services]

    def target() -> str:  # "*" (a quarter), a queue (a quarter), an object of one of 400 buckets
        k = rng.randrange(4)
        return "*" if k == 0 else f"arn:aws:sqs:us-east-1:{ACCOUNT}:queue" if k == 1 else \
            f"arn:aws:s3:::bucket-{rng.randrange(400)}/key"

    def action() -> str:  # a quarter reading or writing objects, the rest any action of 8 services
        return rng.choice(("s3:GetObject", "s3:PutObject")) if rng.random() < 0.25 else rng.choice(names)

    requests = [(f"arn:aws:iam::{ACCOUNT}:role/role{rng.randrange(args.roles)}", action(), target())
                for _ in range(2 * args.requests + 1)]
    world.check(*requests[0])
    gc.collect()
    gc.freeze()  # (as a service does once its world is loaded: see the README)
    latencies = []
    cpu = time.process_time()
    for r in requests[1:args.requests + 1]:
        t0 = time.perf_counter_ns()
        world.check(*r)
        latencies.append(time.perf_counter_ns() - t0)
    cpu = time.process_time() - cpu
    latencies.sort()
    n = len(latencies)
    print(f"Cold World.check, {n:,} unique requests: p50 {latencies[n // 2] / 1e3:.1f} µs, "
          f"p99 {latencies[min(n - 1, n * 99 // 100)] / 1e3:.1f} µs, mean CPU {cpu / n * 1e6:.1f} µs")
    cpu = time.process_time()
    answers = world.check_many(requests[args.requests + 1:])
    cpu = time.process_time() - cpu
    print(f"check_many, {len(answers):,} unique requests: {len(answers) / cpu:,.0f}/s (CPU time)")
    t = time.perf_counter()
    found = analysis.who_can(world, "s3:GetObject", "arn:aws:s3:::bucket-7/key")
    print(f"who-can s3:GetObject on arn:aws:s3:::bucket-7/key: {len(found)} principal(s) in "
          f"{time.perf_counter() - t:.2f} s")
    digest = hashlib.md5(repr([(d.decision, [(s.policy_name, s.index, s.line) for s in d.statements])
                               for d in answers]).encode()).hexdigest()
    print(f"Answers of check_many (decision and deciding statements), MD5: {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
