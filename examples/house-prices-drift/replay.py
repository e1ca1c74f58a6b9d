"""Stage 10 on real drift: a model of 2006-2007 Ames sales lives through 2008-2010, month by month.

1. Builds a project in WORK from the house-prices example: trained on the 2006-2007 sales only, with performance
   windows of 30 days dated by the sale (`monitoring.time_column: Sold_At`).
2. `cairn run`, then `cairn serve` started for real on a free loopback port.
3. For each month from January 2008: the month's sales go through `POST /predict` (the true price left out, an id
   per house), then their true prices come back as feedback (`cairn feedback`, dated by the sale).
4. Every `--every` months, `cairn monitor`: drift of the requests served against the training data, MAPE per window
   against 10% with the estimate beside it, and the advice. When it advises retraining, `cairn retrain` trains a
   challenger on the ground truth fed back (with the 2006-2007 source) and judges it against the champion on the
   newest labelled sales; the running service switches to a new champion by itself.
5. Prints the per-window table and the decisions.

Run: .venv/bin/python examples/house-prices-drift/replay.py [--work /tmp/ames-replay] [--months 31] [--every 3]
     [--quick]   (--quick: one LightGBM with one trial, for tests)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "house-prices"
TARGET = "Sale_Price"


@dataclass
class Replay:
    """What happened: one line per window seen, one per decision."""

    windows: dict[str, dict[str, Any]] = field(default_factory=dict)  # window start -> its latest figures
    decisions: list[dict[str, Any]] = field(default_factory=list)
    served_versions: list[tuple[str, int]] = field(default_factory=list)  # (month, version that answered)


def build_project(work: Path, *, quick: bool, monitoring: dict[str, Any] | None = None) -> Path:
    """The example, trained on 2006-2007 sales; its later sales are kept aside for the replay."""
    folder = work / "hp"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".cairn"))
    sales = pd.read_csv(folder / "data" / "ames.csv.gz")
    sales[sales.Year_Sold <= 2007].to_csv(folder / "data" / "sales-2006-2007.csv", index=False)
    sales[sales.Year_Sold >= 2008].to_csv(work / "sales-2008-2010.csv", index=False)
    config = yaml.safe_load((folder / "cairn.yaml").read_text())
    config["data"]["source"] = "data/sales-2006-2007.csv"
    config["monitoring"] = {"drift": {"threshold": 0.2}, "window": "30d", "time_column": "Sold_At",
                            "retrain": {"data": "all", "min_new_rows": 100, "judge_share": 0.3}, **(monitoring or {})}
    if quick:
        config["models"] = {"candidates": ["lightgbm"]}
        config["training"]["tuning"] = {"trials": 1}
        config["exploration"] = {"enabled": False}
        config["evaluation"] = {"bootstrap": 200, "explain": "none", "latency_samples": 50}
    (folder / "cairn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_service(folder: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "cairn.cli", "serve", "-p", str(folder / "cairn.yaml"),
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("cairn serve did not start")


def months(sales: pd.DataFrame, count: int) -> list[tuple[int, int]]:
    found = sorted({(int(y), int(m)) for y, m in zip(sales.Year_Sold, sales.Mo_Sold, strict=True)})
    return found[:count]


def replay(work: Path, *, months_count: int, every: int, quick: bool, say: Any = print,
           monitoring: dict[str, Any] | None = None) -> Replay:
    """The replay in `work`; `monitoring` replaces keys of the project's monitoring section (a test's rules)."""
    from cairn.project.api import Project
    from cairn.project.retrain import labelled_from_feedback, retrain

    folder = build_project(work, quick=quick, monitoring=monitoring)
    project = Project.load(folder / "cairn.yaml")
    first = project.run()
    say(f"trained on 2006-2007: {first.verdict}")
    later = pd.read_csv(work / "sales-2008-2010.csv")
    port = free_port()
    service = start_service(folder, port)
    happened = Replay()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for step, (year, month) in enumerate(months(later, months_count), start=1):
                sold = later[(later.Year_Sold == year) & (later.Mo_Sold == month)].reset_index(drop=True)
                label = f"{year}-{month:02d}"
                records = json.loads(sold.drop(columns=TARGET).to_json(orient="records"))
                for position, record in enumerate(records):
                    record["id"] = f"{label}-{position}"
                answer = http.post("/predict", json=records)
                answer.raise_for_status()
                happened.served_versions.append((label, int(answer.json()["version"])))
                truth = pd.DataFrame({"id": [r["id"] for r in records], TARGET: sold[TARGET],
                                      "Sold_At": f"{label}-15"})
                truth_file = work / f"truth-{label}.csv"
                truth.to_csv(truth_file, index=False)
                project.feedback(truth_file)
                if step % every == 0:
                    promoted = check(project, happened, label=label, say=say, retrain=retrain,
                                     labelled=labelled_from_feedback)
                    if promoted is not None:  # the running service switches by itself: wait for it
                        wait_for_version(http, promoted)
    finally:
        service.terminate()
        service.wait(timeout=30)
    return happened


def wait_for_version(http: httpx.Client, version: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if http.get("/metadata").json().get("version") == version:
            return
        time.sleep(0.2)
    raise SystemExit(f"the service did not switch to v{version} in {timeout_s:.0f} s")


def check(project: Any, happened: Replay, *, label: str, say: Any, retrain: Any, labelled: Any) -> int | None:
    """`cairn monitor` on what the champion served; a retrain when it advises one. Returns the version promoted."""
    report = project.monitor()
    version = report.version
    for window in report.windows:
        realised, estimated = window.realised("mape"), window.estimated("mape")
        happened.windows[f"{window.start:%Y-%m-%d}"] = {
            "version": version, "rows": window.labelled,
            "mape": None if realised is None else realised.value,
            "low": None if realised is None else realised.low, "high": None if realised is None else realised.high,
            "estimate": None if estimated is None else estimated.value}
    drifted = [f.feature for f in report.drift.drifted]
    say(f"{label}: v{version} {report.advice}")
    if not report.retrain:
        happened.decisions.append({"after": label, "version": version, "advice": "no retrain", "drifted": drifted})
        return None
    outcome = retrain(project, labelled=labelled(project), described="predictions whose truth came back")
    decision = outcome.run.champion_decision
    happened.decisions.append({
        "after": label, "version": version, "advice": report.advice, "drifted": drifted,
        "challenger": outcome.run.model_version, "promoted": outcome.promoted,
        "reason": decision.reason if decision is not None else outcome.run.verdict,
        "judge_rows": outcome.judge_rows})
    say(f"  retrain: {outcome.run.model_version}; " + ("promoted" if outcome.promoted else "champion stays"))
    return project.load_model().version if outcome.promoted else None


def table(happened: Replay) -> str:
    lines = [f"{'window from':12} {'version':>7} {'sales':>6} {'MAPE':>7} {'95% CI':>15} {'estimate':>9} {'<10%':>5}"]
    for start, w in sorted(happened.windows.items()):
        mape = "-" if w["mape"] is None else f"{w['mape']:.1%}"
        interval = "-" if w["low"] is None else f"{w['low']:.1%}-{w['high']:.1%}"
        estimate = "-" if w["estimate"] is None else f"{w['estimate']:.1%}"
        met = "-" if w["mape"] is None else ("yes" if w["mape"] < 0.10 else "no")
        lines.append(f"{start:12} {'v' + str(w['version']):>7} {w['rows']:>6} {mape:>7} {interval:>15} "
                     f"{estimate:>9} {met:>5}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ames-replay"))
    parser.add_argument("--months", type=int, default=31)
    parser.add_argument("--every", type=int, default=3, help="Months between two `cairn monitor` checks.")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    happened = replay(args.work, months_count=args.months, every=args.every, quick=args.quick)
    print("\n" + table(happened))
    print("\ndecisions:")
    for decision in happened.decisions:
        print(json.dumps(decision, default=str))


if __name__ == "__main__":
    main()
