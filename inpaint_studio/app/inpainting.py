"""Inpainting for the main window (a mixin): engine and device choice, the Model menu and its
hooks, starting and cancelling jobs, and turning results into undoable result layers.

Model work never runs here: a job (worker.py) calls the engine on a worker thread.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, QTimer
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QPushButton, QWidget

from ..engine import InpaintError, InpaintOptions, available_devices, available_engines, create_engine
from ..engine.auto import short_summary
from ..engine.device import describe, resolve_device
from .layers import HOLE, RESULT, bounding_rect, result_layer
from .theme import icon
from .undo import AddLayerCommand, MaskCommand, MaskEdit
from .worker import InpaintRequest, JobRunner

CLASSICAL_KIND = "classical"
AUTO_KIND = "auto"  # Auto with a PEN-Net model (without one its kind is classical)


class InpaintActions:
    # -- setup --------------------------------------------------------------------------------
    def _init_inpainting(self, engine_factory, engines_provider) -> None:
        self.engine_factory = engine_factory or create_engine
        self.engines_provider = engines_provider or available_engines
        self.runner = JobRunner(self, engine_factory=self._call_engine_factory)
        self.job = None
        self._job_doc = None
        self.last_result = None           # (InpaintResult, InpaintRequest) of the latest fill
        self.engines: list[tuple[str, str, str]] = []
        try:
            self.devices = available_devices()
        except Exception:
            self.devices = ["cpu"]
        self.device = self.settings.device if self.settings.device in ["auto"] + self.devices else "auto"
        self.engine_id = ""

    def _call_engine_factory(self, engine_id: str, device: str):
        # looked up at call time, so tests and plug-ins may replace `engine_factory` later
        return self.engine_factory(engine_id, device)

    def _connect_inpaint_panel(self) -> None:
        panel = self.inpaint_panel
        panel.set_choice(panel.strategy, self.settings.strategy)
        panel.feather.setValue(self.settings.feather)
        panel.colour_adaptation.setChecked(self.settings.colour_adaptation)
        panel.set_choice(panel.device, self.device)
        panel.strategy_changed.connect(lambda v: setattr(self.settings, "strategy", v))
        panel.feather_changed.connect(lambda v: setattr(self.settings, "feather", v))
        panel.colour_adaptation_changed.connect(lambda v: setattr(self.settings, "colour_adaptation", v))
        panel.device_changed.connect(self.set_device)

    def _build_inpaint_actions(self) -> None:
        self._action("inpaint", "&Inpaint", self.inpaint, ["Ctrl+Return", "Ctrl+Enter"], "mdi6.auto-fix",
                     "Fill the masked area with the chosen engine")
        self._action("cancel", "&Cancel Inpainting", self.cancel_inpaint, "Esc", "mdi6.stop-circle-outline")
        self._action("reload_models", "Reload Model List", self.refresh_engines, None, "mdi6.refresh")

    def _add_inpaint_controls(self, toolbar) -> None:
        self.engine_combo = QComboBox()
        self.engine_combo.setMinimumWidth(220)
        self.engine_combo.setToolTip("Inpainting engine: Auto (the best engine for each hole region), "
                                     "PEN-Net models, PatchMatch, or OpenCV's Telea / Navier-Stokes")
        self.engine_combo.activated.connect(lambda i: self.set_engine(self.engine_combo.itemData(i)))
        toolbar.addWidget(self.engine_combo)
        self.inpaint_button = QPushButton(icon("mdi6.auto-fix", "#ffffff"), "  Inpaint")
        self.inpaint_button.setObjectName("primary")
        self.inpaint_button.setIconSize(QSize(18, 18))
        self.inpaint_button.setMinimumWidth(118)
        self.inpaint_button.setToolTip("Fill the masked area (Ctrl+Enter)")
        self.inpaint_button.clicked.connect(lambda: self.cancel_inpaint() if self.job else self.inpaint())
        toolbar.addWidget(self.inpaint_button)
        margin = QWidget()
        margin.setFixedWidth(6)
        toolbar.addWidget(margin)

    def _fill_model_menu(self, menu) -> None:
        self.engine_group = QActionGroup(self)
        self._engine_section_end = menu.addSeparator()
        self.device_menu = menu.addMenu("&Device")
        self.device_group = QActionGroup(self)
        from .inpaint_panel import DEVICE_LABELS
        for key in ["auto"] + self.devices:
            action = self.device_menu.addAction(DEVICE_LABELS.get(key, key))
            action.setCheckable(True)
            action.setChecked(key == self.device)
            action.setData(key)
            action.triggered.connect(lambda checked=False, k=key: self.set_device(k))
            self.device_group.addAction(action)
        menu.addAction(self.actions["reload_models"])
        self._model_hooks = menu.addSeparator()
        self._model_hooks.setVisible(False)
        menu.addSeparator()
        menu.addAction(self.actions["inpaint"])
        menu.addAction(self.actions["cancel"])

    def add_model_action(self, action: QAction) -> None:
        """Plug a command (model manager, fine-tune dialog, ...) into the Model menu."""
        self._model_hooks.setVisible(True)
        menu = self.menus["model"]
        items = menu.actions()
        after = items.index(self._model_hooks)
        nxt = items[after + 1] if after + 1 < len(items) else None
        # keep plug-ins grouped, in the order they arrive, above the inpaint commands
        while nxt is not None and not nxt.isSeparator():
            after += 1
            nxt = items[after + 1] if after + 1 < len(items) else None
        if nxt is not None:
            menu.insertAction(nxt, action)
        else:
            menu.addAction(action)
        if action.parent() is None:
            action.setParent(self)

    # -- engines and devices ------------------------------------------------------------------
    def refresh_engines(self) -> None:
        """Re-read the engine list (e.g. after a model was trained, imported or deleted)."""
        try:
            self.engines = [tuple(e) for e in self.engines_provider()]
        except Exception as exc:  # an unreadable model folder must not stop the editor
            self.engines = [("telea", "OpenCV Telea", CLASSICAL_KIND), ("ns", "OpenCV Navier-Stokes", CLASSICAL_KIND)]
            self.banner.show_message(f"Could not list the models: {exc}", "warning")
        menu = self.menus["model"]
        for action in self.engine_group.actions():
            self.engine_group.removeAction(action)
            menu.removeAction(action)
            action.deleteLater()
        self.engine_combo.blockSignals(True)
        self.engine_combo.clear()
        for engine_id, label, kind in self.engines:
            glyph = {AUTO_KIND: "mdi6.creation", CLASSICAL_KIND: "mdi6.auto-fix"}.get(kind, "mdi6.brain")
            self.engine_combo.addItem(icon(glyph), label, engine_id)
            action = QAction(label, self)
            action.setCheckable(True)
            action.setData(engine_id)
            action.triggered.connect(lambda checked=False, e=engine_id: self.set_engine(e))
            self.engine_group.addAction(action)
            menu.insertAction(self._engine_section_end, action)
        self.engine_combo.blockSignals(False)
        ids = [e[0] for e in self.engines]
        wanted = self.engine_id or self.settings.engine_id
        self.set_engine(wanted if wanted in ids else (ids[0] if ids else ""), remember=False)
        self.engines_changed.emit()

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
        network = self.engine_kind() != CLASSICAL_KIND   # device and colour matching are PEN-Net's
        self.inpaint_panel.device.setEnabled(network)
        self.inpaint_panel.colour_adaptation.setEnabled(network)
        self._update_device_label()
        self._update_inpaint_enabled()

    def set_device(self, device: str) -> None:
        self.device = device
        self.settings.device = device
        self.inpaint_panel.set_choice(self.inpaint_panel.device, device)
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
        self.device_label.setText(text)
        self.device_label.setToolTip(f"Inpainting runs on: {text}")

    # -- jobs ---------------------------------------------------------------------------------
    def inpaint(self, engine_id: str | None = None, engine_label: str | None = None):
        """Start inpainting the hole mask on the visible layers; returns the job (or None and a
        message in the banner). `engine_id` / `engine_label` fill with another engine than the
        chosen one, e.g. a temporary model that a plug-in's engine_factory knows."""
        doc = self.document
        if doc is None:
            return None
        if self.job is not None:
            self.banner.show_message("An inpainting job is already running.", "info")
            return None
        hole = doc.mask(HOLE).data
        if not hole.any():
            self.banner.show_message("Nothing to fill yet: paint over what should go with the brush (B), "
                                     "rectangle (R) or lasso (L).", "info")
            return None
        engine_id = engine_id or self.engine_id   # (a QAction passes `checked` = False here)
        if not engine_id:
            self.banner.show_message("No inpainting engine is available.")
            return None
        image, _alpha = doc.flattened()
        request = InpaintRequest(engine_id, image, hole.copy(), self.inpaint_options(), self.device,
                                 engine_label or self.engine_label(engine_id))
        job = self.runner.create(request)
        job.progress.connect(self._job_progress)
        job.finished.connect(self._job_finished)
        job.failed.connect(self._job_failed)
        job.cancelled.connect(self._job_cancelled)
        self.job, self._job_doc = job, doc
        self._set_busy(True, f"Inpainting with {request.engine_label}…")
        self.runner.submit(job)
        self.job_state_changed.emit("running")
        return job

    def inpaint_options(self) -> InpaintOptions:
        """Options for the next job: strategy, feather and colour matching from the panel, and the
        "source" mask (copy-from region) when the document has a non-empty one. Features that need
        more (e.g. return_flow for an attention view) extend this."""
        options = InpaintOptions(strategy=self.settings.strategy, feather=self.settings.feather,
                                 colour_adaptation=self.settings.colour_adaptation)
        source = self.document.masks.get("source")
        if source is not None and source.data.any():
            options.source = source.data.copy()
        return options

    def cancel_inpaint(self) -> None:
        """Stop waiting for the running job; its result, if it still comes, is dropped."""
        job = self.job
        if job is None:
            return
        job.cancel()
        self._end_job("Cancelled")
        self.job_state_changed.emit("cancelled")

    def _current(self) -> bool:
        return self.job is not None and self.sender() is self.job

    def _job_progress(self, fraction: float, message: str) -> None:
        if self._current():
            self.inpaint_panel.set_progress(fraction, message)
            self.job_label.setText(f"Inpainting… {fraction * 100:.0f} % — {message}")

    def _job_failed(self, message: str) -> None:
        if not self._current():
            return
        self._end_job("Failed")
        self.banner.show_message(message, "error")
        self.job_state_changed.emit("failed")

    def _job_cancelled(self) -> None:
        if self._current():
            self._end_job("Cancelled")
            self.job_state_changed.emit("cancelled")

    def _job_finished(self, result) -> None:
        if not self._current():
            return
        request, doc = self.job.request, self._job_doc
        self._end_job("Done")
        self._deliver(result, request, doc)

    def _deliver(self, result, request, doc) -> None:
        if getattr(self.tool, "busy", False) or self.file_busy:   # mid-stroke or mid-save: later
            QTimer.singleShot(30, lambda: self._deliver(result, request, doc))
            return
        self._update_device_label(result.device if self.engine_kind(request.engine_id) != CLASSICAL_KIND else None)
        if doc is not self.document:               # another file was opened meanwhile
            self.job_state_changed.emit("done")
            return
        layer = None
        if result.changed:
            number = 1 + sum(1 for l in doc.layers if l.kind == RESULT)
            short = request.engine_label.replace("PEN-Net: ", "").split(" (")[0]
            if result.fills:  # Auto: which engines filled the regions
                short = f"{short}: {short_summary(result.fills)}"
            layer = result_layer(f"Inpaint {number} · {short}", request.image, result.image, request.mask,
                                 margin=request.options.feather)
        if layer is None:
            self.banner.show_message(result.message or "The engine left the image unchanged.", "info")
            self.job_state_changed.emit("done")
            return
        self._add_result(doc, layer, request.mask)
        self.last_result = (result, request)
        self.inpaint_panel.state.setText(result.message)
        self.statusBar().showMessage(result.message, 8000)
        self.recovery.save_now()
        self.result_added.emit(layer.uid)
        self.job_state_changed.emit("done")

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
        self.layers_panel.select_layer(layer.uid)

    def _set_busy(self, busy: bool, text: str) -> None:
        self.inpaint_panel.set_busy(busy)
        self.inpaint_panel.state.setText(text)
        self.job_label.setText(text)
        self.inpaint_button.setText("  Cancel" if busy else "  Inpaint")
        self.inpaint_button.setIcon(icon("mdi6.stop-circle-outline" if busy else "mdi6.auto-fix", "#ffffff"))
        self.inpaint_button.setToolTip("Stop the running job (Esc)" if busy else "Fill the masked area (Ctrl+Enter)")
        self._update_inpaint_enabled()

    def _end_job(self, text: str) -> None:
        self.job = None
        self._job_doc = None
        self._set_busy(False, text)

    def _update_inpaint_enabled(self) -> None:
        running = self.job is not None
        ready = self.document is not None and bool(self.engine_id)
        self.actions["inpaint"].setEnabled(ready and not running)
        self.actions["cancel"].setEnabled(running)
        self.inpaint_button.setEnabled(running or ready)
