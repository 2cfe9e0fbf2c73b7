"""The torch row's work (`dclf.bench.torch_runner`): PyTorch data-parallel with
DistributedDataParallel, one process per device (NCCL between GPUs; gloo between CPU processes,
where N processes are N "devices" sharing the host's cores), each taking its share of the global
batch; one device runs in the calling process, without a process group.

The processes are started with `spawn` and supervised by the caller: rank 0 times the steps
(`dclf.bench.timing`, the group's barrier in each sync so a window ends when every rank's step has)
and returns the Measurement; the first rank to fail ends the whole group with its one line (a
UsageError stays one), and a rank that waits longer than COLLECTIVE_TIMEOUT_S for the others in a
collective fails instead of hanging.

Each rank gets its share of every global batch from `dclf.bench.data.device_batches` (its shard
(rank, ranks): the synthetic batch's share placed once, or with --real-data the trainer's loader
reading only that share, put on the rank's device ahead of the step by the trainer's prefetch).
The registry keeps JAX on the host CPU in this row's process (`dclf.bench.runners`), which the ranks
inherit: nothing here may take a GPU's memory from PyTorch.
"""

import contextlib
import datetime
import multiprocessing
import os
import queue
import tempfile
import traceback
import warnings
from collections.abc import Callable

import torch
import torch._dynamo
import torch.distributed as dist
from torch._dynamo.utils import counters
from torch.nn.parallel import DistributedDataParallel

from dclf.bench import data, torch_models
from dclf.bench.runner import Measurement, Request, check_devices
from dclf.bench.timing import KeepLast, time_steps
from dclf.cli import TRACEBACK_ENV
from dclf.errors import RunError, UsageError

BACKENDS = {"gpu": "nccl", "cpu": "gloo"}
COLLECTIVE_TIMEOUT_S = 600  # the longest one rank waits for the others (rendezvous included)
OPTIONS = {"channels_last": False, "compile": False}  # compile: False, True (inductor) or a torch.compile backend


def found_devices(platform: str) -> tuple[str, str, int]:
  """(platform, device kind, device count) PyTorch runs on when `platform` is asked for: the CUDA
  GPUs, or on a CPU one process per core at most."""
  if platform == "gpu":
    if not torch.cuda.is_available():
      return "cpu", f"no CUDA device for torch {torch.__version__}", 0
    return "gpu", torch.cuda.get_device_name(0), torch.cuda.device_count()
  return "cpu", "cpu", os.cpu_count() or 1


def options_of(request: Request) -> dict:
  unknown = set(request.options) - set(OPTIONS)
  if unknown:
    raise UsageError(f"the torch row takes the options {', '.join(OPTIONS)}; not {', '.join(sorted(unknown))}")
  return {**OPTIONS, **request.options}


class Row:
  """One rank's share of a row: its device, model (wrapped in DDP across ranks, then compiled when
  asked), step on its share of the global batch, and the sync that waits for the group's step.
  Runs inside the process group of `launch` when there are several ranks."""

  def __init__(self, request: Request, rank: int):
    config, options, ranks = request.config, options_of(request), request.devices
    if request.platform == "gpu":
      self.device = torch.device("cuda", rank)
      torch.cuda.set_device(self.device)
      # Like-for-like with XLA's defaults on NVIDIA GPUs: TF32 matmuls and convolutions, and cuDNN
      # autotuning (done during the warm-up).
      torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
      torch.backends.cudnn.benchmark = True
      torch.cuda.reset_peak_memory_stats(self.device)
    else:
      self.device = torch.device("cpu")
      torch.set_num_threads(max(1, (os.cpu_count() or 1) // ranks))  # the host's cores shared by the ranks
    torch.manual_seed(config.seed)
    memory_format = torch.channels_last if options["channels_last"] else torch.contiguous_format
    self.model = torch_models.create_model(config.model, request.num_classes, config.image_size)
    self.model.to(self.device, memory_format=memory_format)
    net = self.model
    if ranks > 1:
      # No model here updates a buffer while training (sgdnet's BatchNorm is frozen): none to broadcast
      # before each forward. (torch 2.13 renames the flag, whose old name still does this.)
      device_ids = [self.device.index] if self.device.type == "cuda" else None
      with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`broadcast_buffers` is deprecated", FutureWarning)
        net = DistributedDataParallel(self.model, device_ids=device_ids, broadcast_buffers=False)
    self.compile_backend = "inductor" if options["compile"] is True else options["compile"] or None
    if self.compile_backend:
      torch._dynamo.reset()  # a cold compile, whatever this process compiled before
      self._graphs_at_start, self._breaks_at_start = _dynamo_graphs(), dict(counters["graph_break"])
      net = torch.compile(net, backend=self.compile_backend)
    autocast = lambda: torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=config.half_precision)
    preprocess = torch_models.preprocessor(config, self.device, memory_format)
    self._run_step = torch_models.MODES[request.mode](net, self.model, config, preprocess, autocast)
    put = lambda batch: tuple(t.to(self.device) for t in torch_models.host_batch(batch))
    self.batches = data.device_batches(
      config, put, real_data=request.real_data, num_classes=request.num_classes, shard=(rank, ranks)
    )
    self.settings = self._settings(request, options)

  def _settings(self, request: Request, options: dict) -> dict:
    settings = {
      "precision_policy": torch_models.precision_policy(request.config),
      "distribution": (
        f"DistributedDataParallel, {request.devices} processes over {BACKENDS[request.platform]}"
        if request.devices > 1
        else "one process"
      ),
      "float32_matmul_precision": torch.get_float32_matmul_precision(),
      "channels_last": options["channels_last"],
      "compile": self.compile_backend or "eager mode",
    }
    if self.device.type == "cuda":
      settings.update(
        tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        tf32_cudnn=torch.backends.cudnn.allow_tf32,
        cudnn_benchmark=torch.backends.cudnn.benchmark,
      )
    else:
      settings["threads_per_process"] = torch.get_num_threads()
    return settings

  def step(self):
    return self._run_step(*next(self.batches))

  def sync(self, _outputs) -> None:
    """Waits for this rank's queued work, then for every rank's (a barrier)."""
    if self.device.type == "cuda":
      torch.cuda.synchronize(self.device)
    if dist.is_initialized():
      dist.barrier(**({"device_ids": [self.device.index]} if self.device.type == "cuda" else {}))

  def compile_counts(self) -> dict:
    """Dynamo's graphs (a recompilation is one more) and graph breaks since the row was set up."""
    breaks = sum(counters["graph_break"].values()) - sum(self._breaks_at_start.values())
    return {"graphs": _dynamo_graphs() - self._graphs_at_start, "graph_breaks": breaks}

  def graph_break_reasons(self) -> list[str]:
    """Why dynamo broke this row's graphs: the explanation of each reason that occurred."""
    grown = [reason for reason, n in counters["graph_break"].items() if n > self._breaks_at_start.get(reason, 0)]
    return sorted({_explanation(reason) for reason in grown})

  def global_mean(self, value: torch.Tensor) -> float:
    """`value` (this rank's, e.g. the loss of its share) averaged over the ranks: the global batch's
    loss. A collective: every rank calls it."""
    if dist.is_initialized():
      value = value.detach().clone()
      dist.all_reduce(value)
      value /= dist.get_world_size()
    return float(value)

  def close(self) -> None:
    self.batches.close()


def versions() -> dict:
  found = {"torch": torch.__version__}
  if torch.cuda.is_available():
    found.update(cuda=torch.version.cuda, cudnn=str(torch.backends.cudnn.version()))
    found["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
  return found


def _dynamo_graphs() -> int:
  return counters["stats"]["unique_graphs"]


def _explanation(reason: str) -> str:
  """The line of a graph-break reason that says what broke (its `Explanation:` where it has one)."""
  lines = [line.strip() for line in reason.splitlines() if line.strip()]
  explained = [line.removeprefix("Explanation:").strip() for line in lines if line.startswith("Explanation:")]
  return (explained or lines or [""])[0]


def _inductor_cache_hits() -> int:
  """FX graphs inductor loaded from its cache (TORCHINDUCTOR_CACHE_DIR) so far in this process."""
  return counters["inductor"]["fxgraph_cache_hit"]


def time_row(request: Request, rank: int) -> Measurement:
  """This rank's part of `run`; rank 0's Measurement is the row's."""
  row = Row(request, rank)
  step = KeepLast(row.step)
  try:
    timings = time_steps(
      step,
      row.sync,
      steps=request.num_steps,
      warmup=request.warmup,
      compilations=_dynamo_graphs if row.compile_backend else None,  # eager PyTorch: nothing to count
      cache_loads=_inductor_cache_hits if row.compile_backend == "inductor" else None,
    )
  finally:
    row.close()
  loss = row.global_mean(step.last) if request.mode == "train" else None
  settings = row.settings
  if row.compile_backend:
    counts = row.compile_counts()
    settings.update(dynamo_graphs=counts["graphs"], graph_breaks=counts["graph_breaks"])
    settings["graph_break_reasons"] = row.graph_break_reasons()
  _, device_kind, _ = found_devices(request.platform)
  return Measurement(
    timings=timings,
    platform=request.platform,
    device_kind=device_kind,
    devices=request.devices,
    versions=versions(),
    compile_s=timings.first_call_over_step_s,  # compilation, autotuning and allocation
    compile_cache_hit=timings.first_call_cache_load,
    settings=settings,
    loss=loss,
    peak_memory_bytes=torch.cuda.max_memory_allocated(row.device) if row.device.type == "cuda" else None,
  )


def check(request: Request) -> None:
  """The device check, in the calling process before any rank starts."""
  options_of(request)
  platform, device_kind, available = found_devices(request.platform)
  check_devices(request, platform, device_kind, available)


def run(request: Request) -> Measurement:
  check(request)
  return launch(time_row, request)


@contextlib.contextmanager
def _process_group(request: Request, rank: int, store: str):
  dist.init_process_group(
    BACKENDS[request.platform],
    init_method=f"file://{store}",
    rank=rank,
    world_size=request.devices,
    timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S),
  )
  try:
    yield
  finally:
    dist.destroy_process_group()


def _failure(rank: int, ranks: int, e: BaseException) -> tuple:
  """A rank's report of `e`: a UsageError as it is, anything else as one line naming the rank."""
  if isinstance(e, UsageError):
    return rank, "usage", str(e)
  if os.environ.get(TRACEBACK_ENV):
    traceback.print_exc()
  line = (str(e).strip().splitlines() or [""])[0]
  return rank, "run", f"torch rank {rank} of {ranks} failed: {type(e).__name__}: {line}"


def _rank_main(job: Callable, request: Request, rank: int, store: str, reports) -> None:
  """A rank's process: `job(request, rank)` in the process group; reports (rank, error kind or
  None, rank 0's result or the error's line), a failure before the group is torn down (so it is
  the group's first report, before the failures it causes in the other ranks)."""
  try:
    with _process_group(request, rank, store):
      try:
        result = job(request, rank)
      except BaseException as e:  # noqa: BLE001  every failure ends the group with one line
        reports.put(_failure(rank, request.devices, e))
        return
      reports.put((rank, None, result if rank == 0 else None))
  except BaseException as e:  # noqa: BLE001  the group's own set-up or teardown
    reports.put(_failure(rank, request.devices, e))


def launch(job: Callable[[Request, int], object], request: Request):
  """`job(request, rank)` on each of `request.devices` ranks (a module-level function, so a spawned
  process can import it), in a process group; returns rank 0's result. One device: in this process."""
  if request.devices == 1:
    return job(request, 0)
  context = multiprocessing.get_context("spawn")
  reports = context.Queue()
  with tempfile.TemporaryDirectory(prefix="dclf-torch-group-") as folder:
    store = os.path.join(folder, "store")
    ranks = [
      context.Process(target=_rank_main, args=(job, request, rank, store, reports), daemon=True, name=f"torch-{rank}")
      for rank in range(request.devices)
    ]
    for process in ranks:
      process.start()
    finished = False
    try:
      result = _rank_zeros_result(ranks, reports)
      finished = True
      return result
    finally:
      _end(ranks, wait=finished)


def _rank_zeros_result(ranks: list, reports):
  """Waits for every rank's report; raises the first failure (a rank that died without one too)."""
  done, result = set(), None
  while len(done) < len(ranks):
    try:
      rank, error, payload = reports.get(timeout=1.0)
    except queue.Empty:
      died = [r for r, p in enumerate(ranks) if r not in done and p.exitcode not in (None, 0)]
      if died:
        raise RunError(f"torch rank {died[0]} of {len(ranks)} died (exit code {ranks[died[0]].exitcode})") from None
      continue
    if error:
      raise (UsageError if error == "usage" else RunError)(payload)
    done.add(rank)
    result = payload if rank == 0 else result
  return result


def _end(ranks: list, wait: bool, grace_s: float = 10.0) -> None:
  """Every rank's process ended: joined when the group finished (`wait`; each exits once it has
  reported), terminated otherwise, killed if it does not stop within `grace_s`."""
  for process in ranks:
    if wait:
      process.join(grace_s)
    if process.is_alive():
      process.terminate()
  for process in ranks:
    process.join(grace_s)
    if process.is_alive():
      process.kill()
      process.join()
