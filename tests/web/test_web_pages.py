"""Every page: renders for an allowed user, redirects when logged out, 403 for a forbidden role,
404 for another organization; every form needs its CSRF token; the agent editor shows problems
inline; the run page polls its progress; the batch page releases with a signature."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from web_helpers import PASSWORD, Api, TestClient, World, agent_spec

from nanobridge.web import pages

P = "/projects/{pid}"
# (path, allowed user, forbidden user or None, page-specific text)
GET_PAGES: list[tuple[str, str, str | None, str]] = [
    ("/", "viewer", None, "Projects"),
    (P, "viewer", "outsider", "Simulation runs"),
    (P + "/agents/new", "scientist", "viewer", "Create agent"),
    (P + "/agents/{agent}", "viewer", "outsider", "Current specification"),
    (P + "/runs/{run}", "viewer", "outsider", "Simulation run #"),
    (P + "/runs/{run}/progress", "viewer", "outsider", "progressbar"),
    (P + "/batches", "viewer", "outsider", "in total"),
    (P + "/batches/{batch}", "viewer", "outsider", "Measurements"),
    ("/audit", "viewer", None, "Audit trail"),
    ("/admin/users", "admin_a", "scientist", "New user"),
    ("/account", "viewer", None, "Change your password"),
]


def _url(w: World, path: str) -> str:
    return path.format(pid=w.ids["project_a"], **w.ids)


def _csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def _browser(w: World, who: str) -> TestClient:
    """A client that logged in through the login form (like a browser)."""
    client = TestClient(w.app, follow_redirects=False)
    token = _csrf_of(client.get("/login").text)
    response = client.post("/login", data={"email": w.emails[who], "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.text
    return client


_browsers: dict[tuple[int, str], TestClient] = {}


def browser(w: World, who: str) -> TestClient:
    key = (id(w), who)
    if key not in _browsers:
        _browsers[key] = _browser(w, who)
    return _browsers[key]


@pytest.mark.parametrize(("path", "who", "denied", "text"), GET_PAGES, ids=[p[0] for p in GET_PAGES])
def test_get_pages(shared_world: World, path: str, who: str, denied: str | None, text: str) -> None:
    w = shared_world
    url = _url(w, path)
    response = browser(w, who).get(url)
    assert response.status_code == 200, response.text
    assert text in response.text
    assert "$argon2" not in response.text
    anonymous = TestClient(w.app, follow_redirects=False).get(url)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    if denied is not None:
        forbidden = browser(w, denied).get(url)
        assert forbidden.status_code == 403, forbidden.text
        assert "Not allowed" in forbidden.text
    if "{pid}" in path:
        other = browser(w, "scientist_b").get(url)
        assert other.status_code == 404
    if "{" in path.replace("{pid}", ""):
        swapped = path.replace("{agent}", "{agent_b}").replace("{batch}", "{batch_b}")
        if swapped != path:
            assert browser(w, "admin_a").get(_url(w, swapped)).status_code == 404


# (path, allowed user, form data, expected redirect prefix)
def _post_forms(w: World) -> list[tuple[str, str, dict[str, Any], str]]:
    n = len(w.ids) + int(w.ids["run"]) * 1000
    return [
        ("/projects", "scientist", {"name": f"Page project {n}"}, "/projects/"),
        (P + "/members", "admin_a", {"user_id": w.ids["spare_id"], "role": "viewer"}, "/projects/"),
        (P + "/agents", "scientist", {"spec_text": "name: Page agent\n" + _yaml_tail()}, "/projects/"),
        (
            P + "/agents/{agent}/sign",
            "scientist",
            {"meaning": "reviewed", "password": PASSWORD},
            "/projects/",
        ),
        (
            P + "/runs",
            "scientist",
            {"agent_id": w.ids["agent"], "species": "mouse", "duration_h": "24"},
            "/projects/",
        ),
        (P + "/batches", "scientist", {"lot_number": f"PAGE-LOT-{n}"}, "/projects/"),
        (
            P + "/batches/{batch}/measurements",
            "scientist",
            {"kind": "pdi", "value": "0.12", "unit": ""},
            "/projects/",
        ),
        (
            P + "/batches/{batch}/decisions",
            "qa",
            {"outcome": "hold", "rationale": "wait", "password": PASSWORD},
            "/projects/",
        ),
        (
            "/admin/users",
            "admin_a",
            {"email": f"page{n}@a.org", "name": "Page User", "password": PASSWORD, "role": "viewer"},
            "/admin/users",
        ),
    ]


def _yaml_tail() -> str:
    import yaml

    spec = agent_spec()
    spec.pop("name")
    text: str = yaml.safe_dump(spec, sort_keys=False)
    return text


def test_post_forms(shared_world: World) -> None:
    w = shared_world
    for path, who, data, target in _post_forms(w):
        url = _url(w, path)
        client = browser(w, who)
        token = _csrf_of(client.get("/").text)
        missing = client.post(url, data=data)
        assert missing.status_code == 403, (url, missing.text)
        response = client.post(url, data={**data, "csrf_token": token})
        assert response.status_code == 303, (url, response.text)
        assert response.headers["location"].startswith(target)
        anonymous = TestClient(w.app, follow_redirects=False)
        anon_token = _csrf_of(anonymous.get("/login").text)
        assert anonymous.post(url, data={**data, "csrf_token": anon_token}).status_code == 303  # to login


def test_every_page_route_is_tested(shared_world: World) -> None:
    tested = {p for p, *_ in GET_PAGES} | {p for p, *_ in _post_forms(shared_world)}
    tested |= {
        "/login",
        "/logout",
        P + "/agents/{agent}/dossier",  # tests/web/test_web_dossier.py
        P + "/agents/{agent}/dossier.pdf",
        P + "/agents/validate",
        P + "/agents/{agent}/versions",
        P + "/batches/{batch}/measurements/upload",
        "/admin/users/{user}",
        "/account/password",
    }
    shape = {re.sub(r"\{[^}]+\}", "{}", p) for p in tested}
    routes = {re.sub(r"\{[^}]+\}", "{}", r.path) for r in pages.router.routes if isinstance(r, APIRoute)}
    assert routes <= shape, sorted(routes - shape)


def test_forbidden_forms(shared_world: World) -> None:
    w = shared_world
    viewer = browser(w, "viewer")
    token = _csrf_of(viewer.get("/").text)
    pid = w.ids["project_a"]
    for url, data in (
        (f"/projects/{pid}/agents", {"spec_text": "name: x"}),
        (f"/projects/{pid}/batches", {"lot_number": "V-1"}),
        (
            f"/projects/{pid}/batches/{w.ids['batch']}/decisions",
            {"outcome": "release", "rationale": "x", "password": PASSWORD},
        ),
        ("/admin/users", {"email": "v@a.org", "name": "V", "password": PASSWORD}),
        ("/projects", {"name": "viewer project"}),
    ):
        assert viewer.post(url, data={**data, "csrf_token": token}).status_code == 403, url


def test_agent_editor_shows_problems_inline(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    sci = browser(w, "scientist")
    page = sci.get(f"/projects/{pid}/agents/new?example=gold_peg_100nm")
    assert "gold" in page.text.lower() and 'hx-post="/projects/' in page.text
    token = _csrf_of(page.text)
    bad = "name: bad\ncore_material: unobtainium\ncore_diameter_nm: -5\n"
    fragment = sci.post(
        f"/projects/{pid}/agents/validate",
        data={"spec_text": bad},
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert fragment.status_code == 200
    assert (
        "core_material" in fragment.text
        and "core_diameter_nm" in fragment.text
        and "<html" not in fragment.text
    )
    good = sci.post(
        f"/projects/{pid}/agents/validate",
        data={"spec_text": "name: ok\n" + _yaml_tail()},
        headers={"X-CSRF-Token": token},
    )
    assert "Valid:" in good.text
    created = sci.post(f"/projects/{pid}/agents", data={"spec_text": bad, "csrf_token": token})
    assert created.status_code == 422
    assert "core_diameter_nm" in created.text and "unobtainium" in created.text  # the text is kept
    malformed = sci.post(
        f"/projects/{pid}/agents", data={"spec_text": "name: [unclosed", "csrf_token": token}
    )
    assert malformed.status_code == 422 and "malformed YAML" in malformed.text
    bomb = "a: &x [1, 2]\nb: *x\n"
    refused = sci.post(f"/projects/{pid}/agents", data={"spec_text": bomb, "csrf_token": token})
    assert refused.status_code == 422 and "aliases" in refused.text


def test_new_version_from_the_agent_page(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    sci = browser(w, "scientist")
    created = sci.post(
        f"/projects/{pid}/agents",
        data={"spec_text": "name: Versioned\n" + _yaml_tail(), "csrf_token": _csrf_of(sci.get("/").text)},
    )
    url = created.headers["location"]
    page = sci.get(url).text
    token = _csrf_of(page)
    version = re.search(r'name="expected_version" value="(\d+)"', page)
    assert version is not None
    bad = sci.post(
        url + "/versions",
        data={
            "spec_text": "name: Versioned\nshape: cube\n",
            "reason": "try",
            "expected_version": version.group(1),
            "csrf_token": token,
        },
    )
    assert bad.status_code == 422 and "shape" in bad.text
    good = sci.post(
        url + "/versions",
        data={
            "spec_text": "name: Versioned\n"
            + _yaml_tail().replace("zeta_potential_mV: -2.0", "zeta_potential_mV: -5.0"),
            "reason": "new zeta",
            "expected_version": version.group(1),
            "csrf_token": token,
        },
    )
    assert good.status_code == 303, good.text
    assert "version 2 of 2" in sci.get(url).text
    wrong = sci.post(url + "/sign", data={"meaning": "authored", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 403 and "Wrong password" in wrong.text


def test_run_page_progress_and_figures(shared_world: World) -> None:
    w = shared_world
    pid, rid = w.ids["project_a"], w.ids["run"]
    viewer = browser(w, "viewer")
    page = viewer.get(f"/projects/{pid}/runs/{rid}").text
    assert 'class="nb-figure"' in page and "/static/plotly.min.js" in page and "DE24" in page
    fragment = viewer.get(f"/projects/{pid}/runs/{rid}/progress")
    assert fragment.headers.get("hx-refresh") == "true" and "100 %" in fragment.text
    sci = browser(w, "scientist")
    token = _csrf_of(sci.get("/").text)
    started = sci.post(
        f"/projects/{pid}/runs", data={"agent_id": w.ids["agent"], "duration_h": "12", "csrf_token": token}
    )
    new_id = int(started.headers["location"].rsplit("/", 1)[1])
    first = sci.get(f"/projects/{pid}/runs/{new_id}/progress")
    assert first.status_code == 200 and "progressbar" in first.text
    w.wait_run(new_id)
    assert sci.get(f"/projects/{pid}/runs/{new_id}/progress").headers.get("hx-refresh") == "true"
    bad = sci.post(
        f"/projects/{pid}/runs", data={"agent_id": w.ids["agent"], "duration_h": "lots", "csrf_token": token}
    )
    assert bad.status_code == 422


def test_batch_release_page(shared_world: World) -> None:
    w = shared_world
    pid = w.ids["project_a"]
    sci = browser(w, "scientist")
    token = _csrf_of(sci.get("/").text)
    lots = []
    for i, value in enumerate((6.1, 6.4, 6.2, 6.3)):
        r = sci.post(f"/projects/{pid}/batches", data={"lot_number": f"QC-{i}", "csrf_token": token})
        bid = int(r.headers["location"].rsplit("/", 1)[1])
        lots.append(bid)
        sci.post(
            f"/projects/{pid}/batches/{bid}/measurements",
            data={"kind": "z_avg", "value": str(value), "unit": "nm", "csrf_token": token},
        )
    last = lots[-1]
    upload = sci.post(
        f"/projects/{pid}/batches/{last}/measurements/upload",
        data={"kind": "dls_raw", "csrf_token": token},
        files={"file": ("dls.csv", b"d_nm,i\n6,1\n", "text/csv")},
    )
    assert upload.status_code == 303
    rejected = sci.post(
        f"/projects/{pid}/batches/{last}/measurements/upload",
        data={"kind": "dls_raw", "csrf_token": token},
        files={"file": ("dls.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "text/csv")},
    )
    assert rejected.status_code == 415
    viewer_page = browser(w, "viewer").get(f"/projects/{pid}/batches/{last}").text
    assert "qc-0" in viewer_page and "release-form" not in viewer_page and "dls.csv" in viewer_page
    qa = browser(w, "qa")
    page = qa.get(f"/projects/{pid}/batches/{last}").text
    assert "release-form" in page
    qa_token = _csrf_of(page)
    version = re.search(r'name="expected_batch_version" value="(\d+)"', page)
    assert version is not None
    wrong = qa.post(
        f"/projects/{pid}/batches/{last}/decisions",
        data={
            "outcome": "release",
            "rationale": "in spec",
            "password": "wrong!",
            "expected_batch_version": version.group(1),
            "csrf_token": qa_token,
        },
    )
    assert wrong.status_code == 403 and "password check failed" in wrong.text
    ok = qa.post(
        f"/projects/{pid}/batches/{last}/decisions",
        data={
            "outcome": "release",
            "rationale": "in spec",
            "password": PASSWORD,
            "expected_batch_version": version.group(1),
            "csrf_token": qa_token,
        },
    )
    assert ok.status_code == 303
    after = qa.get(f"/projects/{pid}/batches/{last}").text
    assert 'id="batch-status">released' in after and "verified" in after
    audit = qa.get(f"/audit?table_name=qc_decisions&project_id={pid}").text
    assert "sign" in audit and "qc_decisions" in audit


def test_audit_page_paging_and_filter(shared_world: World) -> None:
    w = shared_world
    admin = browser(w, "admin_a")
    for i in range(55):  # more than one page of entries
        w.api("scientist").post(
            f"/api/projects/{w.ids['project_a']}/batches", json={"lot_number": f"AUD-{i}"}
        )
    page = admin.get("/audit").text
    older = re.search(r'href="(/audit\?before_seq=\d+)"', page.replace("&amp;", "&"))
    assert older is not None
    assert admin.get(older.group(1)).status_code == 200
    batch = admin.get(f"/audit?table_name=batches&record_id={w.ids['batch']}").text
    records = re.findall(r'record_id=\d+">(\w+) (\d+)</a>', batch)
    assert records and set(records) == {("batches", str(w.ids["batch"]))}


def test_user_admin_page(shared_world: World) -> None:
    w = shared_world
    admin = browser(w, "admin_a")
    page = admin.get("/admin/users").text
    token = _csrf_of(page)
    uid = w.ids["spare_id"]
    form = re.search(rf'action="/admin/users/{uid}".*?name="expected_version" value="(\d+)"', page, re.S)
    assert form is not None
    response = admin.post(
        f"/admin/users/{uid}",
        data={
            "role": "scientist",
            "expected_version": form.group(1),
            "reason": "promoted",
            "is_active": "on",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    api = Api(TestClient(w.app))
    api.client.cookies = admin.cookies
    assert api.get(f"/api/users/{uid}").json()["role"] == "scientist"
    stale = admin.post(
        f"/admin/users/{uid}",
        data={"role": "viewer", "expected_version": form.group(1), "reason": "again", "csrf_token": token},
    )
    assert stale.status_code == 409 and "Conflict" in stale.text


def test_logout_form(shared_world: World) -> None:
    w = shared_world
    client = _browser(w, "viewer")
    token = _csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf_token": token}).headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_change_own_password_page(world: World) -> None:
    one = _browser(world, "scientist")
    two = _browser(world, "scientist")
    token = _csrf_of(one.get("/account").text)
    url = "/account/password"
    differ = one.post(
        url,
        data={
            "current_password": PASSWORD,
            "new_password": "a new long password",
            "repeat_password": "another one",
            "csrf_token": token,
        },
    )
    assert differ.status_code == 422 and "differ" in differ.text
    wrong = one.post(
        url,
        data={
            "current_password": "not it at all",
            "new_password": "a new long password",
            "repeat_password": "a new long password",
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 403
    short = one.post(
        url,
        data={
            "current_password": PASSWORD,
            "new_password": "short",
            "repeat_password": "short",
            "csrf_token": token,
        },
    )
    assert short.status_code == 422 and "at least 10" in short.text
    ok = one.post(
        url,
        data={
            "current_password": PASSWORD,
            "new_password": "a new long password",
            "repeat_password": "a new long password",
            "csrf_token": token,
        },
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/account?changed=true"
    assert "password was changed" in one.get("/account?changed=true").text  # this session goes on
    assert two.get("/").status_code == 303  # the other session ended
