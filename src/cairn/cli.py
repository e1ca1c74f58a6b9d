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
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from cairn._version import __version__
from cairn.errors import CairnError, ConfigError

app = typer.Typer(help="cairn: from a business question to a trustworthy model in production, in ten stages.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EXAMPLES = Path(__file__).parent / "examples"

CHECK_FAILED = 3  # the command ran and its check failed (objective missed, run not reproduced)
SAID_AT_MOST = 10  # columns `cairn predict` names one by one in a warning (missing, unread, unseen)
WIDE_TABLE = 100  # columns from which `cairn models` shows each bundle's size (always in --json and the card)
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


def _load(project: Path, overrides: list[str] | None = None) -> Any:
    from cairn.project.api import Project

    if not overrides:
        return Project.load(project)
    from cairn.config.settings import parse_overrides

    return Project.load(project, overrides=parse_overrides(overrides))


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
        (target / "data").mkdir(parents=True, exist_ok=True)  # where the template's data.source points
        (target / "cairn.yaml").write_text(TEMPLATE.format(name=target.name), encoding="utf-8")
        out.print(f"created {target}/cairn.yaml; next: put your data in {target}/data/, set business.target, the "
                  f"objective and data.source in the file, then cd {target} && cairn validate && cairn run",
                  highlight=False, markup=False)
        return
    out.print(f"created {target}/cairn.yaml; next: cd {target} && cairn run", highlight=False, markup=False)


@app.command()
@user_errors
def validate(project: ProjectOption = Path("cairn.yaml")) -> None:
    """Check the project file, and that a file source exists and has the target column (from its first rows); every
    error names the field, what was expected and a fix."""
    from cairn.stages.data.checks import check_target_present
    from cairn.stages.data.sources import source_columns

    loaded = _load(project)
    columns = source_columns(loaded.config.data, base_dir=loaded.base_dir)
    if columns is not None:
        check_target_present(columns, loaded.config.business.target)
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
                 "to the audit log.")] = None,
        set_: Annotated[list[str] | None, typer.Option(
            "--set", metavar="SECTION.KEY=VALUE",
            help="Change one key of cairn.yaml for this run (repeatable), e.g. --set training.holdout=0.3 or "
                 "--set store=postgresql://...; beats CAIRN_STORE/CAIRN_ARTIFACTS, which beat the file.")] = None,
        ) -> None:
    """Run the ten stages; unchanged stages come from the cache. A model that ships becomes the champion only if it
    beats the current one on the same holdout rows (else it is the challenger). Exits 0 when the model ships, 3
    when it ran but missed the objective (unless --no-fail), 2 on a user error, 1 on a crash."""
    if force_promote is not None and not force_promote.strip():
        raise typer.BadParameter("give a reason, e.g. --force-promote 'new data source, reviewed by Ana'",
                                 param_hint="--force-promote")
    loaded = _load(project, set_)
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
    if not records:
        out.print("no runs yet: `cairn run` makes the first", highlight=False, markup=False)
        return
    table = Table("run", "status", "started", "verdict", "metrics")
    for r in records:
        shipped = r.verdict.get("shipped") if r.verdict else None
        verdict = {True: "[green]ships[/]", False: "[red]does not ship[/]", None: "-"}[shipped]
        metrics = _metrics_text(r.metrics)
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
        table.add_row(stage.stage, "yes" if stage.cached else "", f"{stage.duration_s:.1f}", _stage_notes(stage.notes))
    out.print(table)
    if record.verdict and record.verdict.get("per_class"):
        out.print(_per_class_table(record.verdict["per_class"]))
    data = record.manifest.get("data", {})
    if data:
        out.print(f"data: {data.get('source')} fingerprint {str(data.get('fingerprint'))[:12]}, "
                  f"snapshot artifact {str(data.get('snapshot'))[:12]}", highlight=False)
    if record.manifest.get("report"):
        out.print(f"report: {record.manifest['report']}", highlight=False)
    if record.artifacts_collected_at is not None:
        out.print(f"artifacts: collected by `cairn gc` on {record.artifacts_collected_at:%Y-%m-%d %H:%M:%S} (those "
                  "a kept run or a model version shares remain)", highlight=False, markup=False)


def _per_class_table(rows: list[dict[str, Any]]) -> Table:
    """Each class's holdout precision, recall and F1 with the 95% interval, as the report shows them; the interval
    to two places, so five columns fit an 80-column terminal."""
    def figure(value: dict[str, float | None]) -> str:
        if value.get("value") is None:
            return "-"
        interval = (f" ({value['ci_low']:.2f}-{value['ci_high']:.2f})"
                    if value.get("ci_low") is not None and value.get("ci_high") is not None else "")
        return f"{value['value']:.3f}{interval}"

    table = Table("class", "support", "precision", "recall", "F1", box=box.SIMPLE_HEAD, pad_edge=False,
                  title="per class, on the holdout (95% CI)")
    for row in rows:
        table.add_row(escape(str(row["class"])), f"{row['support']:,}", figure(row["precision"]),
                      figure(row["recall"]), figure(row["f1"]))
    return table


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


SHOWN_NOTES = 2  # notes of a stage in `cairn show`'s table, besides the model chosen; --json and the report have all


def _metrics_text(metrics: dict[str, float]) -> str:
    """A listing's first three metrics as a person reads them: 'mape 9.9%', not 'mape 0.09865'; errors in the
    target's units with separators, 'rmse 19,630', not 'rmse 1.963e+04'; the rest to four significant digits."""
    from cairn.metrics.scoring import shown

    return ", ".join(f"{name} {shown(name, value) if name in READABLE else f'{value:.4g}'}"
                     for name, value in list(metrics.items())[:3])


READABLE = frozenset({"mape", "mae", "rmse"})  # metrics `shown` writes better than four digits


def _stage_notes(notes: list[str]) -> str:
    """A stage's first notes, the training stage's choice of model wherever it stands, and how many more there
    are: the table stays short, and the model that ships is never among the hidden."""
    shown = notes[:SHOWN_NOTES] + [note for note in notes[SHOWN_NOTES:] if note.startswith("chose ")]
    hidden = len(notes) - len(shown)
    return "; ".join(shown) + (f"; +{hidden} more (--json or the report)" if hidden else "")


@app.command()
@user_errors
def models(project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False) -> None:
    """List the registered versions of the project's model, with their aliases (champion, challenger, yours)."""
    from cairn.words import byte_size

    versions = _load(project).models()
    if json_:
        _print_json([v.to_dict() for v in versions])
        return
    if not versions:
        out.print("no model versions yet: a `cairn run` that reaches deployment registers the first", highlight=False,
                  markup=False)
        return
    sized = out.width >= WIDE_TABLE  # on 80 columns one more column cuts dates and metrics short
    table = Table("version", "aliases", "stage", "run", "created", "metrics", *(["size"] if sized else []), "note")
    for v in versions:
        metrics = _metrics_text(v.metrics)
        size = ["" if v.size_bytes is None else byte_size(v.size_bytes)] if sized else []
        table.add_row(f"v{v.version}", ", ".join(v.aliases), v.stage, str(v.run_id), f"{v.created_at:%Y-%m-%d %H:%M}",
                      metrics, *size, (v.note or "")[:60])
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
    _say_promoted_by_hand(chosen)


def _say_promoted_by_hand(chosen: Any) -> None:
    """Promoted, as asked: a missed objective is said, not hidden."""
    from cairn.registry import BY_HAND

    if chosen.stage == "production" and (chosen.note or "").startswith(BY_HAND):
        err.print(f"warning: its run did not promote it: {chosen.note.removeprefix(BY_HAND)}", highlight=False,
                  markup=False)


@app.command()
@user_errors
def rollback(project: ProjectOption = Path("cairn.yaml"), reason: ReasonOption = None) -> None:
    """Put the previous champion back in production (the reason goes to the audit log)."""
    chosen = _load(project).rollback(reason=reason)
    out.print(f"rolled back: {chosen.name} v{chosen.version} is the champion (in production)")


@app.command()
@user_errors
def alias(version: VersionArgument,
          name: Annotated[str, typer.Argument(metavar="NAME", help="The alias: challenger, or a name of yours.")],
          project: ProjectOption = Path("cairn.yaml"), reason: ReasonOption = None) -> None:
    """Point an alias at a model version (moving it from the version that had it); `champion` promotes."""
    chosen = _load(project).set_alias(version, name, reason=reason)
    given = name.strip().lower()
    others = [other for other in chosen.aliases if other != given]
    out.print(f"{chosen.name} v{chosen.version} is now {given}" + (f" (also {', '.join(others)})" if others else ""))
    from cairn.registry import CHAMPION_NAMES

    if name.strip().lower() in CHAMPION_NAMES:
        _say_promoted_by_hand(chosen)


@app.command()
@user_errors
def audit(project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False,
          limit: Annotated[int, typer.Option(help="Show at most this many entries, newest first.")] = 100) -> None:
    """Who registered, promoted, rolled back or aliased which model version, when, from which run and why."""
    entries = _load(project).audit(limit=limit)
    if json_:
        _print_json([entry.to_dict() for entry in entries])
        return
    if not entries:
        out.print("no registry actions yet: a `cairn run` that registers a model writes the first", highlight=False,
                  markup=False)
    for entry in entries:  # one line each, never wrapped mid-reason: easy to grep
        figures = ", ".join(f"{k} {v}" for k, v in entry.figures.items() if v is not None and k != "metrics")
        line = f"{entry.at:%Y-%m-%d %H:%M:%S}  {entry.actor}  {entry.action}"
        line += "" if entry.version is None else f" v{entry.version}"
        line += "" if entry.run_id is None else f" (run {entry.run_id})"
        line += f": {entry.reason}" if entry.reason else ""
        line += f" [{figures}]" if figures else ""
        out.print(line, highlight=False, markup=False)


db_app = typer.Typer(help="The store's schema: where it stands, and upgrading it to this cairn's.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("current")
@user_errors
def db_current(project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False) -> None:
    """The store's schema revision and this cairn's; changes nothing. Exits 3 when the store needs
    `cairn db upgrade`."""
    loaded = _load(project)
    state = loaded.store_schema()
    if json_:
        _print_json(state.to_dict() | {"store": loaded.setting("store").shown(loaded.store_url)})
    else:
        where = loaded.setting("store").shown(loaded.store_url)
        now_at = state.revision or ("made before migrations" if state.has_tables else "empty")
        out.print(f"store {where['value']} (from {where['from']}): revision {now_at}; this cairn: {state.head}"
                  + ("" if state.up_to_date else " (run `cairn db upgrade`)"), highlight=False, markup=False)
    if not state.up_to_date:
        raise typer.Exit(CHECK_FAILED)


@db_app.command("upgrade")
@user_errors
def db_upgrade(project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False) -> None:
    """Bring the store's schema to this cairn's (a SQLite store is copied beside it first, cairn.db.bak-TIME).
    cairn also does this on first use; this command does it now, e.g. before a team's first run."""
    done = _load(project).upgrade_store()
    if json_:
        _print_json(done.to_dict())
        return
    if not done.changed:
        out.print(f"the store is up to date (revision {done.after})", highlight=False)
        return
    out.print(f"upgraded the store from {done.before or 'before migrations'} to {done.after}"
              + (f"; its copy as it was: {done.backup}" if done.backup else ""), highlight=False, markup=False)


@app.command()
@user_errors
def gc(project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False,
       keep_last: Annotated[int | None, typer.Option(
           "--keep-last", min=0, metavar="N",
           help="Keep the artifacts of the N latest runs only (and of any run behind the champion or an alias); "
                "default: every run keeps its own.")] = None,
       dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; delete nothing.")] = False,
       ) -> None:
    """Delete the artifacts no kept run or registered model version refers to, and say how much space it freed.
    A model version's bundle is never deleted."""
    from cairn.words import byte_size

    done = _load(project).collect_garbage(keep_last=keep_last, dry_run=dry_run)
    if json_:
        _print_json(done.to_dict())
        return
    verb = "would free" if done.dry_run else "freed"
    runs = (f"; artifacts of run(s) {', '.join(map(str, done.runs_collected))} "
            f"{'would be ' if done.dry_run else ''}collected") if done.runs_collected else ""
    out.print(f"{verb} {done.files} file(s), {byte_size(done.bytes)}{runs}", highlight=False, markup=False)
    if done.unknown_files:
        err.print(f"left alone: {done.unknown_files} file(s), {byte_size(done.unknown_bytes)}, that this store has no "
                  "record of (another store may share the artifacts, or a run died before recording them)",
                  highlight=False, markup=False)


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
          workers: Annotated[int, typer.Option(
              min=1, help="Worker processes on the one port (the model is CPU-bound: up to one per core).")] = 1,
          ) -> None:
    """Serve the production model over REST: POST /predict, GET /health."""
    from cairn.project.workers import FACTORY, SETTINGS_VARIABLE, worker_settings
    from cairn.serving import refuse_unsafe_start
    from cairn.serving import serve as serve_model

    if model_dir is not None:
        _serve_exported(model_dir, host=host, port=port, insecure=insecure, workers=workers)
        return
    loaded = _load(project)
    spec = loaded.config.deployment
    api_key = _api_key(spec.api_key_env)
    model = loaded.served_model(version)
    host, port = host or spec.host, port or spec.port
    refuse_unsafe_start(model, host=host, api_key=api_key, insecure=insecure, port=port)  # before announcing
    err.print(f"serving {model.name} v{model.version} on http://{host}:{port} (POST /predict, GET /health)"
              + ("; switches to each new champion" if version is None else "")
              + (f"; {workers} worker processes" if workers > 1 else ""))
    if workers > 1:  # each worker process builds the same app from these settings (cairn.project.workers)
        os.environ[SETTINGS_VARIABLE] = worker_settings(project=project, version=model.version,
                                                        follow=version is None, api_key_env=spec.api_key_env,
                                                        max_body_bytes=spec.max_body_bytes, max_batch=spec.max_batch)
        serve_model(model, host=host, port=port, api_key=api_key, insecure=insecure, workers=workers,
                    worker_factory=FACTORY)
        return
    follower = loaded.champion_follower() if version is None else None  # a pinned --version stays put
    serve_model(model, host=host, port=port, api_key=api_key, on_predictions=loaded.prediction_logger(model),
                insecure=insecure, follower=follower, on_feedback=loaded.feedback_writer(model),
                max_body_bytes=spec.max_body_bytes, max_batch=spec.max_batch)


def _serve_exported(folder: Path, *, host: str | None, port: int | None, insecure: bool, workers: int = 1) -> None:
    """An exported model: its settings from export.json; the key from the variable it names, when that is set."""
    from cairn.model.exported import export_settings, load_exported
    from cairn.project.workers import FACTORY, SETTINGS_VARIABLE, worker_settings
    from cairn.serving import MAX_BATCH, MAX_BODY_BYTES, refuse_unsafe_start
    from cairn.serving import serve as serve_model

    settings = export_settings(folder)
    model = load_exported(folder)
    key_env = str(settings.get("api_key_env") or "CAIRN_API_KEY")
    api_key = os.environ.get(key_env) or None
    host, port = host or "127.0.0.1", port or int(settings.get("port") or 8000)
    refuse_unsafe_start(model, host=host, api_key=api_key, insecure=insecure, port=port)
    err.print(f"serving {model.name} v{model.version} from {folder} on http://{host}:{port} (POST /predict, "
              "GET /health; no prediction log)" + (f"; {workers} worker processes" if workers > 1 else ""),
              highlight=False, markup=False)
    limits = {"max_body_bytes": int(settings.get("max_body_bytes") or MAX_BODY_BYTES),
              "max_batch": int(settings.get("max_batch") or MAX_BATCH)}
    if workers > 1:
        os.environ[SETTINGS_VARIABLE] = worker_settings(model_dir=folder, api_key_env=key_env, **limits)
    serve_model(model, host=host, port=port, api_key=api_key, insecure=insecure, workers=workers,
                worker_factory=FACTORY if workers > 1 else None, **limits)


@app.command()
@user_errors
def export(to: Annotated[Path, typer.Option("--to", metavar="DIR", help="The folder to write.")],
           version: ChosenVersion = None,
           force: Annotated[bool, typer.Option("--force", help="Replace an earlier export in DIR.")] = False,
           project: ProjectOption = Path("cairn.yaml"),
           form: Annotated[str, typer.Option(
               "--format", help="cairn (served by `cairn serve --model DIR`), mlflow (a pyfunc model) or onnx "
                                "(the pipeline as one ONNX graph).")] = "cairn") -> None:
    """Write a model version to a folder that serves without the project: bundle, requirements, card, OpenAPI,
    Dockerfile, README. Serve it with `cairn serve --model DIR`; or as an MLflow model, or an ONNX graph."""
    from cairn.project.export import export_model

    exported = export_model(_load(project), version, to=to, force=force, form=form)
    how = {"mlflow": f"load it with mlflow.pyfunc.load_model('{exported.folder}'); its signature declares the "
                     "number inputs double, and MLflow refuses int64 columns for them: cast those to float before "
                     "predict (table.astype({name: float ...}))",
           "onnx": f"run {exported.folder}/model.onnx with onnxruntime (inputs: {exported.folder}/README.md)"}
    out.print(f"exported {exported.name} v{exported.version} to {exported.folder} ({len(exported.files)} files); "
              + how.get(form, f"serve it with: cairn serve --model {exported.folder}"), highlight=False, markup=False)


@app.command()
@user_errors
def ui(project: ProjectOption = Path("cairn.yaml"),
       host: Annotated[str, typer.Option(help="Address to listen on; beyond loopback the API key is required.")]
       = "127.0.0.1",
       port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
       viewer_key_env: Annotated[str | None, typer.Option(
           metavar="NAME", help="An environment variable holding a second key that may only look (beyond "
                                "loopback); the API key may also promote and roll back.")] = None,
       read_only: Annotated[bool, typer.Option("--read-only", help="Nobody promotes or rolls back here.")]
       = False) -> None:
    """A web page over the project's runs and models for the team: compare runs, read cards, promote."""
    from cairn.ui import serve_ui

    serve_ui(_load(project), host=host, port=port, viewer_key_env=viewer_key_env, read_only=read_only,
             announce=lambda line: err.print(line, highlight=False, markup=False))


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
def predict(input_paths: Annotated[list[Path], typer.Argument(
                metavar="INPUT...", help="CSV, Parquet or JSON lines; or a folder or glob of them "
                                         "(data/*.parquet).")],
            output: Annotated[Path | None, typer.Option(
                "--output", "-o", help="Where to write: .csv or .parquet; a folder (no extension) for one Parquet "
                                       "part per partition, scored on the Dask workers under execution.engine "
                                       "dask; without it, CSV on stdout.")] = None,
            project: ProjectOption = Path("cairn.yaml"),
            version: OtherVersion = None) -> None:
    """Score a file (or a folder of them) with the production model, a chunk at a time (any length, bounded
    memory)."""
    from cairn.project.batch import rows_in
    from cairn.project.partitions import is_folder_output
    from cairn.project.scored import output_format

    if output is not None and not is_folder_output(output):
        output_format(output)  # a name cairn cannot write is said before the scoring, not after
    loaded = _load(project)
    # CSV on stdout is written raw (values like "[see note]" are data, not Rich markup); progress goes to stderr
    with Progress(TextColumn("scoring"), BarColumn(), TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("scoring", total=rows_in(input_paths))
        scored = loaded.score_file(input_paths, output, version=version,
                                   progress=lambda done: bar.update(task, completed=done))
    _say_out_of_range(scored.out_of_range)
    # text in a number column is imputed in its rows, a level training never had read as the encoder reads it: said,
    # for SAID_AT_MOST columns, as missing columns are
    findings = [*scored.unread, *scored.unseen]
    for finding in findings[:SAID_AT_MOST]:
        err.print(f"warning: {finding.sentence()}", highlight=False, markup=False)
    if len(findings) > SAID_AT_MOST:
        err.print(f"warning: and {len(findings) - SAID_AT_MOST} more columns with text that did not read or levels "
                  f"the training split never had", highlight=False, markup=False)
    if scored.missing:  # an input without a column is imputed in every row: said, not silent
        from cairn.words import name_list

        shown = name_list(scored.missing, SAID_AT_MOST)
        err.print(f"warning: no column for {len(scored.missing)} of the model's inputs ({shown}): the model imputed "
                  f"{'it' if len(scored.missing) == 1 else 'them'} in every row, so the predictions may be far from "
                  f"what {'it' if len(scored.missing) == 1 else 'they'} would give", highlight=False, markup=False)
    if scored.replaced:  # the input's own column of that name is not in the output: said, not silent
        from cairn.words import name_list

        them = "it" if len(scored.replaced) == 1 else "them"
        reads = set(loaded.load_model(version).feature_names)
        inputs = [name for name in scored.replaced if name in reads]  # renaming a model's input would lose it
        advice = f"rename {them} in the input to keep both"
        if inputs:
            kind = "an input" if len(inputs) == 1 else "inputs"
            others = "; rename the others in the input to keep both" if len(inputs) < len(scored.replaced) else ""
            advice = f"the model read {name_list(inputs, SAID_AT_MOST)} as {kind} first{others}"
        err.print(f"warning: the input has {'a column' if len(scored.replaced) == 1 else 'columns'} named as the "
                  f"answers' ({name_list(scored.replaced, SAID_AT_MOST)}): the answers replaced {them} in the "
                  f"output; {advice}", highlight=False, markup=False)
    if output is not None and is_folder_output(output):
        err.print(f"wrote {scored.rows:,} predictions to {output}/ ({scored.parts:,} Parquet part"
                  f"{'s' if scored.parts != 1 else ''})", highlight=False, markup=False)
    elif output is not None:
        err.print(f"wrote {scored.rows:,} predictions to {output} ({scored.kind})", highlight=False, markup=False)


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
        answered = f"answer {one.answer}; " if one.answer is not None else ""
        out.print(f"{answered}probability of {one.output}: {one.value:.4f}", highlight=False)
    elif one.scale.startswith("log1p("):
        out.print(f"in target units: {one.value:,.6g}", highlight=False)
    if one.note:
        out.print(f"note: {one.note}", highlight=False)


@app.command()
@user_errors
def retrain(data: Annotated[Path | None, typer.Option(
                help="New rows with the target (CSV, Parquet, JSON lines); default: the predictions whose truth "
                     "came back (POST /feedback, `cairn feedback`).")] = None,
            project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False,
            quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
            no_fail: Annotated[bool, typer.Option("--no-fail", help="Exit 0 even when the champion stays.")] = False,
            force_promote: Annotated[str | None, typer.Option(
                "--force-promote", metavar="REASON",
                help="Promote the challenger if it ships, even if it does not beat the champion; REASON goes to "
                     "the audit log.")] = None) -> None:
    """Train a challenger on the new labelled rows (monitoring.retrain in cairn.yaml) and promote it only if it
    ships and beats the champion on the newest of them. Exits 0 when it was promoted, 3 when the champion stays
    (unless --no-fail), 2 on a user error."""
    if force_promote is not None and not force_promote.strip():
        raise typer.BadParameter("give a reason, e.g. --force-promote 'reviewed by Ana'", param_hint="--force-promote")
    outcome = _retrain(_load(project), data, force_promote=force_promote, progress=not quiet and not json_)
    if json_:
        _print_json(outcome.to_dict())
    else:
        _print_retrain(outcome)
    if not outcome.promoted and not no_fail:
        raise typer.Exit(CHECK_FAILED)


def _retrain(loaded: Any, data: Path | None, *, force_promote: str | None = None, progress: bool = True) -> Any:
    """A retrain on `data` (new rows with the target), or on the ground truth fed back when it is None."""
    from cairn.project.retrain import labelled_from_feedback
    from cairn.project.retrain import retrain as retrain_project

    if data is not None:
        labelled, described = loaded.read_table(data), str(data)
    else:
        labelled, described = labelled_from_feedback(loaded), "predictions whose truth came back"
    with StageProgress(enabled=progress) as shown:
        return retrain_project(loaded, labelled=labelled, described=described, force_promote=force_promote,
                               progress=shown.update)


def _print_retrain(outcome: Any) -> None:
    out.print(f"retrained on {outcome.trained_on_new:,} new labelled rows ({outcome.data}: "
              f"{'with the training source' if outcome.data == 'all' else 'alone'}); judged on the newest "
              f"{outcome.judge_rows:,}", highlight=False, markup=False)
    out.print(outcome.run.verdict, highlight=False, markup=False)
    out.print("promoted: the challenger is the new champion (`cairn rollback` undoes it)" if outcome.promoted
              else "the champion stays", highlight=False, markup=False)


@app.command()
@user_errors
def monitor(data: Annotated[Path | None, typer.Option(
                help="New data (a file, or a folder or glob of files); default: the logged requests.")] = None,
            project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False,
            version: OtherVersion = None,
            no_fail: Annotated[bool, typer.Option("--no-fail", help="Exit 0 even when the monitor advises retraining."
                                                  )] = False,
            no_estimate: Annotated[bool, typer.Option("--no-estimate", help="Skip the performance estimate of "
                                                      "windows without ground truth.")] = False,
            retrain_: Annotated[bool, typer.Option(
                "--retrain", help="When the monitor advises retraining, retrain (`cairn retrain`): on --data when it "
                                  "has the target, else on the ground truth fed back.")] = False,
            report_path: Annotated[Path | None, typer.Option(
                "--report", help="Also write the monitoring report (HTML, aggregates only: drift over checks, the "
                                 "metric per window, retrain decisions) to this file.")] = None,
            ) -> None:
    """Per-feature drift against the training data, the success metrics per time window where ground truth came
    back (with an estimate beside them), and advice by the rules of monitoring.retrain_when. Exits 0 when healthy,
    3 when it advises retraining or the objective is missed in the latest window (unless --no-fail); with
    --retrain and that advice, 0 when the retrained challenger became champion, 3 when the champion stays."""
    loaded = _load(project)
    result = loaded.monitor(data, version=version, estimate=not no_estimate)
    retrained = None
    if retrain_ and result.retrain:
        labelled = data if result.performance else None  # --data had the target: it was scored above
        retrained = _retrain(loaded, labelled, progress=not json_)
    written = loaded.write_monitoring_report(result, report_path) if report_path is not None else None
    if json_:
        _print_json(result.to_dict() | ({"retrained": retrained.to_dict()} if retrained is not None else {})
                    | ({"report": str(written)} if written is not None else {}))
        _monitor_exit(result, no_fail=no_fail, retrained=retrained)
        return
    table = Table("feature", "kind", "PSI", "test", "p-value", "drifted", "detail")
    for f in result.drift.features:
        table.add_row(f.feature, f.kind, f"{f.psi:.3f}", f.test, "-" if f.p_value is None else f"{f.p_value:.3g}",
                      "[red]yes[/]" if f.drifted else "", f.detail)
    out.print(table)
    drift = result.drift  # beside the features: the model's outputs, new levels, missing rates, all features at once
    for line in [*(f"{p.feature}: {p.detail}" for p in drift.predictions), *(n.text() for n in drift.new_categories),
                 *(m.text() for m in drift.missing_changes), *([drift.domain.sentence] if drift.domain else [])]:
        out.print(line, highlight=False, markup=False)
    for name, value in result.performance.items():
        out.print(f"{name} on the new data: {value:.4g}")
    _print_windows(result.windows, served_only=data is not None)
    out.print(result.advice, highlight=False)
    if result.webhook:
        out.print(f"webhook: {result.webhook}", highlight=False, markup=False)
    if retrained is not None:
        _print_retrain(retrained)
    if written is not None:
        out.print(f"Monitoring report: {written}", highlight=False, markup=False)
    _monitor_exit(result, no_fail=no_fail, retrained=retrained)


TREND_SHOWN = 6


def _print_windows(windows: list[Any], *, served_only: bool = False) -> None:
    """The trend: the last few windows, a row each, the realised metric with its interval beside the estimate.
    Windows are always of the served requests: beside --data (`served_only`) the title says so, so the table is
    not read as the file's."""
    if not windows:
        return
    from rich.table import Column

    from cairn.metrics.scoring import lower_is_better, shown

    table = Table(Column("window from", no_wrap=True), "rows", "labelled", "metric", "realised [CI]", "estimate",
                  "objective", "met",
                  title=f"{'served requests, not the --data file: ' if served_only else ''}performance per window "
                        f"(last {min(len(windows), TREND_SHOWN)} of {len(windows)})")
    for window in windows[-TREND_SHOWN:]:
        names = list(dict.fromkeys(m.metric for m in window.metrics)) or ["-"]
        for position, name in enumerate(names):
            realised, estimated = window.realised(name), window.estimated(name)
            met = realised.met if realised is not None else (estimated.met if estimated is not None else None)
            threshold = (realised or estimated).threshold if (realised or estimated) else None
            first = position == 0
            start = f"{window.start:%Y-%m-%d}" + ("" if window.start.hour == 0 else f" {window.start:%H:%M}")
            table.add_row(start if first else "", f"{window.rows:,}" if first else "",
                          f"{window.labelled:,}" if first else "", name,
                          escape(realised.text().split(" ", 1)[1]) if realised else "-",
                          escape(estimated.text().split(" ", 1)[1] + " (est.)") if estimated else "-",
                          "-" if threshold is None else ("< " if lower_is_better(name) else "> ")
                          + shown(name, threshold),
                          {True: "[green]yes[/]", False: "[red]no[/]",
                           None: "uncertain" if realised is not None and realised.value is not None else "-"}[met]
                          + ("" if realised is not None or met is None else " (est.)"))
    out.print(table)


def _monitor_exit(result: Any, *, no_fail: bool, retrained: Any = None) -> None:
    if retrained is not None:  # the advice was acted on: the answer is whether production got better
        if not retrained.promoted and not no_fail:
            err.print("retrained, but the challenger did not earn production: the champion stays (exit 3)")
            raise typer.Exit(CHECK_FAILED)
        return
    if result.check_failed and not no_fail:
        err.print("the monitor says no: it advises retraining or the objective is missed in the latest window "
                  "(exit 3; --no-fail exits 0)")
        raise typer.Exit(CHECK_FAILED)


@app.command()
@user_errors
def feedback(file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV, Parquet or JSON lines.")],
             project: ProjectOption = Path("cairn.yaml"), json_: JsonOption = False) -> None:
    """Send the true values back: FILE has an `id` column (the prediction_id /predict answered) and the target, or
    the model's input columns and the target (the champion predicts them now). Unknown ids are counted, not
    stored; `cairn monitor` then shows the success metrics per time window."""
    result = _load(project).feedback(file)
    if not result.accepted and result.unknown_ids:  # nothing stored, every id unknown: the wrong file or model
        from cairn.errors import DataError

        shown = ", ".join(map(str, result.unknown[:5])) + (" ..." if result.unknown_ids > 5 else "")
        raise DataError.single(
            f"None of the {result.unknown_ids:,} ids in {file} matches a prediction logged for {result.model}: "
            "nothing was stored.", where="FILE", expected="the prediction_id values /predict answered",
            got=shown, fix="feed back the ids the service answered (its prediction log is in .cairn/predictions/), "
                           "or the model's input columns with the target")
    if json_:
        _print_json(result.to_dict())
        return
    line = f"stored {result.accepted:,} true value{'s' if result.accepted != 1 else ''} for {result.model}"
    line += f" v{result.version}" if result.version is not None else ""
    line += " (input rows predicted now)" if result.source == "inputs" else ""
    out.print(line, highlight=False, markup=False)
    if result.skipped:
        out.print(f"skipped {result.skipped:,} rows without a true value", highlight=False, markup=False)
    if result.relabelled:
        err.print(f"note: {result.relabelled:,} of these rows give a true value for an id that had one already "
                  "(sent before, or earlier in the file): the newest counts",
                  highlight=False, markup=False)
    if result.unknown_ids:
        shown = ", ".join(map(str, result.unknown[:5])) + (" ..." if result.unknown_ids > 5 else "")
        err.print(f"warning: {result.unknown_ids:,} ids match no logged prediction, not stored: {shown}",
                  highlight=False, markup=False)


class StageProgress:
    """A line per stage on stderr: spinner and elapsed time while it works, ✓ or 'cached' when done."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=err, transient=False)
        self.tasks: dict[str, TaskID] = {}
        self.started = False

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            self.progress.stop()

    def update(self, event: Any) -> None:
        if not self.enabled:
            return
        if not self.started:  # at the first stage: an error before any leaves no blank line above its message
            self.progress.start()
            self.started = True
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
