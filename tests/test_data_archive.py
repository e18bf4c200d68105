"""Zipped image folders: safe extraction (no escapes, no links, size and count limits), then a normal folder."""

import stat
import struct
import zipfile
from pathlib import Path

import pytest

from data_helpers import write_class_folder
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
    first = extract_zip(zip_path, cache / "datasets")
    stamp = (first / "a" / "img_000.png").stat().st_mtime_ns
    assert extract_zip(zip_path, cache / "datasets") == first
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
        extract_zip(zip_path, cache / "datasets", ZipLimits(max_total_bytes=10 * 2**20))
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
        extract_zip(zip_path, cache / "datasets", ZipLimits(max_files=4))


def test_entry_larger_than_declared_fails_its_check_and_leaves_nothing(tmp_path, cache):
    zip_path = _zip_with(tmp_path / "liar.zip", [("cat/2.png", bytes(1000))])
    _patch_central_directory(zip_path, UNCOMPRESSED_SIZE_AT, 1)  # claims 1 byte per entry
    with pytest.raises(DatasetError, match="could not extract"):
        load_dataset(str(zip_path))
    assert _files_under(cache) == set()


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
