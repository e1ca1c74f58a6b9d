"""The stage graph: one name per stage everywhere, a stage sees only what it declares, returns only what it
declares, and a change to one stage's code reruns that stage and what follows, from the real runner."""

from __future__ import annotations

import logging

import pytest

from cairn.config.schema import STAGE_SECTIONS, ProjectConfig
from cairn.config.sections import STAGE_NAMES
from cairn.project import Project
from cairn.runner.graph import STAGES, DeclaredInputs, StageContractError, stage_position
from tests.examples import QUICK, copy_example


def test_one_name_per_stage_in_the_graph_the_config_and_the_cache():
    assert tuple(stage.name for stage in STAGES) == STAGE_NAMES
    assert set(STAGE_SECTIONS) == set(STAGE_NAMES)
    sections = set(ProjectConfig.model_fields)
    assert all(name in sections for name in STAGE_NAMES), "every stage is also its section of cairn.yaml"
    assert [stage.title.split(" ", 1)[0] for stage in STAGES] == [str(n) for n in range(1, 11)]


def test_a_stage_reading_an_input_it_does_not_declare_fails():
    inputs = DeclaredInputs({"clean_table": 1, "training_result": 2}, stage="exploration", declared=("clean_table",))
    assert inputs["clean_table"] == 1 and list(inputs) == ["clean_table"]
    with pytest.raises(StageContractError, match="stage exploration read 'training_result'"):
        inputs["training_result"]


def test_a_stage_returning_what_it_does_not_declare_fails():
    features = next(stage for stage in STAGES if stage.name == "features")
    assert features.checked_outputs({"feature_plan": 1}) == {"feature_plan": 1}
    with pytest.raises(StageContractError, match="unknown: \\['extra'\\]"):
        features.checked_outputs({"feature_plan": 1, "extra": 2})
    with pytest.raises(StageContractError, match="missing: \\['feature_plan'\\]"):
        features.checked_outputs({})


def test_old_stage_names_still_work_with_a_deprecation_message(caplog):
    with caplog.at_level(logging.WARNING):
        assert stage_position("selection", option="--until") == STAGE_NAMES.index("models")
    assert "'selection' is now called 'models'" in caplog.text


def test_the_old_explore_section_is_read_with_a_deprecation_message(tmp_path, caplog):
    folder = copy_example(tmp_path / "hp")
    path = folder / "cairn.yaml"
    path.write_text(path.read_text().replace("exploration:   ", "explore:       "))
    with caplog.at_level(logging.WARNING):
        config = Project.load(path).config
    assert config.exploration.sample_rows == 200000
    assert "'explore' is now called 'exploration'" in caplog.text


def test_changed_training_code_reruns_training_and_after_never_data_or_exploration(tmp_path, monkeypatch):
    folder = copy_example(tmp_path / "hp", **{**QUICK, "exploration": {"enabled": True, "sample_rows": 500}})
    first = Project.load(folder / "cairn.yaml").run()
    assert not any(stage.cached for stage in first.stages)
    training = next(stage for stage in STAGES if stage.name == "training")
    monkeypatch.setitem(training.__dict__, "code_version", training.code_version + "-edited")  # as an edit would
    second = Project.load(folder / "cairn.yaml").run()
    cached = {stage.name: stage.cached for stage in second.stages}
    assert cached == {"business": True, "data": True, "preprocessing": True, "exploration": True, "features": True,
                      "models": True, "training": False, "evaluation": False, "deployment": False,
                      "monitoring": False}


def test_an_adapter_version_covers_the_helpers_it_calls():
    from cairn.runner.graph import _helpers_of

    evaluation = next(stage for stage in STAGES if stage.name == "evaluation")
    assert {"_evaluation", "trained_model", "model_features"} <= {f.__name__ for f in _helpers_of(evaluation.compute)}


def test_both_the_old_and_the_new_section_name_is_an_error(tmp_path):
    from cairn.errors import ConfigError

    folder = copy_example(tmp_path / "hp")
    path = folder / "cairn.yaml"
    path.write_text(path.read_text() + "\nexplore:\n  enabled: false\n")
    with pytest.raises(ConfigError, match="both 'explore' and 'exploration'"):
        Project.load(path)
