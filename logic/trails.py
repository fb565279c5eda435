"""Central logging (seed scenario 1): is every account watched by a CloudTrail trail that logs all
regions and can deliver to its bucket, and may each log subscription write to its destination?

Which trails cover an account is a query of ``rules/80-logging.dl`` (``trail_covers``,
``trail_watches``). Whether a trail can deliver is the decision of the requests CloudTrail makes:
``s3:GetBucketAcl`` on the bucket and ``s3:PutObject`` of a log file of the account, by
``cloudtrail.amazonaws.com`` with ``aws:SourceArn`` (the trail), ``aws:SourceAccount`` (its
account) and, for an account in an organization, ``aws:SourceOrgID`` and ``aws:SourceOrgPaths``
(reference_policies_condition-keys), the write with ``s3:x-amz-acl = bucket-owner-full-control``:
  https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html
Whether an account may subscribe a log group to a destination of another account is the decision of
``logs:PutSubscriptionFilter`` on the destination by the account's root user (its SCPs apply):
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CreateDestination.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .decision import Decision
from .world import World

__all__ = ["Delivery", "LoggingReport", "Subscription", "central_logging", "render_logging"]

CLOUDTRAIL = "cloudtrail.amazonaws.com"


@dataclass(frozen=True)
class Delivery:
    """A trail and an account whose events it records."""

    trail: str
    account: str
    organization: bool  # an organization trail
    logging: bool
    multi_region: bool
    bucket: str
    declared: bool  # the world declares the bucket (else delivery is not decided)
    checks: tuple[Decision, ...]  # s3:GetBucketAcl on the bucket, s3:PutObject of a log file

    @property
    def delivers(self) -> bool:
        return self.declared and all(d.decision == "Allow" for d in self.checks)

    @property
    def watches(self) -> bool:
        return self.logging and self.multi_region and self.delivers


@dataclass(frozen=True)
class Subscription:
    group: str
    account: str
    destination: str
    declared: bool  # the world declares the destination (else the subscription is not decided)
    decision: Decision | None

    @property
    def allowed(self) -> bool:
        return self.decision is not None and self.decision.decision == "Allow"


@dataclass(frozen=True)
class LoggingReport:
    accounts: tuple[tuple[str, str], ...]  # (id, name), every account of the world
    deliveries: tuple[Delivery, ...]
    subscriptions: tuple[Subscription, ...]

    @property
    def unwatched(self) -> tuple[str, ...]:
        watched = {d.account for d in self.deliveries if d.watches}
        return tuple(a for a, _ in self.accounts if a not in watched)

    @property
    def ok(self) -> bool:
        return not self.unwatched and all(s.allowed for s in self.subscriptions)

    def to_json(self) -> dict:
        def decision(d: Decision | None) -> dict | None:
            return None if d is None else {"action": d.action, "resource": d.resource, "decision": d.decision,
                                           "statements": [s.to_json() for s in d.statements]}

        return {"ok": self.ok, "unwatched": list(self.unwatched),
                "deliveries": [{"trail": d.trail, "account": d.account, "organization": d.organization,
                                "logging": d.logging, "multi_region": d.multi_region, "bucket": d.bucket,
                                "bucket_declared": d.declared, "delivers": d.delivers, "watches": d.watches,
                                "checks": [decision(c) for c in d.checks]} for d in self.deliveries],
                "subscriptions": [{"log_group": s.group, "account": s.account, "destination": s.destination,
                                   "destination_declared": s.declared, "allowed": s.allowed,
                                   "decision": decision(s.decision)} for s in self.subscriptions]}


def _log_file(bucket: str, prefix: str, org: str | None, account: str, region: str) -> str:
    """The ARN of a log file CloudTrail writes for ``account`` (an organization trail's under the
    organization's id)."""
    folder = f"{prefix}/" if prefix else ""
    owner = f"{org}/{account}" if org else account
    return f"arn:aws:s3:::{bucket}/{folder}AWSLogs/{owner}/CloudTrail/{region}/{account}_CloudTrail_{region}_log.json.gz"


def central_logging(world: World) -> LoggingReport:
    """Every trail with each account it covers and what its delivery requests decide; every log
    subscription and what its request decides."""
    ask = world.evaluator().query  # (the queries are this module's own text)
    accounts = tuple(sorted(ask("?- account(A, N).")))
    resources = {r for (r,) in ask("?- resource(R, _).")}
    trails = {t: (owner, bucket, prefix) for t, owner, bucket, prefix in ask("?- trail(T, A, B, P).")}
    flags = {name: {t for (t,) in ask(f"?- trail_{name}(T).")} for name in ("organization", "logging", "multi_region")}
    orgs = dict(ask("?- organization_account(A, O)."))
    deliveries = []
    for trail, acct in sorted(ask("?- trail_covers(T, A).")):
        owner, bucket, prefix = trails[trail]
        region = trail.split(":")[3]
        org = orgs.get(owner) if trail in flags["organization"] else None
        bucket_arn = f"arn:aws:s3:::{bucket}"
        context = {"aws:SourceArn": trail, "aws:SourceAccount": owner}
        if owner in orgs:  # a request on behalf of a resource of an account in an organization
            context["aws:SourceOrgID"] = orgs[owner]
            context["aws:SourceOrgPaths"] = [world.evaluator().index.org_path(owner)]
        declared = bucket_arn in resources
        checks = ()
        if declared:
            checks = (world.check(CLOUDTRAIL, "s3:GetBucketAcl", bucket_arn, context),
                      world.check(CLOUDTRAIL, "s3:PutObject", _log_file(bucket, prefix, org, acct, region),
                                  {**context, "s3:x-amz-acl": "bucket-owner-full-control"}))
        deliveries.append(Delivery(trail, acct, trail in flags["organization"], trail in flags["logging"],
                                   trail in flags["multi_region"], bucket, declared, checks))
    subscriptions = []
    for group, acct, dest in sorted(ask("?- log_subscription(G, A, D).")):
        declared = dest in resources
        decision = world.check(f"arn:aws:iam::{acct}:root", "logs:PutSubscriptionFilter", dest) if declared else None
        subscriptions.append(Subscription(group, acct, dest, declared, decision))
    return LoggingReport(accounts, tuple(deliveries), tuple(subscriptions))


def render_logging(report: LoggingReport) -> str:
    lines = []
    by_account: dict[str, list[Delivery]] = {}
    for d in report.deliveries:
        by_account.setdefault(d.account, []).append(d)
    for acct, name in report.accounts:
        mine = by_account.get(acct, [])
        watching = [d for d in mine if d.watches]
        head = f"account {acct} {name}: "
        if watching:
            lines.append(head + "watched by " + ", ".join(d.trail for d in watching))
            continue
        lines.append(head + ("NOT WATCHED: no trail covers it" if not mine else "NOT WATCHED"))
        for d in mine:
            why = [w for w, bad in (("stopped", not d.logging), ("records one region only", not d.multi_region)) if bad]
            if not d.declared:
                why.append(f"bucket {d.bucket} is not in the world: delivery not decided")
            lines.append(f"  {d.trail}: " + ("; ".join(why) or "cannot deliver"))
            lines += [_indent(c.summary(), "    ") for c in d.checks if c.decision != "Allow"]
    for s in report.subscriptions:
        lines.append(f"log subscription {s.group}")
        lines.append(f"  to {s.destination}: " + ("allowed" if s.allowed else "REFUSED"))
        lines.append(_indent(s.decision.summary(), "    ") if s.decision is not None
                     else "    the destination is not in the world: not decided")
    return "\n".join(lines)


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + line for line in text.splitlines())


def cmd_trails(args) -> int:
    from .world import load

    report = central_logging(load(args.world))
    print(json.dumps(report.to_json(), indent=2) if args.format == "json" else render_logging(report))
    return 0 if report.ok else 1


def add_commands(sub) -> None:
    p = sub.add_parser("trails", help="central logging: accounts no CloudTrail trail watches (all regions, logging, "
                                      "delivering to its bucket), log subscriptions their destination refuses "
                                      "(exit 1 if any)")
    p.add_argument("world", nargs="+", help="the world's .iaml files")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=cmd_trails)
