"""``iamlogic batch``: decide a file of requests, one JSON object a line, in one or more processes.

Input (``requests.jsonl``, ``-`` for standard input), one request a line::

    {"principal": "arn:aws:iam::111111111111:user/alice", "action": "s3:GetObject",
     "resource": "arn:aws:s3:::reports/q1.csv", "context": {"aws:SourceIp": "10.1.2.3"}}

with optional ``session_policy`` (a policy document) and ``federating_user``. A context value is
a string, a number, a boolean or a list of them. Blank lines and lines starting with ``#`` are
skipped. A line whose ``principal``, ``action`` or ``resource`` is a non-empty list of strings is
the product of its lists (an access matrix, or its rows, in one line each): one request for each
principal, action and resource, with the line's context, answered in that order (principals
outermost, resources innermost), each answer with the line's number.

Output, one JSON object a line, in input order: the request's ``line``, ``principal``,
``action``, ``resource``, ``decision``, the deciding ``statements`` (``file:line:col`` labels),
``missing_context`` and ``warnings``; or ``line`` and ``error`` for a request that cannot be
decided (a malformed line, an unknown principal; a request of a product names its principal,
action and resource too). Exit status: 0 when every request was decided, 3 when some request was
not (each such answer says why), 1 on any other failure (a worker process killed outright, by
the out-of-memory killer say, ends the run at once with this status: the answers written before
it are incomplete), 130 when interrupted.

The file is read, decided and written a block of :data:`BLOCK` requests at a time, so a file of
any length (the access matrix of a whole organization) is decided in bounded memory, and the
answers stream out in input order. ``--jobs N`` decides the blocks in N processes, each with its
own copy of the loaded world (forked after loading, so the world is read once); each process
reads its block's JSON and writes its answers' JSON. The command's output (``-o FILE``, or
standard output when it is UTF-8 text with strict errors) is written by the processes
themselves, each block after the one before it; otherwise (and for a library caller that does not
ask for it, see :func:`run_batch`) the answers pass through the parent process, which writes them.
Within a block, requests are decided sorted
by principal and action (as read within them), in chunks that keep those of one principal and
action together: they are decided together (``Evaluator.verdicts_many``), which is what makes a
file of access-matrix rows fast. A line repeated within a block is decided once.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import itertools
import json
import multiprocessing as mp
import os
import queue
import re
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from operator import itemgetter
from typing import Callable, Iterable, Iterator, TextIO

from .evaluate import collector_paused, frozen_for_run
from .grammar.diagnostics import IamlogicError, InvalidInput
from .world import as_policy, runs

BLOCK = 20_000  # requests a process reads, decides and writes at a time
CHUNK = 500  # requests given to Evaluator.verdicts_many at a time (runs of one principal and action kept whole)
_KEYS = {"principal", "action", "resource", "context", "session_policy", "federating_user"}
_PRINCIPAL_ACTION = itemgetter(0, 1)  # of a request kept in a block

_STATE = None  # what a worker process works with: the world it decides in (batch), a task (see in_processes)
_OUTPUT = None  # of a worker process that writes the answers: see _start_worker
_PARENT = 0  # the process id of a worker process's parent
_END = object()  # the end of an iterator (see _in_order)
# a byte that is not UTF-8, as a text stream with errors="surrogateescape" reads it (see cmd_batch)
_RAW_BYTE = re.compile("[\udc80-\udcff]")
_decode = json.JSONDecoder().decode  # json.loads without its checks of the argument's type
_scan = json.JSONDecoder().scan_once  # (the value at an index, the index after it)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"key {key!r} is given twice in one object")
        seen.add(key)
    return dict(pairs)


# the same, failing on a key given twice in one object (at any depth), for the lines that may have one
_decode_unique = json.JSONDecoder(object_pairs_hook=_unique_keys).decode


def _field(value) -> bool:
    """Whether ``value`` can be a line's principal, action or resource: a string, or a non-empty
    list of strings (a product)."""
    return value.__class__ is str or (value.__class__ is list and bool(value)
                                      and all(v.__class__ is str for v in value))


def cells(args: tuple) -> int:
    """How many requests the arguments of a line make: 1, or for a product (principal, action or
    resource given as a list) the product of the lists' lengths."""
    n = 1
    for value in args[:3]:
        if value.__class__ is tuple:
            n *= len(value)
    return n


def parse_request(text: str) -> tuple[tuple | None, str | None]:
    """``(arguments, None)``, ``(None, error)``, or ``(None, None)`` for a line to skip. The
    arguments are those of ``Evaluator.decide_one``: principal, action, resource, context,
    session policy (a :class:`Policy`), federating user; on a line of a product, the principal,
    the action or the resource given as a list is a tuple (see :func:`cells`)."""
    try:
        return _parse_line(text)
    except RecursionError:  # the JSON reader recurses once for each level of nesting
        return None, "values nested too deeply to read"


def _parse_line(line: str) -> tuple[tuple | None, str | None]:
    text = line.strip()
    if not text or text[0] == "#":
        return None, None
    if not text.isascii():  # (columns count the characters of the line as written)
        raw = _RAW_BYTE.search(line)
        if raw:
            return None, f"not UTF-8 text: byte 0x{ord(raw.group()) - 0xDC00:02x} at column {raw.start() + 1}"
    try:  # the scanner json.loads runs, without its wrappers; a line it cannot read whole is read again by json.loads
        item, end = _scan(text, 0)
        if end != len(text):
            raise ValueError
    except (ValueError, StopIteration):
        try:
            item = _decode(text)
        except json.JSONDecodeError as exc:
            return None, f"not JSON: {exc.msg} at column {exc.colno + len(line) - len(line.lstrip())}"
    if item.__class__ is not dict:
        return None, "a request is a JSON object"
    if "\\u" in text or not text.isascii():
        # a lone surrogate (from an escape, or from a stream that reads bytes that are not UTF-8
        # otherwise than `iamlogic batch` does) is no character: it cannot be asked of AWS, nor written
        try:
            json.dumps(item, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:
            return None, f"not Unicode text: \\u{ord(exc.object[exc.start]):04x} is a lone surrogate"
    principal, action, resource = item.get("principal"), item.get("action"), item.get("resource")
    strings = type(principal) is type(action) is type(resource) is str
    if strings and len(item) == 3 and text.count('"') == 12:
        # the common line: principal, action and resource alone (six strings, so no key twice)
        return (principal, action, resource, None, None, None), None
    try:  # any other line is read again, failing on a key given twice (json.loads keeps the last)
        _decode_unique(text)
    except ValueError as exc:
        return None, f"not JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else str(exc)
    if not item.keys() <= _KEYS:
        return None, (f"unknown key(s) {', '.join(sorted(set(item) - _KEYS))}; "
                      f"a request has {', '.join(sorted(_KEYS))}")
    if not strings:
        bad = [k for k in ("principal", "action", "resource") if not _field(item.get(k))]
        if bad:
            return None, f"{', '.join(bad)} must be given as strings or non-empty lists of strings"
        principal, action, resource = (v if v.__class__ is str else tuple(v) for v in (principal, action, resource))
    context, policy, federating_user = item.get("context"), item.get("session_policy"), item.get("federating_user")
    if context is not None and context.__class__ is not dict:
        return None, "context must be an object of condition keys"
    if federating_user is not None and federating_user.__class__ is not str:
        return None, "federating_user must be given as a string"
    if policy is not None:
        try:
            policy = as_policy(policy, "<session policy>")
        except InvalidInput as exc:
            return None, _said(exc)
    return (principal, action, resource, context, policy, federating_user), None


class _Writer:
    """Answers as JSON lines, what ``json.dumps`` of the answer's object writes. The parts that
    repeat (a principal with an action, a resource; a decision with its statements, missing keys
    and warnings) are encoded once a block."""

    def __init__(self):
        self._strings: dict[str, str] = {}  # a resource -> its JSON
        self._heads: dict[tuple, str] = {}  # (principal, action) -> their part of the answer
        self._tails: dict[int, tuple[tuple, str]] = {}  # id of a verdict -> (the verdict, its part of the answer)

    def head(self, principal: str, action: str) -> str:
        """The part of an answer that a principal and an action write (for :meth:`answer`)."""
        found = self._heads.get((principal, action))
        if found is None:
            found = self._heads[(principal, action)] = (
                f'"principal": {json.dumps(principal, ensure_ascii=False)}, '
                f'"action": {json.dumps(action, ensure_ascii=False)}, "resource": ')
        return found

    def answer(self, n: int, head: str, resource: str, verdict: tuple | str) -> str:
        """The answer of line ``n``: its principal and action as :meth:`head` writes them, its
        resource, and ``verdict`` as ``Evaluator.verdicts_many`` gives it; or the error that
        ``verdict`` is, when it is a string."""
        if verdict.__class__ is str:
            return self.error(n, verdict)
        return f'{{"line": {n}, {head}{self._string(resource)}, {self._tail(verdict)}'

    def answers(self, n: int, head: str, texts: list[str], verdicts: list[tuple]) -> list[str]:
        """:meth:`answer` of each resource, given as the JSON text :meth:`strings` gives, with its
        verdict (none an error), all of line ``n``."""
        tails = self._tails
        for verdict in {id(v): v for v in verdicts}.values():
            if id(verdict) not in tails:
                self._tail(verdict)
        prefix = f'{{"line": {n}, {head}'
        return [f"{prefix}{text}, {tails[id(v)][1]}" for text, v in zip(texts, verdicts)]

    def strings(self, resources: Iterable[str]) -> list[str]:
        """The JSON text of each resource."""
        return [self._string(r) for r in resources]

    def _string(self, resource: str) -> str:
        text = self._strings.get(resource)
        if text is None:
            text = self._strings[resource] = json.dumps(resource, ensure_ascii=False)
        return text

    def _tail(self, verdict: tuple) -> str:
        """The part of an answer that a verdict writes. Kept by the verdict's identity (requests of
        a class share theirs), with the verdict, which the entry keeps alive."""
        found = self._tails.get(id(verdict))
        if found is None:
            decision, statements, missing, warnings = verdict
            found = self._tails[id(verdict)] = (verdict, json.dumps(
                {"decision": decision, "statements": [s.label() for s in statements],
                 "missing_context": list(missing), "warnings": list(warnings)},
                ensure_ascii=False)[1:] + "\n")
        return found[1]

    @staticmethod
    def error(n: int, error: str) -> str:
        return json.dumps({"line": n, "error": error}, ensure_ascii=False) + "\n"


def decide_block(world, block: tuple[int, list]) -> tuple[str, int, int]:
    """Decide a block (the number of its first line, its units: lines, and parts of lines of a
    product as :func:`_blocks` cuts them): (the answers' JSON lines, in the block's order; how many
    requests were decided; how many could not be). A line repeated in the block is decided once."""
    answers: list[str | None] = []
    # each request once: (principal, action, resource, its rank, the arguments of
    # Evaluator.decide_one, the position of its answer, its line number)
    todo: list[tuple] = []
    again: list[tuple[int, int, int]] = []  # a line read before in the block: (its rank, position, line number)
    seen: dict[str, int] = {}  # a line -> its rank
    write = _Writer()
    ev = world.evaluator()
    failed = more = 0  # requests that could not be decided; answers beyond one in the products' parts
    n, units = block
    for text in units:
        if text.__class__ is tuple:  # a part of a product's requests, decided here, in their order
            text, lo, hi, total = text
            found, f = _product(ev, write, n, text, lo, hi)
            answers.append(found)
            failed, more = failed + f, more + hi - lo - 1
            n += hi == total
            continue
        rank = seen.get(text)
        if rank is not None:
            again.append((rank, len(answers), n))
            answers.append(None)
        else:
            args, error = parse_request(text)
            if error is not None:
                answers.append(write.error(n, error))
                failed += 1
            elif args is not None:
                seen[text] = rank = len(todo)
                todo.append((*args[:3], rank, args, len(answers), n))
                answers.append(None)
        n += 1
    todo.sort(key=_PRINCIPAL_ACTION)  # by principal and action; as read within them (the sort is stable)
    ranked: list = [None] * len(todo) if again else []  # each rank's answer: (head, resource, verdict)
    principal = action = head = None
    for chunk in runs(todo, CHUNK, _PRINCIPAL_ACTION):
        for (p, a, resource, rank, _, i, n), v in zip(chunk, _verdicts(ev, [t[4] for t in chunk])):
            if a != action or p != principal:
                principal, action, head = p, a, write.head(p, a)
            answers[i] = write.answer(n, head, resource, v)
            failed += v.__class__ is str
            if ranked:
                ranked[rank] = (head, resource, v)
    for rank, i, n in again:
        head, resource, v = ranked[rank]
        answers[i] = write.answer(n, head, resource, v)
        failed += v.__class__ is str
    return "".join(answers), len(answers) + more - failed, failed


def _verdicts(ev, items: list[tuple]) -> list:
    """``Evaluator.verdicts_many`` of ``items``; when some request cannot be placed, each request
    alone, to say which: its verdict, or the error that a string is."""
    try:
        return ev.verdicts_many(items)
    except InvalidInput:
        verdicts = []
        for item in items:
            try:
                verdicts.append(ev.verdicts_many([item])[0])
            except InvalidInput as exc:
                verdicts.append(_said(exc))
        return verdicts


def _row(ev, principal: str, action: str, resources: list[str], rest: tuple) -> list:
    """``Evaluator.verdicts_row``; when some request cannot be placed, :func:`_verdicts` of each."""
    try:
        return ev.verdicts_row(principal, action, resources, *rest)
    except InvalidInput:
        return _verdicts(ev, [(principal, action, r, *rest) for r in resources])


def _product(ev, write: _Writer, n: int, text: str, lo: int, hi: int) -> tuple[str, int]:
    """The answers of requests ``lo`` to ``hi - 1`` of the product on line ``n`` (its principals
    outermost, then its actions, its resources innermost), each naming its principal, action and
    resource: (their JSON lines, how many could not be decided)."""
    args, error = parse_request(text)
    if args is None:  # _blocks read the line as a product: a line reads the same twice
        raise IamlogicError(f"internal error: line {n} was read as a product, then as {error!r}")
    principals, actions, resources = (v if v.__class__ is tuple else (v,) for v in args[:3])
    rest, width = args[3:], len(resources)
    texts = write.strings(resources)
    out: list[str] = []
    failed = 0
    while lo < hi:  # a run of one principal and action at a time
        row, first = divmod(lo, width)
        end = min(hi, lo + width - first)
        principal, action = principals[row // len(actions)], actions[row % len(actions)]
        head, part = write.head(principal, action), resources[first:first + end - lo]
        verdicts = _row(ev, principal, action, part, rest)
        if not any(v.__class__ is str for v in verdicts):
            out += write.answers(n, head, texts[first:first + end - lo], verdicts)
        else:
            for resource, v in zip(part, verdicts):
                if v.__class__ is str:
                    out.append(json.dumps({"line": n, "principal": principal, "action": action, "resource": resource,
                                           "error": v}, ensure_ascii=False) + "\n")
                    failed += 1
                else:
                    out.append(write.answer(n, head, resource, v))
        lo = end
    return "".join(out), failed


def _said(exc: InvalidInput) -> str:
    """The diagnostics of a line that could not be decided, each with its file:line:col where it has one."""
    return "; ".join(f"{d.span}: {d.code}: {d.message}" if d.span else f"{d.code}: {d.message}"
                     for d in exc.diagnostics)


def _decided(world, block: tuple[int, list[str]]) -> tuple[str, int, int]:
    """decide_block with the garbage collector paused (it is on again between blocks, for any cycle)."""
    with collector_paused():
        return decide_block(world, block)


def _start_worker(state, output: tuple | None, parent: int) -> None:
    """In each worker process, as it starts: what it works with (:data:`_STATE`); when it writes
    the answers itself, (the condition and counter of the blocks' turn, the descriptor); the
    parent's process id. A closed pipe on the output is an error (BrokenPipeError, which reaches
    the parent), not a signal that would end the worker unseen and leave the run waiting for it."""
    global _STATE, _OUTPUT, _PARENT
    _STATE, _OUTPUT, _PARENT = state, output, parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent ends the run, and its workers
    if output is not None and hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if sys.platform.startswith("linux"):  # a worker ends with its parent (PR_SET_PDEATHSIG), however it ends
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
        except (ImportError, OSError, AttributeError):
            pass
        if os.getppid() != parent:  # (the parent ended before that)
            os._exit(1)


def _worker(block):
    return _decided(_STATE, block)


def run_task(item):
    """In a worker process of :func:`in_processes` started with a task (a function): the task of the item."""
    return _STATE(item)


def in_processes(fn: Callable, items: Iterable, jobs: int, state, output: tuple | None = None) -> Iterator:
    """``fn(item)`` for each item (``fn`` a function of this module, :func:`run_task` for any
    task), in ``jobs`` forked processes, each started with ``state`` and ``output`` (see
    :func:`_start_worker`); the results in the items' order, as they are ready. What the workers
    start with (loaded worlds, a task and what it reads) is theirs by inheritance, never pickled;
    the items and the results are. A worker that fails ends the run with its error (one that dies,
    with BrokenProcessPool), and so does a caller that stops reading (closing the results): the
    workers are stopped."""
    pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork"), initializer=_start_worker,
                               initargs=(state, output, os.getpid()))
    results = _in_order(pool, fn, items, 2 * jobs)  # (the blocks are read as the workers take them)
    try:
        yield from results
    except BaseException:
        _stop(pool, output)
        raise
    finally:
        results.close()
        pool.shutdown(cancel_futures=True)


def _writing_worker(job: tuple[int, tuple[int, list]]) -> tuple[int, int]:
    """Decide block ``k`` and write its answers to the output's file descriptor itself, once the
    answers of block ``k - 1`` are written (the blocks' turn is a counter shared by the processes):
    the answers never pass through the parent process. Returns (decided, failed). A worker writes
    nothing more once its parent has gone (killed) or has stopped the run (a negative turn: see
    :func:`_stop`)."""
    k, block = job
    text, d, f = _decided(_STATE, block)
    data = memoryview(text.encode())
    ready, turn, fd = _OUTPUT
    with ready:
        while not ready.wait_for(lambda: turn.value in (k, -1), timeout=1.0):
            if os.getppid() != _PARENT:
                return d, f
        if os.getppid() != _PARENT or turn.value < 0:
            return d, f
        while data:
            data = data[os.write(fd, data):]
        turn.value = k + 1
        ready.notify_all()
    return d, f


def _in_order(pool: ProcessPoolExecutor, fn, items: Iterable, ahead: int) -> Iterator:
    """``fn`` of each item, in ``pool``'s processes; the results in the items' order, each as soon
    as it and those before it are ready. A thread reads the items and sends them to the pool, at
    most ``ahead`` beyond the result awaited, so that results come out while the input is still
    being read, however slowly it comes. When reading the items fails, the results of the items
    read before come first, then the error."""
    sent: queue.Queue = queue.Queue()  # futures in the items' order, then _END or the reader's error
    room = threading.Semaphore(ahead)
    stopped = threading.Event()
    items = iter(items)

    def read() -> None:
        try:
            for item in items:
                room.acquire()
                if stopped.is_set():
                    return
                sent.put(pool.submit(fn, item))
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            sent.put(exc)
        else:
            sent.put(_END)

    first = next(items, _END)
    if first is _END:
        return
    room.acquire()
    sent.put(pool.submit(fn, first))  # (here: the pool forks its processes before the reader's thread exists)
    threading.Thread(target=read, name="iamlogic batch reader", daemon=True).start()
    try:
        while (got := sent.get()) is not _END:
            if isinstance(got, BaseException):
                raise got
            result = got.result()
            room.release()
            yield result
    finally:
        stopped.set()
        room.release()  # (a reader waiting for room wakes, and stops)


def _stop(pool: ProcessPoolExecutor, output: tuple | None) -> None:
    """End a failed run at once: the workers waiting for their turn to write are told that none
    will come (they look at the turn at least once a second; the condition itself may be broken by
    a worker killed while waiting on it), and every worker process is ended, whatever block it is
    deciding."""
    if output is not None:
        output[1].value = -1
    end = getattr(pool, "terminate_workers", None)  # (Python 3.14)
    if end is not None:
        end()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def _descriptor(out: TextIO) -> int | None:
    """The file descriptor that worker processes may write ``out``'s text to as UTF-8 bytes, or
    None: a text file (or pipe, or terminal) as ``open`` makes one, of the UTF-8 encoding with
    strict errors, on a blocking descriptor, on a system whose line ends are ``\\n`` (so that its
    own writing would give the same bytes; :func:`run_batch` takes it only when asked to, from a
    caller that made ``out`` itself and so knows that it translates no line ends)."""
    if type(out) is not io.TextIOWrapper or os.linesep != "\n":
        return None
    buffer = out.buffer  # (unbuffered, as PYTHONUNBUFFERED makes standard output, the file itself)
    if type(buffer) in (io.BufferedWriter, io.BufferedRandom):
        buffer = buffer.raw
    if type(buffer) is not io.FileIO:
        return None
    try:
        fd = out.fileno()
        utf8 = codecs.lookup(out.encoding).name == "utf-8" and out.errors == "strict"
        return fd if utf8 and os.get_blocking(fd) else None
    except (OSError, ValueError, LookupError):
        return None


def _blocks(lines: Iterable[str]) -> Iterator[tuple[int, list]]:
    """The lines in blocks of at most BLOCK requests, each with the number of its first line (a
    list of strings is what passes to a worker process the cheapest). A line of a product (see
    :func:`cells`) is cut into parts, (the line, its first request, the end, its requests), of
    whole runs of its resources where they fit in a block."""
    start = n = 1  # the number of the block's first line; of the line read
    units: list = []
    size = 0  # requests in units
    for text in lines:
        args = parse_request(text)[0] if "[" in text else None
        if args is None or not any(v.__class__ is tuple for v in args[:3]):  # not a product (of any size)
            if size >= BLOCK:
                yield start, units
                start, units, size = n, [], 0
            units.append(text)
            size += 1
        else:
            total = cells(args)
            width = len(args[2]) if args[2].__class__ is tuple else 1
            step = BLOCK // width * width if width <= BLOCK else BLOCK
            for lo in range(0, total, step):
                hi = min(total, lo + step)
                if size and size + hi - lo > BLOCK:
                    yield start, units
                    start, units, size = n, [], 0
                units.append((text, lo, hi, total))
                size += hi - lo
        n += 1
    if units:
        yield start, units


def run_batch(world, lines: Iterable[str], out: TextIO, jobs: int = 1, *, direct: bool = False) -> tuple[int, int]:
    """Decide every request of ``lines`` and write the answers to ``out``; returns (decided, failed).

    ``direct``: with several processes, let each write its answers to ``out``'s file descriptor
    itself (see :func:`_descriptor`), for a caller that opened ``out`` with ``open`` (or
    ``sys.stdout``), so that nothing (compression, line-end translation, a copy to a log) stands
    between its text and its bytes."""
    world.evaluator()  # load before forking, so every worker starts with the world compiled
    decided = failed = 0
    with frozen_for_run():  # the loaded world
        blocks = _blocks(lines)
        first = list(itertools.islice(blocks, 2))  # one block is decided here: no processes to start
        blocks = itertools.chain(first, blocks)
        if jobs > 1 and len(first) > 1:
            fd = _descriptor(out) if direct else None
            output = None
            if fd is not None:  # the workers write the answers themselves, in turn
                out.flush()
                context = mp.get_context("fork")
                output = (context.Condition(), context.RawValue("q", 0), fd)
            # answers in order (forked: the world is the workers' by inheritance, never pickled)
            results = (in_processes(_writing_worker, enumerate(blocks), jobs, world, output) if fd is not None
                       else in_processes(_worker, blocks, jobs, world))
            with contextlib.closing(results):  # (an error here stops the workers)
                for result in results:
                    if fd is None:
                        out.write(result[0])
                    decided, failed = decided + result[-2], failed + result[-1]
        else:
            for block in blocks:
                text, d, f = _decided(world, block)
                out.write(text)
                decided, failed = decided + d, failed + f
    return decided, failed


def cmd_batch(args) -> int:
    from concurrent.futures.process import BrokenProcessPool

    from .cli import EXIT_FAILURE, EXIT_INVALID, EXIT_OK
    from .world import load

    if len(args.files) < 2:
        print("error: give the world files, then the requests file: iamlogic batch WORLD... REQUESTS.jsonl",
              file=sys.stderr)
        return EXIT_INVALID
    *paths, args.requests = args.files
    world = load(paths)  # InvalidInput: rendered by the command, exit 3
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return EXIT_INVALID
    # UTF-8, whatever the locale; a byte that is not UTF-8 is read as a lone surrogate, and makes
    # its line an error answer that says where it is (see _parse_line), not the end of the run.
    # Standard input is read through its bytes, and left open (a text stream without bytes, as an
    # embedding program may set, is read as it is).
    try:
        if args.requests != "-":
            source = open(args.requests, encoding="utf-8", errors="surrogateescape")
            done = source.close
        elif getattr(sys.stdin, "buffer", None) is not None:
            source = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
            done = source.detach
        else:
            source, done = sys.stdin, None
    except OSError as exc:
        print(f"error: cannot read {args.requests}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
        try:
            decided, failed = run_batch(world, source, out, args.jobs, direct=True)
        except BrokenProcessPool:
            print("error: a worker process ended abruptly (killed by a signal; out of memory?): the answers "
                  "written are incomplete", file=sys.stderr)
            return EXIT_FAILURE
        finally:
            if args.output:
                out.close()
    finally:
        if done is not None:
            done()
    if failed:
        print(f"{failed} request(s) could not be decided; see their 'error'", file=sys.stderr)
    return EXIT_INVALID if failed else EXIT_OK


def add_commands(sub) -> None:
    from .cli import positionals_anywhere

    b = sub.add_parser("batch", help="decide a JSON-lines file of requests (results as JSON lines)")
    b.add_argument("files", nargs="+", metavar="WORLD... REQUESTS",
                   help="world files (.iaml) or folders, then the requests: one JSON object a line ('-' for stdin)")
    b.add_argument("--jobs", "-j", type=int, default=1, help="processes to decide in (default 1)")
    b.add_argument("--output", "-o", help="write the answers here instead of standard output")
    b.set_defaults(run=cmd_batch)
    positionals_anywhere(b)
