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
