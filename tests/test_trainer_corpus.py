"""The open photo corpus recipe: the photograph filter, near-duplicates, licences, errors.
(The download itself needs Debian's package servers and is exercised by `corpus build`.)"""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer.release import corpus, corpus_carry
from trainer.cli import main as trainer_main


def _photo(seed=0, size=(320, 300)):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([x * 0.5, y * 0.6, (x + y) * 0.3], -1) + rng.normal(0, 18, (size[1], size[0], 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def _scene(seed, size=(320, 300)):
    """A photo-like image whose layout differs with the seed (no near-duplicate of another seed)."""
    rng = np.random.default_rng(seed)
    layout = Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    noisy = np.asarray(layout, np.float32) + rng.normal(0, 18, (size[1], size[0], 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


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


def _corpus(root, train=(1, 2, 3), val=(4,), size=(640, 480)):
    for split, seeds in (("train", train), ("val", val)):
        (root / split).mkdir(parents=True)
        for s in seeds:
            _photo(s, size).save(root / split / f"p{s}.png")
    return root


def test_compressed_copy_keeps_every_photo_smaller_and_readable(tmp_path, capsys):
    _corpus(tmp_path / "c")
    assert trainer_main(["corpus", "compress", str(tmp_path / "c"), str(tmp_path / "small"),
                         "--format", "jpeg", "--quality", "80", "--short-side", "240"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == {"train": 3, "val": 1} and report["shards"] == 1
    assert report["bytes"]["total"] < report["bytes_before"]
    assert sorted(p.name for p in (tmp_path / "small" / "train").iterdir()) == ["p1.jpg", "p2.jpg", "p3.jpg"]
    with Image.open(tmp_path / "small" / "val" / "p4.jpg") as image:
        assert image.size == (320, 240) and image.format == "JPEG"
    assert json.loads((tmp_path / "small" / "carry.json").read_text()) == report
    assert trainer_main(["corpus", "compress", str(tmp_path / "c"), str(tmp_path / "webp"), "--short-side", "0"]) == 0
    with Image.open(tmp_path / "webp" / "train" / "p1.webp") as image:  # the default format
        assert image.size == (640, 480) and image.format == "WEBP"  # no cap: the size is kept
    capsys.readouterr()
    assert trainer_main(["corpus", "compress", str(tmp_path / "c"), str(tmp_path / "webp")]) == 0
    assert json.loads(capsys.readouterr().out)["short_side"] == corpus_carry.CARRY_SHORT_SIDE
    with Image.open(tmp_path / "webp" / "train" / "p1.webp") as image:
        assert image.size == (640, 480)  # below the cap: never enlarged
    assert trainer_main(["corpus", "compress", str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    assert "build the corpus first" in capsys.readouterr().err


def test_compress_never_replaces_a_folder_that_is_not_a_carried_copy(tmp_path, capsys):
    _corpus(tmp_path / "c")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert trainer_main(["corpus", "compress", str(tmp_path / "c"), str(tmp_path / "mine")]) == 2
    assert "not a carried corpus" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert trainer_main(["corpus", "compress", str(tmp_path / "c"), str(tmp_path / "c" / "inside")]) == 2


def test_a_corpus_over_the_budget_travels_in_shards_that_each_fit(tmp_path, capsys):
    _corpus(tmp_path / "c", train=tuple(range(1, 9)), val=(20,), size=(320, 256))
    one = corpus_carry.encode(tmp_path / "c" / "train" / "p1.png", "jpeg", 85, None)
    budget_mib = 3.2 * len(one) / corpus_carry.MIB  # val and about two train photos
    seen = []
    for window in (0, 1, 2, 3, 4):
        report = corpus_carry.compress(tmp_path / "c", tmp_path / "carry", fmt="jpeg", budget_mib=budget_mib, window=window)
        assert report["shards"] >= 3 and report["shard"] == window % report["shards"]
        assert max(report["shard_bytes"]) <= report["budget_bytes"] and report["bytes"]["total"] <= report["budget_bytes"]
        on_disk = sum(f.stat().st_size for f in (tmp_path / "carry").rglob("*.jpg"))
        assert on_disk == report["bytes"]["total"]
        assert [p.name for p in (tmp_path / "carry" / "val").iterdir()] == ["p20.jpg"]  # val in every shard
        seen.append(sorted(p.name for p in (tmp_path / "carry" / "train").iterdir()))
    shards = report["shards"]
    assert sorted(n for names in seen[:shards] for n in names) == [f"p{i}.jpg" for i in range(1, 9)]
    assert seen[shards] == seen[0]  # the rotation repeats: window K gets shard 0 again
    assert trainer_main(["corpus", "compress", str(tmp_path / "c"), str(tmp_path / "one"), "--format", "jpeg",
                         "--budget-mib", f"{budget_mib}", "--shards", "1"]) == 2
    assert f"need {shards} shards" in capsys.readouterr().err and not (tmp_path / "one").exists()


def test_check_carry_sets_a_blurred_copy_apart_from_jpeg_noise(tmp_path, capsys):
    from PIL import ImageFilter

    _corpus(tmp_path / "c", size=(400, 300))
    assert trainer_main(["corpus", "compress", str(tmp_path / "c"), str(tmp_path / "q85"), "--format", "jpeg"]) == 0
    (tmp_path / "blur" / "train").mkdir(parents=True)
    for path in (tmp_path / "c" / "train").iterdir():
        with Image.open(path) as image:
            image.filter(ImageFilter.GaussianBlur(2)).save(tmp_path / "blur" / "train" / f"{path.stem}.jpg", quality=95)
    capsys.readouterr()
    assert trainer_main(["corpus", "check-carry", str(tmp_path / "c"), str(tmp_path / "q85"),
                         "--samples", "6", "--size", "64"]) == 0
    table = capsys.readouterr().out
    assert "loader statistics: 6 samples of 64 px from 3 photos" in table and "HF energy" in table
    fine = corpus_carry.check_carry(tmp_path / "c", tmp_path / "q85", samples=6, size=64)["columns"]
    blurred = corpus_carry.check_carry(tmp_path / "c", tmp_path / "blur", samples=6, size=64)["columns"]
    row = f"HF energy >{corpus_carry.HIGH_FREQUENCY:g}"
    jpeg_noise = abs(fine["jpeg q85"][row] - fine["original"][row])
    assert abs(fine["carried"][row] - fine["original"][row]) < 0.2 * fine["original"][row]
    assert abs(blurred["carried"][row] - blurred["original"][row]) > max(10 * jpeg_noise, 0.5 * fine["original"][row])
    assert trainer_main(["corpus", "check-carry", str(tmp_path / "c"), str(tmp_path / "nothing")]) == 2


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


def test_the_reserved_wallpapers_are_refused_before_anything_is_fetched(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(corpus, "_run", lambda cmd, what, cwd=None: calls.append(cmd))
    assert trainer_main(["corpus", "build", str(tmp_path / "c"), "--package", "plasma-workspace-wallpapers"]) == 2
    err = capsys.readouterr().err
    assert "plasma-workspace-wallpapers: reserved for the product owner's held-out evaluation" in err
    monkeypatch.setattr(corpus, "DEBIAN_PACKAGES", corpus.DEBIAN_PACKAGES + ["plasma-workspace-wallpapers"])
    monkeypatch.setattr(corpus, "DEBIAN_PREFIXES", [])
    with pytest.raises(corpus.CorpusError, match="plasma-workspace-wallpapers: reserved"):
        corpus.fetch(tmp_path / "c", print)
    assert calls == [] and not (tmp_path / "c").exists()


def test_photo_members_pick_the_photographs_of_a_mixed_package():
    assert corpus.is_photo_member("lxqt-themes", "usr/share/lxqt/wallpapers/fog.jpg")
    assert not corpus.is_photo_member("lxqt-themes", "usr/share/lxqt/wallpapers/triangles-logo.png")
    assert not corpus.is_photo_member("lxqt-themes", "usr/share/lxqt/themes/silver/beam.png")
    assert corpus.is_photo_member("gimp-help-en", "usr/share/gimp/2.0/help/en/images/filters/examples/taj_orig.jpg")
    assert not corpus.is_photo_member("gimp-help-en", "usr/share/gimp/2.0/help/en/images/filters/examples/blur-taj-gauss.jpg")
    assert corpus.is_photo_member("opencv-doc", "anything/at/all.png")  # unlisted: every member


def test_a_doc_folder_linked_to_a_sibling_package_takes_its_licence_from_there(tmp_path):
    help_en, common = tmp_path / "unpacked" / "gimp-help-en", tmp_path / "unpacked" / "gimp-help-common"
    (help_en / "usr" / "share" / "doc").mkdir(parents=True)
    (help_en / "usr" / "share" / "doc" / "gimp-help-en").symlink_to("gimp-help-common")
    _copyright(common, "gimp-help-common", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
               "Files: *\nCopyright: the GIMP documentation team\nLicense: GFDL-1.2+\n")
    assert corpus.licence_for("gimp-help-en", help_en, "usr/share/gimp/2.0/help/en/images/taj_orig.jpg") == \
        "GFDL-1.2+ (per /usr/share/doc/gimp-help-common/copyright)"


def test_a_wheel_without_a_readme_entry_gives_its_own_licence(tmp_path):
    (tmp_path / "imgaug-0.4.0.dist-info").mkdir()
    (tmp_path / "imgaug-0.4.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: imgaug\nLicense: MIT\nClassifier: License :: OSI Approved :: MIT License\n\nlong text")
    assert corpus.licence_for("imgaug", tmp_path, "imgaug/quokka.jpg") == \
        "MIT License (the imgaug wheel's licence; it names no other terms for this image)"
    assert not corpus.free_licence(corpus.licence_for("other", tmp_path / "nothing", "x.jpg"))


@pytest.mark.parametrize("licence, free", [
    ("GPL-2+ (per /usr/share/doc/x/copyright)", True), ("CC-BY-SA-3.0", True), ("CC0", True), ("Expat", True),
    ("Apache-2.0 AND BSD-3-Clause", True), ("GFDL-1.2+", True), ("CC-BY-NC-4.0", False), ("CC-BY-ND-3.0", False),
    ("see copyright file (per /usr/share/doc/x/copyright)", False), ("Proprietary, all rights reserved", False)])
def test_only_licences_that_allow_redistribution_pass(licence, free):
    assert corpus.free_licence(licence) is free


def test_near_duplicates_need_more_than_the_horizontal_hash():
    x = np.linspace(0, np.pi, 320)
    columns = np.sin(x)[None, :, None] * 200 + 20
    flat = Image.fromarray(np.repeat(np.repeat(columns, 300, 0), 3, 2).astype(np.uint8))   # bright middle column
    ramp = np.linspace(0.2, 1.0, 300)[:, None, None] * columns * np.array([1.0, 0.5, 0.2])  # same, darker above, orange
    lookalike = Image.fromarray(ramp.astype(np.uint8))
    assert corpus.difference_hash(flat) == corpus.difference_hash(lookalike)
    entries = [corpus.Entry("p", "1", n, "", "", 320, 300, True, "photograph") for n in ("a", "b")]
    corpus._drop_duplicates(entries, {0: corpus.difference_hash(flat), 1: corpus.difference_hash(lookalike)},
                            {0: corpus.confirmation(flat), 1: corpus.confirmation(lookalike)})
    assert [e.kept for e in entries] == [True, True]
    small = flat.resize((160, 150))
    entries = [corpus.Entry("p", "1", n, "", "", *im.size, True, "photograph") for n, im in (("a", flat), ("b", small))]
    corpus._drop_duplicates(entries, {0: corpus.difference_hash(flat), 1: corpus.difference_hash(small)},
                            {0: corpus.confirmation(flat), 1: corpus.confirmation(small)})
    assert [e.kept for e in entries] == [True, False]


def _package(root, name, files, licence="GPL-2+"):
    """An unpacked fake package: {member: image} under root/unpacked/name, with a DEP-5 copyright."""
    folder = root / "unpacked" / name
    for member, image in files.items():
        (folder / member).parent.mkdir(parents=True, exist_ok=True)
        image.save(folder / member)
    _copyright(folder, name, f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
               f"Files: *\nCopyright: someone\nLicense: {licence}\n")
    return name, "1.0", folder


def test_a_build_keeps_each_sources_photos_with_origin_licence_and_the_previous_split(monkeypatch, tmp_path):
    root = tmp_path / "c"
    drawing = Image.new("RGB", (400, 300), (200, 30, 30))
    sources = [
        _package(root, "lxqt-themes", {"usr/share/lxqt/wallpapers/a.png": _scene(1),
                                       "usr/share/lxqt/wallpapers/b-logo.png": _scene(2),  # excluded by name
                                       "usr/share/lxqt/wallpapers/c.png": drawing}),         # not a photo
        _package(root, "tuxpaint-data", {f"usr/share/tuxpaint/templates/t{i}.png": _scene(10 + i) for i in range(6)}),
        _package(root, "nonfree-pics", {"p.png": _scene(30)}, licence="CC-BY-NC-4.0"),
    ]
    monkeypatch.setattr(corpus, "fetch", lambda root, log, extra=(): sources)
    summary = corpus.build(root, log=lambda m: None)
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    kept = {r["member"]: r for r in rows if r["kept"]}
    assert set(kept) == {"usr/share/lxqt/wallpapers/a.png"} | {f"usr/share/tuxpaint/templates/t{i}.png" for i in range(6)}
    a = kept["usr/share/lxqt/wallpapers/a.png"]
    assert (a["source"], a["version"], a["licence"]) == ("lxqt-themes", "1.0", "GPL-2+ (per /usr/share/doc/lxqt-themes/copyright)")
    assert (root / a["file"]).is_file() and a["file"].startswith(a["split"] + "/")
    reasons = {r["member"]: r["reason"] for r in rows if not r["kept"]}
    assert reasons["usr/share/lxqt/wallpapers/c.png"].startswith("few colours")
    assert reasons["p.png"].startswith("licence (CC-BY-NC-4.0") and "b-logo" not in str(reasons)
    assert summary["by_source_split"]["tuxpaint-data"]["train"] + summary["by_source_split"]["tuxpaint-data"]["val"] == 6
    assert summary["dropped"]["licence"] == 1
    # a later build keeps every photo where the earlier one put it, whatever the hash now says
    flipped = [{**r, "split": {"train": "val", "val": "train"}[r["split"]]} if r["kept"] else r for r in rows]
    (tmp_path / "earlier.jsonl").write_text("".join(json.dumps(r) + "\n" for r in flipped))
    again = corpus.build(root, log=lambda m: None, previous=tmp_path / "earlier.jsonl")
    now = {json.loads(line)["member"]: json.loads(line)["split"] for line in (root / "manifest.jsonl").read_text().splitlines()
           if json.loads(line)["kept"]}
    assert now == {m: {"train": "val", "val": "train"}[r["split"]] for m, r in kept.items()}
    assert again["pinned_from_previous"] == 7
    assert sorted(p.name for p in (root / "val").iterdir()) == sorted(
        Path(kept[m]["file"]).name for m in kept if kept[m]["split"] == "train")
