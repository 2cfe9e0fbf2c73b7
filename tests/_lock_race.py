"""Processes racing for one stale workdir lock at the same instant, round after round (spawned by
`test_reliability`; this module imports only `dclf.runlock`, so that they start in a blink)."""

import json
import os
import random
import time
import traceback
from pathlib import Path


def race(paths, barrier, results) -> None:
  """For each lock path: waits at `barrier` until every racer is there, tries to take the lock,
  waits until every racer has tried (the winners still holding theirs), then releases. Puts one
  (pid, [[round, outcome], ...]) on `results`: outcome `holds` (won, and the lock file is its own),
  `lost` (refused), `won but the file is not its own`, or an unexpected error."""
  from dclf.errors import UsageError  # pylint: disable=g-import-not-at-top
  from dclf.runlock import Lock  # pylint: disable=g-import-not-at-top

  _preempt_after(os, "kill")
  outcomes = []
  try:
    for number, path in enumerate(paths):
      barrier.wait(timeout=120)
      lock = Lock(Path(path))
      try:
        lock.acquire()
      except UsageError:
        lock = None
      barrier.wait(timeout=120)  # every racer has tried: two holders would both hold now
      if lock is None:
        outcomes.append([number, "lost"])
      else:
        mine = _holder(Path(path)).get("pid") == os.getpid()
        outcomes.append([number, "holds" if mine else "won but the file is not its own"])
      barrier.wait(timeout=120)  # every winner has read the file: now they may release it
      if lock is not None:
        lock.release()
  except Exception:  # the test reports it: a racer must only win or be refused
    outcomes.append([-1, traceback.format_exc()])
  results.put((os.getpid(), outcomes))


def _preempt_after(module, name: str) -> None:
  """`module.name` followed by a random pause of up to a millisecond: where a loaded CPU would
  preempt a racer (here, right after it asked whether a lock's process lives), so that the
  interleavings a quiet machine rarely shows happen in every run."""
  call = getattr(module, name)

  def paused(*args, **kwargs):
    try:
      return call(*args, **kwargs)
    finally:
      time.sleep(random.uniform(0, 1e-3))

  setattr(module, name, paused)


def _holder(path: Path) -> dict:
  try:
    return json.loads(path.read_bytes())
  except FileNotFoundError:  # another winner deleted it
    return {}
