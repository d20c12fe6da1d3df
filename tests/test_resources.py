"""resources/: the icon's PNGs are the SVG rendered (not stale), the style sheet is the theme's
with every colour filled in, the samples are photos with a binary mask of their size and their
licences, and pyproject's data-files ship every file (the wheel test installs them)."""
import json
from pathlib import Path

import numpy as np
import pytest

from inpaint_studio import resources
from inpaint_studio.imaging import read_image, read_mask

REPO = Path(__file__).resolve().parents[1]


def qimage_rgba(image) -> np.ndarray:
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format_RGBA8888)
    data = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    return data.reshape(image.height(), image.bytesPerLine())[:, :image.width() * 4].reshape(
        image.height(), image.width(), 4).copy()


def test_the_icon_pngs_are_the_svg_rendered(qapp):
    import importlib.util

    from PySide6.QtGui import QImage

    spec = importlib.util.spec_from_file_location("render_icons", REPO / "tools" / "render_icons.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    for size in resources.ICON_SIZES:
        committed = QImage(str(resources.icon_png(size)))
        assert (committed.width(), committed.height()) == (size, size)
        drawn = qimage_rgba(tool.render(resources.icon_svg(), size)).astype(int)
        diff = np.abs(qimage_rgba(committed).astype(int) - drawn)
        assert diff.mean() < 1.0, f"{size} px: run python tools/render_icons.py"
        assert drawn[..., 3].max() == 255 and drawn[0, 0, 3] == 0         # opaque tile, transparent corner


def test_the_style_sheet_is_the_themes(qapp):
    from inpaint_studio.app.ui import theme

    text = theme.stylesheet()
    assert "$" not in text and theme.ACCENT in text and theme.PANEL in text

    class App:                   # the session's QApplication keeps its plain look for other tests
        def __getattr__(self, name):
            return lambda value: applied.setdefault(name, value)

    applied = {}
    theme.apply_dark_theme(App())
    assert applied["setStyleSheet"] == text and applied["setStyle"] == "Fusion"


def test_each_sample_is_a_photo_with_a_ready_mask_and_its_licence():
    samples = resources.samples()
    assert 2 <= len(samples) <= 3 and len({s.id for s in samples}) == len(samples)
    listing = json.loads((REPO / "resources" / "samples" / "samples.json").read_text())
    for sample, entry in zip(samples, listing):
        assert entry["corpus_file"].startswith("train/")       # the corpus's training split, never val/
        image = read_image(sample.photo)
        mask = read_mask(sample.mask, shape=image.rgb.shape)
        raw = read_image(sample.mask).rgb
        assert set(np.unique(raw)) <= {0, 255}                  # drawn binary: white = fill
        assert 0.002 < (mask > 0).mean() < 0.15, sample.id      # something to fill, most of the photo kept
        assert sample.task and sample.origin and sample.licence
        assert all(f.stat().st_size > 200 for f in sample.licence_files)


def test_a_missing_resource_names_its_file(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "resources_dir", lambda: tmp_path)
    with pytest.raises(resources.ResourceError, match="samples.json"):
        resources.samples()
    with pytest.raises(resources.ResourceError, match=r"dark\.qss"):
        resources.stylesheet()


def test_the_wheels_data_files_cover_every_resource():
    """Each file under resources/ is matched by the data-files line of its own folder (a file in
    a new subfolder would otherwise stay behind in the wheel)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    lines = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"]
    shipped = set()
    for target, patterns in lines.items():
        for pattern in patterns:
            for path in REPO.glob(pattern):
                assert target == f"share/inpaint-studio/{path.parent.relative_to(REPO).as_posix()}"
                shipped.add(path)
    files = {p for p in (REPO / "resources").rglob("*") if p.is_file()}
    assert files <= shipped, sorted(str(p.relative_to(REPO)) for p in files - shipped)
