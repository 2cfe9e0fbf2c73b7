"""Pieces of `python -m dclf.benchmark` shared by the JAX runs and the PyTorch reference: the
timing loop, the peak-FLOPs table, the data feeds and the records."""
