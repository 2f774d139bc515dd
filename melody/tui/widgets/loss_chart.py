"""Training and validation loss against step, drawn with braille dots (2x4 per character)."""

from __future__ import annotations

import bisect
import math

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

AXIS = 7  # columns for the loss labels
# Braille dot bits by (x, y) inside a character: x 0..1, y 0..3 from the top.
DOTS = {(0, 0): 0x01, (0, 1): 0x02, (0, 2): 0x04, (0, 3): 0x40,
        (1, 0): 0x08, (1, 1): 0x10, (1, 2): 0x20, (1, 3): 0x80}


class LossChart(Widget):
    """Two loss curves (train, validation) over steps; the last line is a legend."""

    COMPONENT_CLASSES = {"loss-chart--train", "loss-chart--validation", "loss-chart--axis"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.train: list[tuple[int, float]] = []
        self.validation: list[tuple[int, float]] = []
        self.max_steps = 0
        self._cells: tuple[tuple[int, int, int], dict] | None = None  # the plot, drawn once per change

    def reset(self, max_steps: int = 0) -> None:
        self.train, self.validation, self.max_steps = [], [], max_steps
        self._cells = None
        self.refresh()

    def add(self, step: int, train: float | None = None, validation: float | None = None,
            max_steps: int | None = None) -> None:
        """Add a point to either curve (finite values only)."""
        if train is not None and math.isfinite(train):
            self.train.append((step, train))
        if validation is not None and math.isfinite(validation):
            self.validation.append((step, validation))
        if max_steps:
            self.max_steps = max_steps
        self._cells = None
        self.refresh()

    def _bounds(self) -> tuple[float, float, int]:
        values = [v for _, v in self.train + self.validation] or [0.0, 1.0]
        low, high = min(values), max(values)
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        last = max([s for s, _ in self.train + self.validation] + [self.max_steps, 1])
        return low, high, last

    def _plot(self, width: int, height: int) -> dict[tuple[int, int], tuple[int, int]]:
        """(column, row) -> (braille bits, series 0 train / 1 validation) for the chart area."""
        low, high, last = self._bounds()
        cells: dict[tuple[int, int], tuple[int, int]] = {}
        pixels_x, pixels_y = width * 2, height * 4
        for series, points in ((1, self.validation), (0, self.train)):  # train drawn over validation
            if not points:
                continue
            for px in range(pixels_x):
                step = px / max(1, pixels_x - 1) * last
                if step < points[0][0] - last / max(1, pixels_x) or step > points[-1][0] + last / max(1, pixels_x):
                    continue
                value = _interpolate(points, step)
                py = round((high - value) / (high - low) * (pixels_y - 1))
                key = (px // 2, py // 4)
                bits, _ = cells.get(key, (0, series))
                cells[key] = (bits | DOTS[(px % 2, py % 4)], series)
        return cells

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        base = self.rich_style
        axis = base + self.get_component_rich_style("loss-chart--axis")
        styles = (base + self.get_component_rich_style("loss-chart--train"),
                  base + self.get_component_rich_style("loss-chart--validation"))
        chart_height = max(1, height - 1)
        if y == height - 1:  # legend
            last_train = f"{self.train[-1][1]:.3f}" if self.train else "-"
            last_val = f"{self.validation[-1][1]:.3f}" if self.validation else "-"
            segments = [Segment(" " * AXIS, axis), Segment("⣿ train ", styles[0]), Segment(last_train + "  ", axis),
                        Segment("⣿ validation ", styles[1]), Segment(last_val, axis)]
            return Strip(segments).adjust_cell_length(width, base)
        low, high, _ = self._bounds()
        if not (self.train or self.validation):
            label = "waiting for the first step" if y == chart_height // 2 else ""
            return Strip([Segment(label.center(width), axis)]).adjust_cell_length(width, base)
        if y == 0:
            label = f"{high:.2f}"
        elif y == chart_height - 1:
            label = f"{low:.2f}"
        else:
            label = ""
        segments = [Segment(label.rjust(AXIS - 1)[: AXIS - 1] + "┤", axis)]
        view = (width, chart_height, len(self.train) + len(self.validation))
        if self._cells is None or self._cells[0] != view:
            self._cells = (view, self._plot(max(1, width - AXIS), chart_height))
        cells = self._cells[1]
        for column in range(max(0, width - AXIS)):
            bits, series = cells.get((column, y), (0, 0))
            segments.append(Segment(chr(0x2800 + bits) if bits else " ", styles[series] if bits else base))
        return Strip(Segment.simplify(segments)).adjust_cell_length(width, base)

    def on_resize(self) -> None:
        self.refresh()


def _interpolate(points: list[tuple[int, float]], step: float) -> float:
    """Linear interpolation of (step, value) points at `step`, clamped at the ends."""
    if step <= points[0][0]:
        return points[0][1]
    if step >= points[-1][0]:
        return points[-1][1]
    after = bisect.bisect_left(points, (step, -math.inf))
    (s0, v0), (s1, v1) = points[after - 1], points[after]
    return v0 if s1 == s0 else v0 + (v1 - v0) * (step - s0) / (s1 - s0)

