"""The IND readiness dossier page of an agent: any project member sees it (HTML and PDF); logged
out redirects to the login; another organization gets 404."""

from __future__ import annotations

import re

import pytest
from web_helpers import PASSWORD, TestClient, World


def _browser(w: World, who: str) -> TestClient:
    """A client that logged in through the login form (like a browser)."""
    client = TestClient(w.app, follow_redirects=False)
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert match, "no CSRF field in the login page"
    response = client.post(
        "/login", data={"email": w.emails[who], "password": PASSWORD, "csrf_token": match.group(1)}
    )
    assert response.status_code == 303, response.text
    return client


def _url(w: World, suffix: str = "", agent: str = "agent") -> str:
    return f"/projects/{w.ids['project_a']}/agents/{w.ids[agent]}/dossier{suffix}"


def test_member_sees_the_dossier_and_the_agent_page_links_it(shared_world: World) -> None:
    w = shared_world
    viewer = _browser(w, "viewer")
    response = viewer.get(_url(w))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "IND readiness dossier" in html
    assert "Readiness summary" in html and "Overall readiness" in html
    assert "Module 3" in html and "Module 4" in html
    assert "<script" not in html
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" in csp.split("style-src", 1)[1].split(";")[0]
    agent_page = viewer.get(f"/projects/{w.ids['project_a']}/agents/{w.ids['agent']}")
    assert _url(w) in agent_page.text and _url(w, ".pdf") in agent_page.text


def test_member_downloads_the_pdf(shared_world: World) -> None:
    w = shared_world
    response = _browser(w, "scientist").get(_url(w, ".pdf"))
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content.startswith(b"%PDF")


@pytest.mark.parametrize("suffix", ["", ".pdf"])
def test_anonymous_is_sent_to_login(shared_world: World, suffix: str) -> None:
    w = shared_world
    response = TestClient(w.app, follow_redirects=False).get(_url(w, suffix))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("suffix", ["", ".pdf"])
def test_other_organization_and_other_project_get_404(shared_world: World, suffix: str) -> None:
    w = shared_world
    assert _browser(w, "scientist_b").get(_url(w, suffix)).status_code == 404
    # an agent of organization B addressed through project A
    assert _browser(w, "admin_a").get(_url(w, suffix, agent="agent_b")).status_code == 404


def test_non_member_of_the_project_is_refused(shared_world: World) -> None:
    w = shared_world
    assert _browser(w, "outsider").get(_url(w)).status_code == 403
