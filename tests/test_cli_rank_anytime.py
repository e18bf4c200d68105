"""``rank --anytime`` (design.md): each provisional ranking printed as its slice completes, ``DIR/progress.jsonl``
with one line per slice, a final ``ranking.json`` equal to a plain ``rank``'s, every image extracted once."""

import json

import numpy as np
import pytest

from transfer_core.cache.layout import ROWS
from transfer_core.cache.store import FeatureStore
from transfer_core.cli import main
from transfer_core.config import ANYTIME_FRACTIONS, ANYTIME_MIN_IMAGES

MODELS = "zoo:cnn-mnist,zoo:cnn-mnist-random"
ARGS = ["--dataset", "demo:digits", "--models", MODELS, "--limit", "400", "--metrics", "logme,leep,knn",
        "--interval-repeats", "5"]


@pytest.fixture(scope="module")
def anytime(tmp_path_factory):
    """An anytime rank on a fresh store (so every slice extracts), its stdout, and a plain rank after it."""
    root = tmp_path_factory.mktemp("anytime")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRANSFER_SCOUT_CACHE", str(root / "cache"))
        yield root


def test_anytime_prints_each_slice_and_writes_one_progress_line_per_slice(anytime, capsys):
    out = anytime / "anytime"
    assert main(["rank", *ARGS, "--anytime", "--out", str(out)]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if "ranking on" in line]
    lines = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert len(lines) == len(printed) == len(ANYTIME_FRACTIONS)
    images = [line["images"] for line in lines]
    assert images == sorted(set(images)) and images[-1] == 400 and ANYTIME_MIN_IMAGES <= images[0] <= 0.2 * 400
    assert [line["seconds"] for line in lines] == sorted(line["seconds"] for line in lines)
    for line, text in zip(lines, printed):
        assert sorted(entry["model"] for entry in line["ranking"]) == sorted(MODELS.split(","))
        ranks = [entry["consensus_rank"] for entry in line["ranking"]]
        assert ranks == sorted(ranks) and all(isinstance(rank, float) for rank in ranks)
        assert text.startswith(("provisional" if line["images"] < 400 else "final") + f" ranking on {line['images']} "
                               "of 400 images after ")
    final = json.loads((out / "ranking.json").read_text())
    assert [entry["model"] for entry in lines[-1]["ranking"]] == [row["model"] for row in final["models"]]
    assert "part_of" not in final["dataset"] and final["verdict"]["best"] == final["models"][0]["model"]


def test_every_image_was_extracted_once_and_a_plain_rank_after_it_is_served_and_equal(anytime, capsys):
    store = FeatureStore(anytime / "cache")
    folders = list((store.root / ROWS.folder).iterdir())
    assert len(folders) == 2  # one per model
    for folder in folders:  # one chunk per slice, each holding only that slice's new images
        counts = [len(json.loads(str(np.load(path)["__meta__"]))["images"]) for path in folder.glob("*.npz")]
        assert len(counts) == len(ANYTIME_FRACTIONS) and sum(counts) == 400
    plain = anytime / "plain"
    assert main(["rank", *ARGS, "--out", str(plain)]) == 0
    assert "features: 2 from the store" in capsys.readouterr().out
    by_anytime = json.loads((anytime / "anytime" / "ranking.json").read_text())
    by_plain = json.loads((plain / "ranking.json").read_text())
    assert set(by_anytime) == set(by_plain)  # the final ranking.json has the plain shape
    for row, other in zip(by_anytime["models"], by_plain["models"]):
        assert row["model"] == other["model"]
        for metric in by_plain["metrics"]:
            assert row[metric] == pytest.approx(other[metric], rel=1e-12), metric


def test_a_provisional_ranking_is_refused_by_validate(tmp_path, capsys):
    from transfer_core.data import load_dataset
    from transfer_core.ranking.anytime import rank_anytime
    from transfer_core.ranking.output import write_ranking
    from transfer_core.ranking.run import IntervalSettings

    slices = []
    rank_anytime(load_dataset("demo:digits", limit=40), MODELS.split(","), metrics=["knn"],
                 intervals=IntervalSettings(mode="off"), on_slice=slices.append, fractions=(0.5, 1.0), min_images=1)
    assert [item.images for item in slices] == [20, 40] and not slices[0].final and slices[1].final
    write_ranking(slices[0].run, tmp_path / "provisional")
    code = main(["validate", "--ranking", str(tmp_path / "provisional"), "--groundtruth", "probe",
                 "--out", str(tmp_path / "out")])
    assert code == 2 and "provisional: it rests on 20 of the 40 images" in capsys.readouterr().err


def test_a_small_set_skips_the_slices_below_the_minimum_and_ranks_once(tmp_path):
    from transfer_core.data import load_dataset
    from transfer_core.ranking.anytime import rank_anytime
    from transfer_core.ranking.run import IntervalSettings

    slices = []
    rank_anytime(load_dataset("demo:digits", limit=100), MODELS.split(","), metrics=["knn"],
                 intervals=IntervalSettings(mode="off"), on_slice=slices.append)
    assert [item.images for item in slices] == [65, 100]  # 15 and 35 images are below ANYTIME_MIN_IMAGES (40)
