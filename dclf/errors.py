"""The errors every dclf command reports as one `error: ...` line (see `dclf.cli`): those a user
can cause (exit code 2: a bad flag, config field, file or folder, a dataset that is not there, a
weight file that does not fit, a workdir in use), and a run that cannot go on (exit code 1)."""


class UsageError(Exception):
  """Bad input from the user: a flag, a config field, a file or folder."""


class DataError(UsageError):
  """A dataset cannot be built or read.

  `message` is one line saying why; `instructions`, when set, says how to get the data (for
  manually downloaded datasets). str() gives both.
  """

  def __init__(self, message: str, *, instructions: str | None = None):
    super().__init__(message)
    self.message = message
    self.instructions = instructions

  def __str__(self) -> str:
    if not self.instructions:
      return self.message
    return f"{self.message}\n\n{self.instructions.strip()}"


class WeightsError(UsageError):
  """A weight file that cannot be read or does not fit the model; the message says everything."""


class RunError(Exception):
  """A run that cannot go on, through no bad input: its loss diverged, its disk is full. The
  message says what happened and what was kept."""


class Interrupted(KeyboardInterrupt):
  """SIGINT or SIGTERM stopped a command that cannot save its work (a dataset conversion): the
  message says what was removed. Reported like a Ctrl-C that reaches a command's top (exit code 130),
  with this message."""
