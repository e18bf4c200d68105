"""ONNX Runtime for one extraction: the cached graph whose verdict passed, or else a fresh export of the model,
verified against torch on the first images of the dataset being extracted and recorded (:mod:`.graphs`); or the
reason the model has to run in torch instead."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from transfer_core.cache.store import FeatureStore
from transfer_core.engines import graphs
from transfer_core.engines.export import SourceGraph, export_graph
from transfer_core.engines.session import OnnxRunner
from transfer_core.engines.verify import Verdict, failed, verify
from transfer_core.models.base import LoadedModel

VERIFY_IMAGES = 8  # the first images of the first batch: the graph is compared with torch on them and on one
TRACE_IMAGES = 2  # the trace runs on the first two (about 0.4 s less per model than on eight); the one-image check
# never has the traced batch size, so a graph that only works at that size fails it


@dataclass(frozen=True)
class Prepared:
    """A verified graph's runner, or None and the reason (for the user) why the model runs in torch; None and no
    reason when torch's own outputs on the first images are invalid (the torch path then reports the model's fault
    as it always does, and nothing is recorded)."""

    runner: OnnxRunner | None
    reason: str | None = None


def prepare(model: LoadedModel, graph: SourceGraph, batch: torch.Tensor, store: FeatureStore | None,
            dataset_id: str) -> Prepared:
    """ONNX Runtime for ``model`` (``graph`` = its extractor and head in torch), given the first preprocessed
    ``batch`` of the dataset; without a ``store`` the graph is exported and verified for this call only."""
    key = graphs.graph_key(model) if store is not None else None
    stored = graphs.read(store, key) if store is not None else None
    if stored is not None and stored.graph is None:
        return Prepared(None, f"{stored.meta.get('reason')} (recorded in the cache when this model was verified; "
                              "`python -m transfer_core cache clear` lets it try again)")
    if stored is not None:
        try:
            return Prepared(OnnxRunner(stored.graph))
        except Exception as err:  # whatever ONNX Runtime raises: export afresh
            warnings.warn(f"ONNX Runtime could not load the cached graph of {model.model_id!r} ({_brief(err)}); "
                          "exporting it again", stacklevel=3)
            graphs.discard(store, key)
    images = _sample(batch)
    cases = [("", images, _reference(graph, images)), (" (one image)", images[:1], _reference(graph, images[:1]))]
    if any(expected is None for _, _, expected in cases):
        return Prepared(None)
    verdict, data, runner = _exported(graph, images, cases)
    if store is not None:
        meta = {"model_id": model.model_id, "dataset_id": dataset_id, "images": len(images), **verdict.to_dict()}
        graphs.record(store, key, meta, data if verdict.passed else None)
    return Prepared(runner, None) if verdict.passed else Prepared(None, verdict.reason)


def _exported(graph: SourceGraph, images: torch.Tensor, cases: list
              ) -> tuple[Verdict, bytes | None, OnnxRunner | None]:
    """Export (traced on the first :data:`TRACE_IMAGES` of ``images``), load and verify on ``cases``; each step's
    failure becomes a failed verdict."""
    try:
        data = export_graph(graph, images[:TRACE_IMAGES])
    except Exception as err:  # the exporter raises anything for a model it cannot trace
        return failed(f"the export to ONNX failed ({_brief(err)})"), None, None
    try:
        runner = OnnxRunner(data)
    except Exception as err:
        return failed(f"ONNX Runtime could not load the exported graph ({_brief(err)})"), None, None
    try:
        verdict = verify(runner, cases)
    except Exception as err:
        return failed(f"ONNX Runtime failed on the exported graph ({_brief(err)})"), None, None
    return verdict, data, runner


def _sample(batch: torch.Tensor) -> torch.Tensor:
    """The first :data:`VERIFY_IMAGES` images, contiguous float32 on the CPU; a single image is doubled, so the
    trace has two."""
    images = batch[:VERIFY_IMAGES].detach().to("cpu", torch.float32).contiguous()
    return images.repeat(2, 1, 1, 1) if len(images) == 1 else images


def _reference(graph: SourceGraph, images: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
    """torch's ``(features[, logits])`` of ``images``, or None unless each is a finite ``[images, dim]`` array."""
    with torch.inference_mode():
        outputs = [graph.extractor(images)]
        if _valid(outputs[0], len(images)) and graph.head is not None:
            outputs.append(graph.head(outputs[0]))
    return tuple(outputs) if all(_valid(output, len(images)) for output in outputs) else None


def _valid(output: torch.Tensor, rows: int) -> bool:
    return output.ndim == 2 and output.shape[0] == rows and bool(torch.isfinite(output).all())


def _brief(err: Exception) -> str:
    """``Type: first line of the message`` (at most 300 characters)."""
    lines = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= 300 else text[:297] + "..."
