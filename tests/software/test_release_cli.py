"""``roomwarden release publish`` and ``list``: the operator's catalogue from a shell, with the
API's rules and one readable line for each refusal."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_ops_cli import cli_env, ok, refused  # noqa: F401


def test_publish_list_and_refusals(cli_env: Path) -> None:  # noqa: F811
    made = json.loads(ok("release", "publish", "agent", "1.4.2", "--notes", "Camera fixes", "--json"))
    assert made["component"] == "agent" and made["version"] == "1.4.2" and made["notes"] == "Camera fixes"
    assert "published agent 1.9" in ok("release", "publish", "agent", "1.9")
    ok("release", "publish", "agent", "1.10")
    listed = json.loads(ok("release", "list", "--json"))
    assert [r["version"] for r in listed] == ["1.10", "1.9", "1.4.2"]  # as numbers, newest first
    assert "already published" in refused("release", "publish", "agent", "1.10.0")
    assert "dotted numbers" in refused("release", "publish", "agent", "1.4-beta", code=2)
    assert "component" in refused("release", "publish", "bad name", "1.0", code=2)
    assert "3 release(s)" in ok("release", "list")
