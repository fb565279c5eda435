"""Pictures: the organization tree, who can become whom, and the proof of a decision, as Graphviz
DOT or Mermaid (SVG from DOT when Graphviz's ``dot`` program is installed).

Labels are data (ARNs, Sids, quoted judgements, policy text): they are escaped for each format by
:func:`_dot_label` and :func:`_mermaid_label`, never pasted in as markup.

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

from .decision import ProofNode
from .grammar.diagnostics import InvalidInput
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
        its session, so an edge from a role means its sessions may assume the next role; a role
        IAM Identity Center provisions acts through the sessions of its users, each a principal here.
        An identity an Amazon Cognito identity pool declares is a principal too: its edges are the
        role its pool gives it (the enhanced flow), the roles the basic flow lets it take
        (:meth:`Evaluator.cognito_basic_roles`), and the roles its enhanced-flow session may
        assume. An identity whose role the world does not determine (E512) is left out.
    """
    ev = world.evaluator()
    idx = ev.index
    principals = sorted(p for p in idx.principals if p not in idx.sso_roles)
    principals += [s for role in sorted(idx.sso_roles) for s in idx.sso_sessions(role)]
    roles = sorted(p for p, (t, _) in ev.index.principals.items() if t == "role")
    edges: list[Edge] = []
    for identity in sorted(idx.cognito_identities):
        by = {role: ["the enhanced flow"] for role in idx.cognito_enhanced.get(identity, ())}
        for role in ev.cognito_basic_roles(identity):
            by.setdefault(role, []).append("the basic flow")
        try:
            ev.resolve(identity, "sts:AssumeRole", "*")
            principals.append(identity)  # its enhanced-flow session
        except InvalidInput:  # no role in the enhanced flow, or one the world does not determine
            pass
        edges += [Edge(identity, role, (f"Amazon Cognito: {', '.join(how)}",)) for role, how in sorted(by.items())]
    given = {(e.source, e.role) for e in edges}
    pairs = [(p, r) for p in principals for r in roles if p != r and (p, r) not in given]
    decisions = world.check_many([(p, "sts:AssumeRole", r) for p, r in pairs])
    edges += [Edge(p, r, tuple(s.label() for s in d.statements)) for (p, r), d in zip(pairs, decisions) if d.allowed]
    nexts: dict[str, list[str]] = {}
    for e in edges:
        nexts.setdefault(e.source, []).append(e.role)
    paths: dict[str, list[list[str]]] = {}
    for start in dict.fromkeys([*principals, *(e.source for e in edges)]):
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


def _lines(label) -> list[str]:
    """A label's lines: a label is a sequence of lines (a str is one label line)."""
    lines = [label] if isinstance(label, str) else list(label)
    return [part for line in lines for part in str(line).replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def _dot_label(label) -> str:
    """A DOT string for a label: backslashes and quotes escaped, so ``\\N``, ``\\l`` or a closing
    quote in the data stay text; lines joined with DOT's ``\\n``."""
    def esc(line: str) -> str:
        return line.replace("\\", "\\\\").replace('"', '\\"')

    return '"' + NEWLINE.join(esc(line) for line in _lines(label)) + '"'


#: Characters Mermaid would read as markup in a label, as its entity codes (``#`` first).
_MERMAID_ESCAPES = (("#", "#35;"), ('"', "#quot;"), ("&", "#amp;"), ("<", "#lt;"), (">", "#gt;"), ("`", "#96;"))


def _mermaid_label(label) -> str:
    """A quoted Mermaid label: markup characters as entity codes, lines joined with ``<br/>``."""
    def esc(line: str) -> str:
        for ch, code in _MERMAID_ESCAPES:
            line = line.replace(ch, code)
        return line

    return '"' + "<br/>".join(esc(line) for line in _lines(label)) + '"'


def org_graph(world, fmt: str = "dot") -> str:
    """The organization tree: root, OUs and accounts, each with the SCPs and RCPs attached to it."""
    model = world.model
    r = resolve(model)
    nodes: list[tuple[str, tuple[str, ...]]] = []
    links: list[tuple[str, str]] = []
    for org in model.organizations:
        def label(kind_name: str, atts) -> tuple[str, ...]:
            scps = [a.policy for a in atts if a.kind == "scp" and not a.detach]
            if not any(a.detach for a in atts):
                scps = [FULL_AWS_ACCESS] + scps
            rcps = [RCP_FULL_AWS_ACCESS] + [a.policy for a in atts if a.kind == "rcp"]
            return (kind_name, f"SCP: {', '.join(scps)}", f"RCP: {', '.join(rcps)}")

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
            nodes.append((mgmt.id, (f"management account {mgmt.name} ({mgmt.id})", "not filtered by SCPs")))
            links.append((r.node_ids[id(org.root)], mgmt.id))
    return _render(nodes, links, fmt, "organization")


def reach_graph(world, fmt: str = "dot") -> str:
    """Who can assume whom: one arrow per allowed ``sts:AssumeRole``."""
    edges, _ = role_reachability(world)
    names = sorted({e.source for e in edges} | {e.role for e in edges})
    return _render([(n, n) for n in names], [(e.source, e.role) for e in edges], fmt, "reach")


def proof_graph(node: ProofNode, fmt: str = "dot") -> str:
    """The proof tree of a decision (:meth:`Decision.proof`): one box per judgement, with the rule
    that derived it and, for a statement, its source; an arrow from each judgement to what it rests on.

    A judgement met again lower in the tree (``[derived above]``) is its own box, so the picture is
    the tree that ``why`` prints, line for line.
    """
    nodes: list[tuple[str, tuple[str, ...]]] = []
    links: list[tuple[str, str]] = []

    def walk(n: ProofNode, key: str) -> None:
        label = [n.judgement] + ([f"[{n.rule}]"] if n.rule else []) + ([f"| {n.source}"] if n.source else [])
        nodes.append((key, tuple(label)))
        for i, child in enumerate(n.children):
            child_key = f"{key}.{i}"
            links.append((key, child_key))
            walk(child, child_key)

    walk(node, "proof")
    return _render(nodes, links, fmt, "proof")


FORMATS = ("dot", "mermaid", "svg")


def _render(nodes, links, fmt: str, name: str) -> str:
    if fmt == "mermaid":
        out = ["graph TD"]
        out += [f"  {_id(n)}[{_mermaid_label(label)}]" for n, label in nodes]
        out += [f"  {_id(a)} --> {_id(b)}" for a, b in links]
        return "\n".join(out) + "\n"
    if fmt != "dot":
        raise ValueError(f"unknown graph format {fmt!r}: dot or mermaid")
    out = [f"digraph {name} {{", "  node [shape=box, fontname=Helvetica];"]
    out += [f"  {_id(n)} [label={_dot_label(label)}];" for n, label in nodes]
    out += [f"  {_id(a)} -> {_id(b)};" for a, b in links]
    return "\n".join(out + ["}"]) + "\n"


def to_svg(dot: str) -> bytes | None:
    """SVG from DOT when Graphviz's ``dot`` program is installed, else None."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    return subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, check=True).stdout


def add_commands(sub) -> None:
    """``iamlogic graph org|reach|why WORLD... [--format dot|mermaid|svg] [--output FILE]``; ``why``
    draws the proof of one request, given as ``iamlogic check`` takes it (``--principal``,
    ``--action``, ``--resource``, ``--context``)."""
    g = sub.add_parser("graph", help="draw the organization tree, who can assume whom, or the proof of a decision")
    g.add_argument("picture", choices=("org", "reach", "why"))
    g.add_argument("world", nargs="+")
    g.add_argument("--format", choices=FORMATS, default="dot")
    g.add_argument("--output", help="write to this file instead of standard output")
    g.add_argument("--principal", help="why: the request's principal (as iamlogic check takes it)")
    g.add_argument("--action", help="why: the request's action")
    g.add_argument("--resource", help="why: the request's resource")
    g.add_argument("--context", action="append", metavar="KEY=VALUE", help="why: a condition key of the request")
    g.set_defaults(run=_cmd_graph)


def _cmd_graph(args) -> int:
    import sys

    from .world import load

    request = (args.principal, args.action, args.resource)
    if args.picture == "why" and None in request:
        print("iamlogic graph why: give the request: --principal P --action A --resource R [--context KEY=VALUE]",
              file=sys.stderr)
        return 3
    if args.picture != "why" and (any(request) or args.context):
        print(f"iamlogic graph {args.picture}: --principal, --action, --resource and --context are for "
              "graph why", file=sys.stderr)
        return 3
    world = load(args.world)
    fmt = "mermaid" if args.format == "mermaid" else "dot"
    if args.picture == "why":
        from .cli import parse_context

        decision = world.check(args.principal, args.action, args.resource, parse_context(args.context))
        text = proof_graph(decision.proof(), fmt)
    else:
        text = (org_graph if args.picture == "org" else reach_graph)(world, fmt)
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
