"""Evaluation: a model on every example of a split (`evaluator`), the report files it writes
(`report_files`), accuracy by distortion severity (`severity`), and the poster's results table
over several runs (`results_table`). The commands are `python -m dclf.evaluate` and
`python -m dclf.report`."""
