"""Reading and writing images and masks: real files of every kind, written with Pillow/OpenCV."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from inpaint_studio.imaging import (SUPPORTED_SUFFIXES, ImageError, format_keeps_alpha, probe_image,
                                    read_image, read_mask, write_image, write_mask)


@pytest.fixture
def files(tmp_path):
    """A clean folder (tmp_path also holds the per-test user home)."""
    folder = tmp_path / "files"
    folder.mkdir()
    return folder


def photo(h=48, w=64, seed=0):
    """A small photo-like image: gradients plus texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / w, yy * 255 / h, 128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)], -1)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def blocks(h=40, w=60):
    """Flat colour blocks: survive JPEG with small errors, and show any rotation."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (220, 30, 30)
    img[: h // 2, w // 2:] = (30, 220, 30)
    img[h // 2:, : w // 2] = (30, 30, 220)
    img[h // 2:, w // 2:] = (240, 240, 240)
    return img


# -- reading: formats and modes -------------------------------------------------------------------
@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_round_trip_every_format(files, suffix):
    img = photo()
    alpha = np.tile(np.linspace(0, 255, img.shape[1]).astype(np.uint8), (img.shape[0], 1))
    path = write_image(files / f"out{suffix}", img, alpha, quality=100)
    loaded = read_image(path)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == img.shape
    assert loaded.rgb.flags.writeable and loaded.rgb.flags.c_contiguous
    lossy = suffix in (".jpg", ".jpeg")
    assert np.abs(loaded.rgb.astype(int) - img).mean() < (4 if lossy else 0.5)
    if format_keeps_alpha(path):
        np.testing.assert_array_equal(loaded.alpha, alpha)
    else:
        assert loaded.alpha is None
    assert [p.name for p in files.iterdir()] == [path.name]  # no temporary file left


def test_exif_orientation_is_applied_and_reset_on_write(files):
    stored = blocks(40, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    exif[0x010F] = "TestCam"
    path = files / "rotated.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    loaded = read_image(path)
    upright = np.rot90(stored, k=-1)
    assert loaded.rgb.shape == upright.shape == (60, 40, 3)
    assert np.abs(loaded.rgb.astype(int) - upright).mean() < 6
    assert loaded.info["orientation"] == 6
    # written back upright with orientation 1: no second rotation on the next read, EXIF kept
    out = write_image(files / "back.jpg", loaded.rgb, info=loaded.info)
    again = read_image(out)
    assert again.rgb.shape == (60, 40, 3)
    assert Image.open(out).getexif()[0x010F] == "TestCam"


def test_16_bit_grey_png_and_tiff_are_scaled(files):
    values = np.array([[0, 257 * 100, 65535, 32768]], np.uint16).repeat(3, 0)
    for name in ("g16.png", "g16.tif"):
        Image.fromarray(values).save(files / name)
        loaded = read_image(files / name)
        assert loaded.info["bit_depth"] == 16
        np.testing.assert_array_equal(loaded.rgb[0, :, 0], [0, 100, 255, 128])
        assert (loaded.rgb[..., 0] == loaded.rgb[..., 2]).all()


def test_16_bit_rgb_png_keeps_its_colours(files):
    rgb16 = (photo().astype(np.uint16) * 257)
    cv2.imwrite(str(files / "rgb16.png"), rgb16[..., ::-1])
    loaded = read_image(files / "rgb16.png")
    assert loaded.info["bit_depth"] == 16
    np.testing.assert_array_equal(loaded.rgb, photo())


def test_float_tiffs(files):
    grey = np.linspace(0, 1, 32, dtype=np.float32).reshape(4, 8)
    Image.fromarray(grey, "F").save(files / "f.tif")
    loaded = read_image(files / "f.tif")
    np.testing.assert_array_equal(loaded.rgb[..., 1], np.rint(grey * 255).astype(np.uint8))
    colour = photo().astype(np.float32) / 255  # 3-channel float: Pillow cannot, OpenCV can
    cv2.imwrite(str(files / "f3.tif"), colour[..., ::-1])
    loaded = read_image(files / "f3.tif")
    assert np.abs(loaded.rgb.astype(int) - photo()).max() <= 1


def test_cmyk_jpeg_becomes_rgb(files):
    cmyk = np.zeros((16, 32, 4), np.uint8)
    cmyk[:, 16:, 0] = 255  # right half pure cyan, left half paper white
    Image.fromarray(cmyk, "CMYK").save(files / "cmyk.jpg", quality=100)
    loaded = read_image(files / "cmyk.jpg")
    assert loaded.info["mode"] == "CMYK" and loaded.alpha is None
    assert np.abs(loaded.rgb[8, 4].astype(int) - (255, 255, 255)).max() < 8
    assert np.abs(loaded.rgb[8, 28].astype(int) - (0, 255, 255)).max() < 8
    assert loaded.info["icc_profile"] is None


def test_palette_with_transparency(files):
    idx = np.zeros((10, 12), np.uint8)
    idx[:, 6:] = 1
    im = Image.fromarray(idx, "P")
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.save(files / "p.png", transparency=0)
    loaded = read_image(files / "p.png")
    assert (loaded.alpha[:, :6] == 0).all() and (loaded.alpha[:, 6:] == 255).all()
    assert (loaded.rgb[0, 8] == (0, 0, 255)).all()
    # without transparency: no alpha
    im.save(files / "p2.png")
    assert read_image(files / "p2.png").alpha is None


def test_la_and_l_modes(files):
    grey = np.arange(0, 240, 2, np.uint8).reshape(8, 15)
    alpha = np.full((8, 15), 77, np.uint8)
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(files / "la.png")
    loaded = read_image(files / "la.png")
    np.testing.assert_array_equal(loaded.alpha, alpha)
    np.testing.assert_array_equal(loaded.rgb[..., 0], grey)
    Image.fromarray(grey, "L").save(files / "l.bmp")
    loaded = read_image(files / "l.bmp")
    assert loaded.alpha is None and (loaded.rgb == grey[..., None]).all()


def test_rgb_icc_profile_is_kept(files):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(photo()).save(files / "icc.png", icc_profile=srgb)
    loaded = read_image(files / "icc.png")
    assert loaded.info["icc_profile"] == srgb
    write_image(files / "icc.webp", loaded.rgb, info=loaded.info)
    assert Image.open(files / "icc.webp").info.get("icc_profile") == srgb


# -- reading: errors ------------------------------------------------------------------------------
def test_corrupt_bytes(files):
    path = files / "noise.png"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(ImageError, match="noise.png.*not an image"):
        read_image(path)


def test_not_an_image_and_missing_file(files):
    (files / "notes.jpg").write_text("hello")
    with pytest.raises(ImageError, match="notes.jpg"):
        read_image(files / "notes.jpg")
    with pytest.raises(ImageError, match="missing.png: no such file"):
        read_image(files / "missing.png")
    with pytest.raises(ImageError, match="folder"):
        read_image(files)
    (files / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png: the file is empty"):
        read_image(files / "empty.png")
    assert issubclass(ImageError, ValueError)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file(files, suffix):
    full = files / f"full{suffix}"
    write_image(full, photo(120, 160))
    data = full.read_bytes()
    cut = files / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=rf"cut\{suffix}.*(truncated|damaged)"):
        read_image(cut)


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_probe_gives_the_size_and_rejects_damaged_files(files, suffix):
    path = write_image(files / f"ok{suffix}", photo(30, 50))
    assert probe_image(path) == (50, 30)
    if suffix in (".png", ".jpg"):
        data = path.read_bytes()
        cut = files / f"cut{suffix}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageError, match=rf"cut\{suffix}: (truncated|damaged)"):
            probe_image(cut)
    (files / f"text{suffix}").write_text("not an image")
    with pytest.raises(ImageError, match="not an image"):
        probe_image(files / f"text{suffix}")


def test_pixel_limit(files):
    path = write_image(files / "big.png", photo(100, 100))
    with pytest.raises(ImageError, match=r"big.png.*100x100.*limit of 0.0050 megapixels|big.png.*limit"):
        read_image(path, max_pixels=5000)  # our check (Pillow only warns here)
    with pytest.raises(ImageError, match="big.png.*too many pixels"):
        read_image(path, max_pixels=1000)  # Pillow's own guard, turned into our message
    assert read_image(path, max_pixels=None).rgb.shape == (100, 100, 3)
    from PIL import Image as PILImage
    assert PILImage.MAX_IMAGE_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)  # Pillow's guard restored


# -- masks ----------------------------------------------------------------------------------------
def test_mask_grey_and_noisy_jpeg(files):
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:40] = 255
    write_mask(files / "m.png", mask)
    np.testing.assert_array_equal(read_mask(files / "m.png", shape=(48, 64, 3)), mask)
    Image.fromarray(np.dstack([mask] * 3)).save(files / "m.jpg", quality=60)
    got = read_mask(files / "m.jpg")
    assert set(np.unique(got)) <= {0, 255}
    assert (got != mask).mean() < 0.01


def test_mask_rgba_rules(files):
    alpha = np.zeros((20, 30), np.uint8)
    alpha[5:15, 5:25] = 255
    # a uniform (black) layer painted with alpha: alpha decides
    layer = np.dstack([np.zeros((20, 30, 3), np.uint8), alpha])
    Image.fromarray(layer, "RGBA").save(files / "layer.png")
    np.testing.assert_array_equal(read_mask(files / "layer.png") > 0, alpha > 0)
    # white strokes, on transparent white: bright and opaque decides
    rgb = np.full((20, 30, 3), 255, np.uint8)
    rgb[:, :3] = 0
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(files / "strokes.png")
    np.testing.assert_array_equal(read_mask(files / "strokes.png") > 0, alpha > 0)
    # opaque RGBA: plain white = hole
    Image.fromarray(np.dstack([rgb, np.full((20, 30), 255, np.uint8)]), "RGBA").save(files / "opaque.png")
    assert (read_mask(files / "opaque.png")[:, 3:] == 255).all()


def test_mask_size_mismatch_is_named(files):
    write_mask(files / "m.png", np.zeros((48, 64), np.uint8))
    with pytest.raises(ImageError, match="mask is 64x48 but image is 80x60"):
        read_mask(files / "m.png", shape=(60, 80, 3))


# -- writing --------------------------------------------------------------------------------------
def test_write_errors(files):
    with pytest.raises(ImageError, match=r"unknown file type \('.gif'\)"):
        write_image(files / "x.gif", photo())
    with pytest.raises(ImageError, match="no suffix"):
        write_image(files / "x", photo())
    with pytest.raises(ImageError, match="does not exist"):
        write_image(files / "nope" / "x.png", photo())
    with pytest.raises(ImageError, match="uint8 HxWx3"):
        write_image(files / "x.png", photo().astype(np.float32))
    with pytest.raises(ImageError, match="alpha is"):
        write_image(files / "x.png", photo(), np.zeros((3, 3), np.uint8))
    assert list(files.iterdir()) == []


def test_write_replaces_atomically_and_keeps_umask_permissions(files):
    path = files / "out.png"
    write_image(path, photo(seed=1))
    write_image(path, photo(seed=2))
    np.testing.assert_array_equal(read_image(path).rgb, photo(seed=2))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in files.iterdir()] == ["out.png"]
