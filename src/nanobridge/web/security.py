"""Sessions, CSRF protection, login rate limiting, security headers, request size limits and
upload type checks.

**Sessions.** A session is a cookie holding a payload signed (HMAC-SHA1 via ``itsdangerous``,
with a timestamp) with the server's secret key: a random session id, the user id (none before
login), the CSRF token and the user's ``password_changed_at`` stamp. The cookie is ``HttpOnly``,
``SameSite=Lax``, ``Path=/`` and, with ``secure_cookies``, ``Secure`` under the ``__Host-``
prefix. A session ends when its lifetime has passed, on logout (the session id is revoked in this
process), when the user's password changes (the stamp no longer matches) or when the user is
deactivated (checked on every request).

**CSRF.** Synchronizer token: each session has a random token. Every request with a
state-changing method (POST, PUT, PATCH, DELETE) must carry it, in the ``X-CSRF-Token`` header
(JSON API, htmx) or the ``csrf_token`` form field (HTML forms), else 403. This holds for the JSON
API too, so a cross-site form posting ``text/plain`` JSON cannot act with the victim's cookie.
Login is protected as well: the login form gets an anonymous session and its token first.

**Login rate limiting** (:class:`LoginLimiter`): in-process, sliding window; after
``max_per_account`` failed logins for one email or ``max_per_ip`` for one client address within
the window, further attempts get 429 with ``Retry-After`` until the oldest failure leaves the
window. Counters live in the process: with several worker processes each counts on its own.
Behind a reverse proxy, run uvicorn with ``--proxy-headers --forwarded-allow-ips=<proxy>`` so the
client address is the real one.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = [
    "CSRF_FORM_FIELD",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "BodySizeLimitMiddleware",
    "LoginLimiter",
    "SecurityHeadersMiddleware",
    "SessionCodec",
    "SessionData",
    "SessionMiddleware",
    "UploadRejected",
    "check_csrf_token",
    "sniff_upload",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_HEADER = "x-csrf-token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Key of the session in the ASGI scope.
SCOPE_KEY = "nanobridge.session"
_NEW_KEY = "nanobridge.session_new"


@dataclass
class SessionData:
    """What a session cookie carries."""

    sid: str
    csrf: str
    uid: int | None = None
    pwd: str | None = None
    issued_at: float = field(default_factory=time.time)

    @classmethod
    def anonymous(cls) -> SessionData:
        """A new session without a user (login forms, API clients before login)."""
        return cls(sid=secrets.token_urlsafe(18), csrf=secrets.token_urlsafe(32))

    @classmethod
    def for_user(cls, user_id: int, password_stamp: str | None) -> SessionData:
        """A new session (new id and token: no session fixation) for a logged-in user."""
        return cls(
            sid=secrets.token_urlsafe(18), csrf=secrets.token_urlsafe(32), uid=user_id, pwd=password_stamp
        )


class SessionCodec:
    """Signs and verifies session cookies; remembers revoked session ids of this process."""

    def __init__(self, secret: str, lifetime_s: int, *, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="nanobridge.session.v1")
        self.lifetime_s = int(lifetime_s)
        self.secure = secure
        self.cookie_name = "__Host-nb_session" if secure else "nb_session"
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    def encode(self, data: SessionData) -> str:
        """The signed cookie value of ``data``."""
        return str(self._serializer.dumps([data.sid, data.csrf, data.uid, data.pwd]))

    def decode(self, value: str) -> SessionData | None:
        """The session of a cookie value, or ``None`` if it is forged, expired or revoked."""
        try:
            payload, signed_at = self._serializer.loads(value, max_age=self.lifetime_s, return_timestamp=True)
        except (BadSignature, ValueError, TypeError):
            return None
        if not (isinstance(payload, list) and len(payload) == 4):
            return None
        sid, csrf, uid, pwd = payload
        if not isinstance(sid, str) or not isinstance(csrf, str) or not (uid is None or isinstance(uid, int)):
            return None
        with self._lock:
            if sid in self._revoked:
                return None
        return SessionData(sid=sid, csrf=csrf, uid=uid, pwd=pwd, issued_at=signed_at.timestamp())

    def revoke(self, data: SessionData) -> None:
        """Refuse this session id from now on (logout); forgotten once it would have expired."""
        now = time.time()
        with self._lock:
            self._revoked[data.sid] = data.issued_at + self.lifetime_s
            for sid, until in list(self._revoked.items()):
                if until < now:
                    del self._revoked[sid]

    def set_cookie_header(self, data: SessionData | None) -> bytes:
        """A ``Set-Cookie`` header value setting (or, for ``None``, clearing) the session cookie."""
        parts = [
            f"{self.cookie_name}={self.encode(data) if data else ''}",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
        ]
        parts.append(f"Max-Age={self.lifetime_s if data else 0}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for item in value.decode("latin-1").split(";"):
                k, _, v = item.strip().partition("=")
                if k == name:
                    return v
    return None


def current_session(scope: Scope) -> SessionData | None:
    """The request's session (set by :class:`SessionMiddleware`)."""
    return scope.get(SCOPE_KEY)


def replace_session(scope: Scope, data: SessionData | None) -> None:
    """Make the response set the cookie to ``data`` (``None`` clears it)."""
    scope[SCOPE_KEY] = data
    scope[_NEW_KEY] = True


class SessionMiddleware:
    """Decodes the session cookie into the scope; gives safe requests without a valid session a
    new anonymous one (so forms have a CSRF token); writes the cookie when a handler replaced it."""

    def __init__(self, app: ASGIApp, codec: SessionCodec) -> None:
        self.app = app
        self.codec = codec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = _cookie(scope, self.codec.cookie_name)
        data = self.codec.decode(raw) if raw else None
        scope[SCOPE_KEY] = data
        scope[_NEW_KEY] = False
        path: str = scope.get("path", "")
        if data is None and scope.get("method") in SAFE_METHODS and not path.startswith("/static/"):
            replace_session(scope, SessionData.anonymous())

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get(_NEW_KEY):
                headers = list(message.get("headers", []))
                headers.append((b"set-cookie", self.codec.set_cookie_header(scope.get(SCOPE_KEY))))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def check_csrf_token(session: SessionData | None, token: str | None) -> bool:
    """True when ``token`` is the session's CSRF token (constant-time comparison)."""
    if session is None or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), token.encode("utf-8", "replace"))


# --- security headers -------------------------------------------------------------------------------

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)


class SecurityHeadersMiddleware:
    """Adds CSP (no inline scripts; plotly needs inline styles), nosniff, frame denial, referrer
    policy, and ``Cache-Control: no-store`` on everything but static files; HSTS when secure."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- request size limits ------------------------------------------------------------------------------


def _json_response(status: int, detail: str) -> tuple[Message, Message]:
    body = json.dumps({"detail": detail}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a streamed body passes the limit."""


class BodySizeLimitMiddleware:
    """413 for bodies over the limit: at once from ``Content-Length``, else while streaming.

    Upload routes (``upload_path`` predicate) may send ``max_upload_bytes``, every other request
    ``max_body_bytes``. A chunked body that grows past the limit makes the app's next read fail
    (:class:`BodyTooLarge`), so no handler runs on a truncated body, and the response is the 413.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        upload_path: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_path = upload_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = self.max_upload_bytes if self.upload_path(path) else self.max_body_bytes
        what = "upload" if self.upload_path(path) else "request body"
        detail = f"{what} too large: at most {limit:,} bytes ({limit / 1048576:.3g} MiB) are accepted"
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    start, body = _json_response(413, detail)
                    await send(start)
                    await send(body)
                    return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge(detail)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(detail)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                if not started and message["type"] == "http.response.start":
                    started = True
                    start, body = _json_response(413, detail)
                    await send(start)
                    await send(body)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                start, body = _json_response(413, detail)
                await send(start)
                await send(body)


# --- login rate limiting ---------------------------------------------------------------------------


class LoginLimiter:
    """Failed-login counters per account and per client address (sliding window, in-process)."""

    def __init__(self, *, window_s: float, max_per_account: int, max_per_ip: int) -> None:
        self.window_s = window_s
        self.max_per_account = max_per_account
        self.max_per_ip = max_per_ip
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, account: str, ip: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, limit in (
                (f"a:{account.strip().lower()}", self.max_per_account),
                (f"i:{ip}", self.max_per_ip),
            ):
                times = self._prune(key, now)
                if len(times) >= limit:
                    wait = max(wait, times[len(times) - limit] + self.window_s - now)
                if not times:
                    self._failures.pop(key, None)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, account: str, ip: str) -> None:
        """Count a failed attempt for the account and the address."""
        now = time.monotonic()
        with self._lock:
            for key in (f"a:{account.strip().lower()}", f"i:{ip}"):
                self._prune(key, now).append(now)

    def succeeded(self, account: str) -> None:
        """Forget the account's failures after a successful login."""
        with self._lock:
            self._failures.pop(f"a:{account.strip().lower()}", None)


# --- upload type checks ---------------------------------------------------------------------------------


class UploadRejected(ValueError):
    """An upload whose content is not an allowed type or does not match its file name."""


#: Allowed kinds: media type and the file name endings that may carry it.
UPLOAD_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "png": ("image/png", (".png",)),
    "jpeg": ("image/jpeg", (".jpg", ".jpeg")),
    "tiff": ("image/tiff", (".tif", ".tiff")),
    "pdf": ("application/pdf", (".pdf",)),
    "hdf5": ("application/x-hdf5", (".nc", ".h5", ".hdf5", ".nc4")),
    "netcdf3": ("application/x-netcdf", (".nc", ".cdf")),
    "json": ("application/json", (".json",)),
    "text": ("text/plain", (".txt", ".csv", ".tsv", ".asc", ".dat", ".yaml", ".yml", ".log")),
}
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"%PDF-", "pdf"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"CDF\x01", "netcdf3"),
    (b"CDF\x02", "netcdf3"),
)


def _text_kind(data: bytes) -> str | None:
    sample = data[:65536]
    if b"\x00" in sample:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text[:65536])
        if printable < 0.95 * min(len(text), 65536):
            return None
    if text.lstrip()[:1] in ("{", "["):
        try:
            json.loads(text)
            return "json"
        except ValueError:
            pass
    return "text"


def sniff_upload(data: bytes, filename: str) -> str:
    """The media type of an upload, decided by its content; raises :class:`UploadRejected` when
    the content is not an allowed type or the file name's ending belongs to another type."""
    name = (filename or "").strip()
    if not name:
        raise UploadRejected("file name: missing -> give the file's name (e.g. dls_lot7.csv)")
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if not data:
        raise UploadRejected(f"{name}: the file is empty")
    kind = next((k for magic, k in _MAGIC if data.startswith(magic)), None) or _text_kind(data)
    allowed = ", ".join(sorted({s for _, (_, suffixes) in UPLOAD_TYPES.items() for s in suffixes}))
    if kind is None:
        raise UploadRejected(
            f"{name}: the content is not an allowed file type -> PNG, JPEG, TIFF, PDF, NetCDF/HDF5, JSON "
            f"or text (CSV, TXT, ASC, YAML); allowed endings: {allowed}"
        )
    media_type, suffixes = UPLOAD_TYPES[kind]
    if kind == "json" and suffix in UPLOAD_TYPES["text"][1]:
        kind, (media_type, suffixes) = "text", UPLOAD_TYPES["text"]
    if suffix not in suffixes:
        raise UploadRejected(
            f"{name}: the content is {kind.upper()} ({media_type}) but the name ends in "
            f"{suffix or '(nothing)'} -> use one of {', '.join(suffixes)}"
        )
    if kind == "text":
        media_type = {
            ".csv": "text/csv",
            ".tsv": "text/tab-separated-values",
            ".yaml": "application/yaml",
            ".yml": "application/yaml",
        }.get(suffix, "text/plain")
    return media_type
