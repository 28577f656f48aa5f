"""The quickest benchmark end to end: it fills a valid chain, exports, verifies and writes its
JSON (bench/README.md). Measures nothing; proves the benchmark still runs against the code."""

from __future__ import annotations

import json
from pathlib import Path

from bench import audit_export, device_reports, health_report, portal_pages, software_offers


def test_audit_export_bench_runs_on_sqlite(tmp_path: Path) -> None:
    out = tmp_path / "audit_export.json"
    argv = ["--database", "sqlite", "--records", "2000", "--rounds", "1", "--output", str(out)]
    assert audit_export.main(argv) == 0
    report = json.loads(out.read_text())
    summary = report["summary"]
    assert summary["records"] >= 2000  # the tenant's own records come first
    assert report["measures"]["verify"]["rounds"][0]["rows"] == summary["records"]
    assert report["measures"]["export"]["rounds"][0]["rows"] == summary["records"]
    assert summary["verify_over_export_time"] > 0
    assert report["machine"]["cores"] >= 1


def test_device_reports_bench_runs_on_sqlite(tmp_path: Path) -> None:
    out = tmp_path / "device_reports.json"
    argv = ["--database", "sqlite", "--rooms", "200", "--small", "20", "--rounds", "1", "--per-round", "3"]
    assert device_reports.main([*argv, "--output", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["unchanged_large_vs_small"] > 0 and summary["changing_vs_unchanged"] > 0


def test_software_offers_bench_runs_on_sqlite(tmp_path: Path) -> None:
    out = tmp_path / "software_offers.json"
    argv = ["--database", "sqlite", "--rooms", "100", "--rounds", "1", "--per-round", "3"]
    assert software_offers.main([*argv, "--output", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["due_vs_day"] > 0 and summary["due_vs_current"] > 0


def test_health_report_bench_runs_on_sqlite(tmp_path: Path) -> None:
    out = tmp_path / "health_report.json"
    argv = ["--database", "sqlite", "--rooms", "30", "--days", "20", "--rounds", "1", "--per-round", "2"]
    assert health_report.main([*argv, "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["summary"]["days_90_vs_7"] > 0 and report["in_process"]["history"]["room_days"] == 600


def test_portal_pages_bench_runs_on_sqlite(tmp_path: Path) -> None:
    out = tmp_path / "portal_pages.json"
    assert portal_pages.main(["--database", "sqlite", "--quick", "--output", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["wizard_bytes_large_vs_small"] < 1.2 and summary["partner_time_large_vs_small"] > 0
