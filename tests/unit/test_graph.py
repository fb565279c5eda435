"""Pictures and role reachability."""

from __future__ import annotations

from iamlogic import load, loads
from iamlogic.cli import main
from iamlogic.graph import org_graph, reach_graph, role_reachability

from ..conftest import EXAMPLES

CHAIN = '''
account 111122223333 "dev" {
  user alice { policy P { allow sts:AssumeRole on "arn:aws:iam::111122223333:role/A" } }
  user bob
  role A {
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:user/alice", aws "arn:aws:iam::111122223333:role/B" }
    policy P { allow sts:AssumeRole on * }
  }
  role B {
    trust { allow sts:AssumeRole principal aws "arn:aws:iam::111122223333:role/A" }
    policy P { allow sts:AssumeRole on * }
  }
}
'''


def test_reachability_follows_chains_and_stops_on_cycles():
    edges, paths = role_reachability(loads(CHAIN))
    alice, a, b = ("arn:aws:iam::111122223333:" + x for x in ("user/alice", "role/A", "role/B"))
    assert {(e.source, e.role) for e in edges} == {(alice, a), (a, b), (b, a)}
    assert paths[alice] == [[alice, a], [alice, a, b]]
    assert "arn:aws:iam::111122223333:user/bob" not in paths


def test_org_graph_shows_attachments_in_dot_and_mermaid():
    world = load([str(EXAMPLES / "organization" / "world.iaml")])
    dot = org_graph(world)
    assert dot.startswith("digraph organization {") and "DenyRedshift" in dot and "DenyLambda" in dot
    assert "not filtered by SCPs" in dot
    mermaid = org_graph(world, "mermaid")
    assert mermaid.startswith("graph TD") and "-->" in mermaid and "<br/>" in mermaid


def test_graph_command(capsys, tmp_path):
    world = str(EXAMPLES / "organization" / "world.iaml")
    assert main(["graph", "reach", world, "--format", "mermaid"]) == 0
    assert "role/Deployer" in capsys.readouterr().out
    out = tmp_path / "org.dot"
    assert main(["graph", "org", world, "--output", str(out)]) == 0
    assert out.read_text().startswith("digraph")
    assert "Deployer" in reach_graph(load([world]))
