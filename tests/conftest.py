"""Session-wide test setup: one temporary feature store for the whole session, CPU-sized thread count."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def temporary_feature_store(tmp_path_factory):
    """Point the feature store at a temporary folder shared by the test session (never the user's cache)."""
    root = tmp_path_factory.mktemp("feature-store")
    previous = os.environ.get("TRANSFER_SCOUT_CACHE")
    os.environ["TRANSFER_SCOUT_CACHE"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("TRANSFER_SCOUT_CACHE", None)
    else:
        os.environ["TRANSFER_SCOUT_CACHE"] = previous


from ray_cluster import ray_cluster  # noqa: E402, F401 - the session's local Ray cluster, started by the first Ray test
