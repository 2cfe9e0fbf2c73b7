"""`python -m dclf.data build NAME --data_dir D [--manual_dir M] ...`, `python -m dclf.data list`, and
the raw copy of a built dataset (`dclf.data.raw`): `convert-raw NAME [--data_dir D] [--workers K]`,
`verify-raw NAME [--data_dir D] [--split S ...] [--every K]`.

Errors print one `error: ...` line (plus download instructions where they help) and exit 2 (bad
input or data), 1 (no room on the disk) or 130 (interrupted).
"""

from __future__ import annotations

import argparse
import sys
import time

from absl import logging

from dclf import cli
from dclf.data import building, catalog, raw, raw_writer
from dclf.errors import Interrupted, UsageError


def _parser() -> argparse.ArgumentParser:
  parser = cli.ArgumentParser(prog="python -m dclf.data", description="Build dclf's datasets.")
  commands = parser.add_subparsers(dest="command", required=True)
  build = commands.add_parser("build", help="build one dataset (dataset/config)")
  build.add_argument("name", help=f"one of: {', '.join(catalog.all_names())}")
  build.add_argument("--data_dir", help="output root (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
  build.add_argument(
    "--manual_dir",
    help="source photos or LIVE release (default: <data_dir>/downloads/manual)",
  )
  build.add_argument("--num_sources", type=int, help="source photos to use (distortions only)")
  build.add_argument("--workers", type=int, help="worker processes (default: all cores)")
  build.add_argument(
    "--beam_pipeline_options",
    help="build with Apache Beam, e.g. 'runner=DirectRunner,direct_num_workers=4'",
  )
  commands.add_parser("list", help="list the dataset names")
  convert = commands.add_parser("convert-raw", help="write the raw (undecoded) copy of a built dataset")
  convert.add_argument("name")
  convert.add_argument(
    "--data_dir", help="where the dataset is built (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)"
  )
  convert.add_argument("--workers", type=int, help="PNG-decoding processes (default: all cores)")
  verify = commands.add_parser("verify-raw", help="compare the raw copy with the PNG build, bit for bit")
  verify.add_argument("name")
  verify.add_argument("--data_dir")
  verify.add_argument("--split", action="append", help="a split to check (repeatable; default: all)")
  verify.add_argument("--every", type=int, default=1, help="check every K-th example (default: 1, all)")
  return parser


@cli.command
def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    if args.command == "list":
      print("\n".join(catalog.all_names()))
      return 0
    if args.command == "convert-raw":
      return _convert_raw(args)
    if args.command == "verify-raw":
      return _verify_raw(args)
    return _build(args)
  except Interrupted:
    raise  # its own line says what was removed (dclf.cli)
  except KeyboardInterrupt:
    print(f"error: interrupted; the partial output will be removed by the next {args.command}", file=sys.stderr)
    return 130


def _build(args: argparse.Namespace) -> int:
  logging.set_verbosity(logging.INFO)
  start = time.perf_counter()
  info = building.build(
    args.name,
    data_dir=args.data_dir,
    manual_dir=args.manual_dir,
    num_sources=args.num_sources,
    workers=args.workers,
    beam_pipeline_options=args.beam_pipeline_options,
  )
  seconds = time.perf_counter() - start
  sizes = ", ".join(f"{name} {split.num_examples}" for name, split in info.splits.items())
  print(f"{info.full_name} in {info.data_dir}: {sizes} examples ({seconds:.1f} s)")
  metadata = info.metadata or {}
  for key in ("sources_used", "sources_skipped", "sources_converted"):
    if key in metadata:
      print(f"  {key.replace('_', ' ')}: {metadata[key] or 'none'}")
  return 0


def _convert_raw(args: argparse.Namespace) -> int:
  if args.workers is not None and args.workers < 0:
    raise UsageError(f"--workers must be >= 0, got {args.workers}")
  builder = building.require_built(args.name, args.data_dir)
  start = time.perf_counter()
  folder = raw_writer.convert(builder, args.workers)
  count = sum(split.num_examples for split in builder.info.splits.values())
  size = raw_writer.disk_bytes(folder)
  print(
    f"{raw.dataset_name(builder)}: raw copy in {folder}: {count} examples, {size / 1e9:.2f} GB "
    f"({size / max(count, 1):,.0f} bytes per example), {time.perf_counter() - start:.1f} s"
  )
  return 0


def _verify_raw(args: argparse.Namespace) -> int:
  if args.every < 1:
    raise UsageError(f"--every must be >= 1, got {args.every}")
  raw_writer.verify(building.require_built(args.name, args.data_dir), args.split, args.every)
  return 0


if __name__ == "__main__":
  sys.exit(main())
