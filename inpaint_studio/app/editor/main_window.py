"""The editor window. It owns the document on screen, the canvas, the panels, the tools and two
controllers: `files` (FileController: open, save, export, masks as files, autosave and recovery)
and `inpainting` (InpaintController: engines, devices, jobs, results). Features (features.py)
plug in through the hooks below; none replaces a method or reaches into private state.

Attributes
  document         the open Document (document.py) or None: layers, masks, undo_stack, paths
  canvas           CanvasView (canvas.py): zoom/fit/actual_size, add_overlay/remove_overlay,
                   set_compare_split, set_showing_original; its viewport() takes mouse events
  banner           MessageBanner: non-modal errors and notices (`text()`, `messages`)
  prompter         Prompter (ui/dialogs.py): every modal question; replace it or its methods in tests
  settings         AppSettings (QSettings)
  files            FileController: open_path(path), save(), save_as(path=None), export(path=None,
                   quality=None), load_mask(path=None), export_mask(path=None), offer_recovery(),
                   project_snapshot(), maybe_keep_changes(), recovery, busy
  inpainting       InpaintController: inpaint(engine_id=None, engine_label=None), cancel(),
                   set_engine(id), set_device(name), refresh_engines(), engine_kind(), engine_label(),
                   options(), engine_id, device, devices, engines, job, last_result, engine_combo,
                   engine_factory ((engine_id, device) -> Engine, the app's engines; tests replace it)
  tools            {tool id: Tool}; `tool` is the current one (mask_tools.py, register_tool)
  actions          {name: QAction}, e.g. "open", "save", "inpaint", "undo", "clear_mask"
  menus            {"file", "edit", "view", "tools", "model", "help": QMenu}
  features         {name: the object a feature's install() returned}
  welcome          WelcomePanel (welcome.py) over the empty canvas: open, recent files, samples
  about_dialog     the About dialog once Help ▸ About was used (about.py), else None

Hooks for features (the order features install in changes nothing)
  add_model_action(action, rank), add_menu_action(menu, action, rank)   ranked menu sections
  add_tool(cls)                         a tool: tool bar, Tools menu and shortcut, by cls.rank
  add_close_guard(fn)                   () -> bool asked before closing (False keeps it open)
  inpainting.add_option_provider(fn)    fn(document) -> {InpaintOptions field: value}
  inpainting.add_engine_source(scheme, fn)   engines for ids "scheme:..."
  add_action(name, text, slot, ...)     a named QAction with its shortcut and tool tip

Methods
  set_document(doc), set_tool(id), brush_size / brush_hardness (properties), ensure_mask(key,
  name, color), commit_mask_edit(edit, key, text), clear_mask(), invert_mask(), grow_mask(px=None),
  shrink_mask(px=None), result_layers() -> [Layer], delete_layer(uid), merge_down(uid),
  shortcut_sheet() -> [(section, [(what, keys)])] (F1, from the tools, menus and gestures)

Signals
  document_changed(object), result_added(int uid), job_state_changed(str: "running" | "done" |
  "failed" | "cancelled"), engines_changed()
"""
from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QSizePolicy, QSlider, QToolBar,
                               QVBoxLayout, QWidget)

from ..ui.banner import MessageBanner
from .about import AboutDialog
from .canvas import CanvasView
from ..ui.dialogs import Prompter
from .document import Document
from ..features import install_features
from .files import FileController
from .inpainting import InpaintController
from .inpaint_panel import InpaintPanel
from ..document.layers import HOLE, IMAGE, MaskLayer
from .layers_panel import LayersPanel
from ..document.mask_ops import clear, grow, invert
from .mask_tools import TOOLS, Tool
from .menus import RankedSection
from ..ui.settings import AppSettings
from ..ui.theme import app_icon, icon
from .tool_options import MAX_BRUSH, ToolOptionsPanel
from .undo import LayerPropsCommand, MaskCommand, MaskEdit, MergeDownCommand, RemoveLayerCommand
from .welcome import WelcomePanel


class MainWindow(QMainWindow):
    document_changed = Signal(object)
    result_added = Signal(int)
    job_state_changed = Signal(str)
    engines_changed = Signal()

    def __init__(self, settings: AppSettings | None = None, prompter: Prompter | None = None,
                 engine_factory=None, engines_provider=None, autosave: bool = True,
                 features: dict[str, str] | None = None):
        super().__init__()
        self.settings = settings or AppSettings()
        self.prompter = prompter or Prompter(self)
        self.document: Document | None = None
        self.actions: dict[str, QAction] = {}
        self.menus = {}
        self.undo_group = QUndoGroup(self)
        self._edit_serial = 0
        self._listening: Document | None = None
        self.close_guards: list = []   # () -> bool callables; any False keeps the window open
        self.features: dict[str, object] = {}
        self.sections: dict[str, RankedSection] = {}   # where features' actions go
        self.setWindowTitle("Inpaint Studio")
        self.setWindowIcon(app_icon())        # its dialogs inherit it
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.AnimatedDocks | QMainWindow.AllowNestedDocks)

        self.canvas = CanvasView()
        self.banner = MessageBanner()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        banner_row = QVBoxLayout()
        banner_row.setContentsMargins(8, 8, 8, 0)
        banner_row.addWidget(self.banner)
        column.addLayout(banner_row)
        column.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.tools: dict[str, Tool] = {tid: cls(self) for tid, cls in TOOLS.items()}
        self.tool: Tool | None = None
        self._brush_size = max(1, min(self.settings.brush_size, MAX_BRUSH))
        self._hardness = min(max(self.settings.brush_hardness, 0.0), 1.0)

        self.inpainting = InpaintController(self, engine_factory, engines_provider)
        self.files = FileController(self, autosave)
        self._build_panels()
        self._build_actions()
        self._build_menus()
        self._build_toolbars()
        self._build_status_bar()
        self.inpainting.refresh_engines()
        install_features(self, features)    # None: all of features.FEATURES
        self.welcome = WelcomePanel(self.canvas.viewport())
        self.welcome.open_requested.connect(self.files.open_dialog)
        self.welcome.recent_requested.connect(self.files.open_path)
        self.welcome.sample_requested.connect(self.files.open_sample)
        self.document_changed.connect(self._sync_welcome)
        self.about_dialog: AboutDialog | None = None

        self.canvas.cursor_moved.connect(self._cursor_moved)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.compare_hold.connect(lambda on: self.statusBar().showMessage("Original" if on else "", 0))
        self.set_tool(self.settings.tool if self.settings.tool in self.tools else next(iter(self.tools)))
        self.brush_size = self._brush_size
        self.brush_hardness = self._hardness
        self.resize(1440, 900)
        geometry, state = self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self._update_enabled()
        self._sync_mask_panel()
        self._sync_welcome(self.document)

    # -- building -----------------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        return dock

    def _build_panels(self) -> None:
        self.tool_panel = ToolOptionsPanel()
        self.tool_panel.brush_size_changed.connect(lambda v: setattr(self, "brush_size", v))
        self.tool_panel.hardness_changed.connect(lambda v: setattr(self, "brush_hardness", v))
        self.tool_panel.mask_opacity_changed.connect(lambda v: self._set_mask_look(opacity=v))
        self.tool_panel.mask_color_requested.connect(self._pick_mask_color)
        self.inpaint_panel = InpaintPanel(self.inpainting.devices)
        self.inpainting.connect_panel(self.inpaint_panel)
        self.layers_panel = LayersPanel()
        lp = self.layers_panel
        lp.visibility_toggled.connect(lambda uid, v: self._layer_props(uid, "Show layer" if v else "Hide layer", visible=v))
        lp.renamed.connect(lambda uid, name: self._layer_props(uid, "Rename layer", name=name))
        lp.opacity_changed.connect(lambda uid, v: self._layer_props(uid, "Layer opacity", opacity=v))
        lp.delete_requested.connect(self.delete_layer)
        lp.merge_requested.connect(self.merge_down)
        lp.mask_visibility_toggled.connect(lambda key, v: self.document.set_mask_look(key, visible=v))
        lp.mask_opacity_changed.connect(lambda key, v: self._set_mask_look(key, opacity=v))
        lp.mask_selected.connect(lambda key: self.document.set_active_mask(key))
        self.tool_dock = self._dock("Brush", "dock-tool", self.tool_panel)
        self.inpaint_dock = self._dock("Inpainting", "dock-inpaint", self.inpaint_panel)
        self.layers_dock = self._dock("Layers", "dock-layers", self.layers_panel)
        self.resizeDocks([self.tool_dock, self.inpaint_dock, self.layers_dock], [140, 150, 500], Qt.Vertical)
        self.resizeDocks([self.layers_dock], [300], Qt.Horizontal)

    def add_action(self, name: str, text: str, slot=None, shortcut=None, icon_name: str | None = None,
                   tip: str | None = None, checkable: bool = False) -> QAction:
        """A QAction in `actions[name]` whose shortcut works wherever the focus is in the window."""
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut:
            keys = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        hint = tip or text.replace("…", "").replace("&", "")
        if shortcut:
            hint += f"  ({QKeySequence(keys[0]).toString(QKeySequence.NativeText)})"
        action.setToolTip(hint)
        action.setStatusTip(tip or "")
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        self.actions[name] = action
        self.addAction(action)  # shortcuts work while docks or the canvas have focus
        return action

    def _build_actions(self) -> None:
        a = self.add_action
        self.files.build_actions()
        a("quit", "&Quit", self.close, QKeySequence.Quit)
        undo = self.undo_group.createUndoAction(self, "&Undo")
        undo.setShortcuts(QKeySequence.Undo)
        undo.setIcon(icon("mdi6.undo"))
        redo = self.undo_group.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence.Redo, QKeySequence("Ctrl+Y")])
        redo.setIcon(icon("mdi6.redo"))
        for name, action in (("undo", undo), ("redo", redo)):
            self.actions[name] = action
            self.addAction(action)
        a("clear_mask", "Clear Mask", self.clear_mask, "Ctrl+D", "mdi6.selection-off", "Clear the mask")
        a("invert_mask", "Invert Mask", self.invert_mask, "Ctrl+Shift+I", "mdi6.invert-colors", "Invert the mask")
        a("grow_mask", "Grow Mask…", lambda: self.grow_mask(), None, "mdi6.arrow-expand-all", "Grow the mask by N pixels")
        a("shrink_mask", "Shrink Mask…", lambda: self.shrink_mask(), None, "mdi6.arrow-collapse-all", "Shrink the mask by N pixels")
        a("zoom_in", "Zoom &In", lambda: self.canvas.zoom_by(1), ["Ctrl+=", "Ctrl++"], "mdi6.magnify-plus-outline")
        a("zoom_out", "Zoom &Out", lambda: self.canvas.zoom_by(-1), "Ctrl+-", "mdi6.magnify-minus-outline")
        a("fit", "&Fit to Window", self.canvas.fit, "Ctrl+0", "mdi6.fit-to-screen-outline")
        a("actual_size", "&Actual Pixels (1:1)", self.canvas.actual_size, "Ctrl+1", "mdi6.numeric-1-box-outline")
        a("compare", "Compare &Before/After", self._toggle_compare, "Y", "mdi6.compare",
          "Split view: original on the left, result on the right (hold \\ to see the original)", checkable=True)
        a("brush_bigger", "Bigger Brush", lambda: self._step_brush(+1), "]")
        a("brush_smaller", "Smaller Brush", lambda: self._step_brush(-1), "[")
        a("harder", "Harder Brush", lambda: self._step_hardness(+0.1), "}")
        a("softer", "Softer Brush", lambda: self._step_hardness(-0.1), "{")
        a("delete_layer", "Delete Layer", lambda: self._selected_layer_do(self.delete_layer), None, "mdi6.delete-outline")
        a("merge_down", "Merge Down", lambda: self._selected_layer_do(self.merge_down), "Ctrl+Shift+E", "mdi6.arrow-collapse-down")
        a("shortcuts", "Keyboard Shortcuts", self._show_shortcuts, "F1", "mdi6.keyboard-outline")
        a("about", "About Inpaint Studio", self._show_about)
        self.tool_group = QActionGroup(self)
        for tid in self.tools:
            self._tool_action(tid)
        self.inpainting.build_actions()

    def _tool_action(self, tid: str) -> QAction:
        tool = self.tools[tid]
        action = self.add_action(f"tool_{tid}", tool.label, lambda checked=False, t=tid: self.set_tool(t),
                                 tool.shortcut or None, tool.icon, tool.tip or tool.label, checkable=True)
        self.tool_group.addAction(action)
        return action

    def add_tool(self, cls: type[Tool]) -> Tool:
        """Add a tool class registered after the window was built: tool bar, Tools menu and
        shortcut, after the built-in tools in the order of `cls.rank`. Returns its instance."""
        self.tools[cls.id] = tool = cls(self)
        action = self._tool_action(cls.id)
        self.sections["toolbar_tools"].add(action, cls.rank)
        self.sections["tools"].add(action, cls.rank)
        return tool

    def add_menu_action(self, menu: str, action: QAction, rank: float = 100) -> None:
        """Put a feature's command into a ranked section: "model" (above the inpaint commands),
        "tools" (after the tools), "tools_end" (at the end of the Tools menu) or "view"."""
        self.sections[menu].add(action, rank)
        if action.parent() is None:
            action.setParent(self)

    def add_model_action(self, action: QAction, rank: float = 100) -> None:
        """Plug a command (model manager, fine-tune dialog, ...) into the Model menu."""
        self.add_menu_action("model", action, rank)

    def add_close_guard(self, guard) -> None:
        """`guard() -> bool` is asked before the window closes; False keeps it open."""
        self.close_guards.append(guard)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        m = self.menus
        m["file"] = bar.addMenu("&File")
        self.files.fill_menu(m["file"])
        m["edit"] = bar.addMenu("&Edit")
        for name in ("undo", "redo", None, "clear_mask", "invert_mask", "grow_mask", "shrink_mask", None,
                     "merge_down", "delete_layer"):
            m["edit"].addSeparator() if name is None else m["edit"].addAction(self.actions[name])
        m["view"] = bar.addMenu("&View")
        for name in ("zoom_in", "zoom_out", "fit", "actual_size", None, "compare"):
            m["view"].addSeparator() if name is None else m["view"].addAction(self.actions[name])
        m["view"].addSeparator()
        for dock in (self.tool_dock, self.inpaint_dock, self.layers_dock):
            m["view"].addAction(dock.toggleViewAction())
        self.sections["view"] = RankedSection(m["view"], lead=m["view"].addSeparator())
        m["tools"] = bar.addMenu("&Tools")
        for tid in self.tools:
            m["tools"].addAction(self.actions[f"tool_{tid}"])
        self.sections["tools"] = RankedSection(m["tools"], end=m["tools"].addSeparator())
        for name in ("brush_smaller", "brush_bigger", "softer", "harder"):
            m["tools"].addAction(self.actions[name])
        self.sections["tools_end"] = RankedSection(m["tools"], lead=m["tools"].addSeparator())
        m["model"] = bar.addMenu("&Model")
        self.inpainting.fill_menu(m["model"])
        self.sections["model"] = RankedSection(m["model"], lead=m["model"].addSeparator(),
                                               end=m["model"].addSeparator())
        m["model"].addAction(self.actions["inpaint"])
        m["model"].addAction(self.actions["cancel"])
        m["help"] = bar.addMenu("&Help")
        m["help"].addAction(self.actions["shortcuts"])
        m["help"].addAction(self.actions["about"])

    def _build_toolbars(self) -> None:
        top = QToolBar("Main")
        top.setObjectName("toolbar-main")
        top.setMovable(False)
        top.setIconSize(QSize(20, 20))
        top.setToolButtonStyle(Qt.ToolButtonIconOnly)
        for name in ("open", "save", "export", None, "undo", "redo", None, "clear_mask", "invert_mask",
                     "grow_mask", "shrink_mask", None, "fit", "actual_size", "zoom_in", "zoom_out", None, "compare"):
            top.addSeparator() if name is None else top.addAction(self.actions[name])
        self.split_slider = QSlider(Qt.Horizontal)
        self.split_slider.setRange(0, 1000)
        self.split_slider.setValue(500)
        self.split_slider.setFixedWidth(120)
        self.split_slider.setToolTip("Where the before/after split sits")
        self.split_slider.setVisible(False)
        self.split_slider.valueChanged.connect(self._split_moved)
        self._split_action = top.addWidget(self.split_slider)
        self._split_action.setVisible(False)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        top.addWidget(spacer)
        self.inpainting.add_controls(top)
        self.addToolBar(Qt.TopToolBarArea, top)

        side = QToolBar("Tools")
        side.setObjectName("toolbar-tools")
        side.setMovable(False)
        side.setIconSize(QSize(22, 22))
        side.setOrientation(Qt.Vertical)
        for tid in self.tools:
            side.addAction(self.actions[f"tool_{tid}"])
        self.sections["toolbar_tools"] = RankedSection(side)
        self.addToolBar(Qt.LeftToolBarArea, side)
        self.toolbars = {"main": top, "tools": side}

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        self.job_label = QLabel(InpaintPanel.READY)
        bar.addWidget(self.job_label, 1)
        self.pos_label = QLabel("")
        self.size_label = QLabel("")
        self.zoom_label = QLabel("")
        self.device_label = QLabel("")
        for label, tip in ((self.pos_label, "Cursor position (image pixels)"), (self.size_label, "Image size"),
                           (self.zoom_label, "Zoom"), (self.device_label, "Where inpainting runs")):
            label.setToolTip(tip)
            bar.addPermanentWidget(label)

    # -- document -----------------------------------------------------------------------------
    def set_document(self, doc: Document | None) -> None:
        """Show `doc` (the previous document is dropped without asking; see open_path)."""
        old = self.document
        if old is not None:
            self._detach(old)
            if self.tool is not None:
                self.tool.deactivate()
        self.document = doc
        if doc is not None:
            self._apply_mask_prefs(doc)
            self.undo_group.addStack(doc.undo_stack)
            self.undo_group.setActiveStack(doc.undo_stack)
            doc.undo_stack.indexChanged.connect(self._stack_changed)
            doc.undo_stack.cleanChanged.connect(self.update_title)
            self._listening = doc
            self.size_label.setText(f"{doc.width} × {doc.height}")
        else:
            self.size_label.setText("")
        self.canvas.set_document(doc)
        self.layers_panel.set_document(doc)
        self._sync_mask_panel()
        self.update_title()
        self._update_enabled()
        self.compare_off()
        self.canvas.setFocus()
        self.document_changed.emit(doc)
        if old is not None and old is not doc:
            old.deleteLater()

    def _detach(self, doc: Document) -> None:
        """Stop listening to `doc` (its undo stack emits while it is being destroyed)."""
        if self._listening is not doc:
            return
        self._listening = None
        doc.undo_stack.indexChanged.disconnect(self._stack_changed)
        doc.undo_stack.cleanChanged.disconnect(self.update_title)
        self.undo_group.removeStack(doc.undo_stack)

    def _apply_mask_prefs(self, doc: Document) -> None:
        hole = doc.masks.get(HOLE)
        if hole is not None and not doc.restored and doc.project_path is None:
            hole.color, hole.opacity = self.settings.mask_color, self.settings.mask_opacity

    def _stack_changed(self, _index: int) -> None:
        self._edit_serial += 1
        self.update_title()
        self._update_enabled()

    @property
    def edit_serial(self) -> int:
        """Counts the document's edits (undo and redo included): autosave writes when it moved."""
        return self._edit_serial

    def update_title(self, *_):
        doc = self.document
        if doc is None:
            self.setWindowTitle("Inpaint Studio")
            self.setWindowModified(False)
            return
        self.setWindowTitle(f"{doc.title}[*] — Inpaint Studio")
        self.setWindowModified(doc.is_dirty())

    def _update_enabled(self) -> None:
        has_doc = self.document is not None
        for name in ("save", "save_as", "export", "load_mask", "export_mask", "clear_mask", "invert_mask",
                     "grow_mask", "shrink_mask", "zoom_in", "zoom_out", "fit", "actual_size", "compare",
                     "merge_down", "delete_layer"):
            self.actions[name].setEnabled(has_doc)
        self.inpainting.update_enabled()

    def ensure_mask(self, key: str, name: str, color=(80, 200, 120)) -> MaskLayer:
        """The document's mask `key`, created empty (and shown in the layers panel) if missing."""
        doc = self.document
        if key not in doc.masks:
            doc.add_mask(MaskLayer(key, name, np.zeros((doc.height, doc.width), np.uint8), tuple(color)))
        return doc.masks[key]

    # -- tools --------------------------------------------------------------------------------
    def set_tool(self, tool_id: str) -> None:
        self.tool = self.tools[tool_id]
        self.actions[f"tool_{tool_id}"].setChecked(True)
        self.canvas.set_tool(self.tool)
        self.settings.tool = tool_id
        self.tool_dock.setWindowTitle(self.tool.label)
        self.tool_panel.show_brush_options(self.tool.uses_brush)

    @property
    def brush_size(self) -> int:
        return self._brush_size

    @brush_size.setter
    def brush_size(self, size: int) -> None:
        self._brush_size = int(min(max(size, 1), MAX_BRUSH))
        self.tool_panel.set_brush_size(self._brush_size)
        self.canvas.set_brush_size(self._brush_size)
        self.settings.brush_size = self._brush_size

    @property
    def brush_hardness(self) -> float:
        return self._hardness

    @brush_hardness.setter
    def brush_hardness(self, value: float) -> None:
        self._hardness = float(min(max(value, 0.0), 1.0))
        self.tool_panel.set_hardness(self._hardness)
        self.settings.brush_hardness = self._hardness

    def _step_brush(self, direction: int) -> None:
        size = self._brush_size
        self.brush_size = max(size + 1, round(size * 1.15)) if direction > 0 else min(size - 1, round(size / 1.15))

    def _step_hardness(self, delta: float) -> None:
        self.brush_hardness = round(self._hardness + delta, 2)

    def commit_mask_edit(self, edit: MaskEdit, key: str, text: str) -> None:
        patch = edit.finish()
        if patch:
            self.document.undo_stack.push(MaskCommand(self.document, key, patch, text))

    def _mask_op(self, func, text: str, *args) -> None:
        doc = self.document
        if doc is None:
            return
        key = doc.active_mask_key
        edit = MaskEdit(doc.mask(key).data)
        edit.touch_all()
        rect = func(doc.mask(key).data, *args)
        if rect is not None:
            doc.notify_mask(key, rect)
        self.commit_mask_edit(edit, key, text)

    def clear_mask(self) -> None:
        self._mask_op(clear, "Clear mask")

    def invert_mask(self) -> None:
        self._mask_op(invert, "Invert mask")

    def grow_mask(self, pixels: int | None = None) -> None:
        if pixels is None:
            pixels = self.prompter.integer("Grow mask", "Grow the mask by (pixels):", 8, 1, 500)
        if pixels:
            self._mask_op(grow, f"Grow mask by {pixels} px", int(pixels))

    def shrink_mask(self, pixels: int | None = None) -> None:
        if pixels is None:
            pixels = self.prompter.integer("Shrink mask", "Shrink the mask by (pixels):", 8, 1, 500)
        if pixels:
            self._mask_op(grow, f"Shrink mask by {pixels} px", -int(pixels))

    # -- mask look ----------------------------------------------------------------------------
    def _set_mask_look(self, key: str | None = None, **look) -> None:
        doc = self.document
        key = key or (doc.active_mask_key if doc else HOLE)
        if key == HOLE:
            if "opacity" in look:
                self.settings.mask_opacity = look["opacity"]
            if "color" in look:
                self.settings.mask_color = look["color"]
        if doc is not None:
            doc.set_mask_look(key, **look)
        self._sync_mask_panel()

    def _pick_mask_color(self) -> None:
        doc = self.document
        current = doc.active_mask.color if doc else self.settings.mask_color
        chosen = self.prompter.color(current)
        if chosen is not None:
            self._set_mask_look(color=chosen)

    def _sync_mask_panel(self) -> None:
        doc = self.document
        if doc is not None:
            mask = doc.active_mask
            self.tool_panel.set_mask_look(mask.color, mask.opacity)
        else:
            self.tool_panel.set_mask_look(self.settings.mask_color, self.settings.mask_opacity)

    # -- layers -------------------------------------------------------------------------------
    def result_layers(self):
        return [l for l in self.document.layers if l.kind != IMAGE] if self.document else []

    def _layer_props(self, uid: int, text: str, **props) -> None:
        self.document.undo_stack.push(LayerPropsCommand(self.document, uid, text, **props))

    def delete_layer(self, uid: int) -> None:
        if self.document.layer(uid).kind == IMAGE:
            self.banner.show_message("The image layer cannot be deleted.", "info")
            return
        self.document.undo_stack.push(RemoveLayerCommand(self.document, uid))

    def merge_down(self, uid: int) -> None:
        doc = self.document
        index = doc.index_of(uid)
        if index == 0:
            self.banner.show_message("The bottom layer has nothing below it to merge into.", "info")
            return
        if not (doc.layers[index].visible and doc.layers[index - 1].visible):
            self.banner.show_message("Show both layers before merging them.", "info")
            return
        self.document.undo_stack.push(MergeDownCommand(self.document, uid))

    def _selected_layer_do(self, func) -> None:
        sel = self.layers_panel.selected()
        if sel is not None and sel[0] == "layer":
            func(sel[1])

    # -- view ---------------------------------------------------------------------------------
    def _toggle_compare(self, on: bool) -> None:
        self._split_action.setVisible(on)
        self.split_slider.setVisible(on)
        self.canvas.set_compare_split(self.split_slider.value() / 1000 if on else None)

    def compare_off(self) -> None:
        self.actions["compare"].setChecked(False)
        self._toggle_compare(False)

    def _split_moved(self, value: int) -> None:
        if self.actions["compare"].isChecked():
            self.canvas.set_compare_split(value / 1000)

    def _cursor_moved(self, x: int, y: int) -> None:
        self.pos_label.setText(f"{x}, {y}" if x >= 0 else "")

    def _sync_welcome(self, doc) -> None:
        """The welcome panel stands on the empty canvas only."""
        if doc is None:
            self.welcome.set_recent(self.settings.recent_files)
        self.welcome.setVisible(doc is None)

    def shortcut_sheet(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The F1 sheet as (section, [(what, keys)]): built from the registered tools, the menus'
        actions and the canvas's gestures, so that a new tool or command is on it by itself."""
        def keys(action: QAction) -> str:
            texts = [k.toString(QKeySequence.NativeText) for k in action.shortcuts()]
            return " / ".join(list(dict.fromkeys(t for t in texts if t))[:2])   # the platform may add odd ones

        def name(action: QAction) -> str:
            return action.text().replace("&", "").replace("…", "")

        tools = [(tool.label, tool.shortcut) for tool in self.tools.values() if tool.shortcut]
        gestures = list(CanvasView.GESTURES)
        for tool in self.tools.values():
            gestures += [g for g in tool.gestures if g not in gestures]
        sections = [("Tools", tools), ("On the canvas", gestures)]
        tool_actions = {self.actions[f"tool_{tid}"] for tid in self.tools}
        seen = set(tool_actions)

        def walk(menu) -> list[tuple[str, str]]:
            rows = []
            for action in menu.actions():
                if action.menu() is not None:
                    rows += walk(action.menu())
                elif action not in seen and keys(action):
                    seen.add(action)
                    rows.append((name(action), keys(action)))
            return rows

        for menu in self.menus.values():
            rows = walk(menu)
            if rows:
                sections.append((f"{menu.title().replace('&', '')} menu", rows))
        rest = [(name(a), keys(a)) for a in self.actions.values() if a not in seen and keys(a)]
        if rest:
            sections.append(("Other", rest))
        return sections

    def _show_shortcuts(self) -> None:
        def table(title, rows):
            def cell(text):             # non-breaking: Qt's rich text wraps nested tables' cells anyway
                return html.escape(text).replace(" ", "&nbsp;")

            body = "".join(f"<tr><td style='padding-right:12px'>{cell(what)}</td><td><b>{cell(keys)}</b></td></tr>"
                           for what, keys in rows)
            return f"<p style='margin:8px 0 2px 0'><b>{html.escape(title)}</b></p><table cellspacing=3>{body}</table>"

        sections = self.shortcut_sheet()
        half = (sum(len(rows) for _, rows in sections) + 1) // 2
        left, count = [], 0
        for section in sections:        # two columns of about equal length
            if count >= half:
                break
            left.append(section)
            count += len(section[1])
        right = sections[len(left):]
        columns = ["".join(table(*sec) for sec in part) for part in (left, right)]
        self.prompter.show_text("Keyboard shortcuts", f"<table><tr><td valign='top' style='padding-right:24px'>"
                                                      f"{columns[0]}</td><td valign='top'>{columns[1]}</td></tr></table>")

    def _show_about(self) -> AboutDialog:
        """Help ▸ About (non-modal): version, the bundled models' cards, licences."""
        if self.about_dialog is None:
            self.about_dialog = AboutDialog(self)
        self.about_dialog.show()
        self.about_dialog.raise_()
        return self.about_dialog

    # -- dropped files ------------------------------------------------------------------------
    def dragEnterEvent(self, event):
        if self.files.dropped_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event):
        path = self.files.dropped_path(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.files.open_path(path)

    # -- closing ------------------------------------------------------------------------------
    def closeEvent(self, event):
        if self.files.busy:
            event.ignore()
            return
        if not all(guard() for guard in self.close_guards) or not self.files.maybe_keep_changes():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop jobs and autosave, remember the layout. Called once the window may close."""
        self.settings.save_window_state(self.saveGeometry(), self.saveState())
        self.settings.sync()
        self.inpainting.shutdown()
        self.files.shutdown()
        if self.document is not None:
            self._detach(self.document)
