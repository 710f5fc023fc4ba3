import pytest


@pytest.fixture(autouse=True)
def _redis_closed_after_each_test(redis_leftovers_closed: None) -> None:
    """Every test here talks to Redis through Celery: see redis_leftovers_closed."""
