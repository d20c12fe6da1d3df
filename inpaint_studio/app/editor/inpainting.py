"""The window's inpainting controller: engine and device choice, the Model menu's engine
section, starting and cancelling jobs, and turning results into undoable result layers.

Features extend it through two hooks, whatever order they install in:
  add_option_provider(fn)       fn(document) -> {InpaintOptions field: value} for the next job;
                                two providers may not set the same field
  add_engine_source(scheme, fn) engine ids "scheme:..." are made by fn(engine_id, device) (on the
                                worker thread); each scheme belongs to one feature
Model work never runs here: a job (worker.py) calls the engine on a worker thread.
"""
from __future__ import annotations

from dataclasses import fields

from PySide6.QtCore import QObject, QSize, QTimer
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QPushButton, QWidget

from ...engine import InpaintError, InpaintOptions, available_devices, available_engines, create_engine
from ...engine.auto import short_summary
from ...engine.device import describe, resolve_device
from ..document.layers import HOLE, RESULT, bounding_rect, result_layer
from ..ui.theme import icon
from .inpaint_panel import DEVICE_LABELS
from .undo import AddLayerCommand, MaskCommand, MaskEdit
from .worker import InpaintRequest, JobRunner

CLASSICAL_KIND = "classical"
AUTO_KIND = "auto"  # Auto with a PEN-Net model (without one its kind is classical)
OPTION_NAMES = {f.name for f in fields(InpaintOptions)}


class InpaintController(QObject):
    def __init__(self, window, engine_factory=None, engines_provider=None):
        super().__init__(window)
        self.window = window
        self.settings = window.settings
        # the engines the app knows (registry models, classical ones): replaceable in tests
        self.engine_factory = engine_factory or create_engine
        self.engines_provider = engines_provider or available_engines
        self.runner = JobRunner(self, engine_factory=self.make_engine)
        self.job = None
        self._job_doc = None
        self.last_result = None           # (InpaintResult, InpaintRequest) of the latest fill
        self.engines: list[tuple[str, str, str]] = []
        self._option_providers: list = []
        self._engine_sources: dict[str, object] = {}
        try:
            self.devices = available_devices()
        except Exception:
            self.devices = ["cpu"]
        self.device = self.settings.device if self.settings.device in ["auto"] + self.devices else "auto"
        self.engine_id = ""

    # -- hooks --------------------------------------------------------------------------------
    def add_option_provider(self, provider) -> None:
        """`provider(document) -> dict` of InpaintOptions fields for each job."""
        self._option_providers.append(provider)

    def add_engine_source(self, scheme: str, factory) -> None:
        """Engine ids `scheme:...` are made by `factory(engine_id, device)`, on the worker thread."""
        if not scheme or ":" in scheme or scheme in self._engine_sources:
            raise ValueError(f"engine scheme {scheme!r} is empty, has a colon or is taken")
        self._engine_sources[scheme] = factory

    def make_engine(self, engine_id: str, device: str):
        """The engine for `engine_id` (called on the worker thread)."""
        scheme, colon, _ = engine_id.partition(":")
        source = self._engine_sources.get(scheme) if colon else None
        return (source or self.engine_factory)(engine_id, device)

    def options(self) -> InpaintOptions:
        """Options for the next job: strategy, feather and colour matching from the panel, and
        what the option providers add (e.g. a source region, the attention flow)."""
        values = {"strategy": self.settings.strategy, "feather": self.settings.feather,
                  "colour_adaptation": self.settings.colour_adaptation}
        given: dict[str, object] = {}
        for provider in self._option_providers:
            for name, value in provider(self.window.document).items():
                if name not in OPTION_NAMES or name in values or name in given:
                    raise ValueError(f"inpainting option {name!r} is unknown or set twice")
                given[name] = value
        return InpaintOptions(**values, **given)

    # -- setup --------------------------------------------------------------------------------
    def connect_panel(self, panel) -> None:
        self.panel = panel
        panel.set_choice(panel.strategy, self.settings.strategy)
        panel.feather.setValue(self.settings.feather)
        panel.colour_adaptation.setChecked(self.settings.colour_adaptation)
        panel.set_choice(panel.device, self.device)
        panel.strategy_changed.connect(lambda v: setattr(self.settings, "strategy", v))
        panel.feather_changed.connect(lambda v: setattr(self.settings, "feather", v))
        panel.colour_adaptation_changed.connect(lambda v: setattr(self.settings, "colour_adaptation", v))
        panel.device_changed.connect(self.set_device)
        panel.cancel_requested.connect(self.cancel)
        self.window.document_changed.connect(self._document_changed)

    def _document_changed(self, _doc) -> None:
        """Another photo: the last job's outcome belonged to the one before."""
        if self.job is None:
            self.panel.state.setText(self.panel.READY)
            self.window.job_label.setText(self.panel.READY)

    def build_actions(self) -> None:
        add = self.window.add_action
        add("inpaint", "&Inpaint", lambda: self.inpaint(), ["Ctrl+Return", "Ctrl+Enter"], "mdi6.auto-fix",
            "Fill the masked area with the chosen engine")
        add("cancel", "&Cancel Inpainting", self.cancel, "Esc", "mdi6.stop-circle-outline")
        add("reload_models", "Reload Model List", self.refresh_engines, None, "mdi6.refresh")

    def add_controls(self, toolbar) -> None:
        self.engine_combo = QComboBox()
        self.engine_combo.setMinimumWidth(220)
        self.engine_combo.setToolTip("Inpainting engine: Auto (the best engine for each hole region), models "
                                     "(PEN-Net, DeepFill v1), PatchMatch, or OpenCV's Telea / Navier-Stokes")
        self.engine_combo.activated.connect(lambda i: self.set_engine(self.engine_combo.itemData(i)))
        toolbar.addWidget(self.engine_combo)
        self.inpaint_button = QPushButton(icon("mdi6.auto-fix", "#ffffff"), "  Inpaint")
        self.inpaint_button.setObjectName("primary")
        self.inpaint_button.setIconSize(QSize(18, 18))
        self.inpaint_button.setMinimumWidth(118)
        self.inpaint_button.setToolTip("Fill the masked area (Ctrl+Enter)")
        self.inpaint_button.clicked.connect(lambda: self.cancel() if self.job else self.inpaint())
        toolbar.addWidget(self.inpaint_button)
        margin = QWidget()
        margin.setFixedWidth(6)
        toolbar.addWidget(margin)

    def fill_menu(self, menu) -> None:
        """The Model menu's engine choices, device submenu and reload command."""
        self.menu = menu
        self.engine_group = QActionGroup(self)
        self._engine_section_end = menu.addSeparator()
        self.device_menu = menu.addMenu("&Device")
        self.device_group = QActionGroup(self)
        for key in ["auto"] + self.devices:
            action = self.device_menu.addAction(DEVICE_LABELS.get(key, key))
            action.setCheckable(True)
            action.setChecked(key == self.device)
            action.setData(key)
            action.triggered.connect(lambda checked=False, k=key: self.set_device(k))
            self.device_group.addAction(action)
        menu.addAction(self.window.actions["reload_models"])

    # -- engines and devices ------------------------------------------------------------------
    def refresh_engines(self) -> None:
        """Re-read the engine list (e.g. after a model was trained, imported or deleted)."""
        try:
            self.engines = [tuple(e) for e in self.engines_provider()]
        except Exception as exc:  # an unreadable model folder must not stop the editor
            self.engines = [("telea", "OpenCV Telea", CLASSICAL_KIND), ("ns", "OpenCV Navier-Stokes", CLASSICAL_KIND)]
            self.window.banner.show_message(f"Could not list the models: {exc}", "warning")
        menu = self.menu
        for action in self.engine_group.actions():
            self.engine_group.removeAction(action)
            menu.removeAction(action)
            action.deleteLater()
        self.engine_combo.blockSignals(True)
        self.engine_combo.clear()
        for engine_id, label, kind in self.engines:
            glyph = {AUTO_KIND: "mdi6.creation", CLASSICAL_KIND: "mdi6.auto-fix"}.get(kind, "mdi6.brain")
            self.engine_combo.addItem(icon(glyph), label, engine_id)
            action = QAction(label, self.window)
            action.setCheckable(True)
            action.setData(engine_id)
            action.triggered.connect(lambda checked=False, e=engine_id: self.set_engine(e))
            self.engine_group.addAction(action)
            menu.insertAction(self._engine_section_end, action)
        self.engine_combo.blockSignals(False)
        ids = [e[0] for e in self.engines]
        wanted = self.engine_id or self.settings.engine_id
        self.set_engine(wanted if wanted in ids else (ids[0] if ids else ""), remember=False)
        self.window.engines_changed.emit()

    def engine_kind(self, engine_id: str | None = None) -> str:
        engine_id = engine_id or self.engine_id
        return next((kind for eid, _, kind in self.engines if eid == engine_id), "")

    def engine_label(self, engine_id: str | None = None) -> str:
        engine_id = engine_id or self.engine_id
        return next((label for eid, label, _ in self.engines if eid == engine_id), engine_id)

    def set_engine(self, engine_id: str, remember: bool = True) -> None:
        self.engine_id = engine_id or ""
        index = self.engine_combo.findData(self.engine_id)
        if index >= 0:
            self.engine_combo.setCurrentIndex(index)
        for action in self.engine_group.actions():
            action.setChecked(action.data() == self.engine_id)
        if remember and self.engine_id:
            self.settings.engine_id = self.engine_id
        network = self.engine_kind() != CLASSICAL_KIND   # device and colour matching are the models'
        self.panel.device.setEnabled(network)
        self.panel.colour_adaptation.setEnabled(network)
        self._update_device_label()
        self.update_enabled()

    def set_device(self, device: str) -> None:
        self.device = device
        self.settings.device = device
        self.panel.set_choice(self.panel.device, device)
        for action in self.device_group.actions():
            action.setChecked(action.data() == device)
        self._update_device_label()

    def _update_device_label(self, ran_on: str | None = None) -> None:
        if ran_on:
            text = ran_on
        elif self.engine_kind() == CLASSICAL_KIND:
            text = "CPU · no model"
        else:
            try:
                text = describe(resolve_device(self.device), "auto")
            except InpaintError:
                text = f"{self.device} unavailable"
        self.window.device_label.setText(text)
        self.window.device_label.setToolTip(f"Inpainting runs on: {text}")

    # -- jobs ---------------------------------------------------------------------------------
    def inpaint(self, engine_id: str | None = None, engine_label: str | None = None):
        """Start inpainting the hole mask on the visible layers; returns the job (or None and a
        message in the banner). `engine_id` / `engine_label` fill with another engine than the
        chosen one, e.g. a temporary model of a feature's engine source."""
        doc = self.window.document
        say = self.window.banner.show_message
        if doc is None:
            return None
        if self.job is not None:
            say("An inpainting job is already running.", "info")
            return None
        hole = doc.mask(HOLE).data
        if not hole.any():
            say("Nothing to fill yet: paint over what should go with the brush (B), rectangle (R) or lasso (L).",
                "info")
            return None
        engine_id = engine_id or self.engine_id
        if not engine_id:
            say("No inpainting engine is available.")
            return None
        image, _alpha = doc.flattened()
        request = InpaintRequest(engine_id, image, hole.copy(), self.options(), self.device,
                                 engine_label or self.engine_label(engine_id))
        job = self.runner.create(request)
        job.progress.connect(self._job_progress)
        job.finished.connect(self._job_finished)
        job.failed.connect(self._job_failed)
        job.cancelled.connect(self._job_cancelled)
        self.job, self._job_doc = job, doc
        self._set_busy(True, f"Inpainting with {request.engine_label}…")
        self.runner.submit(job)
        self.window.job_state_changed.emit("running")
        return job

    def cancel(self) -> None:
        """Stop waiting for the running job; its result, if it still comes, is dropped."""
        job = self.job
        if job is None:
            return
        job.cancel()
        self._end_job("Cancelled")
        self.window.job_state_changed.emit("cancelled")

    def _current(self) -> bool:
        return self.job is not None and self.sender() is self.job

    def _job_progress(self, fraction: float, message: str) -> None:
        if self._current():
            self.panel.set_progress(fraction, message)
            self.window.job_label.setText(f"Inpainting… {fraction * 100:.0f} % — {message}")

    def _job_failed(self, message: str) -> None:
        if not self._current():
            return
        self._end_job("Failed")
        self.window.banner.show_message(message, "error")
        self.window.job_state_changed.emit("failed")

    def _job_cancelled(self) -> None:
        if self._current():
            self._end_job("Cancelled")
            self.window.job_state_changed.emit("cancelled")

    def _job_finished(self, result) -> None:
        if not self._current():
            return
        request, doc = self.job.request, self._job_doc
        self._end_job("Done")
        self._deliver(result, request, doc)

    def _deliver(self, result, request, doc) -> None:
        w = self.window
        if (w.tool is not None and w.tool.busy) or w.files.busy:   # mid-stroke or mid-save: later
            QTimer.singleShot(30, lambda: self._deliver(result, request, doc))
            return
        self._update_device_label(result.device if self.engine_kind(request.engine_id) != CLASSICAL_KIND else None)
        if doc is not w.document:                  # another file was opened meanwhile
            w.job_state_changed.emit("done")
            return
        layer = None
        if result.changed:
            number = 1 + sum(1 for l in doc.layers if l.kind == RESULT)
            short = request.engine_label.partition(": ")[2] or request.engine_label  # a model: its name
            short = short.split(" (")[0]
            if result.fills:  # Auto: which engines filled the regions
                short = f"{short}: {short_summary(result.fills)}"
            layer = result_layer(f"Inpaint {number} · {short}", request.image, result.image, request.mask,
                                 margin=request.options.feather)
        if layer is None:
            w.banner.show_message(result.message or "The engine left the image unchanged.", "info")
            w.job_state_changed.emit("done")
            return
        self._add_result(doc, layer, request.mask)
        self.last_result = (result, request)
        self.panel.state.setText(result.message)
        w.statusBar().showMessage(result.message, 8000)
        w.files.recovery.save_now()
        w.result_added.emit(layer.uid)
        w.job_state_changed.emit("done")

    def _add_result(self, doc, layer, used_mask) -> None:
        """One undo step: the result layer appears and the filled part of the mask is cleared."""
        stack = doc.undo_stack
        stack.beginMacro(f"Inpaint ({layer.name})")
        stack.push(AddLayerCommand(doc, layer, text="Add result layer"))
        rect = bounding_rect(used_mask)
        mask = doc.mask(HOLE).data
        edit = MaskEdit(mask)
        edit.touch(rect)
        x, y, w, h = rect
        mask[y:y + h, x:x + w][used_mask[y:y + h, x:x + w] > 0] = 0
        patch = edit.finish()
        if patch:
            stack.push(MaskCommand(doc, HOLE, patch, "Clear the filled mask"))
        stack.endMacro()
        doc.notify_mask(HOLE, rect)
        self.window.layers_panel.select_layer(layer.uid)

    def _set_busy(self, busy: bool, text: str) -> None:
        self.panel.set_busy(busy)
        self.panel.state.setText(text)
        self.window.job_label.setText(text)
        self.inpaint_button.setText("  Cancel" if busy else "  Inpaint")
        self.inpaint_button.setIcon(icon("mdi6.stop-circle-outline" if busy else "mdi6.auto-fix", "#ffffff"))
        self.inpaint_button.setToolTip("Stop the running job (Esc)" if busy else "Fill the masked area (Ctrl+Enter)")
        self.update_enabled()

    def _end_job(self, text: str) -> None:
        self.job = None
        self._job_doc = None
        self._set_busy(False, text)

    def update_enabled(self) -> None:
        running = self.job is not None
        ready = self.window.document is not None and bool(self.engine_id)
        self.window.actions["inpaint"].setEnabled(ready and not running)
        self.window.actions["cancel"].setEnabled(running)
        self.inpaint_button.setEnabled(running or ready)

    def shutdown(self) -> None:
        if self.job is not None:
            self.cancel()
        self.runner.shutdown(3000)
