"""`python -m dclf.data build NAME --data_dir D [--manual_dir M] ...` and `python -m dclf.data list`.

Errors print one `error: ...` line (plus download instructions where they help) and exit 2.
"""

from __future__ import annotations

import argparse
import sys
import time

from absl import logging

from dclf import cli
from dclf.data import building, catalog


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
  return parser


@cli.command
def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    if args.command == "list":
      print("\n".join(catalog.all_names()))
      return 0
    return _build(args)
  except KeyboardInterrupt:
    print("error: interrupted; the partial build will be removed by the next build", file=sys.stderr)
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


if __name__ == "__main__":
  sys.exit(main())
