"""One error type for every way a weight file can fail to load, with all problems in one message."""

from dataclasses import dataclass, field

from dclf.errors import UsageError


class WeightsError(UsageError):
  """A weight file that cannot be read or does not fit the model; the message says everything.

  A UsageError, so every dclf command (the trainer's `init_from` included) reports it as one line."""


def _shape(shape) -> str:
  return "(" + ",".join(str(d) for d in shape) + ")"


@dataclass
class Problems:
  """Collects what is wrong with a conversion so that the user sees it all at once, not one by one."""

  missing: list[str] = field(default_factory=list)
  extra: list[str] = field(default_factory=list)
  misshaped: list[str] = field(default_factory=list)

  def add_misshaped(self, name: str, file_shapes, model_shapes) -> None:
    file_text = " ".join(_shape(s) for s in file_shapes) or "no arrays"
    model_text = " ".join(_shape(s) for s in model_shapes)
    self.misshaped.append(f"{name} {file_text} vs {model_text}")

  def raise_if_any(self, context: str) -> None:
    parts = [f"{label}: {', '.join(names)}" for label, names in
             (("missing", self.missing), ("extra", self.extra), ("mis-shaped", self.misshaped)) if names]
    if parts:
      raise WeightsError(f"{context}: {'; '.join(parts)}")
