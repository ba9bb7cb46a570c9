"""The wheel built from the repository is what a deployment installs: it must hold every SQL
file and the stand-ins, install into a fresh virtualenv (no editable install, no repository on
the path) and pass `campaign-bot migrate` and `campaign-bot check` there. So a packaging
mistake (a migration or a query file left out of package-data) fails here, not in production.

pip reaches packages through the machine's configuration (find-links and a local index), so
this runs offline. It takes about a minute: building, then installing every dependency."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.support.harness import base_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]


def repository_files() -> list[str]:
    """Tracked files and new ones not ignored: what a clone of this work would hold."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout.split("\n")
    return [name for name in listed if name and (REPO / name).is_file()]


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    # Building and installing talk to the package index: they must trust the machine's CAs, not
    # the throwaway one the Mailjet stand-in's HTTPS is trusted through (tests/conftest.py).
    env = {k: v for k, v in kwargs.pop("env", os.environ).items() if k != "REQUESTS_CA_BUNDLE"}
    result = subprocess.run(args, capture_output=True, text=True, env=env, **kwargs)
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel from a copy of the repository and install it into a fresh venv."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    for name in repository_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    timings = {}
    started = time.monotonic()
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(source)])
    timings["build"] = time.monotonic() - started
    wheel = next((work / "dist").glob("campaign_bot-*.whl"))
    started = time.monotonic()
    run([sys.executable, "-m", "venv", str(work / "venv")])
    run([str(work / "venv" / "bin" / "pip"), "install", "--quiet", str(wheel)], cwd=work)
    timings["install"] = time.monotonic() - started
    print(f"\npackaging: build {timings['build']:.1f} s, fresh venv + install {timings['install']:.1f} s")
    return {"wheel": wheel, "bin": work / "venv" / "bin", "cwd": work, "timings": timings}


def test_the_wheel_holds_every_sql_file_and_the_standins(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    expected = [name for name in repository_files()
                if (name.startswith("sql/") and name.endswith(".sql"))
                or (name.startswith(("standins/", "localrun/", "bot/demo/")) and name.endswith(".py"))]
    assert any(name == "sql/012_operations.sql" for name in expected) and any(n.startswith("sql/queries/") for n in expected)
    assert "localrun/process.py" in expected and "bot/demo/runner.py" in expected  # `campaign-bot demo` runs from the wheel
    missing = [name for name in expected if name not in names]
    assert missing == [], f"left out of the wheel: {missing}"
    assert not [n for n in names if n.startswith("tests/")], "tests do not belong in the wheel"


def test_the_installed_entry_point_reports_its_version(installed):
    from importlib import metadata

    result = run([str(installed["bin"] / "campaign-bot"), "--version"], cwd=installed["cwd"])
    assert result.stdout.strip() == f"campaign-bot {metadata.version('campaign-bot')}"


def test_the_installed_wheel_holds_the_demo_and_its_harness(installed):
    # `campaign-bot demo` imports its runner and the local harness (localrun/) from the wheel.
    script = "import bot.demo.runner, localrun.process; print(localrun.process.__file__)"
    where = run([str(installed["bin"] / "python"), "-c", script], cwd=installed["cwd"],
                env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout.strip()
    assert "site-packages" in where and not where.startswith(str(REPO)), where


async def test_the_installed_wheel_migrates_and_passes_check_against_the_standins(installed, empty_database, slack, mailjet):
    env = base_env(database=empty_database, slack=slack, mailjet=mailjet)
    env.pop("PYTHONPATH", None)
    binary = str(installed["bin"] / "campaign-bot")

    async def call(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(binary, *args, env=env, cwd=installed["cwd"],
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode, out.decode()

    code, out = await call("migrate")
    assert code == 0, out
    applied = out.strip().splitlines()[-1]
    versions = sorted(int(n[4:7]) for n in repository_files() if re.fullmatch(r"sql/\d{3}_\w+\.sql", n))
    assert applied == "migrations applied: " + ", ".join(map(str, versions)), applied  # every file, from the wheel
    code, out = await call("check")
    assert code == 0, out
    assert "✓ configuration" in out and "✓ database" in out and "✓ slack" in out and "✓ mailjet" in out, out
    # The code that ran is the wheel's, not this repository's.
    script = "import storage.queries as q; print(q.SQL_DIR); print(' '.join(q.Q.names()))"
    location, names = run([str(installed["bin"] / "python"), "-c", script], cwd=installed["cwd"],
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout.strip().split("\n")
    assert "site-packages" in location and not location.startswith(str(REPO)), location
    from storage.queries import Q

    assert names.split() == Q.names()  # every named query the code refers to is in the wheel
