"""`python -m dclf.evaluate --workdir W --split NAME [--data_dir D] [--batch_size B]`

Evaluates W's latest checkpoint on every example of a split exactly once, data-parallel on all
local devices, and writes W/eval/<name>/: report.json (accuracy, confusion matrix, per-class
precision / recall / F1, accuracy by severity ...), report.md and PNG plots. NAME is a split of
W's dataset (`validation`, `test`, `train[:10%]`) or another dataset: `live_iqa/blur_noise` (its
test split) or `DATASET:SPLIT`. --data_dir (default: W's) is where the dataset is built;
--batch_size (default: W's) is the global batch. See docs/evaluation.md.
"""

import sys

from dclf import cli


def _parser() -> cli.ArgumentParser:
  parser = cli.ArgumentParser(prog="python -m dclf.evaluate", description=__doc__.split("\n\n")[1])
  parser.add_argument("--workdir", required=True, metavar="W", help="workdir of dclf.main or dclf.weights import")
  parser.add_argument(
    "--split", required=True, metavar="NAME", help="validation, test, DATASET/CONFIG or DATASET:SPLIT"
  )
  parser.add_argument("--data_dir", default=None, metavar="D", help="where the dataset is built (default: the run's)")
  parser.add_argument(
    "--batch_size", type=int, default=None, metavar="B", help="global batch size (default: the run's)"
  )
  return parser


def run(workdir, split: str, data_dir=None, batch_size=None):
  """Evaluates and writes the report, holding W's lock (refused while a run trains in W: its
  checkpoints rotate and its own reports go to W/eval/ too); returns the report and its folder."""
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


@cli.command
def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  from dclf.progress import setup_logging  # pylint: disable=g-import-not-at-top  (imports JAX)

  setup_logging()
  report, directory = run(args.workdir, args.split, args.data_dir, args.batch_size)
  print(
    f"{report['dataset']} {report['split']}: accuracy {report['accuracy']:.4f} on {report['num_examples']} "
    f"examples; {directory}"
  )
  return 0


if __name__ == "__main__":
  sys.exit(main())
