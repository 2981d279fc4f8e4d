"""A client for `tandem serve` (docs/http-api.md), in the Python standard library only.

Every call is one HTTP request to the server, which applies it through the store's own API: the
token's role is checked against the collection's writers, data against its schema, `if_version`
against the record, and every write reaches the change feed. Records and changes are the JSON
objects the server sends (dicts). Errors are TandemError (or a subclass) with the server's
`code`, `message`, `hint` and facts.

    from tandem_client import Tandem
    db = Tandem("http://127.0.0.1:7070", token=os.environ["TANDEM_TOKEN"])
    session = db.collection("sessions").insert({"projectId": "p1", "startedAt": 0})
    for change in db.changes(since="beginning", collections=["sessions"]):
        print(change["seq"], change["op"], change["id"])

A Tandem object opens a connection per request and keeps no state but its address and token;
use one per thread. `url` may be `unix:/path/to.sock` for a server on a Unix socket.
"""

import http.client
import json
import random
import socket
import time
import urllib.parse

__all__ = [
    "Tandem",
    "Collection",
    "ChangeStream",
    "Consumer",
    "TandemError",
    "ConflictError",
    "NotFoundError",
    "NotOwnerError",
    "ValidationError",
    "UnauthorizedError",
    "ChangesTrimmedError",
]


_FACTS = ("collection", "id", "expected", "actual", "issues", "index", "role", "writers", "cursor", "trimmedThrough")


class TandemError(Exception):
    """An error answer of the server (or the connection's failure): `code`, `message`, `hint`,
    the HTTP `status` (None when no answer came) and the facts the server sent (`facts`:
    collection, id, expected, actual, issues, index...)."""

    def __init__(self, code, message, hint=None, status=None, facts=None):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.hint = hint
        self.status = status
        self.facts = dict(facts or {})
        # The usual facts as attributes too (None when the server sent none): e.expected, e.actual...
        for fact in _FACTS:
            setattr(self, fact, self.facts.get(fact))


class ConflictError(TandemError):
    """VERSION_CONFLICT: the record was not at `expected` (if_version); `actual` is its version, None if gone."""


class NotFoundError(TandemError):
    """NOT_FOUND: the record does not exist."""


class NotOwnerError(TandemError):
    """NOT_OWNER: the token's role is not among the collection's writers."""


class ValidationError(TandemError):
    """SCHEMA_INVALID or INVALID_DATA: the data was refused; `issues` lists why (SCHEMA_INVALID)."""


class UnauthorizedError(TandemError):
    """UNAUTHORIZED: no token, or one the server does not know (revoked)."""


class ChangesTrimmedError(TandemError):
    """CHANGES_TRIMMED: the feed's position fell behind the change log's retention: reload, then follow from 'now'."""


_CLASSES = {
    "VERSION_CONFLICT": ConflictError,
    "NOT_FOUND": NotFoundError,
    "NOT_OWNER": NotOwnerError,
    "SCHEMA_INVALID": ValidationError,
    "INVALID_DATA": ValidationError,
    "UNAUTHORIZED": UnauthorizedError,
    "CHANGES_TRIMMED": ChangesTrimmedError,
}


def error_from(body, status):
    """The TandemError an error body (`{"error": {...}}`) stands for."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return TandemError("STORAGE_FAILURE", "The server answered %s without an error body." % status, "Check the server log.", status)
    facts = {k: v for k, v in error.items() if k not in ("code", "message", "hint")}
    cls = _CLASSES.get(error["code"], TandemError)
    return cls(error["code"], str(error.get("message", "")), error.get("hint"), status, facts)


def _json_body(value):
    # allow_nan=False: NaN and Infinity are not JSON; the server would refuse them anyway.
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError) as error:
        raise TandemError("INVALID_DATA", "The data is not plain JSON: %s." % error, "Send dicts, lists, strings, finite numbers, booleans and None.")


def _check_object(name, value):
    if not isinstance(value, dict):
        raise TandemError("INVALID_DATA", "%s must be a dict (got %s)." % (name, type(value).__name__), "Records hold a JSON object.")


class _Unix(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class Tandem:
    """The store behind one `tandem serve`, acting as the role of `token`.

    `timeout` (seconds) bounds each request's connect and each read; a change stream reads with
    `stream_timeout` (default 45 s: the server sends a keep-alive comment every 15 s, so a silent
    connection is a dead one and is reopened).
    """

    def __init__(self, url, token, timeout=30.0, stream_timeout=45.0):
        if not isinstance(token, str) or token == "":
            raise TandemError("UNAUTHORIZED", "A token is needed.", 'Create one with "tandem token create --role <role>".')
        self.url = url
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self._token = token
        if url.startswith("unix:"):
            self._socket = url[5:]
        else:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme != "http" or parts.hostname is None:
                raise ValueError("url must be http://host:port or unix:/path (got %r)" % url)
            self._socket = None
            self._host = parts.hostname
            self._port = parts.port or 80

    def __repr__(self):
        return "Tandem(%r)" % self.url

    # -- transport

    def _connection(self, timeout):
        if self._socket is not None:
            return _Unix(self._socket, timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _headers(self, extra=None):
        headers = {"Authorization": "Bearer " + self._token, "Accept": "application/json"}
        headers.update(extra or {})
        return headers

    def request(self, method, path, body=None, query=None):
        """Sends one request and returns its parsed JSON answer; raises TandemError on an error answer.

        A write whose connection failed after it was sent raises OUTCOME_UNKNOWN (it may or may
        not have been applied: re-read); a connection that could not be made, SERVER_UNREACHABLE.
        """
        if query:
            path += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        payload = None if body is None else _json_body(body)
        headers = self._headers({"Content-Type": "application/json"} if payload is not None else None)
        conn = self._connection(self.timeout)
        sent = False
        try:
            try:
                conn.connect()
            except OSError as error:
                raise TandemError(
                    "SERVER_UNREACHABLE",
                    "The server could not be reached (%s); nothing was done." % error,
                    "Check that tandem serve runs at that address, then retry.",
                )
            try:
                conn.request(method, path, body=payload, headers=headers)
                sent = True
                response = conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException) as error:
                if sent and method != "GET":
                    raise TandemError(
                        "OUTCOME_UNKNOWN",
                        "The connection to the server was lost after the request was sent (%s): it may or may not have been applied." % error,
                        "Re-read to find out before retrying a write that is not idempotent.",
                    )
                raise TandemError(
                    "SERVER_UNREACHABLE",
                    "The connection to the server failed (%s); nothing was done." % error,
                    "Check that tandem serve runs at that address, then retry.",
                )
        finally:
            conn.close()
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            parsed = None
        if response.status >= 400:
            raise error_from(parsed, response.status)
        return parsed

    # -- the store

    def collection(self, name):
        """The collection `name` (declared in the served store's definition)."""
        return Collection(self, name)

    def health(self):
        """True when the server answers (GET /v1/health needs no token)."""
        return self.request("GET", "/v1/health").get("ok") is True

    def status(self):
        """`{"role", "collections", "store"}`: the token's role, the declared collections, store.describe()."""
        return self.request("GET", "/v1/status")

    def transaction(self, operations):
        """Applies a list of operations all together or not at all (POST /v1/transaction).

        Each operation is a dict: `{"op": "insert", "collection", "data", "id"?}`,
        `{"op": "put", "collection", "id", "data", "ifVersion"?, "mode"?}`,
        `{"op": "patch", "collection", "id", "set"?, "remove"?, "ifVersion"?}`,
        `{"op": "delete", "collection", "id", "ifVersion"?}`, `{"op": "get", "collection", "id"}`.
        Returns one result per operation. On failure nothing was written, and the error's
        `index` fact names the operation that failed.
        """
        return self.request("POST", "/v1/transaction", {"operations": list(operations)})["results"]

    def changes(self, since="now", collections=None, ids=None):
        """The change feed (SSE) as an iterator of change dicts, in seq order, each once.

        `since`: 'now', 'beginning' or a seq to continue after. When the connection drops (the
        server restarted, say) the stream reconnects by itself with Last-Event-ID, so nothing is
        lost or repeated; `position` is the seq of the last change delivered.
        """
        return ChangeStream(self, "/v1/changes", {"since": since}, collections, ids)

    def consumer(self, name, start="now", collections=None, ids=None):
        """A durable consumer: its position is kept in the store, so it resumes after its last ack."""
        return Consumer(self, name, start, collections, ids)


def _quote(segment):
    return urllib.parse.quote(segment, safe="")


def _order_param(order_by):
    return order_by if isinstance(order_by, str) else json.dumps(order_by)


class Collection:
    """One collection of a Tandem store. Records are dicts: id, version, createdAt, updatedAt, role, data."""

    def __init__(self, db, name):
        self.db = db
        self.name = name
        self._base = "/v1/collections/%s" % _quote(name)

    def _record(self, id):
        return "%s/records/%s" % (self._base, _quote(id))

    def get(self, id):
        """The record, or None when it does not exist."""
        try:
            return self.db.request("GET", self._record(id))
        except NotFoundError as error:
            if error.code == "NOT_FOUND":
                return None
            raise

    def insert(self, data, id=None):
        """Inserts a new record (a new ULID id unless `id` is given: DUPLICATE_ID if it exists) and returns it."""
        _check_object("data", data)
        body = {"data": data}
        if id is not None:
            body["id"] = id
        return self.db.request("POST", "%s/records" % self._base, body)

    def put(self, id, data, if_version=None, mode="upsert"):
        """Writes the whole data of record `id`: inserted when missing (mode 'upsert'), or only an
        existing one (mode 'replace': NOT_FOUND otherwise). With `if_version`, only if the record
        is at that version now (ConflictError otherwise)."""
        _check_object("data", data)
        body = {"data": data, "mode": mode}
        if if_version is not None:
            body["ifVersion"] = if_version
        return self.db.request("PUT", self._record(id), body)

    def patch(self, id, set=None, remove=None, if_version=None):
        """Writes the fields of `set` and removes the fields named in `remove`, keeping the others."""
        body = {}
        if set is not None:
            _check_object("set", set)
            body["set"] = set
        if remove is not None:
            body["remove"] = list(remove)
        if if_version is not None:
            body["ifVersion"] = if_version
        return self.db.request("PATCH", self._record(id), body)

    def delete(self, id, if_version=None):
        """Deletes the record: True, or False when it did not exist (ConflictError instead with `if_version`)."""
        query = None if if_version is None else {"ifVersion": str(if_version)}
        return self.db.request("DELETE", self._record(id), query=query)["deleted"]

    def find_page(self, where=None, order_by=None, limit=None, after=None):
        """One page: `(records, next)`; pass `next` as `after` for the following page (None: last page)."""
        body = {}
        for key, value in (("where", where), ("orderBy", order_by), ("limit", limit), ("after", after)):
            if value is not None:
                body[key] = value
        page = self.db.request("POST", "%s/find" % self._base, body)
        return page["records"], page["next"]

    def find(self, where=None, order_by=None, limit=None, page_size=500):
        """Every record matching `where` (the library's query: field → value or {eq, ne, gt, gte,
        lt, lte, in, exists}), in `order_by` order ("field", "-field" or {"field", "direction"}),
        at most `limit`, read page by page with keyset cursors."""
        out = []
        after = None
        while limit is None or len(out) < limit:
            size = page_size if limit is None else min(page_size, limit - len(out))
            records, after = self.find_page(where, order_by, size, after)
            out.extend(records)
            if after is None:
                break
        return out

    def count(self, where=None):
        """How many records match `where`."""
        return self.db.request("POST", "%s/count" % self._base, {} if where is None else {"where": where})["count"]


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
            self.db, "/v1/consumers/%s/changes" % _quote(self.name), self._params, self._collections, self._ids, resumes_after_position=False
        )
        return stream

    def ack(self, seq):
        """Records that every change up to `seq` is processed; returns the consumer's position."""
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise TandemError("INVALID_REQUEST", "seq must be a non-negative integer (got %r)." % (seq,), "Ack the seq of a change received.")
        self.position = self.db.request("POST", "/v1/consumers/%s/ack" % _quote(self.name), {"seq": seq})["position"]
        return self.position
