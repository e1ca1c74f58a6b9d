"""The model bundle: what a registered version is on disk, and the only way cairn reads one back.

A bundle is a few files, each stored under its sha256, listed by a small JSON manifest:

    manifest (JSON)   {"format": "cairn.model", "format_version": 1, "files": {name: sha256}}
    model.json        everything about the model a person or a tool may read without unpickling: name, version,
                      problem, target, input and output schema, features, classes, metrics, verdict, the privacy
                      settings of personal columns kept as features, and the package versions it was fitted with
    pipeline.joblib   the fitted scikit-learn pipeline, and nothing else: every cairn class in it lives in
                      cairn.estimators

Loading checks every file's sha256 against the record it came from (the store's for the manifest, the manifest's
for the files) **before** anything is deserialised: a changed or corrupted file is a clear error naming it, never
an unpickle. Bundles written before 0.2.0 (one joblib file holding the whole TrainedModel) load through
cairn.model.legacy, after the same sha256 check.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import re
from collections.abc import Callable
from importlib import metadata
from typing import Any, Literal

import joblib
import numpy as np
from pydantic import BaseModel, ConfigDict

from cairn._version import __version__
from cairn.errors import StoreError
from cairn.hashing import sha256_bytes
from cairn.model.trained import FeatureSpec, TrainedModel

log = logging.getLogger(__name__)

FORMAT = "cairn.model"
FORMAT_VERSION = 1
DESCRIPTION = "model.json"
PIPELINE = "pipeline.joblib"
LEGACY = "model.joblib"  # the one file of a model saved by cairn 0.1
_SHA256 = re.compile(r"[0-9a-f]{64}")
PACKAGE_OF_MODULE = {"sklearn": "scikit-learn", "lightgbm": "lightgbm", "catboost": "catboost",
                     "xgboost": "xgboost", "numpy": "numpy"}
"""Packages whose version shapes what a pickled pipeline means, by their module: a different version is a warning,
a different major version an error. Only those the pipeline actually uses are recorded."""

Reader = Callable[[str], bytes]  # sha256 -> bytes, raising FileNotFoundError for a missing file


class _Feature(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    kind: Literal["number", "category"]
    levels: list[Any] = []
    parse: Literal["plain", "text_number", "date", "text"] = "plain"
    low: float | None = None  # the training range of a number; absent from bundles before 0.2
    high: float | None = None


class _Description(BaseModel):
    """What model.json must hold for cairn to rebuild the model from it (extra keys are for people and tools)."""

    model_config = ConfigDict(extra="ignore")
    name: str
    version: int
    problem: Literal["regression", "binary", "multiclass"]
    target: str
    features: list[_Feature]
    classes: list[Any] | None = None
    metrics: dict[str, float | None] = {}
    packages: dict[str, str] = {}
    personal_columns: list[dict[str, Any]] = []
    privacy: dict[str, Any] | None = None
    threshold: float | None = None  # binary decision threshold; absent before 0.x: the most probable class
    positive_class: Any = None
    calibration: dict[str, Any] | None = None


class BundleError(StoreError):
    """A model bundle that cannot be trusted or read: changed, corrupted, missing or made by other packages."""


def bundle_files(model: TrainedModel) -> dict[str, bytes]:
    """The bundle's files as bytes, by name: the description (JSON) and the pipeline (joblib)."""
    pipeline = io.BytesIO()
    joblib.dump(model.pipeline, pipeline, compress=3)
    description = describe(model, packages=package_versions(model.pipeline))
    return {DESCRIPTION: json.dumps(description, indent=1, sort_keys=True).encode(), PIPELINE: pipeline.getvalue()}


def manifest_bytes(files: dict[str, bytes]) -> bytes:
    """The manifest that lists each file's sha256; its own sha256 is what the store records for the version."""
    listing = {name: sha256_bytes(data) for name, data in sorted(files.items())}
    return json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "files": listing},
                      sort_keys=True).encode()


def bundle_artifacts(model: TrainedModel) -> tuple[str, dict[str, bytes]]:
    """The bundle as content-addressed artifacts: the manifest's sha256, and every file (the manifest last) by its
    sha256, as an artifact store keeps them."""
    files = bundle_files(model)
    manifest = manifest_bytes(files)
    artifacts = {sha256_bytes(data): data for data in files.values()}
    artifacts[sha256_bytes(manifest)] = manifest
    return sha256_bytes(manifest), artifacts


def load_bundle(manifest_sha256: str, read: Reader, *, what: str, legacy: bool = False) -> TrainedModel:
    """The model a manifest describes, every file checked against its sha256 before it is read as anything.

    `legacy`: the store recorded the version as a 0.1 model (one joblib file), not as a bundle."""
    files = verified_files(manifest_sha256, read, what=what, legacy=legacy)
    if legacy:
        from cairn.model.legacy import load_legacy

        return _readable(lambda: load_legacy(files[LEGACY]), what=what)
    description = _description(files[DESCRIPTION], what=what)
    check_packages(description.get("packages", {}), what=what)
    pipeline = _readable(lambda: joblib.load(io.BytesIO(files[PIPELINE])), what=what)
    model = _readable(lambda: model_from(description, pipeline), what=what)
    _check_consistent(model, what=what)
    return model


def verified_files(manifest_sha256: str, read: Reader, *, what: str, legacy: bool = False) -> dict[str, bytes]:
    """Every file of a bundle, each checked against its sha256, none deserialised: what promoting needs to know
    that a version can be served, and the first half of loading it."""
    manifest = _checked(read, manifest_sha256, what=f"{what}, manifest")
    if legacy:
        return {LEGACY: manifest}
    listing = _manifest(manifest, what=what)
    return {name: _checked(read, sha, what=f"{what}, file {name}") for name, sha in listing.items()}


def bundle_shas(manifest_sha256: str, read: Reader, *, what: str, legacy: bool = False) -> list[str]:
    """The sha256 of every artifact a bundle is made of, its manifest first; only the manifest is read."""
    if legacy:
        return [manifest_sha256]
    listing = _manifest(_checked(read, manifest_sha256, what=f"{what}, manifest"), what=what)
    return [manifest_sha256, *listing.values()]


def describe(model: TrainedModel, *, packages: dict[str, str]) -> dict[str, Any]:
    """model.json: readable without unpickling, by cairn and by anyone else."""
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "cairn_version": __version__,
        "name": model.name, "version": model.version, "run_id": model.run_id, "problem": model.problem,
        "target": model.target, "classes": _plain(model.classes), "metrics": _plain(model.metrics),
        "verdict": model.verdict, "packages": packages,
        "features": [_feature(feature) for feature in model.features],
        "input_schema": input_schema(model.features), "output_schema": output_schema(model),
        "personal_columns": [_plain(vars(column)) for column in model.personal_columns],
        "privacy": model.privacy.model_dump(mode="json") if model.privacy is not None else None,
        "threshold": model.threshold, "positive_class": _plain(model.positive_class),
        "calibration": model.calibration.as_json() if model.calibration is not None else None,
    }


def model_from(description: dict[str, Any], pipeline: Any) -> TrainedModel:
    from cairn.config.schema import Privacy
    from cairn.model.calibration import Calibration
    from cairn.privacy import PiiColumn

    privacy = description.get("privacy")
    return TrainedModel(
        name=description["name"], version=int(description["version"]), problem=description["problem"],
        target=description["target"], pipeline=pipeline, classes=description.get("classes"),
        features=[FeatureSpec(f["name"], f["kind"], f.get("example"), tuple(f.get("levels", ())),
                              f.get("parse", "plain"), _bound(f.get("low")), _bound(f.get("high")))
                  for f in description["features"]],
        run_id=description.get("run_id"), metrics=dict(description.get("metrics") or {}),
        personal_columns=[PiiColumn(**column) for column in description.get("personal_columns", [])],
        privacy=Privacy.model_validate(privacy) if privacy is not None else None,
        verdict=description.get("verdict") or "",
        threshold=description.get("threshold"), positive_class=description.get("positive_class"),
        calibration=Calibration.from_json(description.get("calibration")),
    )


def input_schema(features: list[FeatureSpec]) -> dict[str, Any]:
    """JSON Schema of one record as the REST API takes it (cairn.serving.schemas.record_model): every input
    optional (a missing one is imputed), numbers as numbers, categories as text; other keys are allowed (the API
    ignores them and names them in its answer's warnings)."""
    properties: dict[str, Any] = {}
    for feature in features:
        spec: dict[str, Any] = {"type": ["number" if feature.kind == "number" else "string", "null"]}
        if feature.example is not None:
            spec["examples"] = [_plain(feature.example)]
        properties[feature.name] = spec
    return {"type": "object", "properties": properties, "additionalProperties": True}


def output_schema(model: TrainedModel) -> dict[str, Any]:
    if model.problem == "regression":
        return {"type": "number", "title": model.target}
    return {"title": model.target, "enum": _plain(model.classes)}


def package_versions(pipeline: Any) -> dict[str, str]:
    """Versions of the checked packages whose classes or functions the pickled pipeline names, or whose classes
    those subclass: cairn's CatBoost on category codes pickles CatBoost's model as bytes, under cairn's name."""
    used = {PACKAGE_OF_MODULE[m] for m in pickled_modules(pipeline, bases=True) if m in PACKAGE_OF_MODULE}
    versions = {}
    for name in sorted(used):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - it pickled, so it is installed
            continue
    return versions


def pickled_modules(obj: Any, *, bases: bool = False) -> set[str]:
    """Top-level package names of every class and function the pickle of `obj` refers to (`bases`: and of the
    classes those classes subclass)."""
    return {name.split(".")[0] for name in pickled_names(obj, bases=bases)}


def pickled_names(obj: Any, *, bases: bool = False) -> set[str]:
    """'module.QualName' of every class (and function) the pickle of `obj` stores by name, and with `bases` of
    every class those subclass. Only the package of the names numpy stores for an array is kept (`numpy.ndarray`).

    Only names matter, so the pickle goes nowhere and a plain array without object fields stands in as its dtype:
    a forest's trees are arrays of some 1 GB on 43,000 rows, which were copied into memory here only to be thrown
    away."""
    names: set[str] = set()

    def add(kind: type) -> None:
        for each in kind.__mro__ if bases else (kind,):
            names.add(f"{each.__module__}.{each.__qualname__}")

    class Recorder(pickle.Pickler):
        def reducer_override(self, value: Any) -> Any:
            if value is _named_dtype:
                return NotImplemented  # the stand-in below: not a name the model's pickle stores
            add(value if isinstance(value, type) else type(value))
            if callable(value) and not isinstance(value, type) and hasattr(value, "__qualname__"):
                names.add(f"{value.__module__}.{value.__qualname__}")  # a function pickled by reference
            if type(value) is np.ndarray and not value.dtype.hasobject:  # a subclass may pickle more than its data
                return _named_dtype, (value.dtype,)  # its elements name nothing; its dtype may (a structured one)
            return NotImplemented

    Recorder(_Discarded(), protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return names


def _named_dtype(dtype: Any) -> Any:
    """What `pickled_names` pickles for a plain array (never unpickled: only its names are read)."""
    return dtype


class _Discarded:
    """A file that keeps nothing: `pickled_names` reads the names a pickle stores, not its bytes."""

    def write(self, data: bytes) -> int:
        return len(data)


def check_packages(recorded: dict[str, str], *, what: str) -> None:
    """Warn when a package the model was fitted with has another version here; stop on another major version."""
    for name, then in sorted(recorded.items()):
        try:
            now = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise BundleError.single(
                f"The model {what} needs {name}, which is not installed.", where=what,
                expected=f"{name} {then} installed", got="not installed",
                fix=f"pip install '{name}=={then}'" + (" (or pip install 'cairn[boosters]')"
                                                      if name == "xgboost" else ""),
            ) from None
        if now == then:
            continue
        if _major(now) != _major(then):
            raise BundleError.single(
                f"The model {what} was fitted with {name} {then}; {name} {now} is installed.", where=what,
                expected=f"{name} {_major(then)}.x", got=f"{name} {now}",
                fix=f"pip install '{name}=={then}', or retrain the model with `cairn run`",
            )
        log.warning("model %s was fitted with %s %s; %s %s is installed: predictions may differ slightly "
                    "(pip install '%s==%s' to match, or retrain)", what, name, then, name, now, name, then)


def _checked(read: Reader, sha256: str, *, what: str) -> bytes:
    try:
        data = read(sha256)
    except FileNotFoundError:
        raise BundleError.single(
            f"A file of the model bundle {what} is missing.", where=what,
            expected=f"the artifact {sha256[:12]}… in the artifact folder", got="no such file",
            fix="restore the artifact folder from a backup, or retrain with `cairn run`",
        ) from None
    except OSError as error:
        raise BundleError.single(
            f"A file of the model bundle {what} cannot be read.", where=what,
            expected=f"the artifact {sha256[:12]}… as a file", got=type(error).__name__,
            fix="restore the artifact folder from a backup, or retrain with `cairn run`",
        ) from None
    actual = sha256_bytes(data)
    if actual != sha256:
        raise BundleError.single(
            f"A file of the model bundle {what} does not match its sha256: it was changed or corrupted, so cairn "
            "will not read it.", where=what, expected=f"sha256 {sha256[:12]}…", got=f"sha256 {actual[:12]}…",
            fix="restore the file from a backup, or retrain with `cairn run` (or promote another version)",
        )
    return data


def _manifest(data: bytes, *, what: str) -> dict[str, str]:
    """The file listing of a manifest, once its shape is known to be right: exactly the bundle's files, each named
    by 64 hex digits, so no listed name can point outside the artifact folder."""
    try:
        manifest = json.loads(data, object_pairs_hook=_no_duplicates)
    except ValueError as error:
        raise _malformed(what, "a JSON manifest", f"unreadable JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _malformed(what, f"a {FORMAT} manifest", "another document")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _malformed(what, "a whole format_version", repr(version)[:40])
    if version > FORMAT_VERSION:
        raise BundleError.single(
            f"The model bundle {what} was written by a newer cairn.", where=f"{what}, manifest",
            expected=f"{FORMAT} format version {FORMAT_VERSION} or older", got=f"format version {version}",
            fix="upgrade cairn",
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != {DESCRIPTION, PIPELINE}:
        got = sorted(files) if isinstance(files, dict) else type(files).__name__
        raise _malformed(what, f"files {DESCRIPTION} and {PIPELINE}, nothing else", str(got)[:80])
    for name, sha in files.items():
        if not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
            raise _malformed(what, f"the sha256 of {name} as 64 hex digits", repr(sha)[:80])
    return dict(files)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"the key {repeated[0]!r} is given twice")
    return dict(pairs)


def _malformed(what: str, expected: str, got: str) -> BundleError:
    return BundleError.single(
        f"The manifest of the model bundle {what} is malformed.", where=f"{what}, manifest", expected=expected,
        got=got, fix="restore the store from a backup, or retrain with `cairn run` (or promote another version)")


def _description(data: bytes, *, what: str) -> dict[str, Any]:
    """model.json, once it is known to hold what a model needs, with the types it needs."""
    from pydantic import ValidationError

    try:
        description = json.loads(data, object_pairs_hook=_no_duplicates)
        _Description.model_validate(description)
    except (ValueError, ValidationError) as error:
        first = error.errors()[0] if isinstance(error, ValidationError) else None
        got = (f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else str(error))[:120]
        raise BundleError.single(
            f"The description of the model bundle {what} (model.json) is not valid.", where=f"{what}, model.json",
            expected="the fields a cairn model needs", got=got, fix="retrain with `cairn run`",
        ) from None
    return dict(description)


def _readable(make: Callable[[], TrainedModel], *, what: str) -> TrainedModel:
    """Deserialising a checked file: a class or package this installation lacks is a user's problem to fix."""
    try:
        return make()
    except ModuleNotFoundError as error:
        package = (error.name or "?").split(".")[0]
        raise BundleError.single(
            f"The model {what} needs the package {package}, which is not installed.", where=what,
            expected=f"{package} installed", got="not installed",
            fix=f"pip install {package}" + (" (or pip install 'cairn[boosters]')" if package == "xgboost" else ""),
        ) from None
    except (AttributeError, ImportError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as error:
        raise BundleError.single(
            f"The model {what} cannot be read by this cairn ({__version__}).", where=what,
            expected="classes and settings this release knows", got=f"{type(error).__name__}: {error}"[:160],
            fix="install the cairn release that trained it, or retrain with `cairn run`",
        ) from None


def _check_consistent(model: TrainedModel, *, what: str) -> None:
    """The description and the pipeline must tell the same story before anything is served from them."""
    pipeline = model.pipeline
    problems = []
    if not callable(getattr(pipeline, "predict", None)):
        problems.append(f"a pipeline with predict, not {type(pipeline).__name__}")
    elif model.problem == "regression" and model.classes is not None:
        problems.append("no classes for a regression model")
    elif model.problem != "regression":
        fitted = getattr(pipeline, "classes_", None)
        if fitted is None or not callable(getattr(pipeline, "predict_proba", None)):
            problems.append("a classifier with classes_ and predict_proba")
        elif model.classes is not None and [str(c) for c in fitted] != [str(c) for c in model.classes]:
            problems.append(f"the classes {model.classes} that the pipeline was fitted on")
    if problems:
        raise BundleError.single(f"The model bundle {what} contradicts itself.", where=f"{what}, model.json",
                                 expected=problems[0], got="something else", fix="retrain with `cairn run`")


def _major(version: str) -> str:
    return version.split(".")[0]


def _feature(feature: FeatureSpec) -> dict[str, Any]:
    return {"name": feature.name, "kind": feature.kind, "example": _plain(feature.example),
            "levels": list(feature.levels), "parse": feature.parse, "low": _plain(feature.low),
            "high": _plain(feature.high)}


def _bound(value: Any) -> float | None:
    """A training range's end as model.json holds it: a number, or null when unknown."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _plain(value: Any) -> Any:
    """A value as JSON can hold it: numpy scalars as numbers, NaN as null, dates as ISO text."""
    import math

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
