"""Writes to a Tandem SQLite store with Python's own sqlite3, following docs/protocol.md.

A write made here is versioned, conflict-checked against concurrent writers of any process (Node
Tandem processes, `tandem serve`, other Python writers), appended to the change log in the same
transaction, and announced to other processes' change feeds: subscribers and durable consumers
see it like any other write, and `tandem doctor` does not report it. What SQLite cannot give a
foreign writer is not given here either: the collection's writers and schema are not enforced
(the declared writers are checked as a courtesy, see `check_writers`), and this process does not
appear in the process registry.

    from tandem_sqlite import TandemSqlite
    store = TandemSqlite("data/app.db", role="daemon")
    record = store.insert("sessions", {"projectId": "p1", "startedAt": 0})
    store.update("sessions", record["id"], lambda data: {**data, "durationMs": 1200})
    store.close()

Needs SQLite 3.37 or later (STRICT tables) in the Python build. One TandemSqlite per thread.
"""

import json
import os
import random
import re
import sqlite3
import time
from contextlib import contextmanager

from tandem_data import check_id, encode_data, invalid_data, new_id
from tandem_errors import BusyError, ConflictError, NotFoundError, TandemError

__all__ = ["TandemSqlite", "SqliteTx", "TandemError", "ConflictError", "NotFoundError", "BusyError", "FORMAT_VERSION"]

#: The storage format this protocol is written for (`_tandem_meta`, key 'format').
FORMAT_VERSION = "1"
CHANGES_TABLE = "_tandem_changes"
_COLLECTION = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


def _is_busy(error):
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == 5  # SQLITE_BUSY and its extended codes
    return "locked" in str(error) or "busy" in str(error)


def _touch(path, seconds):
    """Sets a side file's times (creating it empty, 0600); False when it cannot. Never needed for correctness."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            ns = int(seconds * 1e9)
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)
        return True
    except OSError:
        return False


def _record(id, version, created_at, updated_at, role, text):
    return {
        "id": id,
        "version": version,
        "createdAt": _iso(created_at),
        "updatedAt": _iso(updated_at),
        "role": role,
        "data": json.loads(text),
    }


def _iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


class SqliteTx:
    """One write transaction (between BEGIN IMMEDIATE and COMMIT): every statement of the protocol."""

    def __init__(self, store):
        self._store = store
        self._db = store._db
        self.changes = 0

    def _table(self, collection):
        if not isinstance(collection, str) or not _COLLECTION.match(collection):
            raise TandemError("UNKNOWN_COLLECTION", "No collection %r: names are a letter, then letters, digits or _." % (collection,))
        self._store._check_collection(collection, self._db)
        return '"c_%s"' % collection

    def get(self, collection, id):
        """The record as of this transaction, or None."""
        row = self._db.execute(
            "SELECT id, version, created_at, updated_at, role, data FROM %s WHERE id = ?" % self._table(collection), (check_id(id),)
        ).fetchone()
        return None if row is None else _record(*row)

    def _current(self, collection, id, if_version):
        # seq: the seq of the record's latest change-log entry (NULL in a table from before it).
        seq = "seq" if self._store._has_seq(collection, self._db) else "NULL"
        row = self._db.execute(
            "SELECT version, created_at, updated_at, data, %s FROM %s WHERE id = ?" % (seq, self._table(collection)), (check_id(id),)
        ).fetchone()
        if if_version is not None and (row is None or row[0] != if_version):
            raise ConflictError(
                "VERSION_CONFLICT",
                "Record %s/%s is at version %s, not %s (if_version)." % (collection, id, "none" if row is None else row[0], if_version),
                "Re-read it and retry, or drop if_version to overwrite.",
                collection=collection, id=id, expected=if_version, actual=None if row is None else row[0],
            )
        return row

    def _log(self, collection, id, op, version, at, text, previous=None):
        # The change-log entry: same transaction, so it exists if and only if the write commits.
        # seq is the rowid (max + 1 in commit order): never given here, read back after the insert.
        history = self._store._history(collection, self._db)
        # 'full' keeps a copy in every entry; 'diff' keeps one in a delete (the base its chain of
        # deltas is rebuilt from). This writer writes no delta: see docs/protocol.md.
        keeps_copy = history == "full" or (history == "diff" and op == "delete")
        copy = text if keeps_copy or collection in self._store.full_history else None
        seq = self._db.execute(
            "INSERT INTO %s (collection, id, op, version, role, at, data) VALUES (?, ?, ?, ?, ?, ?, ?)" % CHANGES_TABLE,
            (collection, id, op, version, self._store.role, at, copy),
        ).lastrowid
        if self._store._has_seq(collection, self._db):
            # The record names its latest entry, and that entry replaces the one it named before
            # (coalescing: docs/protocol.md). Only after the insert: deleting first could free its seq.
            if op in ("insert", "update"):
                self._db.execute("UPDATE %s SET seq = ? WHERE id = ?" % self._table(collection), (seq, id))
            if copy is None and previous is not None and op != "insert":
                # An entry holding a delta ('diff' history) is history too: never coalesced.
                no_delta = " AND delta IS NULL" if self._store._has_delta(self._db) else ""
                self._db.execute(
                    "DELETE FROM %s WHERE seq = ? AND collection = ? AND id = ? AND data IS NULL%s" % (CHANGES_TABLE, no_delta),
                    (previous, collection, id),
                )
        self.changes += 1

    def insert(self, collection, data, id=None):
        """Inserts a record at version 1 (a new ULID unless `id` is given); DUPLICATE_ID if the id exists."""
        table = self._table(collection)
        id = new_id() if id is None else check_id(id)
        text = encode_data(collection, data)
        now = int(time.time() * 1000)
        try:
            self._db.execute(
                "INSERT INTO %s (id, version, created_at, updated_at, role, data) VALUES (?, 1, ?, ?, ?, ?)" % table,
                (id, now, now, self._store.role, text),
            )
        except sqlite3.IntegrityError:
            raise TandemError("DUPLICATE_ID", "Record %s/%s already exists." % (collection, id), "Use another id, or update it.", collection=collection, id=id)
        self._log(collection, id, "insert", 1, now, text)
        return _record(id, 1, now, now, self._store.role, text)

    def _write(self, collection, id, row, data):
        version, created_at, updated_at, _, previous = row
        text = encode_data(collection, data)
        # Never behind the record's own time: a clock stepped back keeps updatedAt from going back.
        now = max(int(time.time() * 1000), updated_at)
        cursor = self._db.execute(
            "UPDATE %s SET version = ?, updated_at = ?, role = ?, data = ? WHERE id = ? AND version = ?" % self._table(collection),
            (version + 1, now, self._store.role, text, id, version),
        )
        if cursor.rowcount != 1:  # cannot happen under BEGIN IMMEDIATE; checked all the same
            raise ConflictError("VERSION_CONFLICT", "Record %s/%s changed under this transaction." % (collection, id), collection=collection, id=id)
        self._log(collection, id, "update", version + 1, now, text, previous)
        return _record(id, version + 1, created_at, now, self._store.role, text)

    def update(self, collection, id, fn, if_version=None):
        """Calls fn(data) with the current data and writes what it returns, in this transaction (no lost update)."""
        row = self._current(collection, id, if_version)
        if row is None:
            raise NotFoundError("NOT_FOUND", "Record %s/%s does not exist." % (collection, id), "Insert it first.", collection=collection, id=id)
        return self._write(collection, id, row, fn(json.loads(row[3])))

    def patch(self, collection, id, fields, if_version=None, remove=()):
        """Writes `fields` over the current data (a shallow merge) and removes the fields named in `remove`."""
        if not isinstance(fields, dict):
            raise invalid_data(collection, "patch", "is not a dict")

        def merge(data):
            merged = dict(data)
            merged.update(fields)
            for key in remove:
                merged.pop(key, None)
            return merged

        return self.update(collection, id, merge, if_version)

    def put(self, collection, id, data, if_version=None):
        """Replaces the record's data, or inserts it with this id when missing (and no if_version)."""
        row = self._current(collection, id, if_version)
        if row is None:
            return self.insert(collection, data, id)
        return self._write(collection, id, row, data)

    def delete(self, collection, id, if_version=None):
        """Deletes the record: True, or False if it did not exist (ConflictError with if_version)."""
        row = self._current(collection, id, if_version)
        if row is None:
            return False
        version, _, updated_at, text, previous = row
        self._db.execute("DELETE FROM %s WHERE id = ? AND version = ?" % self._table(collection), (id, version))
        # A delete's entry carries the record's last version.
        self._log(collection, id, "delete", version, int(time.time() * 1000), text, previous)
        return True


class TandemSqlite:
    """A writer that opens a Tandem SQLite store with Python's sqlite3 and follows docs/protocol.md.

    `role`: recorded on each record and change (not checked by SQLite). `full_history`: the
    collections declared with history: 'full' (the file does not say which they are), whose
    change-log entries carry a copy of the data. `check_writers`: refuse, before writing, a role
    that the collection's declaration (recorded by the Tandem processes that opened the store)
    does not list among its writers; a courtesy, not enforcement. `busy_timeout_ms`: how long a
    write waits for another process's lock before BusyError.
    """

    def __init__(self, path, role, full_history=(), busy_timeout_ms=5000, check_writers=True):
        if not isinstance(role, str) or not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", role):
            raise ValueError("role must be 1 to 64 letters, digits or _ . : - (got %r)." % (role,))
        if sqlite3.sqlite_version_info < (3, 37, 0):
            raise TandemError("UNSUPPORTED", "SQLite %s is too old: Tandem's STRICT tables need 3.37." % sqlite3.sqlite_version)
        if not os.path.isfile(path):
            raise TandemError("STORE_NOT_FOUND", "Store file %s does not exist." % path, "A Tandem process creates the store; open it once with tandem migrate.")
        self.path = path
        self.role = role
        self.full_history = frozenset(full_history)
        self.busy_timeout_ms = busy_timeout_ms
        self.check_writers = check_writers
        # timeout=0: the protocol retries BEGIN IMMEDIATE itself and announces that it waits (the
        # -turns side file), instead of SQLite's busy handler, which sleeps up to 100 ms per try
        # and rarely gets the lock from a busy Tandem process. isolation_level=None: no implicit
        # BEGIN; every transaction is the protocol's own.
        self._db = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=True)
        self._db.execute("PRAGMA busy_timeout = 0")
        # trusted_schema stays as the build has it: SQLite before 3.45 does not mark json_valid()
        # innocuous, so with trusted_schema OFF it refuses the tables' CHECK (json_valid(data)).
        self._turns = path + "-turns"
        self._commits = path + "-commits"
        self._last_signal = 0.0
        self._known = {}
        self._with_seq = {}
        self._with_delta = None
        self._histories = {}
        self.stats = {"retries": 0, "longest_wait_ms": 0.0}
        self._check_format()

    def _check_format(self):
        # Read the file's format: a store of another format (a newer Tandem) must not be written by these statements.
        mode = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal":
            raise TandemError("NOT_A_STORE", "%s is in journal mode %r, not WAL: not an open Tandem store." % (self.path, mode), "Open it once with a Tandem process.")
        try:
            row = self._db.execute("SELECT value FROM _tandem_meta WHERE key = 'format'").fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is None:
            raise TandemError("NOT_A_STORE", "%s has no _tandem_meta format: not a Tandem store." % self.path, "Check the path.")
        if row[0] != FORMAT_VERSION:
            raise TandemError(
                "UNSUPPORTED",
                "%s is in storage format %s; this protocol is for format %s." % (self.path, row[0], FORMAT_VERSION),
                "Use the tandem_sqlite.py (and docs/protocol.md) of the Tandem release that wrote the store.",
            )

    def _has_seq(self, collection, db):
        """Whether the collection's table has the seq column (Tandem adds it when it opens the store)."""
        if collection not in self._with_seq:
            self._with_seq[collection] = db.execute("SELECT 1 FROM pragma_table_info(?) WHERE name = 'seq'", ("c_" + collection,)).fetchone() is not None
        return self._with_seq[collection]

    def _has_delta(self, db):
        """Whether the change log has the delta column (Tandem adds it when it opens the store)."""
        if self._with_delta is None:
            self._with_delta = db.execute("SELECT 1 FROM pragma_table_info(?) WHERE name = 'delta'", (CHANGES_TABLE,)).fetchone() is not None
        return self._with_delta

    def _history(self, collection, db):
        """The collection's declared history ('changes', 'full', 'diff'), from the declarations Tandem keeps."""
        if collection not in self._histories:
            row = db.execute('SELECT data FROM "c__collections" WHERE id = ?', (collection,)).fetchone() if self._has_declarations(db) else None
            declared = json.loads(row[0]).get("history") if row is not None else None
            self._histories[collection] = declared.split(";")[0] if isinstance(declared, str) else "changes"
        return self._histories[collection]

    def _check_collection(self, collection, db):
        if collection in self._known:
            return
        if db.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", ("c_" + collection,)).fetchone() is None:
            raise TandemError(
                "UNKNOWN_COLLECTION",
                "Collection %r has no table in %s." % (collection, self.path),
                "Declare it in the store's definition: a Tandem process creates its table when it opens the store.",
            )
        if self.check_writers:
            row = db.execute('SELECT data FROM "c__collections" WHERE id = ?', (collection,)).fetchone() if self._has_declarations(db) else None
            writers = json.loads(row[0]).get("writers") if row is not None else None
            if isinstance(writers, list) and "*" not in writers and self.role not in writers:
                raise TandemError(
                    "NOT_OWNER",
                    'Only %s write "%s"; this writer is "%s".' % (", ".join('"%s"' % w for w in writers), collection, self.role),
                    "Add the role to the collection's writers, or write through a process of that role.",
                    collection=collection, role=self.role, writers=writers,
                )
        self._known[collection] = True

    def _has_declarations(self, db):
        return db.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'c__collections'").fetchone() is not None

    def _begin(self):
        """BEGIN IMMEDIATE: takes the write lock up front (a deferred transaction that reads, then
        writes, fails with SQLITE_BUSY_SNAPSHOT when another process commits in between)."""
        started = time.monotonic()
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                waited = (time.monotonic() - started) * 1000
                if waited > self.stats["longest_wait_ms"]:
                    self.stats["longest_wait_ms"] = waited
                return
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise
                self.stats["retries"] += 1
                waited = (time.monotonic() - started) * 1000
                if waited >= self.busy_timeout_ms:
                    raise BusyError(
                        "BUSY_TIMEOUT",
                        "Another process held the store's write lock for %d ms." % waited,
                        "Retry, or raise busy_timeout_ms.",
                    )
                self._announce_waiting()
                # Sub-millisecond pauses at first (locks are held for tens of microseconds), then 1 ms, then 1-8 ms.
                if waited < 10:
                    time.sleep(0.00002 + random.random() * 0.00018)
                elif waited < 1000:
                    time.sleep(0.001)
                else:
                    time.sleep(0.001 * random.randint(1, 8))

    def _announce_waiting(self):
        # The -turns side file: a Tandem writer that sees another process wait leaves it the lock for a moment.
        now = time.monotonic()
        if now - self._last_signal < 0.001:
            return
        self._last_signal = now
        _touch(self._turns, time.time() + random.random() / 1e4)

    @contextmanager
    def transaction(self):
        """A write transaction: `with store.transaction() as tx: tx.insert(...); tx.patch(...)`.
        Commits when the block ends, rolls back if it raises; other processes' feeds are told after COMMIT."""
        self._begin()
        tx = SqliteTx(self)
        try:
            yield tx
        except BaseException:
            # SQLite may have rolled back already (disk full, I/O error): then there is nothing to undo.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        if tx.changes > 0:
            # The commit signal: wakes other processes' change readers now (they would find the
            # commit by their -wal watch and timers anyway, a little later).
            _touch(self._commits, time.time())

    def get(self, collection, id):
        """The record (dict with id, version, createdAt, updatedAt, role, data), or None; reads the last committed state."""
        return SqliteTx(self).get(collection, id)

    def insert(self, collection, data, id=None):
        with self.transaction() as tx:
            return tx.insert(collection, data, id)

    def update(self, collection, id, fn, if_version=None):
        with self.transaction() as tx:
            return tx.update(collection, id, fn, if_version)

    def patch(self, collection, id, fields, if_version=None, remove=()):
        with self.transaction() as tx:
            return tx.patch(collection, id, fields, if_version, remove)

    def put(self, collection, id, data, if_version=None):
        with self.transaction() as tx:
            return tx.put(collection, id, data, if_version)

    def delete(self, collection, id, if_version=None):
        with self.transaction() as tx:
            return tx.delete(collection, id, if_version)

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
