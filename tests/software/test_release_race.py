"""Two operators publishing the same release at once: one is published, the other is told it
already is (409), never two rows — the unique constraint holds it, on both databases."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from roomwarden.kit.errors import Conflict
from roomwarden.software import releases
from roomwarden.software.models import Release
from roomwarden.software.schemas import ReleaseCreate
from tests.factories import World
from tests.software.helpers import component


def test_concurrent_duplicates_publish_once(world: World) -> None:
    name = component()
    outcomes: list[str] = []
    first_inserted = threading.Event()

    def publish(version: str, hold: bool) -> None:
        try:
            with world.transaction() as session:
                if not hold:
                    first_inserted.wait(10)
                releases.publish(session, ReleaseCreate(component=name, version=version))
                if hold:  # keep the first transaction open while the second one tries
                    first_inserted.set()
                    time.sleep(0.5)
            outcomes.append("published")
        except Conflict:
            outcomes.append("conflict")
        finally:
            first_inserted.set()

    threads = [
        threading.Thread(target=publish, args=("3.0", True)),
        threading.Thread(target=publish, args=("3.0.0", False)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict", "published"]
    with world.transaction(write=False) as session:
        assert session.scalar(select(func.count()).select_from(Release).where(Release.component == name)) == 1
