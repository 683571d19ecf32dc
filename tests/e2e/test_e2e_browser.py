"""End to end in Chromium: log in, create a project and an agent (with an inline validation
message first), run a simulation and see its plot, release a batch with an electronic signature,
and find the signature in the audit trail. Screenshots go to ``tests/e2e/artifacts/``; with
``NANOBRIDGE_E2E_DOCS=1`` they are also copied to ``docs/web-*.png`` for the README.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import ADMIN_EMAIL, ADMIN_PASSWORD, ARTIFACTS, CHROMIUM, Server

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def browser() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set NANOBRIDGE_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page: Any, name: str, *, full: bool = True, docs: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    if docs and os.environ.get("NANOBRIDGE_E2E_DOCS") == "1":
        shutil.copyfile(path, DOCS / f"web-{name}.png")
    return path


def test_bench_to_release_in_the_browser(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    # log in
    page.goto(server.url + "/")
    assert "/login" in page.url
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/")

    # a project
    page.fill("form[action='/projects'] input[name=name]", "C dots")
    page.fill("form[action='/projects'] input[name=description]", "ultrasmall PEG-silica, PET + NIR")
    page.click("form[action='/projects'] button")
    page.wait_for_url(re.compile(r".*/projects/\d+$"))
    project_url = page.url
    pid = int(project_url.rsplit("/", 1)[1])

    # an agent: the editor checks the spec as it is typed
    page.click("text=New agent")
    page.wait_for_selector("#problems .ok-box")
    good = page.input_value("#spec")
    page.fill("#spec", good.replace("core_diameter_nm: 4.0", "core_diameter_nm: -4.0"))
    page.locator("#spec").press("End")
    page.wait_for_selector("#problems .problems-box:has-text('core_diameter_nm')")
    _shot(page, "agent-editor", full=False)
    page.fill("#spec", good)
    page.locator("#spec").press("End")
    page.wait_for_selector("#problems .ok-box")
    page.click("#agent-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/agents/\d+$"))
    assert "124I-cRGDY-PEG-C dot" in page.inner_text("h1")

    # a simulation with a live progress bar, then the plots
    page.fill("#run-form input[name=duration_h]", "48")
    page.click("#run-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/runs/\d+$"))
    page.wait_for_selector(".progress")
    page.wait_for_selector(".figure.drawn", timeout=120_000)
    assert page.inner_text("#run-status") == "done"
    assert page.locator(".figure.drawn").count() >= 4
    _shot(page, "run-full", docs=False)
    _shot(page, "run", full=False)

    # three earlier lots with a size measurement (through the JSON API, as the browser session)
    token = page.get_attribute("input[name=csrf_token]", "value")
    headers = {"X-CSRF-Token": token or ""}
    for i, value in enumerate((6.3, 6.6, 6.4)):
        batch = page.request.post(
            f"{server.url}/api/projects/{pid}/batches",
            data={"lot_number": f"CD-00{i + 1}", "scale": "lab"},
            headers=headers,
        )
        assert batch.status == 201, batch.text()
        measured = page.request.post(
            f"{server.url}/api/projects/{pid}/batches/{batch.json()['id']}/measurements",
            data={"kind": "z_average", "value": value, "unit": "nm", "method": "DLS"},
            headers=headers,
        )
        assert measured.status == 201

    # the new lot through the pages, released with a signature
    page.goto(f"{server.url}/projects/{pid}/batches")
    page.click("summary:has-text('New batch')")
    page.fill("#batch-form input[name=lot_number]", "CD-004")
    page.fill("#batch-form input[name=scale]", "pilot")
    page.click("#batch-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/batches/\d+$"))
    page.fill("#measurement-form input[name=kind]", "z_average")
    page.fill("#measurement-form input[name=value]", "6.5")
    page.fill("#measurement-form input[name=unit]", "nm")
    page.fill("#measurement-form input[name=method]", "DLS")
    page.click("#measurement-form button[type=submit]")
    page.wait_for_selector("#measurements td:has-text('z_average')")
    page.wait_for_selector(".figure.drawn")
    page.select_option("#release-form select[name=outcome]", "release")
    page.fill(
        "#release-form textarea[name=rationale]", "z-average 6.5 nm within 5-8 nm; in statistical control"
    )
    page.fill("#release-form input[name=password]", ADMIN_PASSWORD)
    page.click("#release-form button[type=submit]")
    page.wait_for_selector("#batch-status:has-text('released')")
    assert "verified" in page.inner_text(".decision")
    _shot(page, "release")

    # the signature in the audit trail
    page.goto(f"{server.url}/audit?project_id={pid}&table_name=qc_decisions")
    row = page.locator("#audit tbody tr", has_text="sign").first
    assert "Ada Lovelace" in row.inner_text()
    _shot(page, "audit", full=False)
    page.goto(project_url)
    assert page.locator("#runs tbody tr").count() == 1
    _shot(page, "project", full=False)

    assert not problems, problems  # no script errors, no CSP violations
    context.close()
