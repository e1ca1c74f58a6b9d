"""`cairn export`: a model version as a folder that runs without the project, its store or its data.

The folder holds the registered bundle byte for byte (so its manifest's sha256 is the one `cairn models` lists),
export.json (what `cairn serve --model DIR` reads first), the pinned requirements, the model card, the OpenAPI
document, a Dockerfile, a README and SHA256SUMS over every file (`sha256sum -c SHA256SUMS`). It is written into a
sibling folder first and moved into place at the end, so a failed export leaves nothing half-written.

`--format mlflow` wraps the same bundle as an MLflow pyfunc model (cairn.project.export_mlflow); `--format onnx`
converts the fitted pipeline to one ONNX graph (cairn.project.export_onnx).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn._version import __version__
from cairn.errors import ConfigError
from cairn.hashing import sha256_bytes
from cairn.model.bundle import DESCRIPTION, bundle_files, manifest_bytes, verified_files
from cairn.model.exported import BUNDLE_FOLDER, EXPORT_FILE, MANIFEST
from cairn.model.trained import TrainedModel
from cairn.registry import Registry

__all__ = ["CHECKSUMS", "FORMATS", "Exported", "export_model"]

CHECKSUMS = "SHA256SUMS"
PORT = 8000
DEFAULT_KEY_ENV = "CAIRN_API_KEY"


@dataclass(frozen=True)
class Exported:
    folder: Path
    name: str
    version: int
    files: list[str]


FORMATS = ("cairn", "mlflow", "onnx")
"""cairn: the folder `cairn serve --model DIR` serves; mlflow: an MLflow pyfunc model (cairn.project.export_mlflow);
onnx: the fitted pipeline as an ONNX graph (cairn.model.onnx)."""
MARKERS = (EXPORT_FILE, "MLmodel", "model.onnx")  # a folder holding one of these is an earlier export


def export_model(project: Any, version: int | str | None, *, to: Path, force: bool = False,
                 form: str = "cairn") -> Exported:
    """Writes the version (production by default) of `project`'s model to the folder `to`, in the format `form`
    (one of FORMATS).

    An existing `to` is refused unless `force`; even then only an earlier export (it holds export.json, MLmodel or
    model.onnx) or an empty folder is replaced, never a folder of other files."""
    if form not in FORMATS:
        raise ConfigError.single(f"cairn cannot export to {form!r}.", where="--format",
                                 expected="one of " + ", ".join(FORMATS), got=repr(form),
                                 fix="--format cairn (the default), mlflow or onnx")
    to = Path(to)
    _check_target(to, force=force)
    model, manifest, files = _bundle(project, version)
    _, card = project.card(model.version)
    key_env = project.config.deployment.api_key_env or DEFAULT_KEY_ENV
    spec = project.config.deployment
    contents = _contents(model, manifest, files, card=card, key_env=key_env,
                         limits={"max_body_bytes": spec.max_body_bytes, "max_batch": spec.max_batch})
    to.parent.mkdir(parents=True, exist_ok=True)
    workspace = Path(tempfile.mkdtemp(prefix=f".{to.name}-", dir=to.parent))
    staging = workspace / "export"
    try:
        if form == "mlflow":
            from cairn.project.export_mlflow import write_mlflow_model

            described = json.loads(files[DESCRIPTION])
            write_mlflow_model(model, {name: data for name, data in contents.items() if name in _MLFLOW_DATA
                                       or name.startswith(f"{BUNDLE_FOLDER}/")},
                               requirements=requirements(described.get("packages") or {}).splitlines()[1:],
                               to=staging, workspace=workspace)
        elif form == "onnx":
            from cairn.project.export_onnx import write_onnx_model

            write_onnx_model(model, to=staging)
        else:
            for relative, data in contents.items():
                path = staging / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        if to.exists():
            shutil.rmtree(to)
        staging.rename(to)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    written = sorted(str(path.relative_to(to)) for path in to.rglob("*") if path.is_file())
    return Exported(to, model.name, model.version, written)


_MLFLOW_DATA = (EXPORT_FILE, "MODEL_CARD.md", "openapi.json")  # beside the bundle in data/cairn-model


def _check_target(to: Path, *, force: bool) -> None:
    if not to.exists() and not to.is_symlink():
        return
    replaceable = to.is_dir() and not to.is_symlink() and (any((to / marker).is_file() for marker in MARKERS)
                                                              or not any(to.iterdir()))
    if force and replaceable:
        return
    raise ConfigError.single(
        f"{to} already exists" + ("" if force else ": cairn export does not overwrite a folder unless told to.")
        + (" It is not an earlier export, so --force will not replace it either." if force else ""),
        where="--to", expected="a new folder" + ("" if force else " (or --force to replace an earlier export)"),
        got=str(to), fix="choose another folder" + ("" if force else ", or pass --force"))


def _bundle(project: Any, version: int | str | None) -> tuple[TrainedModel, bytes, dict[str, bytes]]:
    """The version as it serves (loaded, so every check `cairn serve` makes has passed) and its bundle's bytes as
    the store holds them; a model registered by cairn 0.1 (one joblib file) is written as a bundle now."""
    with project._existing_store() as store:
        registry = Registry(store)
        chosen = registry.get(project.config.model_name, version)
        model = registry.load(project.config.model_name, chosen.version)
        manifest = store.artifacts.read(chosen.artifact_sha256)
        try:
            legacy = json.loads(manifest).get("format") != "cairn.model"
        except (ValueError, AttributeError, UnicodeDecodeError):
            legacy = True
        if legacy:
            files = bundle_files(model)
            return model, manifest_bytes(files), files
        what = f"{chosen.name} v{chosen.version}"
        return model, manifest, verified_files(chosen.artifact_sha256, store.artifacts.read, what=what)


def _contents(model: TrainedModel, manifest: bytes, files: dict[str, bytes], *, card: str,
              key_env: str, limits: dict[str, int] | None = None) -> dict[str, bytes]:
    from cairn.serving import openapi_document

    described = json.loads(files[DESCRIPTION])
    settings = {"format": "cairn.export", "format_version": 1, "cairn_version": __version__, "name": model.name,
                "version": model.version, "problem": model.problem, "target": model.target,
                "manifest_sha256": sha256_bytes(manifest), "api_key_env": key_env, "port": PORT,
                "prediction_log": "off", **(limits or {})}
    contents = {f"{BUNDLE_FOLDER}/{MANIFEST}": manifest,
                **{f"{BUNDLE_FOLDER}/{name}": data for name, data in files.items()},
                EXPORT_FILE: _json(settings),
                "requirements.txt": requirements(described.get("packages") or {}).encode(),
                "MODEL_CARD.md": card.encode(),
                "openapi.json": _json(openapi_document(model)),
                "Dockerfile": dockerfile(key_env).encode(),
                "README.md": readme(model, key_env=key_env, example=_example(described)).encode()}
    sums = "".join(f"{sha256_bytes(data)}  {name}\n" for name, data in sorted(contents.items()))
    return contents | {CHECKSUMS: sums.encode()}


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def requirements(packages: dict[str, str]) -> str:
    """cairn itself, and each package the pipeline was fitted with at the version it was fitted with: a different
    one may predict differently, or not unpickle."""
    lines = [f"cairn=={__version__}", *(f"{name}=={version}" for name, version in sorted(packages.items()))]
    return "# the versions the model was fitted with (model/model.json, packages)\n" + "\n".join(lines) + "\n"


def dockerfile(key_env: str) -> str:
    return f"""\
# The model served by `cairn serve --model`, as a non-root user. Build: docker build -t MODEL .
# Run: docker run -p {PORT}:{PORT} -e {key_env}=<a long random secret> MODEL
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
# libgomp: the OpenMP runtime LightGBM and scikit-learn's boosting load
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/* \\
    && useradd --create-home --uid 10001 cairn
WORKDIR /srv/model
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
USER cairn
EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \\
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/health', timeout=2)"]
CMD ["cairn", "serve", "--model", "/srv/model", "--host", "0.0.0.0", "--port", "{PORT}"]
"""


def readme(model: TrainedModel, *, key_env: str, example: dict[str, Any]) -> str:
    body = json.dumps(example, ensure_ascii=False)
    return f"""\
# {model.name} v{model.version}, exported by cairn {__version__}

Predicts `{model.target}` ({model.problem}). What it is for, how good it is and where not to trust it:
MODEL_CARD.md. The request and answer schemas: openapi.json.

## Serve it
    pip install -r requirements.txt
    cairn serve --model .                      # http://127.0.0.1:{PORT}, no project file, no store

Beyond localhost an API key is required: `export {key_env}=<a long random secret>` and
`cairn serve --model . --host 0.0.0.0`; clients send it in the `X-API-Key` header. The prediction log is off for
an exported model (the folder may be read-only); watch the service through GET /metrics instead.

In a container (python:3.11-slim, non-root user, HEALTHCHECK on /health):
    docker build -t {model.name} .
    docker run -p {PORT}:{PORT} -e {key_env}=<secret> {model.name}

## Call it
    curl -s http://127.0.0.1:{PORT}/predict -H 'Content-Type: application/json' -H 'X-API-Key: <secret>' \\
      -d '{body}'

Routes: POST /predict and POST /explain (one record or an array), GET /health, GET /ready, GET /metadata,
GET /metrics (Prometheus), GET /docs.

## Check it
`sha256sum -c SHA256SUMS` checks every file. `cairn serve` checks model/ itself before reading anything: a changed
file is refused by name. model/manifest.json's sha256 (export.json, manifest_sha256) is the artifact that
`cairn models --json` lists for this version.
"""


def _example(described: dict[str, Any]) -> dict[str, Any]:
    """A record for the README's curl: each input's example value from the training data, a few at most."""
    examples = {}
    for feature in described.get("features", [])[:4]:
        if feature.get("example") is not None:
            examples[feature["name"]] = feature["example"]
    return examples
