"""Stage 7, training: splits, cross-validation, tuning within the budget, the ensemble search, feature selection.

`train.py` runs them in order; each helper module does one of them and imports only its siblings.
"""

from cairn.stages.training.train import TrainingResult, build_pipeline, predictions, train_models

__all__ = ["TrainingResult", "build_pipeline", "predictions", "train_models"]
