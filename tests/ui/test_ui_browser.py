"""`cairn ui` as a person uses it, in headless Chromium: the server started for real over a project with three
runs, then sort, filter, open a run and its report, compare two runs, promote with a reason and see the audit log
change, explain a record. No console error, no request that leaves 127.0.0.1; screenshots kept in the test's
tmp_path."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.sync_api import expect

from cairn.project.api import Project
from tests.ui.conftest import running_ui


def test_runs_run_compare_and_promote_in_chromium(chromium, three_runs, tmp_path):
    project = Project.load(three_runs / "cairn.yaml")
    mape = {run.id: run.metrics["mape"] for run in project.runs()}
    requests: list[str] = []
    outside: list[str] = []
    problems: list[str] = []

    def only_loopback(route):
        requests.append(route.request.url)
        parsed = urlparse(route.request.url)
        if parsed.scheme in ("http", "https") and parsed.hostname != "127.0.0.1":
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    with running_ui(three_runs) as ui:
        context = chromium.new_context(viewport={"width": 1366, "height": 800})
        page = context.new_page()
        page.route("**/*", only_loopback)
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))

        # the runs page: three runs, newest first; Compare stays disabled until two are ticked
        page.goto(f"{ui.url}/runs")
        assert page.locator("tbody tr[data-run]").evaluate_all("rows => rows.map(r => r.dataset.run)") \
            == ["3", "2", "1"]
        assert page.locator("#compare").is_disabled()
        page.screenshot(path=tmp_path / "runs.png", full_page=True)

        # sort by MAPE, lowest first: a second click on the header turns the order around
        page.click("a[data-sort='metric:mape']")
        page.click("a[data-sort='metric:mape']")
        assert "order=asc" in page.url
        shown = [int(r) for r in page.locator("tbody tr[data-run]").evaluate_all(
            "rows => rows.map(r => r.dataset.run)")]
        assert shown == sorted(mape, key=mape.__getitem__)

        # filter: only the run that missed its objective
        page.select_option("select[name=verdict]", "missed")
        page.click("#apply-filters")
        assert page.locator("tbody tr[data-run]").evaluate_all("rows => rows.map(r => r.dataset.run)") == ["3"]
        assert "1 found" in page.locator("h1").inner_text()

        # a run: verdict, ten stages with cache marks and timings, the manifest, its report
        page.goto(f"{ui.url}/runs")
        page.click("tbody tr[data-run='2'] a[href='/runs/2']")
        assert page.locator("h1").inner_text().startswith("Run 2")
        expect(page.locator("table.stages tbody tr")).to_have_count(10)  # waits: count() reads at once
        marks = set(page.locator("table.stages .badge").all_inner_texts())
        assert marks <= {"cached", "recomputed"} and "recomputed" in marks
        assert '"seed": 7' in page.locator("pre.manifest").inner_text()
        page.screenshot(path=tmp_path / "run.png", full_page=True)
        page.click("#report-link")
        expect(page.locator("#verdict")).to_have_count(1)  # the run's own HTML report, once it has loaded
        page.go_back()

        # compare runs 1 and 2: the seed changed, both leaderboards side by side
        page.goto(f"{ui.url}/runs")
        page.check("input[name=run][value='1']")
        assert page.locator("#compare").is_disabled()
        page.check("input[name=run][value='2']")
        page.click("#compare")
        assert page.locator("h1").inner_text() == "Run 1 → run 2"
        seed_row = page.locator("table.changes tr", has_text="seed")
        assert seed_row.locator("td").all_inner_texts() == ["42", "7"]
        expect(page.locator("table.leaderboard")).to_have_count(2)
        assert "paired" not in " ".join(problems)
        page.screenshot(path=tmp_path / "compare.png", full_page=True)

        # promote the challenger v2 with a reason: the audit log says so, and v2 is the champion
        page.goto(f"{ui.url}/models")
        page.click("tr[data-version='2'] a.promote")
        assert page.locator("h1").inner_text() == "Promote house-prices v2?"
        page.fill("#reason", "v2 is steadier on the spring listings")
        page.click("#confirm-promote")
        assert urlparse(page.url).path == "/models"
        page.locator("table.audit tbody tr td").first.wait_for()  # all_inner_texts reads at once, never waits
        first = page.locator("table.audit tbody tr").first.locator("td").all_inner_texts()
        assert first[2:4] == ["promote", "v2"]
        assert first[5].startswith("v2 is steadier on the spring listings")
        assert page.locator("tr[data-version='2'] .status").inner_text() == "production"
        page.screenshot(path=tmp_path / "models.png", full_page=True)

        # the model card, rendered from markdown
        page.click("tr[data-version='2'] a[href='/models/v2/card']")
        page.locator("article.card h1, article.card h2").first.wait_for()

        # one answer explained: a holdout row, then a pasted record
        page.click("nav a[href='/explain']")
        page.fill("#row", "0")
        page.click("#explain-row")
        assert page.locator("#answer").inner_text().replace(",", "").replace(".", "").isdigit()
        page.locator("svg.bars rect.bar").nth(1).wait_for()  # two bars at least
        page.fill("#record", '{"Lot_Area": 8450, "Year_Built": 2003, "Gr_Liv_Area": 1710}')
        page.click("#explain-record")
        expect(page.locator("svg.bars rect.bar[data-input='Gr_Liv_Area']")).to_have_count(1)
        page.screenshot(path=tmp_path / "explain.png", full_page=True)

        page.click("nav a[href='/monitoring']")
        assert page.locator("h1").inner_text().startswith("Monitoring")
        context.close()

    assert project.models()[1].stage == "production"  # v2, as the store has it
    assert project.audit(limit=1)[0].reason.startswith("v2 is steadier")
    assert not outside, outside
    assert all(urlparse(url).hostname == "127.0.0.1" for url in requests if url.startswith("http"))
    assert not problems, problems
    assert {p.name for p in tmp_path.glob("*.png")} == {"runs.png", "run.png", "compare.png", "models.png",
                                                     "explain.png"}
