"""The API's routers, one module per concern; ``create_app`` includes them and decides which are guarded.

The endpoints have no docstrings on purpose: FastAPI would publish them as each operation's OpenAPI description.
"""

from cairn.serving.routes import docs, explain, feedback, metadata, metrics, predict, probes

__all__ = ["docs", "explain", "feedback", "metadata", "metrics", "predict", "probes"]
