"""`python -m dclf.report W1 W2 ... [--out FILE.md]`: the poster's results table for these runs.

One row per workdir: validation, test and LIVE accuracy, each beside the number of the CS230
poster for the same model. Validation and test come from W/eval/<split>/report.json
(`dclf.evaluate`, and the trainer's validation and test reports), else from W/summary.json; LIVE from the report
on live_iqa/blur_noise (`python -m dclf.evaluate --workdir W --split live_iqa/blur_noise`).
Missing numbers show as `-`.
"""

import sys

from dclf import cli
from dclf.fileio import atomic_write_text


@cli.command
def main(argv=None) -> int:
  parser = cli.ArgumentParser(prog="python -m dclf.report", description=__doc__.split("\n\n")[1])
  parser.add_argument("workdirs", nargs="+", metavar="W", help="workdirs of dclf.main")
  parser.add_argument("--out", default=None, help="write the Markdown table to this file (default: stdout)")
  args = parser.parse_args(argv)
  # Reading workdirs imports orbax and JAX (seconds): not at the top, so --help answers at once.
  from dclf.evaluation import results_table  # pylint: disable=g-import-not-at-top

  table = results_table.markdown([results_table.run_results(workdir) for workdir in args.workdirs])
  if args.out:
    atomic_write_text(args.out, table)
  else:
    print(table, end="")
  return 0


if __name__ == "__main__":
  sys.exit(main())
