"""Sentences the app builds from committed benchmark results (transfer_core/presentation/measured.py)."""

import json

from transfer_core.presentation.measured import (
    AGREEMENT_FILE,
    agreement_sentence,
    cold_cost_sentence,
    measured_agreement,
)


def test_the_cold_cost_sentence_quotes_the_committed_run(tmp_path):
    path = tmp_path / "cold.json"
    path.write_text(json.dumps({"machine": "AMD EPYC, 2 cores, load average 1.0", "images": 1000, "models": 14,
                                "runs": {"torch": {"seconds": 1043.4},
                                         "anytime": {"seconds": 250.2, "slices": [[150, 41.0], [1000, 250.2]]}}}))
    assert cold_cost_sentence(path) == (
        "Measured cold on AMD EPYC, 2 cores: 1000 images × 14 models gave a first provisional ranking (on 150 images) "
        "after 41 s and the full ranking after 4 min 10 s.")


def test_without_results_the_sentences_are_empty(tmp_path):
    assert cold_cost_sentence(tmp_path / "missing.json") == ""
    (tmp_path / "broken.json").write_text("{not json")
    assert measured_agreement(tmp_path / "broken.json") == [] and agreement_sentence(0.5, []) == ""


def test_the_committed_agreement_is_quoted_at_the_slice_a_ranking_rests_on():
    rows = measured_agreement(AGREEMENT_FILE)
    assert [row["fraction"] for row in rows] == sorted(row["fraction"] for row in rows) and rows[-1]["tau"] == 1.0
    first = rows[0]
    sentence = agreement_sentence(first["fraction"])
    assert f"({first['images']} of {first['of']})" in sentence and f"τ ≈ {first['tau']:.2f}" in sentence
    assert agreement_sentence(0.99) == agreement_sentence(rows[-2]["fraction"])  # the last slice below, not 100 %
