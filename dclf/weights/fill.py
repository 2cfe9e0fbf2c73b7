"""Puts a source's modules into a model's variables, with the coverage rule and shape checks.

Coverage rule: the model's `features` (the frozen part of the transfer models; `softmax`, which
has no features, needs its head instead) must come from the source completely. The head is
optional: it comes from the source when the source's head modules are all modules of the model's
head (then all of them must be there, with the right shapes), and is left as given when the
source has no head or a head of another kind (SGDNet's quality head for the sgdnet classifier,
whose own head is new).
"""

from typing import Mapping

from dclf.weights.errors import Problems
from dclf.weights.tree import module_arrays, replace_modules


def _shapes(arrays):
  return [tuple(a.shape) for a in arrays]


def _by_part(paths) -> dict[str, set[str]]:
  parts: dict[str, set[str]] = {}
  for path in paths:
    parts.setdefault(path.split("/")[0], set()).add(path)
  return parts


def fill(variables, source: Mapping[str, list], source_names: Mapping[str, str], problems: Problems):
  """Returns (new variables, loaded module paths, parts left as given, names of the source's
  modules the model does not take); missing and mis-shaped modules go to `problems`.
  `source_names` gives the source's own layer names (Keras names) for messages."""
  target = module_arrays(variables)
  target_parts, source_parts = _by_part(target), _by_part(source)
  required = "features" if "features" in target_parts else "head"
  loaded, kept = {}, []
  for part, paths in target_parts.items():
    offered = source_parts.get(part, set())
    if part != required and not (offered and offered <= paths):
      kept.append(part)
      continue
    problems.missing += [p for p in target if p in paths and p not in source]
    for path in [p for p in target if p in paths and p in source]:
      if _shapes(source[path]) != _shapes(target[path]):
        name = source_names[path]
        label = path if name in (path, path.split("/")[-1]) else f"{path} [{name}]"
        problems.add_misshaped(label, _shapes(source[path]), _shapes(target[path]))
      else:
        loaded[path] = source[path]
  unused = [source_names[path] for path in source if path not in loaded]
  return replace_modules(variables, loaded), list(loaded), kept, unused
