"""The window's file controller: open, save, export, masks as files, recent files, dropped
files, the unsaved-changes question, autosave and recovery.

Rules: every write is atomic (imaging and project write a temporary file, then rename); writing
onto the photo that was opened asks first; errors go to the banner and leave the document as is.
"""
from __future__ import annotations

import copy
import os
import threading
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from ... import resources
from ...imaging import SUPPORTED_SUFFIXES, ImageError, read_image, read_mask, write_image, write_mask
from ..ui.dialogs import EXPORT_FILTERS, MASK_FILTER, SAVE_FILTERS
from .document import Document
from ..document.layers import HOLE, MaskLayer, flatten
from ..document.project import Project, ProjectError, read_ora, write_ora
from .autosave import RecoveryManager
from .undo import MaskEdit

OPENABLE = set(SUPPORTED_SUFFIXES) | {".ora"}
LOSSY = {".jpg", ".jpeg", ".webp"}


def _same_file(a: Path | None, b: Path | None) -> bool:
    if a is None or b is None:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _busy_loop(files: "FileController", text: str, func):
    """Run `func` on a helper thread. If it takes more than a moment, the window is disabled
    (no edits can slip in) but keeps repainting while it waits. Returns or raises as func did."""
    outcome = {}

    def work():
        try:
            outcome["value"] = func()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="file-io", daemon=True)
    thread.start()
    thread.join(0.15)
    if thread.is_alive():
        window = files.window
        files.busy = True
        window.setEnabled(False)
        QApplication.setOverrideCursor(Qt.WaitCursor)
        window.statusBar().showMessage(text)
        try:
            while thread.is_alive():
                QApplication.processEvents(QEventLoop.ExcludeUserInputEvents, 50)
                thread.join(0.02)
        finally:
            QApplication.restoreOverrideCursor()
            window.setEnabled(True)
            window.statusBar().clearMessage()
            files.busy = False
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class FileController(QObject):
    def __init__(self, window, autosave: bool = True):
        super().__init__(window)
        self.window = window
        self.settings, self.prompter, self.banner = window.settings, window.prompter, window.banner
        minutes = self.settings.autosave_minutes if autosave else 0
        self.recovery = RecoveryManager(self._recovery_snapshot, minutes, parent=self)
        self.recovery.failed.connect(lambda message: self.banner.show_message(message, "warning"))
        self.busy = False             # a file is being read or written (edits are blocked)

    @property
    def document(self):
        return self.window.document

    def build_actions(self) -> None:
        add = self.window.add_action
        add("open", "&Open…", self.open_dialog, QKeySequence.Open, "mdi6.folder-open-outline", "Open a photo or project")
        add("save", "&Save", self.save, QKeySequence.Save, "mdi6.content-save-outline", "Save the project")
        add("save_as", "Save &As…", lambda: self.save_as(), QKeySequence.SaveAs, "mdi6.content-save-edit-outline")
        add("export", "&Export Image…", lambda: self.export(), "Ctrl+E", "mdi6.export",
            "Export the visible layers as an image")
        add("load_mask", "Load Mask…", lambda: self.load_mask(), None, "mdi6.file-upload-outline")
        add("export_mask", "Export Mask…", lambda: self.export_mask(), None, "mdi6.file-download-outline")

    def fill_menu(self, menu) -> None:
        actions = self.window.actions
        menu.addAction(actions["open"])
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.sample_menu = menu.addMenu("Open a &Sample")
        self.sample_menu.setToolTipsVisible(True)
        self.sample_menu.aboutToShow.connect(self._fill_samples)
        menu.addSeparator()
        for name in ("save", "save_as", "export", None, "load_mask", "export_mask", None, "quit"):
            menu.addSeparator() if name is None else menu.addAction(actions[name])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = [p for p in self.settings.recent_files if Path(p).exists()]
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_path(p))
        if not recent:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.settings.clear_recent)

    def _fill_samples(self) -> None:
        self.sample_menu.clear()
        try:
            found = resources.samples()
        except resources.ResourceError as exc:
            self.sample_menu.addAction(f"No samples: {exc}").setEnabled(False)
            return
        for sample in found:
            action = self.sample_menu.addAction(sample.title)
            action.setToolTip(sample.task)
            action.triggered.connect(lambda checked=False, s=sample.id: self.open_sample(s))

    def _start_dir(self) -> str:
        doc = self.document
        path = doc and (doc.project_path or doc.source_path)
        return str(path.parent) if path else self.settings.last_dir

    def _remember(self, path: Path) -> None:
        self.settings.add_recent(path)
        self.settings.last_dir = str(Path(path).parent)

    # -- opening ------------------------------------------------------------------------------
    def open_dialog(self) -> bool:
        path = self.prompter.open_path(self._start_dir())
        return self.open_path(path) if path else False

    def open_path(self, path) -> bool:
        """Open a photo or an .ora project. Asks about unsaved changes first; a file that cannot
        be read leaves the current document open and says why in the banner."""
        path = Path(path)
        if not self.maybe_keep_changes():
            return False
        try:
            loaded = _busy_loop(self, f"Opening {path.name}…", lambda: self._read_file(path))
            doc = self._make_document(path, loaded)
        except (ImageError, ProjectError) as exc:
            self.banner.show_message(f"Could not open {path.name}: {_detail(exc, path)}", "error")
            return False
        except MemoryError:
            self.banner.show_message(f"Could not open {path.name}: not enough memory for an image this large.")
            return False
        except OSError as exc:
            self.banner.show_message(f"Could not open {path.name}: {exc.strerror or exc}.")
            return False
        self.window.inpainting.cancel()
        self.recovery.discard()
        self.window.set_document(doc)
        self._remember(path)
        self.banner.dismiss()
        return True

    def open_sample(self, sample_id: str) -> bool:
        """Open a sample photo (resources/samples) with its ready mask as a new, unsaved document:
        Inpaint can be pressed at once, and Save asks where (the samples folder is read-only)."""
        try:
            sample = next((s for s in resources.samples() if s.id == sample_id), None)
        except resources.ResourceError as exc:
            self.banner.show_message(f"Could not open the sample '{sample_id}': {exc}")
            return False
        if sample is None:
            self.banner.show_message(f"There is no sample '{sample_id}'.")
            return False
        if not self.maybe_keep_changes():
            return False
        try:
            loaded, hole = _busy_loop(self, f"Opening {sample.title}…", lambda: self._read_sample(sample))
        except (ImageError, OSError) as exc:
            self.banner.show_message(f"Could not open the sample {sample.photo.name}: {exc}")
            return False
        doc = Document.from_image(loaded.rgb, loaded.alpha, name=sample.title, info=loaded.info)
        doc.unsaved_title = f"{sample.title} (sample)"
        doc.mask(HOLE).data[...] = hole      # the ready mask is part of what opens, not an edit
        self.window.inpainting.cancel()
        self.recovery.discard()
        self.window.set_document(doc)
        self.banner.show_message(f"Sample “{sample.title}”: {sample.task} Press Inpaint (Ctrl+Enter) to fill it.",
                                 "info")
        return True

    @staticmethod
    def _read_sample(sample):
        loaded = read_image(sample.photo)
        return loaded, read_mask(sample.mask, shape=loaded.rgb.shape)

    @staticmethod
    def _read_file(path: Path):
        """Decode on the helper thread: a Project or a LoadedImage (no Qt objects)."""
        return read_ora(path) if path.suffix.lower() == ".ora" else read_image(path)

    def _make_document(self, path: Path, loaded) -> Document:
        if isinstance(loaded, Project):
            doc = self.document_from_project(loaded)
            doc.project_path = path
            return doc
        return Document.from_image(loaded.rgb, loaded.alpha, name=path.stem, source_path=path, info=loaded.info)

    @staticmethod
    def document_from_project(project: Project) -> Document:
        doc = Document.from_layers(project.width, project.height, project.layers, project.masks)
        source = project.meta.get("source")
        doc.source_path = Path(source) if source else None
        return doc

    # -- saving -------------------------------------------------------------------------------
    def save(self) -> bool:
        doc = self.document
        if doc is None:
            return False
        if doc.project_path is None:
            return self.save_as()
        return self._write(doc.project_path, mark_saved=True)

    def save_as(self, path=None) -> bool:
        doc = self.document
        if doc is None:
            return False
        if path is None:
            base = doc.project_path or doc.source_path
            suggested = str(base.with_suffix(".ora")) if base else str(Path(self.settings.last_dir) / "untitled.ora")
            path = self.prompter.save_path(suggested, SAVE_FILTERS)
            if not path:
                return False
        return self._write(Path(path), mark_saved=True)

    def export(self, path=None, quality: int | None = None) -> bool:
        """A flattened copy (PNG, JPEG, WebP, TIFF); the document keeps its own file."""
        doc = self.document
        if doc is None:
            return False
        if path is None:
            base = doc.source_path or doc.project_path or Path(self.settings.last_dir) / "image.png"
            suffix = base.suffix.lower() if base.suffix.lower() in SUPPORTED_SUFFIXES else ".png"
            path = self.prompter.save_path(str(base.with_name(f"{base.stem}-inpainted{suffix}")),
                                           EXPORT_FILTERS, "Export image")
            if not path:
                return False
        path = Path(path)
        if path.suffix.lower() == ".ora":
            self.banner.show_message("Use Save As for an .ora project; Export writes flat images.", "info")
            return False
        return self._write(path, mark_saved=False, quality=quality)

    def _write(self, path: Path, mark_saved: bool, quality: int | None = None) -> bool:
        doc = self.document
        suffix = path.suffix.lower()
        if suffix not in OPENABLE:
            self.banner.show_message(f"Cannot save as '{suffix or path.name}': use .ora or one of "
                                     f"{', '.join(SUPPORTED_SUFFIXES)}.")
            return False
        if _same_file(path, doc.source_path) and path.exists() and not _same_file(path, doc.project_path):
            if not self.prompter.confirm(
                    "Overwrite the original?",
                    f"“{path.name}” is the photo you opened. Replace it with the edited image? "
                    f"Its original pixels will be lost.", ok="Overwrite"):
                return False
        if suffix in LOSSY and quality is None:
            quality = self.prompter.integer("Image quality", f"{suffix[1:].upper()} quality (1-100):",
                                            self.settings.jpeg_quality, 1, 100)
            if quality is None:
                return False
            self.settings.jpeg_quality = quality
        if suffix == ".ora":
            snapshot = self.project_snapshot()
            write = lambda: write_ora(path, snapshot)  # noqa: E731
        else:
            layers, size, info = list(doc.layers), (doc.width, doc.height), doc.info

            def write():
                rgb, alpha = flatten(layers, *size)
                write_image(path, rgb, alpha, quality=quality or 95, info=info)
        try:
            _busy_loop(self, f"Saving {path.name}…", write)
        except (ImageError, ProjectError) as exc:
            self.banner.show_message(f"Could not save {path.name}: {_detail(exc, path)}")
            return False
        except OSError as exc:
            self.banner.show_message(f"Could not save {path.name}: {exc.strerror or exc}.")
            return False
        if mark_saved:
            doc.project_path = path
            doc.mark_saved()
            self.recovery.discard()
            self.window.update_title()
        self._remember(path)
        self.window.statusBar().showMessage(f"{'Saved' if mark_saved else 'Exported'} {path}", 5000)
        return True

    def project_snapshot(self) -> Project:
        """The document as a Project (layer arrays shared: they are never changed in place;
        masks copied: they are painted in place)."""
        doc = self.document
        masks = [MaskLayer(m.key, m.name, m.data.copy(), m.color, m.opacity, m.visible) for m in doc.masks.values()]
        meta = {"title": doc.title}
        if doc.source_path:
            meta["source"] = str(doc.source_path)
        if doc.project_path:
            meta["project_path"] = str(doc.project_path)
        return Project(doc.width, doc.height, [copy.copy(l) for l in doc.layers], masks, meta)

    # -- masks as files -----------------------------------------------------------------------
    def load_mask(self, path=None) -> bool:
        doc = self.document
        if doc is None:
            return False
        if path is None:
            path = self.prompter.open_path(self._start_dir(), "Load mask", MASK_FILTER)
            if not path:
                return False
        try:
            loaded = read_mask(path, shape=(doc.height, doc.width))
        except ImageError as exc:
            self.banner.show_message(f"Could not load the mask: {_detail(exc, Path(path))}")
            return False
        mask = doc.mask(HOLE).data
        edit = MaskEdit(mask)
        edit.touch_all()
        mask[...] = loaded
        doc.notify_mask(HOLE)
        self.window.commit_mask_edit(edit, HOLE, "Load mask")
        return True

    def export_mask(self, path=None) -> bool:
        doc = self.document
        if doc is None:
            return False
        if path is None:
            base = doc.source_path or doc.project_path or Path(self.settings.last_dir) / "image"
            path = self.prompter.save_path(str(base.with_name(f"{base.stem}-mask.png")),
                                           {"PNG mask (*.png)": ".png"}, "Export mask")
            if not path:
                return False
        try:
            write_mask(path, doc.mask(HOLE).data)
        except ImageError as exc:
            self.banner.show_message(f"Could not export the mask: {_detail(exc, Path(path))}")
            return False
        self.window.statusBar().showMessage(f"Mask exported to {path}", 5000)
        return True

    # -- unsaved work -------------------------------------------------------------------------
    def maybe_keep_changes(self) -> bool:
        """True when the current document may be closed (saved, discarded or clean)."""
        doc = self.document
        if doc is None or not doc.is_dirty():
            return True
        answer = self.prompter.unsaved_changes(doc.title)
        if answer == "save":
            return self.save()
        return answer == "discard"

    # -- drag and drop ------------------------------------------------------------------------
    @staticmethod
    def dropped_path(mime) -> Path | None:
        """The first file of a drag that the editor can open, or None."""
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in OPENABLE:
                return Path(url.toLocalFile())
        return None

    # -- autosave and recovery ----------------------------------------------------------------
    def shutdown(self) -> None:
        """A clean exit: the autosave stops and this session's recovery file goes."""
        self.recovery.shutdown()
        self.recovery.discard()

    def _recovery_snapshot(self):
        doc = self.document
        if doc is None or not doc.is_dirty():
            return None
        return (id(doc), self.window.edit_serial), self.project_snapshot()

    def offer_recovery(self) -> bool:
        """Offer the autosaved work of sessions that did not close properly; True if restored."""
        for found in self.recovery.orphans():
            if not self.prompter.restore(found.title, found.saved_at):
                found.discard()
                continue
            try:
                project = found.load()
            except ProjectError as exc:  # kept aside, not deleted: the next start must not trip on it
                try:
                    where = f"It was moved to {found.set_aside()}."
                except OSError as move_error:
                    where = f"It stays in {found.ora.parent} ({move_error.strerror or move_error})."
                self.banner.show_message(f"The autosaved copy of “{found.title}” could not be read: "
                                         f"{_detail(exc, found.ora)} {where}")
                continue
            doc = self.document_from_project(project)
            saved = project.meta.get("project_path")
            doc.project_path = Path(saved) if saved else None
            doc.unsaved_title = found.title                  # a sample keeps its name (it has no file)
            doc.restored = True
            self.window.set_document(doc)
            found.discard()
            self.recovery.save_now()          # keep it safe under this session's name
            self.banner.show_message(f"Restored “{doc.title}” from the autosave. Save it to keep it.", "info")
            return True
        return False


def _detail(exc: Exception, path: Path) -> str:
    """The error text without a leading repeat of the path."""
    text = str(exc)
    for prefix in (f"{path}: ", f"{path.name}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text
