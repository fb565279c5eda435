"""Source spans and diagnostics: how every input error and warning is reported.

A :class:`Diagnostic` has a stable ``code`` (``E…`` for errors, ``W…`` for warnings), a
message, the :class:`Span` it points at, and an optional help line. Rendered, it reads::

    policy.json:4:15: E104: unknown condition operator 'StringEqual'
        "StringEqual": {"aws:username": "alice"}
        ^
      help: did you mean 'StringEquals'?

A run collects every independent diagnostic in a :class:`Diagnostics` list instead of stopping
at the first one; :class:`InvalidInput` carries that list when input cannot be used.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Iterator


@dataclass(frozen=True, order=True)
class Span:
    """A region of one source file; lines and columns count from 1."""

    file: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


#: Span used for values built by the library API rather than parsed from text.
NO_SPAN = Span("<api>", 0, 0)


def span_field():
    """A dataclass field for a span: kept for messages, ignored by equality and hashing."""
    return field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Diagnostic:
    """One error (code ``E…``) or warning (code ``W…``) about the input."""

    code: str
    message: str
    span: Span | None = None
    help: str | None = None

    @property
    def severity(self) -> str:
        return "error" if self.code.startswith("E") else "warning"

    @property
    def is_error(self) -> bool:
        return self.code.startswith("E")

    def render(self, sources: dict[str, str] | None = None) -> str:
        """``file:line:col: code: message``, the source line, a caret line, and the help line."""
        where = str(self.span) if self.span and self.span.line else (self.span.file if self.span else "<input>")
        out = [f"{where}: {self.code}: {self.message}"]
        text = (sources or {}).get(self.span.file) if self.span else None
        if text is not None and self.span.line:
            lines = text.split("\n")
            if 0 < self.span.line <= len(lines):
                src = lines[self.span.line - 1].expandtabs(1)
                col, width = self.span.col - 1, 1
                if self.span.end_line == self.span.line and self.span.end_col > self.span.col:
                    width = self.span.end_col - self.span.col
                if len(src) > _EXCERPT:  # a long line (a minified policy): the part around the column
                    start = max(0, min(col - _EXCERPT // 4, len(src) - _EXCERPT))
                    end = start + _EXCERPT
                    lead = "…" if start else ""
                    width = max(1, min(col + width, end) - col)
                    src = lead + src[start:end] + ("…" if end < len(src) else "")
                    col += len(lead) - start
                out.append("    " + src)
                out.append("    " + " " * col + "^" * max(1, width))
        if self.help:
            out.append(f"  help: {self.help}")
        return "\n".join(out)

    def to_json(self) -> dict:
        d = {"code": self.code, "severity": self.severity, "message": self.message}
        if self.span:
            d.update(file=self.span.file, line=self.span.line, col=self.span.col)
        if self.help:
            d["help"] = self.help
        return d


_EXCERPT = 200  # characters of a source line shown under a diagnostic, around its column


class Diagnostics:
    """An ordered collection of diagnostics gathered during one run."""

    def __init__(self, items: Iterable[Diagnostic] = ()):
        self.items: list[Diagnostic] = list(items)

    def add(self, code: str, message: str, span: Span | None = None, help: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, span, help))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if not d.is_error]

    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.span or Span("", 0, 0), d.code, d.message))

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def render(self, sources: dict[str, str] | None = None) -> str:
        return "\n".join(d.render(sources) for d in self.sorted())


class IamlogicError(Exception):
    """Base class of every error raised by iamlogic."""


class InvalidInput(IamlogicError):
    """Input that cannot be used; ``diagnostics`` holds every problem found."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = dict(sources or {})
        first = next((d for d in self.diagnostics if d.is_error), None)
        summary = first.render() if first else "invalid input"
        more = len([d for d in self.diagnostics if d.is_error]) - 1
        super().__init__(summary + (f"\n(and {more} more error(s))" if more > 0 else ""))

    def __reduce__(self):  # (pickled for another process: rebuilt from what it was made of)
        return InvalidInput, (self.diagnostics, self.sources)

    def render(self) -> str:
        return Diagnostics(self.diagnostics).render(self.sources)


def read_text(path: str, code: str) -> str:
    """The text of a file (UTF-8); ``InvalidInput`` with ``code``, at the file (at the first byte
    that is not UTF-8), when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise InvalidInput([Diagnostic(code, f"cannot read '{path}': {exc.strerror or exc}", Span(path, 0, 0))]) from None
    except UnicodeDecodeError:
        raise InvalidInput([not_utf8(path, code)]) from None


def not_utf8(path: str, code: str, what: str = "") -> Diagnostic:
    """The diagnostic of a file that is not UTF-8 text, at its first byte that is not."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        data.decode("utf-8")
        return Diagnostic(code, f"cannot read {what}'{path}': not UTF-8 text", Span(path, 0, 0))
    except UnicodeDecodeError as exc:
        head = data[:exc.start].decode("utf-8")
        line, col = head.count("\n") + 1, exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return Diagnostic(code, f"cannot read {what}'{path}': not UTF-8 text (byte 0x{data[exc.start]:02x})",
                          Span(path, line, col, line, col + 1))


def did_you_mean(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """A help line suggesting the closest candidate, compared case-insensitively."""
    pool = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(word.lower(), list(pool), n=1, cutoff=cutoff)
    return f"did you mean '{pool[found[0]]}'?" if found else None
