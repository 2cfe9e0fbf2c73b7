"""dclf: a JAX/Flax distortion classifier (reference / blur / noise ...).

A reimplementation of the CS230 (Winter 2020) poster "Distortion Classifier Using Deep
Convolutional Neural Networks" and its Keras code.
"""

import sys

__version__ = "0.1.0"
GRAIN_WORKER_NAME = "grain-process-prefetch"  # how grain names its data worker processes


def settle_worker() -> None:
  """In a worker process of a dclf command (grain's data workers, the pools that build and convert
  datasets): ignore SIGINT and SIGTERM, and exit when the process that started it is gone.

  A Ctrl-C or a SIGTERM sent to the whole process group (a terminal, a VM shutting down) reaches
  the workers too; only the main process decides to stop, then stops them, so none prints a
  traceback or dies under the main process's feet. A SIGKILLed main process cannot stop them:
  they notice within a second and exit, and their shared memory is freed with them.
  """
  import os  # pylint: disable=g-import-not-at-top
  import signal  # pylint: disable=g-import-not-at-top
  import threading  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top

  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_IGN)
  owner = os.getppid()

  def exit_when_orphaned():
    while os.getppid() == owner:
      time.sleep(1.0)
    os._exit(1)

  threading.Thread(target=exit_when_orphaned, name="dclf-orphan-watch", daemon=True).start()


def _settle_grain_worker() -> None:
  """`settle_worker` in a grain worker process, which imports dclf first thing when a dclf command
  spawns it."""
  mp = sys.modules.get("multiprocessing")  # a worker imported it to start; dclf never needs to
  if mp is not None and mp.current_process().name.startswith(GRAIN_WORKER_NAME):
    settle_worker()


_settle_grain_worker()
