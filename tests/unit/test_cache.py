"""What iamlogic keeps between runs (grammar/cache.py): only in the user's own folder, and made
again when a file it was made from changes."""

from __future__ import annotations

import hashlib
import os
import pickle

import pytest

from iamlogic.grammar import cache


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("IAMLOGIC_NO_CACHE", raising=False)
    return tmp_path / "iamlogic"


def test_a_value_is_kept_and_made_again_when_a_source_changes(folder):
    built = []

    def build(value):
        def make():
            built.append(value)
            return {"value": value}
        return make

    assert cache.pickled("thing", [b"v1"], build(1), dict) == {"value": 1}
    assert cache.pickled("thing", [b"v1"], build(2), dict) == {"value": 1}  # kept
    assert cache.pickled("thing", [b"v2"], build(3), dict) == {"value": 3}  # a source changed
    assert built == [1, 3]
    assert [f for f in os.listdir(folder) if f.startswith("thing-")] and len(os.listdir(folder)) == 1  # the old one gone
    assert oct(os.stat(folder).st_mode & 0o777) == oct(0o700)


def test_a_damaged_file_or_a_value_of_another_kind_is_made_again(folder):
    cache.pickled("thing", [b"v1"], lambda: 1, int)
    (path,) = folder.iterdir()
    good = path.read_bytes()
    for bad in (b"not a pickle", good[:-1], good[:-1] + bytes([good[-1] ^ 1]),
                pickle.dumps(1)):  # garbage, cut short, one bit flipped, no checksum
        path.write_bytes(bad)
        assert cache.pickled("thing", [b"v1"], lambda: 2, int) == 2
        assert pickle.loads(path.read_bytes()[32:]) == 2
    body = pickle.dumps({})  # a well-formed file of another kind
    path.write_bytes(hashlib.sha256(body).digest() + body)
    assert cache.pickled("thing", [b"v1"], lambda: 3, int) == 3


def test_nothing_is_kept_in_a_folder_others_may_write_or_when_asked_not_to(folder, monkeypatch):
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    assert cache.cache_folder() is None and cache.lark_cache("world") is False
    assert cache.pickled("thing", [b"v1"], lambda: 1, int) == 1 and os.listdir(folder) == []
    os.chmod(folder, 0o700)
    assert cache.cache_folder() == str(folder)
    monkeypatch.setenv("IAMLOGIC_NO_CACHE", "1")
    assert cache.cache_folder() is None


def test_the_rules_and_the_catalog_read_back_are_what_is_built(folder):
    from iamlogic import catalog, evaluate

    evaluate.rules.cache_clear()
    first = evaluate.rules()
    evaluate.rules.cache_clear()
    assert evaluate.rules() == first and any(f.startswith("rules-") for f in os.listdir(folder))
    evaluate.rules.cache_clear()
    built = catalog.Catalog(catalog._load_definition())
    saved, catalog.Catalog._default = catalog.Catalog._default, None
    try:
        catalog.Catalog.default()  # written
        catalog.Catalog._default = None
        again = catalog.Catalog.default()  # read back
        assert again._actions == built._actions and again._keys == built._keys
    finally:
        catalog.Catalog._default = saved
