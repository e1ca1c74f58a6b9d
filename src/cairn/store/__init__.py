"""The store: run history, stage cache, metrics and model registry tables, plus content-addressed artifacts."""

from cairn.store.repository import RunRecord, StageRecord, Store

__all__ = ["RunRecord", "StageRecord", "Store"]
