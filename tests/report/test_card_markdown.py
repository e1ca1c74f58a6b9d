"""The model card is Markdown shown inside the report: tables render, anything that could run is escaped."""

from dataclasses import replace

from cairn.report import render_report
from cairn.report.render import markdown_html
from tests.report.test_render import sample_context


def test_markdown_tables_render_and_html_in_the_text_is_escaped():
    html = markdown_html("# Card\n\n<script>alert(1)</script> [x](javascript:alert(1))\n\n| a | b |\n|---|---|\n"
                         "| 1 | 2 |\n")
    assert "<h1>Card</h1>" in html and "<td>1</td>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html and 'href="javascript' not in html


def test_the_card_section_appears_only_with_a_card():
    assert 'id="card"' not in render_report(sample_context(None))
    html = render_report(replace(sample_context(None), model_card="# Model card: m v1\n\n## Data\n\n- rows: 10\n",
                                 comparison="lightgbm is clearly better than linear"))
    assert '<section id="card">' in html and "<h1>Model card: m v1</h1>" in html
    assert 'id="comparison"' in html and "lightgbm is clearly better than linear" in html
