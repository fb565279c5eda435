"""REPL transcripts of the seed examples: ``examples/*/session.txt``.

A transcript is what a user would see: each line ``> INPUT`` is one input to
:meth:`iamlogic.repl.Session.handle`, and the lines up to the next ``> `` are its exact answer in
plain text (no terminal, no colour). Lines before the first ``> `` are a comment (kept). The
session starts in the example's folder with ``world.iaml`` loaded, so every path is relative and
every answer deterministic. An input continued over several lines (as typed at the REPL's
``...>`` prompt) writes each further line as ``... LINE``, right after its ``> `` line.

``IAMLOGIC_UPDATE_GOLDEN=1`` rewrites the answers from the inputs instead of comparing (never by
default), as the golden tests of tests/golden do.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iamlogic.repl import Session

from ..conftest import EXAMPLES

UPDATE = os.environ.get("IAMLOGIC_UPDATE_GOLDEN") == "1"
NAME = "session.txt"
PROMPT = "> "
MORE = "... "


def parse(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The comment lines and the (input, answer) pairs of a transcript."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's final newline
    comment: list[str] = []
    pairs: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith(PROMPT):
            pairs.append((line[len(PROMPT):], []))
        elif line.startswith(MORE) and pairs and not pairs[-1][1]:
            pairs[-1] = (pairs[-1][0] + "\n" + line[len(MORE):], [])
        elif pairs:
            pairs[-1][1].append(line)
        else:
            comment.append(line)
    return comment, [(inp, "\n".join(out)) for inp, out in pairs]


def render(comment: list[str], pairs: list[tuple[str, str]]) -> str:
    out = list(comment)
    for inp, answer in pairs:
        first, *more = inp.split("\n")
        out.append(PROMPT + first)
        out += [MORE + line for line in more]
        if answer:
            out.append(answer)
    return "\n".join(out) + "\n"


def replay(folder: Path, inputs: list[str]) -> list[tuple[str, str]]:
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        session = Session(["world.iaml"])
        assert session.world is not None, session.banner
        pairs = [(inp, session.handle(inp)) for inp in inputs]
    finally:
        os.chdir(cwd)
    for inp, answer in pairs:
        assert not any(line.startswith((PROMPT, MORE)) for line in answer.split("\n")), (
            f"the answer to {inp!r} has a line starting with {PROMPT!r} or {MORE!r}: it could not be read back")
        assert "\x1b[" not in answer and str(folder) not in answer
    return pairs


def _examples() -> list[Path]:
    return sorted(p.parent for p in EXAMPLES.glob("*/world.iaml") if (p.parent / "expected.yaml").exists())


def test_every_example_has_a_transcript():
    missing = [f.name for f in _examples() if not (f / NAME).exists()]
    assert not missing, f"no {NAME} in: {', '.join(missing)}"


@pytest.mark.parametrize("folder", _examples(), ids=lambda p: p.name)
def test_transcript(folder: Path):
    path = folder / NAME
    if not path.exists():
        pytest.skip(f"no {NAME} (test_every_example_has_a_transcript fails)")
    comment, expected = parse(path.read_text(encoding="utf-8"))
    assert 4 <= len(expected) <= 8, f"{path}: keep a transcript to 4-8 inputs"
    actual = replay(folder, [inp for inp, _ in expected])
    if UPDATE:
        path.write_text(render(comment, actual), encoding="utf-8")
        return
    for (inp, want), (_, got) in zip(expected, actual):
        assert got == want, f"{path.name} of {folder.name}, input {inp!r}"


def test_transcript_format_round_trips():
    text = "# a comment\n> can a b c\nline 1\n\n  line 3\n> :explain full\nexplain: full\n> :quit\n> x \\\n... y\nz\n"
    comment, pairs = parse(text)
    assert comment == ["# a comment"]
    assert pairs == [("can a b c", "line 1\n\n  line 3"), (":explain full", "explain: full"), (":quit", ""),
                     ("x \\\ny", "z")]
    assert render(comment, pairs) == text
