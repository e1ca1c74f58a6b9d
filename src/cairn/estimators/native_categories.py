"""Native categorical splits: LightGBM and CatBoost learn category codes as categories, not as ordered numbers.

The encoder turns each category into an integer code; a tree that reads codes as numbers can only split them
by order (codes 0-4 against 5-27), which means nothing for a neighbourhood. LightGBM can split on any subset of
codes, CatBoost replaces each code by ordered target statistics, when told which columns are categories. Only
the fitted encoder knows where those columns land, so the pipeline passes them to the model at fit time.
"""

from __future__ import annotations

from typing import Any

from sklearn.pipeline import Pipeline


def takes_categories(estimator: Any) -> bool:
    """LightGBM's scikit-learn estimators accept `categorical_feature` in fit, cairn's CatBoost ones (see
    cairn.catboost_codes) `cat_features`."""
    return _is_lightgbm(estimator) or getattr(estimator, "learns_codes_as_categories", False)


def category_fit_params(estimator: Any, columns: list[int]) -> dict[str, Any]:
    if not columns or not takes_categories(estimator):
        return {}
    return {"categorical_feature": list(columns)} if _is_lightgbm(estimator) else {"cat_features": list(columns)}


def _is_lightgbm(estimator: Any) -> bool:
    return type(estimator).__module__.split(".")[0] == "lightgbm"


class TabularPipeline(Pipeline):  # type: ignore[misc]  # untyped base class
    """derive -> encode -> model, where a LightGBM or CatBoost model learns the encoder's code columns as categories."""

    def fit(self, X: Any, y: Any = None, **params: Any) -> TabularPipeline:
        model = self.steps[-1][1]
        encoder = self.named_steps.get("encode")
        if params or encoder is None or not takes_categories(model):
            fitted: TabularPipeline = super().fit(X, y, **params)
            return fitted
        encoded = X
        for _, step in self.steps[:-1]:
            encoded = step.fit_transform(encoded, y)
        model.fit(encoded, y, **category_fit_params(model, encoder.code_columns_))
        return self
