"""The Qt binding must not leak references to None: PySide6 6.12.0 on Python 3.11 drops one per
void call, and a long editing session then aborts with "none_dealloc"."""
import sys

from PySide6.QtCore import QPointF
from PySide6.QtGui import QPainterPath


def test_void_qt_calls_keep_the_reference_count_of_none():
    path = QPainterPath()
    before = sys.getrefcount(None)
    for _ in range(500):
        path.lineTo(QPointF(1, 2))
    assert abs(sys.getrefcount(None) - before) < 50
