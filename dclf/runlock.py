"""A workdir's lock file: one holder at a time, among processes and hosts, on a local disk or on
the shared bucket a TPU pod mounts (gcsfuse), where neither `flock` nor hard links exist and a
rename is a copy then a delete.

So the lock uses only what such a mount does atomically: creating a file exclusively
(`O_CREAT | O_EXCL`), reading it and deleting it.

- The lock file holds its holder (host, pid, boot id, command, start time) and a random nonce;
  a heartbeat thread refreshes its modification time every `HEARTBEAT_S` while it is held.
- It is stale when its process is gone (same host), its host rebooted since (boot id), or its
  heartbeat is older than `STALE_AFTER_S` (a dead host: age is the only evidence from another one).
- Taking over a stale lock is atomic with respect to what was judged stale. A taker first creates
  a claim named after the bytes it judged (`run.lock.claim-<digest>`), exclusively: of several
  takers of one stale lock, one creates it. Only the claim's creator deletes the lock, and only if
  the lock still holds the bytes it judged; then it deletes its claim and creates its own lock
  (exclusively: a run that found no lock in the meantime may have won). The others find the claim,
  wait, then find the winner's live lock. A lock's bytes never come back once deleted (its nonce),
  so a taker that wakes up late finds other bytes and deletes nothing.
- The holder releases its lock the same way (a claim on its own bytes): a run that lost its lock
  while it could not refresh it for `STALE_AFTER_S` never deletes its successor's lock.
- A claim whose creator died (a crash within the milliseconds it is held) is stale by the same
  rules and taken over the same way.
"""

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from dclf.errors import UsageError

HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0
WAIT_S = 30.0  # at most this long for another taker's claim to go; then the lock is refused
_POLL_S = 0.005
_BEING_WRITTEN_S = 5.0  # a lock this young without a holder is being written: wait for it
_MAX_CLAIM_DEPTH = 2  # claims of claims (dead takers) looked through at most

_HELD = set()  # the locks and claims this process holds


def _boot_id() -> str:
  try:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
  except OSError:
    return ""


def _process_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # alive, another user's
    return True
  return True


def _this_host() -> dict:
  return {"host": socket.gethostname(), "pid": os.getpid(), "boot_id": _boot_id()}


def _record(**fields) -> bytes:
  """A lock's (or a claim's) bytes: this process, `fields` and a nonce no other lock has."""
  return json.dumps({**_this_host(), **fields, "nonce": uuid.uuid4().hex}).encode()


def _parse(content: bytes) -> dict:
  try:
    holder = json.loads(content)
  except ValueError:  # being written, or garbage
    return {}
  return holder if isinstance(holder, dict) else {}


def stale_reason(path: Path, holder: dict, age: float) -> str | None:
  """Why the file `path` of `holder` (its parsed content), refreshed `age` s ago, is stale; None
  while it may be alive. A file without a readable holder (being written) is alive until old."""
  if age > STALE_AFTER_S:
    return f"no heartbeat for {age:.0f} s"
  me = _this_host()
  if holder.get("host") != me["host"]:
    return None
  if holder.get("boot_id") and me["boot_id"] and holder["boot_id"] != me["boot_id"]:
    return "its host rebooted since"
  pid = holder.get("pid")
  if not isinstance(pid, int) or not _process_alive(pid):
    return f"its process {pid} is gone"
  if pid == me["pid"] and str(path) not in _HELD:
    return f"its process {pid} is gone (this process has its pid)"
  return None


def _create(path: Path, content: bytes) -> bool:
  """Creates `path` holding `content` if nothing is there; False if something is."""
  try:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
  except FileExistsError:
    return False
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(content)
  except BaseException:
    path.unlink(missing_ok=True)  # ours, never judged stale while this young
    raise
  return True


def _read(path: Path) -> tuple[bytes, float]:
  """The bytes of `path` and their age (seconds since the last heartbeat), from one open file."""
  with open(path, "rb") as f:
    return f.read(), time.time() - os.fstat(f.fileno()).st_mtime


def claim_path(path: Path, judged: bytes) -> Path:
  """The claim a process creates to delete `path` holding `judged`: one name per lock's bytes."""
  return path.with_name(f"{path.name}.claim-{hashlib.sha256(judged).hexdigest()[:16]}")


def delete_if_unchanged(path: Path, judged: bytes, depth: int = 0) -> bool:
  """Deletes `path` if it still holds `judged`, as the one process allowed to (the creator of
  its claim); returns whether it did. False when another process holds the claim: look again."""
  claim = claim_path(path, judged)
  if not _create(claim, _record()):
    try:
      content, age = _read(claim)
    except FileNotFoundError:
      return False  # its creator is done
    if depth < _MAX_CLAIM_DEPTH and stale_reason(claim, _parse(content), age):
      delete_if_unchanged(claim, content, depth + 1)  # its creator died holding it
    return False
  _HELD.add(str(claim))
  try:
    try:
      current = path.read_bytes()
    except FileNotFoundError:
      return False
    if current != judged:
      return False
    path.unlink()
    return True
  finally:
    _HELD.discard(str(claim))
    claim.unlink(missing_ok=True)


class Lock:
  """`path`, created exclusively and kept fresh by a heartbeat thread while held; `command`
  names the holder in the line that refuses a second one."""

  def __init__(self, path, command: str = "dclf.main"):
    self.path = Path(path)
    self.command = command
    self._content = None
    self._stop = threading.Event()
    self._thread = None

  def acquire(self) -> str | None:
    """Takes the lock; returns a line naming the stale lock it took over, if it did. UsageError
    when a live process holds it."""
    content = _record(command=self.command, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    took_over = None
    deadline = time.monotonic() + WAIT_S
    while not _create(self.path, content):
      if time.monotonic() > deadline:
        raise UsageError(f"cannot lock {self.path.parent}: other runs keep taking it")
      try:
        judged, age = _read(self.path)
      except FileNotFoundError:
        continue  # released or taken over meanwhile
      except IsADirectoryError:
        raise UsageError(f"{self.path} is a folder, not a lock file: move it away") from None
      holder = _parse(judged)
      if not holder and age < _BEING_WRITTEN_S:
        time.sleep(_POLL_S)  # created this instant, its content not yet written
        continue
      reason = stale_reason(self.path, holder, age)
      if reason is None:
        command = f", {holder['command']}" if holder.get("command") not in (None, self.command) else ""
        raise UsageError(
          f"{self.path.parent} is in use by another run (host {holder.get('host')}, pid {holder.get('pid')}{command}, "
          f"alive {age:.0f} s ago); if that run is dead, delete {self.path} (or wait {STALE_AFTER_S:.0f} s)"
        )
      if delete_if_unchanged(self.path, judged):
        took_over = (
          f"took over the stale lock of {self.path.parent} (host {holder.get('host')}, pid {holder.get('pid')}): "
          + reason
        )
      else:
        time.sleep(_POLL_S)  # another taker holds the claim: let it finish
    self._content = content
    _HELD.add(str(self.path))
    self._thread = threading.Thread(target=self._beat, name="dclf-workdir-lock", daemon=True)
    self._thread.start()
    return took_over

  def _beat(self) -> None:
    while not self._stop.wait(HEARTBEAT_S):
      with contextlib.suppress(OSError):
        os.utime(self.path)

  def release(self) -> None:
    if self._thread is None:
      return
    self._stop.set()
    self._thread.join()
    self._thread = None
    _HELD.discard(str(self.path))
    with contextlib.suppress(OSError):
      delete_if_unchanged(self.path, self._content)
