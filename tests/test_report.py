"""`python -m dclf.report`: the poster's results table from real (tiny) runs."""

import json

from dclf import report

from _runs import run_main
from eval_fixtures import SAMPLE


def test_results_table_of_two_runs(tmp_path, capsys, sample_run, live_report, synthetic_softmax_run):
  out = tmp_path / "results.md"
  assert report.main([str(sample_run), str(synthetic_softmax_run), "--out", str(out)]) == 0
  lines = out.read_text().splitlines()
  assert lines[0] == "| run | model | dataset | step | validation | poster | test | poster | LIVE | poster |"
  sample = json.loads((sample_run / "summary.json").read_text())
  live = json.loads((live_report / "report.json").read_text())["accuracy"]
  assert lines[2] == (
    f"| {sample_run} | small_cnn | {SAMPLE} | 4 | {sample['eval_accuracy']:.3f} | - | "
    f"{sample['test_accuracy']:.3f} | - | {live:.3f} | - |"
  )
  softmax = json.loads((synthetic_softmax_run / "summary.json").read_text())
  assert lines[3] == (
    f"| {synthetic_softmax_run} | softmax | synthetic | 4 | {softmax['eval_accuracy']:.3f} | 0.450 | "
    f"{softmax['test_accuracy']:.3f} | 0.455 | - | - |"
  )
  assert "the number of the CS230 poster" in lines[-1] and "SEED_FACTS" not in "\n".join(lines)
  assert report.main([str(synthetic_softmax_run)]) == 0
  assert capsys.readouterr().out.splitlines()[2] == lines[3]


def test_a_folder_that_is_not_a_workdir_is_a_one_line_error(tmp_path, synthetic_softmax_run):
  code, _, err = run_main(report.main, synthetic_softmax_run, tmp_path)
  assert code == 2
  assert err == f"error: {tmp_path / 'config.json'} not found: {tmp_path} is not a dclf workdir\n"
