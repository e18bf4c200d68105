"""ONNX Runtime sessions for extraction, with their threads chosen deliberately (docs/bench-threads.md).

Intra-op threads = the threads torch uses (``torch.get_num_threads()``), so both engines load the machine alike;
one inter-op thread and sequential execution (an extractor graph is a chain: parallel branches would only contend
for the same cores); every graph optimisation (``ORT_ENABLE_ALL``: constant folding, fusions, the CPU's blocked
layouts). The intra-op pool's threads :data:`SPIN` (``session.intra_op.allow_spinning``): see docs/bench-threads.md.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

from transfer_core.engines.export import FEATURES, INPUT, LOGITS

SPIN = False  # don't spin-wait between runs: measured in docs/bench-threads.md ("ONNX Runtime spin-wait")


def session_options(threads: int | None = None, spin: bool = SPIN) -> ort.SessionOptions:
    """The options :func:`open_session` uses; ``threads`` defaults to ``torch.get_num_threads()``."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads is not None else torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return options


class OnnxRunner:
    """An exported graph (:mod:`.export`) in an ONNX Runtime CPU session: a preprocessed batch → float32 CPU tensors
    ``(features, logits)`` (logits None without a head)."""

    def __init__(self, graph: bytes, threads: int | None = None, spin: bool = SPIN):
        self.session = ort.InferenceSession(graph, sess_options=session_options(threads, spin),
                                            providers=["CPUExecutionProvider"])
        names = [output.name for output in self.session.get_outputs()]
        if [input_.name for input_ in self.session.get_inputs()] != [INPUT] or names not in ([FEATURES],
                                                                                            [FEATURES, LOGITS]):
            raise ValueError(f"the graph's inputs/outputs are not ({INPUT}) -> ({FEATURES}[, {LOGITS}]): {names}")
        self.has_logits = len(names) == 2

    def __call__(self, batch: torch.Tensor, release: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The outputs of one batch; with ``release`` (a pass's last batch) the session's memory arena gives back what
        it grew to (it keeps the activations of the largest batch otherwise: 1–2 GiB for an EfficientNet at batch 64,
        held by every session a run keeps open)."""
        images = np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32)
        options = _releasing() if release else None
        outputs = [torch.from_numpy(output) for output in self.session.run(None, {INPUT: images}, options)]
        return outputs[0], outputs[1] if self.has_logits else None


def _releasing() -> ort.RunOptions:
    """Run options that shrink the CPU memory arena back to its first chunk when the run ends."""
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options
