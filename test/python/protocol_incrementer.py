"""A direct SQLite writer for sqlite-protocol.test.ts: increments data.n of one record with
clients/python/tandem_sqlite.py (docs/protocol.md), `count` times, one transaction each.

    python3 protocol_incrementer.py <db> <collection> <id> <count> <role> [full]

`full`: the collection keeps history: 'full' (its entries carry a copy of the data).

Prints {"type": "ack", "version": v, "n": n} as each write commits (one write(2) per line, flushed,
so a kill -9 never leaves a line half-written), and the next write starts only after that.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))

from tandem_sqlite import TandemSqlite  # noqa: E402

db_path, collection, record_id, count, role = sys.argv[1:6]
store = TandemSqlite(db_path, role, full_history=[collection] if sys.argv[6:7] == ["full"] else [])
print(json.dumps({"type": "ready", "pid": os.getpid()}), flush=True)
for _ in range(int(count)):
    record = store.update(collection, record_id, lambda data: dict(data, n=data["n"] + 1))
    sys.stdout.write(json.dumps({"type": "ack", "version": record["version"], "n": record["data"]["n"]}) + "\n")
    sys.stdout.flush()
print(json.dumps({"type": "done", "retries": store.stats["retries"], "longestWaitMs": round(store.stats["longest_wait_ms"], 1)}), flush=True)
store.close()
