"""Pictures of a world: the organization tree and who can become whom, as Graphviz DOT or Mermaid.

:func:`role_reachability` computes the edges "principal P may assume role R" (the role's trust
policy AND P's own permissions, SCPs and boundary: a full decision for ``sts:AssumeRole``),
across accounts, and the transitive paths over them. Every edge is a decision of
:meth:`World.check_many`; nothing is re-implemented here.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import deque
from dataclasses import dataclass

from .world import FULL_AWS_ACCESS, RCP_FULL_AWS_ACCESS, resolve


@dataclass(frozen=True)
class Edge:
    source: str  # a principal ARN
    role: str  # the role ARN it may assume
    statements: tuple[str, ...]  # the deciding statements, as labels


def role_reachability(world) -> tuple[list[Edge], dict[str, list[list[str]]]]:
    """Who can assume which role, and every principal's transitive paths to each reachable role.

    Returns:
        The edges, and for each principal the shortest path (a list of ARNs, the principal first)
        to every role it reaches through one or more ``sts:AssumeRole`` steps. A role acts through
        its session, so an edge from a role means its sessions may assume the next role.
    """
    ev = world.evaluator()
    principals = sorted(p for p, (t, _) in ev.index.principals.items())
    roles = sorted(p for p, (t, _) in ev.index.principals.items() if t == "role")
    pairs = [(p, r) for p in principals for r in roles if p != r]
    decisions = world.check_many([(p, "sts:AssumeRole", r) for p, r in pairs])
    edges = [Edge(p, r, tuple(s.label() for s in d.statements)) for (p, r), d in zip(pairs, decisions) if d.allowed]
    nexts: dict[str, list[str]] = {}
    for e in edges:
        nexts.setdefault(e.source, []).append(e.role)
    paths: dict[str, list[list[str]]] = {}
    for start in principals:
        seen, queue, found = {start}, deque([[start]]), []
        while queue:  # breadth first: the shortest path to each role; cycles end at a role seen before
            path = queue.popleft()
            for nxt in nexts.get(path[-1], ()):
                if nxt not in seen:
                    seen.add(nxt)
                    found.append(path + [nxt])
                    queue.append(path + [nxt])
        if found:
            paths[start] = found
    return edges, paths


NEWLINE = "\\n"  # a line break inside a DOT label


def _id(text: str) -> str:
    """A stable node id (Python's hash() changes between runs)."""
    import hashlib

    return "n" + hashlib.sha1(text.encode()).hexdigest()[:12]


def _q(text: str) -> str:
    """A DOT string; the label's line breaks are written ``\\n`` already and stay as they are."""
    return '"' + text.replace('"', "'") + '"'


def org_graph(world, fmt: str = "dot") -> str:
    """The organization tree: root, OUs and accounts, each with the SCPs and RCPs attached to it."""
    model = world.model
    r = resolve(model)
    nodes: list[tuple[str, str]] = []
    links: list[tuple[str, str]] = []
    for org in model.organizations:
        def label(kind_name: str, atts) -> str:
            scps = [a.policy for a in atts if a.kind == "scp" and not a.detach]
            if not any(a.detach for a in atts):
                scps = [FULL_AWS_ACCESS] + scps
            rcps = [RCP_FULL_AWS_ACCESS] + [a.policy for a in atts if a.kind == "rcp"]
            return f"{kind_name}\\nSCP: {', '.join(scps)}\\nRCP: {', '.join(rcps)}"

        def walk(node, parent: str | None) -> None:
            nid = r.node_ids[id(node)]
            nodes.append((nid, label(f"{'root' if node.kind == 'root' else 'OU'} {node.name} ({nid})", node.attachments)))
            if parent:
                links.append((parent, nid))
            for ref in node.accounts:
                acct = r.account_ref(ref.ref)
                if acct is not None:
                    nodes.append((acct.id, label(f"account {acct.name} ({acct.id})", ref.attachments)))
                    links.append((nid, acct.id))
            for child in node.children:
                walk(child, nid)

        walk(org.root, None)
        mgmt = r.account_ref(org.management)
        if mgmt is not None and r.placement.get(mgmt.id) and r.placement[mgmt.id].ref is None:
            nodes.append((mgmt.id, f"management account {mgmt.name} ({mgmt.id})\\nnot filtered by SCPs"))
            links.append((r.node_ids[id(org.root)], mgmt.id))
    return _render(nodes, links, fmt, "organization")


def reach_graph(world, fmt: str = "dot") -> str:
    """Who can assume whom: one arrow per allowed ``sts:AssumeRole``."""
    edges, _ = role_reachability(world)
    names = sorted({e.source for e in edges} | {e.role for e in edges})
    return _render([(n, n) for n in names], [(e.source, e.role) for e in edges], fmt, "reach")


def _render(nodes, links, fmt: str, name: str) -> str:
    if fmt == "mermaid":
        out = ["graph TD"]
        out += [f'  {_id(n)}["{label.replace(chr(34), "#quot;").replace(NEWLINE, "<br/>")}"]' for n, label in nodes]
        out += [f"  {_id(a)} --> {_id(b)}" for a, b in links]
        return "\n".join(out) + "\n"
    if fmt != "dot":
        raise ValueError(f"unknown graph format {fmt!r}: dot or mermaid")
    out = [f"digraph {name} {{", "  node [shape=box, fontname=Helvetica];"]
    out += [f"  {_id(n)} [label={_q(label)}];" for n, label in nodes]
    out += [f"  {_id(a)} -> {_id(b)};" for a, b in links]
    return "\n".join(out + ["}"]) + "\n"


def to_svg(dot: str) -> bytes | None:
    """SVG from DOT when Graphviz's ``dot`` program is installed, else None."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    return subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, check=True).stdout


def add_commands(sub) -> None:
    """``iamlogic graph org|reach WORLD... [--format dot|mermaid|svg] [--output FILE]``."""
    g = sub.add_parser("graph", help="draw the organization tree or who can assume whom")
    g.add_argument("picture", choices=("org", "reach"))
    g.add_argument("world", nargs="+")
    g.add_argument("--format", choices=("dot", "mermaid", "svg"), default="dot")
    g.add_argument("--output", help="write to this file instead of standard output")
    g.set_defaults(run=_cmd_graph)


def _cmd_graph(args) -> int:
    import sys

    from .world import load

    world = load(args.world)
    text = (org_graph if args.picture == "org" else reach_graph)(world, "mermaid" if args.format == "mermaid" else "dot")
    data: bytes = text.encode()
    if args.format == "svg":
        svg = to_svg(text)
        if svg is None:
            print("iamlogic: svg needs Graphviz's dot program; use --format dot or mermaid", file=sys.stderr)
            return 1
        data = svg
    if args.output:
        with open(args.output, "wb") as fh:
            fh.write(data)
    else:
        sys.stdout.write(data.decode())
    return 0
