"""Pictures (organization, reachability, the proof of a decision) and role reachability."""

from __future__ import annotations

import re
import sys

import pytest

from iamlogic import load, loads
from iamlogic.cli import main
from iamlogic.decision import ProofNode
from iamlogic.graph import org_graph, proof_graph, reach_graph, role_reachability

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


# -- the proof of a decision -------------------------------------------------------------------

CROSS = str(EXAMPLES / "cross-account" / "world.iaml")
#: Labels that break naive quoting: quotes, a trailing backslash, DOT escapes, Mermaid entities and
#: markup, a newline inside a source excerpt.
NASTY = ProofNode(
    'statement_sid("arn:aws:s3:::b#policy#0", "say \\"hi\\"")', "rule at x.dl:1", (
        ProofNode("ends with a backslash \\", "fact"),
        ProofNode("graphviz \\N \\G \\l and \\n stay text", "builtin", (
            ProofNode("<b>bold</b> & `code` #quot; #35;", "negation", source='allow s3:* on "*"\n  when x'),
        )),
    ))


def _nodes(n: ProofNode):
    yield n
    for c in n.children:
        yield from _nodes(c)


def _expected_lines(n: ProofNode) -> list[str]:
    lines = [n.judgement] + ([f"[{n.rule}]"] if n.rule else [])
    return lines + (f"| {n.source}".split("\n") if n.source else [])


def _dot_labels(dot: str) -> list[list[str]]:
    """The labels of a DOT text, unescaped as Graphviz reads them (``\\"`` and ``\\\\`` are one
    character; ``\\n`` ends a line; any other escape is kept as written)."""
    out = []
    for m in re.finditer(r'\[label="((?:[^"\\]|\\.)*)"\];', dot):
        lines, cur, body, i = [], [], m.group(1), 0
        while i < len(body):
            if body[i] == "\\":
                nxt = body[i + 1]
                if nxt == "n":
                    lines.append("".join(cur))
                    cur = []
                else:
                    cur.append(nxt if nxt in '"\\' else "\\" + nxt)
                i += 2
            else:
                cur.append(body[i])
                i += 1
        out.append(lines + ["".join(cur)])
    return out


def test_proof_graph_dot_escapes_every_label_and_keeps_the_tree():
    dot = proof_graph(NASTY)
    assert dot.startswith("digraph proof {") and dot.endswith("}\n")
    nodes = list(_nodes(NASTY))
    assert _dot_labels(dot) == [_expected_lines(n) for n in nodes]
    assert dot.count(" -> ") == len(nodes) - 1
    # every line of the body is a node, an edge or the frame: no label spilled out of its quotes
    for line in dot.splitlines()[2:-1]:
        assert re.fullmatch(r'  n[0-9a-f]{12} (\[label="(?:[^"\\]|\\.)*"\];|-> n[0-9a-f]{12};)', line), line


def _mermaid_decode(label: str) -> list[str]:
    names = {"quot": '"', "amp": "&", "lt": "<", "gt": ">"}
    lines = label.split("<br/>")
    return [re.sub(r"#(\w+);", lambda m: chr(int(m.group(1))) if m.group(1).isdigit() else names[m.group(1)], ln)
            for ln in lines]


def test_proof_graph_mermaid_escapes_markup():
    text = proof_graph(NASTY, "mermaid")
    assert text.startswith("graph TD\n")
    labels = re.findall(r'^  n[0-9a-f]{12}\["(.*)"\]$', text, re.M)
    nodes = list(_nodes(NASTY))
    assert len(labels) == len(nodes)
    for label, node in zip(labels, nodes):
        raw = label.replace("<br/>", "")
        assert not set(raw) & set('"<>`'), label  # no markup left: only entity codes
        assert _mermaid_decode(label) == _expected_lines(node)
    assert text.count(" --> ") == len(nodes) - 1
    with pytest.raises(ValueError):
        proof_graph(NASTY, "png")


def test_proof_graph_of_a_real_decision():
    world = load([CROSS])
    d = world.check("dana", "s3:PutObject", "arn:aws:s3:::b-reports/x")
    dot = proof_graph(d.proof())
    labels = _dot_labels(dot)
    assert labels[0][0] == d.proof().judgement and labels[0][0].startswith('decision("req')
    assert len(labels) == len(list(_nodes(d.proof())))
    assert any("'AllowDanaPut'" in line for label in labels for line in label)


def _fake_dot(tmp_path, monkeypatch):
    """A stand-in for Graphviz's dot on PATH: wraps its input in <svg>."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "dot"
    exe.write_text(f"#!{sys.executable}\nimport sys\nassert sys.argv[1:] == ['-Tsvg'], sys.argv\n"
                   "sys.stdout.write('<svg>' + sys.stdin.read() + '</svg>')\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_graph_why_command(capsys, tmp_path, monkeypatch):
    args = ["graph", "why", CROSS, "--principal", "dana", "--action", "s3:PutObject",
            "--resource", "arn:aws:s3:::b-reports/x"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph proof {") and "AllowDanaPut" in out
    assert main(args + ["--format", "mermaid", "--context", "aws:SourceIp=10.0.0.1"]) == 0
    assert capsys.readouterr().out.startswith("graph TD")
    assert main(["graph", "why", CROSS, "--principal", "dana"]) == 3
    assert "--principal P --action A --resource R" in capsys.readouterr().err
    assert main(["graph", "org", CROSS, "--principal", "dana"]) == 3
    assert main(args[:4] + ["danna"] + args[5:]) == 3
    assert "E504" in capsys.readouterr().err
    _fake_dot(tmp_path, monkeypatch)
    svg = tmp_path / "proof.svg"
    assert main(args + ["--format", "svg", "--output", str(svg)]) == 0
    text = svg.read_text()
    assert text.startswith("<svg>digraph proof {") and text.endswith("}\n</svg>")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert main(args + ["--format", "svg"]) == 1
    assert "needs Graphviz" in capsys.readouterr().err
