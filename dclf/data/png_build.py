"""Reads a finished PNG build (tfds' array_record shards of PNG-encoded examples) and reports a
damaged one as what it is: bad data a user can fix by building again, one `DataError` line naming
the file, not an internal error.

A build is damaged when a shard is missing, truncated or corrupt (array_record checks each chunk's
hash), a record is not a tfds example or its PNG does not decode, or its metadata files do not
parse. `check_shards` opens every shard of a split (its footer only: no record is read), so a
run finds a missing or truncated shard before it starts; `PngSource` turns a record that cannot be
read into the same error at the moment it is read.
"""

from __future__ import annotations

import bisect
import itertools
from pathlib import Path

from array_record.python import array_record_module

from dclf.errors import DataError


def build_command(builder) -> str:
  """The command that builds `builder`'s dataset (with `--manual_dir M` where it needs a download)."""
  command = f"python -m dclf.data build {builder.name}/{builder.builder_config.name} --data_dir {builder.data_dir_root}"
  return command + (" --manual_dir M" if getattr(builder.builder_config, "needs_manual_dir", False) else "")


def _where(builder) -> tuple[str, str, str]:
  """(dataset name, build folder, build command) of a damaged build's error."""
  return f"{builder.name}/{builder.builder_config.name}", str(builder.data_path), build_command(builder)


def _damaged(where: tuple[str, str, str], detail: str) -> DataError:
  name, folder, command = where
  return DataError(
    f"the build of {name} in {folder} is damaged: {detail}; delete that folder and build it again: {command}"
  )


def damaged(builder, detail: str) -> DataError:
  """The error of a damaged build: what is wrong (`detail`) and how to build it again."""
  return _damaged(_where(builder), detail)


def describe(e: BaseException) -> str:
  """`Type: message` on one line, at most 200 characters of the message."""
  return f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"


def check_shards(builder, split: str) -> None:
  """Every shard `split` (tfds slicing allowed) reads from is there and holds the records the
  build's dataset_info.json says it does; `damaged` otherwise."""
  for instruction in builder.info.splits[split].file_instructions:
    path = Path(instruction.filename)
    if not path.exists():
      raise damaged(builder, f"{path.name} is missing")
    try:
      reader = array_record_module.ArrayRecordReader(str(path))
      try:
        count = reader.num_records()
      finally:
        reader.close()
    except Exception as e:  # array_record raises RuntimeError for every kind of bad file
      raise damaged(builder, f"{path.name} cannot be read ({describe(e)})") from None
    if count != instruction.examples_in_shard:
      raise damaged(builder, f"{path.name} holds {count} records, not {instruction.examples_in_shard}")


class PngSource:
  """tfds' random-access source of a split of the PNG build (`len`, `[i]` -> decoded features), whose
  records that cannot be read (a corrupt chunk, a record that is not a tfds example, a PNG that does
  not decode) raise `damaged`, naming the record and its shard. Picklable, as the tfds source is."""

  def __init__(self, builder, split: str):
    self._source = builder.as_data_source(split=split)
    self._split = split
    instructions = builder.info.splits[split].file_instructions
    self._shards = [Path(i.filename).name for i in instructions]
    self._starts = list(itertools.accumulate((i.take for i in instructions), initial=0))[:-1]
    self._where = _where(builder)

  def __len__(self) -> int:
    return len(self._source)

  def __repr__(self) -> str:
    return f"PngSource({self._source!r})"

  def __getitem__(self, index) -> dict:
    if not 0 <= index < len(self._source):  # (tfds answers a ValueError, as it does for damage)
      raise IndexError(f"example {index} of {self._split!r}: out of range 0..{len(self._source) - 1}")
    try:
      return self._source[index]
    except Exception as e:  # tfds' reader and decoders: RuntimeError, OSError (PIL), DecodeError, ...
      shard = self._shards[bisect.bisect_right(self._starts, int(index)) - 1] if self._shards else "?"
      detail = f"example {index} of {self._split!r} (in {shard}) cannot be read ({describe(e)})"
      raise _damaged(self._where, detail) from None
