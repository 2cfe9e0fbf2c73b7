"""Errors that the command-line tools report as one line and exit code 2."""


class UsageError(Exception):
  """Bad input from the user: a flag, a config field, a file or folder."""
