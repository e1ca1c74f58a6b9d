"""The model card from a run's pieces: every section, and the fields other stages add read where they exist."""

import pandas as pd
from sklearn.dummy import DummyClassifier

from cairn.config.schema import Business
from cairn.model.trained import FeatureSpec, TrainedModel
from cairn.stages.business import business_case
from cairn.stages.card import CardFacts, data_facts, model_card_markdown
from cairn.stages.evaluation import Check, EvaluationResult, MetricEstimate
from cairn.stages.segments import Segment
from cairn.stages.training.threshold import DecisionThreshold


def test_the_period_comes_from_the_time_column_or_a_date_column():
    table = pd.DataFrame({"sold": pd.to_datetime(["2009-03-01", "2006-01-15", "2010-07-31"]), "x": [1, 2, 3],
                          "when": ["2001-01-01", "2002-01-01", "2003-05-06"]})
    assert data_facts(table, source="s.csv", fingerprint="f", rows=3, time_column=None).period == \
        "2006-01-15 to 2010-07-31 (sold)"
    assert data_facts(table, source="s.csv", fingerprint="f", rows=3, time_column="when").period == \
        "2001-01-01 to 2003-05-06 (when)"
    assert data_facts(table[["x", "when"]], source="s.csv", fingerprint="f", rows=3, time_column=None,
                      date_columns=("when",)).period == "2001-01-01 to 2003-05-06 (when)"  # parsed from text
    assert data_facts(table[["x"]], source="s.csv", fingerprint="f", rows=3, time_column=None).period is None


def test_a_binary_card_names_threshold_segments_ranges_and_how_to_call_and_rebuild():
    case = business_case(Business(problem="binary", target="churn", objective="Find customers about to leave.",
                                  success=[{"metric": "recall", "above": 0.7}]))
    features = [FeatureSpec("tenure", "number", 12.0, low=0.0, high=72.0), FeatureSpec("plan", "category", "basic")]
    model = TrainedModel(name="churn", version=3, problem="binary", target="churn", features=features,
                         pipeline=DummyClassifier().fit([[0.0]], ["no"]), classes=["no", "yes"])
    segment = Segment("plan", "plan = premium", 40, "recall", 0.41, 0.3, 0.55, 0.75,
                      "The model is worst on rows with plan = premium: recall 0.410.")
    evaluation = EvaluationResult(
        [MetricEstimate("recall", 0.75, 0.69, 0.81)], 0.4, 1.2, [],
        [Check("objective RECALL > 0.7", True, "met (holdout RECALL 0.750)")], 0.95,
        threshold=DecisionThreshold(0.31, "recall", "decision threshold 0.31: meets RECALL > 0.7 out of fold"),
        segments=[segment])
    facts = CardFacts("churn", 3, "production", 7, 8000, "CHURN_KEY")
    data = data_facts(pd.DataFrame({"tenure": [1, 2]}), source="data/churn.csv", fingerprint="ab" * 32, rows=5000,
                      time_column=None)
    card = model_card_markdown(model, facts=facts, evaluation=evaluation, case=case, data=data,
                               objective=case.objective)
    assert card.startswith("# Model card: churn v3 (production)\n")
    assert "Find customers about to leave." in card and "ships only if RECALL > 0.7" in card
    assert f"fingerprint (sha256): `{'ab' * 32}`" in card and "period" not in card
    assert ("- rows: 5,000 in the source; 2 trained and judged on (after sampling and cleaning: see the run's data "
            "and preprocessing stages)\n") in card  # what it learned from
    assert "| tenure | number | 12.0 | 0 to 72 |" in card and "| plan | category | basic |  |" in card
    assert "| recall | 0.750 | 0.690 - 0.810 |" in card
    assert "- decision threshold 0.31: meets RECALL > 0.7 out of fold" in card
    assert "- The model is worst on rows with plan = premium: recall 0.410." in card
    assert "training ranges of its 1 numeric inputs" in card
    assert '-H "X-API-Key: $CHURN_KEY"' in card and "http://127.0.0.1:8000/predict" in card
    assert "cairn reproduce 7" in card
