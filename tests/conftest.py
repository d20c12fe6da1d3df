import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def user_home(tmp_path, monkeypatch):
    """Every test gets its own user data directory (models, settings, recovery files)."""
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("INPAINT_STUDIO_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def bundled_models(request, tmp_path, monkeypatch):
    """Tests make the models they need: the bundled one (models/) is hidden in this process unless
    the test is marked `bundled_model` (what a fresh install has)."""
    if request.node.get_closest_marker("bundled_model") is None:
        from inpaint_studio.engine import registry

        monkeypatch.setattr(registry, "BUNDLED_MODELS_DIR", tmp_path / "no-bundled-models")
