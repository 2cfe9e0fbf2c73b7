"""A dclf workdir as a weight source (`init_from` may name one): its latest checkpoint, via orbax."""

from dclf.weights.errors import WeightsError
from dclf.weights.source import Source
from dclf.weights.tree import module_arrays


def read_workdir(path) -> Source:
  from dclf import checkpoint  # pylint: disable=g-import-not-at-top  (the trainer imports this package)
  try:
    config, variables = checkpoint.load_variables(path)
  except (FileNotFoundError, ValueError) as e:
    raise WeightsError(f"{path}: not a dclf workdir with a checkpoint ({e})") from None
  has_batch_norm = bool(variables.get("batch_stats"))
  bn_epsilon = config.get("bn_epsilon") if has_batch_norm else None
  modules = module_arrays(variables)
  return Source(f"dclf workdir of {config.get('model', 'an unknown model')}", modules,
                {path: path for path in modules}, [], [], bn_epsilon)
