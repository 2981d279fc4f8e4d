"""The errors of Tandem's Python helpers (tandem_client.py, tandem_sqlite.py): the codes, messages
and hints of docs/errors.md, as exceptions. Standard library only."""

__all__ = [
    "TandemError",
    "ConflictError",
    "NotFoundError",
    "NotOwnerError",
    "ValidationError",
    "UnauthorizedError",
    "ChangesTrimmedError",
    "BusyError",
    "error_from",
]

_FACTS = ("collection", "id", "expected", "actual", "issues", "index", "role", "writers", "cursor", "trimmedThrough")


class TandemError(Exception):
    """A refused or failed call: `code` (docs/errors.md), `message`, `hint`, the HTTP `status`
    (None when no HTTP answer came, or for a direct SQLite write) and the facts (`facts`:
    collection, id, expected, actual, issues, index...), the usual ones also as attributes."""

    def __init__(self, code, message, hint=None, status=None, facts=None, **more):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.hint = hint
        self.status = status
        self.facts = dict(facts or {}, **more)
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


class BusyError(TandemError):
    """BUSY_TIMEOUT: another process held the store's write lock for too long."""


_CLASSES = {
    "VERSION_CONFLICT": ConflictError,
    "NOT_FOUND": NotFoundError,
    "NOT_OWNER": NotOwnerError,
    "SCHEMA_INVALID": ValidationError,
    "INVALID_DATA": ValidationError,
    "UNAUTHORIZED": UnauthorizedError,
    "CHANGES_TRIMMED": ChangesTrimmedError,
    "BUSY_TIMEOUT": BusyError,
}


def error_from(body, status):
    """The TandemError an error body (`{"error": {...}}`) stands for."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        return TandemError("STORAGE_FAILURE", "The server answered %s without an error body." % status, "Check the server log.", status)
    facts = {k: v for k, v in error.items() if k not in ("code", "message", "hint")}
    cls = _CLASSES.get(error["code"], TandemError)
    return cls(error["code"], str(error.get("message", "")), error.get("hint"), status, facts)
