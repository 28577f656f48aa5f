"""docs/quickstart.md cannot drift: its ```sh blocks are run, in order, as one shell script
against a fresh server, the way a newcomer pastes them. Every curl's status is recorded
(on stderr, so the commands' own output is untouched) and must be the one the page promises."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from roomwarden.app import create_app
from roomwarden.kit.db import Database
from roomwarden.kit.migrate import upgrade
from roomwarden.settings import Settings
from tests.concurrency.conftest import serve_in_thread

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
DOC_URL = "http://127.0.0.1:8000"
MISSING = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]

pytestmark = pytest.mark.skipif(
    bool(MISSING) and os.environ.get("CI") != "true",
    reason=f"the quickstart needs {', '.join(MISSING)}",
)

#: Every curl also writes "STATUS METHOD URL" to stderr.
RECORDING_CURL = """\
set -euo pipefail
curl() { command curl -w '%{stderr}HTTP %{http_code} %{method} %{url_effective}\\n' "$@"; }
"""


def sh_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", markdown, flags=re.M | re.S)


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """A server of its own on an empty database, as after `roomwarden serve` on a new file."""
    settings = Settings(env="development", database_url=f"sqlite:///{tmp_path / 'quickstart.db'}")
    db = Database(settings.database_url)
    upgrade(db)
    try:
        yield from ((url, settings) for url in serve_in_thread(create_app(settings, db)))
    finally:
        db.dispose()


def test_the_quickstart_runs_as_written(fresh_server: tuple[str, Settings], tmp_path: Path) -> None:
    assert not MISSING, f"the quickstart needs {', '.join(MISSING)}"
    url, settings = fresh_server
    blocks = sh_blocks(QUICKSTART.read_text())
    assert len(blocks) >= 10
    script = RECORDING_CURL + "\n".join(blocks).replace(DOC_URL, url)
    work = tmp_path / "clone"
    work.mkdir()
    # what `roomwarden keygen > quickstart.env` wrote in step 1
    (work / "quickstart.env").write_text(
        f"ROOMWARDEN_OPERATOR_TOKEN={settings.operator_token.get_secret_value()}\n"
    )
    result = subprocess.run(["bash", "-c", script], cwd=work, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = [line.split(" ", 3)[1:] for line in result.stderr.splitlines() if line.startswith("HTTP ")]
    assert len(calls) >= 25, result.stderr

    refused = [(status, method, path) for status, method, path in calls if not status.startswith("2")]
    rooms = f"{url}/api/v1/tenants/"
    # the technician: the Berlin room, out of the delegation, and Contoso after off-boarding
    assert [(status, method) for status, method, _ in refused] == [("404", "GET"), ("404", "GET")], refused
    assert all(path.startswith(rooms) and "/rooms" in path for _, _, path in refused), refused
    held = [(method, path) for status, method, path in calls if status == "202"]
    assert len(held) == 1 and held[0][0] == "PATCH" and "/rooms/" in held[0][1]

    out = result.stdout
    assert "Seattle 4.01\tUS" in out and "Boston 2.10\tUS" in out
    assert "Berlin 1.05\tDE" not in out  # never listed to the partner
    assert '"time_zone": "America/Los_Angeles"' in out  # applied once approved
    assert "Litware technicians" in out  # the audit log names the role that allowed the work
    assert '"ok": true' in out  # the chain verifies
    assert '"status": "ended"' in out
    csv = (work / "contoso-audit.csv").read_text()
    assert csv.startswith("activity.category,activity.objectName,")
    assert "Display flickers" in csv
