"""The two models: the reference random forest (scikit-learn) and gradient boosting
(XGBoost), with the settings both engines share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlfabric.errors import InvalidInput

MODELS = ("rf", "xgboost")


@dataclass(frozen=True)
class ModelSpec:
    """What to train: the reference recipe's forest is 10 trees of depth 10."""

    kind: str = "rf"
    trees: int = 10
    max_depth: int = 10
    rounds: int = 60
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in MODELS:
            raise InvalidInput(f"unknown model '{self.kind}': expected one of "
                               f"{', '.join(MODELS)}", field="model", value=self.kind)
        if self.trees < 1 or self.max_depth < 1 or self.rounds < 1:
            raise InvalidInput("--trees, --max-depth and --rounds must be positive")

    def xgb_params(self, threads: int) -> dict[str, Any]:
        return {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
                "max_depth": min(self.max_depth, 6), "eta": 0.2, "max_bin": 256,
                "seed": self.seed, "nthread": threads}


def forest(spec: ModelSpec, trees: int, jobs: int, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=trees, max_depth=spec.max_depth, n_jobs=jobs,
                                  random_state=seed)


def merge_forests(parts: list[Any]) -> Any:
    """One forest of all the trees fitted on separate parts of the data (as cuML's
    multi-node random forest builds each worker's trees on its local rows)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        raise InvalidInput("no training rows: every part of the data was empty")
    merged = parts[0]
    for other in parts[1:]:
        if list(other.classes_) != list(merged.classes_):
            raise InvalidInput("a part of the data has clicks only or no clicks: use more rows")
        merged.estimators_ += other.estimators_
    merged.n_estimators = len(merged.estimators_)
    return merged


def click_scores(model: Any, x: np.ndarray) -> np.ndarray:
    """P(click) for each row of ``x`` (a forest or an XGBoost booster)."""
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(x)
        ones = list(model.classes_).index(1) if 1 in model.classes_ else None
        return proba[:, ones] if ones is not None else np.zeros(len(x))
    import xgboost as xgb

    return model.predict(xgb.DMatrix(x))


def save(model: Any, folder: str) -> str:
    """Write the model into ``folder``; its file name."""
    import os

    if hasattr(model, "save_model"):
        name = "model.ubj"
        model.save_model(os.path.join(folder, name))
        return name
    import pickle

    name = "model.pkl"
    with open(os.path.join(folder, name), "wb") as f:
        pickle.dump(model, f)
    return name
