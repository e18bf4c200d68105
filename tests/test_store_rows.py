"""Feature rows per image (transfer_core/cache/rows.py): read back in request order from several chunks, only what
is stored, damaged chunks dropped, the size cap and ``cache clear`` covering them."""

import numpy as np
import pytest

from transfer_core.cache.layout import ROWS
from transfer_core.cache.rows import read_rows, rows_key, write_rows
from transfer_core.cache.store import FeatureStore

KEY = rows_key({"model": "m", "layer": "penultimate"})


def rows(first: int, count: int, width: int = 3) -> np.ndarray:
    return np.arange(first * width, (first + count) * width, dtype=np.float32).reshape(count, width)


def test_rows_come_back_in_request_order_across_chunks_and_only_for_stored_images(tmp_path):
    store = FeatureStore(tmp_path)
    write_rows(store, KEY, ["a", "b"], {"features": rows(0, 2)}, {})
    write_rows(store, KEY, ["c"], {"features": rows(2, 1)}, {})
    stored = read_rows(store, KEY, ["c", "x", "a"], ["features"])
    assert stored.found.tolist() == [True, False, True]
    np.testing.assert_array_equal(stored.arrays["features"], np.vstack([rows(2, 1), rows(0, 1)]))
    assert read_rows(store, rows_key({"model": "other"}), ["a"], ["features"]).found.tolist() == [False]


def test_an_image_in_two_chunks_is_read_once_and_rewriting_the_same_rows_keeps_one_chunk(tmp_path):
    store = FeatureStore(tmp_path)
    write_rows(store, KEY, ["a", "b"], {"features": rows(0, 2)}, {})
    write_rows(store, KEY, ["a", "b"], {"features": rows(0, 2)}, {})
    write_rows(store, KEY, ["b", "c"], {"features": rows(1, 2)}, {})
    assert len(list((tmp_path / ROWS.folder / KEY).glob("*.npz"))) == 2
    stored = read_rows(store, KEY, ["a", "b", "c"], ["features"])
    np.testing.assert_array_equal(stored.arrays["features"], rows(0, 3))


def test_a_chunk_without_an_array_its_model_has_is_damaged(tmp_path):
    """A model's rows key says whether it has a source head, so every chunk of it carries the same arrays."""
    store = FeatureStore(tmp_path)
    write_rows(store, KEY, ["a"], {"features": rows(0, 1)}, {})
    write_rows(store, KEY, ["b"], {"features": rows(1, 1), "source_probs": np.full((1, 2), 0.5)}, {})
    with pytest.warns(UserWarning, match="lacks the array"):
        stored = read_rows(store, KEY, ["a", "b"], ["features", "source_probs"])
    assert stored.found.tolist() == [False, True] and stored.arrays["source_probs"].shape == (1, 2)
    assert len(list((tmp_path / ROWS.folder / KEY).glob("*.npz"))) == 1


def test_a_damaged_chunk_is_removed_with_a_warning_and_its_images_are_a_miss(tmp_path):
    store = FeatureStore(tmp_path)
    write_rows(store, KEY, ["a"], {"features": rows(0, 1)}, {})
    write_rows(store, KEY, ["b"], {"features": rows(1, 1)}, {})
    damaged = sorted((tmp_path / ROWS.folder / KEY).glob("*.npz"))[0]
    damaged.write_bytes(b"not an npz")
    with pytest.warns(UserWarning, match="removed them, so those images are extracted again"):
        stored = read_rows(store, KEY, ["a", "b"], ["features"])
    assert stored.found.sum() == 1 and not damaged.exists()


def test_a_chunk_of_another_width_is_left_out(tmp_path):
    store = FeatureStore(tmp_path)
    write_rows(store, KEY, ["a"], {"features": rows(0, 1, width=3)}, {})
    write_rows(store, KEY, ["b"], {"features": rows(0, 1, width=5)}, {})
    stored = read_rows(store, KEY, ["a", "b"], ["features"])
    assert stored.found.sum() == 1 and stored.arrays["features"].shape[1] in (3, 5)


def test_non_finite_rows_are_refused_before_anything_is_written(tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        write_rows(store, KEY, ["a"], {"features": np.array([[np.nan, 1.0]])}, {})
    assert not (tmp_path / ROWS.folder).exists()


def test_rows_count_against_the_cap_and_cache_clear_removes_them(tmp_path):
    store = FeatureStore(tmp_path)
    write_rows(store, KEY, ["a", "b"], {"features": rows(0, 2)}, {})
    usage = {kind.kind.folder: kind for kind in store.usage().kinds}
    assert usage["rows"].count == 1 and usage["rows"].bytes > 0 and store.usage().entries == 1
    FeatureStore(tmp_path, max_bytes=1).evict()
    assert not read_rows(store, KEY, ["a"], ["features"]).found.any()
    write_rows(store, KEY, ["a"], {"features": rows(0, 1)}, {})
    assert store.clear().removed["feature rows per image"] == 1


def test_without_array_names_only_which_images_are_stored_is_read(tmp_path):
    store = FeatureStore(tmp_path)
    write_rows(store, KEY, ["a", "b"], {"features": rows(0, 2)}, {})
    stored = read_rows(store, KEY, ["b", "z"], ())
    assert stored.found.tolist() == [True, False] and stored.arrays == {} and len(stored.meta) == 1
