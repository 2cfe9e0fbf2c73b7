"""Multi-host runs on JAX's own multi-controller runtime (`jax.distributed`).

One process per host (TPU VM worker, SLURM task or GPU node), each driving its local devices.
`initialize` must run before anything touches a JAX backend.
"""

import os

import jax

MODES = ("auto", "on", "off")


def _slurm_multi_task() -> bool:
  return "SLURM_JOB_ID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1


def _tpu_pod() -> bool:
  """A Cloud TPU VM that is one worker of several (the TPU runtime lists all workers)."""
  hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
  return len([h for h in hosts.split(",") if h]) > 1


def initialize(mode: str = "auto", coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
  """Joins the multi-process runtime when asked or detected; returns whether it did.

  `on` with no address lets JAX detect the cluster (TPU VMs, SLURM, Open MPI, ...); `auto` does
  that only when a multi-host TPU slice or a multi-task SLURM job is detected; an explicit
  `coordinator_address` (HOST:PORT of process 0) with `num_processes` and `process_id` always
  initializes. CPU processes talk over gloo (the setting only affects the CPU backend).
  """
  if mode not in MODES:
    raise ValueError(f"unknown multihost mode {mode!r}; known: {', '.join(MODES)}")
  explicit = coordinator_address is not None
  if explicit and (num_processes is None or process_id is None):
    raise ValueError("--coordinator_address needs --num_processes and --process_id")
  if mode == "off" or not (explicit or mode == "on" or _slurm_multi_task() or _tpu_pod()):
    return False
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if explicit:
    jax.distributed.initialize(coordinator_address, num_processes=num_processes, process_id=process_id)
  else:
    jax.distributed.initialize()
  return True
