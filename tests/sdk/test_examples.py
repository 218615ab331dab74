"""The examples in sdk/examples run against a real server (the stand-in model "mock")."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = Path(__file__).resolve().parents[2] / "sdk" / "examples"


def run_example(name: str, key: str, url: str, *args: str) -> str:
    env = {
        **os.environ,
        "WEBUI_API_KEY": key,
        "WEBUI_BASE_URL": url,
        "PYTHONPATH": str(EXAMPLES.parent),
    }
    done = subprocess.run(  # noqa: S603 - our own example
        [sys.executable, str(EXAMPLES / name), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_examples_run(sdk_server: str, admin: User, admin_key: str, ann_key: str) -> None:
    chat = run_example("chat.py", ann_key, sdk_server, "mock")
    knowledge = run_example("knowledge_qa.py", ann_key, sdk_server, "", "mock")
    usage = run_example("usage_report.py", admin_key, sdk_server, "3")

    assert "The server kept 4 messages" in chat
    assert "Rated the last answer: {'rating': 1" in chat
    assert "Indexed falcon.txt" in knowledge
    assert "7421" in knowledge
    assert "source: falcon.txt" in knowledge
    assert "By model" in usage
    assert "mock" in usage
    assert admin_key not in usage
