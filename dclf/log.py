"""dclf's own log lines (progress, resume, preemption) on stderr, from process 0 only.

Kept apart from absl's root logger so the libraries' INFO chatter (orbax logs every file it
writes) can stay at WARNING while ours stays visible.
"""

import logging
import sys

import jax

logger = logging.getLogger("dclf")


def setup(level: int = logging.INFO) -> None:
  if not logger.handlers:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
  logger.setLevel(level if jax.process_index() == 0 else logging.WARNING)
  logger.propagate = False


def info(msg: str, *args) -> None:
  logger.info(msg, *args)
