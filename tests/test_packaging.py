"""Bundled models and resources/ reach users of a wheel: they travel as data files and the app
finds them under the install prefix; a source checkout keeps using the folders beside the package."""
import json
import os
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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of this checkout whose models/ holds a demo model (built once)."""
    pytest.importorskip("setuptools")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", "runs", "build", "*.egg-info", "__pycache__",
                                                             ".corpus", ".run", ".whl", "out", "models"))
    (src / "models").mkdir()
    (src / "models" / "demo.json").write_text("{}")
    (src / "models" / "demo.safetensors").write_bytes(b"weights")
    (src / "models" / "demo.discriminator.safetensors").write_bytes(b"discriminator")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist")], check=True, capture_output=True, timeout=300)
    (built,) = (tmp / "dist").glob("inpaint_studio-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_the_bundled_models(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    prefix = "/data/" + paths.WHEEL_MODELS_SUBDIR.as_posix()
    assert {n.split(".data", 1)[1] for n in names if f".data{prefix}/" in n} == {
        f"{prefix}/demo.json", f"{prefix}/demo.safetensors", f"{prefix}/demo.discriminator.safetensors"}
    assert any(n == "trainer/EVENTS.md" for n in names)
    rooms = ("inpaint_studio/contracts/card.py", "inpaint_studio/app/document/layers.py",
             "inpaint_studio/app/editor/main_window.py", "inpaint_studio/app/ui/theme.py",
             "inpaint_studio/app/training/launcher.py", "inpaint_studio/app/guidance/learn_photo.py",
             "inpaint_studio/app/restoration/scratch_finder.py", "inpaint_studio/restoration/scratch_finder.py",
             "inpaint_studio/app/desktop/entry.py", "inpaint_studio/resources.py",
             "trainer/fit/loop.py", "trainer/learn_photo/learn.py", "trainer/release/bundle.py")
    assert set(rooms) <= set(names)


def test_the_shipped_model_files_are_the_wheels_data_files():
    """What pyproject's data-files globs pick from models/: the bundled model's card, generator
    and discriminator (the wheel test above shows that the globs reach the wheel)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["data-files"][
        paths.WHEEL_MODELS_SUBDIR.as_posix()]
    shipped = {p.name for pattern in patterns for p in REPO.glob(pattern)}
    assert {"pennet-open-photos.json", "pennet-open-photos.safetensors",
            "pennet-open-photos.discriminator.safetensors"} <= shipped


def checkout_resources() -> set[str]:
    root = REPO / "resources"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_an_installed_wheel_finds_every_resource(wheel, tmp_path):
    """pip installs the wheel into a fresh virtual environment (its other packages seen from the
    system's); run from elsewhere, the installed code finds resources/ under the venv's prefix,
    with every file of the checkout's resources/ there, and the samples, icon and style sheet
    through inpaint_studio.resources."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, capture_output=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    probe = ("import json, sys; from inpaint_studio import paths, resources; "
             "root = paths.resources_dir(); "
             "print(json.dumps({'package': paths.PACKAGE_ROOT.as_posix(), 'resources': root.as_posix(), "
             "'models': paths.bundled_models_dir().as_posix(), "
             "'files': sorted(p.relative_to(root).as_posix() for p in root.rglob('*') if p.is_file()), "
             "'samples': [s.id for s in resources.samples()], 'icon': resources.icon_png(256).as_posix(), "
             "'style': resources.stylesheet().as_posix()}))")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    prefix = Path(subprocess.run([str(python), "-c", "import sys; print(sys.prefix)"], capture_output=True,
                                 text=True, env=env, check=True).stdout.strip())
    assert Path(found["package"]).is_relative_to(prefix)            # the installed copy, not this checkout
    assert Path(found["resources"]) == prefix / paths.WHEEL_RESOURCES_SUBDIR
    assert Path(found["models"]) == prefix / paths.WHEEL_MODELS_SUBDIR
    assert set(found["files"]) == checkout_resources()
    assert found["samples"] and Path(found["icon"]).is_file() and Path(found["style"]).is_file()


def test_a_checkout_finds_its_resources():
    assert paths.resources_dir() == REPO / "resources"
    from inpaint_studio import resources

    assert resources.icon_svg().parent == REPO / "resources" / "icons"
    assert {s.photo.parent for s in resources.samples()} == {REPO / "resources" / "samples"}
