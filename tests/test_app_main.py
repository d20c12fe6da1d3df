"""Starting the app, the Model menu and its hooks."""
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication

from test_app_support import answer_each_with_escape, photo_path, window  # noqa: F401 (fixtures)

from inpaint_studio.app import main
from inpaint_studio.app.editor.main_window import MainWindow


def test_main_opens_the_command_line_image(qtbot, photo_path, monkeypatch):
    monkeypatch.setattr(QApplication, "exec", lambda self=None: (QApplication.processEvents(), 0)[1])
    shown = []  # main() drops its window when exec() returns; keep it for the checks
    original_show = MainWindow.show
    monkeypatch.setattr(MainWindow, "show", lambda self: (shown.append(self), original_show(self))[1])
    assert main(["inpaint-studio", str(photo_path)]) == 0
    assert len(shown) == 1
    win = shown[0]
    qtbot.addWidget(win)
    assert win.document is not None and win.document.source_path == photo_path
    assert win.isVisible() and win.windowTitle().startswith("photo.png")


def test_model_menu_lists_engines_and_takes_plugins(window, qtbot):
    from inpaint_studio.engine.registry import save_generator
    from inpaint_studio.network import PENNetGenerator

    menu = window.menus["model"]
    texts = [a.text() for a in menu.actions()]
    assert any("Telea" in t for t in texts) and any("Navier" in t for t in texts)
    hook = QAction("Manage Models…", window)
    window.add_model_action(hook, rank=50)
    second = QAction("Fine-tune…", window)
    window.add_model_action(second, rank=40)                # placed by rank, not by arrival
    actions = menu.actions()
    assert actions.index(second) < actions.index(hook) < actions.index(window.actions["inpaint"])
    with qtbot.waitSignal(window.engines_changed):
        info = save_generator(PENNetGenerator(), "Fresh model", {})
        window.inpainting.refresh_engines()
    assert window.inpainting.engine_combo.findData(info.id) >= 0
    assert any(a.data() == info.id for a in window.inpainting.engine_group.actions())
    assert menu.actions().index(hook) > 0                     # plug-ins survive a refresh
    window.inpainting.set_engine(info.id)
    assert window.settings.engine_id == info.id
    assert window.inpaint_panel.device.isEnabled() and window.inpaint_panel.colour_adaptation.isEnabled()
    window.inpainting.set_engine("telea")
    assert not window.inpaint_panel.device.isEnabled() and "no model" in window.device_label.text()
    assert not window.inpaint_panel.colour_adaptation.isEnabled()
    assert any("PatchMatch" in t for t in [a.text() for a in menu.actions()])


def test_real_prompter_dialogs_open_and_close(window, tmp_path):
    """Each modal question of the real Prompter opens and backs out cleanly (Escape)."""
    from inpaint_studio.app.ui.dialogs import Prompter

    prompter = Prompter(window)
    opened, answers = answer_each_with_escape([
        lambda: prompter.open_path(str(tmp_path)),
        lambda: prompter.save_path(str(tmp_path / "x.ora")),
        lambda: prompter.unsaved_changes("photo.png"),
        lambda: prompter.confirm("Overwrite?", "Really?"),
        lambda: prompter.restore("photo.png", "2024-01-01 10:00"),
        lambda: prompter.integer("Grow", "px", 8, 1, 100),
        lambda: prompter.color((255, 0, 0)),
        lambda: prompter.show_text("Shortcuts", "<b>B</b> brush")])
    assert len(opened) == 8
    assert answers[:7] == [None, None, "cancel", False, False, None, None]


def test_plug_in_tool_paints_its_own_mask_and_close_guard(window):
    """How a later "copy from here" source tool plugs in: its own mask key and colour."""
    import numpy as np
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from inpaint_studio.app.editor.document import Document
    from inpaint_studio.app.editor.mask_tools import RectTool
    from test_app_support import drag, photo

    class SourceRect(RectTool):
        id, label, shortcut = "source_rect", "Source rectangle", "Q"   # S is the clone stamp
        mask_key, mask_name, mask_color = "source", "Copy from here", (80, 200, 120)

    window.add_tool(SourceRect)
    window.set_document(Document.from_image(photo()))
    window.canvas.set_zoom(4.0)
    window.canvas.centerOn(80, 60)
    QTest.keyClick(window, Qt.Key_Q)
    assert window.tool.id == "source_rect"
    drag(window, [(10, 10), (40, 30)])
    source = window.document.masks["source"]
    assert source.data[20, 20] == 255 and window.document.mask().data.max() == 0
    assert "Copy from here" in [window.layers_panel.list.item(r).text() for r in range(window.layers_panel.list.count())]
    assert window.canvas.mask_items["source"].isVisible()
    options = window.inpainting.options()
    assert options.source is not None and np.array_equal(options.source, source.data)
    window.document.undo_stack.undo()
    assert source.data.max() == 0
    window.close_guards.append(lambda: False)
    assert not window.close() and window.isVisible()
    window.close_guards.clear()


def test_features_plug_in_the_same_whatever_their_order(window, qtbot):
    """Features use hooks (ranked menu sections, tools by rank, option providers, engine sources),
    never replace the window's methods: installed in reverse, the editor is the same."""
    import numpy as np

    from inpaint_studio.app.editor.document import Document
    from inpaint_studio.app.features import FEATURES
    from test_app_support import make_window, photo

    reverse = make_window(qtbot, features=dict(reversed(FEATURES.items())))
    assert list(reverse.features) == list(reversed(FEATURES)) and set(reverse.features) == set(window.features)

    def layout(w):
        menus = {name: [a.text() for a in m.actions() if a.isVisible()] for name, m in w.menus.items()}
        return menus, [[a.text() for a in bar.actions()] for bar in w.toolbars.values()]

    assert layout(reverse) == layout(window)
    for w in (window, reverse):
        w.set_document(Document.from_image(photo()))
        w.ensure_mask("source", "Source region").data[10:20, 10:20] = 255
        w.actions["attention_view"].setChecked(True)
    a, b = window.inpainting.options(), reverse.inpainting.options()
    assert a.return_flow and b.return_flow and np.array_equal(a.source, b.source) and a.source.any()
    assert "Clear Source Region" in layout(window)[0]["tools"]
    for w in (window, reverse):
        assert not hasattr(w, "learn_photo") and not hasattr(w, "attention_view")   # no attributes planted
