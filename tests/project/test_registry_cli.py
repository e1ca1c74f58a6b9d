"""`cairn models`, `promote`, `rollback`, `alias` and `audit` on a project's own store (versions registered
directly, no training): version references, aliases, exit codes and the audit log as a user sees them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cairn.cli import WIDE_TABLE, app, out
from cairn.project.api import Project
from cairn.registry import Registry, os_user
from tests.examples import copy_example
from tests.store.race_worker import dummy_model

runner = CliRunner()


@pytest.fixture
def project_file(tmp_path: Path) -> str:
    """The example's project with three registered versions: v1 production, v2 and v3 candidates."""
    folder = copy_example(tmp_path / "hp")
    project = Project.load(folder / "cairn.yaml")
    store = project.open_store()
    try:
        run_id = store.start_run(project=project.config.project, config_hash="c" * 64, manifest={})
        registry = Registry(store)
        for production in (True, False, False):
            registry.register(dummy_model(project.config.model_name), run_id=run_id, production=production,
                              note=None)
    finally:
        store.close()
    return str(folder / "cairn.yaml")


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def wide_listing(project_file: str) -> tuple[int, str]:
    """`cairn models` on a terminal wide enough for every column."""
    wide = out.width
    out.width = WIDE_TABLE
    try:
        return cli("models", "-p", project_file)
    finally:
        out.width = wide


def listed(project_file: str) -> dict[int, list[str]]:
    code, output = cli("models", "--json", "-p", project_file)
    assert code == 0, output
    return {v["version"]: v["aliases"] for v in json.loads(output)}


def test_promote_takes_2_v2_or_an_alias_and_models_shows_aliases(project_file):
    assert listed(project_file) == {3: [], 2: [], 1: ["champion"]}
    assert cli("promote", "v2", "-p", project_file)[0] == 0
    assert cli("promote", "3", "-p", project_file)[0] == 0
    assert listed(project_file) == {3: ["champion"], 2: [], 1: []}
    code, output = cli("alias", "v2", "challenger", "-p", project_file, "--reason", "close second")
    assert code == 0 and "v2 is now challenger\n" in output  # not "challenger (challenger)"
    assert cli("alias", "1", "baseline", "-p", project_file)[0] == 0
    code, output = cli("alias", "1", "first", "-p", project_file)
    assert code == 0 and "v1 is now first (also baseline)" in output
    assert sorted(listed(project_file)[1]) == ["baseline", "first"]
    code, output = cli("models", "-p", project_file)
    assert "challenger" in output and "baseline" in output and "champion" in output
    code, output = cli("promote", "challenger", "-p", project_file, "--reason", "it won the A/B test")
    assert code == 0 and "v2 is the champion" in output
    assert listed(project_file)[2] == ["champion"]
    code, output = cli("rollback", "-p", project_file)  # undoes the last promote: back to v3, not the number below
    assert code == 0 and "v3 is the champion" in output
    code, output = cli("rollback", "-p", project_file)  # one further back: the champions served v1, v2, v3, v2
    assert code == 0 and "v2 is the champion" in output
    code, output = cli("rollback", "-p", project_file)
    assert code == 0 and "v1 is the champion" in output
    code, output = cli("rollback", "-p", project_file)
    assert code == 2 and "no previous champion" in output


def test_promoting_a_version_its_run_did_not_promote_says_why_and_notes_it(tmp_path):
    """A person may promote a version that missed its objective: it is done, said with the run's verdict, and the
    version's note says it was promoted by hand instead of still reading 'not promoted'."""
    folder = copy_example(tmp_path / "hp")
    project = Project.load(folder / "cairn.yaml")
    store = project.open_store()
    try:
        run_id = store.start_run(project=project.config.project, config_hash="c" * 64, manifest={})
        Registry(store).register(dummy_model(project.config.model_name), run_id=run_id, production=False,
                                 note="not promoted: objective MAPE < 10%: missed (holdout 12.0%)")
    finally:
        store.close()
    result = runner.invoke(app, ["promote", "v1", "-p", str(folder / "cairn.yaml")])
    assert result.exit_code == 0 and "v1 is the champion (in production)" in result.output
    assert ("warning: its run did not promote it: objective MAPE < 10%: missed (holdout 12.0%)"
            in " ".join(result.stderr.split()))
    [version] = json.loads(cli("models", "--json", "-p", str(folder / "cairn.yaml"))[1])
    assert (version["stage"], version["note"]) == (
        "production", "promoted by hand; its run's verdict: objective MAPE < 10%: missed (holdout 12.0%)")
    result = runner.invoke(app, ["alias", "v1", "champion", "-p", str(folder / "cairn.yaml")])  # a promote too
    assert result.exit_code == 0 and "warning: its run did not promote it: objective MAPE" in result.stderr


def test_mistakes_exit_2_with_a_clear_message(project_file):
    code, output = cli("promote", "v9", "-p", project_file)
    assert code == 2 and "has no version 9" in output and "Traceback" not in output
    code, output = cli("promote", "nightly", "-p", project_file)
    assert code == 2 and "no version called 'nightly'" in output
    code, output = cli("alias", "2", "Not A Name", "-p", project_file)
    assert code == 2 and "short lowercase name" in output
    code, output = cli("rollback", "-p", project_file)  # v1 is the first champion: nothing earlier
    assert code == 2 and "no previous champion" in output and "Traceback" not in output


def test_audit_prints_who_did_what_and_why(project_file):
    cli("promote", "v2", "-p", project_file, "--reason", "reviewed by hand")
    cli("rollback", "-p", project_file)
    code, output = cli("audit", "--json", "-p", project_file)
    assert code == 0
    log = json.loads(output)
    assert [(e["action"], e["version"]) for e in log] == [
        ("rollback", 1), ("promote", 2), ("register", 3), ("register", 2), ("register", 1)]
    assert log[1]["reason"] == "reviewed by hand" and log[1]["figures"] == {"from_version": 1}
    assert {e["actor"] for e in log} == {os_user()}
    code, output = cli("audit", "-p", project_file)
    assert code == 0 and "reviewed by hand" in output and "rollback" in output


def test_models_shows_each_bundles_size_on_disk_and_a_damaged_manifest_blanks_only_its_own(project_file):
    """The size is what serving a version loads: the manifest and its files as stored, summed from the store's
    record and equal to the files on disk; a version whose manifest cannot be read is still listed, without a
    size, and the others keep theirs."""
    from cairn.model.bundle import bundle_shas

    project = Project.load(project_file)
    store = project.open_store()
    try:
        versions = {v.version: v for v in Registry(store).sized(Registry(store).versions(project.config.model_name))}
        files = {n: [store.artifacts.path_of(sha) for sha in bundle_shas(v.artifact_sha256, store.artifacts.read,
                                                                         what="test")]
                 for n, v in versions.items()}
    finally:
        store.close()
    on_disk = {n: sum(path.stat().st_size for path in paths) for n, paths in files.items()}
    code, output = cli("models", "--json", "-p", project_file)
    assert code == 0, output
    assert {v["version"]: v["size_bytes"] for v in json.loads(output)} == on_disk
    assert all(size > 1_000 for size in on_disk.values())
    code, narrow = cli("models", "-p", project_file)  # the runner's 80 columns: the table as before
    assert code == 0 and "size" not in narrow and "candidate" in narrow, narrow
    code, table = wide_listing(project_file)
    assert code == 0 and "size" in table and "KiB" in table, table
    files[1][0].write_bytes(b"not a manifest")  # v1's manifest, which names its version: never shared
    code, output = cli("models", "--json", "-p", project_file)
    assert code == 0, output
    assert {v["version"]: v["size_bytes"] for v in json.loads(output)} == {**on_disk, 1: None}
    files[2][0].unlink()
    files[2][0].mkdir()  # not even a file: still one blank size, not a failed listing
    code, output = cli("models", "--json", "-p", project_file)
    assert code == 0, output
    assert {v["version"]: v["size_bytes"] for v in json.loads(output)} == {**on_disk, 1: None, 2: None}


def test_the_listing_shows_metrics_as_a_person_reads_them(project_file):
    """MAPE as a percentage and errors with separators, as every other view shows them: 'mape 9.9%', not 'mape
    0.09865'; 'rmse 19,630', not 'rmse 1.963e+04'."""
    from dataclasses import replace as copy

    project = Project.load(project_file)
    store = project.open_store()
    try:
        run_id = store.start_run(project=project.config.project, config_hash="d" * 64, manifest={})
        scored = copy(dummy_model(project.config.model_name), metrics={"mape": 0.09865, "r2": 0.912345,
                                                                       "rmse": 19_630.4})
        Registry(store).register(scored, run_id=run_id, production=False, note=None)
    finally:
        store.close()
    code, table = wide_listing(project_file)
    assert code == 0 and "mape 9.9%, r2" in table and "0.9123, rmse 19,630" in table, table  # the cell wraps
