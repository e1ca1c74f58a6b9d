"""The run report: numbers formatted for people, verdict first, and a file that works offline in a browser."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from cairn.report import (
    HoldoutMetric,
    LeaderboardRow,
    QualityFinding,
    ReportContext,
    StageSummary,
    VerdictLine,
    render_report,
    write_report,
)
from cairn.report.render import format_duration, format_metric, format_number, metric_label
from cairn.stages.exploration import Exploration, Figure, explore_table

AMES = Path(__file__).resolve().parents[2] / "examples" / "house-prices" / "data" / "ames.csv.gz"
STAGES = [
    ("business", "Business understanding"),
    ("data", "Data"),
    ("preprocessing", "Preprocessing"),
    ("exploration", "Exploration"),
    ("features", "Feature engineering"),
    ("selection", "Feature selection"),
    ("training", "Training"),
    ("evaluation", "Evaluation"),
    ("deployment", "Deployment"),
    ("monitoring", "Monitoring"),
]
# A 1x1 PNG, so tests that do not need real charts stay fast.
TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def sample_context(exploration: Exploration | None, *, shipped: bool = True) -> ReportContext:
    """A realistic house-prices run; values are fake but plausible, as the runner would fill them."""
    verdict = [
        VerdictLine("MAPE < 10%", True, "met (holdout MAPE 8.4%, 95% CI 7.9-9.0%)"),
        VerdictLine("predict p99 < 100 ms", True, "met (p99 23 ms over 1,000 single-row requests)"),
    ]
    if not shipped:
        verdict = [
            VerdictLine("MAPE < 5%", False, "missed (holdout MAPE 8.4%, 95% CI 7.9-9.0%)"),
            VerdictLine("predict p99 < 100 ms", None, "could not be measured: the server did not start"),
        ]
    notes = {
        "data": ["Read 2,930 rows x 74 columns from data/ames.csv.gz."],
        "preprocessing": ["Imputed Lot_Frontage with the median (490 rows).", "Clipped 3 outliers of Gr_Liv_Area."],
        "exploration": ["Drew 11 figures and found 14 insights."],
        "training": ["Tried 4 models with 5-fold CV; chose LightGBM."],
        "evaluation": ["Holdout MAPE 8.4% on 586 rows."],
    }
    stages = [
        StageSummary(
            name,
            f"{i} {title}",
            cached=i in (1, 2, 3),
            duration_s=[0.01, 0.4, 0.9, 6.1, 0.3, 1.2, 74.5, 2.2, 0.6, 0.1][i - 1],
            notes=notes.get(name, []),
        )
        for i, (name, title) in enumerate(STAGES, start=1)
    ]
    return ReportContext(
        project="house-prices",
        run_id=7,
        created_at="2026-11-27T11:06:00+00:00",
        objective="Estimate a house's sale price within 10% so that agents can price listings on the first visit.",
        problem="regression",
        target="Sale_Price",
        shipped=shipped,
        verdict=verdict,
        stages=stages,
        quality=[
            QualityFinding(
                "info",
                "missing values",
                ["Misc_Feature", "Mas_Vnr_Type"],
                4599,
                "Two columns are mostly missing; 'missing' is kept as a level.",
            ),
            QualityFinding(
                "warn",
                "near-constant columns",
                ["Utilities", "Street", "Pool_Area", "Pool_QC", "Condition_2", "Roof_Matl", "Heating", "Misc_Val"],
                8,
                "Over 95% of rows share one value.",
            ),
            QualityFinding("error", "duplicate rows", [], 0, "No duplicate rows.")
            if not shipped
            else QualityFinding("info", "outliers", ["Gr_Liv_Area"], 5, "5 houses above 4,000 sq ft, clipped."),
        ],
        exploration=exploration,
        leaderboard=[
            LeaderboardRow(
                "LightGBM",
                {"mape": (0.0853, 0.0041), "rmse": (24512.3, 1830.0), "r2": (0.9012, 0.011)},
                train_score=0.0412,
                fit_time_s=3.41,
                chosen=True,
            ),
            LeaderboardRow(
                "Ridge (log target)",
                {"mape": (0.0921, 0.0038), "rmse": (27840.0, 2410.0), "r2": (0.8800, 0.019)},
                train_score=0.0880,
                fit_time_s=0.18,
                chosen=False,
            ),
            LeaderboardRow(
                "Random forest",
                {"mape": (0.0964, 0.0052), "rmse": (28102.9, 2105.5), "r2": (0.8731, 0.016)},
                train_score=0.0371,
                fit_time_s=12.9,
                chosen=False,
            ),
            LeaderboardRow(
                "Median baseline",
                {"mape": (0.3120, 0.0090), "rmse": (79410.0, 3120.0), "r2": (-0.0031, 0.004)},
                train_score=0.3101,
                fit_time_s=0.004,
                chosen=False,
            ),
        ],
        primary_metric="mape",
        holdout=[
            HoldoutMetric("mape", 0.0841, 0.0792, 0.0903),
            HoldoutMetric("rmse", 23871.4, 21010.0, 27302.5),
            HoldoutMetric("r2", 0.9103, 0.8911, 0.9270),
        ],
        feature_importance=[
            ("Gr_Liv_Area", 0.214),
            ("Overall_Cond", 0.121),
            ("Total_Bsmt_SF", 0.098),
            ("Year_Built", 0.087),
            ("Garage_Cars", 0.061),
            ("Neighborhood", 0.055),
            ("Lot_Area", 0.041),
            ("Year_Remod_Add", 0.032),
            ("First_Flr_SF", 0.027),
            ("Fireplaces", 0.012),
        ],
        model_version="house-prices v1 (production)" if shipped else None,
        manifest={
            "seed": 42,
            "cairn_version": "0.1.0",
            "python": "3.11.7",
            "data": {"path": "data/ames.csv.gz", "sha256": "9f2c4e0a" * 8, "rows": 2930},
            "models": ["lightgbm", "ridge", "random_forest", "median"],
            "holdout": 0.2,
            "packages": {"scikit-learn": "1.9.1", "lightgbm": "4.7.0", "pandas": "3.1.1"},
        },
    )


def tiny_exploration() -> Exploration:
    return Exploration(
        figures=[Figure("Target: Sale_Price", "A tiny stand-in chart.", TINY_PNG)],
        insights=["Sale_Price is right-skewed (skewness 1.74): a log transform of the target is worth trying."],
        n_rows=2930,
        n_columns=74,
        sampled_rows=2930,
    )


@pytest.fixture(scope="module")
def ames_exploration() -> Exploration:
    return explore_table(pd.read_csv(AMES), target="Sale_Price", problem="regression")


def test_formatting_reads_like_a_person_wrote_it():
    assert format_metric("mape", 0.0841) == "8.4%"
    assert format_metric("mape", 0.0041, like=0.0853) == "0.4%"
    assert format_metric("rmse", 24512.3) == "24,512"
    assert format_metric("rmse", 1830.0, like=24512.3) == "1,830"
    assert format_metric("r2", 0.9012) == "0.901"
    assert format_number(None) == "–" and format_number(float("nan")) == "–"
    assert format_number(123.456) == "123.5" and format_number(0.00001234) == "1.23e-05"
    assert format_duration(0.004) == "<0.01 s" and format_duration(74.5) == "1 min 14 s"
    assert format_duration(3 * 3600 + 125) == "3 h 02 min"
    assert (metric_label("mape"), metric_label("r2"), metric_label("log_loss")) == ("MAPE", "R²", "Log loss")


def test_report_puts_the_verdict_first_and_formats_metrics():
    html = render_report(sample_context(tiny_exploration()))
    assert (
        html.index('id="verdict"')
        < html.index('id="holdout"')
        < html.index('id="leaderboard"')
        < html.index('id="importance"')
        < html.index('id="quality"')
        < html.index('id="eda"')
        < html.index('id="stages"')
        < html.index('id="manifest"')
    )
    assert "Ready to ship" in html and "Does not ship" not in html
    assert html.count('class="verdict-line met"') == 2
    assert "8.4%" in html and "95% CI 7.9% – 9.0%" in html
    assert "8.5% ± 0.4%" in html  # leaderboard cv mean ± sd, percent metric
    assert "24,512 ± 1,830" in html
    chosen = re.findall(r'<tr class="chosen">\s*<td>([^<]+)<', html)
    assert chosen == ["LightGBM"]
    assert 'style="width: 100.0%"' in html and 'style="width: 5.6%"' in html  # Fireplaces 0.012 / 0.214
    assert "data.sha256" in html and "lightgbm, ridge, random_forest, median" in html
    assert html.count('class="figure"') == 1


def test_scores_of_one_validation_fold_are_shown_without_a_spread():
    html = render_report(replace(sample_context(None), one_fold=True))
    assert "Scores on one validation fold" in html and "Cross-validated scores" not in html
    assert "8.5% ± 0.4%" not in html and "8.5%" in html and "24,512" in html and "24,512 ±" not in html


def test_a_missed_objective_turns_the_banner_red():
    html = render_report(sample_context(None, shipped=False))
    assert "Does not ship" in html and 'class="noship"' in html
    assert 'class="verdict-line missed"' in html and 'class="verdict-line unknown"' in html
    assert "0 of 2 business objectives met." in html
    assert "Exploration was not run" in html
    # Errors sort before warnings and infos.
    assert html.index('class="finding error"') < html.index('class="finding warn"') < html.index('class="finding info"')


def test_report_is_self_contained_and_escapes_user_text():
    context = replace(
        sample_context(tiny_exploration()),
        project="<script>alert(1)</script>",
        objective='Beat "the spreadsheet" & the agents',
    )
    html = render_report(context)
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "&amp; the agents" in html
    assert not re.search(r'(src|href)="(?!data:|#)', html), "only data: URIs and in-page anchors are allowed"
    assert "<link" not in html and "@import" not in html and "url(" not in html


def test_write_report_replaces_the_file_atomically(tmp_path):
    target = tmp_path / "reports" / "run-7.html"
    first = write_report(sample_context(None), target)
    assert first == target and "Ready to ship" in target.read_text(encoding="utf-8")
    write_report(sample_context(None, shipped=False), target)
    assert "Does not ship" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["run-7.html"]  # no temp files left behind


def test_report_opens_offline_in_chromium(chromium, ames_exploration, tmp_path):
    path = write_report(sample_context(ames_exploration), tmp_path / "report.html")
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(path.as_uri(), wait_until="load")

    banner = page.locator("#verdict")
    assert banner.locator(".verdict-title").inner_text().strip().endswith("Ready to ship")
    assert "rgb(30, 126, 52)" in banner.evaluate("e => getComputedStyle(e).backgroundImage")
    assert page.locator(".verdict-line.met").count() == 2
    widths = page.eval_on_selector_all("img", "images => images.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) == len(ames_exploration.figures) >= 10
    assert all(width > 0 for width in widths), widths
    assert page.locator("#eda .figure").count() == len(ames_exploration.figures)
    assert page.locator("#leaderboard tr.chosen").inner_text().startswith("LightGBM")
    # Nothing overflows sideways: the widest chart and table fit the page.
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    assert problems == []
    page.close()
