"""The runs page's queries on SQLite and on the PostgreSQL at 127.0.0.1: the right runs for every filter and order,
and always two queries a page (the runs with their total, then their metrics), never one per run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from cairn.store import Store
from cairn.ui.queries import RunFilter, ensure_indexes, metric_names, refresh_statistics, run_verdicts, runs_page
from tests.databases import fresh_postgres_database
from tests.ui.synthetic_store import FIRST_START, fill_store

RUNS = 130


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filled(request, tmp_path_factory):
    """(store, facts per run): 130 runs and 10 versions inserted straight into a fresh store."""
    folder = tmp_path_factory.mktemp(f"ui-queries-{request.param}")
    if request.param == "sqlite":
        store = Store.open(f"sqlite:///{folder / 'cairn.db'}", folder / "artifacts")
        facts = fill_store(store.engine, runs=RUNS, versions=10)
        assert ensure_indexes(store.engine) == ["ix_cairn_ui_metrics_scope_name_run",
                                                "ix_cairn_ui_runs_project_started"]
        assert ensure_indexes(store.engine) == []  # a second start adds nothing
        assert refresh_statistics(store.engine)
        yield store, facts
        store.close()
        return
    with fresh_postgres_database("cairn_ui") as url:
        store = Store.open(url, folder / "artifacts")
        facts = fill_store(store.engine, runs=RUNS, versions=10)
        ensure_indexes(store.engine)
        assert refresh_statistics(store.engine)
        yield store, facts
        store.close()


def page_of(store, chosen):
    """The page and how many statements it took."""
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        found = runs_page(store, "house-prices", chosen)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    return found, [s for s in statements if s.lstrip().upper().startswith("SELECT")]


def test_the_first_page_is_the_newest_fifty_with_their_metrics_in_two_queries(filled):
    store, facts = filled
    found, selects = page_of(store, RunFilter())
    assert len(selects) == 2
    assert (found.total, found.pages) == (RUNS, 3)
    assert [run.id for run in found.runs] == list(range(RUNS, RUNS - 50, -1))
    for run in found.runs:
        assert run.metrics == pytest.approx(facts[run.id]["metrics"])
        assert run.shipped == facts[run.id]["shipped"] and run.status == facts[run.id]["status"]
        assert run.duration_s == pytest.approx(facts[run.id]["duration_s"], abs=1e-3)


@pytest.mark.parametrize("verdict", ["shipped", "missed", "none"])
def test_the_verdict_filter(filled, verdict):
    store, facts = filled
    wanted = {"shipped": True, "missed": False, "none": None}[verdict]
    found, selects = page_of(store, RunFilter(verdict=verdict, sort="id", order="asc"))
    expected = [i for i, f in facts.items() if f["shipped"] is wanted]
    assert found.total == len(expected) and [r.id for r in found.runs] == expected[:50]
    assert len(selects) == 2


def test_status_dates_and_a_metric_range_combine(filled):
    store, facts = filled
    since = (FIRST_START + timedelta(days=1)).date()
    until = since + timedelta(days=2)
    chosen = RunFilter(status="succeeded", since=since, until=until, metric="mape", metric_min=0.08,
                       metric_max=0.15, sort="metric:mape", order="asc")
    found, selects = page_of(store, chosen)
    expected = sorted((i for i, f in facts.items() if f["status"] == "succeeded"
                       and since <= f["started_at"].date() <= until and 0.08 <= f["metrics"]["mape"] <= 0.15),
                      key=lambda i: facts[i]["metrics"]["mape"])
    assert expected and [r.id for r in found.runs] == expected
    assert len(selects) == 2


@pytest.mark.parametrize(("sort", "key"), [
    ("duration", lambda f: f["duration_s"]),
    ("started", lambda f: f["started_at"]),
])
def test_sorting_by_a_column_and_paging_through(filled, sort, key):
    store, facts = filled
    expected = sorted(facts, key=lambda i: (key(facts[i]), i), reverse=True)
    seen = []
    for number in (1, 2, 3):
        found, _ = page_of(store, RunFilter(sort=sort, order="desc", page=number))
        seen += [r.id for r in found.runs]
    assert seen == expected


def test_past_the_last_page_nothing_is_shown_but_the_total_still_is(filled):
    store, _ = filled
    found = runs_page(store, "house-prices", RunFilter(page=9))
    assert (found.runs, found.total, found.pages) == ([], RUNS, 3)


def test_metric_names_and_verdicts_of_version_runs(filled):
    store, facts = filled
    assert metric_names(store, "house-prices") == ["mape", "mae", "rmse", "r2"]
    verdicts = run_verdicts(store, [1, 2, 3])
    assert {i: (v or {}).get("shipped") for i, v in verdicts.items()} == {i: facts[i]["shipped"] for i in (1, 2, 3)}
    assert runs_page(store, "another-project", RunFilter()).total == 0


@pytest.mark.parametrize(("key", "value", "wanted"), [
    ("training.tuning.trials", "10", lambda run_id: run_id % 5 == 2),
    ("seed", "17", lambda run_id: run_id == 17),
    ("business.problem", '"regression"', lambda run_id: True),
    ("business.problem", '"classification"', lambda run_id: False),
])
def test_a_project_file_key_filter_reads_what_each_run_recorded(filled, key, value, wanted):
    store, facts = filled
    found, selects = page_of(store, RunFilter(config_key=key, config_value=value, sort="id", order="asc"))
    expected = [run_id for run_id in facts if wanted(run_id)]
    assert found.total == len(expected) and [r.id for r in found.runs] == expected[:50]
    assert len(selects) == (2 if expected else 1)
