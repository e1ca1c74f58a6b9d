"""The trained model as serving, batch scoring and monitoring see it, its compiled one-row path and its bundle."""

from cairn.model.trained import FeatureSpec, TrainedModel, as_model_columns, as_model_frame

__all__ = ["FeatureSpec", "TrainedModel", "as_model_columns", "as_model_frame"]
