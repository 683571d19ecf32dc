"""Authentication, sessions, CSRF, rate limiting, headers, size limits, upload checks, and that every
route declares its access."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from web_helpers import PASSWORD, Api, AppFactory, TestClient, World, build_world

from nanobridge.store import db
from nanobridge.store.models import Blob, RawFile
from nanobridge.web import api, pages
from nanobridge.web.deps import csrf_protect
from nanobridge.web.security import LoginLimiter, SessionCodec, SessionData, UploadRejected, sniff_upload
from nanobridge.web.settings import SECRET_FILE_NAME, Settings, load_or_create_secret

PUBLIC = {"GET /api/health", "GET /api/auth/csrf", "POST /api/auth/login", "GET /login", "POST /login"}


def _access(dependant: Any) -> list[str]:
    found: list[str] = []
    for sub in dependant.dependencies:
        marker = getattr(sub.call, "nb_access", None)
        if marker is not None:
            found.append(marker)
        else:
            found.extend(_access(sub))
    return found


@pytest.mark.parametrize(
    "route",
    [r for router in (api.router, pages.router) for r in router.routes if isinstance(r, APIRoute)],
    ids=lambda r: f"{sorted(r.methods or ())[0]} {r.path}",
)
def test_every_route_declares_access_and_csrf(route: APIRoute) -> None:
    key = f"{sorted(route.methods or ())[0]} {route.path}"
    markers = _access(route.dependant)
    if key in PUBLIC:
        assert markers == [], key
    else:
        assert len(markers) >= 1, f"{key} declares no access dependency"
        assert markers[0].startswith(("user", "org:", "project:")), markers
    assert any(d.call is csrf_protect for d in route.dependant.dependencies), f"{key} has no CSRF check"


# --- sessions and cookies -----------------------------------------------------------------------------


def test_session_cookie_flags(shared_world: World) -> None:
    world = shared_world
    client = TestClient(world.app)
    response = client.get("/api/auth/csrf")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("nb_session=")
    for flag in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="):
        assert flag in cookie
    assert "Secure" not in cookie


def test_secure_cookies_use_host_prefix_and_hsts(make_app: AppFactory) -> None:
    app, _client = make_app(secure_cookies=True)
    client = TestClient(app, base_url="https://testserver")
    response = client.get("/api/auth/csrf")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-nb_session=") and "Secure" in cookie
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_generated_secret_is_private_and_reused(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    path = tmp_path / SECRET_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    os.chmod(path, 0o644)
    assert load_or_create_secret(tmp_path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Settings(home=tmp_path).resolved_secret() == first
    with pytest.raises(ValueError, match="at least 32"):
        Settings(home=tmp_path, secret_key="short").resolved_secret()


def test_session_codec_rejects_forged_and_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = SessionCodec("k" * 40, lifetime_s=60, secure=False)
    data = SessionData.for_user(7, "stamp")
    value = codec.encode(data)
    assert codec.decode(value) == SessionData(data.sid, data.csrf, 7, "stamp", codec.decode(value).issued_at)  # type: ignore[union-attr]
    assert codec.decode(value[:-2] + "xx") is None
    assert SessionCodec("j" * 40, 60, secure=False).decode(value) is None
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    assert codec.decode(value) is None


def test_login_logout_and_session_revocation(shared_world: World) -> None:
    world = shared_world
    api_client = Api(TestClient(world.app))
    api_client.refresh_csrf()
    anon_token = api_client.csrf
    assert api_client.get("/api/auth/me").status_code == 401
    response = api_client.login("sci@a.org")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == "sci@a.org" and "password_hash" not in str(body)
    assert body["csrf_token"] != anon_token  # rotated at login
    assert (
        api_client.post(
            "/api/projects", json={"name": "x1"}, headers={"X-CSRF-Token": anon_token}
        ).status_code
        == 403
    )
    stolen = dict(api_client.client.cookies)
    assert api_client.post("/api/auth/logout").status_code == 204
    assert api_client.get("/api/auth/me").status_code == 401
    replay = TestClient(world.app, cookies=stolen)
    assert replay.get("/api/auth/me").status_code == 401  # the old cookie was revoked


def test_wrong_password_and_unknown_email_look_the_same(shared_world: World) -> None:
    world = shared_world
    a = Api(TestClient(world.app))
    wrong = a.login("sci@a.org", "not the password")
    a2 = Api(TestClient(world.app))
    unknown = a2.login("nobody@a.org", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_login_needs_csrf_token(shared_world: World) -> None:
    world = shared_world
    client = TestClient(world.app)
    response = client.post("/api/auth/login", json={"email": "sci@a.org", "password": PASSWORD})
    assert response.status_code == 403
    # a cross-site form cannot send the header; text/plain JSON without the token is refused as well
    client.get("/api/auth/csrf")
    response = client.post(
        "/api/auth/login",
        content=b'{"email": "sci@a.org", "password": "correct horse battery"}',
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 403


def test_login_rate_limit_per_account(world: World) -> None:
    a = Api(TestClient(world.app))
    for _ in range(5):
        assert a.login("qa@a.org", "wrong password!").status_code == 401
    blocked = a.login("qa@a.org")  # even the right password is refused now
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    other = Api(TestClient(world.app)).login("viewer@a.org")
    assert other.status_code == 200  # other accounts are not affected (below the IP limit)


def test_login_rate_limit_per_address(make_app: AppFactory) -> None:
    app, client = make_app(login_max_failures_per_ip=3)
    world = build_world(app, client)
    a = Api(TestClient(world.app))
    for email in ("x1@a.org", "x2@a.org", "x3@a.org"):
        assert a.login(email, "wrong password!").status_code == 401
    assert a.login("admin@a.org").status_code == 429


def test_limiter_window_and_success_reset() -> None:
    limiter = LoginLimiter(window_s=0.3, max_per_account=2, max_per_ip=100)
    limiter.failed("a@x", "1.2.3.4")
    limiter.failed("a@x", "1.2.3.4")
    assert limiter.retry_after("A@X ", "1.2.3.4") > 0
    time.sleep(0.35)
    assert limiter.retry_after("a@x", "1.2.3.4") == 0
    limiter.failed("a@x", "1.2.3.4")
    limiter.succeeded("a@x")
    limiter.failed("a@x", "1.2.3.4")
    assert limiter.retry_after("a@x", "1.2.3.4") == 0


def test_password_change_ends_other_sessions(world: World) -> None:
    one = world.fresh("scientist")
    two = world.fresh("scientist")
    response = two.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": "another long password"}
    )
    assert response.status_code == 200, response.text
    assert one.get("/api/auth/me").status_code == 401
    two.csrf = response.json()["csrf_token"]
    assert two.get("/api/auth/me").status_code == 200
    wrong = two.post(
        "/api/auth/password", json={"current_password": "nope nope nope", "new_password": "x" * 12}
    )
    assert wrong.status_code == 403
    entries = (
        world.api("admin_a").get("/api/audit", params={"table_name": "users", "limit": 100}).json()["entries"]
    )
    changed = [e for e in entries if e["action"] == "update" and "password_hash" in (e["new_values"] or {})]
    assert changed and all(e["new_values"]["password_hash"] == "<redacted>" for e in changed)


def test_deactivated_user_is_logged_out(world: World) -> None:
    viewer = world.fresh("viewer")
    admin = world.api("admin_a")
    uid = world.ids["viewer_id"]
    version = admin.get(f"/api/users/{uid}").json()["version"]
    response = admin.patch(
        f"/api/users/{uid}", json={"expected_version": version, "reason": "left", "is_active": False}
    )
    assert response.status_code == 200, response.text
    assert viewer.get("/api/projects").status_code == 401
    assert Api(TestClient(world.app)).login("viewer@a.org").status_code == 401


def test_security_headers(shared_world: World) -> None:
    world = shared_world
    client = world.api("viewer").client
    for url in ("/", "/api/projects", "/login"):
        response = client.get(url)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
    static = client.get("/static/app.js")
    assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"
    plotly = client.get("/static/plotly.min.js", headers={"accept-encoding": "gzip"})
    assert plotly.status_code == 200 and plotly.headers["content-encoding"] == "gzip"
    assert (
        client.get("/static/plotly.min.js", headers={"if-none-match": plotly.headers["etag"]}).status_code
        == 304
    )


def test_no_inline_scripts_in_pages(shared_world: World) -> None:
    world = shared_world
    client = world.api("admin_a").client
    pid, rid = world.ids["project_a"], world.ids["run"]
    for url in ("/", f"/projects/{pid}", f"/projects/{pid}/runs/{rid}", "/audit", "/admin/users"):
        html = client.get(url).text
        for chunk in html.split("<script")[1:]:
            head = chunk.split(">", 1)[0]
            assert "src=" in head or 'type="application/json"' in head, (url, head)
        assert " onclick=" not in html and "javascript:" not in html


def test_public_and_docs_routes(shared_world: World) -> None:
    world = shared_world
    client = TestClient(world.app)
    assert client.get("/api/health").json()["status"] == "ok"
    schema = client.get("/api/openapi.json").json()
    assert "/api/projects/{project_id}/agents" in schema["paths"]
    assert not any(p.startswith("/projects") or p == "/login" for p in schema["paths"])  # pages are not API
    assert "password_hash" not in str(schema)
    assert client.get("/docs").status_code in (303, 404)  # no CDN-based docs UI


# --- body size and uploads ------------------------------------------------------------------------------


def _upload_count(world: World) -> tuple[int, int]:
    with db.session_scope(world.engine, write=False) as s:
        return int(s.scalar(select(func.count()).select_from(RawFile)) or 0), int(
            s.scalar(select(func.count()).select_from(Blob)) or 0
        )


def test_upload_too_large_is_413_before_reading(make_app: AppFactory) -> None:
    app, client = make_app(max_upload_bytes=1000)
    world = build_world(app, client)
    sci = world.api("scientist")
    before = _upload_count(world)
    url = f"/api/projects/{world.ids['project_a']}/files"
    response = sci.post(url, files={"file": ("big.csv", b"a,b\n" + b"1,2\n" * 600, "text/csv")})
    assert response.status_code == 413
    assert "at most 1,000 bytes" in response.json()["detail"]

    def chunks() -> Any:  # no Content-Length: the limit applies while streaming
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        yield b"Content-Type: text/csv\r\n\r\n"
        for _ in range(100):
            yield b"1,2,3,4,5,6,7,8,9\n"
        yield b"\r\n--xyz--\r\n"

    streamed = sci.post(url, content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert streamed.status_code == 413
    assert _upload_count(world) == before
    small = sci.post(url, files={"file": ("small.csv", b"a,b\n1,2\n", "text/csv")})
    assert small.status_code == 201


def test_large_json_body_is_413(shared_world: World) -> None:
    world = shared_world
    sci = world.api("scientist")
    big = {"lot_number": "L-big", "data": {"blob": "x" * (3 * 1024 * 1024)}}
    response = sci.post(f"/api/projects/{world.ids['project_a']}/batches", json=big)
    assert response.status_code == 413


def test_upload_type_is_checked_by_content(shared_world: World) -> None:
    world = shared_world
    sci = world.api("scientist")
    url = f"/api/projects/{world.ids['project_a']}/files"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    assert sci.post(url, files={"file": ("image.png", png, "image/png")}).json()["media_type"] == "image/png"
    mismatch = sci.post(url, files={"file": ("data.csv", png, "text/csv")})
    assert mismatch.status_code == 415 and "PNG" in mismatch.json()["detail"]
    exe = sci.post(url, files={"file": ("tool.csv", b"MZ\x90\x00\x03\x00\x00\x00", "text/csv")})
    assert exe.status_code == 415
    html_as_png = sci.post(url, files={"file": ("x.png", b"<html><script>alert(1)</script>", "image/png")})
    assert html_as_png.status_code == 415


def test_uploads_are_content_addressed(shared_world: World) -> None:
    world = shared_world
    sci = world.api("scientist")
    url = f"/api/projects/{world.ids['project_a']}/files"
    data = b"time_h,value\n0,1\n1,2\n"
    first = sci.post(url, files={"file": ("a.csv", data, "text/csv")}).json()
    before = _upload_count(world)
    second = sci.post(url, files={"file": ("b.csv", data, "text/csv")}).json()
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    assert _upload_count(world) == (before[0] + 1, before[1])  # one more record, no new blob
    content = sci.get(f"{url}/{second['id']}/content")
    assert content.content == data
    assert content.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"%PDF-1.7\n...", "report.pdf", "application/pdf"),
        (b"\x89HDF\r\n\x1a\n\x00", "bd.nc", "application/x-hdf5"),
        (b'{"a": 1}', "x.json", "application/json"),
        (b'{"a": 1}', "x.txt", "text/plain"),
        ("Größe;Intensität\n".encode("latin-1"), "dls.asc", "text/plain"),
        (b"a: 1\n", "spec.yaml", "application/yaml"),
        (b"II*\x00rest", "tem.tif", "image/tiff"),
    ],
)
def test_sniff_upload_accepts(data: bytes, name: str, expected: str) -> None:
    assert sniff_upload(data, name) == expected


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"", "empty.csv"),
        (b"abc", ""),
        (b"\x7fELF\x02\x01\x00\x00", "x.bin"),
        (b"a,b\n", "x.exe"),
        (b"%PDF-1", "a.csv"),
    ],
)
def test_sniff_upload_rejects(data: bytes, name: str) -> None:
    with pytest.raises(UploadRejected):
        sniff_upload(data, name)


# --- pages and authentication --------------------------------------------------------------------------


def test_pages_redirect_to_login(shared_world: World) -> None:
    world = shared_world
    client = TestClient(world.app, follow_redirects=False)
    response = client.get(f"/projects/{world.ids['project_a']}?tab=1")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/projects/{world.ids['project_a']}%3Ftab%3D1"
    htmx = client.get(
        f"/projects/{world.ids['project_a']}/runs/{world.ids['run']}/progress", headers={"HX-Request": "true"}
    )
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/login")


def test_login_page_flow_and_open_redirect(shared_world: World) -> None:
    world = shared_world
    client = TestClient(world.app, follow_redirects=False)
    page = client.get("/login?next=/audit")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    bad = client.post(
        "/login", data={"email": "qa@a.org", "password": "nope", "csrf_token": token, "next": "/"}
    )
    assert bad.status_code == 401 and "Wrong email or password" in bad.text
    ok = client.post(
        "/login",
        data={"email": "qa@a.org", "password": PASSWORD, "csrf_token": token, "next": "//evil.example/x"},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    assert client.get("/login?next=/audit").headers["location"] == "/audit"
    no_token = TestClient(world.app).post("/login", data={"email": "qa@a.org", "password": PASSWORD})
    assert no_token.status_code == 403
