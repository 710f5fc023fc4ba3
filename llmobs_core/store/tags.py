"""The local store's tag index, written side: tags and tag sets by id, cached per connection.

A tag set is named by its members' tag ids, sorted, as a JSON array, which is unique, so two
processes that meet the same set agree on its row. Retention deletes tag sets no trace uses
any more and then bumps the tag_set_generation counter: a writer that sees it change forgets
the set ids it had cached, which may name deleted sets.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable
from typing import Any

from .traces import FACTS_MARK

_CACHE_LIMIT = 10_000


def split_tag(tag: str) -> tuple[str, str]:
    key, _, value = tag.partition(":")
    return key, value


class TagSets:
    """Tag and tag-set ids of one connection; use inside a write transaction."""

    def __init__(self) -> None:
        self._tag_ids: dict[str, int] = {}
        self._set_ids: dict[Collection[Any], int] = {}
        self._generation: int | None = None

    def begin(self, conn: sqlite3.Connection) -> None:
        """Forget cached set ids if retention deleted tag sets since the last transaction."""
        (generation,) = conn.execute(
            "SELECT value FROM counters WHERE name = 'tag_set_generation'").fetchone()
        if generation != self._generation:
            self._set_ids.clear()
            self._generation = generation

    def set_id(self, conn: sqlite3.Connection, tags: Collection[Any]) -> int:
        """The id of the set of `tags` (a frozenset, or a tuple, which may repeat tags)."""
        try:
            found = self._set_ids.get(tags)
        except TypeError:  # an unhashable tag: keep the strings
            tags = tuple(tag for tag in tags if type(tag) is str)
            found = self._set_ids.get(tags)
        if found is None:
            if len(self._set_ids) >= _CACHE_LIMIT:
                self._set_ids.clear()
            found = self._set_ids[tags] = self._set_of_ids(conn, self._ids_of(conn, tags))
        return found

    def set_ids(self, conn: sqlite3.Connection, tag_sets: list[Collection[Any]]) -> list[int]:
        """set_id() of each; a batch's traces mostly share a few sets."""
        cached = self._set_ids
        try:
            found = [cached.get(tags) for tags in tag_sets]
        except TypeError:  # an unhashable tag
            found = [None] * len(tag_sets)
        if None in found:
            found = [self.set_id(conn, tags) if set_id is None else set_id
                     for tags, set_id in zip(tag_sets, found)]
        return found  # type: ignore[return-value]

    def union_id(self, conn: sqlite3.Connection, set_id: int, tags: frozenset[str]) -> int:
        """The id of the set holding set `set_id`'s tags and `tags`."""
        (joined,) = conn.execute("SELECT tag_ids FROM tag_sets WHERE id = ?",
                                 (set_id,)).fetchone() or ("[]",)
        stored = set(json.loads(joined))
        added = self._ids_of(conn, tags)
        mark = self._ids_of(conn, (FACTS_MARK,))
        if not mark & stored:  # a trace stored without facts: its first spans have none
            added -= mark
        return self._set_of_ids(conn, stored | added)

    def _ids_of(self, conn: sqlite3.Connection, tags: Iterable[str]) -> set[int]:
        cache = self._tag_ids
        tags = [tag for tag in tags if type(tag) is str]
        missing = [tag for tag in tags if tag not in cache]
        if missing:
            if len(cache) + len(missing) > _CACHE_LIMIT:
                cache.clear()
                missing = tags
            conn.executemany("INSERT OR IGNORE INTO tags (key, value) VALUES (?, ?)",
                             [split_tag(tag) for tag in missing])
            for tag in missing:
                (cache[tag],) = conn.execute("SELECT id FROM tags WHERE key = ? AND value = ?",
                                             split_tag(tag)).fetchone()
        return {cache[tag] for tag in tags}

    def _set_of_ids(self, conn: sqlite3.Connection, tag_ids: set[int]) -> int:
        joined = f"[{','.join(map(str, sorted(tag_ids)))}]"
        row = conn.execute("SELECT id FROM tag_sets WHERE tag_ids = ?", (joined,)).fetchone()
        if row is not None:
            return row[0]
        return conn.execute("INSERT INTO tag_sets (tag_ids) VALUES (?)",  # type: ignore
                            (joined,)).lastrowid


def forget_unused_tag_sets(conn: sqlite3.Connection, set_ids: Iterable[int]) -> None:
    """Delete the given tag sets that no trace uses any more; inside a write transaction.
    Traces have no index by tag set (a random place to write for each new trace), so this
    reads them all once, through the index by start that holds their tag set ids."""
    candidates = sorted(set(set_ids))
    if not candidates:
        return
    (used,) = conn.execute("SELECT json_group_array(DISTINCT tag_set_id) FROM traces").fetchone()
    unused = set(candidates).difference(json.loads(used))
    if unused:
        conn.executemany("DELETE FROM tag_sets WHERE id = ?", [(set_id,) for set_id in unused])
        conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'tag_set_generation'")
