"""Scenarios of clients/python/tandem_client.py against a real `tandem serve`, run by client.test.ts.

    python3 client_scenarios.py <scenario> <url> <token> [args...]

Each prints JSON lines ({"type": ...}) for the test to check, and ends with {"type": "done"} (exit
0); a failed assert exits non-zero with the traceback on stderr.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))

from tandem_client import ConflictError, NotOwnerError, Tandem, TandemError, UnauthorizedError, ValidationError  # noqa: E402


def say(**message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def error_facts(error):
    return {"code": error.code, "status": error.status, "hint": error.hint, "message": error.message, "cls": type(error).__name__}


def crud(db):
    notes = db.collection("notes")
    a = notes.insert({"title": "a", "n": 1, "tags": ["x"], "text": "h\u00e9llo \U0001f600"})
    assert a["version"] == 1 and a["data"]["text"] == "h\u00e9llo \U0001f600", a
    assert notes.get(a["id"]) == a
    assert notes.get("missing") is None
    b = notes.insert({"title": "b", "n": 2}, id="note-b")
    assert b["id"] == "note-b"
    try:
        notes.insert({"title": "again"}, id="note-b")
        raise AssertionError("a duplicate id was accepted")
    except TandemError as error:
        say(type="duplicate", **error_facts(error))
    patched = notes.patch("note-b", set={"n": 3, "extra": True}, remove=["title"])
    assert patched["version"] == 2 and patched["data"] == {"n": 3, "extra": True}, patched
    put = notes.put("note-b", {"title": "B"}, if_version=2)
    assert put["version"] == 3 and put["data"] == {"title": "B"}
    upserted = notes.put("note-c", {"title": "c", "n": 5})
    assert upserted["version"] == 1
    for i in range(10, 17):
        notes.insert({"title": "p%d" % i, "n": i})
    # find: where, orderBy, limit, and cursor paging
    big = notes.find(where={"n": {"gte": 10}}, order_by="-n")
    assert [r["data"]["n"] for r in big] == list(range(16, 9, -1)), big
    pages = []
    after = None
    while True:
        records, after = notes.find_page(where={"n": {"gte": 10}}, order_by="n", limit=3, after=after)
        pages.append([r["data"]["n"] for r in records])
        if after is None:
            break
    assert pages == [[10, 11, 12], [13, 14, 15], [16]], pages
    assert notes.find(where={"n": {"gte": 10}}, order_by="n", limit=4, page_size=3) == big[::-1][:4]
    assert notes.count({"n": {"in": [1, 5]}}) == 2
    assert notes.delete("note-c") is True
    assert notes.delete("note-c") is False
    assert notes.get("note-c") is None
    try:
        notes.insert({"bad": float("nan")})
        raise AssertionError("NaN was sent")
    except TandemError as error:
        assert error.code == "INVALID_DATA", error
    # transaction: all or nothing
    results = db.transaction(
        [
            {"op": "insert", "collection": "notes", "id": "t-1", "data": {"n": 100}},
            {"op": "patch", "collection": "notes", "id": "note-b", "set": {"seen": True}},
            {"op": "get", "collection": "notes", "id": "t-1"},
        ]
    )
    assert results[0]["id"] == "t-1" and results[1]["version"] == 4 and results[2]["data"] == {"n": 100}, results
    try:
        db.transaction(
            [
                {"op": "insert", "collection": "notes", "id": "t-2", "data": {"n": 101}},
                {"op": "patch", "collection": "notes", "id": "note-b", "set": {"x": 1}, "ifVersion": 1},
            ]
        )
        raise AssertionError("a transaction with a stale ifVersion committed")
    except ConflictError as error:
        say(type="tx-conflict", index=error.index, expected=error.expected, actual=error.actual, **error_facts(error))
    assert notes.get("t-2") is None
    # schema: sessions are {projectId: str, startedAt: number} (test/workers/http-server.mjs)
    say(type="crud", count=notes.count())


def conflict(db):
    notes = db.collection("notes")
    record = notes.insert({"n": 0})
    notes.patch(record["id"], set={"n": 1}, if_version=1)
    for attempt in ("patch", "put", "delete"):
        try:
            if attempt == "patch":
                notes.patch(record["id"], set={"n": 2}, if_version=1)
            elif attempt == "put":
                notes.put(record["id"], {"n": 2}, if_version=1)
            else:
                notes.delete(record["id"], if_version=1)
            raise AssertionError("a stale if_version was accepted (%s)" % attempt)
        except ConflictError as error:
            say(type="conflict", op=attempt, expected=error.expected, actual=error.actual, collection=error.collection, id=error.id, **error_facts(error))
    assert notes.get(record["id"])["version"] == 2


def ownership(db, role):
    status = db.status()
    say(type="status", role=status["role"])
    for name, call in (
        ("projects", lambda: db.collection("projects").insert({"name": "p"})),
        ("sessions", lambda: db.collection("sessions").insert({"projectId": "p1", "startedAt": 1})),
    ):
        try:
            record = call()
            say(type="written", collection=name, id=record["id"])
        except NotOwnerError as error:
            say(type="refused", collection=name, role=error.role, writers=error.writers, **error_facts(error))
    try:
        db.collection("sessions").insert({"projectId": 7})
    except ValidationError as error:
        say(type="invalid", issues=error.issues, **error_facts(error))
    except NotOwnerError as error:
        say(type="refused-before-validation", **error_facts(error))


def unauthorized(db):
    try:
        db.collection("notes").get("x")
    except UnauthorizedError as error:
        say(type="unauthorized", **error_facts(error))


def feed(db, count, since):
    stream = db.changes(since=since if since in ("now", "beginning") else int(since), collections=["notes"])
    received = 0
    for change in stream:
        say(type="change", seq=change["seq"], id=change["id"], op=change["op"], version=change["version"], data=change.get("data"))
        received += 1
        if received >= count:
            break
    say(type="feed-end", reconnects=stream.reconnects, position=stream.position)
    stream.close()


def consume(db, name, count, ack_through):
    consumer = db.consumer(name, start="beginning", collections=["notes"])
    stream = consumer.changes()
    received = 0
    for change in stream:
        say(type="change", seq=change["seq"], id=change["id"])
        if change["seq"] <= ack_through:
            consumer.ack(change["seq"])
        received += 1
        if received >= count:
            break
    stream.close()
    say(type="consumer-end", position=consumer.position)


if __name__ == "__main__":
    scenario, url, token = sys.argv[1:4]
    args = sys.argv[4:]
    db = Tandem(url, token)
    if scenario == "crud":
        crud(db)
    elif scenario == "conflict":
        conflict(db)
    elif scenario == "ownership":
        ownership(db, args[0])
    elif scenario == "unauthorized":
        unauthorized(db)
    elif scenario == "feed":
        feed(db, int(args[0]), args[1])
    elif scenario == "consume":
        consume(db, args[0], int(args[1]), int(args[2]))
    else:
        sys.exit("unknown scenario " + scenario)
    say(type="done")
