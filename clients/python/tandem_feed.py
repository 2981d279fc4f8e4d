"""The change feed of `tandem serve` for tandem_client.py: Server-Sent Events with Last-Event-ID
resume, and durable consumers. Standard library only; use it through Tandem.changes() and
Tandem.consumer()."""

import http.client
import json
import random
import time
import urllib.parse

from tandem_errors import TandemError, error_from

__all__ = ["ChangeStream", "Consumer"]


class ChangeStream:
    """An SSE change stream that reconnects with Last-Event-ID. Iterate it; `close()` ends it.

    `position`: the seq the stream continues after (the last change delivered, or the `ready`
    position). `reconnects`: how many times it reopened its connection. Errors the server sends
    as an `error` event (CHANGES_TRIMMED...) and refusals of the request itself are raised; a
    lost connection is not: the stream waits (50 ms doubling to 2 s) and resumes.
    """

    def __init__(self, db, path, params, collections, ids, resumes_after_position=True):
        self.db = db
        self._path = path
        self._params = dict(params)
        if collections is not None:
            self._params["collections"] = ",".join(collections)
        if ids is not None:
            self._params["ids"] = ",".join(ids)
        self._resume = resumes_after_position
        self.position = None
        self.reconnects = 0
        self._conn = None
        self._response = None
        self._closed = False

    def __iter__(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._closed = True
        self._drop()

    def _drop(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
        self._conn = None
        self._response = None

    def _open(self):
        params = dict(self._params)
        headers = self.db._headers({"Accept": "text/event-stream"})
        if self.position is not None and self._resume:
            headers["Last-Event-ID"] = str(self.position)
        path = self._path + "?" + urllib.parse.urlencode({k: str(v) for k, v in params.items()})
        conn = self.db._connection(self.db.stream_timeout)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        if response.status >= 400:
            raw = response.read()
            conn.close()
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                body = None
            raise error_from(body, response.status)
        self._conn = conn
        self._response = response

    def _event(self):
        """The next event as (name, id, data), or None when the connection ended."""
        name, event_id, data = "message", None, []
        while True:
            line = self._response.readline()
            if line == b"":
                return None
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data or name != "message":
                    return name, event_id, "\n".join(data)
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value

    def __next__(self):
        wait = 0.05
        while not self._closed:
            try:
                if self._response is None:
                    self._open()
                    wait = 0.05
                event = self._event()
            except TandemError as error:
                self._drop()
                if error.status != 503:
                    raise
                event = None  # the server is stopping or busy: like a lost connection, try again
            except (OSError, http.client.HTTPException):
                event = None
            if event is None:
                if self._closed:
                    break
                # The connection ended (a server restart, a dead link): reopen after a pause.
                self._drop()
                self.reconnects += 1
                time.sleep(wait * (0.5 + random.random()))
                wait = min(wait * 2, 2.0)
                continue
            name, _, data = event
            if name == "ready":
                if self.position is None:
                    self.position = json.loads(data)["position"]
                continue
            if name == "error":
                self._drop()
                self._closed = True
                raise error_from(json.loads(data), None)
            if name == "change":
                change = json.loads(data)
                if self.position is not None and change["seq"] <= self.position:
                    continue  # already delivered before a reconnect (a consumer resumes at its ack)
                self.position = change["seq"]
                return change
        raise StopIteration


class Consumer:
    """A durable consumer (docs/changes.md): `changes()` streams the changes after its last ack,
    holding its lease while open; `ack(seq)` records that every change up to `seq` is processed,
    so the next run (of any process) starts after it. Ack from the same Tandem object while the
    stream is open."""

    def __init__(self, db, name, start, collections, ids):
        self.db = db
        self.name = name
        self._params = {"start": start}
        self._collections = collections
        self._ids = ids
        self.position = None

    def changes(self):
        # On reconnect the server restarts after the last ack; what this stream already delivered is skipped.
        stream = ChangeStream(
            self.db, "/v1/consumers/%s/changes" % urllib.parse.quote(self.name, safe=""), self._params, self._collections, self._ids, resumes_after_position=False
        )
        return stream

    def ack(self, seq):
        """Records that every change up to `seq` is processed; returns the consumer's position."""
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise TandemError("INVALID_REQUEST", "seq must be a non-negative integer (got %r)." % (seq,), "Ack the seq of a change received.")
        self.position = self.db.request("POST", "/v1/consumers/%s/ack" % urllib.parse.quote(self.name, safe=""), {"seq": seq})["position"]
        return self.position
