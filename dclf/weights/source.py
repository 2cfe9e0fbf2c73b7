"""What a weight source (a Keras file, a dclf workdir) provides, in dclf's module paths."""

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Source:
  description: str  # what the source holds, for messages
  modules: dict[str, list[Any]]  # dclf module path -> arrays in Keras weight order
  names: dict[str, str]  # dclf module path -> the source's own name for it (the Keras layer name)
  unused: list[str]  # source layers known to have no place in dclf (VGG16's ImageNet top)
  extra: list[str]  # source layers nobody knows: an error
  bn_epsilon: Optional[float]  # the epsilon its BatchNorm statistics were computed with
