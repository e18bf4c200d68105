"""Zipped image folders: safe extraction (no escapes, no links, size and count limits), then a normal folder; the
extraction is the store's (counted, capped, pinned while used) and a killed one is cleaned up."""

import stat
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from data_helpers import write_class_folder
from store_helpers import age, python
from transfer_core.cache.layout import DATASETS, MARKER, STALE_SECONDS
from transfer_core.cache.locks import release
from transfer_core.cache.store import FeatureStore
from transfer_core.data import DatasetError, load_dataset
from transfer_core.data.archive import ZipLimits, extract_zip

CENTRAL_HEADER = b"PK\x01\x02"
FLAGS_AT, UNCOMPRESSED_SIZE_AT = 8, 24  # byte offsets of fields inside a central-directory header


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("TRANSFER_SCOUT_CACHE", str(root))
    return root


def _zip_folder(folder: Path, zip_path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, prefix + path.relative_to(folder).as_posix())
    return zip_path


def _zip_with(zip_path: Path, entries: list) -> Path:
    """A zip of a valid two-class folder plus ``entries`` ((name or ZipInfo, bytes) pairs)."""
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("cat/1.png", b"x")
        archive.writestr("dog/1.png", b"y")
        for name, data in entries:
            archive.writestr(name, data)
    return zip_path


def _patch_central_directory(zip_path: Path, offset: int, value: int) -> None:
    """Overwrite a 4-byte (size) or 2-byte (flags) field in every central-directory header: a lying archive."""
    data = bytearray(zip_path.read_bytes())
    fmt = "<H" if offset == FLAGS_AT else "<I"
    start = data.find(CENTRAL_HEADER)
    while start != -1:
        struct.pack_into(fmt, data, start + offset, value)
        start = data.find(CENTRAL_HEADER, start + 1)
    zip_path.write_bytes(bytes(data))


def _files_under(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def test_zip_loads_like_its_folder_through_a_wrapping_folder(tmp_path, cache):
    folder = write_class_folder(tmp_path / "pets", {"cat": 2, "dog": 3})
    zip_path = _zip_folder(folder, tmp_path / "pets.zip", prefix="pets/")
    with zipfile.ZipFile(zip_path, "a") as archive:
        archive.writestr("__MACOSX/pets/cat/._img_000.png", b"resource fork")
    dataset = load_dataset(str(zip_path))
    plain = load_dataset(str(folder))
    assert dataset.name == "pets" and dataset.dataset_id == str(zip_path)
    assert dataset.item_names == plain.item_names and dataset.labels.tolist() == plain.labels.tolist()
    assert dataset.fingerprint == plain.fingerprint and dataset.skipped == []
    assert dataset.load(4).size == plain.load(4).size


def test_extraction_is_reused_for_the_same_zip(tmp_path, cache):
    zip_path = _zip_folder(write_class_folder(tmp_path / "d", {"a": 1, "b": 1}), tmp_path / "d.zip")
    first = extract_zip(zip_path, FeatureStore(cache))
    stamp = (first / "a" / "img_000.png").stat().st_mtime_ns
    assert extract_zip(zip_path, FeatureStore(cache)) == first
    assert (first / "a" / "img_000.png").stat().st_mtime_ns == stamp
    assert [path.name for path in (cache / "datasets").iterdir()] == [first.name]  # no leftover staging folder


@pytest.mark.parametrize(("name", "message"), [
    ("../evil.png", "outside the archive"),
    ("cat/../../evil.png", "outside the archive"),
    ("..\\evil.png", "outside the archive"),
    ("/tmp/evil.png", "absolute path"),
    ("C:/evil.png", "absolute path"),
])
def test_path_escapes_are_refused_and_nothing_is_written(tmp_path, cache, name, message):
    zip_path = _zip_with(tmp_path / "bad.zip", [(name, b"payload")])
    with pytest.raises(DatasetError, match=message):
        load_dataset(str(zip_path))
    assert _files_under(tmp_path) == {"bad.zip"}
    assert not Path("/tmp/evil.png").exists()


def test_symlink_entry_is_refused(tmp_path, cache):
    link = zipfile.ZipInfo("cat/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    zip_path = _zip_with(tmp_path / "link.zip", [(link, "/etc/passwd")])
    with pytest.raises(DatasetError, match="symbolic link"):
        load_dataset(str(zip_path))
    assert _files_under(tmp_path) == {"link.zip"}


def test_zip_bomb_is_refused_before_writing(tmp_path, cache):
    zip_path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cat/zeros.bmp", bytes(20 * 2**20))  # 20 MiB of zeros deflate to ~20 KiB
        archive.writestr("dog/zeros.bmp", b"")
    assert zip_path.stat().st_size < 2**20
    with pytest.raises(DatasetError, match="zip bomb"):
        extract_zip(zip_path, FeatureStore(cache), ZipLimits(max_total_bytes=10 * 2**20))
    assert not (cache / "datasets").exists()


def test_declared_sizes_over_the_default_limit_are_refused(tmp_path, cache):
    zip_path = _zip_with(tmp_path / "huge.zip", [])
    _patch_central_directory(zip_path, UNCOMPRESSED_SIZE_AT, 3_000_000_000)  # two entries claiming 3 GB each
    with pytest.raises(DatasetError, match="zip bomb"):
        load_dataset(str(zip_path))
    assert not (cache / "datasets").exists()


def test_too_many_files_is_refused(tmp_path, cache):
    zip_path = _zip_with(tmp_path / "many.zip", [(f"cat/extra{k}.png", b"") for k in range(5)])
    with pytest.raises(DatasetError, match="more than 4 files"):
        extract_zip(zip_path, FeatureStore(cache), ZipLimits(max_files=4))


def test_entry_larger_than_declared_fails_its_check_and_leaves_nothing(tmp_path, cache):
    zip_path = _zip_with(tmp_path / "liar.zip", [("cat/2.png", bytes(1000))])
    _patch_central_directory(zip_path, UNCOMPRESSED_SIZE_AT, 1)  # claims 1 byte per entry
    with pytest.raises(DatasetError, match="could not extract"):
        load_dataset(str(zip_path))
    assert _files_under(cache) - {MARKER} == set()


def test_encrypted_entry_is_refused(tmp_path, cache):
    zip_path = _zip_with(tmp_path / "locked.zip", [])
    _patch_central_directory(zip_path, FLAGS_AT, 0x1)
    with pytest.raises(DatasetError, match="encrypted"):
        load_dataset(str(zip_path))


def test_duplicate_entries_are_refused(tmp_path, cache):
    with pytest.warns(UserWarning, match="Duplicate name"):  # zipfile warns, but writes it
        zip_path = _zip_with(tmp_path / "dup.zip", [("cat/1.png", b"z")])
    with pytest.raises(DatasetError, match="twice"):
        load_dataset(str(zip_path))


def test_a_file_that_is_not_a_zip_is_a_clear_error(tmp_path, cache):
    fake = tmp_path / "photos.zip"
    fake.write_bytes(b"this is not a zip archive")
    with pytest.raises(DatasetError, match="could not extract .*unzip it yourself"):
        load_dataset(str(fake))


PAUSED_EXTRACTION = """
import os, sys
from pathlib import Path
import transfer_core.data.archive as archive
from transfer_core.cache.store import FeatureStore
write, paused = archive._write_member, []
def pause_after_the_first_file(*args):
    write(*args)
    if not paused:
        paused.append(True)
        print("wrote", flush=True)
        if sys.stdin.readline().strip() == "die":
            os._exit(3)
archive._write_member = pause_after_the_first_file
print(archive.extract_zip(Path(sys.argv[1]), FeatureStore(sys.argv[2])), flush=True)
sys.stdin.readline()
"""


def _paused_extraction(zip_path: Path, cache: Path):
    """Another process extracting ``zip_path`` into ``cache``, stopped after its first file; and its staging folder."""
    child = python(PAUSED_EXTRACTION, str(zip_path), str(cache), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   text=True)
    assert child.stdout.readline() == "wrote\n"
    (staging,) = (cache / DATASETS.folder).glob(".extracting-*")
    return child, staging


def _two_class_zip(tmp_path: Path, name: str, images: int = 2) -> Path:
    """A zip of its own content (the class names differ by ``name``)."""
    folder = write_class_folder(tmp_path / name, {f"{name}-a": images, f"{name}-b": images})
    return _zip_folder(folder, tmp_path / f"{name}.zip")


def test_an_extracted_dataset_counts_against_the_cap_and_is_evicted_least_recently_used(tmp_path, cache):
    folder = write_class_folder(tmp_path / "d", {"a": 2, "b": 2})
    extracted = extract_zip(_zip_folder(folder, tmp_path / "d.zip"), FeatureStore(cache))
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    (datasets,) = [usage for usage in FeatureStore(cache).usage().kinds if usage.kind == DATASETS]
    assert (datasets.count, datasets.bytes) == (1, size)
    assert FeatureStore(cache).usage().entries == 1 and FeatureStore(cache).usage().bytes == size
    release(extracted)  # as if the process that extracted it had finished
    age(extracted, 100)
    entry = {"features": np.zeros((4, 64), np.float32)}
    probe = FeatureStore(tmp_path / "probe")
    probe.put(probe.key({}), entry, {})
    entry_bytes = probe.usage().bytes
    store = FeatureStore(cache, max_bytes=size + entry_bytes + entry_bytes // 2)  # the dataset and one entry
    old = store.key({"entry": "old"})
    store.put(old, entry, {})
    age(store.path(old), 50)
    assert extract_zip(tmp_path / "d.zip", store) == extracted  # reused: now the most recently used
    assert store.put(store.key({"entry": "new"}), entry, {})
    assert extracted.is_dir() and not store.path(old).exists()
    release(extracted)
    age(extracted, 100)
    assert store.put(store.key({"entry": "newer"}), entry, {})
    assert not extracted.exists() and store.usage().bytes <= store.max_bytes


def test_a_dataset_in_use_is_kept_over_the_cap(tmp_path, cache):
    extracted = extract_zip(_two_class_zip(tmp_path, "d"), FeatureStore(cache, max_bytes=1))
    assert extracted.is_dir()  # this process uses it: larger than the cap, still there
    age(extracted, 100)
    FeatureStore(cache, max_bytes=1).put(FeatureStore.key({"x": 1}), {"features": np.zeros((2, 2))}, {})
    assert extracted.is_dir()


def test_a_killed_extraction_is_cleaned_once_stale(tmp_path, cache):
    child, staging = _paused_extraction(_two_class_zip(tmp_path, "big"), cache)
    child.communicate("die\n", timeout=60)
    assert child.returncode == 3 and staging.is_dir()
    extract_zip(_two_class_zip(tmp_path, "other"), FeatureStore(cache))
    assert staging.is_dir()  # recent: it could still be a live writer's
    age(staging, STALE_SECONDS + 60)
    kept = extract_zip(_two_class_zip(tmp_path, "third"), FeatureStore(cache))
    assert not staging.exists() and kept.is_dir()
    assert not list((cache / DATASETS.folder).glob(".extracting-*"))


def test_a_live_extraction_is_never_cleaned_even_when_old(tmp_path, cache):
    zip_path = _two_class_zip(tmp_path, "slow")
    child, staging = _paused_extraction(zip_path, cache)
    age(staging, STALE_SECONDS + 60)
    FeatureStore(cache, max_bytes=1).evict()
    FeatureStore(cache).clear()
    assert staging.is_dir()
    out, _ = child.communicate("go\n\n", timeout=60)
    target = Path(out.splitlines()[-1])
    assert child.returncode == 0 and not staging.exists()
    assert _files_under(target) == {"slow-a/img_000.png", "slow-a/img_001.png", "slow-b/img_000.png",
                                    "slow-b/img_001.png"}


def test_a_dataset_another_process_uses_is_neither_evicted_nor_cleared(tmp_path, cache):
    child, _ = _paused_extraction(_two_class_zip(tmp_path, "shared", images=1), cache)
    child.stdin.write("go\n")
    child.stdin.flush()
    target = Path(child.stdout.readline().strip())  # extracted, and pinned until the child exits
    age(target, 100)
    FeatureStore(cache, max_bytes=1).evict()
    cleared = FeatureStore(cache).clear()
    assert target.is_dir() and cleared.in_use == 1 and cleared.removed["extracted zip datasets"] == 0
    child.communicate("\n", timeout=60)
    assert child.returncode == 0
    assert FeatureStore(cache).clear().removed["extracted zip datasets"] == 1 and not target.exists()
