"""The feature store: round trip, keys, crash safety, read-back checks, LRU eviction under a size cap, clearing."""

import time

import numpy as np
import pytest

from store_helpers import age, crashed_write
from transfer_core.cache.layout import STALE_SECONDS
from transfer_core.cache.store import DEFAULT_MAX_BYTES, FeatureStore, default_root, store_key

KEY_PARTS = {"model": "sha256:aa", "preprocessing": {"input_size": [224, 224], "mean": [0.5, 0.5, 0.5]},
             "layer": "penultimate", "dataset": "sha256:bb", "extraction": 1}


def arrays(seed: int = 0, rows: int = 6):
    generator = np.random.default_rng(seed)
    features = generator.standard_normal((rows, 4)).astype(np.float32)
    probs = generator.dirichlet(np.ones(3), size=rows).astype(np.float32)
    return {"features": features, "source_probs": probs}


def test_round_trip_keeps_arrays_dtypes_and_metadata(tmp_path):
    store = FeatureStore(tmp_path)
    key = store.key(KEY_PARTS)
    stored = arrays()
    before = time.time()
    assert store.put(key, stored, {"model_id": "zoo:x", "dataset_id": "demo", "seconds": 1.5})
    entry = store.get(key)
    assert set(entry.arrays) == {"features", "source_probs"}
    for name, array in stored.items():
        assert entry.arrays[name].dtype == np.float32
        np.testing.assert_array_equal(entry.arrays[name], array)
    assert entry.meta["model_id"] == "zoo:x" and entry.meta["dataset_id"] == "demo" and entry.meta["seconds"] == 1.5
    assert before <= entry.meta["created"] <= time.time()
    assert store.usage().entries == 1 and store.usage().bytes == store.path(key).stat().st_size


def test_missing_key_is_a_miss(tmp_path):
    assert FeatureStore(tmp_path).get(store_key(KEY_PARTS)) is None


def test_key_is_order_independent_and_changes_with_every_part():
    reordered = dict(reversed(list(KEY_PARTS.items())))
    assert store_key(reordered) == store_key(KEY_PARTS)
    changed = [
        {**KEY_PARTS, "model": "sha256:ab"},
        {**KEY_PARTS, "preprocessing": {**KEY_PARTS["preprocessing"], "mean": [0.5, 0.5, 0.6]}},
        {**KEY_PARTS, "layer": "layer3"},
        {**KEY_PARTS, "dataset": "sha256:bc"},
        {**KEY_PARTS, "extraction": 2},
        {**KEY_PARTS, "extra": None},
    ]
    keys = {store_key(parts) for parts in changed} | {store_key(KEY_PARTS)}
    assert len(keys) == len(changed) + 1
    assert all(len(key) == 64 for key in keys)


def test_key_rejects_parts_that_are_not_plain_json():
    with pytest.raises(TypeError, match="plain JSON"):
        store_key({"model": object()})
    with pytest.raises(TypeError, match="plain JSON"):
        store_key({"scale": float("nan")})


def test_keys_that_are_not_digests_are_refused(tmp_path):
    with pytest.raises(ValueError, match="sha256"):
        FeatureStore(tmp_path).get("../../etc/passwd")
    with pytest.raises(ValueError, match="sha256"):
        FeatureStore(tmp_path / "store").put("../escaped", arrays(), {})
    assert not list(tmp_path.rglob("*"))


def test_object_arrays_are_refused(tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(ValueError, match="Python objects"):
        store.put(store_key(KEY_PARTS), {"features": np.array([{"a": 1}], dtype=object)}, {})
    assert store.usage().entries == 0 and not list(tmp_path.rglob("*"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_entry_is_a_miss_and_is_removed(tmp_path, damage):
    store = FeatureStore(tmp_path)
    key = store.key(KEY_PARTS)
    store.put(key, arrays(), {"model_id": "m"})
    path = store.path(key)
    content = path.read_bytes()
    path.write_bytes({"truncate": content[: len(content) // 2], "garbage": b"not a zip file" * 10,
                      "empty": b""}[damage])
    with pytest.warns(UserWarning, match="cannot be read.*computed again"):
        assert store.get(key) is None
    assert not path.exists()
    assert store.put(key, arrays(), {"model_id": "m"}) and store.get(key) is not None


def test_entry_without_metadata_is_a_miss(tmp_path):
    store = FeatureStore(tmp_path)
    key = store.key(KEY_PARTS)
    store.entries_dir.mkdir(parents=True)
    np.savez(store.path(key), features=np.zeros((2, 2), np.float32))
    with pytest.warns(UserWarning, match="no metadata"):
        assert store.get(key) is None
    assert not store.path(key).exists()


def write_raw(store: FeatureStore, key: str, **arrays) -> None:
    """An entry as any writer could leave it, bypassing ``put``'s checks (with the metadata ``get`` needs)."""
    store.entries_dir.mkdir(parents=True, exist_ok=True)
    np.savez(store.path(key), __meta__=np.array('{"created": 0}'), **arrays)


@pytest.mark.parametrize(("stored", "message"), [
    ({"features": np.zeros((5, 4), np.float32)}, "features of shape \\(5, 4\\), not 6 rows"),
    ({"features": np.zeros((6, 4), np.float32), "source_probs": np.full((5, 3), 1 / 3, np.float32)},
     "source_probs of shape \\(5, 3\\), not 6 rows"),
    ({"features": np.array(1.0, np.float32)}, "features of shape \\(\\), not 6 rows"),
    ({"features": np.array([[0.0, np.nan]] * 6, np.float32)}, "NaN or infinite values in features"),
    ({"features": np.array([[0.0, -np.inf]] * 6, np.float64)}, "NaN or infinite values in features"),
    ({"source_probs": np.full((6, 3), 1 / 3, np.float32)}, "lacks the array\\(s\\) features"),
])
def test_an_entry_that_is_not_what_the_caller_expects_is_removed_with_a_warning(tmp_path, stored, message):
    store = FeatureStore(tmp_path)
    key = store.key(KEY_PARTS)
    write_raw(store, key, **stored)
    with pytest.warns(UserWarning, match=message):
        assert store.get(key, rows=6, required=("features",)) is None
    assert not store.path(key).exists()
    assert store.put(key, arrays(rows=6), {}) and store.get(key, rows=6, required=("features",)) is not None


def test_integer_arrays_and_unchecked_reads_are_served_as_stored(tmp_path):
    store = FeatureStore(tmp_path)
    key = store.key(KEY_PARTS)
    write_raw(store, key, features=np.zeros((5, 4), np.float32), labels=np.arange(5))
    entry = store.get(key)  # no expectation given: five rows are fine
    assert entry.arrays["features"].shape == (5, 4) and entry.arrays["labels"].tolist() == [0, 1, 2, 3, 4]
    assert store.get(key, rows=5, required=("features", "labels")) is not None


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_arrays_are_refused(tmp_path, bad):
    store = FeatureStore(tmp_path)
    stored = arrays()
    stored["features"][2, 1] = bad
    with pytest.raises(ValueError, match="'features' holds NaN or infinite values"):
        store.put(store.key(KEY_PARTS), stored, {})
    assert store.usage().entries == 0


def test_leftover_temporary_file_of_a_crashed_writer_is_ignored_then_cleaned(tmp_path):
    store = FeatureStore(tmp_path)
    key = store.key(KEY_PARTS)
    crashed, in_progress = crashed_write(store.path(key)), crashed_write(store.path(key))
    age(crashed, STALE_SECONDS + 60)
    assert store.get(key) is None
    assert store.usage().entries == 0 and store.usage().bytes == 0
    store.put(store.key({**KEY_PARTS, "dataset": "other"}), arrays(), {})
    assert not crashed.exists()
    assert in_progress.exists()  # recent: may belong to a live writer in another process
    store.clear()
    assert in_progress.exists()  # clearing does not break a live writer either
    age(in_progress, STALE_SECONDS + 60)
    store.clear()
    assert not in_progress.exists()


def test_least_recently_used_entry_is_evicted_under_the_cap(tmp_path):
    probe = FeatureStore(tmp_path / "probe")
    probe_key = probe.key(KEY_PARTS)
    probe.put(probe_key, arrays(), {})
    entry_size = probe.path(probe_key).stat().st_size
    store = FeatureStore(tmp_path / "store", max_bytes=2 * entry_size + entry_size // 2)
    first, second, third = (store.key({**KEY_PARTS, "dataset": name}) for name in ("a", "b", "c"))
    store.put(first, arrays(1), {})
    store.put(second, arrays(2), {})
    age(store.path(first), 100)
    age(store.path(second), 50)
    assert store.get(first) is not None  # reading makes ``first`` the most recently used
    assert store.put(third, arrays(3), {})
    assert store.get(second) is None
    assert store.get(first) is not None and store.get(third) is not None
    assert store.usage().entries == 2 and store.usage().bytes <= store.max_bytes


def test_entry_larger_than_the_cap_is_not_kept(tmp_path):
    store = FeatureStore(tmp_path, max_bytes=100)
    key = store.key(KEY_PARTS)
    assert store.put(key, arrays(), {}) is False
    assert store.get(key) is None and store.usage().entries == 0


def test_clear_removes_entries_only(tmp_path):
    store = FeatureStore(tmp_path)
    for name in ("a", "b", "c"):
        store.put(store.key({**KEY_PARTS, "dataset": name}), arrays(), {})
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("keep me")
    assert store.clear().removed["feature entries"] == 3
    assert store.usage().entries == 0 and store.usage().bytes == 0
    assert unrelated.read_text() == "keep me"
    assert sum(FeatureStore(tmp_path / "never-created").clear().removed.values()) == 0


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSFER_SCOUT_CACHE", str(tmp_path / "cache"))
    assert default_root() == tmp_path / "cache"
    assert FeatureStore().root == tmp_path / "cache"
    monkeypatch.delenv("TRANSFER_SCOUT_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_root() == tmp_path / ".cache" / "transfer-scout"
    assert FeatureStore().max_bytes == DEFAULT_MAX_BYTES


@pytest.mark.parametrize("max_bytes", [0, -1, 1.5, True])
def test_invalid_cap_is_refused(tmp_path, max_bytes):
    with pytest.raises(ValueError, match="max_bytes"):
        FeatureStore(tmp_path, max_bytes=max_bytes)
