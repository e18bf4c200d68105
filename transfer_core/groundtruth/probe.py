"""Linear-probe ground truth: cross-validated logistic regression (ridge regression for targets) on frozen features.

This is the cheap stand-in for fine-tuning used by Kornblith et al. (CVPR'19, "Do better ImageNet models transfer
better?") and reported beside fine-tuning in the LogME / SFDA papers; results are always labelled "linear probe".

Classification: features are standardised (fitted on each training fold only), then an L2 multinomial logistic
regression (lbfgs) is fitted. The inverse regularisation C is chosen from the grid ``Cs`` by an inner stratified
K-fold (accuracy) on the outer training fold, refitted there with the best C (smallest C on ties) and scored on the
outer held-out fold. The reported accuracy is the mean over the ``folds`` outer stratified folds.

Regression: standardised features, ridge regression with the penalty chosen from ``alphas`` by efficient
leave-one-out CV (``RidgeCV``) on the training fold; R² (uniform average over target columns) and negative MSE on
the held-out folds of an outer K-fold.

The many small fits run with single-threaded BLAS: at these sizes threads only add overhead, and several threads
per fit on a busy machine slowed fits tenfold in our measurements.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from transfer_core.groundtruth.errors import GroundTruthError
from transfer_core.groundtruth.result import CLASSIFICATION, LINEAR_PROBE, GroundTruth
from transfer_core.groundtruth.targets import class_indices, target_matrix, task_of

DEFAULT_CS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
DEFAULT_ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
INNER_FOLDS = 3
MAX_ITER = 1000
MIN_PER_CLASS = 3  # two outer folds, each training fold still holding 2 images per class for the inner split


def probe_classifier(Cs, inner_folds: int, seed: int) -> GridSearchCV:
    """Standardise → logistic regression, with C chosen by inner stratified CV (what one outer fold fits)."""
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITER))
    inner = StratifiedKFold(inner_folds, shuffle=True, random_state=seed)
    return GridSearchCV(pipeline, {"logisticregression__C": list(Cs)}, cv=inner, scoring="accuracy")


def linear_probe(features, labels=None, *, targets=None, folds: int = 5, seed: int = 0, Cs=DEFAULT_CS,
                 alphas=DEFAULT_ALPHAS, model_id: str = "") -> GroundTruth:
    """Cross-validated linear-probe accuracy of ``features`` [N, D] for ``labels`` [N] (or R² for ``targets``).

    ``folds`` is capped by the smallest class (with a warning); the protocol actually used is in the result.
    """
    started = time.perf_counter()
    task = task_of(labels, targets)
    features = _feature_matrix(features)
    _check_grid(Cs if task == CLASSIFICATION else alphas, "Cs" if task == CLASSIFICATION else "alphas")
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise GroundTruthError(f"folds must be an integer ≥ 2, got {folds!r}")
    with threadpool_limits(limits=1, user_api="blas"):  # faster at these sizes, and no oversubscription
        if task == CLASSIFICATION:
            measures, per_fold, protocol = _probe_classes(features, labels, folds, seed, Cs)
        else:
            measures, per_fold, protocol = _probe_targets(features, targets, folds, seed, alphas)
    protocol.update(samples=len(features), feature_dim=features.shape[1], seed=seed, standardised=True)
    main = measures["accuracy"] if task == CLASSIFICATION else measures["r2"]
    return GroundTruth(model_id=model_id, kind=LINEAR_PROBE, task=task, accuracy=main, measures=measures,
                       protocol=protocol, seconds=time.perf_counter() - started, folds=per_fold)


def _probe_classes(features, labels, folds, seed, Cs) -> tuple[dict, list[dict], dict]:
    y, classes = class_indices(labels, len(features), MIN_PER_CLASS)
    smallest = int(np.bincount(y).min())
    used_folds = min(folds, smallest)
    if used_folds < folds:
        warnings.warn(f"the smallest class has {smallest} images, so the linear probe uses {used_folds} folds "
                      f"instead of {folds}", UserWarning, stacklevel=3)
    inner_folds = max(2, min(INNER_FOLDS, smallest * (used_folds - 1) // used_folds))
    outer = StratifiedKFold(used_folds, shuffle=True, random_state=seed)
    scores = cross_validate(probe_classifier(Cs, inner_folds, seed), features, y, cv=outer, scoring="accuracy",
                            return_estimator=True)
    accuracies = scores["test_score"]
    per_fold = [{"fold": i, "accuracy": float(accuracy), "C": float(search.best_params_["logisticregression__C"])}
                for i, (accuracy, search) in enumerate(zip(accuracies, scores["estimator"]))]
    protocol = {"method": "multinomial logistic regression (L2, lbfgs) on standardised frozen features",
                "outer_folds": used_folds, "inner_folds": inner_folds, "Cs": [float(c) for c in Cs],
                "selection": "C by inner stratified K-fold accuracy, refitted on the outer training fold",
                "max_iter": MAX_ITER, "classes": [str(c) for c in classes]}
    return {"accuracy": float(np.mean(accuracies))}, per_fold, protocol


def _probe_targets(features, targets, folds, seed, alphas) -> tuple[dict, list[dict], dict]:
    matrix = target_matrix(targets, len(features))
    used_folds = min(folds, len(matrix) // 2)
    if used_folds < 2:
        raise GroundTruthError(f"a cross-validated probe needs at least 4 images, got {len(matrix)}")
    outer = KFold(used_folds, shuffle=True, random_state=seed)
    regressor = make_pipeline(StandardScaler(), RidgeCV(alphas=list(alphas)))
    scores = cross_validate(regressor, features, matrix, cv=outer, scoring=("r2", "neg_mean_squared_error"),
                            return_estimator=True)
    per_fold = [{"fold": i, "r2": float(r2), "neg_mse": float(neg_mse), "alpha": float(fitted[-1].alpha_)}
                for i, (r2, neg_mse, fitted) in enumerate(zip(scores["test_r2"], scores["test_neg_mean_squared_error"],
                                                              scores["estimator"]))]
    protocol = {"method": "ridge regression on standardised frozen features", "outer_folds": used_folds,
                "alphas": [float(a) for a in alphas], "selection": "alpha by efficient leave-one-out CV (RidgeCV)",
                "targets": matrix.shape[1]}
    measures = {"r2": float(np.mean(scores["test_r2"])),
                "neg_mse": float(np.mean(scores["test_neg_mean_squared_error"]))}
    return measures, per_fold, protocol


def _feature_matrix(features) -> np.ndarray:
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise GroundTruthError(f"features must be a non-empty [N, D] matrix, got shape {np.shape(features)}")
    if not np.isfinite(matrix).all():
        raise GroundTruthError("features contain NaN or infinite values; re-extract them (the model is likely broken)")
    return matrix


def _check_grid(values, name: str) -> None:
    grid = np.asarray(values, dtype=np.float64) if len(values) else np.empty(0)
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise GroundTruthError(f"{name} must be a non-empty list of positive numbers, got {values!r}")
