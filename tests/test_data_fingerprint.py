"""Dataset fingerprints: stable across loads and processes, sensitive to images, labels, order and subset."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from data_helpers import write_class_folder, write_image
from transfer_core.data import load_dataset
from transfer_core.data.fingerprint import dataset_fingerprint, file_sha256


@pytest.fixture
def folder(tmp_path):
    return write_class_folder(tmp_path / "data", {"a": 3, "b": 3})


def test_fingerprint_is_sha256_of_the_documented_payload():
    labels = np.array(["x", "y"])
    payload = {"format": 1, "source": "files", "items": ["k1", "k2"], "labels": ["x", "y"], "targets": None}
    expected = hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()
    assert dataset_fingerprint("files", ["k1", "k2"], labels=labels) == expected


def test_file_hash_matches_hashlib_and_follows_rewrites(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"first")
    assert file_sha256(path) == hashlib.sha256(b"first").hexdigest()
    path.write_bytes(b"second, longer")
    assert file_sha256(path) == hashlib.sha256(b"second, longer").hexdigest()


def test_stable_across_loads_and_processes(folder):
    first = load_dataset(str(folder)).fingerprint
    assert load_dataset(str(folder)).fingerprint == first
    code = f"from transfer_core.data import load_dataset; print(load_dataset({str(folder)!r}).fingerprint)"
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                   cwd=os.path.dirname(os.path.dirname(__file__)))
    assert other_process.stdout.strip() == first


def test_content_addressed_a_moved_copy_keeps_the_fingerprint(folder, tmp_path):
    copy = shutil.copytree(folder, tmp_path / "elsewhere" / "renamed")
    assert load_dataset(str(copy)).fingerprint == load_dataset(str(folder)).fingerprint


def test_changed_image_changes_the_fingerprint(folder):
    before = load_dataset(str(folder)).fingerprint
    write_image(folder / "a" / "img_001.png", seed=999)
    assert load_dataset(str(folder)).fingerprint != before


def test_moving_an_image_to_another_class_changes_the_fingerprint(folder):
    before = load_dataset(str(folder)).fingerprint
    os.rename(folder / "a" / "img_002.png", folder / "b" / "img_002.png")
    assert load_dataset(str(folder)).fingerprint != before


def test_changed_label_alone_changes_the_fingerprint():
    keys = ["k1", "k2", "k3"]
    assert dataset_fingerprint("files", keys, np.array(["a", "a", "b"])) != dataset_fingerprint(
        "files", keys, np.array(["a", "b", "b"]))


def test_order_and_subset_change_the_fingerprint(folder):
    full = load_dataset(str(folder))
    assert load_dataset(str(folder), limit=4, seed=0).fingerprint != full.fingerprint
    keys = [str(k) for k in range(len(full))]
    assert dataset_fingerprint("files", keys, full.labels) != dataset_fingerprint("files", keys[::-1],
                                                                                  full.labels[::-1])


def test_targets_change_the_fingerprint():
    keys = ["k1", "k2"]
    assert dataset_fingerprint("files", keys, targets=np.array([1.0, 2.0])) != dataset_fingerprint(
        "files", keys, targets=np.array([1.0, 2.5]))
    assert dataset_fingerprint("files", keys, targets=np.array([1.0, 2.0])) != dataset_fingerprint(
        "files", keys, labels=np.array(["1.0", "2.0"]))


def test_demo_fingerprint_is_stable_and_tracks_the_subset():
    assert load_dataset("demo:animals", limit=50).fingerprint == load_dataset("demo:animals", limit=50).fingerprint
    assert load_dataset("demo:animals", limit=50).fingerprint != load_dataset("demo:animals", limit=51).fingerprint
    assert load_dataset("demo:mnist", limit=50).fingerprint != load_dataset("demo:animals", limit=50).fingerprint
