"""Inpainting from the window: Telea and a real PEN-Net model on the worker thread, result
layers, errors, cancel, and an event loop that keeps running while a job works."""
import threading
import time

import numpy as np
from PySide6.QtCore import QElapsedTimer, QTimer

from test_app_support import drag, photo, window  # noqa: F401 (fixture)

from inpaint_studio.app.editor.document import Document
from inpaint_studio.engine import InpaintError, InpaintResult


def setup_doc(window, w=160, h=120):
    window.set_document(Document.from_image(photo(w, h)))
    window.canvas.set_zoom(4.0)
    window.canvas.centerOn(w / 2, h / 2)
    window.set_tool("rect")
    drag(window, [(60, 40), (100, 80)])
    return window.document.mask().data.copy()


def wait_job(qtbot, window, timeout=60_000):
    qtbot.waitUntil(lambda: window.inpainting.job is None, timeout=timeout)


def check_result(window, before_rgb, hole):
    layers = window.result_layers()
    assert len(layers) == 1
    after, _ = window.document.flattened()
    outside = hole == 0
    assert np.array_equal(after[outside], before_rgb[outside])     # bit for bit outside the hole
    assert not np.array_equal(after[~outside], before_rgb[~outside])
    assert window.document.mask().data.max() == 0                  # the filled mask is cleared
    return layers[0]


def test_telea_result_layer_and_undo(window, qtbot):
    hole = setup_doc(window)
    before, _ = window.document.flattened()
    window.inpainting.set_engine("telea")
    with qtbot.waitSignal(window.result_added, timeout=30_000):
        window.actions["inpaint"].trigger()
    layer = check_result(window, before, hole)
    assert layer.rect == (60, 40, 40, 40) and "Telea" in layer.name
    assert window.layers_panel.list.count() == 3                  # mask row, result, image
    window.actions["undo"].trigger()                               # one step: layer and mask
    assert window.result_layers() == [] and np.array_equal(window.document.mask().data, hole)
    window.actions["redo"].trigger()
    assert len(window.result_layers()) == 1 and window.document.mask().data.max() == 0


def test_pennet_model_runs_in_the_worker(window, qtbot):
    from inpaint_studio.engine.registry import save_generator
    from inpaint_studio.network import PENNetGenerator

    info = save_generator(PENNetGenerator(), "Test net", {"training": {"note": "random weights"}})
    window.inpainting.refresh_engines()
    assert info.id in [e[0] for e in window.inpainting.engines]
    window.inpainting.set_engine(info.id)
    window.inpainting.set_device("cpu")
    hole = setup_doc(window, 128, 96)
    before, _ = window.document.flattened()
    main = threading.get_ident()
    seen = []
    real = window.inpainting.engine_factory

    def factory(engine_id, device):
        seen.append(threading.get_ident())
        return real(engine_id, device)

    window.inpainting.engine_factory = factory
    with qtbot.waitSignal(window.result_added, timeout=120_000):
        window.inpainting.inpaint()
    assert seen and seen[0] != main                     # the model was loaded off the GUI thread
    check_result(window, before, hole)
    assert window.device_label.text()


class SlowEngine:
    """Sleeps in small steps on the worker thread, reporting progress and honouring cancel."""

    def __init__(self, seconds=0.8):
        self.seconds = seconds
        self.finished = threading.Event()
        self.thread = None

    def inpaint(self, image, mask, options=None, progress=None, cancel=None):
        self.thread = threading.get_ident()
        steps = 20
        try:
            for i in range(steps):
                time.sleep(self.seconds / steps)
                if progress:
                    progress((i + 1) / steps, f"step {i + 1}")
            out = image.copy()
            out[mask > 0] = 0
            return InpaintResult(out, True, "slow done", device="cpu")
        finally:
            self.finished.set()


def test_event_loop_stays_responsive_while_a_job_runs(window, qtbot):
    setup_doc(window)
    engine = SlowEngine(0.8)
    window.inpainting.engine_factory = lambda *_: engine
    gaps, clock = [], QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick():
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    progress = []
    window.inpaint_panel.progress.valueChanged.connect(progress.append)
    with qtbot.waitSignal(window.result_added, timeout=10_000):
        window.inpainting.inpaint()
        assert window.inpainting.job is not None
        window.canvas.zoom_by(1)                          # the UI works during the job
    timer.stop()
    assert engine.thread != threading.get_ident()
    assert len(gaps) > 40                                  # ~80 ticks in 0.8 s
    assert max(gaps) < 150, f"GUI thread blocked for {max(gaps)} ms"
    assert len(progress) >= 5                              # progress arrived while running


def test_cancel_drops_the_result(window, qtbot):
    hole = setup_doc(window)
    engine = SlowEngine(0.6)
    window.inpainting.engine_factory = lambda *_: engine
    states = []
    window.job_state_changed.connect(states.append)
    job = window.inpainting.inpaint()
    qtbot.wait(100)
    window.actions["cancel"].trigger()
    assert window.inpainting.job is None and states[-1] == "cancelled"
    assert window.inpainting.inpaint_button.text().strip() == "Inpaint"
    qtbot.waitUntil(job.done.is_set, timeout=5000)
    qtbot.wait(50)                                          # let any queued signal arrive
    assert window.result_layers() == []
    assert np.array_equal(window.document.mask().data, hole)


def test_engine_errors_become_messages(window, qtbot):
    setup_doc(window)

    def no_model(engine_id, device):
        raise InpaintError("The model file is missing.")
    window.inpainting.engine_factory = no_model
    with qtbot.waitSignal(window.job_state_changed, check_params_cb=lambda s: s == "failed", timeout=5000):
        window.inpainting.inpaint()
    assert "model file is missing" in window.banner.text()

    class Broken:
        def inpaint(self, *a, **k):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
    window.inpainting.engine_factory = lambda *_: Broken()
    with qtbot.waitSignal(window.job_state_changed, check_params_cb=lambda s: s == "failed", timeout=5000):
        window.inpainting.inpaint()
    assert "Out of memory" in window.banner.text()
    assert window.document.mask().data.max() == 255        # nothing the user made is lost
    assert window.actions["inpaint"].isEnabled()


def test_empty_mask_gives_a_hint(window):
    window.set_document(Document.from_image(photo()))
    assert window.inpainting.inpaint() is None
    assert "Nothing to fill" in window.banner.text()


def test_feather_band_strategy_and_colour_matching_reach_the_engine(window, qtbot):
    hole = setup_doc(window)
    before, _ = window.document.flattened()
    window.inpaint_panel.feather.setValue(4)
    assert window.inpaint_panel.colour_adaptation.isChecked()    # on by default
    window.inpaint_panel.colour_adaptation.setChecked(False)
    assert window.settings.colour_adaptation is False            # remembered
    window.inpaint_panel.strategy.setCurrentIndex(window.inpaint_panel.strategy.findData("resize"))
    seen = {}
    from inpaint_studio.engine import create_engine

    class Spy:
        """Telea, plus a blend band like PEN-Net's feather (OpenCV leaves it untouched)."""
        def inpaint(self, image, mask, options=None, progress=None, cancel=None):
            seen["options"] = options
            result = create_engine("telea").inpaint(image, mask, options, progress, cancel)
            band = np.zeros(mask.shape, bool)
            band[40 - 4:80 + 4, 60 - 4:100 + 4] = True
            band &= mask == 0
            result.image[band] //= 2
            seen["image"] = result.image.copy()
            return result
    window.inpainting.engine_factory = lambda *_: Spy()
    with qtbot.waitSignal(window.result_added, timeout=30_000):
        window.inpainting.inpaint()
    assert seen["options"].feather == 4 and seen["options"].strategy == "resize"
    assert seen["options"].colour_adaptation is False
    after, _ = window.document.flattened()
    far = np.ones_like(hole, bool)
    far[40 - 5:80 + 5, 60 - 5:100 + 5] = False            # hole + feather band + 1
    assert np.array_equal(after[far], before[far])
    layer = window.result_layers()[0]
    assert layer.rect == (56, 36, 48, 48)                   # the band is part of the layer
    assert np.array_equal(after, seen["image"])             # the layers reproduce the engine output
