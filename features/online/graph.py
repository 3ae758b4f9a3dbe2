"""The graph family online: identifier links and connected components kept in SQLite.

The store holds every (user, identifier) link with when it was first seen, how many users each
identifier links, and a component id per user and per live identifier, with each component's
user count and scam-labelled user count. It is maintained event by event:

- a new link to a live identifier joins the user's and the identifier's components (the smaller
  one is relabelled into the larger);
- when an identifier passes ``HUB_LIMIT`` users it stops linking anyone (as offline): its
  component may split. The users it linked are searched from, all at once and in turns, in the
  graph without it; searches that meet merge; a search that runs out of nodes has found a whole
  new component; when one search is left it is the rest of the old component. The cost is that of
  the smaller pieces (plus a few steps per search while they meet), not of the whole component.

Reads: ``neighbours`` is exact as of any ``as_of`` (links and labels filtered by time);
component features are those of the current graph, which is the graph as of ``as_of`` when no
event at or after ``as_of`` has been ingested (the real-time case, and the parity test's replay).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from dataclasses import dataclass, field
from typing import cast

from features.graph import HUB_LIMIT, LINK_KINDS
from scamguard.schema import SCAM_TYPOLOGIES

from .counters import Counters

GRAPH_SCHEMA = """
CREATE TABLE IF NOT EXISTS idents (
    ident_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    ident TEXT NOT NULL,
    n_users INTEGER NOT NULL,          -- users linked to it (all ingested links)
    comp_id INTEGER,                   -- its component while live (<= HUB_LIMIT users)
    UNIQUE (kind, ident)
);
CREATE INDEX IF NOT EXISTS idents_by_comp ON idents (comp_id) WHERE comp_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS links (
    user_id TEXT NOT NULL,
    ident_id INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,         -- microseconds since the epoch, UTC
    PRIMARY KEY (user_id, ident_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_by_ident ON links (ident_id, first_ts, user_id);
CREATE TABLE IF NOT EXISTS nodes (
    user_id TEXT PRIMARY KEY,
    comp_id INTEGER,                   -- null: no live link
    label TEXT,
    decided_ts INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nodes_by_comp ON nodes (comp_id) WHERE comp_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS comps (
    comp_id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,             -- users in the component
    bad INTEGER NOT NULL               -- of them labelled with a scam typology
);
"""
SCAM = frozenset(SCAM_TYPOLOGIES)


def is_scam(label: str | None) -> bool:
    return label in SCAM


@dataclass
class _Search:
    users: set[str] = field(default_factory=set)
    idents: set[int] = field(default_factory=set)
    frontier: deque = field(default_factory=deque)  # ("u", user_id) | ("i", ident_id)


class ComponentIndex:
    """Links, labels and components in the SQLite connection ``db`` (caller owns transactions)."""

    def __init__(self, db: sqlite3.Connection, counters: Counters, *, hub_limit: int = HUB_LIMIT):
        self.db = db
        self.counters = counters  # component ids come from the database's ``comp_id`` counter
        self.hub_limit = hub_limit

    # ------------------------------------------------------------------ writes
    def add_link(self, user_id: str, kind: str, ident: str, ts: int) -> None:
        """Record that ``user_id`` was seen with identifier ``(kind, ident)`` at ``ts``."""
        db = self.db
        row = db.execute(
            "SELECT ident_id, n_users, comp_id FROM idents WHERE kind = ? AND ident = ?",
            (kind, ident),
        ).fetchone()
        if row is None:
            cur = db.execute(
                "INSERT INTO idents (kind, ident, n_users, comp_id) VALUES (?, ?, 0, NULL)",
                (kind, ident),
            )
            assert cur.lastrowid is not None  # an INSERT always sets it
            ident_id, n_users, ident_comp = cur.lastrowid, 0, None
        else:
            ident_id, n_users, ident_comp = row
        seen = db.execute(
            "SELECT first_ts FROM links WHERE user_id = ? AND ident_id = ?", (user_id, ident_id)
        ).fetchone()
        if seen is not None:
            if ts < seen[0]:
                db.execute(
                    "UPDATE links SET first_ts = ? WHERE user_id = ? AND ident_id = ?",
                    (ts, user_id, ident_id),
                )
            return
        db.execute(
            "INSERT INTO links (user_id, ident_id, first_ts) VALUES (?, ?, ?)",
            (user_id, ident_id, ts),
        )
        n_users += 1
        db.execute("UPDATE idents SET n_users = ? WHERE ident_id = ?", (n_users, ident_id))
        if n_users > self.hub_limit:
            if ident_comp is not None:  # it just became a hub: it links no one any more
                self._remove_ident(ident_id, ident_comp)
            return
        user_comp = self._user_comp(user_id)
        if ident_comp is None and user_comp is None:
            comp = self._new_comp(size=1, bad=int(self._is_bad(user_id)))
            self._set_user_comp(user_id, comp)
            db.execute("UPDATE idents SET comp_id = ? WHERE ident_id = ?", (comp, ident_id))
        elif ident_comp is None:
            db.execute("UPDATE idents SET comp_id = ? WHERE ident_id = ?", (user_comp, ident_id))
        elif user_comp is None:
            self._set_user_comp(user_id, ident_comp)
            db.execute(
                "UPDATE comps SET size = size + 1, bad = bad + ? WHERE comp_id = ?",
                (int(self._is_bad(user_id)), ident_comp),
            )
        elif user_comp != ident_comp:
            self._merge(user_comp, ident_comp)

    def set_label(self, user_id: str, label: str | None, decided_ts: int | None) -> None:
        """Record ``user_id``'s label (the latest decision wins); keeps component bad counts."""
        db = self.db
        row = db.execute(
            "SELECT comp_id, label FROM nodes WHERE user_id = ?", (user_id,)
        ).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO nodes (user_id, comp_id, label, decided_ts) VALUES (?, NULL, ?, ?)",
                (user_id, label, decided_ts),
            )
            return
        comp, old = row
        db.execute(
            "UPDATE nodes SET label = ?, decided_ts = ? WHERE user_id = ?",
            (label, decided_ts, user_id),
        )
        delta = int(is_scam(label)) - int(is_scam(old))
        if comp is not None and delta:
            db.execute("UPDATE comps SET bad = bad + ? WHERE comp_id = ?", (delta, comp))

    # ------------------------------------------------------------------ reads
    def neighbours(self, user_id: str, as_of: int) -> dict[str, float]:
        """``shared_{device,ip,instrument}_users``, ``linked_users``, ``known_bad_neighbors`` of
        ``user_id`` as of ``as_of``: links first seen and labels decided strictly before it,
        identifiers linking more than ``hub_limit`` users by then left out."""
        db = self.db
        mine = db.execute(
            "SELECT l.ident_id, i.kind, i.n_users FROM links l JOIN idents i USING (ident_id) "
            "WHERE l.user_id = ? AND l.first_ts < ?",
            (user_id, as_of),
        ).fetchall()
        kinds: dict[int, str] = {}
        for ident_id, kind, n_users in mine:
            if n_users > self.hub_limit:  # a hub now (all links ingested); was it one at as_of?
                (n_then,) = db.execute(
                    "SELECT COUNT(*) FROM links WHERE ident_id = ? AND first_ts < ?",
                    (ident_id, as_of),
                ).fetchone()
                if n_then > self.hub_limit:
                    continue
            kinds[ident_id] = kind
        by_kind: dict[str, set[str]] = {k: set() for k in LINK_KINDS}
        bad: set[str] = set()
        if kinds:
            marks = ",".join("?" * len(kinds))
            for ident_id, other, label, decided in db.execute(
                "SELECT o.ident_id, o.user_id, n.label, n.decided_ts FROM links o "
                "LEFT JOIN nodes n USING (user_id) "
                f"WHERE o.ident_id IN ({marks}) AND o.first_ts < ?",
                (*kinds, as_of),
            ):
                if other == user_id:
                    continue
                by_kind[kinds[ident_id]].add(other)
                if decided is not None and decided < as_of and is_scam(label):
                    bad.add(other)
        linked: set[str] = set().union(*by_kind.values())
        out = {f"shared_{k}_users": float(len(v)) for k, v in by_kind.items()}
        out["linked_users"] = float(len(linked))
        out["known_bad_neighbors"] = float(len(bad))
        return out

    def component(self, user_id: str) -> dict[str, float]:
        """``component_size`` and ``known_bad_in_component`` in the current graph (0 when the user
        has no live link)."""
        row = self.db.execute(
            "SELECT c.size, c.bad, n.label FROM nodes n JOIN comps c USING (comp_id) "
            "WHERE n.user_id = ?",
            (user_id,),
        ).fetchone()
        if row is None:
            return {"component_size": 0.0, "known_bad_in_component": 0.0}
        size, bad, label = row
        return {
            "component_size": float(size),
            "known_bad_in_component": float(bad - int(is_scam(label))),
        }

    # ------------------------------------------------------------------ internals
    def _user_comp(self, user_id: str) -> int | None:
        row = self.db.execute("SELECT comp_id FROM nodes WHERE user_id = ?", (user_id,)).fetchone()
        return None if row is None else row[0]

    def _is_bad(self, user_id: str) -> bool:
        row = self.db.execute("SELECT label FROM nodes WHERE user_id = ?", (user_id,)).fetchone()
        return row is not None and is_scam(row[0])

    def _set_user_comp(self, user_id: str, comp: int | None) -> None:
        self.db.execute(
            "INSERT INTO nodes (user_id, comp_id) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET comp_id = excluded.comp_id",
            (user_id, comp),
        )

    def _new_comp(self, *, size: int, bad: int) -> int:
        comp = self.counters.next("comp_id")  # in the caller's write transaction
        self.db.execute(
            "INSERT INTO comps (comp_id, size, bad) VALUES (?, ?, ?)", (comp, size, bad)
        )
        return comp

    def _merge(self, a: int, b: int) -> None:
        """Relabel the smaller of components ``a`` and ``b`` into the larger."""
        db = self.db
        (size_a, bad_a), (size_b, bad_b) = (
            db.execute("SELECT size, bad FROM comps WHERE comp_id = ?", (c,)).fetchone()
            for c in (a, b)
        )
        small, large = (a, b) if size_a <= size_b else (b, a)
        db.execute("UPDATE nodes SET comp_id = ? WHERE comp_id = ?", (large, small))
        db.execute("UPDATE idents SET comp_id = ? WHERE comp_id = ?", (large, small))
        db.execute(
            "UPDATE comps SET size = ?, bad = ? WHERE comp_id = ?",
            (size_a + size_b, bad_a + bad_b, large),
        )
        db.execute("DELETE FROM comps WHERE comp_id = ?", (small,))

    def _live_idents_of(self, user_id: str, removed: int) -> list[int]:
        rows = self.db.execute(
            "SELECT l.ident_id FROM links l JOIN idents i USING (ident_id) "
            "WHERE l.user_id = ? AND i.n_users <= ? AND l.ident_id != ?",
            (user_id, self.hub_limit, removed),
        ).fetchall()
        return [i for (i,) in rows]

    def _users_of(self, ident_id: int) -> list[str]:
        return [
            u
            for (u,) in self.db.execute("SELECT user_id FROM links WHERE ident_id = ?", (ident_id,))
        ]

    def _remove_ident(self, ident_id: int, comp: int) -> None:
        """Identifier ``ident_id`` of component ``comp`` became a hub: split what it held together.

        Every piece of ``comp`` without the identifier holds at least one of its users, so one
        search per such user finds them all (see the module docstring).
        """
        db = self.db
        db.execute("UPDATE idents SET comp_id = NULL WHERE ident_id = ?", (ident_id,))
        starts = [
            u
            for (u,) in db.execute(
                "SELECT user_id FROM links l JOIN nodes n USING (user_id) "
                "WHERE l.ident_id = ? AND n.comp_id = ?",
                (ident_id, comp),
            )
        ]
        searches = [_Search(users={u}, frontier=deque([("u", u)])) for u in starts]
        owner: dict[tuple[str, object], int] = {("u", u): k for k, u in enumerate(starts)}
        parent = list(range(len(searches)))

        def find(k: int) -> int:
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        def expand(k: int) -> int:
            """One step of search ``k``; returns the search it belongs to afterwards."""
            what, node = searches[k].frontier.popleft()
            nexts = (
                [("i", i) for i in self._live_idents_of(node, ident_id)]
                if what == "u"
                else [("u", u) for u in self._users_of(node)]
            )
            for nxt in nexts:
                seen = owner.get(nxt)
                if seen is None:
                    owner[nxt] = k
                    search = searches[k]
                    if nxt[0] == "u":
                        search.users.add(cast(str, nxt[1]))
                    else:
                        search.idents.add(cast(int, nxt[1]))
                    search.frontier.append(nxt)
                    continue
                j = find(seen)
                if j != k:  # two searches met: one search from now on
                    small, large = sorted((j, k), key=lambda g: len(searches[g].users))
                    parent[small] = large
                    searches[large].users |= searches[small].users
                    searches[large].idents |= searches[small].idents
                    searches[large].frontier.extend(searches[small].frontier)
                    active.discard(small)
                    k = large
            return k

        active = set(range(len(searches)))
        pieces: list[_Search] = []
        while len(active) > 1:
            for k in sorted(active):
                if k not in active:
                    continue
                if not searches[k].frontier:  # ran out of nodes: a whole piece
                    active.discard(k)
                    pieces.append(searches[k])
                    continue
                expand(k)
        rest = [searches[k] for k in active]
        if rest and not rest[0].idents:
            while rest[0].frontier and not rest[0].idents:  # is it a lone user?
                expand(next(iter(active)))
            if not rest[0].idents:
                pieces.append(rest.pop())
        size, bad = db.execute("SELECT size, bad FROM comps WHERE comp_id = ?", (comp,)).fetchone()
        for piece in pieces:
            piece_bad = self._count_bad(piece.users)
            if piece.idents:
                self._relabel(piece, self._new_comp(size=len(piece.users), bad=piece_bad))
            else:  # a lone user with no live link left: in no component
                for u in piece.users:
                    self._set_user_comp(u, None)
            size -= len(piece.users)
            bad -= piece_bad
        if rest:
            db.execute("UPDATE comps SET size = ?, bad = ? WHERE comp_id = ?", (size, bad, comp))
        else:
            db.execute("DELETE FROM comps WHERE comp_id = ?", (comp,))

    def _relabel(self, piece: _Search, comp: int) -> None:
        self.db.executemany(
            "UPDATE nodes SET comp_id = ? WHERE user_id = ?", [(comp, u) for u in piece.users]
        )
        self.db.executemany(
            "UPDATE idents SET comp_id = ? WHERE ident_id = ?", [(comp, i) for i in piece.idents]
        )

    def _count_bad(self, users: set[str]) -> int:
        ids = list(users)
        bad = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT label FROM nodes WHERE user_id IN ({marks})", chunk
            ).fetchall()
            bad += sum(is_scam(label) for (label,) in rows)
        return bad
