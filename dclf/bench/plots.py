"""Grouped bar charts for the framework-speed study (`python -m dclf.bench.records DIR --plot OUT.png`).

Matplotlib's object API on its Agg canvas (no pyplot: no GUI backend, no global state). Series are
coloured by family (the label's first word before a dash, space or slash: `jax`, `torch`, `keras`),
one colormap's shades per family, so a family's variants read as one group. A panel whose values
span more than LOG_SPREAD gets a logarithmic axis.
"""

import dataclasses
import io
import re

from matplotlib import colormaps, ticker
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from dclf.fileio import atomic_write_bytes

LOG_SPREAD = 20.0
MIN_WIDTH = 9.0  # inches: room for the title and a legend row under a single panel
# family -> (colormap, darkest shade, lightest shade); other families are grey.
FAMILY_SHADES = {"jax": ("Blues", 0.85, 0.45), "torch": ("Oranges", 0.85, 0.35), "keras": ("Greens", 0.9, 0.35)}


@dataclasses.dataclass(frozen=True)
class Panel:
  title: str
  groups: list[str]  # the x tick labels
  bars: dict[str, list[float | None]]  # series label -> its value in each group (None: not measured); any order


def family(label: str) -> str:
  return re.split(r"[-/ ]", label, maxsplit=1)[0]


def _rank(label: str) -> tuple:
  """Series order: by family (jax, torch, keras, then others), then by name."""
  families = list(FAMILY_SHADES)
  return (families.index(family(label)) if family(label) in families else len(families), label)


def _colors(labels: list[str]) -> dict:
  by_family = {}
  for label in labels:
    by_family.setdefault(family(label), []).append(label)
  colors = {}
  for name, members in by_family.items():
    cmap, dark, light = FAMILY_SHADES.get(name, ("Greys", 0.8, 0.4))
    for i, label in enumerate(members):
      colors[label] = colormaps[cmap](dark - (dark - light) * i / max(len(members) - 1, 1))
  return colors


def _si(value, _position=None) -> str:
  """An axis tick: 0.5, 12, 2.5k, 1.2M."""
  for scale, suffix in ((1e6, "M"), (1e3, "k")):
    if abs(value) >= scale:
      return f"{value / scale:g}{suffix}"
  return f"{value:g}"


def _draw_panel(ax, panel: Panel, colors: dict, ylabel: str) -> None:
  ax.set_title(panel.title, fontsize=10)
  width = 0.8 / max(len(panel.bars), 1)
  values = []
  for i, label in enumerate(sorted(panel.bars, key=_rank)):
    ys = panel.bars[label]
    measured = [(g, y) for g, y in enumerate(ys) if y is not None]
    xs = [g - 0.4 + width * (i + 0.5) for g, _ in measured]
    ax.bar(xs, [y for _, y in measured], width, color=colors[label], edgecolor="white", linewidth=0.5)
    values += [y for _, y in measured]
  if values and min(values) > 0 and max(values) / min(values) > LOG_SPREAD:
    ax.set_yscale("log")
    ax.set_ylim(min(values) / 2, max(values) * 2)
  ax.set_xticks(range(len(panel.groups)), panel.groups, fontsize=9)
  ax.yaxis.set_major_formatter(ticker.FuncFormatter(_si))
  ax.set_ylabel(ylabel + (" (log scale)" if ax.get_yscale() == "log" else ""), fontsize=9)
  ax.grid(axis="y", alpha=0.3)
  ax.tick_params(axis="y", labelsize=8)


def draw(grid: list[list[Panel]], path, *, title: str, ylabel: str, dpi: int = 110) -> None:
  """Draws `grid` (rows of panels) with one legend for every series, as a PNG at `path` (atomically)."""
  rows, cols = len(grid), max(len(row) for row in grid)
  labels = sorted({label for row in grid for panel in row for label in panel.bars}, key=_rank)
  colors = _colors(labels)
  width = max(4.2 * cols + 0.5, MIN_WIDTH)
  legend_cols = min(len(labels), int(width / 1.7))
  legend_rows = -(-len(labels) // legend_cols)
  height = 3.4 * rows + 0.6 + 0.25 * legend_rows
  fig = Figure(figsize=(width, height))
  axes = fig.subplots(rows, cols, squeeze=False)
  for r in range(rows):
    for c in range(cols):
      if c < len(grid[r]):
        _draw_panel(axes[r][c], grid[r][c], colors, ylabel)
      else:
        axes[r][c].set_axis_off()
  handles = [Patch(color=colors[label], label=label) for label in labels]
  fig.legend(handles=handles, loc="lower center", ncol=legend_cols, fontsize=9, frameon=False)
  fig.suptitle(title, fontsize=11)
  fig.tight_layout(rect=(0, (0.15 + 0.25 * legend_rows) / height, 1, 1 - 0.3 / height))
  png = io.BytesIO()
  fig.savefig(png, format="png", dpi=dpi)
  atomic_write_bytes(path, png.getvalue())
