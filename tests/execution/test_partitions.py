"""Batch scoring and drift checks partition by partition on a real Dask cluster (2 worker processes over TCP on
127.0.0.1): the same predictions as scoring in one process, the same drift report as one pass over the rows,
the model sent once per worker, nothing half-written when a partition fails."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from cairn.cli import app
from cairn.errors import DataError
from cairn.monitoring.drift import batched_window_drift, counted_window
from cairn.monitoring.streamed import streamed_window
from cairn.project.api import Project
from cairn.project.batch import input_files, score_files
from cairn.project.partitions import partitioned_window, partitions_of, score_partitions
from cairn.stages.data.sources import file_chunks

distributed = pytest.importorskip("distributed")

TARGET = "Sale_Price"
GROUP_ROWS = 1_000  # Parquet row groups in the test files
PARTITION_ROWS = 2_000  # two row groups per partition: files are cut into several partitions


@pytest.fixture(scope="module")
def cluster() -> Any:
    """Without the scheduler's active memory manager: with the last tasks on one worker, it drops the other's copy
    of the model, and a task stolen onto that worker fetches it again (seen once under `make test`'s load). What is
    tested is what cairn sends, not the scheduler's policies."""
    import dask

    with dask.config.set({"distributed.scheduler.active-memory-manager.start": False}), distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", protocol="tcp",
            dashboard_address=":0") as running:
        yield running


@pytest.fixture(scope="module")
def client(cluster: Any) -> Any:
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as own:
        yield own


@pytest.fixture(scope="module")
def project(quick_house_prices: Path) -> Project:
    return Project.load(quick_house_prices / "cairn.yaml")


@pytest.fixture(scope="module")
def window_files(quick_house_prices: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """12,000 Ames rows in three Parquet files of 1,000-row groups, living area growing file by file (drift),
    a third of the rows without the target: more rows than the 5,000 the domain classifier samples."""
    ames = pd.read_csv(quick_house_prices / "data" / "ames.csv.gz")
    rows = ames.sample(12_000, replace=True, random_state=3).reset_index(drop=True)
    rows.loc[rows.index % 3 == 0, TARGET] = np.nan
    rows["row"] = np.arange(len(rows))  # passed through scoring: says in which order rows were written
    folder = tmp_path_factory.mktemp("window")
    for number, part in enumerate(np.array_split(np.arange(len(rows)), 3)):
        table = rows.iloc[part].assign(Gr_Liv_Area=lambda t, n=number: t["Gr_Liv_Area"] * (1 + 0.25 * n))
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), folder / f"window-{number}.parquet",
                       row_group_size=GROUP_ROWS)
    return sorted(folder.glob("*.parquet"))


def test_partitions_cut_files_at_row_groups_and_know_their_first_row(window_files: list[Path]) -> None:
    partitions = partitions_of(window_files, partition_rows=PARTITION_ROWS)
    assert [(p.path.name, p.row_groups, p.rows, p.offset) for p in partitions] == [
        ("window-0.parquet", (0, 1), 2000, 0), ("window-0.parquet", (2, 3), 2000, 2000),
        ("window-1.parquet", (0, 1), 2000, 4000), ("window-1.parquet", (2, 3), 2000, 6000),
        ("window-2.parquet", (0, 1), 2000, 8000), ("window-2.parquet", (2, 3), 2000, 10000)]
    assert [p.row_groups for p in partitions_of(window_files)] == [None, None, None]  # a whole file: one task


def test_scoring_on_the_cluster_answers_as_one_process_and_sends_the_model_once(
        project: Project, window_files: list[Path], client: Any, tmp_path: Path) -> None:
    model = project.load_model()
    one_file = score_files(model, window_files, tmp_path / "whole.parquet")
    seen: list[int] = []
    on_cluster = score_partitions(model, window_files, tmp_path / "scored", client=client,
                                  partition_rows=PARTITION_ROWS, chunk_rows=700, progress=seen.append)
    assert on_cluster.rows == one_file.rows == 12_000 and on_cluster.parts == 6
    assert sorted(path.name for path in (tmp_path / "scored").iterdir()) == [f"part-0000{n}.parquet"
                                                                             for n in range(6)]
    expected = pd.read_parquet(tmp_path / "whole.parquet")
    written = pd.concat([pd.read_parquet(tmp_path / "scored" / f"part-0000{n}.parquet") for n in range(6)],
                        ignore_index=True)
    np.testing.assert_allclose(written["prediction"], expected["prediction"], rtol=1e-12)
    assert written["row"].tolist() == expected["row"].tolist() == list(range(12_000))  # in input order
    assert {(o.name, o.count, o.furthest) for o in on_cluster.out_of_range} == {
        (o.name, o.count, o.furthest) for o in one_file.out_of_range} and on_cluster.out_of_range
    assert sorted(seen)[-1] == 12_000 and len(seen) == 6
    # the model went to each worker once, from here (scattered to all): never fetched from another worker for a
    # task, and released when the scoring ended
    fetched = [key for keys in client.run(_keys_fetched).values() for key in keys]
    assert not [key for key in fetched if "TrainedModel" in key], fetched
    assert not [key for keys in client.run(_keys_held).values() for key in keys if "TrainedModel" in key]


def _keys_fetched(dask_worker: Any) -> list[str]:
    """What a worker fetched from other workers for its tasks."""
    return [str(key) for entry in dask_worker.transfer_incoming_log for key in entry["keys"]]


def _keys_held(dask_worker: Any) -> list[str]:
    return [str(key) for key in dask_worker.data]


def test_the_local_engine_writes_the_same_parts(project: Project, window_files: list[Path], client: Any,
                                               tmp_path: Path) -> None:
    model = project.load_model()
    local = score_partitions(model, window_files, tmp_path / "local", partition_rows=PARTITION_ROWS)
    remote = score_partitions(model, window_files, tmp_path / "remote", client=client, partition_rows=PARTITION_ROWS)
    assert local.parts == remote.parts == 6
    for name in sorted(path.name for path in (tmp_path / "local").iterdir()):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / name),
                                      pd.read_parquet(tmp_path / "remote" / name))


def test_a_failed_partition_leaves_the_output_folder_as_it_was(project: Project, window_files: list[Path],
                                                               client: Any, tmp_path: Path) -> None:
    model = project.load_model()
    output = tmp_path / "scored"
    score_partitions(model, window_files[:1], output, client=client)
    before = {path.name: path.read_bytes() for path in output.iterdir()}
    broken = tmp_path / "inputs"
    broken.mkdir()
    for path in window_files:
        shutil.copy(path, broken / path.name)
    (broken / "window-9.parquet").write_bytes(b"PAR1 not a parquet file")
    with pytest.raises(DataError) as raised:
        score_partitions(model, input_files(broken), output, client=client, partition_rows=PARTITION_ROWS)
    assert "window-9.parquet" in str(raised.value) and raised.value.problems  # the worker's error, whole
    assert {path.name: path.read_bytes() for path in output.iterdir()} == before  # no staging left either


def test_drift_merged_from_partitions_equals_one_pass(project: Project, window_files: list[Path],
                                                      client: Any) -> None:
    model, baseline = project.load_model(), project.monitoring_baseline()
    seed = project.config.seed
    one_pass = streamed_window((batch for path in window_files for batch in file_chunks(path, chunk_rows=3_000)),
                               baseline=baseline, model=model, target=TARGET, time_column=None, total_rows=12_000,
                               seed=seed, where="window")
    merged = partitioned_window(window_files, model=model, baseline=baseline, target=TARGET, time_column=None,
                                seed=seed, where="window", client=client, partition_rows=PARTITION_ROWS,
                                chunk_rows=700)
    first, second = one_pass.drift.to_dict(), merged.drift.to_dict()
    for mine, theirs in zip(first["features"], second["features"], strict=True):
        assert mine["feature"] == theirs["feature"]
        assert mine["psi"] == pytest.approx(theirs["psi"], abs=1e-9)
        assert (mine["p_value"] is None and theirs["p_value"] is None) or math.isclose(
            mine["p_value"], theirs["p_value"], rel_tol=1e-9, abs_tol=1e-12)
    assert [f.feature for f in merged.drift.drifted][:1] == ["Gr_Liv_Area"]
    assert second["domain"]["current_rows"] == 5_000  # the kept sample: the 5,000 smallest keys of all rows
    assert first == second  # the same sample too: each partition draws the keys one pass draws for its rows
    assert merged.rows == one_pass.rows == 12_000 and merged.labelled_rows == one_pass.labelled_rows == 8_000
    pd.testing.assert_frame_equal(merged.labelled, one_pass.labelled)
    assert merged.columns == one_pass.columns


def test_window_counts_of_halves_merge_into_those_of_the_whole(project: Project, window_files: list[Path]) -> None:
    model, baseline = project.load_model(), project.monitoring_baseline()
    rows = pd.read_parquet(window_files[1])
    whole = batched_window_drift(baseline, [rows], model=model, seed=5, total_rows=len(rows))
    first = counted_window(baseline, [rows.iloc[:1_500]], model=model, seed=5, total_rows=len(rows))
    second = counted_window(baseline, [rows.iloc[1_500:]], model=model, seed=5, total_rows=len(rows),
                            row_offset=1_500)
    assert first is not None and second is not None
    first.merge(second)
    assert first.rows == len(rows)
    assert first.report(threshold=0.2).to_dict()["features"] == whole.to_dict()["features"]
    assert first.sample is not None and len(first.sample) == min(5_000, len(rows))


def test_cli_predict_and_monitor_on_a_folder_with_the_dask_engine(quick_house_prices: Path, cluster: Any,
                                                                  window_files: list[Path], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`cairn predict FOLDER -o DIR` and `cairn monitor --data FOLDER`, local then on the cluster: the same parts,
    the same drift report."""
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder)
    project_file = folder / "cairn.yaml"
    inputs = window_files[0].parent
    runner = CliRunner()

    def cairn(*arguments: str) -> Any:
        done = runner.invoke(app, [*arguments, "-p", str(project_file)])
        assert done.exit_code == 0, done.output
        return done

    cairn("predict", str(inputs), "-o", str(tmp_path / "local"))
    local = json.loads(cairn("monitor", "--data", str(inputs), "--json", "--no-fail").stdout)
    config = yaml.safe_load(project_file.read_text())
    project_file.write_text(yaml.safe_dump({**config, "execution": {"engine": "dask",
                                                                    "address_env": "TEST_SCHEDULER"}}))
    monkeypatch.setenv("TEST_SCHEDULER", cluster.scheduler_address)
    scored = cairn("predict", *map(str, window_files), "-o", str(tmp_path / "remote"))  # as a shell gives a glob
    assert "wrote 12,000 predictions" in scored.stderr and "3 Parquet parts" in scored.stderr
    remote = json.loads(cairn("monitor", "--data", str(inputs / "*.parquet"), "--json", "--no-fail").stdout)
    for name in ("part-00000.parquet", "part-00001.parquet", "part-00002.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / name),
                                      pd.read_parquet(tmp_path / "remote" / name))
    assert remote["drift"] == local["drift"] and remote["drift"]["current_rows"] == 12_000


def test_inputs_are_the_data_files_of_a_folder_or_glob_and_mistakes_are_said(window_files: list[Path],
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("b.parquet", "a.csv.gz", "_SUCCESS", ".a.parquet.partial", "notes.md"):
        (folder / name).write_text("")
    assert [path.name for path in input_files(folder)] == ["a.csv.gz", "b.parquet"]
    assert [path.name for path in input_files([str(folder / "*.parquet"), folder / "a.csv.gz"])] == [
        "b.parquet", "a.csv.gz"]
    with pytest.raises(DataError) as raised:
        input_files(str(tmp_path / "none" / "*.parquet"), where="--data")
    assert raised.value.problems[0].where == "--data"
    (tmp_path / "scored").write_text("")
    with pytest.raises(DataError, match="is a file, not a folder"):
        score_partitions(None, window_files, tmp_path / "scored")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="holds the input"):
        score_partitions(None, window_files, window_files[0].parent)  # type: ignore[arg-type]


def test_a_folder_scored_on_the_cluster_says_what_one_pass_says(project: Project, window_files: list[Path],
                                                               client: Any, tmp_path: Path) -> None:
    """An input without a column, text that does not read as a number and levels training never had, found
    partition by partition on the workers, summed to what scoring the same rows in one pass says."""
    from cairn.model.inputs import Unread
    from cairn.monitoring.unseen import Unseen, training_levels

    rows = pd.read_parquet(window_files[0]).drop(columns=["Lot_Frontage"]).astype({"Lot_Area": str})
    rows.loc[rows.index[::500], "Lot_Area"] = "large"  # 8 of 4,000 rows, in both partitions of each file
    rows.loc[rows.index[250::1000], "Neighborhood"] = "Atlantis"  # 4 rows, one per partition
    rows.loc[rows.index[3999], "Neighborhood"] = "Lemuria"
    folder = tmp_path / "inputs"
    folder.mkdir()
    for number, part in enumerate(np.array_split(np.arange(len(rows)), 2)):
        pq.write_table(pa.Table.from_pandas(rows.iloc[part], preserve_index=False),
                       folder / f"part-{number}.parquet", row_group_size=GROUP_ROWS)
    files = sorted(folder.glob("*.parquet"))
    model = project.load_model()
    levels = training_levels(project.monitoring_baseline(), model)
    one_pass = score_files(model, files, tmp_path / "whole.parquet", levels=levels)
    on_cluster = score_partitions(model, files, tmp_path / "scored", client=client, partition_rows=PARTITION_ROWS,
                                  levels=levels)
    assert on_cluster.parts == 2
    expected = (Unread("Lot_Area", 8, "large", "a number"),)
    assert one_pass.missing == on_cluster.missing == ("Lot_Frontage",)
    assert one_pass.unread == on_cluster.unread == expected
    assert one_pass.unseen == on_cluster.unseen  # with the holdout's few levels the training split never had
    assert {item.name: item for item in on_cluster.unseen}["Neighborhood"] == Unseen(
        "Neighborhood", 5, ("Atlantis", "Lemuria"), "as the rare levels training grouped together")
