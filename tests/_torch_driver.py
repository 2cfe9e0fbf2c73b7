"""Runs the PyTorch side of the torch tests in a process of its own, with the interpreter of the
PyTorch (or torch_xla) environment: `python tests/_torch_driver.py CHECK JSON_ARGUMENTS` prints
the check's result as one JSON line; bad input or a failed row is one `error:` line, as in every
dclf command. The tests (tests/test_torch_rows.py) assert on the results, in a process that never
imports PyTorch: TensorFlow and PyTorch's Triton crash one process that imports both.

Run from the repository root with it on PYTHONPATH.
"""

import dataclasses
import json
import os
import pathlib
import sys
import time

from dclf import cli
from dclf.bench import runner
from dclf.errors import UsageError

from _runs import tiny_config

RUNNERS = {"torch": "dclf.bench.torch_runner", "torch_xla": "dclf.bench.torch_xla_runner"}
POSTER_MODELS = ("softmax", "vgg16_scratch", "vgg16_transfer", "sgdnet")
PEER_DEADLINE_S = 120


def _request(row: dict) -> runner.Request:
  """{model, batch_size, image_size, precision, mode, platform, devices, steps, warmup, options} ->
  a Request on the tests' tiny config."""
  config = tiny_config(row["model"], batch_size=row["batch_size"], image_size=row["image_size"])
  config.half_precision = row.get("precision", "fp32") == "bf16"
  return runner.Request(
    config=config,
    mode=row.get("mode", "train"),
    platform=row.get("platform", "cpu"),
    devices=row["devices"],
    num_steps=row.get("steps", 2),
    warmup=row.get("warmup", 1),
    options=row.get("options", {}),
  )


def graphs(_) -> dict:
  """Per model: (total, trainable) parameters at 224x224 (shapes only), and PyTorch's own FLOP
  count of a forward and of a training backward at 32x32."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch.utils.flop_counter import FlopCounterMode  # pylint: disable=g-import-not-at-top

  from dclf.bench import torch_models  # pylint: disable=g-import-not-at-top

  found = {}
  for name in POSTER_MODELS:
    with torch.device("meta"):
      params = torch_models.count_params(torch_models.create_model(name, 3, 224))
    model, x = torch_models.create_model(name, 3, 32), torch.zeros(1, 3, 32, 32)
    with FlopCounterMode(display=False) as forward, torch.no_grad():
      model.eval()(x)
    with FlopCounterMode(display=False) as train:
      torch.nn.functional.cross_entropy(model.train()(x), torch.zeros(1, dtype=torch.long)).backward()
    found[name] = {"params": params, "flops": [forward.get_total_flops(), train.get_total_flops()]}
  return found


def run(rows: list[dict]) -> list[dict]:
  """The Measurement of each row, through its runner's `run` (as the study calls it)."""
  import importlib  # pylint: disable=g-import-not-at-top

  return [dataclasses.asdict(importlib.import_module(RUNNERS[row["runner"]]).run(_request(row))) for row in rows]


def _ddp_losses(request: runner.Request, rank: int) -> dict:
  """A rank of `torch_ddp.launch`: its batch's shape, and the losses of every rank's last step."""
  import torch  # pylint: disable=g-import-not-at-top
  import torch.distributed as dist  # pylint: disable=g-import-not-at-top

  from dclf.bench import torch_ddp  # pylint: disable=g-import-not-at-top

  row = torch_ddp.Row(request, rank)
  images, _ = next(row.batches)
  for _ in range(request.num_steps):
    loss = row.step()
  losses = [torch.zeros_like(loss) for _ in range(request.devices)]
  if dist.is_initialized():
    dist.all_gather(losses, loss)
  else:
    losses = [loss]
  shapes = [torch.zeros(4, dtype=torch.long) for _ in range(request.devices)]
  if dist.is_initialized():
    dist.all_gather(shapes, torch.tensor(images.shape))
  else:
    shapes = [torch.tensor(images.shape)]
  return {"losses": [float(x) for x in losses], "batch_shapes": [s.tolist() for s in shapes]}


def losses(row: dict) -> dict:
  """After `steps` training steps: each rank's (or the whole mesh's) loss of the last step, and the
  shape of each rank's (or each device's) part of the batch."""
  request = _request(row)
  if row["runner"] == "torch":
    from dclf.bench import torch_ddp  # pylint: disable=g-import-not-at-top

    torch_ddp.check(request)
    return torch_ddp.launch(_ddp_losses, request)
  from dclf.bench import torch_xla_runner  # pylint: disable=g-import-not-at-top

  torch_xla_runner.set_environment(request)
  from dclf.bench import torch_xla_spmd  # pylint: disable=g-import-not-at-top

  row = torch_xla_spmd.Row(request)
  images, _ = next(row.batches)
  for _ in range(request.num_steps):
    loss = row.step()
  shapes = [list(shard.data.shape) for shard in torch_xla_spmd.xs.wrap_if_sharded(images).local_shards]
  return {"losses": [float(loss.cpu())], "batch_shapes": shapes}


def _rank_one_fails(request: runner.Request, rank: int) -> None:
  """A rank of `torch_ddp.launch` that writes its process id into the folder DCLF_TEST_PIDS; rank 1
  then fails, once rank 0 has written its own (and goes on to wait for rank 1 in a barrier it
  never reaches)."""
  import torch.distributed as dist  # pylint: disable=g-import-not-at-top

  folder = pathlib.Path(os.environ["DCLF_TEST_PIDS"])
  (folder / f"{rank}.tmp").write_text(str(os.getpid()))
  (folder / f"{rank}.tmp").rename(folder / str(rank))  # whole when it appears
  if rank == 1:
    deadline = time.monotonic() + PEER_DEADLINE_S
    while not (folder / "0").exists():
      if time.monotonic() > deadline:
        raise TimeoutError(f"rank 0 wrote no process id in {PEER_DEADLINE_S} s")
      time.sleep(0.05)
    raise ValueError("rank 1 stops here\nand says no more")
  dist.barrier()


def group_failure(row: dict) -> None:
  """Starts a group of which one rank fails: `launch` must end with that rank's one line."""
  from dclf.bench import torch_ddp  # pylint: disable=g-import-not-at-top

  torch_ddp.launch(_rank_one_fails, _request(row))


CHECKS = {"graphs": graphs, "run": run, "losses": losses, "group_failure": group_failure}


@cli.command
def main(argv=None) -> int:
  check, arguments = (argv or sys.argv[1:]) + [None] * (2 - len(argv or sys.argv[1:]))
  if check not in CHECKS:
    raise UsageError(f"usage: _torch_driver.py {{{','.join(CHECKS)}}} JSON")
  print(json.dumps(CHECKS[check](json.loads(arguments or "null"))), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
