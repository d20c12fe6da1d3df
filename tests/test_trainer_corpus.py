"""The open photo corpus recipe: the photograph filter, near-duplicates, licences, errors.
(The download itself needs Debian's package servers and is exercised by `corpus build`.)"""
import numpy as np
import pytest
from PIL import Image

from trainer.release import corpus
from trainer.cli import main as trainer_main


def _photo(seed=0, size=(320, 300)):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([x * 0.5, y * 0.6, (x + y) * 0.3], -1) + rng.normal(0, 18, (size[1], size[0], 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def _copyright(root, package, text):
    """A package's /usr/share/doc/PACKAGE/copyright under root, as apt-get download unpacks it."""
    doc = root / "usr" / "share" / "doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(text)


def test_filter_keeps_photographs_and_drops_art_icons_and_small_images():
    assert corpus.photo_verdict(_photo(), 256) == (True, "photograph")
    assert corpus.photo_verdict(_photo(size=(200, 150)), 256)[1].startswith("too small")
    flat = Image.new("RGB", (400, 300), (30, 90, 200))
    flat.paste((240, 240, 240), (100, 80, 300, 220))
    assert corpus.photo_verdict(flat, 256)[1].startswith("few colours")
    icon = _photo().convert("RGBA")
    icon.putalpha(Image.new("L", icon.size, 0))
    assert corpus.photo_verdict(icon, 256)[1].startswith("transparent")


def test_opaque_band_keeps_the_ground_under_a_transparent_sky():
    pano = _photo(size=(512, 400)).convert("RGBA")
    alpha = np.full((400, 512), 255, np.uint8)
    alpha[:150] = 0
    pano.putalpha(Image.fromarray(alpha))
    band = corpus._opaque_band(pano)
    assert band.size == (512, 250) and band.mode == "RGB"
    assert corpus._opaque_band(_photo()) is None


def test_near_duplicates_keep_the_largest_copy():
    big, small = _photo(1, (640, 600)), _photo(1, (640, 600)).resize((320, 300))
    waves = (np.sin(np.arange(300)[:, None] / 9.0) * np.cos(np.arange(320)[None] / 5.0) + 1) * 120
    other = Image.fromarray(np.repeat(waves[..., None], 3, -1).astype(np.uint8))  # different content
    entries = [corpus.Entry("p", "1", name, "", "", *im.size, True, "photograph")
               for name, im in (("small", small), ("big", big), ("other", other))]
    hashes = {i: corpus.difference_hash(im) for i, im in enumerate((small, big, other))}
    corpus._drop_duplicates(entries, hashes)
    assert [e.kept for e in entries] == [False, True, True]
    assert entries[0].reason == "near-duplicate of p/big"


def test_licence_comes_from_the_matching_dep5_stanza(tmp_path):
    _copyright(
        tmp_path, "pkg",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: someone\nLicense: GPL-2+\n\n"
        "Files: backgrounds/photos/*\nCopyright: a photographer\nLicense: CC-BY-SA-4.0\n")
    assert corpus.licence_for("pkg", tmp_path, "usr/share/backgrounds/photos/lake.jpg").startswith("CC-BY-SA-4.0")
    assert corpus.licence_for("pkg", tmp_path, "usr/share/backgrounds/art/x.png").startswith("GPL-2+")


def test_a_failed_fetch_is_one_line_not_a_traceback(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(corpus, "debian_package_names", lambda: ["no-such-package-xyz"])
    monkeypatch.setattr(corpus, "_run", lambda cmd, what, cwd=None: (_ for _ in ()).throw(corpus.CorpusError(f"{what} failed")))
    assert trainer_main(["corpus", "build", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: apt-get download no-such-package-xyz") and "Traceback" not in err


def test_missing_tool_is_named():
    with pytest.raises(corpus.CorpusError, match="'no-such-tool-xyz' is not installed"):
        corpus._run(["no-such-tool-xyz"], "fetching")


def test_importing_the_recipe_leaves_pillows_pixel_guard_alone():
    import importlib

    before = Image.MAX_IMAGE_PIXELS
    importlib.reload(corpus)
    assert Image.MAX_IMAGE_PIXELS == before


def test_compressed_copy_keeps_every_photo_smaller_and_readable(tmp_path, capsys):
    for split, seeds in (("train", (1, 2, 3)), ("val", (4,))):
        (tmp_path / "c" / split).mkdir(parents=True)
        for s in seeds:
            _photo(s, (640, 480)).save(tmp_path / "c" / split / f"p{s}.png")
    assert trainer_main(["corpus", "compress", str(tmp_path / "c"), str(tmp_path / "small"),
                         "--quality", "80", "--max-side", "320"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 4 and report["bytes_after"] < report["bytes_before"]
    assert sorted(p.name for p in (tmp_path / "small" / "train").iterdir()) == ["p1.jpg", "p2.jpg", "p3.jpg"]
    with Image.open(tmp_path / "small" / "val" / "p4.jpg") as image:
        assert image.size == (320, 240) and image.format == "JPEG"
    assert trainer_main(["corpus", "compress", str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    assert "build the corpus first" in capsys.readouterr().err


def test_free_form_copyright_files_name_each_listed_image_and_the_general_gpl(tmp_path):
    _copyright(
        tmp_path, "gnome-backgrounds",
        "Image Authors:\n\n - adwaita*\n - Chmiri.jpg:\n   Copyright 2011 Someone\n"
        "   Licensed under Creative Commons Attribution-ShareAlike 3.0 License.\n\n"
        " - Stones.jpg:\n   Licensed under Creative Commons Attribution 2.0 License.\n\nLicenses:\n\n"
        "   This package is free software; you can redistribute it and/or modify\n   it under the terms of the "
        "GNU General Public License as published by\n   the Free Software Foundation; either version 2 of the "
        "License, or\n   (at your option) any later version.\n")
    at = "usr/share/backgrounds/gnome/"
    per = " (per /usr/share/doc/gnome-backgrounds/copyright)"
    assert corpus.licence_for("gnome-backgrounds", tmp_path, at + "adwaita-d.webp") == \
        "Creative Commons Attribution-ShareAlike 3.0 License" + per
    assert corpus.licence_for("gnome-backgrounds", tmp_path, at + "Stones.jpg") == \
        "Creative Commons Attribution 2.0 License" + per
    assert corpus.licence_for("gnome-backgrounds", tmp_path, at + "truchet-l.webp") == "GPL-2+" + per
