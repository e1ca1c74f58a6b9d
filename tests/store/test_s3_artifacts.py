"""Artifacts on S3 (issue 15): a real S3-compatible server (moto's standalone server, started here on 127.0.0.1)
and the real PostgreSQL store, as a team shares them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from cairn.errors import StoreError
from cairn.hashing import sha256_bytes
from cairn.store.artifacts import PARTIAL_PREFIX
from cairn.store.remote_artifacts import RemoteArtifacts, open_artifacts
from tests.databases import fresh_postgres_database
from tests.examples import QUICK, copy_example
from tests.servers import free_port

BUCKET = "cairn-team"


@pytest.fixture(scope="module")
def s3_environment():
    """moto's S3 server on a free loopback port, one bucket, and the AWS variables that point cairn at it."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(endpoint, timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        environment = {"AWS_ACCESS_KEY_ID": "cairn-test", "AWS_SECRET_ACCESS_KEY": "cairn-test-secret",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}
        saved = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)
        try:
            try:
                import s3fs
            except ModuleNotFoundError:
                pytest.fail("s3fs is not installed: pip install -e '.[s3,test]' (make test does this)", pytrace=False)
            s3fs.S3FileSystem(skip_instance_cache=True).mkdir(BUCKET)
            yield environment
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_artifacts_on_s3_are_content_addressed_whole_and_checked(s3_environment):
    artifacts = open_artifacts(f"s3://{BUCKET}/unit")
    assert isinstance(artifacts, RemoteArtifacts)
    data = os.urandom(3 * 1024 * 1024)  # bigger than one multipart chunk of s3fs (5 MiB is not needed: 3 MiB)
    sha = artifacts.write(data)
    assert sha == sha256_bytes(data) and artifacts.write(data) == sha  # stored once
    assert artifacts.exists(sha) and artifacts.read_checked(sha) == data
    assert artifacts.fs.exists(f"{BUCKET}/unit/{sha[:2]}/{sha}")  # the local folder's layout
    assert not [key for key in artifacts.fs.find(f"{BUCKET}/unit") if PARTIAL_PREFIX in key]  # nothing half-done
    listed = list(artifacts.listing())
    assert [(f.sha256, f.size_bytes) for f in listed] == [(sha, len(data))]
    assert abs(listed[0].modified - time.time()) < 300

    # a writer killed between its temporary key and the move: invisible to readers and listings, then cleaned
    artifacts.fs.pipe_file(f"{BUCKET}/unit/ab/{PARTIAL_PREFIX}killed", b"half")
    assert [f.sha256 for f in artifacts.listing()] == [sha]
    assert artifacts.remove_stale_partials() == 0  # young: may be a write in progress
    assert artifacts.remove_stale_partials(older_than_s=-60) == 1

    # an object changed behind cairn's back is a clear error, never an unpickle
    artifacts.fs.pipe_file(f"{BUCKET}/unit/{sha[:2]}/{sha}", b"tampered")
    with pytest.raises(StoreError, match="does not match its sha256"):
        artifacts.read_checked(sha)
    artifacts.delete(sha)
    assert not artifacts.exists(sha) and list(artifacts.listing()) == []
    with pytest.raises(StoreError, match="missing"):
        artifacts.read_checked(sha)
    with pytest.raises(StoreError, match="not a sha256"):
        artifacts.read("../../etc/passwd")


def test_a_team_shares_runs_and_models_through_postgresql_and_s3(s3_environment, tmp_path):
    """One member runs the project with the store on PostgreSQL and the artifacts on S3; a colleague's checkout
    (no local artifacts at all) lists the model, predicts with it and sees the run; gc works on the bucket."""
    mine = copy_example(tmp_path / "mine", **QUICK)
    theirs = copy_example(tmp_path / "theirs", **QUICK)
    runner = CliRunner()
    with fresh_postgres_database("cairn_s3") as url:
        environment = {"CAIRN_STORE": url, "CAIRN_ARTIFACTS": f"s3://{BUCKET}/house-prices"}
        ran = runner.invoke(app, ["run", "-q", "--no-fail", "-p", str(mine / "cairn.yaml")], env=environment)
        assert ran.exit_code == 0, ran.output
        assert not (mine / ".cairn" / "artifacts").exists()
        artifacts = open_artifacts(environment["CAIRN_ARTIFACTS"])
        stored = {f.sha256 for f in artifacts.listing()}
        assert len(stored) > 5

        models = runner.invoke(app, ["models", "-p", str(theirs / "cairn.yaml"), "--json"], env=environment)
        assert models.exit_code == 0, models.output
        assert [m["stage"] for m in json.loads(models.stdout)] == ["production"]
        assert json.loads(models.stdout)[0]["size_bytes"] > 10_000  # the bundle's files on the bucket
        unreachable = {**environment, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}  # nothing listens
        blank = runner.invoke(app, ["models", "-p", str(theirs / "cairn.yaml"), "--json"], env=unreachable)
        assert blank.exit_code == 0, blank.output  # the listing, without sizes, not a traceback
        assert [(m["stage"], m["size_bytes"]) for m in json.loads(blank.stdout)] == [("production", None)]
        rows = pd.read_csv(theirs / "data" / "ames.csv.gz").head(25)
        rows.to_csv(tmp_path / "rows.csv", index=False)
        scored = runner.invoke(app, ["predict", str(tmp_path / "rows.csv"), "-o", str(tmp_path / "scored.csv"),
                                     "-p", str(theirs / "cairn.yaml")], env=environment)
        assert scored.exit_code == 0, scored.output
        assert len(pd.read_csv(tmp_path / "scored.csv")["prediction"].dropna()) == 25
        shown = runner.invoke(app, ["show", "latest", "-p", str(theirs / "cairn.yaml"), "--json"], env=environment)
        record = json.loads(shown.stdout)
        assert record["manifest"]["settings"]["artifacts"] == {"value": f"s3://{BUCKET}/house-prices",
                                                               "from": "CAIRN_ARTIFACTS"}
        assert {sha for stage in record["stages"] for sha in stage["outputs"].values()} <= stored
        assert not (theirs / ".cairn" / "artifacts").exists()

        collected = runner.invoke(app, ["gc", "--dry-run", "--json", "-p", str(theirs / "cairn.yaml")],
                                  env=environment)
        assert collected.exit_code == 0, collected.output
        assert json.loads(collected.stdout)["files"] == 0  # everything is referenced
        assert {f.sha256 for f in artifacts.listing()} == stored
