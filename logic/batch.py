"""``iamlogic batch``: decide a file of requests, one JSON object a line, in one or more processes.

Input (``requests.jsonl``, ``-`` for standard input), one request a line::

    {"principal": "arn:aws:iam::111111111111:user/alice", "action": "s3:GetObject",
     "resource": "arn:aws:s3:::reports/q1.csv", "context": {"aws:SourceIp": "10.1.2.3"}}

with optional ``session_policy`` (a policy document) and ``federating_user``. Blank lines and
lines starting with ``#`` are skipped.

Output, one JSON object a line, in input order: the request's ``line``, ``principal``,
``action``, ``resource``, ``decision``, the deciding ``statements`` (``file:line:col`` labels),
``missing_context`` and ``warnings``; or ``line`` and ``error`` for a request that cannot be
decided (a malformed line, an unknown principal). Exit status: 0 when every line was decided,
3 when some line was not (each such line says why), 1 on any other failure.

``--jobs N`` decides in N processes, each with its own copy of the loaded world (forked after
loading, so the world is read once). Requests are decided sorted by principal, action and
resource, in chunks that keep those of one principal and action together: they are decided
together (``World.check_many``), which is what makes a file of access-matrix rows fast.
"""

from __future__ import annotations

import gc
import json
import multiprocessing as mp
import sys
from typing import Any, Iterable, Iterator, TextIO

from .grammar.diagnostics import InvalidInput
from .world import runs

CHUNK = 500
_KEYS = {"principal", "action", "resource", "context", "session_policy", "federating_user"}

_WORLD = None  # the world of a worker process


def read_requests(lines: Iterable[str]) -> Iterator[tuple[int, dict | None, str | None]]:
    """``(line number, request, None)`` or ``(line number, None, error)`` for each request line."""
    for n, text in enumerate(lines, 1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        try:
            item = json.loads(text)
        except json.JSONDecodeError as exc:
            yield n, None, f"not JSON: {exc.msg} at column {exc.colno}"
            continue
        if not isinstance(item, dict):
            yield n, None, "a request is a JSON object"
            continue
        unknown = sorted(set(item) - _KEYS)
        missing = [k for k in ("principal", "action", "resource") if not isinstance(item.get(k), str)]
        if unknown:
            yield n, None, f"unknown key(s) {', '.join(unknown)}; a request has {', '.join(sorted(_KEYS))}"
        elif missing:
            yield n, None, f"{', '.join(missing)} must be given as strings"
        elif item.get("context") is not None and not isinstance(item["context"], dict):
            yield n, None, "context must be an object of condition keys"
        else:
            yield n, item, None


def _answer(n: int, request: dict, decision) -> dict[str, Any]:
    return {"line": n, "principal": request["principal"], "action": request["action"],
            "resource": request["resource"], "decision": decision.decision,
            "statements": [s.label() for s in decision.statements],
            "missing_context": list(decision.missing_context), "warnings": list(decision.warnings)}


def decide_chunk(world, chunk: list[tuple[int, dict]]) -> list[dict[str, Any]]:
    """Decide a chunk of numbered requests; a request that cannot be decided gets an ``error``."""
    try:
        decisions = world.check_many([r for _, r in chunk])
        return [_answer(n, r, d) for (n, r), d in zip(chunk, decisions)]
    except InvalidInput:
        pass  # some request of the chunk cannot be placed: decide one by one to say which
    out = []
    for n, r in chunk:
        try:
            out.append(_answer(n, r, world.check_many([r])[0]))
        except InvalidInput as exc:
            out.append({"line": n, "error": "; ".join(f"{d.code}: {d.message}" for d in exc.diagnostics)})
    return out


def _worker(chunk):
    return decide_chunk(_WORLD, chunk)


def run_batch(world, lines: Iterable[str], out: TextIO, jobs: int = 1) -> tuple[int, int]:
    """Decide every request of ``lines`` and write the answers to ``out``; returns (decided, failed)."""
    global _WORLD
    rows: list[dict | None] = []
    work: list[tuple[int, dict]] = []
    index: dict[int, int] = {}
    for n, request, error in read_requests(lines):
        index[n] = len(rows)
        if error is not None:
            rows.append({"line": n, "error": error})
        else:
            rows.append(None)
            work.append((n, request))
    world.evaluator()  # load before forking, so every worker starts with the world compiled
    # Chunks of whole runs of one principal and action: their requests are decided together.
    work.sort(key=lambda w: (w[1]["principal"], w[1]["action"], w[1]["resource"]))
    chunks = runs(work, CHUNK, lambda w: (w[1]["principal"], w[1]["action"]))
    if jobs > 1 and len(chunks) > 1:
        _WORLD = world
        # The loaded world goes to the permanent generation before forking, so that the workers'
        # garbage collections do not touch its pages (and copy them): the use the gc docs name.
        gc.freeze()
        try:
            with mp.get_context("fork").Pool(jobs) as pool:
                answered = pool.map(_worker, chunks)
        finally:
            _WORLD = None
            gc.unfreeze()
    else:
        answered = [decide_chunk(world, c) for c in chunks]
    for chunk in answered:
        for a in chunk:
            rows[index[a["line"]]] = a
    failed = 0
    for row in rows:
        failed += "error" in row
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows) - failed, failed


def cmd_batch(args) -> int:
    from .cli import EXIT_INVALID, EXIT_OK, _expand
    from .world import load

    if len(args.files) < 2:
        print("error: give the world files, then the requests file: iamlogic batch WORLD... REQUESTS.jsonl",
              file=sys.stderr)
        return EXIT_INVALID
    *paths, args.requests = args.files
    world = load(_expand(paths))  # InvalidInput: rendered by the command, exit 3
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return EXIT_INVALID
    try:
        source = sys.stdin if args.requests == "-" else open(args.requests, encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot read {args.requests}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    with source:
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
        try:
            decided, failed = run_batch(world, source, out, args.jobs)
        finally:
            if args.output:
                out.close()
    if failed:
        print(f"{failed} request(s) could not be decided; see their 'error'", file=sys.stderr)
    return EXIT_INVALID if failed else EXIT_OK


def add_commands(sub) -> None:
    b = sub.add_parser("batch", help="decide a JSON-lines file of requests (results as JSON lines)")
    b.add_argument("files", nargs="+", metavar="WORLD... REQUESTS",
                   help="world files (.iaml) or folders, then the requests: one JSON object a line ('-' for stdin)")
    b.add_argument("--jobs", "-j", type=int, default=1, help="processes to decide in (default 1)")
    b.add_argument("--output", "-o", help="write the answers here instead of standard output")
    b.set_defaults(run=cmd_batch)
