"""The JAX runtime a run stands on: joining `jax.distributed` for multi-host runs, preemption as a
poll, and the versions a run's numbers depend on.

One process per host (TPU VM worker, SLURM task or GPU node), each driving its local devices;
`initialize` must run before anything touches a JAX backend. Preemption is announced by SIGTERM
(Cloud TPU VMs, spot VMs and most schedulers), and Ctrl-C (SIGINT) means the same: the training
loop asks `should_stop(step)` after every step. With one process a Python handler sets a flag.
With several, JAX's coordination service owns SIGTERM: it catches it on any host and
`reached_preemption_sync_point` turns true on every host at the same step, so all hosts save the
same step and exit 0 together; a SIGINT is handed to it as a SIGTERM to this process. A second
signal raises KeyboardInterrupt: the user (or scheduler) does not want to wait for the save.
"""

import os
import signal
import threading

import flax
import jax
import jaxlib
from jax.experimental import multihost_utils

from dclf.errors import UsageError

MODES = ("auto", "on", "off")


def _slurm_multi_task() -> bool:
  return "SLURM_JOB_ID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1


def _tpu_pod() -> bool:
  """A Cloud TPU VM that is one worker of several (the TPU runtime lists all workers)."""
  hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
  return len([h for h in hosts.split(",") if h]) > 1


def initialize(
  mode: str = "auto",
  coordinator_address: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
) -> bool:
  """Joins the multi-process runtime when asked or detected; returns whether it did.

  `on` with no address lets JAX detect the cluster (TPU VMs, SLURM, Open MPI, ...); `auto` does
  that only when a multi-host TPU slice or a multi-task SLURM job is detected; an explicit
  `coordinator_address` (HOST:PORT of process 0) with `num_processes` and `process_id` always
  initializes. CPU processes talk over gloo (the setting only affects the CPU backend).
  """
  if mode not in MODES:
    raise UsageError(f"unknown multihost mode {mode!r}; known: {', '.join(MODES)}")
  explicit = coordinator_address is not None
  if explicit and (num_processes is None or process_id is None):
    raise UsageError("--coordinator_address needs --num_processes and --process_id")
  if mode == "off" or not (explicit or mode == "on" or _slurm_multi_task() or _tpu_pod()):
    return False
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if explicit:
    jax.distributed.initialize(coordinator_address, num_processes=num_processes, process_id=process_id)
  else:
    jax.distributed.initialize()
  return True


class PreemptionGuard:
  """Context manager: SIGTERM and SIGINT handlers for its duration (main thread only).

  A process that starts with SIGINT ignored (a background job of a non-interactive shell, which
  the shell shields from the Ctrl-C of the foreground job) keeps ignoring it, as Python itself
  does; SIGTERM, the preemption notice, is always handled. `received` names the first signal
  this process got (None if none).

  A second signal raises KeyboardInterrupt where the main thread is. Python swallows an
  exception raised inside a garbage-collection callback or a `__del__` (JAX runs one at every
  collection, and a training step spends much of its Python time there), so the abort is also
  remembered: `should_stop`, `abort_if_interrupted` and the guard's exit raise it again."""

  def __init__(self):
    self.received = None
    self.interrupted = False  # a second signal came
    self._previous = {}
    self._multiprocess = jax.process_count() > 1

  def _handle(self, signum, frame):
    del frame
    if self.received is not None:
      self.interrupted = True
      raise KeyboardInterrupt
    self.received = signal.Signals(signum).name
    if self._multiprocess:  # JAX's notifier, which owns SIGTERM, tells every host
      os.kill(os.getpid(), signal.SIGTERM)

  def abort_if_interrupted(self) -> None:
    """Raises KeyboardInterrupt if a second signal came (whatever swallowed its first raise)."""
    if self.interrupted:
      raise KeyboardInterrupt

  def should_stop(self, step: int) -> bool:
    self.abort_if_interrupted()
    if self._multiprocess:
      return multihost_utils.reached_preemption_sync_point(step)
    return self.received is not None

  @property
  def reason(self) -> str:
    """The signal that stopped the run (with several processes, maybe on another host)."""
    return self.received or "SIGTERM"

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      # with several processes, JAX's notifier owns SIGTERM
      for signum in (signal.SIGINT,) if self._multiprocess else (signal.SIGINT, signal.SIGTERM):
        if signum == signal.SIGINT and signal.getsignal(signum) == signal.SIG_IGN:
          continue  # started in the background (`cmd &` in a script): Ctrl-C is not meant for it
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, kind, value, traceback):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    if kind is None:
      self.abort_if_interrupted()
    return False


def versions() -> dict:
  """The versions a run's numbers depend on (summary.json, benchmark records)."""
  return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__}
