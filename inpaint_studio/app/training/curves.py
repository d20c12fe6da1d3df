"""A small line plot drawn with QPainter (no chart library): several series over the iteration,
added point by point as events arrive. Click a legend entry to hide or show its series; hover to
read the values at an iteration."""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..ui.theme import BASE, BORDER, MUTED, TEXT

PALETTE = ["#4c8dff", "#f5a524", "#3ecf8e", "#c678dd", "#ef5f6b", "#56c2e6"]


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """About `count` round values inside [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + 1.0
    span = hi - lo
    power = 10 ** math.floor(math.log10(span / max(count, 1)))
    step = min((m * power for m in (1, 2, 2.5, 5, 10)), key=lambda s: abs(span / s - count))
    value = math.ceil(lo / step - 1e-9) * step
    ticks = []
    while value <= hi + step * 1e-6:
        ticks.append(round(value, 12) + 0.0)
        value += step
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 10000:
        return f"{value / 1000:.0f}k"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


class CurvePlot(QWidget):
    def __init__(self, title: str, unit: str = "", parent=None):
        super().__init__(parent)
        self.title = title
        self.unit = unit
        self.series: dict[str, dict] = {}   # key -> {label, color, points: [(x, y)], visible}
        self._hover_x: float | None = None
        self._legend: list[tuple[QRectF, str]] = []
        self._plot_rect = QRectF()
        self.setMouseTracking(True)
        self.setMinimumSize(220, 130)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setAccessibleName(title)
        self.setFocusPolicy(Qt.NoFocus)

    def sizeHint(self) -> QSize:
        return QSize(420, 200)

    # -- data -----------------------------------------------------------------------------------
    def add_series(self, key: str, label: str, color: str | None = None) -> None:
        color = color or PALETTE[len(self.series) % len(PALETTE)]
        self.series[key] = {"label": label, "color": QColor(color), "points": [], "visible": True}

    def append(self, key: str, x: float, y) -> None:
        self.add_values(x, {key: y})

    def add_values(self, x: float, values: dict, redraw: bool = True) -> None:
        """One point per series at iteration `x` (None and non-finite values are left out)."""
        for key, y in values.items():
            if key in self.series and isinstance(y, (int, float)) and math.isfinite(y):
                self.series[key]["points"].append((float(x), float(y)))
        if redraw:
            self.redraw()

    def redraw(self) -> None:
        self._describe()
        self.update()

    def points(self, key: str) -> list[tuple[float, float]]:
        return list(self.series[key]["points"])

    def clear(self) -> None:
        for s in self.series.values():
            s["points"].clear()
        self._describe()
        self.update()

    def set_visible_series(self, key: str, visible: bool) -> None:
        self.series[key]["visible"] = visible
        self.update()

    def _describe(self) -> None:
        latest = [f"{s['label']} {s['points'][-1][1]:.4g}" for s in self.series.values() if s["points"]]
        self.setAccessibleDescription(", ".join(latest) or "no values yet")

    # -- geometry -------------------------------------------------------------------------------
    def _ranges(self):
        pts = [p for s in self.series.values() if s["visible"] for p in s["points"]]
        if not pts:
            return None
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        x0, x1 = min(xs), max(xs)
        if x1 <= x0:
            x0, x1 = x0 - 1, x1 + 1
        y0, y1 = min(ys), max(ys)
        pad = (y1 - y0) * 0.08 or max(abs(y1) * 0.1, 0.1)
        return x0, x1, y0 - pad, y1 + pad

    # -- painting -------------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(QColor(BORDER), 1))
        p.setBrush(QColor(BASE))
        p.drawRoundedRect(rect, 6, 6)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.85))
        p.setFont(small)
        metrics = p.fontMetrics()
        title = self.title + (f" ({self.unit})" if self.unit else "")
        p.setPen(QColor(MUTED))
        p.drawText(QPointF(10, 8 + metrics.ascent()), title)
        self._draw_legend(p, metrics, rect)

        ranges = self._ranges()
        left, top = 10 + metrics.horizontalAdvance("0.000") + 6, 16 + metrics.height() + 4
        plot = QRectF(left, top, rect.width() - left - 12, rect.height() - top - metrics.height() - 10)
        self._plot_rect = plot
        if ranges is None or plot.width() < 20 or plot.height() < 20:
            p.setPen(QColor(MUTED))
            p.drawText(plot, Qt.AlignCenter, "Waiting for the first values…")
            return
        x0, x1, y0, y1 = ranges
        sx = lambda x: plot.left() + (x - x0) / (x1 - x0) * plot.width()   # noqa: E731
        sy = lambda y: plot.bottom() - (y - y0) / (y1 - y0) * plot.height()  # noqa: E731

        grid = QColor(BORDER)
        for y in nice_ticks(y0, y1, max(2, int(plot.height() // 36))):
            if y0 <= y <= y1:
                p.setPen(QPen(grid, 1, Qt.DotLine))
                p.drawLine(QPointF(plot.left(), sy(y)), QPointF(plot.right(), sy(y)))
                p.setPen(QColor(MUTED))
                p.drawText(QRectF(2, sy(y) - 8, left - 6, 16), Qt.AlignRight | Qt.AlignVCenter, _label(y))
        for x in nice_ticks(x0, x1, max(2, int(plot.width() // 80))):
            if x0 <= x <= x1:
                p.setPen(QColor(MUTED))
                p.drawText(QRectF(sx(x) - 30, plot.bottom() + 3, 60, metrics.height()), Qt.AlignCenter, _label(x))
        p.setPen(QPen(grid, 1))
        p.drawLine(plot.bottomLeft(), plot.bottomRight())

        p.save()
        p.setClipRect(plot.adjusted(-3, -3, 3, 3))
        for s in self.series.values():
            if not s["visible"] or not s["points"]:
                continue
            # one polyline per series, at most ~2 points per pixel column: few Qt calls per paint
            points = s["points"]
            stride = max(1, len(points) // max(1, int(plot.width() * 2)))
            shown = points[::stride]
            if shown[-1] is not points[-1]:
                shown.append(points[-1])
            line = QPolygonF([QPointF(sx(x), sy(y)) for x, y in shown])
            p.setPen(QPen(s["color"], 1.6))
            p.setBrush(Qt.NoBrush)
            p.drawPolyline(line)
            x, y = s["points"][-1]
            p.setBrush(s["color"])
            p.drawEllipse(QPointF(sx(x), sy(y)), 2.5, 2.5)
        p.restore()
        if self._hover_x is not None:
            self._draw_hover(p, metrics, plot, sx, sy, x0, x1)

    def _draw_legend(self, p: QPainter, metrics, rect: QRectF) -> None:
        self._legend = []
        x = rect.right() - 10
        y = 8
        for key in reversed(list(self.series)):
            s = self.series[key]
            width = metrics.horizontalAdvance(s["label"]) + 16
            x -= width
            box = QRectF(x, y, width, metrics.height())
            self._legend.append((box, key))
            colour = s["color"] if s["visible"] else QColor(MUTED)
            p.setPen(Qt.NoPen)
            p.setBrush(colour)
            p.drawRoundedRect(QRectF(x, y + metrics.height() / 2 - 3, 9, 6), 2, 2)
            p.setPen(QColor(TEXT) if s["visible"] else QColor(MUTED))
            p.drawText(QPointF(x + 13, y + metrics.ascent()), s["label"])
            x -= 8

    def _draw_hover(self, p, metrics, plot, sx, sy, x0, x1) -> None:
        near = []
        for s in self.series.values():
            if s["visible"] and s["points"]:
                x, y = min(s["points"], key=lambda pt: abs(pt[0] - self._hover_x))
                near.append((s, x, y))
        if not near:
            return
        at = min((n[1] for n in near), key=lambda v: abs(v - self._hover_x))
        p.setPen(QPen(QColor(MUTED), 1, Qt.DashLine))
        p.drawLine(QPointF(sx(at), plot.top()), QPointF(sx(at), plot.bottom()))
        lines = [f"iteration {at:.0f}"] + [f"{s['label']}: {y:.4g}" for s, x, y in near if x == at]
        width = max(metrics.horizontalAdvance(t) for t in lines) + 14
        height = metrics.height() * len(lines) + 8
        left = sx(at) + 8 if sx(at) + 8 + width < plot.right() else sx(at) - 8 - width
        box = QRectF(left, plot.top() + 4, width, height)
        p.setPen(QPen(QColor(BORDER), 1))
        p.setBrush(QColor(30, 33, 38, 235))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor(TEXT))
        for i, text in enumerate(lines):
            p.drawText(QPointF(box.left() + 7, box.top() + 4 + metrics.ascent() + i * metrics.height()), text)

    # -- mouse ----------------------------------------------------------------------------------
    def mouseMoveEvent(self, event) -> None:
        ranges, plot = self._ranges(), self._plot_rect
        pos = event.position()
        if ranges and plot.contains(pos):
            x0, x1 = ranges[0], ranges[1]
            self._hover_x = x0 + (pos.x() - plot.left()) / plot.width() * (x1 - x0)
        else:
            self._hover_x = None
        self.update()

    def leaveEvent(self, _event) -> None:
        self._hover_x = None
        self.update()

    def mousePressEvent(self, event) -> None:
        for box, key in self._legend:
            if box.contains(event.position()):
                self.set_visible_series(key, not self.series[key]["visible"])
                return
        super().mousePressEvent(event)
