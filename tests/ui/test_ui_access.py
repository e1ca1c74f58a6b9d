"""Who may use `cairn ui`: beyond loopback it starts only with an API key and then refuses anonymous requests (401),
taking the key in the X-API-Key header or through the login form's cookie. A store that cannot be reached, or a
project that never ran, stops it at start with exit 2 and a message that says what to fix."""

from __future__ import annotations

import re
import shutil

import httpx
import pytest
from typer.testing import CliRunner

from cairn.cli import app
from tests.ui.conftest import edit_config, running_ui

KEY = "a-long-random-ui-test-key-0123456789"
VIEWER_KEY = "another-long-random-key-for-viewers-9876"


@pytest.fixture(scope="module")
def keyed(quick_house_prices, tmp_path_factory):
    """A copy of the quick example whose deployment names an API key variable."""
    folder = tmp_path_factory.mktemp("ui-access") / "hp"
    shutil.copytree(quick_house_prices, folder)
    edit_config(folder, deployment__api_key_env="CAIRN_UI_TEST_KEY")
    return folder


def test_beyond_loopback_without_a_key_variable_it_does_not_start(quick_house_prices, tmp_path):
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder)
    done = CliRunner().invoke(app, ["ui", "-p", str(folder / "cairn.yaml"), "--host", "0.0.0.0"])
    assert done.exit_code == 2
    assert "Refusing to show the UI beyond this machine" in done.output
    assert "deployment.api_key_env" in done.output and "Traceback" not in done.output


def test_beyond_loopback_with_the_key_unset_it_does_not_start(keyed, monkeypatch):
    monkeypatch.delenv("CAIRN_UI_TEST_KEY", raising=False)
    done = CliRunner().invoke(app, ["ui", "-p", str(keyed / "cairn.yaml"), "--host", "0.0.0.0"])
    assert done.exit_code == 2
    assert "The API key is not set" in done.output and "CAIRN_UI_TEST_KEY" in done.output


def test_a_store_that_cannot_be_reached_stops_it_at_start(quick_house_prices, tmp_path):
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder, ignore=shutil.ignore_patterns(".cairn"))
    edit_config(folder, store="postgresql://postgres@127.0.0.1:1/nowhere")
    done = CliRunner().invoke(app, ["ui", "-p", str(folder / "cairn.yaml")])
    assert done.exit_code == 2
    assert "Cannot open the store" in done.output and "Connection refused" in done.output


def test_a_project_that_never_ran_stops_it_at_start(quick_house_prices, tmp_path):
    folder = tmp_path / "hp"
    shutil.copytree(quick_house_prices, folder, ignore=shutil.ignore_patterns(".cairn"))
    done = CliRunner().invoke(app, ["ui", "-p", str(folder / "cairn.yaml")])
    assert done.exit_code == 2
    assert "has no runs yet" in done.output


def test_beyond_loopback_anonymous_requests_are_refused_and_the_key_lets_in(keyed):
    with running_ui(keyed, host="0.0.0.0", env={"CAIRN_UI_TEST_KEY": KEY, "CAIRN_UI_VIEWER": VIEWER_KEY},
                    options=("--viewer-key-env", "CAIRN_UI_VIEWER")) as ui:
        for path in ("/runs", "/runs/1", "/models", "/audit", "/runs/1/report", "/compare?run=1&run=1"):
            anonymous = httpx.get(ui.url + path)
            assert anonymous.status_code == 401, path
            assert 'action="/login"' in anonymous.text and "house-prices v1" not in anonymous.text
        assert httpx.get(f"{ui.url}/runs", headers={"X-API-Key": "wrong"}).status_code == 401
        assert httpx.post(f"{ui.url}/models/v1/promote", data={"reason": "anonymous"}).status_code == 401

        by_header = httpx.get(f"{ui.url}/models", headers={"X-API-Key": KEY})
        assert by_header.status_code == 200 and "Model house-prices" in by_header.text

        with httpx.Client(base_url=ui.url) as browser:
            login = browser.get("/login?next=/models")
            token = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
            wrong = browser.post("/login", data={"csrf": token, "key": "guess", "next": "/models"})
            assert wrong.status_code == 401 and "not the right one" in wrong.text
            assert browser.get("/models").status_code == 401
            right = browser.post("/login", data={"csrf": token, "key": KEY, "next": "//evil.example/"})
            assert right.status_code == 303 and right.headers["location"] == "/runs"  # never an outside address
            assert KEY not in right.headers["set-cookie"]  # the cookie holds an HMAC of the key, not the key
            assert browser.get("/models").status_code == 200
            browser.post("/logout", data={"csrf": token})
            assert browser.get("/models").status_code == 401

        # the viewer key may look, not promote; the API key may promote (no CSRF token with the header)
        as_viewer = {"X-API-Key": VIEWER_KEY}
        models = httpx.get(f"{ui.url}/models", headers=as_viewer)
        assert models.status_code == 200 and "promote…" not in models.text and "Roll back" not in models.text
        refused = httpx.post(f"{ui.url}/models/v1/promote", data={"reason": "a viewer tries"}, headers=as_viewer)
        assert refused.status_code == 403 and "may only look" in refused.text
        assert httpx.get(f"{ui.url}/models/rollback", headers=as_viewer).status_code == 403
        promoted = httpx.post(f"{ui.url}/models/v1/promote", data={"reason": "the editor re-affirms v1"},
                              headers={"X-API-Key": KEY})
        assert promoted.status_code == 303


def test_read_only_nobody_promotes(keyed):
    with running_ui(keyed, options=("--read-only",)) as ui:
        models = httpx.get(f"{ui.url}/models")
        assert models.status_code == 200 and "promote…" not in models.text
        assert httpx.get(f"{ui.url}/models/v1/promote").status_code == 403
        with httpx.Client(base_url=ui.url) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/explain").text).group(1)
            refused = client.post("/models/v1/promote", data={"csrf": token, "reason": "try"})
            assert refused.status_code == 403 and "--read-only" in refused.text


def test_a_port_in_use_stops_it_at_start(quick_house_prices):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = CliRunner().invoke(app, ["ui", "-p", str(quick_house_prices / "cairn.yaml"), "--port", str(port)])
    assert done.exit_code == 2
    assert "cairn ui cannot listen on" in done.output and f":{port}" in done.output
    assert "Address already in use" in done.output and "--port" in done.output


def test_a_store_that_stops_answering_gives_a_503_page_not_a_traceback(tmp_path):
    import sqlalchemy as sa

    from cairn.store import Store
    from tests.databases import fresh_postgres_database
    from tests.examples import EXAMPLE
    from tests.ui.synthetic_store import fill_store

    folder = tmp_path / "hp"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".cairn"))
    with fresh_postgres_database("cairn_ui_down") as url:
        store = Store.open(url, folder / ".cairn" / "artifacts")
        fill_store(store.engine, runs=5, versions=2)
        store.close()
        edit_config(folder, store=url)
        name = url.rsplit("/", 1)[1]
        admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
        try:
            with running_ui(folder) as ui:
                assert httpx.get(f"{ui.url}/runs").status_code == 200
                with admin.connect() as connection:  # the database refuses every connection from now on
                    connection.execute(sa.text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
                    connection.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                               f"WHERE datname = '{name}'"))
                down = httpx.get(f"{ui.url}/runs")
                assert down.status_code == 503
                assert "The store cannot be reached." in down.text and "Traceback" not in down.text
                assert ui.process.poll() is None  # the UI keeps running, and answers again once the store is back
                with admin.connect() as connection:
                    connection.execute(sa.text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                assert httpx.get(f"{ui.url}/runs").status_code == 200
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
            admin.dispose()
