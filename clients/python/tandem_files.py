"""Tandem's file-lock protocol and atomic replace, in the Python standard library only.

A reference implementation of docs/files.md ("The lock protocol"): a Python program that updates a
file with update_file() never loses an update to, nor is lost by, Node processes using
tandemdb/fs's updateFile() or withFileLock() on the same file. Linux and macOS (it needs os.link).

    from tandem_files import update_file
    update_file("counter.json", lambda text: str(int(text or "0") + 1))
"""

import hashlib
import json
import os
import random
import re
import socket
import sys
import time

_TOKEN = re.compile(r"^[0-9a-f]{16,64}$")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _boot_id():
    raw = _read("/proc/sys/kernel/random/boot_id")
    return raw.decode().strip() if raw else None


def _proc_start(pid):
    raw = _read("/proc/%d/stat" % pid)
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return int(text[text.rindex(")") + 2 :].split(" ")[19])
    except (ValueError, IndexError):
        return None


HOST = socket.gethostname()
BOOT = _boot_id()


def _host_tag():
    return (re.sub(r"[^A-Za-z0-9_-]", "_", HOST)[:63]) or "unknown"


def _temp_beside(path):
    d, name = os.path.split(os.path.abspath(path))
    return os.path.join(d, ".%s.%d-%s.%s.tmp" % (name, os.getpid(), os.urandom(4).hex(), _host_tag()))


def _lock_line(token):
    record = {"pid": os.getpid(), "host": HOST}
    if BOOT is not None:
        record["boot"] = BOOT
    start = _proc_start(os.getpid())
    if start is not None:
        record["procStart"] = start
    record["token"] = token
    record["acquiredAt"] = int(time.time() * 1000)
    return (json.dumps(record, separators=(",", ":")) + "\n").encode()


def _create_complete(path, data):
    """Creates path holding data, complete, only if absent (temp file + hard link). False if it exists."""
    temp = _temp_beside(path)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass


def _read_lock(path):
    """(record or None, key, mtime in ms) of a lock or claim file, or None when it is gone."""
    try:
        st = os.lstat(path)
        raw = _read(path)
    except FileNotFoundError:
        return None
    if raw is None:
        return None
    try:
        record = json.loads(raw.decode("utf-8"))
        if not isinstance(record, dict):
            record = None
    except (ValueError, UnicodeDecodeError):
        record = None
    token = record.get("token") if record else None
    key = token if isinstance(token, str) and _TOKEN.match(token) else "h" + hashlib.sha256(raw).hexdigest()[:24]
    return record, key, st.st_mtime * 1000


def _holder_state(record):
    if not record or record.get("host") != HOST or not isinstance(record.get("pid"), int):
        return "unknown"
    if record.get("boot") is not None and BOOT is not None and record["boot"] != BOOT:
        return "dead"
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        pass
    if record.get("procStart") is None:
        return "alive"
    start = _proc_start(record["pid"])
    return "alive" if start is None or start == record["procStart"] else "dead"


def _is_stale(lock, stale_ms):
    record, _key, mtime_ms = lock
    state = _holder_state(record)
    if state != "unknown":
        return state == "dead"
    return time.time() * 1000 - mtime_ms > stale_ms


def _take_over(lock_path, key, stale_ms):
    prefix = "%s.takeover.%s." % (lock_path, key)
    for n in range(1, 65):
        claim = prefix + str(n)
        if not _create_complete(claim, _lock_line(os.urandom(12).hex())):
            other = _read_lock(claim)
            if other is None or _is_stale(other, stale_ms):
                continue
            return False
        now = _read_lock(lock_path)
        if now is not None and now[1] == key:
            try:
                os.unlink(lock_path)
            except FileNotFoundError:
                pass
        d = os.path.dirname(lock_path)
        for name in os.listdir(d):
            if name.startswith(os.path.basename(prefix)):
                try:
                    os.unlink(os.path.join(d, name))
                except FileNotFoundError:
                    pass
        return True
    return False


class LockTimeout(Exception):
    pass


def acquire(path, timeout_ms=10000, stale_ms=30000):
    """Takes the lock on path (the file path + '.lock'); returns its token. Raises LockTimeout."""
    lock_path = os.path.abspath(path) + ".lock"
    started = time.monotonic()
    backoff = 0.001
    while True:
        token = os.urandom(12).hex()
        if _create_complete(lock_path, _lock_line(token)):
            return token
        holder = _read_lock(lock_path)
        if holder is None:
            continue
        if _is_stale(holder, stale_ms) and _take_over(lock_path, holder[1], stale_ms):
            continue
        waited = (time.monotonic() - started) * 1000
        if waited >= timeout_ms:
            raise LockTimeout("lock on %s held by %r for %d ms" % (path, holder[0], waited))
        time.sleep(backoff * (0.5 + random.random()))
        backoff = min(backoff * 1.5, 0.02)


def release(path, token):
    lock_path = os.path.abspath(path) + ".lock"
    now = _read_lock(lock_path)
    if now is None or now[1] != token:
        raise RuntimeError("lock on %s was taken over while held" % path)
    os.unlink(lock_path)


def write_file_atomic(path, data):
    """Replaces path with data (bytes or str): temp file, fsync, rename, fsync the directory."""
    if isinstance(data, str):
        data = data.encode()
    target = os.path.realpath(path)
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    temp = _temp_beside(target)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    dfd = os.open(os.path.dirname(target), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def update_file(path, transform, timeout_ms=10000, stale_ms=30000):
    """Locked read-modify-write: transform(text or None) returns the new text, or None to leave it."""
    token = acquire(path, timeout_ms, stale_ms)
    try:
        current = _read(path)
        result = transform(None if current is None else current.decode("utf-8"))
        if result is not None:
            write_file_atomic(path, result)
        return result
    finally:
        release(path, token)


if __name__ == "__main__":
    # python3 tandem_files.py increment FILE COUNT TAG: COUNT logged increments of {"n", "applied"}, as the tests' Node workers do.
    if len(sys.argv) == 5 and sys.argv[1] == "increment":
        file, count, tag = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        for i in range(count):
            name = "%s-%d" % (tag, i)

            def bump(text):
                state = json.loads(text) if text else {"n": 0, "applied": []}
                if name in state["applied"]:
                    return None
                state = {"n": state["n"] + 1, "applied": state["applied"] + [name]}
                return json.dumps(state, indent=2) + "\n"

            update_file(file, bump, timeout_ms=60000)
        print(json.dumps({"type": "done", "count": count}))
    else:
        sys.exit("usage: tandem_files.py increment FILE COUNT TAG")
