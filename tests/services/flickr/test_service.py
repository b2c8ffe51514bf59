"""FlickrService against the emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from typing import Any

import pytest

from photosync.emulators.base import FaultPlan
from photosync.emulators.flickr import FlickrEmulator, FlickrState, make_jpeg, make_mp4
from photosync.errors import AuthError, ConfigError, ItemUnavailable, ServiceError
from photosync.model import Visibility, new_record
from photosync.services.base import ListingReport, RemoteItem
from photosync.services.flickr.client import FlickrClient
from photosync.services.flickr.service import FlickrService

from .conftest import FakeClock, ServiceFactory

pytestmark = pytest.mark.timeout(120)


def listing(
    service: FlickrService, cursor: str | None = None
) -> tuple[list[RemoteItem], ListingReport]:
    report = ListingReport()
    return list(service.list_items(since=None, cursor=cursor, report=report)), report


def record_for(data: bytes, *, kind: str = "photo", **metadata: Any) -> dict[str, Any]:
    record = new_record(
        content_hash="sha256:" + hashlib.sha256(data).hexdigest(),
        size=len(data),
        media={"kind": kind, "mime_type": "video/mp4" if kind == "video" else "image/jpeg"},
        canonical_source="local:x",
        source_of_truth_path=None,
    )
    record["metadata"].update(metadata)
    return record


def test_a_wrongly_signed_request_is_rejected(emulator: FlickrEmulator, state: FlickrState) -> None:
    token, secret = state.issue_access_token("read")
    client = FlickrClient(
        state.api_key, "not-the-secret", token, secret, endpoints=_endpoints(emulator)
    )
    with pytest.raises(AuthError) as caught:
        client.call("flickr.test.login")
    assert "oauth_problem=signature_invalid" in str(caught.value)
    assert "not-the-secret" not in str(caught.value) and secret not in str(caught.value)
    assert state.calls["oauth_rejected"] == 1  # permanent: not retried


def _endpoints(emulator: FlickrEmulator) -> Any:
    from photosync.services.flickr.client import FlickrEndpoints

    return FlickrEndpoints.from_settings(emulator.endpoints())


def test_2000_photos_are_listed_in_exactly_4_calls(
    make_service: ServiceFactory, state: FlickrState
) -> None:
    state.seed(2000)
    items, report = listing(make_service(target=False))
    assert state.calls["flickr.people.getPhotos"] == 4
    assert sorted(i.instance_id for i in items) == sorted(state.photos)
    assert report.warnings == []
    assert report.next_cursor == str(max(p.lastupdate for p in state.photos.values()))
    by_id = {i.instance_id: i for i in items}
    for photo in state.photos.values():
        item = by_id[photo.id]
        assert item.version == f"{photo.lastupdate}:{photo.originalsecret}"
        assert item.media_type == photo.media
        raw = item.visibility.raw if item.visibility else None
        assert raw == dict(zip(("is_public", "is_friend", "is_family"), photo.privacy, strict=True))


def test_recently_updated_after_10_changes_returns_just_those(
    make_service: ServiceFactory, state: FlickrState
) -> None:
    state.seed(300)
    service = make_service(target=False)
    full, report = listing(service)
    versions = {i.instance_id: i.version for i in full}
    changed = sorted(state.photos)[::30][:10]
    for n, photo_id in enumerate(changed):
        state.touch(photo_id, title=f"changed {n}")
    items, incremental = listing(service, cursor=report.next_cursor)
    assert state.calls["flickr.photos.recentlyUpdated"] == 1
    # the safety margin may re-list the one photo updated right at the cursor, unchanged
    new_versions = {i.instance_id for i in items if versions[i.instance_id] != i.version}
    assert sorted(new_versions) == sorted(changed)
    assert len(items) <= 11
    assert {i.observed.title for i in items if i.instance_id in changed} == {
        f"changed {n}" for n in range(10)
    }
    assert int(incremental.next_cursor or 0) >= max(state.photos[p].lastupdate for p in changed)
    # nothing changed since: the next incremental run is empty
    again, _ = listing(service, cursor=incremental.next_cursor)
    assert {i.instance_id for i in again} <= {i.instance_id for i in items}
    assert all(
        i.version == next(j.version for j in items if j.instance_id == i.instance_id) for i in again
    )


def test_replacing_a_photo_changes_its_version(
    make_service: ServiceFactory, state: FlickrState
) -> None:
    state.seed(5)
    service = make_service(target=False)
    before = {i.instance_id: i.version for i in listing(service)[0]}
    victim = sorted(state.photos)[2]
    state.touch(victim, originalsecret="feedbeef00", data=make_jpeg(999, "2020-01-01 00:00:00"))
    after = {i.instance_id: i.version for i in listing(service)[0]}
    assert [k for k in before if before[k] != after[k]] == [victim]


@pytest.mark.parametrize(
    ("level", "triple"),
    [
        (Visibility.PRIVATE, (0, 0, 0)),
        (Visibility.FRIENDS, (0, 1, 1)),
        (Visibility.PUBLIC, (1, 0, 0)),
    ],
)
def test_upload_carries_exactly_the_requested_visibility(
    make_service: ServiceFactory,
    state: FlickrState,
    level: Visibility,
    triple: tuple[int, int, int],
) -> None:
    data = make_jpeg(7, "2019-06-01 10:00:00")
    record = record_for(
        data, filename="IMG_7.jpg", caption="A caption", tags=["beach", "two words"]
    )
    result = make_service().upload(record, io.BytesIO(data), visibility=level)
    sent = state.requests_log[-1]
    assert (sent["is_public"], sent["is_friend"], sent["is_family"]) == tuple(
        str(v) for v in triple
    )
    photo = state.photos[result.instance_id]
    assert photo.privacy == triple
    assert result.visibility is not None and result.visibility.level is level
    assert photo.content() == data
    assert photo.title == "IMG_7" and photo.description == "A caption"
    assert set(photo.tags) == {
        "beach",
        "two words",
        "photosync:sha256=" + hashlib.sha256(data).hexdigest(),
    }


def test_idempotent_upload_after_a_crash_before_recording(
    make_service: ServiceFactory, state: FlickrState
) -> None:
    data = make_jpeg(8, "2019-06-01 10:00:00")
    record = record_for(data, filename="IMG_8.jpg")
    service = make_service()
    assert service.find_existing(record) is None
    uploaded = service.upload(record, io.BytesIO(data), visibility=Visibility.PRIVATE)
    # crash: the result never reached the archive. The next run asks first:
    rerun = make_service()
    found = rerun.find_existing(record)
    assert found is not None and found.instance_id == uploaded.instance_id
    assert found.visibility is not None and found.visibility.level is Visibility.PRIVATE
    assert state.calls["upload"] == 1 and len(state.photos) == 1


def test_a_lost_upload_reply_does_not_duplicate(
    emulator: FlickrEmulator, make_service: ServiceFactory, state: FlickrState
) -> None:
    emulator.faults = FaultPlan(
        rate_truncate=1.0, exempt_prefixes=("/services/rest", "/services/oauth")
    )
    data = make_jpeg(9, "2019-06-01 10:00:00")
    result = make_service().upload(
        record_for(data), io.BytesIO(data), visibility=Visibility.FRIENDS
    )
    assert len(state.photos) == 1 and state.calls["upload"] == 1
    assert state.photos[result.instance_id].privacy == (0, 1, 1)


def test_video_upload_is_async_and_polls_tickets(
    make_service: ServiceFactory, state: FlickrState, fake_clock: FakeClock
) -> None:
    state.ticket_polls = 2
    data = make_mp4(3, 1_500_000_000)
    result = make_service().upload(
        record_for(data, kind="video"), io.BytesIO(data), visibility=Visibility.PRIVATE
    )
    assert state.requests_log[-1]["async"] == "1"
    assert state.calls["flickr.photos.upload.checkTickets"] == 3
    assert fake_clock.slept.count(0.5) == 2
    assert state.photos[result.instance_id].media == "video"


def test_full_listing_and_downloads_survive_10_percent_faults(
    emulator: FlickrEmulator, make_service: ServiceFactory, state: FlickrState
) -> None:
    state.seed(300, video_every=50)
    emulator.faults = FaultPlan(
        rate_429=0.025,
        rate_5xx=0.025,
        rate_truncate=0.025,
        custom={"201": 0.025},
        retry_after_s=1,
        seed=7,
    )
    service = make_service(target=False, per_page=50)
    items, _ = listing(service)
    counts = Counter(i.instance_id for i in items)
    assert set(counts) == set(state.photos) and set(counts.values()) == {1}
    for item in items:
        with service.open_item(item) as stream:
            assert (
                hashlib.sha256(stream.read()).hexdigest()
                == hashlib.sha256(state.photos[item.instance_id].content()).hexdigest()
            )
    assert service.http.transient_failures > 10  # the faults really happened
    assert not service.http.breaker.is_open


def test_open_item_for_videos_follows_the_redirect(
    make_service: ServiceFactory, state: FlickrState
) -> None:
    state.seed(4, video_every=2)
    service = make_service(target=False)
    videos = [i for i in listing(service)[0] if i.media_type == "video"]
    assert len(videos) == 2
    for item in videos:
        with service.open_item(item) as stream:
            assert stream.read() == state.photos[item.instance_id].content()


def test_free_account_items_have_no_original(make_service: ServiceFactory) -> None:
    free = FlickrState(pro=False)
    free.seed(6, video_every=3)
    with FlickrEmulator(free) as emulator:
        token, secret = free.issue_access_token("read")
        service = FlickrService(
            "flickr",
            {"type": "flickr", "endpoints": emulator.endpoints()},
            credentials={
                "api_key": free.api_key,
                "api_secret": free.api_secret,
                "oauth_token": token,
                "oauth_token_secret": secret,
            },
            clock=FakeClock(),
        )
        items, _ = listing(service)
        assert len(items) == 6 and not any(i.original_available for i in items)
        assert all(i.problems for i in items)
        with pytest.raises(ItemUnavailable):
            service.open_item(items[0]).__enter__()
        # even if asked directly, getSizes offers no original
        with pytest.raises(ItemUnavailable):
            service.open_item(
                RemoteItem(instance_id=items[0].instance_id, version="", filename="x")
            ).__enter__()
        service.close()


def test_windowed_listing_by_upload_date(make_service: ServiceFactory, state: FlickrState) -> None:
    state.seed(60)
    items, report = listing(make_service(target=False, per_page=10, window_pages=2))
    assert sorted(i.instance_id for i in items) == sorted(state.photos)
    assert any("windows" in w for w in report.warnings)


def test_a_lying_listing_is_reported(make_service: ServiceFactory, state: FlickrState) -> None:
    state.seed(100)
    state.lying_drop_every = 10
    items, report = listing(make_service(target=False))
    assert len(items) == 90
    assert any("reported 100 photos but listed only 90" in w for w in report.warnings)


def test_breaker_opens_when_flickr_is_down(
    emulator: FlickrEmulator, make_service: ServiceFactory, state: FlickrState
) -> None:
    state.seed(5)
    emulator.faults = FaultPlan(rate_5xx=1.0)
    service = make_service(target=False, circuit_breaker=8)
    with pytest.raises(ServiceError) as caught:
        listing(service)
    assert caught.value.transient
    with pytest.raises(ServiceError) as again:
        listing(service)
    assert again.value.transient and service.http.breaker.is_open
    assert service.http.attempts == 8  # 6 for the first call, 2 more until the breaker opened


def test_set_visibility_and_metadata_keep_the_machine_tag(
    make_service: ServiceFactory, state: FlickrState
) -> None:
    data = make_jpeg(11, "2019-06-01 10:00:00")
    service = make_service()
    result = service.upload(record_for(data), io.BytesIO(data), visibility=Visibility.PUBLIC)
    photo = state.photos[result.instance_id]
    assert (
        service.set_visibility(result.instance_id, Visibility.PRIVATE).level is Visibility.PRIVATE
    )
    assert photo.privacy == (0, 0, 0)
    service.apply_metadata(
        result.instance_id,
        caption="new caption",
        title="New",
        tags=["a", "b c"],
        taken_date="2001-02",
        location={"lat": 1.5, "lng": -2.25},
    )
    assert (photo.title, photo.description) == ("New", "new caption")
    assert set(photo.tags) == {"a", "b c", "photosync:sha256=" + hashlib.sha256(data).hexdigest()}
    assert (photo.datetaken, photo.granularity) == ("2001-02-01 00:00:00", 4)
    assert (photo.latitude, photo.longitude) == (1.5, -2.25)
    assert service.find_existing(record_for(data)) is not None


def test_read_only_service_refuses_writes(make_service: ServiceFactory, state: FlickrState) -> None:
    service = make_service(target=False)
    with pytest.raises(ConfigError):
        service.upload(record_for(b"x"), io.BytesIO(b"x"), visibility=Visibility.PRIVATE)
    with pytest.raises(AuthError):
        make_service(perms="read", target=True).check_login()


def test_missing_credentials_and_bad_settings_are_clear_errors() -> None:
    service = FlickrService("flickr", {"type": "flickr"})
    with pytest.raises(AuthError) as caught:
        service.check_login()
    assert caught.value.hint and "photosync auth flickr" in caught.value.hint
    with pytest.raises(ConfigError):
        FlickrService("flickr", {"type": "flickr", "endpoints": {"rest": "http://evil.example/"}})
    with pytest.raises(ConfigError):
        FlickrService("flickr", {"type": "flickr", "per_page": 900})
    with pytest.raises(ConfigError):
        FlickrService("flickr", {"type": "flickr", "rate_limit": {"requests_per_hour": -1}})


def test_albums_are_listed(make_service: ServiceFactory, state: FlickrState) -> None:
    state.seed(3)
    service = make_service()
    ids = sorted(state.photos)
    created = service.client.call(
        "flickr.photosets.create", write=True, title="Trip", primary_photo_id=ids[0]
    )
    set_id = created["photoset"]["id"]
    service.client.call(
        "flickr.photosets.addPhoto", write=True, photoset_id=set_id, photo_id=ids[1]
    )
    albums = list(service.list_albums())
    assert albums == [{"id": set_id, "title": "Trip", "description": "", "photo_ids": ids[:2]}]


def test_a_stale_original_url_after_replace_falls_back_to_getsizes(
    make_service: ServiceFactory, state: FlickrState
) -> None:
    state.seed(3, video_every=0)
    service = make_service()
    item = listing(service)[0][0]
    new_bytes = make_jpeg(4242, "2022-02-02 02:02:02")
    root = service.client.upload(
        {"photo_id": item.instance_id},
        ("new.jpg", io.BytesIO(new_bytes), "image/jpeg"),
        replace=True,
    )
    assert root.findtext("photoid") == item.instance_id
    with service.open_item(item) as stream:  # the listed url_o now 404s
        assert stream.read() == new_bytes
    assert state.calls["flickr.photos.getSizes"] == 1
    assert listing(service)[0][0].version != item.version


def test_free_account_upload_limits_are_permanent_errors(fake_clock: FakeClock) -> None:
    free = FlickrState(pro=False)
    for n in range(50):
        free.add_photo(make_jpeg(n, "2020-01-01 00:00:00"), is_public=0)
    with FlickrEmulator(free) as emulator:
        token, secret = free.issue_access_token("write")
        service = FlickrService(
            "flickr",
            {"type": "flickr", "target": True, "endpoints": emulator.endpoints()},
            credentials={
                "api_key": free.api_key,
                "api_secret": free.api_secret,
                "oauth_token": token,
                "oauth_token_secret": secret,
            },
            clock=fake_clock,
        )
        data = make_jpeg(77, "2020-01-01 00:00:00")
        with pytest.raises(ServiceError) as caught:
            service.upload(record_for(data), io.BytesIO(data), visibility=Visibility.PRIVATE)
        assert not caught.value.transient and "50 non-public" in str(caught.value)
        assert free.calls["upload"] == 1 and len(free.photos) == 50
        public = service.upload(record_for(data), io.BytesIO(data), visibility=Visibility.PUBLIC)
        assert free.photos[public.instance_id].privacy == (1, 0, 0)
        service.close()


def test_an_upload_refused_with_5xx_is_retried_once_after_checking(
    emulator: FlickrEmulator,
    make_service: ServiceFactory,
    state: FlickrState,
    fake_clock: FakeClock,
) -> None:
    # seed 1: the first upload draws a 503, the second goes through
    emulator.faults = FaultPlan(
        rate_5xx=0.5, seed=1, exempt_prefixes=("/services/rest", "/services/oauth")
    )
    data = make_jpeg(12, "2019-06-01 10:00:00")
    result = make_service().upload(
        record_for(data), io.BytesIO(data), visibility=Visibility.PRIVATE
    )
    assert len(state.photos) == 1 and result.instance_id in state.photos
    assert state.calls["flickr.photos.search"] == 1  # looked before sending again
    assert len(fake_clock.slept) == 1  # backed off once
