"""Writes that never leave a half-written file under the final name, and JSON that stays JSON.

Files get the permissions any other program would give them (0666 less the umask), not the
0600 of a temporary file, so a workdir shared with a group stays readable to it.
"""

import json
import math
import os
import tempfile
from pathlib import Path


def _umask() -> int:
  """The process's umask, read without changing it where Linux allows (other threads may be
  creating files meanwhile)."""
  try:
    for line in Path("/proc/self/status").read_text().splitlines():
      if line.startswith("Umask:"):
        return int(line.split()[1], 8)
  except (OSError, ValueError, IndexError):
    pass
  umask = os.umask(0o022)
  os.umask(umask)
  return umask


def atomic_write_bytes(path, data: bytes) -> None:
  """Writes to a temporary file in the same folder, then renames it over `path`."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    os.fchmod(fd, 0o666 & ~_umask())
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException:
    Path(tmp).unlink(missing_ok=True)
    raise


def atomic_write_text(path, text: str) -> None:
  atomic_write_bytes(path, text.encode())


def finite_or_none(obj):
  """`obj` with every NaN or infinite float replaced by None (JSON has no NaN)."""
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  if isinstance(obj, dict):
    return {key: finite_or_none(value) for key, value in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [finite_or_none(value) for value in obj]
  return obj


def to_json(obj, **kwargs) -> str:
  """Strict JSON (RFC 8259): NaN and infinities become null instead of the invalid `NaN`."""
  return json.dumps(finite_or_none(obj), allow_nan=False, **kwargs)


def atomic_write_json(path, obj) -> None:
  atomic_write_text(path, to_json(obj, indent=2, sort_keys=True) + "\n")
