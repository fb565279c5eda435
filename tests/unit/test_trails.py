"""Central logging (seed scenario 1): which trails record which accounts, whether each can deliver
to its bucket (the decisions of CloudTrail's own requests), log subscriptions to a central
destination, and the guardrails over them."""

from __future__ import annotations

import os

import pytest

import iamlogic
from iamlogic.cli import main
from iamlogic.compiled import _strata, materialize
from iamlogic.evaluate import BUILTIN_SPECS, rules
from iamlogic.grammar.printer import print_world
from iamlogic.trails import central_logging

from ..conftest import EXAMPLES

LOGGING = EXAMPLES / "central-logging"
UPDATE = os.environ.get("IAMLOGIC_UPDATE_GOLDEN") == "1"
ORG_TRAIL = "arn:aws:cloudtrail:us-east-1:111111111111:trail/org-trail"

BUCKET = '''resource "arn:aws:s3:::logs" {
    policy {
      sid "Acl" allow s3:GetBucketAcl on "arn:aws:s3:::logs" principal service "cloudtrail.amazonaws.com"
      sid "Write" allow s3:PutObject on "arn:aws:s3:::logs/audit/AWSLogs/111111111111/*"
        principal service "cloudtrail.amazonaws.com" when StringEquals s3:x-amz-acl "bucket-owner-full-control"
    }
  }'''


@pytest.fixture(scope="module")
def example():
    return iamlogic.load([str(LOGGING / "world.iaml")])


def test_the_example_report_is_as_recorded(capsys, monkeypatch):
    monkeypatch.chdir(LOGGING)  # (the report gives statements' places as the world's path is written)
    assert main(["trails", "world.iaml"]) == 1  # side-project is not watched
    out = capsys.readouterr().out
    if UPDATE:
        (LOGGING / "trails.txt").write_text(out, encoding="utf-8")
    assert out == (LOGGING / "trails.txt").read_text(encoding="utf-8")


def test_an_organization_trail_records_every_account_of_its_organization(example):
    report = central_logging(example)
    assert report.unwatched == ("555555555555",)
    org = [d for d in report.deliveries if d.trail == ORG_TRAIL]
    assert sorted(d.account for d in org) == ["111111111111", "222222222222", "333333333333", "444444444444"]
    assert all(d.watches for d in org)
    put = next(d for d in org if d.account == "333333333333").checks[1]
    assert put.resource.startswith("arn:aws:s3:::central-cloudtrail-logs/AWSLogs/o-logs123456/333333333333/CloudTrail/")
    assert [s.sid or s.policy_name for s in put.statements] == ["AWSCloudTrailWrite", "RCPFullAWSAccess"]
    local, = [d for d in report.deliveries if d.account == "555555555555"]
    assert (local.logging, local.multi_region, local.delivers) == (True, False, False)
    assert {s.account: s.allowed for s in report.subscriptions} == {
        "333333333333": True, "444444444444": True, "555555555555": False}
    assert not report.ok


@pytest.mark.parametrize("flags, watched", [("multi_region", True), ("multi_region stopped", False), ("", False)])
def test_a_trail_watches_when_it_logs_all_regions_and_delivers_under_its_prefix(flags, watched):
    w = iamlogic.loads(f'''account 111111111111 "a" {{
      trail "arn:aws:cloudtrail:us-east-1:111111111111:trail/t" {{ bucket "logs"  prefix "audit"  {flags} }}
      {BUCKET}
    }}''', "w.iaml")
    report = central_logging(w)
    d, = report.deliveries
    assert d.delivers and d.checks[1].resource.startswith("arn:aws:s3:::logs/audit/AWSLogs/111111111111/")
    assert report.ok is watched


def test_delivery_to_a_bucket_the_world_does_not_declare_is_not_decided():
    w = iamlogic.loads('''account 111111111111 "a" {
      trail "arn:aws:cloudtrail:us-east-1:111111111111:trail/t" { bucket "elsewhere"  multi_region }
    }''', "w.iaml")
    assert [d.code for d in w.diagnostics()] == ["W305"]
    d, = central_logging(w).deliveries
    assert (d.declared, d.checks, d.watches) == (False, (), False)


def test_guardrails_read_the_inventory_and_both_evaluators_agree(example, capsys):
    assert main(["guardrails", str(LOGGING / "world.iaml"), "--rules", str(LOGGING / "guardrails.dl")]) == 1
    out = capsys.readouterr().out
    assert "cloudtrail-everywhere  555555555555 side-project" in out and "org-admin-role         444444444444 data" in out
    ev = example.evaluator()
    by_head = {}
    for rule in rules().rules:
        by_head.setdefault(rule.head.relation, []).append(rule)
    wanted = {"trail_covers", "trail_watches"}
    rows = materialize(_strata(wanted, by_head), by_head, BUILTIN_SPECS, lambda rel: ev.index.rows.get(rel, ()), {})
    for rel in wanted:
        assert rows[rel] == set(ev.engine.materialize(rel)), rel


def test_the_world_prints_back(example):
    again = iamlogic.loads(print_world(example.model), "again.iaml").model
    assert [(a.trails, a.log_subscriptions) for a in again.accounts] == [
        (a.trails, a.log_subscriptions) for a in example.model.accounts]


def test_an_organization_trail_of_a_member_account_records_nothing():
    # AWS keeps every organization trail in the management account (one a delegated administrator
    # creates too): a world that places one in a member account is warned (W306), and the trail
    # is not taken to record the organization's accounts
    block = ('  trail "arn:aws:cloudtrail:us-east-1:111111111111:trail/org-trail" {\n'
             '    bucket "central-cloudtrail-logs"  organization_trail  multi_region\n  }\n')
    text = (LOGGING / "world.iaml").read_text(encoding="utf-8")
    assert block in text
    head = text.index("\n", text.index('account 333333333333')) + 1
    moved = text[:head] + block.replace("111111111111", "333333333333") + text[head:]
    world = iamlogic.loads(moved.replace(block, ""), "moved.iaml")
    assert any(d.code == "W306" for d in world.diagnostics())
    report = central_logging(world)
    assert not [d for d in report.deliveries if d.trail.endswith(":333333333333:trail/org-trail")]  # covers none
    assert {"111111111111", "222222222222"} <= set(report.unwatched)
