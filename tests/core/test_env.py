"""Settings read from the environment fail loudly on malformed values."""

import re
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from webui_backend.env import env_bool, env_int, env_rate, secret_key_from


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret_key"

    first = secret_key_from(path)
    second = secret_key_from(path)

    assert first == second
    assert len(first) >= 50
    assert path.stat().st_mode & 0o777 == 0o600


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    keys: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        keys.append(secret_key_from(path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(keys) == 8
    assert len(set(keys)) == 1


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("0", False), ("Yes", True)])
def test_env_bool_reads_common_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("SOME_FLAG", raw)

    assert env_bool("SOME_FLAG", default=not expected) is expected


@pytest.mark.parametrize(
    ("reader", "raw"),
    [
        (lambda: env_bool("X_SETTING", default=False), "maybe"),
        (lambda: env_int("X_SETTING", default=1), "ten"),
        (lambda: env_int("X_SETTING", default=1, minimum=0), "-5"),
        (lambda: env_rate("X_SETTING", default="5/minute"), "5/fortnight"),
        (lambda: env_rate("X_SETTING", default="5/minute"), "zero/minute"),
    ],
)
def test_malformed_values_fail_loudly(monkeypatch: pytest.MonkeyPatch, reader, raw: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("X_SETTING", raw)

    with pytest.raises(ImproperlyConfigured, match="X_SETTING"):
        reader()


def test_rates_read_as_count_and_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_SETTING", "20/hour")

    assert env_rate("X_SETTING", default="5/minute") == (20, 3600)


def test_every_setting_is_documented_in_readme_and_env_example() -> None:
    root = Path(__file__).resolve().parents[2]
    source = (root / "webui_backend" / "settings.py").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|list|choice|rate|roles)\(\s*"([A-Z_]+)"', source))
    names.add("DATABASE_URL")  # read by dj_database_url
    readme = (root / "README.md").read_text()
    example = (root / "deploy" / "env.example").read_text()

    assert {"REDIS_URL", "SECRET_KEY", "DEBUG"} <= names
    assert sorted(n for n in names if f"`{n}`" not in readme) == []
    assert sorted(n for n in names if f"{n}=" not in example) == []
