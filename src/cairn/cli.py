"""The `cairn` command line: one function per command, no logic beyond argument handling and display.

Results go to stdout (one JSON document with --json); progress and errors go to stderr. A user mistake prints a
short paragraph and exits 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from cairn._version import __version__
from cairn.errors import CairnError, ConfigError

app = typer.Typer(help="cairn: from a business question to a trustworthy model in production, in ten stages.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EXAMPLES = Path(__file__).parent / "examples"

CHECK_FAILED = 3  # the command ran and its check failed (objective missed, run not reproduced)
ProjectOption = Annotated[Path, typer.Option("--project", "-p", help="The project file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
F = TypeVar("F", bound=Callable[..., Any])
ChosenVersion = Annotated[str | None, typer.Argument(
    metavar="[VERSION]", help="A version (2 or v2) or an alias; default: the champion.")]
OtherVersion = Annotated[str | None, typer.Option(help="Use this version (2, v2 or an alias), not the champion.")]


def user_errors(command: F) -> F:
    """A CairnError is the user's to fix: print it plainly and exit 2, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CairnError as error:
            err.print("[bold red]error:[/] " + escape(redact_text(str(error))), markup=True, highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _load(project: Path) -> Any:
    from cairn.project.api import Project

    return Project.load(project)


def _print_json(document: Any) -> None:
    out.print_json(json.dumps(document, default=str))


def _show_version(value: bool) -> None:
    if value:
        out.print(f"cairn {__version__}")
        raise typer.Exit()


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what each stage does.")] = False,
           version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                                 help="Print the version and exit.")] = False) -> None:
    handler = RichHandler(console=err, show_path=False)
    handler.addFilter(RedactPersonalData())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[handler], force=True)


def redact_text(text: str) -> str:
    """Imported on use: the privacy module pulls in pandas, and `cairn --help` should stay instant."""
    from cairn.privacy import redact_text as redact

    return redact(text)


class RedactPersonalData(logging.Filter):
    """No e-mail, phone, card, SSN or IP address reaches a log line, whoever logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_text(record.getMessage()), None
        return True


@app.command()
@user_errors
def init(name: Annotated[str, typer.Argument(help="Folder to create.")],
         example: Annotated[str | None, typer.Option(help="Start from an example: house-prices.")] = None) -> None:
    """Create a new project folder with a commented cairn.yaml."""
    target = Path(name)
    if target.exists() and any(target.iterdir()):
        raise ConfigError.single(f"{target} already exists and is not empty.", where="NAME",
                                 expected="a new or empty folder", got=str(target), fix="choose another name")
    if example is not None:
        available = sorted(p.name for p in EXAMPLES.iterdir() if (p / "cairn.yaml").exists())
        if example not in available:
            raise ConfigError.single(f"There is no example '{example}'.", where="--example",
                                     expected=f"one of {', '.join(available)}", got=example,
                                     fix=f"use --example {available[0]}")
        shutil.copytree(EXAMPLES / example, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".cairn", "__pycache__"))
    else:
        target.mkdir(parents=True, exist_ok=True)
        (target / "cairn.yaml").write_text(TEMPLATE.format(name=target.name), encoding="utf-8")
    out.print(f"created {target}/cairn.yaml; next: cd {target} && cairn run")


@app.command()
@user_errors
def validate(project: ProjectOption = Path("cairn.yaml")) -> None:
    """Check the project file; every error names the field, what was expected and a fix."""
    loaded = _load(project)
    out.print(f"{project}: valid (project {loaded.config.project}, {loaded.config.business.problem} on "
              f"{loaded.config.business.target}, optimising {loaded.config.business.primary_metric})")


@app.command()
def schema() -> None:
    """Print the JSON Schema of cairn.yaml, for editor completion."""
    from cairn.config.schema import ProjectConfig

    _print_json(ProjectConfig.model_json_schema())


@app.command()
@user_errors
def run(project: ProjectOption = Path("cairn.yaml"),
        until: Annotated[str | None, typer.Option(help="Stop after this stage.")] = None,
        from_: Annotated[str | None, typer.Option("--from", help="Recompute from this stage on.")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
        no_fail: Annotated[bool, typer.Option("--no-fail", help="Exit 0 even when the model misses the objective."
                                              )] = False,
        force_promote: Annotated[str | None, typer.Option(
            "--force-promote", metavar="REASON",
            help="Make the model champion if it ships, even if it does not beat the current champion; REASON goes "
                 "to the audit log.")] = None) -> None:
    """Run the ten stages; unchanged stages come from the cache. A model that ships becomes the champion only if it
    beats the current one on the same holdout rows (else it is the challenger). Exits 0 when the model ships, 3
    when it ran but missed the objective (unless --no-fail), 2 on a user error, 1 on a crash."""
    if force_promote is not None and not force_promote.strip():
        raise typer.BadParameter("give a reason, e.g. --force-promote 'new data source, reviewed by Ana'",
                                 param_hint="--force-promote")
    loaded = _load(project)
    with StageProgress(enabled=not quiet) as progress:
        result = loaded.run(until=until, from_stage=from_, progress=progress.update, force_promote=force_promote)
    out.print(result.verdict, highlight=False)
    if result.report_path:
        out.print(f"report: {result.report_path}", highlight=False)
    if result.shipped is False and not no_fail:
        err.print("the model does not ship: it missed the objective (exit 3; --no-fail exits 0)")
        raise typer.Exit(CHECK_FAILED)


@app.command()
@user_errors
def runs(project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False,
         limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 20) -> None:
    """List the project's runs, newest first."""
    records = _load(project).runs(limit=limit)
    if json_:
        _print_json([r.to_dict() | {"manifest": None} for r in records])
        return
    table = Table("run", "status", "started", "verdict", "metrics")
    for r in records:
        shipped = r.verdict.get("shipped") if r.verdict else None
        verdict = {True: "[green]ships[/]", False: "[red]does not ship[/]", None: "-"}[shipped]
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in list(r.metrics.items())[:3])
        table.add_row(str(r.id), r.status, r.started_at.strftime("%Y-%m-%d %H:%M:%S"), verdict, metrics)
    out.print(table)


@app.command()
@user_errors
def show(run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id, or 'latest'.")] = "latest",
         project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False) -> None:
    """Show one run: verdict, stages, metrics, manifest."""
    record = _load(project).show(run_id)
    if json_:
        _print_json(record.to_dict())
        return
    out.print(f"[bold]run {record.id}[/] {record.status}, started {record.started_at:%Y-%m-%d %H:%M:%S}")
    if record.verdict:
        out.print(record.verdict["line"], highlight=False)
    if record.error:
        out.print(f"[red]error:[/] {record.error}", highlight=False)
    table = Table("stage", "cached", "seconds", "notes")
    for stage in record.stages:
        table.add_row(stage.stage, "yes" if stage.cached else "", f"{stage.duration_s:.1f}",
                      "; ".join(stage.notes[:2]))
    out.print(table)
    data = record.manifest.get("data", {})
    if data:
        out.print(f"data: {data.get('source')} fingerprint {str(data.get('fingerprint'))[:12]}, "
                  f"snapshot artifact {str(data.get('snapshot'))[:12]}", highlight=False)
    if record.manifest.get("report"):
        out.print(f"report: {record.manifest['report']}", highlight=False)


@app.command()
@user_errors
def report(run_id: Annotated[str, typer.Argument(metavar="RUN")] = "latest",
           project: ProjectOption = Path("cairn.yaml")) -> None:
    """Print the path of a run's HTML report."""
    out.print(str(_load(project).report_path(run_id)), highlight=False)


@app.command()
@user_errors
def reproduce(run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id, or 'latest'.")] = "latest",
              project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False,
              quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False) -> None:
    """Run a past run again from its manifest and data snapshot in a scratch store, and check every holdout
    metric matches. Exits 0 when it does, 3 when it does not, 2 on a user error."""
    with StageProgress(enabled=not quiet and not json_) as progress:
        result = _load(project).reproduce(run_id, progress=progress.update)
    if json_:
        _print_json(result.to_dict())
    else:
        for line in result.lines():
            out.print(line, highlight=False, markup=False)
    if not result.matches:
        raise typer.Exit(CHECK_FAILED)


@app.command()
@user_errors
def diff(run_a: Annotated[str, typer.Argument(metavar="RUN_A", help="The earlier run.")],
         run_b: Annotated[str, typer.Argument(metavar="RUN_B", help="The later run, or 'latest'.")] = "latest",
         project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False) -> None:
    """What changed between two runs: project-file keys, data, packages, code, chosen model, metrics."""
    result = _load(project).diff(run_a, run_b)
    if json_:
        _print_json(result.to_dict())
        return
    for line in result.lines():
        out.print(line, highlight=False, markup=False)


@app.command()
@user_errors
def card(version: ChosenVersion = None,
         project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False) -> None:
    """Print a model version's card (Markdown): intended use, data, metrics, limitations, how to call it."""
    chosen, markdown = _load(project).card(version)
    if json_:
        _print_json({"version": chosen.version, "name": chosen.name, "markdown": markdown})
        return
    out.print(markdown, highlight=False, markup=False, end="")


@app.command()
@user_errors
def models(project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False) -> None:
    """List the registered versions of the project's model, with their aliases (champion, challenger, yours)."""
    versions = _load(project).models()
    if json_:
        _print_json([v.to_dict() for v in versions])
        return
    table = Table("version", "aliases", "stage", "run", "created", "metrics", "note")
    for v in versions:
        metrics = ", ".join(f"{k} {val:.4g}" for k, val in list(v.metrics.items())[:3])
        table.add_row(f"v{v.version}", ", ".join(v.aliases), v.stage, str(v.run_id), f"{v.created_at:%Y-%m-%d %H:%M}",
                      metrics, (v.note or "")[:60])
    out.print(table)


VersionArgument = Annotated[str, typer.Argument(metavar="VERSION", help="A version (2 or v2) or an alias.")]
ReasonOption = Annotated[str | None, typer.Option(help="Why: written to the audit log.")]


@app.command()
@user_errors
def promote(version: VersionArgument, project: ProjectOption = Path("cairn.yaml"),
            reason: ReasonOption = None) -> None:
    """Make a model version the champion (the production version `cairn serve` serves)."""
    chosen = _load(project).promote(version, reason=reason)
    out.print(f"{chosen.name} v{chosen.version} is the champion (in production)")


@app.command()
@user_errors
def rollback(project: ProjectOption = Path("cairn.yaml")) -> None:
    """Put the previous champion back in production."""
    chosen = _load(project).rollback()
    out.print(f"rolled back: {chosen.name} v{chosen.version} is the champion (in production)")


@app.command()
@user_errors
def alias(version: VersionArgument,
          name: Annotated[str, typer.Argument(metavar="NAME", help="The alias: challenger, or a name of yours.")],
          project: ProjectOption = Path("cairn.yaml"), reason: ReasonOption = None) -> None:
    """Point an alias at a model version (moving it from the version that had it); `champion` promotes."""
    chosen = _load(project).set_alias(version, name, reason=reason)
    out.print(f"{chosen.name} v{chosen.version} is now {name.strip().lower()} ({', '.join(chosen.aliases)})")


@app.command()
@user_errors
def audit(project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False,
          limit: Annotated[int, typer.Option(help="Show at most this many entries, newest first.")] = 100) -> None:
    """Who registered, promoted, rolled back or aliased which model version, when, from which run and why."""
    entries = _load(project).audit(limit=limit)
    if json_:
        _print_json([entry.to_dict() for entry in entries])
        return
    for entry in entries:  # one line each, never wrapped mid-reason: easy to grep
        figures = ", ".join(f"{k} {v}" for k, v in entry.figures.items() if v is not None and k != "metrics")
        line = f"{entry.at:%Y-%m-%d %H:%M:%S}  {entry.actor}  {entry.action}"
        line += "" if entry.version is None else f" v{entry.version}"
        line += "" if entry.run_id is None else f" (run {entry.run_id})"
        line += f": {entry.reason}" if entry.reason else ""
        line += f" [{figures}]" if figures else ""
        out.print(line, highlight=False, markup=False)


@app.command()
@user_errors
def serve(project: ProjectOption = Path("cairn.yaml"),
          host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
          port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
          version: OtherVersion = None,
          insecure: Annotated[bool, typer.Option(
              "--insecure", help="Serve beyond loopback without an API key anyway (a proxy checks callers).")] = False,
          model_dir: Annotated[Path | None, typer.Option(
              "--model", metavar="DIR", help="Serve a folder written by `cairn export`: no project file, no store, "
                                             "no prediction log.")] = None,
          ) -> None:
    """Serve the production model over REST: POST /predict, GET /health."""
    from cairn.serving import refuse_unsafe_start
    from cairn.serving import serve as serve_model

    if model_dir is not None:
        _serve_exported(model_dir, host=host, port=port, insecure=insecure)
        return
    loaded = _load(project)
    spec = loaded.config.deployment
    api_key = _api_key(spec.api_key_env)
    model = loaded.load_model(version)
    host, port = host or spec.host, port or spec.port
    refuse_unsafe_start(model, host=host, api_key=api_key, insecure=insecure)  # before announcing the server
    err.print(f"serving {model.name} v{model.version} on http://{host}:{port} (POST /predict, GET /health)")
    serve_model(model, host=host, port=port, api_key=api_key, on_predictions=loaded.prediction_logger(model),
                insecure=insecure)


def _serve_exported(folder: Path, *, host: str | None, port: int | None, insecure: bool) -> None:
    """An exported model: its settings from export.json; the key from the variable it names, when that is set."""
    from cairn.model.exported import export_settings, load_exported
    from cairn.serving import refuse_unsafe_start
    from cairn.serving import serve as serve_model

    settings = export_settings(folder)
    model = load_exported(folder)
    api_key = os.environ.get(str(settings.get("api_key_env") or "CAIRN_API_KEY")) or None
    host, port = host or "127.0.0.1", port or int(settings.get("port") or 8000)
    refuse_unsafe_start(model, host=host, api_key=api_key, insecure=insecure)
    err.print(f"serving {model.name} v{model.version} from {folder} on http://{host}:{port} (POST /predict, "
              "GET /health; no prediction log)", highlight=False, markup=False)
    serve_model(model, host=host, port=port, api_key=api_key, insecure=insecure)


@app.command()
@user_errors
def export(to: Annotated[Path, typer.Option("--to", metavar="DIR", help="The folder to write.")],
           version: ChosenVersion = None,
           force: Annotated[bool, typer.Option("--force", help="Replace an earlier export in DIR.")] = False,
           project: ProjectOption = Path("cairn.yaml")) -> None:
    """Write a model version to a folder that serves without the project: bundle, requirements, card, OpenAPI,
    Dockerfile, README. Serve it with `cairn serve --model DIR`."""
    from cairn.project.export import export_model

    exported = export_model(_load(project), version, to=to, force=force)
    out.print(f"exported {exported.name} v{exported.version} to {exported.folder} ({len(exported.files)} files); "
              f"serve it with: cairn serve --model {exported.folder}", highlight=False, markup=False)


def _api_key(variable: str | None) -> str | None:
    if variable is None:
        return None
    key = os.environ.get(variable)
    if not key:
        raise ConfigError.single("The API key is not set.", where="deployment.api_key_env",
                                 expected=f"the environment variable {variable} to hold the key", got="unset",
                                 fix=f"export {variable}=... before `cairn serve`")
    return key


@app.command()
@user_errors
def predict(input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV, Parquet or JSON lines.")],
            output: Annotated[Path | None, typer.Option(
                "--output", "-o", help="Where to write: .csv or .parquet; without it, CSV on stdout.")] = None,
            project: ProjectOption = Path("cairn.yaml"),
            version: OtherVersion = None) -> None:
    """Score a file with the production model."""
    from cairn.project.scored import output_format, write_scored

    if output is not None:
        output_format(output)  # a name cairn cannot write is said before the scoring, not after
    loaded = _load(project)
    scored = loaded.predict_file(input_path, version=version)
    _say_out_of_range(scored.attrs.get("out_of_range", []))
    if output is None:
        sys.stdout.write(scored.to_csv(index=False))  # raw: values like "[see note]" are data, not Rich markup
        sys.stdout.flush()
    else:
        kind = write_scored(scored, output)
        err.print(f"wrote {len(scored):,} predictions to {output} ({kind})", highlight=False, markup=False)


def _say_out_of_range(found: list[Any]) -> None:
    """On stderr, so the CSV on stdout stays clean: how many values were clipped to the training range, and where."""
    if not found:
        return
    from cairn.model.ranges import range_warnings

    total = sum(item.count for item in found)
    err.print(f"warning: {total:,} value{'s' if total != 1 else ''} in {len(found)} field"
              f"{'s' if len(found) != 1 else ''} outside the training range, clipped to it:", highlight=False)
    for sentence in range_warnings(found):
        err.print(f"  {sentence}", highlight=False, markup=False)


@app.command()
@user_errors
def explain(record: Annotated[Path | None, typer.Argument(metavar="[RECORD]", help="A JSON file: one record.")] = None,
            row: Annotated[int | None, typer.Option(help="Row N (from 0) of the holdout, or of --data.")] = None,
            data: Annotated[Path | None, typer.Option(help="Pick --row from this file instead.")] = None,
            top: Annotated[int, typer.Option(help="Show the K largest contributions.", metavar="K")] = 15,
            project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False,
            version: OtherVersion = None
            ) -> None:
    """One prediction's contributions: why the model answered what it did."""
    explained = _load(project).explain(row=row, data=data, record=record, version=version)
    rows = explained.rows()
    if json_:
        _print_json([one.to_dict() for one in rows] if len(rows) > 1 else rows[0].to_dict())
        return
    for one in rows:
        _print_explanation(one, top=top)


def _print_explanation(one: Any, *, top: int) -> None:
    table = Table("input", "value", "contribution", title=f"contributions to {one.scale}")
    for name, contribution in one.ranked(top):
        value = one.inputs.get(name)
        table.add_row(escape(name), "missing" if value is None else escape(f"{value:.6g}" if isinstance(
            value, float) else str(value)), f"{contribution:+,.6g}")
    out.print(table)
    hidden = len(one.contributions) - min(top, len(one.contributions))
    if hidden:
        rest = sum(value for _, value in one.ranked()[top:])
        out.print(f"{hidden} more inputs: {rest:+,.6g} together", highlight=False)
    out.print(f"base value  {one.base_value:,.6g}", highlight=False)
    out.print(f"prediction  {one.prediction:,.6g} ({one.scale})", highlight=False)
    if one.output is not None:
        out.print(f"probability of {one.output}: {one.value:.4f}", highlight=False)
    elif one.scale.startswith("log1p("):
        out.print(f"in target units: {one.value:,.6g}", highlight=False)
    if one.note:
        out.print(f"note: {one.note}", highlight=False)


@app.command()
@user_errors
def monitor(data: Annotated[Path | None, typer.Option(help="New data; default: the logged requests.")] = None,
            project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False,
            version: OtherVersion = None
            ) -> None:
    """Per-feature drift against the training data, and performance if the data has the target."""
    result = _load(project).monitor(data, version=version)
    if json_:
        _print_json(result.to_dict())
        return
    table = Table("feature", "kind", "PSI", "test", "p-value", "drifted", "detail")
    for f in result.drift.features:
        table.add_row(f.feature, f.kind, f"{f.psi:.3f}", f.test, "-" if f.p_value is None else f"{f.p_value:.3g}",
                      "[red]yes[/]" if f.drifted else "", f.detail)
    out.print(table)
    for name, value in result.performance.items():
        out.print(f"{name} on the new data: {value:.4g}")
    out.print(result.advice, highlight=False)


class StageProgress:
    """A line per stage on stderr: spinner and elapsed time while it works, ✓ or 'cached' when done."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=err, transient=False)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> StageProgress:
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()

    def update(self, event: Any) -> None:
        if not self.enabled:
            return
        title = f"{event.title:<26}"
        if event.stage not in self.tasks:
            self.tasks[event.stage] = self.progress.add_task(title, total=1)
        task = self.tasks[event.stage]
        if event.kind == "cached":
            self.progress.update(task, description=f"[dim]{title} cached: unchanged, not recomputed[/]", completed=1)
        elif event.kind == "done":
            self.progress.update(task, description=f"[green]✓[/] {title} {event.message}", completed=1)
        elif event.kind == "failed":
            self.progress.update(task, description=f"[red]✗[/] {title} failed", completed=1)
        else:
            self.progress.update(task, description=f"{title} {event.message}")


TEMPLATE = """\
# cairn project file: each section is one stage; `cairn schema` prints every setting with its default.
project: {name}

business:                          # 1 what the model is for; these criteria gate deployment
  problem: regression              # regression | binary | multiclass
  target: TARGET_COLUMN            # the column to predict
  objective: Say in one sentence what the business needs.
  success:
    - {{metric: mape, below: 10%}}   # the first metric is the one cairn optimises
  constraints: {{predict_p99_ms: 100}}

data:                              # 2 a CSV/Parquet/JSON-lines file, or {{sql: ..., url_env: DB_URL}}
  source: data/YOUR_FILE.csv
"""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
