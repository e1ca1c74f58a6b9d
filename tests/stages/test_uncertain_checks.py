"""A success metric whose interval holds its threshold is met or missed by the point estimate only: said so."""

from cairn.config.schema import Business
from cairn.stages.business import business_case
from cairn.stages.evaluation import Check, EvaluationResult, MetricEstimate, business_checks


def _checks(value: float, low: float, high: float) -> list[Check]:
    case = business_case(Business(problem="regression", target="y", success=[{"metric": "mape", "below": 0.10}]))
    result = EvaluationResult([MetricEstimate("mape", value, low, high)], 1.0, 2.0, [], [], 0.95)
    return business_checks(result, case=case, training_s=1.0)


def test_an_interval_across_the_threshold_is_uncertain_whichever_side_the_estimate_falls():
    met = _checks(0.095, 0.091, 0.108)[0]
    assert met.met is True
    assert met.text.startswith("met (holdout MAPE 9.5%")
    assert met.text.endswith("uncertain: the 95% CI 9.1%-10.8% straddles 10.0%")
    missed = _checks(0.104, 0.097, 0.112)[0]
    assert missed.met is False and "uncertain: the 95% CI 9.7%-11.2% straddles 10.0%" in missed.text


def test_an_interval_clear_of_the_threshold_is_not_uncertain():
    assert "uncertain" not in _checks(0.071, 0.065, 0.079)[0].text
    assert "uncertain" not in _checks(0.15, 0.12, 0.18)[0].text


def _budget_check(training_s: float, minutes: float = 1.0) -> Check:
    case = business_case(Business(problem="regression", target="y", success=[{"metric": "mape", "below": 0.10}],
                                  constraints={"train_budget_minutes": minutes}))
    result = EvaluationResult([MetricEstimate("mape", 0.05, 0.04, 0.06)], 1.0, 2.0, [], [], 0.95)
    return next(c for c in business_checks(result, case=case, training_s=training_s) if c.name.startswith("train"))


def test_the_training_budget_is_judged_with_the_tenth_training_keeps_to_and_says_the_seconds():
    assert _budget_check(55.0).met is True and _budget_check(55.0).text == "met (training took 55.0 s)"
    late = _budget_check(61.7)
    assert late.met is True
    assert late.text == "met (training took 61.7 s, within the 10% a training budget allows)"
    assert _budget_check(66.5).met is False and _budget_check(66.5).text == "missed (training took 66.5 s)"
    assert _budget_check(610.0, minutes=10).text == (
        "met (training took 10.2 min, within the 10% a training budget allows)")
    assert _budget_check(12.0, minutes=10).text == "met (training took 12.0 s)"
