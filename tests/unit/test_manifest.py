"""The object store's manifest: the same checksum as the local store for the same tree, and a manifest read back
checked as strictly as an upload (a tampered store can never make a pull or a cache write outside its directory)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.storage.manifest import Entry, Manifest, check_entries, resolve
from knit_provider.storage.tree import hash_file, summarise

pytestmark = pytest.mark.object_store

SHA = "0" * 64


def test_a_manifest_has_the_checksum_the_local_store_gives_the_same_tree(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("x")
    (tmp_path / "e").mkdir()
    os.symlink("d/f.txt", tmp_path / "l")
    entries = (
        Entry("d", "d"),
        Entry("d/f.txt", "f", size=1, sha256=hash_file(str(tmp_path / "d" / "f.txt")), object="1"),
        Entry("e", "d"),
        Entry("l", "l", target="d/f.txt"),
    )
    manifest = Manifest("id", "staging/id/t", entries)
    assert manifest.info == summarise(tmp_path)
    assert Manifest.from_bytes(manifest.to_bytes(), "m") == manifest


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        ((Entry("../x", "f", sha256=SHA, object="1"),), "'..' component"),
        ((Entry("/etc/x", "f", sha256=SHA, object="1"),), "absolute"),
        ((Entry("a", "l", target="/etc"),), "absolute path"),
        ((Entry("a", "l", target="b"), Entry("a/x", "f", sha256=SHA, object="1")), "not a directory listed"),
        ((Entry("x", "d"), Entry("x", "d")), "listed twice"),
        ((Entry("x", "f", sha256=SHA, object="../../other"),), "object name"),
        ((Entry("u", "l", target="."), Entry("v", "l", target="u/..")), "resolves outside"),
        ((Entry("x", "p"),), "unknown kind"),
    ],
    ids=["dotdot", "absolute", "absolute-link", "through-link", "twice", "object", "link-chain", "kind"],
)
def test_a_tampered_manifest_is_refused(entries: tuple[Entry, ...], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        check_entries(entries)


def test_a_manifest_that_does_not_match_its_checksum_is_refused() -> None:
    manifest = Manifest("id", "staging/id/t", (Entry("f", "f", size=1, sha256=SHA, object="1"),))
    forged = manifest.to_bytes().replace(SHA.encode(), b"1" * 64)
    with pytest.raises(InvalidInput, match="does not match its own checksum"):
        Manifest.from_bytes(forged, "m")
    assert replace(manifest.entries[0], size=2) != manifest.entries[0]


def test_links_resolve_as_the_kernel_resolves_them() -> None:
    kinds = {"a": "d", "a/b": "l", "c": "l"}
    links = {"a/b": "..", "c": "a/b/a"}
    assert resolve(links, kinds, "c") == "a"
    assert resolve(links, kinds, "a/b/..") is None, "the link's parent is the tree's parent"
    assert resolve({"x": "x"}, {"x": "l"}, "x") is None, "a loop never resolves"
