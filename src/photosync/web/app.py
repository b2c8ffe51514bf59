"""The ``photosync web`` application: review conflicts, browse the archive, see its status.

A presentation layer like the CLI: it parses a request, calls the workflow functions
the CLI calls (``resolve.apply_decisions`` writes exactly what ``resolve
--interactive`` writes) and renders the result. It never writes a record itself.

Security (it runs on the user's machine, with their photos): served on 127.0.0.1
only, every request needs the per-run token (in the URL once, then a cookie), a
Host header other than the loopback's is refused (DNS rebinding), every change is a
POST carrying the per-run CSRF token, ids and hashes from a URL are looked up in
the archive and never joined into a path, pages send a strict CSP and no Referer
(the token never leaves for the map's tile server). The writer lock is taken only
while a decision is written, so the CLI keeps working beside it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import (
    Flask,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from photosync.archive.archive import Archive
from photosync.errors import ArchiveLocked, PhotosyncError
from photosync.model import (
    Conflict,
    ConflictType,
    Record,
    display_name,
    needs_decision,
    record_originals,
)
from photosync.redaction import redact_text
from photosync.web.thumbs import SIZES, Thumbnailer
from photosync.workflow import browse
from photosync.workflow.check import check_archive
from photosync.workflow.resolve import (
    CUSTOM_HINTS,
    Decision,
    DecisionReport,
    apply_decisions,
    auto_resolve,
    choices,
    decider,
    format_value,
    like_this,
    seen_as,
    widens,
)
from photosync.workflow.status import status, visibility_audit
from photosync.workflow.verify import last_verify

log = logging.getLogger(__name__)

TOKEN_COOKIE = "photosync_token"
REVIEW_PAGE = 25
MONTH_PAGE = 120
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

#: what the writer runs inside (the CLI passes its run log: one file per locked run)
RunLog = Callable[[Path, str], AbstractContextManager[Any]]


@dataclass
class WebState:
    root: Path
    token: str
    csrf: str
    catalog: browse.Catalog
    thumbs: Thumbnailer
    run_log: RunLog | None = None
    last_check: dict[str, Any] | None = None
    check_lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(root: Path, *, token: str | None = None, run_log: RunLog | None = None) -> Flask:
    """The app for one archive; ``token`` is the per-run secret (random when not given)."""
    root = root.resolve()
    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)  # flashed messages, signed for this run only
    app.config.update(
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    state = WebState(
        root=root,
        token=token or secrets.token_urlsafe(32),
        csrf=secrets.token_urlsafe(32),
        catalog=browse.Catalog(root),
        thumbs=Thumbnailer(root / ".photosync" / "thumbs", root / "blobs"),
        run_log=run_log,
    )
    app.extensions["photosync"] = state
    _guard(app, state)
    _review_routes(app, state)
    _browse_routes(app, state)
    _status_routes(app, state)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"csrf": state.csrf, "format_value": format_value, "archive_root": str(root)}

    return app


def web_state(app: Flask) -> WebState:
    state: WebState = app.extensions["photosync"]
    return state


# the guard -----------------------------------------------------------------------------------------
def _guard(app: Flask, state: WebState) -> None:
    @app.before_request
    def _check() -> BaseResponse | None:
        host = (request.host or "").rsplit(":", 1)[0].strip("[]")
        if host not in LOOPBACK_HOSTS:
            abort(403)
        offered = request.args.get("token")
        if offered is not None and _same(offered, state.token):
            # once: the token moves into a cookie and out of the address bar
            args = {k: v for k, v in request.args.items() if k != "token"}
            target = request.path + (f"?{urlencode(args)}" if args else "")
            response = redirect(target, code=303)
            response.set_cookie(
                TOKEN_COOKIE, state.token, httponly=True, samesite="Strict", path="/"
            )
            return response
        cookie = request.cookies.get(TOKEN_COOKIE, "")
        if not _same(cookie, state.token):
            abort(403)
        if request.method not in ("GET", "HEAD"):
            sent = request.form.get("csrf") or request.headers.get("X-CSRF-Token") or ""
            if not _same(sent, state.csrf):
                abort(403)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: https://tile.openstreetmap.org; connect-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.errorhandler(403)
    def _forbidden(_error: Exception) -> tuple[str, int]:
        return (
            "403: open the address `photosync web` printed (it holds this run's token)",
            403,
        )


def _same(offered: str, secret: str) -> bool:
    """A constant-time comparison that any text offered survives (``compare_digest``
    raises on non-ASCII text: a 500 instead of a 403)."""
    return hmac.compare_digest(offered.encode("utf-8", "surrogatepass"), secret.encode("utf-8"))


def _entry(state: WebState, photo_id: str) -> browse.Entry:
    """The photo a URL names: a well-formed id the archive holds, or 404."""
    entry = browse.entry_for(state.root, photo_id)
    if entry is None:
        abort(404)
    return entry


@contextmanager
def _writing(state: WebState, what: str) -> Iterator[Archive]:
    """The archive locked for one change, as the CLI's ``writing`` does, then let go."""
    archive = Archive(state.root)
    try:
        archive.lock()
        logged = state.run_log(state.root, what) if state.run_log else nullcontext()
        with logged:
            yield archive
    finally:
        archive.close()


def _problem(error: PhotosyncError) -> str:
    text = redact_text(str(error))
    return f"{text} ({redact_text(error.hint)})" if error.hint else text


# review --------------------------------------------------------------------------------------------
@dataclass
class Card:
    record: Record
    conflict: Conflict
    entry: browse.Entry
    answers: list[Any]
    widening: set[str]
    #: for an edit variant: the other record's entry
    other: browse.Entry | None = None
    custom_hint: str | None = None
    #: the conflict as shown (``seen_as``): an answer to another version is refused
    seen: str = ""


Waiting = tuple[browse.Entry, Record, Conflict]


def _waiting(state: WebState, show: str) -> list[Waiting]:
    """Every conflict that waits for a person (``show``: all, open or skipped), photo by
    photo in taken order; each record is read once."""
    found: list[Waiting] = []
    for rel in browse.waiting_files(state.root):
        record = browse.read_record(state.root, rel)
        if record is None:
            continue
        try:
            entry = browse.summarize(record, rel)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        for conflict in record["conflicts"]:
            if needs_decision(conflict) and show in ("all", conflict["status"]):
                found.append((entry, record, conflict))
    return sorted(found, key=lambda w: (w[0].taken, w[0].name, w[0].photo_id, w[2]["id"]))


def _cards(state: WebState, page: list[Waiting]) -> list[Card]:
    """The cards of one page (the other copy of an edit pair looked up for these only)."""
    cards = []
    for entry, record, conflict in page:
        other = None
        if conflict["type"] == ConflictType.EDIT_VARIANT.value:
            other = browse.entry_for(state.root, conflict["id"].split(":", 1)[1])
        answers = choices(conflict)
        cards.append(
            Card(
                record=record,
                conflict=conflict,
                entry=entry,
                answers=answers,
                widening={a.key for a in answers if widens(conflict, a.key)},
                other=other,
                custom_hint=CUSTOM_HINTS.get(str(conflict.get("field"))),
                seen=seen_as(conflict),
            )
        )
    return cards


def _review_routes(app: Flask, state: WebState) -> None:
    @app.get("/")
    def home() -> BaseResponse:
        return redirect(url_for("review"), code=303)

    @app.get("/review")
    def review() -> str:
        show = request.args.get("show", "all")
        if show not in ("all", "open", "skipped"):
            show = "all"
        page = max(1, request.args.get("page", 1, type=int) or 1)
        waiting = _waiting(state, show)
        total = len(waiting)
        shown = _cards(state, waiting[(page - 1) * REVIEW_PAGE : page * REVIEW_PAGE])
        return render_template(
            "review.html",
            cards=shown,
            total=total,
            page=page,
            pages=max(1, -(-total // REVIEW_PAGE)),
            show=show,
            display_name=display_name,
        )

    @app.post("/review/decide")
    def decide() -> Any:
        form = request.form
        photo_id = form.get("photo_id", "")
        conflict_id = form.get("conflict_id", "")
        choice = form.get("choice", "")
        confirmed = form.get("confirm_widening") == "yes"
        entry = browse.entry_for(state.root, photo_id)
        record = None if entry is None else browse.read_record(state.root, entry.rel)
        conflict = None
        if record is not None:
            conflict = next((c for c in record["conflicts"] if c["id"] == conflict_id), None)
        if record is None or conflict is None:
            # joined into another photo or answered elsewhere since the page was shown
            flash(
                f"{photo_id[:8]} {conflict_id}: not written: decided or gone since it was shown",
                "error",
            )
            return redirect(url_for("review"), code=303)
        seen = form.get("seen", "")
        if seen != seen_as(conflict):
            # changed by the CLI or a `git pull` since the page was shown (or no page showed it)
            flash(
                f"{photo_id[:8]} {conflict_id}: not written: changed since it was shown: "
                "look at it again",
                "error",
            )
            return redirect(url_for("review"), code=303)
        value = form.get("value") if choice == "custom" else None
        decisions = [Decision(photo_id, conflict_id, choice, value, seen=seen)]
        unconfirmed = 0
        if form.get("apply_like") == "yes":
            before = form.get("taken_before", "").strip()
            if before and not (before.isdigit() and len(before) == 4):
                flash("'taken before' is a year, like 2020", "error")
                return redirect(url_for("review"), code=303)
            found = _like_this(state, conflict, choice, int(before) if before else None)
            found = [d for d in found if (d.photo_id, d.conflict_id) != (photo_id, conflict_id)]
            if confirmed:
                # exactly the conflicts the confirmation listed, as they were then: a form
                # replayed later never widens a photo that arrived or changed since
                listed = _listed(form.getlist("like"))
                kept = [
                    Decision(d.photo_id, d.conflict_id, d.choice, seen=listed[key])
                    for d in found
                    if (key := (d.photo_id, d.conflict_id)) in listed
                ]
                unconfirmed = len(found) - len(kept)
                found = kept
            decisions += found
        widening = widens(conflict, choice)
        if widening and not confirmed:
            return render_template(
                "confirm.html",
                form=dict(form),
                record=record,
                conflict=conflict,
                count=len(decisions),
                like=[f"{d.photo_id} {d.conflict_id} {d.seen}" for d in decisions[1:]],
                level=next((a.value for a in choices(conflict) if a.key == choice), None),
                display_name=display_name,
            )
        try:
            with _writing(state, "web resolve") as archive:
                report = apply_decisions(
                    archive, decisions, by=decider(), widening_confirmed=confirmed
                )
        except ArchiveLocked as error:
            flash(f"not written: {_problem(error)}; try again in a moment", "error")
            return redirect(url_for("review"), code=303)
        except PhotosyncError as error:
            flash(f"not written: {_problem(error)}", "error")
            return redirect(url_for("review"), code=303)
        _report(report)
        if unconfirmed:
            flash(
                f"{unconfirmed} more conflict(s) like it appeared or changed since you "
                "confirmed: not written; answer them again",
                "error",
            )
        if request.accept_mimetypes.best == "application/json":
            return jsonify(
                decided=[list(d) for d in report.decided],
                refused=[list(r) for r in report.refused],
                commit=report.commit,
            )
        return redirect(url_for("review", show=form.get("show", "all")), code=303)

    @app.post("/review/detect")
    def detect() -> Any:
        try:
            with _writing(state, "web resolve --auto-resolve") as archive:
                report = auto_resolve(archive)
        except PhotosyncError as error:
            flash(f"not run: {_problem(error)}", "error")
            return redirect(url_for("review"), code=303)
        flash(
            f"examined {report.examined}, resolved {report.now_resolved} "
            f"({report.auto_resolved} by automatic rules), {report.needs_decision} need a decision",
            "ok",
        )
        return redirect(url_for("review"), code=303)


def _like_this(
    state: WebState, conflict: Conflict, choice: str, before: int | None
) -> list[Decision]:
    """ "Apply to all conflicts like this": each found conflict with ``seen_as`` as read now."""
    records = [
        r
        for rel in browse.waiting_files(state.root)
        for r in [browse.read_record(state.root, rel)]
        if r is not None
    ]
    now = {(r["photo_id"], c["id"]): seen_as(c) for r in records for c in r["conflicts"]}
    return [
        Decision(
            d.photo_id, d.conflict_id, d.choice, d.value, seen=now[(d.photo_id, d.conflict_id)]
        )
        for d in like_this(records, conflict, choice, taken_before=before)
    ]


def _listed(lines: list[str]) -> dict[tuple[str, str], str]:
    """The "photo conflict seen" lines a confirmation form carries."""
    out = {}
    for line in lines:
        parts = line.split(" ")
        if len(parts) == 3:
            out[(parts[0], parts[1])] = parts[2]
    return out


def _report(report: DecisionReport) -> None:
    if report.decided:
        flash(f"{len(report.decided)} decision(s) recorded and committed", "ok")
    for photo_id, conflict_id, why in report.refused[:10]:
        flash(f"{photo_id[:8]} {conflict_id}: not written: {why}", "error")
    if len(report.refused) > 10:
        flash(f"... and {len(report.refused) - 10} more not written", "error")


# browse --------------------------------------------------------------------------------------------
def _browse_routes(app: Flask, state: WebState) -> None:
    @app.get("/timeline")
    def timeline() -> str:
        months = browse.months(state.root)
        first = months[0] if months else None
        photos = browse.month_entries(state.root, first)[:MONTH_PAGE] if first else []
        return render_template(
            "timeline.html", months=months, month=first, photos=photos, page=1, pages=1
        )

    @app.get("/timeline/<year>/<month>")
    @app.get("/timeline/<year>")
    def timeline_month(year: str, month: str = "") -> str:
        months = browse.months(state.root)
        chosen = next((m for m in months if (m.year, m.month) == (year, month)), None)
        if chosen is None:
            abort(404)  # only a folder the listing found is ever read
        photos = browse.month_entries(state.root, chosen)
        page = max(1, request.args.get("page", 1, type=int) or 1)
        pages = max(1, -(-len(photos) // MONTH_PAGE))
        return render_template(
            "timeline.html",
            months=months,
            month=chosen,
            photos=photos[(page - 1) * MONTH_PAGE : page * MONTH_PAGE],
            page=page,
            pages=pages,
        )

    @app.get("/map")
    def map_page() -> str:
        placed = browse.placed(state.catalog.entries().values())
        points = [
            {
                "id": e.photo_id,
                "lat": e.location[0],
                "lng": e.location[1],
                "name": e.name,
                "taken": e.taken[:10],
                "thumb": url_for("thumb", photo_id=e.photo_id, size="s"),
                "url": url_for("photo", photo_id=e.photo_id),
            }
            for e in placed
            if e.location is not None
        ]
        return render_template("map.html", points=points)

    @app.get("/albums")
    def albums_page() -> str:
        albums = browse.albums(state.catalog.entries().values())
        title = request.args.get("title")
        if title is not None and title not in albums:
            abort(404)
        return render_template("albums.html", albums=albums, title=title)

    @app.get("/search")
    def search_page() -> str:
        query = request.args.get("q", "")
        found = browse.search(state.catalog.entries().values(), query)
        return render_template("search.html", query=query, photos=found[:500], total=len(found))

    @app.get("/photo/<photo_id>")
    def photo(photo_id: str) -> str:
        entry = _entry(state, photo_id)
        record = browse.read_record(state.root, entry.rel)
        if record is None:
            abort(404)
        local = {d for d in record_originals(record) if _local_has(state, d)}
        view = browse.photo_view(state.root, entry, local_has=local)
        if view is None:
            abort(404)
        return render_template("photo.html", entry=entry, view=view, display_name=display_name)

    @app.get("/thumb/<photo_id>/<size>")
    @app.get("/thumb/<photo_id>/<size>/<digest>")
    def thumb(photo_id: str, size: str, digest: str | None = None) -> Response:
        if size not in SIZES:
            abort(404)
        entry = _entry(state, photo_id)
        if digest is not None:
            if not browse.DIGEST.match(digest):
                abort(404)
            record = browse.read_record(state.root, entry.rel)
            if record is None or digest not in record_originals(record):
                abort(404)  # only an original this photo holds
        made = state.thumbs.get(digest or entry.digest, size, kind=entry.kind, label=entry.name)
        response = send_file(made.path, mimetype="image/jpeg", max_age=3600)
        response.headers["X-Thumb-Kind"] = made.kind
        return response


def _local_has(state: WebState, digest: str) -> bool:
    return (state.root / "blobs" / "sha256" / digest[:2] / digest).is_file()


# status --------------------------------------------------------------------------------------------
def _status_routes(app: Flask, state: WebState) -> None:
    @app.get("/status")
    def status_page() -> str:
        archive = Archive(state.root)
        try:
            archive.ensure_index()
            summary = status(archive)
            findings = visibility_audit(archive)
            verified = last_verify(archive)
        except PhotosyncError as error:
            return render_template("status.html", error=_problem(error))
        finally:
            archive.close()
        return render_template(
            "status.html",
            error=None,
            summary=summary.to_json(),
            findings=[f.to_json() for f in findings],
            verified=verified,
            checked=state.last_check,
        )

    @app.post("/status/check")
    def run_check() -> Any:
        if not state.check_lock.acquire(blocking=False):
            flash("a check is running already", "error")
            return redirect(url_for("status_page"), code=303)
        try:
            archive = Archive(state.root)
            try:
                report = check_archive(archive)
            finally:
                archive.close()
            state.last_check = {
                "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                **report.to_json(),
            }
        finally:
            state.check_lock.release()
        return redirect(url_for("status_page"), code=303)
