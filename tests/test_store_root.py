"""The store's root: its marker, what it counts and clears (every kind its writers create, nothing else), the
refusal of a folder that is not the store's, and abandoned staging inside fine-tuning runs."""

import os
import zipfile

import numpy as np
import pytest

from store_helpers import age, crashed_write
from transfer_core.cache.layout import DATASETS, MARKER, RUNS, STALE_SECONDS, UPLOADS, NotAStoreError
from transfer_core.cache.locks import release
from transfer_core.cache.rows import rows_key, write_rows
from transfer_core.cache.store import FeatureStore, store_key
from transfer_core.data.archive import extract_zip
from transfer_core.engines import graphs
from transfer_core.groundtruth.runstore import RunStore
from transfer_core.models import load_model
from transfer_core.models.manifest import remember_manifest
from transfer_core.uploads import save_upload

FEATURES = {"features": np.ones((3, 2), np.float32)}
USER_FILES = {"models/my-checkpoint.pth": b"weights", "datasets/photos/cat/1.png": b"png", "entries/notes.txt": b"n",
              "uploads/readme.txt": b"r", "groundtruth/mine/result.json": b"{}", "README.md": b"# project"}


def write_files(root, files):
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def files_under(root):
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file() and not path.is_symlink()}


@pytest.fixture(scope="module")
def random_cnn():
    return load_model("zoo:cnn-mnist-random")


@pytest.fixture
def store(random_cnn, tmp_path):
    """A store at ``tmp_path/cache`` holding one item of every kind, each written by the store's real writer."""
    store = FeatureStore(tmp_path / "cache")
    store.put(store.key({"n": 1}), FEATURES, {})
    remember_manifest(random_cnn, None, store.root)
    RunStore(store.root / RUNS.folder / store_key({"run": 1})).save_result({"accuracy": 0.5})
    save_upload("photos.zip", b"zip bytes", root=store.root / UPLOADS.folder)
    with zipfile.ZipFile(tmp_path / "pets.zip", "w") as archive:
        archive.writestr("cat/1.png", b"x")
        archive.writestr("dog/1.png", b"y")
    extract_zip(tmp_path / "pets.zip", store)
    write_rows(store, rows_key({"model": "m"}), ["files|a", "files|b"], {"features": np.ones((2, 3))}, {})
    graphs.record(store, graphs.graph_key(random_cnn), {"passed": False, "reason": "test"}, None)
    return store


def test_a_new_store_marks_its_root(tmp_path):
    store = FeatureStore(tmp_path / "cache")
    store.put(store.key({"n": 1}), FEATURES, {})
    assert (tmp_path / "cache" / MARKER).is_file()


def test_clear_refuses_a_folder_that_is_not_the_stores_and_removes_nothing(tmp_path):
    write_files(tmp_path, USER_FILES)
    entry = tmp_path / "entries" / f"{store_key({'n': 1})}.npz"  # named like the store's, in someone's folder
    entry.write_bytes(b"not ours to delete")
    before = files_under(tmp_path)
    with pytest.raises(NotAStoreError, match=f"refusing to clear .*no {MARKER} file and holds README.md"):
        FeatureStore(tmp_path).clear()
    assert files_under(tmp_path) == before


def test_a_root_that_already_holds_other_files_is_not_marked(tmp_path):
    write_files(tmp_path, {"README.md": b"# project"})
    store = FeatureStore(tmp_path)
    assert store.put(store.key({"n": 1}), FEATURES, {})
    assert not (tmp_path / MARKER).exists()
    with pytest.raises(NotAStoreError):
        store.clear()


def test_clear_removes_every_kind_the_store_wrote_and_nothing_else(store):
    write_files(store.root, USER_FILES)
    link = store.root / "models" / f"{store_key({'link': 1})}.json"
    os.symlink(store.root / "models" / "my-checkpoint.pth", link)
    usage = {kind.kind.folder: kind.count for kind in store.usage().kinds}
    assert usage == {"entries": 1, "datasets": 1, "models": 1, "groundtruth": 1, "uploads": 1, "graphs": 1,
                     "rows": 1}
    cleared = store.clear()
    assert cleared.removed == {"feature entries": 1, "extracted zip datasets": 1, "model manifests": 1,
                               "fine-tuning runs": 1, "uploads": 1, "exported ONNX graph files": 1,
                               "feature rows per image": 1} and cleared.in_use == 0
    assert files_under(store.root) == set(USER_FILES) | {MARKER}
    assert link.is_symlink() and link.read_bytes() == b"weights"  # a link is never the store's
    assert sum(kind.count for kind in store.usage().kinds) == 0


def test_emptied_folders_go_and_the_root_stays_a_store(store):
    store.clear()
    assert sorted(path.name for path in store.root.iterdir()) == [MARKER]
    assert store.put(store.key({"n": 2}), FEATURES, {}) and store.usage().entries == 1


def test_a_store_from_before_the_marker_is_recognised_by_its_folders(store):
    (store.root / MARKER).unlink()
    (store.root / ".DS_Store").write_bytes(b"")  # hidden clutter does not make it foreign
    assert store.clear().removed["feature entries"] == 1
    store.put(store.key({"n": 2}), FEATURES, {})
    assert (store.root / MARKER).is_file()  # adopted on the next write


def test_clearing_a_missing_or_empty_root_removes_nothing(tmp_path):
    assert sum(FeatureStore(tmp_path / "missing").clear().removed.values()) == 0
    assert not (tmp_path / "missing").exists()
    assert sum(FeatureStore(tmp_path).clear().removed.values()) == 0


def test_a_root_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotAStoreError, match="not a folder"):
        FeatureStore(tmp_path / "file").clear()


def test_manifests_runs_and_uploads_are_counted_but_never_evicted(store):
    for path in store.root.rglob("*"):
        age(path, 1000)
    (extracted,) = (store.root / DATASETS.folder).iterdir()
    release(extracted)  # as if the process that extracted it had finished
    small = FeatureStore(store.root, max_bytes=1)
    small.evict()
    usage = {kind.kind.folder: kind.count for kind in small.usage().kinds}
    assert usage == {"entries": 0, "datasets": 0, "models": 1, "groundtruth": 1, "uploads": 1, "graphs": 0,
                     "rows": 0}  # the capped ones go
    assert small.usage().bytes == 0


def test_a_crashed_write_inside_a_fine_tuning_run_is_cleaned_once_stale(store):
    run = store.root / RUNS.folder / store_key({"run": 1})
    crashed = crashed_write(run / "grid-00.pt")
    store.evict()
    assert crashed.exists()  # recent: may be a live writer's
    age(crashed, STALE_SECONDS + 60)
    store.evict()
    assert not crashed.exists() and RunStore(run).result() == {"accuracy": 0.5}


def test_uploads_and_fine_tuning_runs_claim_the_default_root_as_the_store_does(tmp_path, monkeypatch):
    from transfer_core.groundtruth import default_cache_dir

    for writer in ("upload", "run"):
        root = tmp_path / writer
        monkeypatch.setenv("TRANSFER_SCOUT_CACHE", str(root))
        if writer == "upload":
            saved = save_upload("photo.png", b"bytes")
            assert saved.parent.parent == root / UPLOADS.folder
        else:
            assert default_cache_dir() == root / RUNS.folder
        assert (root / MARKER).is_file()  # so `cache clear` recognises a root only these wrote
