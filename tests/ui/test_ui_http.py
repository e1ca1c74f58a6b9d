"""`cairn ui` over HTTP, the server started for real: bad input gets a page that names it (404, 422, 409, never
a traceback), a version that does not ship is promoted only when forced with a reason, every POST needs the CSRF
token, and a rollback takes a reason too."""

from __future__ import annotations

import re

import httpx
import pytest

from cairn.project.api import Project
from tests.ui.conftest import running_ui


@pytest.fixture(scope="module")
def ui(three_runs):
    with running_ui(three_runs) as running:
        yield running


def csrf_of(client: httpx.Client, path: str) -> str:
    """The CSRF token of the form on `path` (the page also sets the cookie it must match)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/runs/999", 404, "No run 999 in project house-prices."),
    ("/runs/abc", 404, "No run abc."),
    ("/runs/999/report", 404, "No run 999"),
    ("/models/v99/card", 404, "Model house-prices has no version 99."),
    ("/models/v99/promote", 404, "Model house-prices has no version 99."),
    ("/models/nosuchalias/promote", 404, "has no version called &#39;nosuchalias&#39;"),
    ("/compare?run=1&run=999", 404, "No run 999"),
    ("/compare?run=1", 422, "Pick two runs to compare."),
    ("/no/such/page", 404, "No such page."),
    ("/models?page=2", 422, "a page number from 1 to 1"),
    ("/explain?row=x", 422, "Pick a row by its number."),
    ("/explain?row=100000", 422, "There is no row 100000 in the holdout"),
])
def test_what_does_not_exist_is_a_page_not_a_traceback(ui, path, status, says):
    answer = httpx.get(ui.url + path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert says in answer.text
    assert "Traceback" not in answer.text


def test_bad_query_values_are_each_named(ui):
    answer = httpx.get(f"{ui.url}/runs", params={"since": "yesterday", "min": "abc", "metric": "mape",
                                                  "sort": "colour", "page": "0"})
    assert answer.status_code == 422
    for field, expected in (("since", "a date such as 2026-01-31"), ("min", "a number"),
                            ("sort", "one of id, started"), ("page", "a page number from 1")):
        assert f"<code>{field}</code>" in answer.text and expected in answer.text


def test_filters_and_pages_answer_with_the_right_runs(ui):
    def shown(**params: str) -> list[str]:
        answer = httpx.get(f"{ui.url}/runs", params=params)
        assert answer.status_code == 200, answer.text
        return re.findall(r'<tr data-run="(\d+)">', answer.text)

    assert shown() == ["3", "2", "1"]
    assert shown(verdict="shipped") == ["2", "1"]
    assert shown(verdict="none") == []
    assert shown(status="failed") == []
    assert shown(sort="id", order="asc") == ["1", "2", "3"]
    assert shown(since="2000-01-01", until="2000-12-31") == []
    mape = {run.id: run.metrics["mape"] for run in Project.load(ui.folder / "cairn.yaml").runs()}
    best = min(mape, key=mape.__getitem__)
    assert shown(metric="mape", max=str(mape[best])) == [str(best)]
    assert shown(page="2") == []


def test_a_version_that_does_not_ship_is_promoted_only_when_forced_with_a_reason(ui, three_runs):
    project = Project.load(three_runs / "cairn.yaml")
    with httpx.Client(base_url=ui.url) as client:
        token = csrf_of(client, "/models/v3/promote")
        assert "does not ship" in client.get("/models/v3/promote").text

        refused = client.post("/models/v3/promote", data={"csrf": token, "reason": "try it"})
        assert refused.status_code == 409
        assert "does not ship" in refused.text and "promote anyway" in refused.text
        no_reason = client.post("/models/v3/promote", data={"csrf": token, "reason": " ", "force": "yes"})
        assert no_reason.status_code == 422 and "A reason is required" in no_reason.text
        no_token = client.post("/models/v3/promote", data={"reason": "forged", "force": "yes"})
        assert no_token.status_code == 409 and "security token" in no_token.text
        assert [v.stage for v in project.models()] == ["candidate", "candidate", "production"]

        forced = client.post("/models/v3/promote", data={"csrf": token, "reason": "a demo needs v3",
                                                         "force": "yes"})
        assert forced.status_code == 303
        assert [v.stage for v in project.models()] == ["production", "candidate", "archived"]
        entry = project.audit(limit=1)[0]
        assert (entry.action, entry.version) == ("promote", 3)
        assert entry.reason == "a demo needs v3 (forced: it does not ship) [cairn ui]"
        assert entry.figures["forced"] is True and entry.figures["from_version"] == 1

        token = csrf_of(client, "/models/rollback")
        assert client.post("/models/rollback", data={"csrf": token}).status_code == 422
        rolled = client.post("/models/rollback", data={"csrf": token, "reason": "v3 was only for the demo"})
        assert rolled.status_code == 303
    assert [v.stage for v in project.models()] == ["archived", "candidate", "production"]
    entry = project.audit(limit=1)[0]
    assert (entry.action, entry.version, entry.reason) == ("rollback", 1, "v3 was only for the demo [cairn ui]")


def test_the_report_is_served_from_the_reports_folder_only(ui, three_runs):
    answer = httpx.get(f"{ui.url}/runs/1/report")
    assert answer.status_code == 200 and 'id="verdict"' in answer.text
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    page = httpx.get(f"{ui.url}/runs")
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_run_page_links_its_artifacts_and_the_models_page_draws_the_metric(ui, three_runs):
    import hashlib

    page = httpx.get(f"{ui.url}/runs/2")
    links = re.findall(r'href="(/runs/2/artifacts/([0-9a-f]{64}))"', page.text)
    assert len(links) >= 10
    path, sha = links[0]
    download = httpx.get(ui.url + path)
    assert download.status_code == 200 and hashlib.sha256(download.content).hexdigest() == sha
    assert download.headers["content-disposition"].startswith('attachment; filename="run-2-')
    assert httpx.get(f"{ui.url}/runs/1/artifacts/{'0' * 64}").status_code == 404
    models = httpx.get(f"{ui.url}/models").text
    assert models.count("<circle") == 3 and 'class="threshold"' in models


def test_the_project_file_key_filter_on_the_page(ui):
    def shown(**params: str) -> list[str]:
        return re.findall(r'<tr data-run="(\d+)">', httpx.get(f"{ui.url}/runs", params=params).text)

    assert shown(key="seed", value="7") == ["2"]
    assert shown(key="business.problem", value="regression") == ["3", "2", "1"]
    bad = httpx.get(f"{ui.url}/runs", params={"key": "seed; drop table", "value": "1"})
    assert bad.status_code == 422 and "a dotted project-file key" in bad.text


def test_the_monitoring_page_draws_the_stored_windows_and_lists_retrain_decisions(ui, three_runs):
    from datetime import UTC, datetime, timedelta

    from cairn.registry import Registry

    project = Project.load(three_runs / "cairn.yaml")
    assert "No performance window stored" in httpx.get(f"{ui.url}/monitoring").text
    champion = next(v for v in project.models() if v.stage == "production")
    start = datetime(2026, 6, 1, tzinfo=UTC)
    rows = []
    for week, (realised, estimated) in enumerate([(0.08, 0.081), (0.09, 0.088), (0.12, 0.115)]):
        for kind, value in (("realised", realised), ("estimated", estimated)):
            rows.append({"project": "house-prices", "model": "house-prices", "version": champion.version,
                         "window_start": start + timedelta(weeks=week), "window_end": start + timedelta(weeks=week + 1),
                         "metric": "mape", "kind": kind, "value": value, "low": None, "high": None, "threshold": 0.1,
                         "met": value < 0.1, "rows": 200, "computed_at": start})
    store = project.open_store(create=False)
    try:
        store.save_performance(rows)
        Registry(store).record("retrain", "house-prices", version=champion.version, reason="drift on Gr_Liv_Area",
                               figures={"drift": 0.31})
    finally:
        store.close()
    page = httpx.get(f"{ui.url}/monitoring").text
    assert page.count('class="series"') == 2 and 'class="threshold"' in page
    assert page.count('<span class="badge bad">missed</span>') == 2  # the third week, realised and estimated
    assert "drift on Gr_Liv_Area" in page and "drift 0.31" in page


def test_without_a_login_it_answers_only_to_loopback_names(ui):
    assert httpx.get(f"{ui.url}/runs", headers={"Host": "localhost:1234"}).status_code == 200
    rebound = httpx.get(f"{ui.url}/runs", headers={"Host": "attacker.example"})
    assert rebound.status_code == 421 and "house-prices" not in rebound.text


def test_a_form_too_large_is_refused(ui):
    with httpx.Client(base_url=ui.url) as client:
        token = csrf_of(client, "/explain")
        answer = client.post("/explain", data={"csrf": token, "record": "x" * 300_000})
        assert answer.status_code == 422 and "The form is too large" in answer.text
