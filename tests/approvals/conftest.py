from tests.concurrency.conftest import live_url  # noqa: F401  (a real server for the race tests)
