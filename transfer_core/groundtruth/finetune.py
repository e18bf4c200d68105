"""Fine-tuning ground truth: train a new linear head (and some or all of the backbone) on the target set.

The protocol of LogME (You et al. ICML'21) and SFDA (Shao et al. ECCV'22), scaled to the machine (see
:class:`~transfer_core.groundtruth.protocol.FineTuneProtocol`): a seeded stratified train / validation / test split;
for every (learning rate, weight decay) pair, fresh pretrained weights, a new zero-initialised linear head on
centred, scaled features (:mod:`~transfer_core.groundtruth.head`), SGD with momentum, gradient clipping and a
per-step warm-up + cosine schedule for a few epochs (at least a set number of steps), the head at a multiple of the
learning rate; among the pairs that did not collapse
(:mod:`~transfer_core.groundtruth.collapse`) the one with the best validation score is chosen and its test score is
reported; when every pair collapsed, the result says so instead of giving an accuracy. Inputs are the model's own
preprocessing (no augmentation). On CUDA the forward pass runs under autocast.
When only the last blocks (or the head) train, the frozen front of the network is computed once per image and
training runs the rest (:mod:`~transfer_core.groundtruth.frozen_prefix`; exact, checked, recorded in the protocol).

A run is cached per (model fingerprint, dataset fingerprint, protocol) in its own folder: a finished run is returned
without training; an interrupted one resumes from the last finished epoch of the grid point it was in. Data order
and dropout are seeded per epoch, so a resumed run reproduces an uninterrupted one (on the CPU
bit for bit; CUDA kernels may differ in the last digits).
"""

from __future__ import annotations

import copy
import functools
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import r2_score
from torch import nn

from transfer_core.cache.layout import RUNS, claim
from transfer_core.cache.store import default_root, store_key
from transfer_core.data.base import ImageDataset
from transfer_core.device import resolve_device
from transfer_core.features import PreprocessedImages, autocast_dtype
from transfer_core.groundtruth.blocks import trained_block_names
from transfer_core.groundtruth.collapse import all_collapsed, loss_collapse, one_class_collapse, r2_collapse
from transfer_core.groundtruth.errors import GroundTruthError
from transfer_core.groundtruth.frozen_prefix import frontier_of, split_frozen_prefix
from transfer_core.groundtruth.head import new_head
from transfer_core.groundtruth.mapping import Mapper, sequential
from transfer_core.groundtruth.progress import Progress, StepTracker
from transfer_core.groundtruth.protocol import FineTuneProtocol
from transfer_core.groundtruth.result import CLASSIFICATION, FINE_TUNE, GroundTruth
from transfer_core.groundtruth.runstore import RunStore
from transfer_core.groundtruth.splits import split_indices
from transfer_core.groundtruth.targets import class_indices, target_matrix, task_of
from transfer_core.models.base import LoadedModel

FINETUNE_VERSION = 3  # bump when a change here alters the result of a given model, dataset and protocol
MIN_PER_CLASS = 3  # one image each for train, validation and test


def default_cache_dir() -> Path:
    """Where fine-tuning runs are kept: the store's folder for them under its root (created and marked)."""
    return claim(default_root(), RUNS)


def run_key(model: LoadedModel, dataset: ImageDataset, protocol: FineTuneProtocol) -> str:
    """The cache key of a run: everything its result depends on (the device is left out)."""
    return store_key({"kind": "fine-tune", "version": FINETUNE_VERSION, "model": model.fingerprint,
                      "layer": model.layer, "preprocessing": model.preprocessing.to_dict(),
                      "dataset": dataset.fingerprint, "images": dataset.size, "protocol": protocol.settings()})


def fine_tune(model: str | LoadedModel, dataset: ImageDataset, *, protocol: FineTuneProtocol | None = None,
              device: str | torch.device = "auto", progress: Progress | None = None,
              cache_dir: str | Path | None = None, num_workers: int = 0,
              map_points: Mapper | None = None) -> GroundTruth:
    """Fine-tuned held-out accuracy (R² for regression targets) of ``model`` on ``dataset``.

    ``model`` is a model ID or a loaded model. ``progress(done_steps, total_steps, eta_seconds, message)`` is called
    after every optimisation step and before each evaluation; a cached result reports ``(total, total, 0.0, …)``
    once. The result is cached under ``cache_dir`` (default :func:`default_cache_dir`).
    ``map_points(fn, items) -> list`` trains the grid points (:mod:`~transfer_core.groundtruth.mapping`; default: one
    after the other here). Each item is ``(index, (learning rate, weight decay))``; ``fn(item)`` trains that point
    (or reads it from the run's folder), writes it there and returns the point's record. The driver stores any point
    a worker could not write and chooses the best point itself, so the result equals a local run's. With a mapper,
    ``progress`` hears the start and the end of the grid only (``fn`` carries no callback).
    """
    protocol = protocol if protocol is not None else FineTuneProtocol()
    if not isinstance(protocol, FineTuneProtocol):
        raise GroundTruthError(f"protocol must be a FineTuneProtocol, got {type(protocol).__name__}")
    if isinstance(model, str):
        from transfer_core.models import load_model

        model = load_model(model)
    run = _Run(model, dataset, protocol, resolve_device(device), progress, num_workers)
    store = RunStore(Path(cache_dir if cache_dir is not None else default_cache_dir()) / run_key(model, dataset,
                                                                                               protocol))
    finished = _cached(store)
    if finished is not None:
        run.tracker.cached(f"{model.model_id}: cached fine-tuning result, no training needed")
        return finished
    result = run.execute(store, map_points)
    store.save_result(result.to_dict())
    return result


def _cached(store: RunStore) -> GroundTruth | None:
    """The stored result of a finished run (None when absent or written by an incompatible version)."""
    data = store.result()
    try:
        return None if data is None else replace(GroundTruth.from_dict(data), cache_hit=True)
    except (TypeError, ValueError):
        return None


class _Examples(torch.utils.data.Dataset):
    """(model inputs as a tuple, training target) pairs; the inputs are a preprocessed image, or the frozen
    prefix's outputs for it."""

    def __init__(self, inputs: torch.utils.data.Dataset, targets: torch.Tensor):
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        inputs = self.inputs[index]
        return inputs if isinstance(inputs, tuple) else (inputs,), self.targets[index]


class _Rows(torch.utils.data.Dataset):
    """Rows of precomputed per-image tensors, looked up by dataset index (only ``indices`` have rows)."""

    def __init__(self, tensors: list[torch.Tensor], indices: np.ndarray, size: int):
        self.tensors = tensors
        self.row = np.full(size, -1)
        self.row[indices] = np.arange(len(indices))

    def __len__(self) -> int:
        return len(self.row)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(tensor[self.row[index]] for tensor in self.tensors)


class _WithHead(nn.Module):
    def __init__(self, trunk: nn.Module, head: nn.Linear):
        super().__init__()
        self.trunk = trunk
        self.head = head

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(*inputs))


class _Run:
    """One fine-tuning run over the protocol's grid (the state shared by its grid points)."""

    def __init__(self, model: LoadedModel, dataset: ImageDataset, protocol: FineTuneProtocol, device: torch.device,
                 progress: Progress | None, num_workers: int):
        self.model, self.dataset, self.protocol, self.num_workers = model, dataset, protocol, num_workers
        self.device, self.precision = device, autocast_dtype(device)
        self.task = task_of(dataset.labels, dataset.targets)
        if self.task == CLASSIFICATION:
            labels, self.classes = class_indices(dataset.labels, dataset.size, MIN_PER_CLASS)
            self.splits = split_indices(dataset.size, labels, protocol)
            self.truth = torch.from_numpy(labels)
            self.targets = self.truth
            self.outputs = len(self.classes)
        else:
            truth = target_matrix(dataset.targets, dataset.size)
            self.splits = split_indices(dataset.size, None, protocol)
            train = truth[self.splits["train"]]
            self.target_mean, self.target_std = train.mean(axis=0), np.maximum(train.std(axis=0), 1e-12)
            self.truth = torch.from_numpy(truth)
            self.targets = torch.from_numpy((truth - self.target_mean) / self.target_std).float()
            self.outputs = truth.shape[1]
        train_size = len(self.splits["train"])
        self.drop_last = train_size % protocol.batch_size == 1  # a lone image would break BatchNorm in training
        self.steps_per_epoch = train_size // protocol.batch_size + (train_size % protocol.batch_size > 1)
        self.epochs = max(protocol.epochs, math.ceil(protocol.min_steps / self.steps_per_epoch))
        self.steps_per_point = self.steps_per_epoch * self.epochs
        self.tracker = StepTracker(self.steps_per_point * len(protocol.grid()), progress)
        self.examples = _Examples(PreprocessedImages(dataset, model.preprocessing), self.targets)
        self.trunk = model.extractor  # what trains (with the head): the extractor, or its part after a frozen prefix
        self.frozen_prefix = False

    @property
    def _devices(self) -> list[torch.device]:
        """The devices whose RNG a fork must save (the CPU's always is)."""
        return [self.device] if self.device.type == "cuda" else []

    @property
    def measure(self) -> str:
        return "accuracy" if self.task == CLASSIFICATION else "r2"

    def execute(self, store: RunStore, map_points: Mapper | None) -> GroundTruth:
        """Train (or restore) every grid point through ``map_points``, then pick the best on validation."""
        self.block_names = trained_block_names(self.model.extractor, self.model.preprocessing, self.protocol)
        with torch.random.fork_rng(devices=self._devices):  # a DataLoader draws its seed from the global RNG
            self._precompute_frozen_prefix()
            self._head_statistics()
        self.tracker.report(f"{self.model.model_id}: starting fine-tuning on {self.device}")
        items = list(enumerate(self.protocol.grid()))
        if map_points is None:
            points = sequential(functools.partial(self._grid_point, store), items)
        else:
            points = map_points(functools.partial(self._detached()._grid_point, store), items)
            self.tracker.skip(self.tracker.total - self.tracker.done)
            self.tracker.report(f"{self.model.model_id}: {len(items)} grid point(s) trained")
        for index, point in enumerate(points):
            if store.point(index) is None:  # a worker that could not write to this folder
                store.save_point(index, point)
        return self._result(points)

    def _detached(self) -> "_Run":
        """A copy without the progress callback, for ``fn`` to carry to a mapper's workers."""
        worker = copy.copy(self)
        worker.tracker = StepTracker(self.tracker.total, None)
        return worker

    def _grid_point(self, store: RunStore, item: tuple[int, tuple[float, float]]) -> dict:
        """One grid point's record: read from ``store`` when finished, else trained (resuming its checkpoint) and
        written there. The global RNG is left as it was."""
        index, (lr, wd) = item
        point = store.point(index)
        if point is not None:
            self.tracker.skip(self.steps_per_point)
            return point
        with torch.random.fork_rng(devices=self._devices):
            point = self._train_point(store, index, lr, wd)
        store.save_point(index, point)
        return point

    def _result(self, points: list[dict]) -> GroundTruth:
        """The best non-collapsed point on validation (the first of equals), or, when every point collapsed, a
        result that says so (its measures those of the collapsed point best on validation, if any was evaluated)."""
        usable = [point for point in points if point["collapsed"] is None]
        evaluated = [point for point in points if point["val"] is not None]
        best = max(usable or evaluated, key=lambda point: point["val"][self.measure], default=None)
        collapsed = None if usable else all_collapsed(points)
        protocol = {**self.protocol.to_dict(), "version": FINETUNE_VERSION,
                    "epochs_run": self.epochs, "steps_per_epoch": self.steps_per_epoch,
                    "trained_blocks": self.block_names, "frozen_prefix_computed_once": self.frozen_prefix,
                    "head_shape": [self.model.card.feature_dim, self.outputs],
                    "split_sizes": {name: len(part) for name, part in self.splits.items()},
                    "selected": None if collapsed or best is None else {"learning_rate": best["learning_rate"],
                                                                        "weight_decay": best["weight_decay"]},
                    "model_fingerprint": self.model.fingerprint, "dataset_id": self.dataset.dataset_id,
                    "dataset_fingerprint": self.dataset.fingerprint, "device": str(self.device),
                    "autocast": None if self.precision is None else str(self.precision).removeprefix("torch.")}
        if self.task == CLASSIFICATION:
            protocol["classes"] = [str(value) for value in self.classes]
        measures = {} if best is None else dict(best["test"])
        return GroundTruth(model_id=self.model.model_id, kind=FINE_TUNE, task=self.task,
                           accuracy=None if collapsed else measures[self.measure], measures=measures,
                           protocol=protocol, seconds=sum(point["seconds"] for point in points), grid=points,
                           collapsed=collapsed)

    def _precompute_frozen_prefix(self) -> None:
        """Run the frozen front of the extractor once over the images (see :mod:`.frozen_prefix`) and train on its
        outputs from then on; nothing changes when the split is impossible or not exact."""
        split = split_frozen_prefix(self.model.extractor, self.block_names)
        if split is None:
            return
        self.tracker.report(f"{self.model.model_id}: computing the frozen layers once for every image")
        used = np.concatenate([self.splits[name] for name in ("train", "val", "test")])
        extractor = self.model.extractor  # the prefix shares its modules: it goes back where the caller had it
        home = next(iter([*extractor.parameters(), *extractor.buffers()]), torch.empty(0)).device
        try:
            frontier = frontier_of(split, (inputs[0] for inputs, _ in self._loader(used, drop_last=False)),
                                   self.device, self.precision, extractor.to(self.device).eval())
        finally:
            extractor.to(home)
        if frontier is not None:
            self.examples = _Examples(_Rows(frontier, used, self.dataset.size), self.targets)
            self.trunk = split.suffix
            self.frozen_prefix = True

    def _head_statistics(self) -> None:
        """The training images' features under the pretrained weights, which the new head standardises with (kept
        as ``self.train_features``; None when the protocol does not standardise)."""
        self.train_features = None
        if not self.protocol.standardise_features:
            return
        self.tracker.report(f"{self.model.model_id}: feature statistics of the training images")
        trunk = self.trunk  # shares its modules with the caller's extractor: it goes back where it was
        home = next(iter([*trunk.parameters(), *trunk.buffers()]), torch.empty(0)).device
        was_training = trunk.training
        try:
            self.train_features = self._predict(trunk.to(self.device).eval(), self.splits["train"])
        finally:
            trunk.to(home).train(was_training)

    def _network(self) -> tuple[_WithHead, list[nn.Module]]:
        """Fresh pretrained weights plus a new zero-initialised head, and the modules that train (head first)."""
        head = new_head(self.train_features, self.model.card.feature_dim, self.outputs)
        network = _WithHead(copy.deepcopy(self.trunk), head).to(self.device)
        trained = [network.head] + [network.trunk.get_submodule(name) for name in self.block_names]
        network.requires_grad_(False)
        for module in trained:
            module.requires_grad_(True)
        return network, trained

    def _schedule(self, optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        """Per step: linear warm-up over the first ``warmup_fraction`` of the steps, then cosine annealing to 0."""
        total = self.steps_per_point
        warmup = round(self.protocol.warmup_fraction * total)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    def _train_point(self, store: RunStore, index: int, lr: float, wd: float) -> dict:
        network, trained = self._network()
        head = [parameter for parameter in network.head.parameters() if parameter.requires_grad]
        body = [parameter for parameter in network.trunk.parameters() if parameter.requires_grad]
        parameters = head + body
        groups = [{"params": head, "lr": lr * self.protocol.head_lr_scale}] + ([{"params": body}] if body else [])
        optimizer = torch.optim.SGD(groups, lr=lr, momentum=self.protocol.momentum, weight_decay=wd)
        total_steps = self.steps_per_point
        scheduler = self._schedule(optimizer)
        scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == torch.float16)
        state = _restore(store.checkpoint(index), trained, optimizer, scheduler, scaler)
        point_start = self.tracker.done
        self.tracker.skip(state["epochs_done"] * self.steps_per_epoch)
        label = f"{self.model.model_id} lr={lr:g} wd={wd:g}"
        for epoch in range(state["epochs_done"], self.epochs):
            started = time.perf_counter()
            losses = self._train_epoch(network, trained, parameters, optimizer, scheduler, scaler, epoch, label)
            state = {"epochs_done": epoch + 1, "epoch_losses": state["epoch_losses"] + [float(np.mean(losses))],
                     "start_loss": losses[0] if epoch == 0 else state["start_loss"],
                     "seconds": state["seconds"] + time.perf_counter() - started}
            if not math.isfinite(losses[-1]):  # count this point's remaining steps as done
                self.tracker.skip(point_start + total_steps - self.tracker.done)
                break
            store.save_checkpoint(index, {"modules": [module.state_dict() for module in trained],
                                          "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                          "scaler": scaler.state_dict(), **state})
        started = time.perf_counter()
        collapsed = loss_collapse(state["start_loss"], state["epoch_losses"])
        point = {"learning_rate": lr, "weight_decay": wd, "collapsed": collapsed,
                 "start_loss": state["start_loss"] if math.isfinite(state["start_loss"]) else None,
                 "epoch_losses": [loss if math.isfinite(loss) else None for loss in state["epoch_losses"]],
                 "val": None, "test": None}
        if all(math.isfinite(loss) for loss in state["epoch_losses"]):
            self.tracker.report(f"{label}: evaluating on the validation and test images")
            outputs = self._predict(network, self.splits["val"])
            point["val"] = self._measures(outputs, self.splits["val"])
            point["collapsed"] = collapsed or (
                one_class_collapse(outputs.argmax(dim=1).numpy(), self.classes) if self.task == CLASSIFICATION
                else r2_collapse(point["val"]["r2"]))
            point["test"] = self._measures(self._predict(network, self.splits["test"]), self.splits["test"])
        point["seconds"] = state["seconds"] + time.perf_counter() - started
        return point

    def _train_epoch(self, network: _WithHead, trained: list[nn.Module], parameters: list[nn.Parameter], optimizer,
                     scheduler, scaler, epoch: int, label: str) -> list[float]:
        """One pass over the training images in a seeded order; the batch losses (ending at the first non-finite
        one, where training stops)."""
        torch.manual_seed(_seed(self.protocol.seed, epoch + 1))  # dropout / drop-path in trained blocks
        order = torch.randperm(len(self.splits["train"]), generator=torch.Generator().manual_seed(
            _seed(self.protocol.seed, epoch + 1)))
        network.eval()  # frozen modules keep their BatchNorm statistics
        for module in trained:
            module.train()
        criterion = nn.functional.cross_entropy if self.task == CLASSIFICATION else nn.functional.mse_loss
        losses = []
        for batch, (inputs, targets) in enumerate(self._loader(self.splits["train"][order.numpy()], self.drop_last)):
            inputs, targets = [tensor.to(self.device) for tensor in inputs], targets.to(self.device)
            with torch.autocast(self.device.type, dtype=self.precision, enabled=self.precision is not None):
                outputs = network(*inputs)
            loss = criterion(outputs.float(), targets)
            losses.append(loss.item())
            if not math.isfinite(losses[-1]):
                return losses
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if self.protocol.max_grad_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(parameters, self.protocol.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            self.tracker.step(f"{label}: epoch {epoch + 1}/{self.epochs}, batch {batch + 1}/"
                              f"{self.steps_per_epoch}, loss {losses[-1]:.3f}")
        return losses

    def _predict(self, network: nn.Module, indices: np.ndarray) -> torch.Tensor:
        """``network``'s float32 outputs for the images at ``indices`` (eval mode is the caller's), on the CPU."""
        batches = []
        with torch.no_grad(), torch.autocast(self.device.type, dtype=self.precision,
                                             enabled=self.precision is not None):
            for inputs, _ in self._loader(indices, drop_last=False):
                batches.append(network(*[tensor.to(self.device) for tensor in inputs]).float().cpu())
        return torch.cat(batches)

    def _measures(self, outputs: torch.Tensor, indices: np.ndarray) -> dict:
        """Accuracy (classification) or R² and negative MSE in the targets' own units (regression)."""
        truth = self.truth[indices]
        if self.task == CLASSIFICATION:
            return {"accuracy": float((outputs.argmax(dim=1) == truth).double().mean())}
        predictions = outputs.double().numpy() * self.target_std + self.target_mean
        return {"r2": float(r2_score(truth.numpy(), predictions)),
                "neg_mse": float(-np.mean((truth.numpy() - predictions) ** 2))}

    def _loader(self, indices: np.ndarray, drop_last: bool) -> torch.utils.data.DataLoader:
        subset = torch.utils.data.Subset(self.examples, indices.tolist())
        return torch.utils.data.DataLoader(subset, batch_size=self.protocol.batch_size, shuffle=False,
                                           drop_last=drop_last, num_workers=self.num_workers,
                                           pin_memory=self.device.type == "cuda")


def _restore(saved: dict | None, trained: list[nn.Module], optimizer, scheduler, scaler) -> dict:
    """Load a checkpoint into the trained modules and the optimiser state; the run's counters (zero without one)."""
    state = {"epochs_done": 0, "epoch_losses": [], "start_loss": math.nan, "seconds": 0.0}
    if saved is None:
        return state
    for module, module_state in zip(trained, saved["modules"]):
        module.load_state_dict(module_state)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    scaler.load_state_dict(saved["scaler"])
    return {key: saved[key] for key in state}


def _seed(*parts: int) -> int:
    """A 32-bit seed derived from the protocol seed and a position (epoch), independent across positions."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])
