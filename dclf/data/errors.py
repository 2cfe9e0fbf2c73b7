"""The one exception type callers of `dclf.data` need to catch."""

from __future__ import annotations


class DataError(Exception):
  """A dataset cannot be built or read.

  `message` is one line saying why; `instructions`, when set, says how to get the data
  (for manually downloaded datasets). str() gives both.
  """

  def __init__(self, message: str, *, instructions: str | None = None):
    super().__init__(message)
    self.message = message
    self.instructions = instructions

  def __str__(self) -> str:
    if not self.instructions:
      return self.message
    return f"{self.message}\n\n{self.instructions.strip()}"
