"""`python -m dclf.evaluate --workdir W (--split NAME | --images PATH [--view ...] [--groups G] [--out DIR]) [--batch_size B]`

Evaluates W's latest checkpoint, data-parallel on all local devices, on every example of a split
exactly once, or on a user's labelled photos, and writes W/eval/<name>/: report.json (accuracy,
confusion matrix, per-class precision / recall / F1, accuracy by severity or by group ...),
report.md and PNG plots. NAME is a split of W's dataset (`validation`, `test`, `train[:10%]`) or
another dataset: `live_iqa/blur_noise` (its test split) or `DATASET:SPLIT`; --data_dir (default:
W's) is where the dataset is built. PATH is a folder with a subfolder per class (reference/ blur/
noise/), or a labels file (.csv with the columns path,label[,group columns...], or .json: a list
of such objects), each photo read as `dclf.predict` reads it (windows at its own scale, or
--view crop); unreadable photos are one error line each, the others are scored, and the exit
code is 1.
--batch_size (default: W's for a split, 32 per device for photos) is the global batch. See
docs/evaluation.md.
"""

import sys
from pathlib import Path

from dclf import cli, photos
from dclf.errors import UsageError


def _parser() -> cli.ArgumentParser:
  parser = cli.ArgumentParser(prog="python -m dclf.evaluate", description=__doc__.split("\n\n")[1])
  parser.add_argument("--workdir", required=True, metavar="W", help="workdir of dclf.main or dclf.weights import")
  target = parser.add_mutually_exclusive_group(required=True)
  target.add_argument("--split", metavar="NAME", help="validation, test, DATASET/CONFIG or DATASET:SPLIT")
  target.add_argument(
    "--images",
    metavar="PATH",
    help="labelled photos: a folder with a subfolder per class, or a labels file (.csv or .json)",
  )
  parser.add_argument("--data_dir", default=None, metavar="D", help="where the dataset is built (default: the run's)")
  parser.add_argument(
    "--batch_size", type=int, default=None, metavar="B", help="global batch size (default: the run's)"
  )
  parser.add_argument(
    "--out",
    default=None,
    metavar="DIR",
    help="with --images: the report's folder (default: W/eval/images_<name>_<view>)",
  )
  parser.add_argument(
    "--groups",
    default=None,
    metavar="G",
    help="with a labels file: the groups to score, columns or columns joined by + (e.g. "
    "generator+severity,scale; default: each group column alone)",
  )
  photos.add_view_arguments(parser)
  return parser


def run(workdir, split: str, data_dir=None, batch_size=None):
  """Evaluates on a split and writes the report, holding W's lock (refused while a run trains in W:
  its checkpoints rotate and its own reports go to W/eval/ too); returns the report and its folder."""
  # JAX, orbax and tfds take seconds to import: not at the top, so --help and usage errors answer at once.
  from dclf import workdir as workdirs  # pylint: disable=g-import-not-at-top
  from dclf.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from dclf.inference import Predictor  # pylint: disable=g-import-not-at-top

  with workdirs.locked(workdir, "dclf.evaluate"):
    predictor = Predictor(workdir)
    report = evaluator.evaluate_split(
      predictor.batch_predictor,
      predictor.config,
      split,
      workdir,
      predictor.step,
      data_dir=data_dir,
      batch_size=batch_size,
    )
  return report, evaluator.output_dir(workdir, split, predictor.config.dataset)


def print_error(message: str) -> None:
  print(f"error: {message}", file=sys.stderr, flush=True)


def run_images(workdir, images, view=photos.DEFAULT_VIEW, out=None, batch_size=None, groups=None, on_error=print_error):
  """Evaluates on labelled photos (a folder or a labels file) seen through `view`, scored by
  `groups` too, and writes the report to `out` (default W/eval/images_<name>_<view>); returns it
  and its folder."""
  import jax  # pylint: disable=g-import-not-at-top

  from dclf import workdir as workdirs  # pylint: disable=g-import-not-at-top
  from dclf.evaluation import labelled_images  # pylint: disable=g-import-not-at-top
  from dclf.inference import Predictor  # pylint: disable=g-import-not-at-top

  devices = jax.local_device_count()
  if batch_size is not None and (batch_size <= 0 or batch_size % devices):
    raise UsageError(f"batch size {batch_size} must be a positive multiple of the {devices} devices")
  with workdirs.locked(workdir, "dclf.evaluate"):  # as run(): W's checkpoints must not rotate while read
    predictor = Predictor(workdir, *([batch_size // devices] if batch_size else []))
    directory = labelled_images.output_dir(workdir, images, view) if out is None else Path(out)
    return labelled_images.evaluate(predictor, images, view, directory, on_error, groups), directory


def _run(args) -> int:
  from dclf.progress import setup_logging  # pylint: disable=g-import-not-at-top  (imports JAX)

  if args.split is not None:
    given = [flag for flag, value in (("--out", args.out), ("--groups", args.groups)) if value is not None]
    given += photos.view_flags(args)
    if given:
      raise UsageError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --images")
    setup_logging()
    report, directory = run(args.workdir, args.split, args.data_dir, args.batch_size)
    print(
      f"{report['dataset']} {report['split']}: accuracy {report['accuracy']:.4f} on {report['num_examples']} "
      f"examples; {directory}"
    )
    return 0
  if args.data_dir is not None:
    raise UsageError("--data_dir needs --split")
  view = photos.view_of(args)
  setup_logging()
  report, directory = run_images(args.workdir, args.images, view, args.out, args.batch_size, args.groups)
  print(f"{args.images}: accuracy {report['accuracy']:.4f} on {report['num_examples']} images; {directory}")
  return 1 if report["unreadable"] else 0


@cli.command
def main(argv=None) -> int:
  """The exit code: 0, 1 (some photo unreadable) or 2 (bad usage)."""
  return _run(_parser().parse_args(argv))


if __name__ == "__main__":
  sys.exit(main())
