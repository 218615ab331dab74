"""Start-up as a new process sees it: ``manage.py check`` with only the environment given."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def manage_check(data_dir: Path, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py check`` on a fresh environment (PATH, DATA_DIR and ``extra`` only)."""
    env = {"PATH": os.environ.get("PATH", ""), "DATA_DIR": str(data_dir), **extra}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
