"""Bundled models reach users of a wheel: they travel as data files and the app finds them
under the install prefix; a source checkout keeps using models/ beside the package."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from inpaint_studio import paths

REPO = Path(__file__).resolve().parents[1]


def test_a_checkout_uses_models_beside_the_package():
    assert paths.bundled_models_dir() == REPO / "models"


def test_an_installed_package_uses_the_prefix_copy(tmp_path, monkeypatch):
    site_packages = tmp_path / "lib" / "site-packages"
    (site_packages / "inpaint_studio").mkdir(parents=True)
    (site_packages / "models").mkdir()  # some other distribution's folder: not ours
    monkeypatch.setattr(paths, "PACKAGE_ROOT", site_packages / "inpaint_studio")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(paths.site, "getuserbase", lambda: str(tmp_path / "user"))
    assert paths.bundled_models_dir() == tmp_path / "venv" / paths.WHEEL_MODELS_SUBDIR
    (tmp_path / "user" / paths.WHEEL_MODELS_SUBDIR).mkdir(parents=True)  # a pip --user install
    assert paths.bundled_models_dir() == tmp_path / "user" / paths.WHEEL_MODELS_SUBDIR


@pytest.mark.slow
def test_the_wheel_carries_the_bundled_models(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "runs", "build", "*.egg-info", "__pycache__",
                                                             ".corpus", ".run", ".whl", "out", "models"))
    (src / "models").mkdir()
    (src / "models" / "demo.json").write_text("{}")
    (src / "models" / "demo.safetensors").write_bytes(b"weights")
    (src / "models" / "demo.discriminator.safetensors").write_bytes(b"discriminator")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("inpaint_studio-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    prefix = "/data/" + paths.WHEEL_MODELS_SUBDIR.as_posix()
    assert {n.split(".data", 1)[1] for n in names if ".data/" in n} == {
        f"{prefix}/demo.json", f"{prefix}/demo.safetensors", f"{prefix}/demo.discriminator.safetensors"}
    assert any(n == "trainer/EVENTS.md" for n in names)


def test_the_shipped_model_files_are_the_wheels_data_files():
    """What pyproject's data-files globs pick from models/: the bundled model's card, generator
    and discriminator (the wheel test above shows that the globs reach the wheel)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"][
        paths.WHEEL_MODELS_SUBDIR.as_posix()]
    shipped = {p.name for pattern in patterns for p in REPO.glob(pattern)}
    assert {"pennet-open-photos.json", "pennet-open-photos.safetensors",
            "pennet-open-photos.discriminator.safetensors"} <= shipped
