"""A real local Ray cluster for the Ray tests: ``ray start --head --block`` with 2 CPUs, every port free-chosen (so
it runs beside any other cluster on the machine), in a process group of its own that the teardown stops; the
workers' feature store is a folder of their own, so the work is done on the workers, not read from the tests'
store. The session fixture ``ray_cluster`` is registered in conftest.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
CPUS = 2
START_TIMEOUT = 120
PORT_OPTIONS = ("--port", "--dashboard-port", "--dashboard-agent-listen-port",
                "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port",
                "--node-manager-port", "--object-manager-port")


@dataclass(frozen=True)
class Cluster:
    address: str  # HOST:PORT of the head's GCS
    worker_store: Path  # $TRANSFER_SCOUT_CACHE of the workers


def node_ip() -> str:
    """This machine's address as Ray sees it (a driver on the machine finds its node by this IP, so the head binds
    there, not to 127.0.0.1): the source address of a route outwards (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 80))
        return probe.getsockname()[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def extracting_workers(cluster: Cluster | None = None) -> list[int]:
    """PIDs of the Ray workers running an extraction task now (Ray titles a busy worker ``ray::<task>``); with a
    ``cluster``, only its own (their environment names its worker store), not those of another suite running beside
    this one on the machine."""
    found = []
    mark = None if cluster is None else f"TRANSFER_SCOUT_CACHE={cluster.worker_store}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::extract_model") and (
                        mark is None or mark in (entry / "environ").read_bytes() + b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# python -m transfer_core with Python's Ctrl-C handler installed: a child inherits an *ignored* SIGINT (the suite's
# process has one when it was started as a background job of a non-interactive shell), and Python then installs no
# KeyboardInterrupt handler of its own
INTERRUPTIBLE = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                 "runpy.run_module('transfer_core', run_name='__main__', alter_sys=True)")


def cli(*args: str, env: dict | None = None, interruptible: bool = False, **popen) -> subprocess.Popen:
    """``python -m transfer_core ARGS`` in a process of its own; ``interruptible``: SIGINT raises KeyboardInterrupt in
    it, as Ctrl-C in a terminal does, whatever this process does with SIGINT."""
    start = ["-c", INTERRUPTIBLE] if interruptible else ["-m", "transfer_core"]
    return subprocess.Popen([sys.executable, *start, *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, **popen)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    ports = {option: free_port() for option in PORT_OPTIONS}
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    worker_store = tmp_path_factory.mktemp("ray-worker-store")
    command = [str(RAY), "start", "--head", "--block", "--num-cpus", str(CPUS), "--num-gpus", "0",
               "--node-ip-address", node_ip(), "--include-dashboard", "false", "--disable-usage-stats",
               "--temp-dir", temp_dir, *[f"{option}={port}" for option, port in ports.items()]]
    # token authentication off: a driver connecting by address (no RAY_AUTH_MODE=token here) needs none
    head = subprocess.Popen(command, env={**os.environ, "TRANSFER_SCOUT_CACHE": str(worker_store),
                                          "RAY_AUTH_MODE": "disabled"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    address = f"{node_ip()}:{ports['--port']}"
    try:
        _wait_until_up(head, address)
        yield Cluster(address, worker_store)
    finally:
        _stop(head)


def _wait_until_up(head: subprocess.Popen, address: str) -> None:
    """Until the head's GCS port accepts connections (a driver connecting then waits for the node itself)."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}: {head.stderr.read()[-2000:]}")
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the local Ray cluster at {address} did not come up within {START_TIMEOUT} s")


def _stop(head: subprocess.Popen) -> None:
    """SIGTERM to the head's process group (``ray start --block`` stops what it started), then SIGKILL to whatever
    of the group is left."""
    try:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    time.sleep(2)
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    head.wait()
