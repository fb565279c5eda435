"""Tag policies (seed scenario 1, tagging standards): which policy governs a key in an account, and
which resources break it."""

from __future__ import annotations

import os
from collections import defaultdict

import iamlogic
from iamlogic.cli import main
from iamlogic.compiled import _strata, materialize
from iamlogic.evaluate import BUILTIN_SPECS, rules
from iamlogic.grammar.printer import print_world
from iamlogic.tagging import tag_compliance

from ..conftest import EXAMPLES

UPDATE = os.environ.get("IAMLOGIC_UPDATE_GOLDEN") == "1"

WORLD = '''
organization "o-tags123456" {
  management "m"
  tag_policy CostCenter { key "CostCenter" values "data", "web", "ops*" required  key "env" }
  tag_policy DataOnly { key "costcenter" values "data" }
  root { tag_policy CostCenter  account "m"  ou W { account "a"  ou D { tag_policy DataOnly  account "b" } } }
}
account 111111111111 "m"
account 222222222222 "a" {
  resource "arn:aws:s3:::ok" { tags { CostCenter = "web", env = "anything" } }
  resource "arn:aws:s3:::ops" { tags { CostCenter = "ops-east" } }
  resource "arn:aws:s3:::Ops" { tags { CostCenter = "Ops-east" } }
  resource "arn:aws:s3:::bad-value" { tags { CostCenter = "marketing" } }
  resource "arn:aws:s3:::bad-case" { tags { costcenter = "web", ENV = "x" } }
  resource "arn:aws:s3:::untagged"
}
account 333333333333 "b" {
  resource "arn:aws:s3:::b-data" { tags { costcenter = "data" } }
  resource "arn:aws:s3:::b-web" { tags { costcenter = "web" } }
  resource "arn:aws:s3:::b-untagged"
}
account 444444444444 "outside" {
  resource "arn:aws:s3:::outside" { tags { CostCenter = "anything" } }
}
'''


def test_what_the_tag_policies_find():
    found = {(n.resource.split(":::")[1], n.key, n.why, n.policy) for n in tag_compliance(iamlogic.loads(WORLD))}
    assert found == {
        ("Ops", "CostCenter", "value", "CostCenter"),  # values are case-sensitive, ops* too
        ("bad-value", "CostCenter", "value", "CostCenter"),
        ("bad-case", "costcenter", "capitalization", "CostCenter"),
        ("bad-case", "ENV", "capitalization", "CostCenter"),  # env: any value, but so written
        ("untagged", "CostCenter", "missing", "CostCenter"),  # required: iamlogic's check
        # b: the policy attached nearest (its OU's) governs the key, and does not require it
        ("b-web", "costcenter", "value", "DataOnly"),
    }


def test_the_bottom_up_evaluation_and_pydatalog_agree():
    world = iamlogic.loads(WORLD)
    ev = world.evaluator()
    by_head = defaultdict(list)
    for rule in rules().rules:
        by_head[rule.head.relation].append(rule)
    builtins = {name: getattr(ev, f"_b_{name}") for name in ("lowercase", "tag_value_matches")}
    rows = materialize(_strata({"tag_noncompliant", "tag_rule"}, by_head), by_head, BUILTIN_SPECS,
                       lambda rel: ev.index.rows.get(rel, ()), builtins)
    for rel in ("tag_noncompliant", "tag_rule"):
        assert rows[rel] == set(ev.engine.materialize(rel)), rel


def test_tag_policies_print_back():
    world = iamlogic.loads(WORLD)
    assert iamlogic.loads(print_world(world.model)).model == world.model


def test_the_example_reports_as_recorded(capsys):
    folder = EXAMPLES / "billing"
    assert main(["tags", str(folder / "world.iaml")]) == 1  # something is out of the policy
    out = capsys.readouterr().out
    if UPDATE:
        (folder / "tags.txt").write_text(out, encoding="utf-8")
    assert out == (folder / "tags.txt").read_text(encoding="utf-8")
