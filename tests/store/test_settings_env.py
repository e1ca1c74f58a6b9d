"""Where the store and artifacts are, from --set, the environment, the file or the default (issue 15), and --set on
any key of cairn.yaml: typed and validated like the file, recorded without passwords."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cairn.cli import app
from cairn.errors import ConfigError
from cairn.project.api import Project
from tests.databases import fresh_postgres_database
from tests.examples import QUICK, copy_example

PROJECT = "project: p\nbusiness: {problem: regression, target: y}\ndata: {source: data.csv}\n"


def _project(tmp_path: Path, extra: str = "", **load) -> Project:
    (tmp_path / "cairn.yaml").write_text(PROJECT + extra)
    return Project.load(tmp_path / "cairn.yaml", **load)


def test_the_store_comes_from_set_then_environment_then_file_then_default(tmp_path):
    default = _project(tmp_path, environ={})
    assert default.store_url == f"sqlite:///{tmp_path.resolve() / '.cairn' / 'cairn.db'}"
    assert default.setting("store").origin == "default"
    assert default.artifacts_root == tmp_path.resolve() / ".cairn" / "artifacts"

    written = _project(tmp_path, "store: sqlite:///file.db\nartifacts: /srv/file-artifacts\n", environ={})
    assert (written.store_url, written.setting("store").origin) == ("sqlite:///file.db", "cairn.yaml")
    assert written.artifacts_root == Path("/srv/file-artifacts")

    named = _project(tmp_path, "store_env: TEAM_STORE\nartifacts_env: TEAM_ARTIFACTS\n",
                     environ={"TEAM_STORE": "sqlite:///team.db", "TEAM_ARTIFACTS": "/srv/team"})
    assert (named.store_url, named.setting("store").origin) == ("sqlite:///team.db", "$TEAM_STORE (store_env)")
    assert named.artifacts_root == Path("/srv/team")

    environment = {"CAIRN_STORE": "sqlite:///env.db", "CAIRN_ARTIFACTS": "/srv/env", "TEAM_STORE": "sqlite:///t.db"}
    overridden = _project(tmp_path, "store_env: TEAM_STORE\n", environ=environment)
    assert (overridden.store_url, overridden.setting("store").origin) == ("sqlite:///env.db", "CAIRN_STORE")
    assert overridden.artifacts_root == Path("/srv/env")
    over_file = _project(tmp_path, "store: sqlite:///file.db\n", environ=environment)
    assert over_file.store_url == "sqlite:///env.db"

    on_command = _project(tmp_path, "store_env: TEAM_STORE\n", environ=environment,
                          overrides={"store": "sqlite:///set.db", "artifacts": "/srv/set"})
    assert (on_command.store_url, on_command.setting("store").origin) == ("sqlite:///set.db", "--set")
    assert on_command.artifacts_root == Path("/srv/set")
    assert on_command.config.store_env is None  # --set store replaces the file's store_env


def test_a_store_env_naming_an_unset_variable_is_a_clear_error(tmp_path):
    project = _project(tmp_path, "store_env: TEAM_STORE\n", environ={})
    with pytest.raises(ConfigError) as raised:
        project.store_url  # noqa: B018  (reading it is the test)
    assert "TEAM_STORE" in str(raised.value) and "store_env" in str(raised.value)
    with pytest.raises(ConfigError) as both:
        _project(tmp_path, "store: sqlite:///x.db\nstore_env: TEAM_STORE\n")
    assert "one of 'store' or 'store_env'" in str(both.value)


def test_set_is_typed_and_validated_like_the_file(tmp_path):
    project = _project(tmp_path, "training: {cv: 3}\n",
                       overrides={"training.holdout": 0.3, "training.tuning.trials": 7, "seed": 7})
    assert project.config.training.holdout == 0.3 and project.config.training.cv == 3  # the rest of the section stays
    assert project.config.training.tuning.trials == 7 and project.config.seed == 7

    runner = CliRunner()
    (tmp_path / "cairn.yaml").write_text(PROJECT)
    cases = {
        "training.holdot=0.3": ["training.holdot (from --set)", "did you mean 'holdout'"],
        "trainin.holdout=0.3": ["trainin (from --set)", "did you mean 'training'"],
        "training.holdout=abc": ["training.holdout (from --set)", "'abc'"],
        "project.name=x": ["--set project.name", "is a value, not a section"],
        "training.holdout": ["section.key=value"],
        # a rule placed inside its section: at the criterion --set gave, not at a line of the file
        "business.success=[{metric: mae, below: 3}, {metric: roc_auc, above: 0.8}]": [
            "business.success[1].metric (from --set): expected a regression metric, not 'roc_auc'"],
        "training.final_rate_boost=9": ["training.final_rate_boost (from --set): expected auto or a whole number "
                                        "from 1 to 8, not 9"],
    }
    for option, expected in cases.items():
        result = runner.invoke(app, ["run", "-q", "-p", str(tmp_path / "cairn.yaml"), "--set", option])
        assert result.exit_code == 2, (option, result.output)
        for text in expected:
            assert text in result.stderr, (option, result.stderr)
        assert "Traceback" not in result.output
    assert not (tmp_path / ".cairn").exists()  # nothing written


def test_a_run_with_the_store_and_artifacts_from_the_environment_records_them_redacted(tmp_path):
    """A real run: CAIRN_STORE names a PostgreSQL database (with a password, which trust auth ignores) and
    CAIRN_ARTIFACTS a shared folder; --set changes the holdout. The manifest says where each came from, never the
    password, and another checkout with the same environment reads the run."""
    folder = copy_example(tmp_path / "hp", **QUICK)
    shared = tmp_path / "shared-artifacts"
    with fresh_postgres_database("cairn_env") as url:
        secret_url = url.replace("postgres@", "postgres:s3cret-pw@")
        environment = {"CAIRN_STORE": secret_url, "CAIRN_ARTIFACTS": str(shared)}
        result = CliRunner().invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml"), "--no-fail",
                                          "--set", "training.holdout=0.25"], env=environment)
        assert result.exit_code == 0, result.output
        assert not (folder / ".cairn" / "cairn.db").exists() and not (folder / ".cairn" / "artifacts").exists()
        assert len(list(shared.glob("??/*"))) > 5

        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as connection:
                manifest = connection.execute(sa.text("SELECT manifest FROM cairn_runs")).scalar_one()
        finally:
            engine.dispose()
        manifest = manifest if isinstance(manifest, dict) else json.loads(manifest)
        assert "s3cret-pw" not in json.dumps(manifest)
        assert manifest["settings"]["store"] == {"value": url.replace("postgres@", "postgres:***@"),
                                                 "from": "CAIRN_STORE"}
        assert manifest["settings"]["artifacts"] == {"value": str(shared), "from": "CAIRN_ARTIFACTS"}
        assert manifest["settings"]["set"] == {"training.holdout": 0.25}
        assert manifest["config"]["training"]["holdout"] == 0.25

        elsewhere = copy_example(tmp_path / "colleague", **QUICK)  # another checkout, same environment
        shown = CliRunner().invoke(app, ["show", "latest", "-p", str(elsewhere / "cairn.yaml"), "--json"],
                                   env=environment)
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["manifest"]["settings"]["set"] == {"training.holdout": 0.25}
        model = CliRunner().invoke(app, ["models", "-p", str(elsewhere / "cairn.yaml"), "--json"], env=environment)
        assert [m["stage"] for m in json.loads(model.stdout)] == ["production"]

        with_set = CliRunner().invoke(app, ["run", "-q", "-p", str(folder / "cairn.yaml"), "--no-fail", "--until",
                                            "data", "--set", f"store={secret_url}"], env={"CAIRN_STORE": "bad://"})
        assert with_set.exit_code == 0, with_set.output  # --set store beats a wrong CAIRN_STORE
        second = Project.load(folder / "cairn.yaml", environ=environment).show("latest")
        assert second.manifest["settings"]["store"]["from"] == "--set"
        assert second.manifest["settings"]["set"]["store"] == url.replace("postgres@", "postgres:***@")
        assert "s3cret-pw" not in json.dumps(second.manifest)
