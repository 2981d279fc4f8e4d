"""The dashboard, in Python: tails the sessions on the change feed (Server-Sent Events).

    python3 dashboard.py <url> <token> <sessions>

It follows the feed from the beginning and prints each session as it starts and ends, until it
has seen <sessions> sessions closed. The feed gives every change once, in order, and would
resume by itself (Last-Event-ID) if the server restarted. Prints JSON lines for main.ts.
"""

import json
import sys

from tandem_client import NotOwnerError, Tandem


def say(**message):
    print(json.dumps(message), flush=True)


url, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = Tandem(url, token)

# A reader's token: a write is refused before anything is touched.
try:
    db.collection("sessions").insert({"projectId": "p", "app": "dashboard", "startedAt": 0, "durationMs": 0})
    say(type="refused", code="accepted")
except NotOwnerError as error:
    say(type="refused", code=error.code)

names = {p["id"]: p["data"]["name"] for p in db.collection("projects").find()}
closed = 0
for change in db.changes(since="beginning", collections=["sessions"]):
    say(type="change", seq=change["seq"], id=change["id"], op=change["op"], version=change["version"])
    if change["version"] == 2:
        closed += 1
        if closed % 10 == 0 or closed == count:
            print("%d sessions closed; the last on %s" % (closed, names.get(change["data"]["projectId"], "?")), flush=True)
        if closed == count:
            break
say(type="done", closed=closed)
