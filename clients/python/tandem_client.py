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
use one per thread. `url` may be `unix:/path/to.sock` for a server on a Unix socket. It needs
tandem_errors.py and tandem_feed.py beside it (copy the folder clients/python).
"""

import http.client
import json
import socket
import urllib.parse

from tandem_errors import (  # the errors are part of this module's API: from tandem_client import ConflictError
    BusyError,
    ChangesTrimmedError,
    ConflictError,
    NotFoundError,
    NotOwnerError,
    TandemError,
    UnauthorizedError,
    ValidationError,
    error_from,
)
from tandem_feed import ChangeStream, Consumer

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
    "BusyError",
]


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
        except NotFoundError:
            return None

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
