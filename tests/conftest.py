"""Session-wide test setup: one temporary feature store for the whole session, the local Ray cluster, and an exit
that Ray's leftover native threads cannot crash."""

import faulthandler
import os
import sys

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

EXIT_STATUS = pytest.StashKey[int]()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """After the last report, end a process that hosted a Ray driver without interpreter finalisation.

    ray.shutdown() leaves Ray's native threads running (measured with ray 2.60 at the end of the suite: worker.io,
    gcs_client_io_s, grpc event_engine, timer_manager), and the local cluster they talked to is stopped by then;
    finalising the interpreter under them once ended a green run (1116 passed) in SIGSEGV, so make failed. Everything
    is reported and every fixture torn down at this point; the exit status is pytest's own. Without Ray in the
    process the normal exit runs, with faulthandler on to name the thread of any crash."""
    faulthandler.enable()
    if "ray" in sys.modules and EXIT_STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[EXIT_STATUS])


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    session.config.stash[EXIT_STATUS] = int(exitstatus)
