"""Writes to a Tandem SQLite store from Python, for doctor-writes.test.ts.

    python3 raw_writes.py protocol <db>   # through clients/python/tandem_sqlite.py (docs/protocol.md)
    python3 raw_writes.py raw <db>        # plain sqlite3 statements that ignore the protocol

The store has `tasks` (t-1..t-6, history 'changes') and `ledger` (l-1, history 'full').
"""

import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))

from tandem_sqlite import TandemSqlite  # noqa: E402


def protocol(path):
    store = TandemSqlite(path, "python", full_history={"ledger"})
    store.insert("tasks", {"title": "from python"}, id="py-1")
    store.update("tasks", "t-1", lambda d: dict(d, done=True))
    store.patch("tasks", "t-2", {"title": "renamed"}, remove=["done"])
    store.put("tasks", "t-3", {"title": "replaced"})
    store.delete("tasks", "t-4")
    store.patch("ledger", "l-1", {"amount": 2})
    with store.transaction() as tx:
        tx.insert("tasks", {"title": "a"}, id="py-2")
        tx.delete("tasks", "py-2")
        tx.insert("tasks", {"title": "b"}, id="py-2")
    store.close()


def raw(path):
    db = sqlite3.connect(path, timeout=5, isolation_level=None)
    now = int(time.time() * 1000)
    db.execute("BEGIN IMMEDIATE")
    # A version bumped, no entry.
    db.execute("UPDATE c_tasks SET version = version + 1, updated_at = ?, data = json_set(data, '$.done', json('true')) WHERE id = 't-1'", (now,))
    # A version set back.
    db.execute("UPDATE c_tasks SET version = 1 WHERE id = 't-2'")
    # A record inserted, no entry.
    db.execute("INSERT INTO c_tasks (id, version, created_at, updated_at, role, data) VALUES ('raw-1', 1, ?, ?, 'script', ?)", (now, now, json.dumps({"title": "raw"})))
    # A record deleted, no entry.
    db.execute("DELETE FROM c_tasks WHERE id = 't-5'")
    # Rewritten in place: new data and time, same version.
    db.execute("UPDATE c_tasks SET updated_at = ?, data = ? WHERE id = 't-6'", (now + 5000, json.dumps({"title": "sneaky"})))
    # A 'full' history record rewritten without touching version or time.
    db.execute("UPDATE c_ledger SET data = ? WHERE id = 'l-1'", (json.dumps({"amount": 1000}),))
    db.execute("COMMIT")
    db.close()


if __name__ == "__main__":
    {"protocol": protocol, "raw": raw}[sys.argv[1]](sys.argv[2])
    print(json.dumps({"type": "done"}))
