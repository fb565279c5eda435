"""What iamlogic keeps between runs: work that depends only on its own files.

Building an LALR parser from a grammar, parsing the rules of ``logic/rules/`` and reading the AWS
catalog take about two seconds together, the same on every run. Lark saves its parsers (its
``cache`` option, which checks that the grammar and the options are those the file was made from);
:func:`pickled` saves any other such value under a key made from the bytes of every file it was made
from (the sources included), so that a changed file makes a new value. The files are pickled data,
so they are read only from a folder that the user alone may write: ``$XDG_CACHE_HOME/iamlogic``
(``~/.cache/iamlogic``), created with mode 0700. Anywhere else, or with ``IAMLOGIC_NO_CACHE`` set,
nothing is kept and each run does the work again.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from typing import Callable, Iterable, TypeVar

import lark

T = TypeVar("T")


def cache_folder() -> str | None:
    """The user's own cache folder, or None (see the module's docstring)."""
    if os.environ.get("IAMLOGIC_NO_CACHE") or not hasattr(os, "getuid"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "iamlogic")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None  # a folder others may write (or a link): its files could be anyone's
    return folder


def lark_cache(name: str) -> str | bool:
    """The ``cache`` option for the parser of grammar ``name``: a file path, or False."""
    folder = cache_folder()
    if folder is None:
        return False
    return os.path.join(folder, f"{name}-lark{lark.__version__}-py{sys.version_info[0]}.{sys.version_info[1]}.lark-cache")


def pickled(name: str, sources: Iterable[bytes], build: Callable[[], T], kind: type) -> T:
    """``build()``, or the value it gave on an earlier run from the same ``sources`` (the bytes of
    every file the value depends on), which must be a ``kind``. The file holds the SHA-256 of the
    pickle before it: a file damaged, cut short or of another kind is built again, as is one that
    cannot be read or written."""
    folder = cache_folder()
    if folder is None:
        return build()
    digest = hashlib.sha256()
    for part in (f"{sys.version_info[:2]}".encode(), *sources):
        digest.update(hashlib.sha256(part).digest())
    path = os.path.join(folder, f"{name}-{digest.hexdigest()[:32]}.pickle")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if hashlib.sha256(data[32:]).digest() == data[:32]:
            value = pickle.loads(data[32:])
            if isinstance(value, kind):
                return value
    except Exception:  # noqa: BLE001 - whatever is wrong with the file, the value is built again
        pass
    value = build()
    try:  # written whole, then renamed: a reader sees the old file or the new one
        body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(hashlib.sha256(body).digest() + body)
        os.replace(tmp, path)
        for other in os.listdir(folder):  # the values made from earlier versions of the files
            if other.startswith(f"{name}-") and other.endswith(".pickle") and other != os.path.basename(path):
                os.unlink(os.path.join(folder, other))
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        try:
            os.unlink(tmp)
        except (OSError, UnboundLocalError):
            pass
    return value
