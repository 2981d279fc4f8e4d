"""Tandem's rules for record data and ids, for writers that bypass the library (tandem_sqlite.py):
what Tandem's own writes refuse (src/store/data.ts, src/store/ids.ts), and its ULID ids.
Standard library only."""

import json
import os
import re
import time

from tandem_errors import TandemError

__all__ = ["new_id", "encode_data", "check_id", "invalid_data"]

_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SAFE_INTEGER = 2**53 - 1
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id():
    """A ULID: 48 bits of milliseconds and 80 random bits, 26 characters that sort by creation time."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(25, -1, -1))


def _check_json(collection, value, path="data"):
    # What Tandem's own writes refuse (src/store/data.ts): anything JSON.parse would not give back as it was.
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise invalid_data(collection, path, "has a key that is not a string (%r)" % (key,))
            if key == "__proto__":
                raise invalid_data(collection, path, "has a __proto__ key")
            _check_json(collection, item, "%s.%s" % (path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_json(collection, item, "%s[%d]" % (path, index))
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        pass
    elif isinstance(value, int):
        if abs(value) > _SAFE_INTEGER:
            raise invalid_data(collection, path, "is an integer beyond 2**53 - 1, which JavaScript cannot hold exactly")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise invalid_data(collection, path, "is NaN or infinite, which JSON cannot hold")
    else:
        raise invalid_data(collection, path, "is a %s, not JSON" % type(value).__name__)


def invalid_data(collection, path, what):
    return TandemError("INVALID_DATA", "%s/%s %s." % (collection, path, what), "Store plain JSON: dicts, lists, strings, finite numbers, booleans, None.")


def encode_data(collection, data):
    if not isinstance(data, dict):
        raise invalid_data(collection, "data", "is a %s, not a dict: a record holds an object" % type(data).__name__)
    _check_json(collection, data)
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        text.encode("utf-8")  # a lone surrogate (half an emoji) cannot be stored as itself
    except UnicodeEncodeError:
        raise invalid_data(collection, "data", "holds a string with a lone UTF-16 surrogate")
    return text


def check_id(id):
    if not isinstance(id, str) or id == "" or len(id.encode("utf-16-le", "surrogatepass")) > 512 or _ID_CONTROL.search(id):
        raise TandemError("INVALID_ID", "A record id must be a string of 1 to 256 characters without control characters (got %r)." % (id,))
    try:
        id.encode("utf-8")
    except UnicodeEncodeError:
        raise TandemError("INVALID_ID", "A record id must not hold a lone UTF-16 surrogate (got %r)." % (id,))
    return id
