"""Project files (.ora) from anywhere: every malformed file is one ProjectError naming the file,
sizes are checked before anything is decoded, and a fuzzer finds no other exception."""
import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ora_samples import BAD_ORA, make_ora, one_layer, png, stack_xml, valid_ora

from inpaint_studio.app.document import project as project_module
from inpaint_studio.app.document.project import ProjectError, read_ora

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("case", sorted(BAD_ORA))
def test_every_malformed_project_is_one_clear_error(tmp_path, case):
    path = tmp_path / "project.ora"
    BAD_ORA[case](path)
    with pytest.raises(ProjectError) as caught:
        read_ora(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert " object at 0x" not in text and "Traceback" not in text


def test_valid_sample_reads(tmp_path):
    project = read_ora(valid_ora(tmp_path / "ok.ora"))
    assert (project.width, project.height) == (8, 6) and project.layers[0].rgb[0, 0, 0] == 120


def test_duplicate_mask_keys_keep_the_topmost(tmp_path):
    ns = 'xmlns:i="urn:inpaint-studio:openraster:1"'
    top, below = np.zeros((6, 8), np.uint8), np.full((6, 8), 255, np.uint8)
    path = make_ora(tmp_path / "dup.ora", stack_xml(
        f'<layer src="data/m1.png" {ns} i:role="mask" i:key="hole"/>'
        f'<layer src="data/m2.png" {ns} i:role="mask" i:key="hole"/><layer src="data/a.png"/>'),
        {"data/m1.png": png(top), "data/m2.png": png(below), "data/a.png": png(np.zeros((6, 8, 3), np.uint8))})
    masks = read_ora(path).masks
    assert [m.key for m in masks] == ["hole"] and masks[0].data.max() == 0


# -- memory: sizes are checked before decompressing or decoding ---------------------------------
def test_a_zip_bomb_stack_is_refused_from_its_declared_size(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_STACK_BYTES", 1 << 20)
    path = make_ora(tmp_path / "bomb.ora", one_layer() + " " * (3 << 20), compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 20_000
    with pytest.raises(ProjectError, match="stack.xml' is 3 MB unpacked"):
        read_ora(path)


def test_layers_sharing_one_large_png_are_refused_before_any_decoding(tmp_path, monkeypatch):
    big = png(np.zeros((1000, 1000, 3), np.uint8))               # a few KB, a megapixel each time
    layers = "".join(f'<layer name="l{i}" src="data/big.png"/>' for i in range(40))
    path = make_ora(tmp_path / "shared.ora", stack_xml(layers, w="1000", h="1000"), {"data/big.png": big})
    monkeypatch.setattr(project_module, "MAX_TOTAL_PIXELS", 20_000_000)

    def decode(*_):
        raise AssertionError("a layer was decoded before the total was checked")
    monkeypatch.setattr(project_module, "_read_png", decode)
    with pytest.raises(ProjectError, match="40 megapixels together, more than the limit of 20"):
        read_ora(path)


def test_a_layer_member_far_larger_than_its_pixels_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "PNG_EXTRA_BYTES", 4096)
    padded = png(np.zeros((2, 2, 3), np.uint8)) + bytes(100_000)  # junk after IEND
    path = make_ora(tmp_path / "padded.ora", stack_xml('<layer src="data/a.png"/>', w="2", h="2"),
                    {"data/a.png": padded}, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ProjectError, match="far more than a 2x2 PNG needs"):
        read_ora(path)


def test_a_layer_over_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    monkeypatch.setattr(project_module, "MAX_PIXELS", 10_000)
    path = make_ora(tmp_path / "wide.ora", stack_xml('<layer src="data/a.png"/>', w="50", h="50"),
                    {"data/a.png": png(np.zeros((10, 2000), np.uint8))})
    with pytest.raises(ProjectError, match="too large \\(2000x10\\)"):
        read_ora(path)


# -- fuzzing ------------------------------------------------------------------------------------
def _read_or_project_error(path):
    try:
        project = read_ora(path)
    except ProjectError as exc:
        assert str(exc).startswith(str(path))
        return None
    assert project.layers and project.layers[0].rgb.shape[:2] == (project.height, project.width)
    assert all(m.data.shape == (project.height, project.width) for m in project.masks)
    return project


def _sample_bytes() -> bytes:
    buf = io.BytesIO()
    ns = 'xmlns:i="urn:inpaint-studio:openraster:1"'
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", "image/openraster")
        zf.writestr("stack.xml", stack_xml(
            f'<stack><layer src="data/m.png" {ns} i:role="mask" i:key="hole" i:opacity="0.5"/></stack>'
            '<layer name="top" src="data/b.png" x="2" y="1" opacity="0.5"/><layer src="data/a.png"/>'),
            compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("data/m.png", png(np.eye(6, 8, dtype=np.uint8) * 255))
        zf.writestr("data/b.png", png(np.full((3, 3, 4), 200, np.uint8)), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("data/a.png", png(np.arange(144, dtype=np.uint8).reshape(6, 8, 3)))
    return buf.getvalue()


SAMPLE = _sample_bytes()


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.integers(0, len(SAMPLE))))
def test_fuzz_byte_mutations_of_a_valid_project(tmp_path, edits, cut):
    data = bytearray(SAMPLE)
    for at, value in edits:
        data[at] = value
    path = tmp_path / "fuzz.ora"
    path.write_bytes(bytes(data[:cut] if cut is not None else data))
    _read_or_project_error(path)


NUMBERS = st.one_of(st.sampled_from(["inf", "-inf", "nan", "1e400", "-0", "1e9", "0x10", "", " 3 ", "2.5", "-7"]),
                    st.integers(-10**12, 10**12).map(str), st.floats().map(str), st.text(max_size=8))


@FUZZ
@given(w=NUMBERS, h=NUMBERS, x=NUMBERS, y=NUMBERS, opacity=NUMBERS, mask_opacity=NUMBERS,
       src=st.sampled_from(["data/a.png", "data/m.png", "", "data/", "../a.png", "mimetype", "stack.xml"]),
       role=st.sampled_from(["mask", "image", "result", "paint", "", "x"]), depth=st.integers(0, 150),
       color=st.text(max_size=8))
def test_fuzz_stack_xml_attributes(tmp_path, w, h, x, y, opacity, mask_opacity, src, role, depth, color):
    from xml.sax.saxutils import quoteattr as q

    ns = 'xmlns:i="urn:inpaint-studio:openraster:1"'
    layer = (f'<layer {ns} src={q(src)} x={q(x)} y={q(y)} opacity={q(opacity)} i:role={q(role)} '
             f'i:opacity={q(mask_opacity)} i:color={q(color)}/>')
    xml = (f'<image w={q(w)} h={q(h)}><stack>{"<stack>" * depth}{layer}{"</stack>" * depth}'
           '<layer src="data/a.png"/></stack></image>')
    path = make_ora(tmp_path / "attrs.ora", xml, {"data/a.png": png(np.zeros((6, 8, 3), np.uint8)),
                                                  "data/m.png": png(np.zeros((6, 8), np.uint8))})
    _read_or_project_error(path)


def test_saving_removes_what_a_killed_save_left_beside_the_project(tmp_path):
    from inpaint_studio.app.document.project import write_ora

    project = read_ora(valid_ora(tmp_path / "source.ora"))
    dead = tmp_path / f".kept.ora.{2**22 + 99}-0123abcd.tmp"
    dead.write_bytes(b"PK half a zip")
    write_ora(tmp_path / "kept.ora", project)
    assert not dead.exists() and read_ora(tmp_path / "kept.ora").width == 8
    assert not list(tmp_path.glob(".*.tmp"))
