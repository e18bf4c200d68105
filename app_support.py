"""Streamlit-side helpers shared by ``app.py`` and the pages: session state, bounded caches, the current choices.

Everything computed lives in ``transfer_core``; this module only remembers what the user chose (``st.session_state``)
and keeps loaded models, datasets and stored features in bounded ``st.cache_resource`` caches.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from transfer_core.app_state import AppDefaults, app_defaults
from transfer_core.models.ids import short_name  # noqa: F401  (the pages' display names)

if TYPE_CHECKING:  # heavy imports stay lazy at run time
    from transfer_core.evidence.uncertainty import RankIntervals
    from transfer_core.evidence.verdict import Verdict
    from transfer_core.ranking.run import RankRun
    from transfer_core.ranking.table import Ranking

# Session-state keys that are not widgets (widget keys live next to their widgets in the pages).
DATASET_SPEC = "dataset_spec"  # DatasetSpec of the dataset in use
UPLOADED_MODELS = "models_uploaded"  # model ids of uploaded checkpoints
RUN = "run_result"  # RunResult of the last ranking

# Widget keys read on more than one page.
ZOO_SELECTION = "models_zoo"
OTHER_MODELS = "models_other"
METRICS = "rank_metrics"


PAGE_DATASET = "pages/dataset.py"
PAGE_MODELS = "pages/models.py"
PAGE_RANK = "pages/rank.py"
PAGE_EXPLORE = "pages/explore.py"
PAGE_VALIDATE = "pages/validate.py"
PAGE_EXPORT = "pages/export.py"


@dataclass(frozen=True)
class DatasetSpec:
    """What ``load_dataset`` is called with, plus a label for people."""

    dataset_id: str
    limit: int | None
    label: str
    seed: int = 0


@dataclass
class RunResult:
    """A finished run of the core (:class:`~transfer_core.ranking.run.RankRun`) and the dataset choice it ran on."""

    result: RankRun
    spec: DatasetSpec
    dataset_fingerprint: str
    part: np.ndarray | None = None  # a provisional (anytime) run: the images of the dataset it rests on

    @property
    def provisional(self) -> bool:
        return self.part is not None

    @property
    def ranking(self) -> Ranking:
        return self.result.ranking

    @property
    def intervals(self) -> RankIntervals | None:
        """None when switched off or impossible (``notes`` say why)."""
        return self.result.intervals

    @property
    def verdict(self) -> Verdict | None:
        """None when no model was ranked."""
        return self.result.verdict

    @property
    def notes(self) -> list[str]:
        return self.result.notes

    @property
    def seconds(self) -> float:
        return self.result.seconds


def defaults() -> AppDefaults:
    """The app defaults; a malformed ``TRANSFER_SCOUT_*`` variable stops the page with its message."""
    try:
        return app_defaults()
    except ValueError as error:
        st.error(f"The app's settings are invalid: {error}")
        st.stop()


def dataset_spec() -> DatasetSpec:
    """The dataset in use: the one chosen on the Dataset page, else the embedded default."""
    if DATASET_SPEC not in st.session_state:
        chosen = defaults()
        label = "embedded default (textile defects)" if chosen.dataset_id == "demo" else chosen.dataset_id
        st.session_state[DATASET_SPEC] = DatasetSpec(chosen.dataset_id, chosen.limit, label)
    return st.session_state[DATASET_SPEC]


@st.cache_resource(max_entries=4, show_spinner="Reading the dataset…")
def cached_dataset(dataset_id: str, limit: int | None, seed: int):
    from transfer_core.data import load_dataset

    return load_dataset(dataset_id, limit=limit, seed=seed)


def load_spec(spec: DatasetSpec):
    """The dataset of ``spec`` (cached); raises ``DatasetError`` with a message for people."""
    return cached_dataset(spec.dataset_id, spec.limit, spec.seed)


def current_dataset():
    """The dataset in use, or an error message on the page and a stop."""
    from transfer_core.data import DatasetError

    spec = dataset_spec()
    try:
        return load_spec(spec)
    except DatasetError as error:
        st.error(f"The dataset {spec.label} could not be read: {error}")
        st.page_link(PAGE_DATASET, label="Choose another dataset", icon=":material/photo_library:")
        st.stop()


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def cached_model(model_id: str):
    """A loaded model (a few stay in memory; the feature store keeps their features)."""
    from transfer_core.models import load_model

    return load_model(model_id)


@st.cache_resource(max_entries=24, show_spinner=False)
def cached_features(dataset_fingerprint: str, model_id: str, _dataset):
    """(features, source probabilities or None) of a model on the dataset, read-only; from the feature store when
    the model was ranked on it (``dataset_fingerprint`` keys the cache, the dataset object is not hashed)."""
    from transfer_core.cache.store import FeatureStore
    from transfer_core.features import extract_by_id

    result, _ = extract_by_id(model_id, _dataset, store=FeatureStore())
    for array in (result.features, result.source_probs):
        if array is not None:
            array.setflags(write=False)
    return result.features, result.source_probs


def zoo_ids() -> list[str]:
    from transfer_core.models import default_zoo_ids

    return default_zoo_ids()


def selected_zoo_ids() -> list[str]:
    """The zoo models ticked on the Models page (the default selection until then)."""
    if ZOO_SELECTION in st.session_state:
        return list(st.session_state[ZOO_SELECTION])
    known = set(zoo_ids())
    return [model_id for model_id in defaults().model_ids if model_id in known]


def other_model_ids() -> list[str]:
    """Ids beyond the zoo list: typed on the Models page, uploaded there, or given by
    ``TRANSFER_SCOUT_DEFAULT_MODELS`` (an unknown ``zoo:`` id lands here too, to fail visibly when ranked)."""
    if OTHER_MODELS in st.session_state:
        typed = [line.strip() for line in st.session_state[OTHER_MODELS].splitlines() if line.strip()]
    else:
        known = set(zoo_ids())
        typed = [model_id for model_id in defaults().model_ids if model_id not in known]
    return typed + list(st.session_state.get(UPLOADED_MODELS, []))


def current_model_ids() -> list[str]:
    return list(dict.fromkeys(selected_zoo_ids() + other_model_ids()))


def current_metrics() -> list[str]:
    return list(st.session_state.get(METRICS, defaults().metrics))


def current_run() -> RunResult | None:
    return st.session_state.get(RUN)


def require_run() -> RunResult:
    """The last ranking, or a pointer to the Rank page and a stop."""
    run = current_run()
    if run is None:
        st.info("Nothing ranked yet in this session: rank the models first, then come back here.")
        st.page_link(PAGE_RANK, label="Go to Rank", icon=":material/leaderboard:")
        st.stop()
    return run


def run_dataset(run: RunResult):
    """The dataset the run ranked on (re-read when it fell out of the cache): for a provisional run, its slice."""
    from transfer_core.data.base import dataset_part

    dataset = load_spec(run.spec)
    return dataset if run.part is None else dataset_part(dataset, run.part)


def run_features(run: RunResult, model_id: str):
    """A ranked model's features on the run's dataset, from the feature store."""
    return cached_features(run.dataset_fingerprint, model_id, run_dataset(run))


@st.cache_data(max_entries=32, show_spinner="Projecting the features…")
def cached_fisher(dataset_fingerprint: str, model_id: str, dims: int, _features, _labels):
    """The Fisher (LDA) projection and the warnings it raised (cached per dataset, model and dimension)."""
    from transfer_core.presentation.projections import FISHER_POINTS, fisher_projection

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        projection = fisher_projection(_features, _labels, dims, max_points=FISHER_POINTS)
    return projection, list(dict.fromkeys(str(warning.message) for warning in caught))


def run_fisher(run: RunResult, model_id: str, dims: int):
    """(projection, warnings) of a ranked model's features on the run's dataset."""
    return cached_fisher(run.dataset_fingerprint, model_id, dims, run_features(run, model_id)[0],
                         run_dataset(run).labels)


def count(number: int, noun: str) -> str:
    """``count(1, "model")`` → ``1 model``; ``count(3, "model")`` → ``3 models``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"

