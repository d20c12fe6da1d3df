"""The "Source region" tool: paint where the fill may copy from.

A brush (right button erases) that paints into its own mask layer, "source", shown in green.
The feature's option provider passes a non-empty source mask to the engine, where every ATN
level then takes keys only from patches inside it (PEN-Net models; OpenCV ignores it).
Tools menu: "Clear Source Region" (one undo step), right after the tool.
"""
from __future__ import annotations

from PySide6.QtGui import QAction

from ..document.layers import MaskLayer
from ..document.mask_ops import clear
from ..editor.mask_tools import BrushTool
from ..ui.theme import icon
from ..editor.undo import MaskEdit

SOURCE = "source"                 # the document mask of the copy-from region
SOURCE_NAME = "Source region"
SOURCE_COLOR = (70, 200, 110)


class SourceRegionTool(BrushTool):
    id, label, icon, shortcut = "source", "Source region", "mdi6.content-copy", "G"
    tip = ("Paint where the fill may copy from (PEN-Net). Right button erases. "
           "Leave it empty to copy from anywhere outside the hole.")
    mask_key, mask_name, mask_color = SOURCE, SOURCE_NAME, SOURCE_COLOR
    rank = 10


def source_mask(window) -> MaskLayer | None:
    doc = window.document
    return doc.masks.get(SOURCE) if doc is not None else None


def source_option(document) -> dict:
    """The inpainting option of this feature: the source region, when it is not empty."""
    mask = document.masks.get(SOURCE) if document is not None else None
    return {"source": mask.data.copy()} if mask is not None and mask.data.any() else {}


def clear_source(window) -> None:
    """Empty the source region as one undoable step (nothing happens when it is empty)."""
    mask = source_mask(window)
    if mask is None or not mask.data.any():
        return
    edit = MaskEdit(mask.data)
    edit.touch_all()
    rect = clear(mask.data)
    if rect is not None:
        window.document.notify_mask(SOURCE, rect)
    window.commit_mask_edit(edit, SOURCE, "Clear source region")


def install(window) -> SourceRegionTool:
    tool = window.add_tool(SourceRegionTool)
    action = QAction(icon("mdi6.selection-remove"), "Clear Source Region", window)
    action.setToolTip("Empty the source region: copy from anywhere again")
    action.triggered.connect(lambda: clear_source(window))
    window.actions["clear_source"] = action
    window.add_menu_action("tools", action, SourceRegionTool.rank + 0.5)   # right after the tool
    action.setEnabled(window.document is not None)
    window.document_changed.connect(lambda doc: action.setEnabled(doc is not None))
    window.inpainting.add_option_provider(source_option)
    return tool
