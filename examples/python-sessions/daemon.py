"""The activity daemon, in Python: records sessions through `tandem serve` with its own token.

    python3 daemon.py <url> <token> <sessions>

It reads the projects the Node server made, then for each session inserts it when the activity
starts and closes it with its duration when it ends, with if_version: a session is only ever
closed once. Prints one JSON line per acknowledged write, for main.ts to check.
"""

import json
import random
import sys
import time

from tandem_client import NotOwnerError, Tandem


def say(**message):
    print(json.dumps(message), flush=True)


url, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = Tandem(url, token)
projects = [p["id"] for p in db.collection("projects").find(order_by="name")]
sessions = db.collection("sessions")
apps = ["editor", "terminal", "browser", "mail"]

for i in range(count):
    started = int(time.time() * 1000)
    session = sessions.insert({"projectId": random.choice(projects), "app": apps[i % len(apps)], "startedAt": started, "durationMs": 0})
    say(type="started", id=session["id"])
    closed = sessions.patch(session["id"], set={"durationMs": 60_000 * (1 + i % 30)}, if_version=session["version"])
    say(type="closed", id=closed["id"], version=closed["version"])

# Projects are the server's: the daemon's token cannot write them, whatever the daemon tries.
try:
    db.collection("projects").insert({"name": "from the daemon"})
    say(type="refused", code="accepted")
except NotOwnerError as error:
    say(type="refused", code=error.code, message=error.message)
say(type="done")
