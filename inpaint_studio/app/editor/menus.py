"""Ranked sections of menus and tool bars: where features put their actions.

A section is a run of actions in a menu or tool bar, kept in the order of their rank (then their
text), wherever it stands and whatever order the features arrived in. Its leading separator, if
any, shows only while the section has an action."""
from __future__ import annotations

from PySide6.QtGui import QAction


class RankedSection:
    def __init__(self, widget, end: QAction | None = None, lead: QAction | None = None):
        self.widget = widget          # a QMenu or a QToolBar
        self.end = end                # the action the section stands before (None: the end)
        self.lead = lead
        self.entries: list[tuple[tuple, QAction]] = []
        if lead is not None:
            lead.setVisible(False)

    def add(self, action: QAction, rank: float = 100) -> None:
        key = (rank, action.text().replace("&", ""))
        later = [a for k, a in self.entries if k > key]
        self.widget.insertAction(later[0] if later else self.end, action)
        self.entries.append((key, action))
        self.entries.sort(key=lambda entry: entry[0])
        if self.lead is not None:
            self.lead.setVisible(True)

    def actions(self) -> list[QAction]:
        return [a for _, a in self.entries]
