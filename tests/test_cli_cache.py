"""``cache info`` / ``cache clear``: every kind the store wrote is counted and cleared; a folder that is not the
store's is refused (exit 2, one line on stderr) and left as it was."""

import numpy as np
import pytest

from transfer_core.cache.layout import MARKER
from transfer_core.cache.store import FeatureStore
from transfer_core.cli import EXIT_USAGE, main
from transfer_core.uploads import save_upload


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("TRANSFER_SCOUT_CACHE", str(root))
    return root


def test_info_counts_each_kind_and_clear_removes_them(cache, capsys):
    store = FeatureStore()
    store.put(store.key({"n": 1}), {"features": np.ones((2, 2), np.float32)}, {})
    save_upload("photos.zip", b"zip bytes")
    assert main(["cache", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{cache}: 1 entries, ")
    assert lines[0].endswith("(feature entries, extracted zip datasets, exported ONNX graph files, feature rows per "
                             "image; least recently used evicted first)")
    assert any(line.startswith("  feature entries: 1, ") for line in lines)
    assert any(line.startswith("  uploads: 1, ") and line.endswith("never evicted") for line in lines)
    assert main(["cache", "clear"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("removed 1 feature entries, 0 extracted zip datasets, 0 model manifests, "
                          "0 fine-tuning runs, 1 uploads, 0 exported ONNX graph files, 0 feature rows per image from ")
    assert sorted(path.name for path in cache.iterdir()) == [MARKER]


def test_clear_refuses_a_project_folder(cache, capsys):
    checkpoint = cache / "models" / "my-checkpoint.pth"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights")
    (cache / "train.py").write_text("print('hi')")
    assert main(["cache", "clear"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"error: refusing to clear {cache}") and "train.py" in err and err.count("\n") == 1
    assert checkpoint.read_bytes() == b"weights" and (cache / "train.py").exists()


def test_clear_refuses_a_root_that_is_a_file(cache, capsys):
    cache.write_text("not a folder")
    assert main(["cache", "clear"]) == EXIT_USAGE
    assert "is not a folder" in capsys.readouterr().err
    assert cache.read_text() == "not a folder"
