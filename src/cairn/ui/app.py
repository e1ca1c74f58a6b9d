"""`cairn ui`: the FastAPI application, server-rendered pages over one project's store.

Pages: runs (sort, filter, paginate, compare two), a run (verdict, stages, manifest, report), models (versions,
card, promote and rollback with a reason, audit log). The app holds the store opened at start; every handler is a
plain function run in the threadpool, since the store's calls block. Errors are pages: a run or version that does
not exist is a 404 page, a store that stops answering a 503 page, never a traceback.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
import markupsafe
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from cairn.errors import CairnError, NotFoundError, Problem, StoreError
from cairn.project.api import Project
from cairn.registry import BY_HAND, NOT_PROMOTED, ModelVersion, Registry
from cairn.stages.card import restaged, stage_label
from cairn.store import Store
from cairn.ui import queries
from cairn.ui.access import (
    API_KEY_HEADER,
    CSRF_COOKIE,
    CSRF_FIELD,
    LOGIN_COOKIE,
    Access,
    csrf_matches,
    new_csrf_token,
)
from cairn.ui.charts import contribution_bars, drift_over_checks, line_chart, metric_over_versions

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
PUBLIC_PATHS = ("/login", "/static/")
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_FORM_BYTES = 200_000
VERSIONS_PER_PAGE = 50
AUDIT_ON_MODELS_PAGE = 20
DRIFT_CHECKS_SHOWN = 60  # newest `cairn monitor` checks in the drift chart of /monitoring
# Nothing leaves the page's own origin: no CDN, no font, no beacon. The run report is the report's own page (inline
# styles and images as data: URLs), served under a policy of its own.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
REPORT_POLICY = ("default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                 "script-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


CONFIG_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,8}")
_EXTENSIONS = {"parquet": "parquet", "joblib": "joblib", "json": "json", "html": "html", "text": "txt"}


class BadRequest(CairnError):
    """A query or form value the page cannot use (a 422 page that names it)."""


class Forbidden(CairnError):
    """An action the login's role may not take (a 403 page)."""


class Refused(CairnError):
    """An action the UI does not do as asked (a 409 page that says why and how)."""


def create_app(project: Project, store: Store, *, access: Access) -> FastAPI:
    """The UI over `project`'s store, opened by the caller (it stays open for the app's life)."""
    app = FastAPI(title=f"cairn ui: {project.config.project}", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.project, app.state.store, app.state.access = project, store, access
    templates = _environment()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        context = {"project": project.config.project, "model_name": project.config.model_name,
                   "csrf": request.state.csrf, "login_required": access.required, "path": request.url.path,
                   "may_change": access.may_change(getattr(request.state, "role", None)),
                   **values}
        return HTMLResponse(templates.get_template(template).render(context), status_code=status_code)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Login beyond loopback, the CSRF cookie, and the page's security headers."""
        cookie = request.cookies.get(CSRF_COOKIE)
        request.state.csrf = cookie or new_csrf_token()
        request.state.by_header = False
        request.state.role = access.role_of_cookie(None) if not access.required else None
        if not access.required and _host_name(request.headers.get("host", "")) not in LOOPBACK_NAMES:
            # no login on loopback, so no other name may reach it: a page elsewhere whose name was rebound to
            # 127.0.0.1 (DNS rebinding) would otherwise read the UI as its own origin
            return _secured(PlainTextResponse("cairn ui answers only to 127.0.0.1, localhost or [::1] when it has no "
                                              "login; start it with --host and an API key to serve other names.",
                                              status_code=421), request, cookie)
        if access.required and not request.url.path.startswith(PUBLIC_PATHS):
            header = request.headers.get(API_KEY_HEADER)
            by_header = access.role_of_key(header) if header is not None else None
            by_cookie = access.role_of_cookie(request.cookies.get(LOGIN_COOKIE))
            request.state.role, request.state.by_header = by_header or by_cookie, by_header is not None
            if request.state.role is None:
                response: Response = page(request, "login.html", status_code=401, next=_next_path(request),
                                          failed=header is not None)
                response.headers["WWW-Authenticate"] = "APIKey"
                return _secured(response, request, cookie)
        started = time.perf_counter()
        response = await call_next(request)
        # the server's own time, for the browser's network panel and bench/ui.py
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return _secured(response, request, cookie)

    @app.exception_handler(CairnError)
    def user_error(request: Request, error: CairnError) -> HTMLResponse:
        status = (404 if isinstance(error, NotFoundError) else 503 if isinstance(error, StoreError)
                  else 409 if isinstance(error, Refused) else 403 if isinstance(error, Forbidden) else 422)
        return page(request, "error.html", status_code=status, status=status, error=error)

    @app.exception_handler(Exception)
    def bug(request: Request, error: Exception) -> HTMLResponse:
        log.exception("cairn ui failed on %s", request.url.path, exc_info=error)
        internal = CairnError.single("Internal error: cairn ui is wrong here, not you.", where=request.url.path,
                                     expected="a page", got=type(error).__name__,
                                     fix="report it with the server's log (it has the traceback)")
        if not hasattr(request.state, "csrf"):
            request.state.csrf = ""
        return page(request, "error.html", status_code=500, status=500, error=internal)

    @app.exception_handler(SQLAlchemyError)
    def store_error(request: Request, error: SQLAlchemyError) -> HTMLResponse:
        log.error("The store failed while serving %s: %s", request.url.path, error)
        unreachable = StoreError.single(
            "The store cannot be reached.", where="store", expected="the database the UI started with",
            got=type(error).__name__, fix="check that the database runs, then reload the page")
        return page(request, "error.html", status_code=503, status=503, error=unreachable)

    # login -------------------------------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/runs") -> HTMLResponse:
        return page(request, "login.html", next=_safe_next(next), failed=False)

    @app.post("/login")
    def login(request: Request, form: dict[str, str] = Depends(_form)) -> Response:
        _check_csrf(request, form)
        target = _safe_next(form.get("next", "/runs"))
        if not access.required:
            return RedirectResponse(target, status_code=303)
        role = access.role_of_key(form.get("key"))
        if role is None:
            return page(request, "login.html", status_code=401, next=target, failed=True)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(LOGIN_COOKIE, access.login_token(role), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @app.post("/logout")
    def logout(request: Request, form: dict[str, str] = Depends(_form)) -> Response:
        _check_csrf(request, form)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    # runs --------------------------------------------------------------------------------------------------------
    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/runs", status_code=307)

    @app.get("/runs", response_class=HTMLResponse)
    def runs(request: Request) -> HTMLResponse:
        names = queries.metric_names(store, project.config.project)
        chosen = _run_filter(request, metric_names=names)
        found = queries.runs_page(store, project.config.project, chosen)
        success = [c.metric for c in project.config.business.success]
        key_metrics = list(dict.fromkeys([*[m for m in success if m in names or not names], *names[:3]]))
        query = {k: v for k, v in request.query_params.items() if k not in ("page", "sort", "order") and v}
        return page(request, "runs.html", found=found, chosen=chosen, metric_names=names, key_metrics=key_metrics,
                    statuses=queries.STATUSES, verdicts=queries.VERDICTS,
                    request_value=request.query_params.get("value", ""),
                    sort_link=lambda key: _sort_link(query, chosen, key),
                    page_link=lambda number: "/runs?" + urlencode({**query, "sort": chosen.sort,
                                                                   "order": chosen.order, "page": number}))

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run(request: Request, run_id: str) -> HTMLResponse:
        record = store.run(project.config.project, _run_id(run_id))
        report = _report_file(project, record.manifest)
        manifest = json.dumps(record.manifest, indent=2, sort_keys=True, default=str)
        outputs = [(stage.stage, name, sha) for stage in record.stages for name, sha in stage.outputs.items()
                   if isinstance(sha, str)]
        facts = queries.artifact_facts(store, [sha for _, _, sha in outputs])
        return page(request, "run.html", run=record, manifest=_redacted(manifest), has_report=report is not None,
                    duration=_duration(record.started_at, record.finished_at), outputs=outputs, facts=facts)

    @app.get("/runs/{run_id}/artifacts/{sha}")
    def run_artifact(run_id: str, sha: str) -> Response:
        """One output of the run's stages, as stored (Parquet, joblib, JSON...): only one its stages name."""
        record = store.run(project.config.project, _run_id(run_id))
        named = {out: (stage.stage, name) for stage in record.stages for name, out in stage.outputs.items()}
        if sha not in named or not store.artifacts.exists(sha):
            raise NotFoundError.single(f"Run {record.id} has no artifact {sha[:12]}.", where="artifact",
                                       expected="an output of one of the run's stages, still stored", got=sha[:12],
                                       fix="pick one on the run's page; `cairn gc` may have deleted it")
        kind = queries.artifact_facts(store, [sha]).get(sha, ("bin", 0))[0]
        stage, name = named[sha]
        filename = re.sub(r"[^A-Za-z0-9._-]", "_", f"run-{record.id}-{stage}-{name}.{_EXTENSIONS.get(kind, kind)}")
        return Response(store.artifacts.read_checked(sha), media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    @app.get("/runs/{run_id}/report")
    def run_report(run_id: str) -> Response:
        record = store.run(project.config.project, _run_id(run_id))
        report = _report_file(project, record.manifest)
        if report is None:
            raise NotFoundError.single(f"Run {record.id} has no report.", where="RUN",
                                       expected="a run that finished and wrote its report", got=record.status,
                                       fix="run `cairn run` again")
        response = FileResponse(report, media_type="text/html")
        response.headers["Content-Security-Policy"] = REPORT_POLICY
        return response

    @app.get("/compare", response_class=HTMLResponse)
    def compare(request: Request) -> HTMLResponse:
        from cairn.project.diff import diff_runs

        chosen = request.query_params.getlist("run")
        if len(chosen) != 2:
            raise BadRequest.single("Pick two runs to compare.", where="run", expected="two run ids",
                                    got=f"{len(chosen)}: {', '.join(chosen) or 'none'}",
                                    fix="tick two runs on the runs page, then Compare")
        first, second = sorted((_run_id(chosen[0]), _run_id(chosen[1])))
        a, b = (store.run(project.config.project, first), store.run(project.config.project, second))
        try:
            difference = diff_runs(a, b, store, current=project.config)
        except ValidationError as error:  # a manifest written by a cairn whose project file this one cannot read
            raise BadRequest.single(
                f"Run {b.id} recorded a project file this cairn cannot read, so the runs cannot be compared.",
                where=f"run {b.id} manifest.config", expected="a project file valid for this cairn",
                got=f"{error.error_count()} problems, first at {'.'.join(map(str, error.errors()[0]['loc']))}",
                fix="compare it with `cairn diff` on the cairn version that made it") from None
        boards = queries.leaderboards(store, [a.id, b.id])
        return page(request, "compare.html", diff=difference, a=a, b=b, boards=boards,
                    board_metric=project.config.business.primary_metric)

    # models ------------------------------------------------------------------------------------------------------
    @app.get("/models", response_class=HTMLResponse)
    def models(request: Request) -> HTMLResponse:
        registry = Registry(store)
        versions = registry.versions(project.config.model_name)
        pages = max(1, -(-len(versions) // VERSIONS_PER_PAGE))
        number = _page_number(request, pages)
        shown = versions[(number - 1) * VERSIONS_PER_PAGE:number * VERSIONS_PER_PAGE]
        verdicts = queries.run_verdicts(store, [v.run_id for v in shown if v.run_id is not None])
        metric_names = list(dict.fromkeys(name for v in shown for name in v.metrics))
        primary = project.config.business.primary_metric
        criterion = next((c for c in project.config.business.success if c.metric == primary), None)
        threshold = None if criterion is None else (criterion.below if criterion.below is not None
                                                    else criterion.above)
        chart = metric_over_versions([(v.version, v.metrics[primary]) for v in versions
                                      if isinstance(v.metrics.get(primary), int | float)],
                                     metric=primary, threshold=threshold)
        return page(request, "models.html", versions=shown, metric_names=metric_names, chart=chart,
                    primary=primary, page_number=number, pages=pages, total=len(versions),
                    ships={v.version: _ships(v, verdicts) for v in shown},
                    audit=registry.audit(project.config.model_name, limit=AUDIT_ON_MODELS_PAGE),
                    champion=next((v for v in versions if v.stage == "production"), None))

    @app.get("/models/{version}/card", response_class=HTMLResponse)
    def card(request: Request, version: str) -> HTMLResponse:
        chosen, text = _card(project, store, version)
        return page(request, "card.html", version=chosen, card=_markdown(text))

    @app.get("/models/{version}/promote", response_class=HTMLResponse)
    def promote_form(request: Request, version: str) -> HTMLResponse:
        _check_may_change(request, access)
        registry = Registry(store)
        chosen = registry.get(project.config.model_name, registry.resolve(project.config.model_name, version))
        verdicts = queries.run_verdicts(store, [chosen.run_id] if chosen.run_id is not None else [])
        champion = next((v for v in registry.versions(project.config.model_name) if v.stage == "production"), None)
        return page(request, "promote.html", version=chosen, ships=_ships(chosen, verdicts), champion=champion,
                    problem=None)

    @app.post("/models/{version}/promote")
    def promote(request: Request, version: str, form: dict[str, str] = Depends(_form)) -> Response:
        _check_may_change(request, access)
        _check_csrf(request, form)
        registry = Registry(store)
        name = project.config.model_name
        chosen = registry.get(name, registry.resolve(name, version))
        reason = _reason(form)
        verdicts = queries.run_verdicts(store, [chosen.run_id] if chosen.run_id is not None else [])
        ships = _ships(chosen, verdicts)
        if not ships and form.get("force") != "yes":
            raise Refused.single(
                f"Model {name} v{chosen.version} does not ship: its run missed the objective.",
                where=f"v{chosen.version}", expected="a version whose run met every success criterion",
                got=_ships_text(chosen, verdicts), fix="tick 'promote anyway' on the confirmation page; the reason "
                "you give goes to the audit log")
        forced = "" if ships else " (forced: it does not ship)"
        registry.promote(name, chosen.version, reason=f"{reason}{forced} [cairn ui]",
                         figures={"via": "cairn ui", "forced": not ships})
        return RedirectResponse(f"/models?done=promoted+v{chosen.version}#audit", status_code=303)

    @app.get("/models/rollback", response_class=HTMLResponse)
    def rollback_form(request: Request) -> HTMLResponse:
        _check_may_change(request, access)
        versions = Registry(store).versions(project.config.model_name)
        champion = next((v for v in versions if v.stage == "production"), None)
        earlier = [v for v in versions if champion is not None and v.version < champion.version
                   and v.stage == "archived"]
        return page(request, "rollback.html", champion=champion, target=earlier[0] if earlier else None)

    @app.post("/models/rollback")
    def rollback(request: Request, form: dict[str, str] = Depends(_form)) -> Response:
        _check_may_change(request, access)
        _check_csrf(request, form)
        reason = _reason(form)
        restored = Registry(store).rollback(project.config.model_name, reason=f"{reason} [cairn ui]")
        return RedirectResponse(f"/models?done=rolled+back+to+v{restored.version}#audit", status_code=303)

    @app.get("/monitoring", response_class=HTMLResponse)
    def monitoring(request: Request) -> HTMLResponse:
        """The champion's performance per time window as `cairn monitor` stored it (realised beside estimated,
        the threshold drawn) and the retrain decisions from the audit log."""
        registry = Registry(store)
        name = project.config.model_name
        champion = next((v for v in registry.versions(name) if v.stage == "production"), None)
        rows = [] if champion is None else store.performance(project.config.project, name, champion.version)
        charts = {}
        for metric in dict.fromkeys(row["metric"] for row in rows):
            mine = [row for row in rows if row["metric"] == metric]
            starts = sorted({row["window_start"] for row in mine})
            index = {start: float(i) for i, start in enumerate(starts)}
            series = {kind: [(index[row["window_start"]], row["value"]) for row in mine
                             if row["kind"] == kind and row["value"] is not None]
                      for kind in ("realised", "estimated")}
            threshold = next((row["threshold"] for row in mine if row["threshold"] is not None), None)
            charts[metric] = line_chart({k: v for k, v in series.items() if v}, title=f"{metric} per window",
                                        threshold=threshold,
                                        x_labels={i: f"{start:%Y-%m-%d}" for start, i in index.items()})
        decisions = [entry for entry in registry.audit(name, limit=1000) if entry.action in ("retrain", "decide")]
        history = [] if champion is None else store.drift_history(project.config.project, name, champion.version,
                                                                   last_checks=DRIFT_CHECKS_SHOWN)
        drift_chart, drift_top = drift_over_checks(history, threshold=project.config.monitoring.drift.threshold)
        return page(request, "monitoring.html", champion=champion, rows=rows, charts=charts, decisions=decisions,
                    drift_chart=drift_chart, drift_top=drift_top, drift_checks=len({r["check_id"] for r in history}),
                    drift_threshold=project.config.monitoring.drift.threshold)

    @app.get("/explain", response_class=HTMLResponse)
    def explain_form(request: Request) -> HTMLResponse:
        """One answer of the champion explained: row N of its run's holdout (?row=N), or a pasted record (POST)."""
        row_text = request.query_params.get("row")
        if row_text is None:
            return page(request, "explain.html", explained=None, record_text="", row=None)
        if not row_text.strip().isdigit():
            raise BadRequest.single("Pick a row by its number.", where="row", expected="a row number from 0",
                                    got=row_text, fix="write a number such as 0")
        explained = project.explain(row=int(row_text))
        return _explained_page(request, explained, record_text="", row=int(row_text))

    @app.post("/explain", response_class=HTMLResponse)
    def explain_record(request: Request, form: dict[str, str] = Depends(_form)) -> HTMLResponse:
        _check_csrf(request, form)
        text = form.get("record", "")
        try:
            loaded = json.loads(text)
        except ValueError as error:
            raise BadRequest.single("The record is not JSON.", where="record",
                                    expected="one JSON object of the model's inputs, like the body of POST /predict",
                                    got=str(error)[:200], fix="paste a JSON object such as {\"Lot_Area\": 8450}"
                                    ) from None
        if not isinstance(loaded, dict) or not loaded:
            raise BadRequest.single("The record is not one JSON object.", where="record",
                                    expected="one JSON object of the model's inputs", got=type(loaded).__name__,
                                    fix="paste one object, not a list")
        model = Registry(store).load(project.config.model_name)
        return _explained_page(request, model.explain([loaded]), record_text=text, row=None)

    def _explained_page(request: Request, explained: Any, *, record_text: str, row: int | None) -> HTMLResponse:
        one = explained.row(0)
        ranked = sorted(one.contributions.items(), key=lambda pair: -abs(pair[1]))
        shown = ranked[:15]
        rest = sum(value for _, value in ranked[15:])
        if ranked[15:]:
            shown.append((f"{len(ranked) - 15} other inputs", rest))
        return page(request, "explain.html", explained=one, bars=contribution_bars(shown, unit=one.scale),
                    ranked=ranked, record_text=record_text, row=row)

    @app.get("/audit", response_class=HTMLResponse)
    def audit(request: Request) -> HTMLResponse:
        return page(request, "audit.html", audit=Registry(store).audit(project.config.model_name, limit=500))

    @app.exception_handler(404)
    def not_found(request: Request, _error: Exception) -> HTMLResponse:
        missing = NotFoundError.single("No such page.", where=request.url.path, expected="a page of cairn ui",
                                       got=request.url.path, fix="start from the runs page")
        return page(request, "error.html", status_code=404, status=404, error=missing)

    return app


# request helpers ---------------------------------------------------------------------------------------------------
async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form's fields (the last value of each): no multipart parser is needed for these forms."""
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise BadRequest.single("The form is too large.", where="form", expected=f"at most {MAX_FORM_BYTES:,} bytes",
                                got=f"{len(raw):,} bytes", fix="send a shorter record or reason")
    body = raw.decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


def _check_may_change(request: Request, access: Access) -> None:
    if not access.may_change(request.state.role):
        why = ("this UI was started --read-only" if access.read_only
               else "this login may only look (the viewer key)")
        raise Forbidden.single("Promote and rollback are not open to you here.", where="role",
                               expected="the project's API key (deployment.api_key_env)", got=why,
                               fix="log in with the API key, or run `cairn promote` / `cairn rollback`")


def _check_csrf(request: Request, form: dict[str, str]) -> None:
    if request.state.by_header:
        return
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
        raise Refused.single("The form's security token does not match this browser's.", where="form",
                             expected="the token of the page the form came from", got="a missing or other token",
                             fix="reload the page and submit the form again")


def _secured(response: Response, request: Request, had_cookie: str | None) -> Response:
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if had_cookie is None:
        response.set_cookie(CSRF_COOKIE, request.state.csrf, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response


def _host_name(host: str) -> str:
    """The name in a Host header, without its port: `127.0.0.1:8100` -> 127.0.0.1, `[::1]:8100` -> ::1."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _next_path(request: Request) -> str:
    return _safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else ""))


def _safe_next(target: str) -> str:
    """Only a path of this site: never `//elsewhere` or a full URL (an open redirect)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/runs"


def _page_number(request: Request, pages: int) -> int:
    text = request.query_params.get("page") or "1"
    if not text.isdigit() or not 1 <= int(text) <= pages:
        raise BadRequest.single("No such page.", where="page", expected=f"a page number from 1 to {pages}",
                                got=text, fix="use the page links")
    return int(text)


def _reason(form: dict[str, str]) -> str:
    reason = " ".join(form.get("reason", "").split())
    if len(reason) < 3:
        raise BadRequest.single("A reason is required: it goes to the audit log.", where="reason",
                                expected="a sentence saying why", got=repr(reason) if reason else "nothing",
                                fix="write why in the reason box")
    return reason[:1000]


def _run_id(text: str) -> int:
    if not text.strip().isdigit():
        raise NotFoundError.single(f"No run {text}.", where="RUN", expected="a run id (a number)", got=text,
                                   fix="pick a run on the runs page")
    return int(text)


def _run_filter(request: Request, *, metric_names: list[str]) -> queries.RunFilter:
    """The runs page's query string, each bad value named (a 422 page), not ignored."""
    params = request.query_params
    problems: list[tuple[str, str, str]] = []

    def choice(name: str, allowed: tuple[str, ...]) -> str | None:
        value = params.get(name) or None
        if value is not None and value not in allowed:
            problems.append((name, f"one of {', '.join(allowed)}", value))
            return None
        return value

    def day(name: str) -> date | None:
        value = params.get(name) or None
        try:
            return None if value is None else date.fromisoformat(value)
        except ValueError:
            problems.append((name, "a date such as 2026-01-31", str(value)))
            return None

    def number(name: str) -> float | None:
        value = params.get(name) or None
        try:
            result = None if value is None else float(value)
        except ValueError:
            result = math.nan
        if result is not None and not math.isfinite(result):
            problems.append((name, "a number", str(value)))
            return None
        return result

    status, verdict = choice("status", queries.STATUSES), choice("verdict", queries.VERDICTS)
    since, until = day("since"), day("until")
    metric = choice("metric", tuple(metric_names)) if metric_names else None
    low, high = number("min"), number("max")
    if (low is not None or high is not None) and metric is None and "metric" not in {p[0] for p in problems}:
        problems.append(("metric", "a metric for the range", "none"))
    key, value = (params.get("key") or "").strip() or None, params.get("value")
    if key is not None and not CONFIG_KEY.fullmatch(key):
        problems.append(("key", "a dotted project-file key such as training.cv", key))
        key = None
    sorts = (*queries.SORTS, *(f"metric:{name}" for name in metric_names))
    sort = choice("sort", sorts) or "id"
    if sort.startswith("metric:") and metric is None:
        metric = sort.removeprefix("metric:")
    order = choice("order", ("asc", "desc")) or "desc"
    page_text = params.get("page") or "1"
    if not page_text.isdigit() or int(page_text) < 1 or int(page_text) > 1_000_000:
        problems.append(("page", "a page number from 1", page_text))
        page_text = "1"
    if problems:
        error = BadRequest("The runs page cannot use the query's values.")
        error.problems.extend(Problem(where=where, expected=expected, got=got, fix="change or clear it")
                              for where, expected, got in problems)
        raise error
    return queries.RunFilter(status=status, verdict=verdict, since=since, until=until, metric=metric,
                             metric_min=low, metric_max=high, config_key=key,
                             config_value=None if key is None or value is None else _json_text(value), sort=sort,
                             order="asc" if order == "asc" else "desc", page=int(page_text))


def _json_text(value: str) -> str:
    """A value typed in the filter as the manifest's JSON has it: 5 and true as they are, log as "log"."""
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value.strip()
    if isinstance(parsed, dict | list):
        parsed = value.strip()
    return json.dumps(parsed)


def _sort_link(query: dict[str, str], chosen: queries.RunFilter, key: str) -> str:
    order = "asc" if chosen.sort == key and chosen.order == "desc" else "desc"
    extra = {"metric": key.removeprefix("metric:")} if key.startswith("metric:") else {}
    return "/runs?" + urlencode({**query, **extra, "sort": key, "order": order})


def _report_file(project: Project, manifest: dict[str, Any]) -> Path | None:
    """The run's HTML report, only from the project's reports folder: the file the manifest names is looked for
    there by its name alone (a project folder copied or moved keeps its reports), and a name that resolves
    anywhere else (a symlink out, `..`) serves nothing."""
    named = manifest.get("report")
    if not named:
        return None
    folder = (project.state_dir / "reports").resolve()
    path = (folder / Path(str(named)).name).resolve()
    if not path.is_relative_to(folder) or path.suffix != ".html" or not path.is_file():
        return None
    return path


def _redacted(text: str) -> str:
    from cairn.privacy import redact_text

    return redact_text(text)


def _duration(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


def _ships(version: ModelVersion, verdicts: dict[int, dict[str, Any] | None]) -> bool:
    """A version ships when its run met every success criterion; one without a run's verdict, when its note does
    not say it missed."""
    verdict = verdicts.get(version.run_id) if version.run_id is not None else None
    if verdict is not None and verdict.get("shipped") is not None:
        return bool(verdict["shipped"])
    return not (version.note or "").startswith((NOT_PROMOTED, BY_HAND))


def _ships_text(version: ModelVersion, verdicts: dict[int, dict[str, Any] | None]) -> str:
    verdict = verdicts.get(version.run_id) if version.run_id is not None else None
    return str((verdict or {}).get("line") or version.note or "no verdict")


def _card(project: Project, store: Store, version: str) -> tuple[ModelVersion, str]:
    """The version's model card: stored with it, or the one its run's deployment stage wrote (Project.card)."""
    registry = Registry(store)
    chosen, text = registry.card(project.config.model_name, registry.resolve(project.config.model_name, version))
    if text is None and chosen.run_id is not None:
        record = store.run(project.config.project, chosen.run_id)
        stage = next((s for s in record.stages if s.stage == "deployment"), None)
        sha = stage.outputs.get("deployment") if stage is not None else None
        if sha and store.artifacts.exists(sha):
            deployment = store.load_artifact(sha)
            if getattr(deployment, "version", None) == chosen.version:
                text = deployment.model_card
    if not text:
        raise NotFoundError.single(f"Model {chosen.name} v{chosen.version} has no model card.", where="VERSION",
                                   expected="a version registered by a run", got="none stored",
                                   fix="run `cairn run` again")
    return chosen, restaged(str(text), stage_label(chosen.stage, chosen.aliases))


def _markdown(text: str) -> markupsafe.Markup:
    from cairn.report.render import markdown_html

    return markdown_html(text)


# templates ---------------------------------------------------------------------------------------------------------
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.PackageLoader("cairn.ui", "templates"), autoescape=True,
                                     trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    environment.filters.update(number=_number, seconds=_seconds, when=_when, short=lambda s, n=10: (s or "")[:n])
    return environment


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


__all__ = ["BadRequest", "Forbidden", "Refused", "create_app"]
