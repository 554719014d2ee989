"""Comment reactions, avatars (generated and uploaded) and the time-zone picker's checks."""

import hashlib
import io
import random
import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from paperwire.core import avatars, timezones
from paperwire.core.reactions import REACTIONS, parse_reaction

from .storekit import race
from .webkit import Visitor, add_user, seed, site

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def member(web):
    add_user(web[1], "member")
    v = Visitor(web[0])
    v.sign_in("member")
    v.get("/papers")
    return v


def _comment(store, pid, author="curator1", body="A comment") -> int:
    uid = store.accounts.get_user(username=author).id
    return store.discussion.add(pid, uid, body)


# -- reactions -------------------------------------------------------------------------------
def test_reaction_set_is_fixed_and_parsed_by_name_or_emoji():
    assert [r.emoji for r in REACTIONS] == ["👍", "❤️", "🎉", "🤔", "👀", "🚀"]
    assert parse_reaction("👍").name == "thumbs_up"
    assert parse_reaction("❤").name == "heart"  # without the variation selector
    assert parse_reaction("❤️").name == parse_reaction("HEART").name == "heart"
    for bad in ("", "👎", "thumbs", "<script>", "💩"):
        assert parse_reaction(bad) is None


def test_concurrent_reactions_are_exact(store):
    """40 people click reactions at once from 20 threads, some twice, some take theirs back:
    every count is exactly the people who gave it, on both backends."""
    pid = seed(store, days=1)[0]
    cid = _comment(store, pid)
    users = [store.accounts.create_user(f"r{i}", None, None) for i in range(40)]

    def click(uid):
        store.reactions.set(cid, uid, "thumbs_up", True)
        store.reactions.set(cid, uid, "thumbs_up", True)  # double click
        store.reactions.set(cid, uid, "rocket", True)
        if uid % 4 == 0:
            store.reactions.set(cid, uid, "rocket", False)
            store.reactions.set(cid, uid, "rocket", False)

    race(click, users, 20)
    counts = store.reactions.counts([cid], viewer=users[0])[cid]
    assert counts["thumbs_up"] == (40, True)
    assert counts["rocket"] == (sum(1 for u in users if u % 4), users[0] % 4 != 0)
    assert set(counts) == {"thumbs_up", "rocket"}
    assert store.reactions.set(cid, users[1], "thumbs_up", True) == (False, 40)
    assert store.reactions.set(cid, users[1], "thumbs_up", False) == (True, 39)


def test_reaction_forms_work_without_javascript(web, member):
    store, pid = web[1], web[2][0]
    cid = _comment(store, pid)
    page = member.get(f"/papers/{pid}").text
    # Signed in: a menu of every reaction, each its own CSRF-protected form.
    forms = re.findall(rf'<form method="post" action="/comments/{cid}/reactions"', page)
    assert len(forms) == len(REACTIONS)
    r = member.post(f"/comments/{cid}/reactions", {"reaction": "thumbs_up", "state": "1"})
    assert r.status_code == 303 and r.headers["location"] == f"/papers/{pid}#comment-{cid}"
    again = member.post(f"/comments/{cid}/reactions", {"reaction": "👍", "state": "1"})
    assert again.status_code == 303  # a second click of a stale page counts once
    page = member.get(f"/papers/{pid}").text
    button = re.search(r'<button class="reaction on" aria-pressed="true"[^>]*>(.*?)</button>', page)
    assert button, page
    # The accessible name ("Thumbs up 1") holds the visible count; no aria-label to mismatch.
    assert 'aria-hidden="true">👍</span><span class="sr-only">Thumbs up</span>' in button[1]
    assert '<span class="count">1</span>' in button[1]
    assert "aria-label" not in button[0]
    js = member.post(
        f"/comments/{cid}/reactions",
        {"reaction": "thumbs_up", "state": "0"},
        headers={"Accept": "application/json"},
    )
    assert js.json()["count"] == 0 and js.json()["reacted"] is False
    assert js.json()["changed"] is True
    assert member.post(f"/comments/{cid}/reactions", {"reaction": "👎"}).status_code == 400
    assert member.post("/comments/999999/reactions", {"reaction": "heart"}).status_code == 404
    stale = member.client.post(
        f"/comments/{cid}/reactions", data={"reaction": "heart", "csrf_token": "forged"}
    )
    assert stale.status_code == 403
    store.discussion.set_flag(cid, deleted=True)
    assert member.post(f"/comments/{cid}/reactions", {"reaction": "heart"}).status_code == 404


def test_visitors_see_counts_and_are_sent_to_sign_in(web):
    store, pid = web[1], web[2][0]
    cid = _comment(store, pid)
    uid = add_user(store, "fan")
    store.reactions.set(cid, uid, "tada", True)
    v = Visitor(web[0])
    page = v.get(f"/papers/{pid}").text
    assert 'title="Hooray"' in page and "/reactions" not in page  # counts, no buttons
    r = v.post(f"/comments/{cid}/reactions", {"reaction": "tada"})
    assert r.status_code == 303 and r.headers["location"] == f"/signin?next=/papers/{pid}"


def test_reactions_api(web):
    app, store, ids, _ = web
    pid = ids[0]
    cid = _comment(store, pid)
    uid = add_user(store, "bot")
    auth = {"Authorization": f"Bearer {store.accounts.create_token(uid, 'ci')}"}
    client = Visitor(app).client
    url = f"/api/papers/{pid}/comments/{cid}/reactions"
    r = client.post(url, json={"reaction": "🚀"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 1 and r.json()["changed"] is True
    assert r.json()["reactions"] == [
        {"reaction": "🚀", "name": "rocket", "count": 1, "reacted": True}
    ]
    assert client.post(url, json={"reaction": "rocket"}, headers=auth).json()["changed"] is False
    thread = client.get(f"/api/papers/{pid}/comments", headers=auth).json()
    [mine] = [c for c in thread if c["id"] == cid]
    assert mine["reactions"] == [{"reaction": "🚀", "name": "rocket", "count": 1, "reacted": True}]
    gone = client.delete(url, params={"reaction": "🚀"}, headers=auth)
    assert gone.json()["count"] == 0 and gone.json()["reactions"] == []
    # the comment must be on that paper; the reaction one of the set; writers authenticated
    assert (
        client.post(
            f"/api/papers/{ids[1]}/comments/{cid}/reactions", json={"reaction": "🚀"}, headers=auth
        ).status_code
        == 404
    )
    bad = client.post(url, json={"reaction": "👎"}, headers=auth)
    assert bad.status_code == 400 and "thumbs_up" in bad.json()["error"]
    assert client.post(url, json={"reaction": "🚀"}).status_code == 401  # no token, no session
    spec = client.get("/openapi.json").json()
    ops = spec["paths"]["/api/papers/{arxiv_id}/comments/{comment_id}/reactions"]
    assert set(ops) == {"post", "delete"}


# -- avatars ---------------------------------------------------------------------------------
HOSTILE = [
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "]]><!ENTITY x SYSTEM 'file:///etc/passwd'>",
    "&amp;&#x3c;",
    "marie_curie",
    "لينا",
    "\u202eevil",
    "ＡＢＣ",
    "___",
    "a" * 200,
    "😀 party",
    "x\u0301y",
]


def _elements(svg_text):
    root = ET.fromstring(svg_text)
    return root, [el.tag for el in root.iter()]


def test_generated_avatars_survive_hostile_names(sqlite_store, tmp_path):
    app, _ = site(sqlite_store, tmp_path)
    client = Visitor(app).client
    for name in HOSTILE:
        for kind in ("users", "organizations"):
            r = client.get(avatars.url(kind, name))
            assert r.status_code == 200, name
            assert r.headers["content-type"] == "image/svg+xml"
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in r.headers["content-security-policy"]
            assert "set-cookie" not in r.headers  # cacheable by anyone
            root, tags = _elements(r.text)  # well-formed XML, and only what we drew
            assert tags == [f"{SVG_NS}svg", f"{SVG_NS}rect", f"{SVG_NS}text"], name
            assert all(not k.startswith("on") for el in root.iter() for k in el.attrib)
            text = root.find(f"{SVG_NS}text").text
            assert 1 <= len(text) <= 2 or text == "?", (name, text)
            assert "script" not in r.text.lower() and "ENTITY" not in r.text
            again = client.get(
                avatars.url(kind, name), headers={"If-None-Match": r.headers["etag"]}
            )
            assert again.status_code == 304  # deterministic: same ETag
            assert client.get(avatars.url(kind, name)).content == r.content


def test_avatar_initials_and_contrast():
    assert avatars.initials("marie_curie") == "MC"
    assert avatars.initials("akhaliq") == "A"
    assert avatars.initials("___") == "?"
    assert avatars.initials("<b>x</b>") == "BX"
    rng = random.Random(7)
    white = (1.0, 1.0, 1.0)
    hues = set()
    for _ in range(500):
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz-_.0123456789") for _ in range(8))
        bg = avatars.colour(name)
        assert avatars.contrast(white, bg) >= 4.5, name  # white initials readable
        hues.add(tuple(round(c, 1) for c in bg))
    assert len(hues) > 50  # names look different


def test_avatar_urls_reject_what_is_not_an_avatar(web):
    client = Visitor(web[0]).client
    assert client.get("/avatars/users/" + "a" * 201 + ".svg").status_code == 404
    assert client.get("/avatars/admins/x.svg").status_code == 404
    assert client.get("/avatars/users/x.png").status_code == 404
    assert client.get("/avatars/organizations/nobody.webp").status_code == 404


def _png(size=(64, 48), colour=(200, 30, 30), fmt="PNG", **save):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt, **save)
    return out.getvalue()


@pytest.fixture
def org(web):
    store = web[1]
    org_id = store.accounts.create_organization("acme-lab", "ACME Lab")
    return org_id, "acme-lab"


def _upload(visitor, name, data, filename="a.png", mime="image/png"):
    return visitor.client.post(
        f"/organizations/{name}/avatar",
        data={"csrf_token": visitor.csrf},
        files={"image": (filename, data, mime)},
    )


def test_who_may_change_an_organization_avatar(web, org):
    app, store = web[0], web[1]
    org_id, name = org
    add_user(store, "boss", role="admin")
    add_user(store, "alice")
    add_user(store, "mallory")
    anonymous = Visitor(app)
    anonymous.get("/papers")
    assert _upload(anonymous, name, _png()).status_code == 401
    mallory = Visitor(app)
    mallory.sign_in("mallory")
    assert _upload(mallory, name, _png()).status_code == 403
    assert mallory.get(f"/organizations/{name}/settings").status_code == 403
    assert "Organization settings" not in mallory.get(f"/organizations/{name}").text
    # A site admin names alice an organization admin; she may then upload.
    boss = Visitor(app)
    boss.sign_in("boss")
    assert boss.post(f"/organizations/{name}/admins", {"username": "alice"}).status_code == 303
    assert store.members.admins(org_id) == ["alice"]
    alice = Visitor(app)
    alice.sign_in("alice")
    assert "Organization settings" in alice.get(f"/organizations/{name}").text
    r = _upload(alice, name, _png())
    assert r.status_code == 303, r.text
    stored = store.avatars.get("organization", org_id)
    assert stored.content_type == "image/webp" and (stored.width, stored.height) == (48, 48)
    # and name others, or be removed
    assert alice.post(f"/organizations/{name}/admins", {"username": "mallory"}).status_code == 303
    assert store.members.admins(org_id) == ["alice", "mallory"]
    boss.post(f"/organizations/{name}/admins", {"username": "alice", "remove": "1"})
    assert _upload(alice, name, _png()).status_code == 403
    stale = alice.client.post(
        f"/organizations/{name}/avatar",
        data={"csrf_token": "forged"},
        files={"image": ("a.png", _png(), "image/png")},
    )
    assert stale.status_code == 403


def test_uploaded_avatar_is_reencoded_served_and_cached(web, org, tmp_path):
    app, store = web[0], web[1]
    org_id, name = org
    add_user(store, "boss", role="admin")
    boss = Visitor(app)
    boss.sign_in("boss")
    exif = Image.Exif()
    exif[0x010E] = "SECRET-GPS-NOTE"  # ImageDescription: metadata must not survive
    jpeg = _png(size=(800, 600), fmt="JPEG", exif=exif.tobytes())
    assert b"SECRET-GPS-NOTE" in jpeg
    assert _upload(boss, name, jpeg, "p.jpg", "image/jpeg").status_code == 303
    stored = store.avatars.get("organization", org_id)
    assert (stored.width, stored.height) == (256, 256)
    assert stored.data[:4] == b"RIFF" and stored.data[8:12] == b"WEBP"
    assert b"SECRET-GPS-NOTE" not in stored.data
    page = boss.get(f"/organizations/{name}").text
    src = re.search(r'<img class="avatar big" src="([^"]+)"', page)[1]
    assert src == f"/avatars/organizations/{name}.webp?v={stored.sha256[:16]}"
    # Another instance sharing the database serves the same image (no local files).
    other, _ = site(store, tmp_path / "other")
    r = Visitor(other).client.get(src)
    assert r.status_code == 200 and r.content == stored.data
    assert r.headers["content-type"] == "image/webp"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    stale = Visitor(other).client.get(f"/avatars/organizations/{name}.webp?v=old")
    assert stale.headers["cache-control"] == "public, max-age=300"
    assert hashlib.sha256(r.content).hexdigest() == stored.sha256
    # The organizations list and the API use it too; users get their generated drawing.
    assert src in boss.get("/organizations").text
    pid = web[2][0]
    store.accounts.set_paper_organization(pid, org_id)
    assert f'src="{src}"' in boss.get(f"/papers/{pid}").text  # the paper's organization line
    item = Visitor(app).client.get(f"/api/papers/{pid}").json()
    assert item["organization"]["avatar"] == "http://testserver" + src
    assert item["submittedOnDailyBy"]["avatarUrl"].startswith(
        "http://testserver/avatars/users/curator1.svg"
    )
    # Back to the generated one.
    boss.post(f"/organizations/{name}/avatar/delete")
    assert store.avatars.get("organization", org_id) is None
    assert f"/avatars/organizations/{name}.svg" in boss.get(f"/organizations/{name}").text


def _fake_webp():
    return b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(range(200))


BAD_UPLOADS = {
    "empty": (b"", "image/png", 400, "Choose an image file"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>', "image/svg+xml",
            400, "SVG and other formats are refused"),
    "gif": (b"GIF89a" + bytes(100), "image/gif", 400, "PNG, JPEG or WebP"),
    "fake png": (b"\x89PNG\r\n\x1a\n" + b"not really a png" * 20, "image/png", 400,
                 "not a valid one"),
    "fake jpeg": (b"\xff\xd8\xff\xe0" + bytes(300), "image/jpeg", 400, "not a valid one"),
    "fake webp": (_fake_webp(), "image/webp", 400, "not a valid one"),
    "too big": (b"\x00" * (avatars.MAX_UPLOAD_BYTES + 10), "image/png", 413, "larger than 512 KB"),
    "too wide": (_png(size=(4100, 20)), "image/png", 400, "sides must be between"),
    "too small": (_png(size=(8, 8)), "image/png", 400, "sides must be between"),
    "png named .jpg": (_png(), "image/jpeg", 303, ""),  # the bytes decide, not the name
}  # fmt: skip


def test_upload_validation(web, org):
    app, store = web[0], web[1]
    org_id, name = org
    add_user(store, "boss", role="admin")
    boss = Visitor(app)
    boss.sign_in("boss")
    for case, (data, mime, status, message) in BAD_UPLOADS.items():
        r = _upload(boss, name, data, "file.jpg", mime)
        assert r.status_code == status, (case, r.text[:300])
        assert message in r.text, case
        assert (store.avatars.get("organization", org_id) is None) == (status != 303), case


def test_avatars_on_cards_comments_and_profiles(web, member):
    store, pid = web[1], web[2][0]
    _comment(store, pid, author="member")
    feed = member.get("/papers").text
    assert '<img class="avatar " src="/avatars/users/curator1.svg?v=1"' in feed
    paper = member.get(f"/papers/{pid}").text
    assert 'src="/avatars/users/member.svg?v=1"' in paper
    profile = member.get("/users/member").text
    assert '<img class="avatar big" src="/avatars/users/member.svg?v=1"' in profile
    # An avatar imported from elsewhere is never loaded by pages.
    store.accounts.update_user(
        store.accounts.get_user(username="curator1").id, avatar_url="https://cdn.example/x.png"
    )
    assert "cdn.example" not in member.get("/papers").text


# -- time zones ------------------------------------------------------------------------------
def test_timezone_names_are_checked():
    assert timezones.canonical("europe/paris") == "Europe/Paris"
    assert timezones.canonical("UTC") == "UTC"
    assert timezones.canonical("Asia/Calcutta") == "Asia/Calcutta"  # old names still work
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "Europe/Paris\x00", "x" * 65):
        assert timezones.canonical(bad) is None
    zones = timezones.choices()
    assert zones[0] == "UTC" and "America/New_York" in zones and "Etc/GMT+5" not in zones


def test_subscribe_form_picker_and_unknown_zone(web):
    v = Visitor(web[0])
    page = v.get("/subscribe").text
    assert 'list="sub-tz-zones"' in page and "data-detect-timezone" in page
    assert '<option value="Pacific/Auckland">' in page
    r = v.post("/subscribe", {"email": "tz@example.org", "kind": "trending",
                              "frequency": "daily", "timezone": "Mars/Olympus"})  # fmt: skip
    assert r.status_code == 400
    assert "Unknown time zone &#39;Mars/Olympus&#39;: choose one from the list" in r.text
    assert 'aria-invalid="true" aria-describedby="sub-tz-err"' in r.text
    assert "data-detect-timezone" not in r.text  # what they typed stays
    ok = v.post("/subscribe", {"email": "tz@example.org", "kind": "trending",
                               "frequency": "daily", "timezone": "asia/tokyo"})  # fmt: skip
    assert ok.status_code == 303
    sub = web[1].mail.find_subscription("tz@example.org", "trending", None)
    assert sub.timezone == "Asia/Tokyo"


def test_api_refuses_unknown_zones(web):
    client = Visitor(web[0]).client
    r = client.post("/api/subscriptions", json={"email": "a@example.org", "timezone": "Nowhere"})
    assert r.status_code == 400
    assert r.json()["fields"]["timezone"].startswith("Unknown time zone 'Nowhere'")


def test_settings_time_zone_becomes_the_subscription_default(web, member):
    r = member.post("/settings/timezone", {"timezone": "Moon/Base"})
    assert r.status_code == 400 and "Unknown time zone" in r.text
    r = member.post("/settings/timezone", {"timezone": "america/sao_paulo"})
    assert r.status_code == 303
    said = member.get(r.headers["location"]).text
    assert "Time zone saved: new subscriptions start from America/Sao_Paulo." in said
    assert web[1].accounts.get_user(username="member").timezone == "America/Sao_Paulo"
    page = member.get("/subscribe").text
    assert 'value="America/Sao_Paulo"' in page
    assert "data-detect-timezone" not in page  # their choice, not the browser's guess


def test_manage_page_keeps_the_zone_and_refuses_unknown_ones(web):
    from paperwire.mail import render as mail_render

    app, store = web[0], web[1]
    sub = store.mail.create_subscription("m@example.org", "trending", None, "daily", "Europe/Oslo")
    token = mail_render.manage_token(app.state.site.signer, sub)
    v = Visitor(app)
    page = v.get(f"/subscriptions/manage?token={token}").text
    assert 'value="Europe/Oslo"' in page and 'list="m-tz-zones"' in page
    assert "data-detect-timezone" not in page  # a saved choice is never replaced by a guess
    fields = {"token": token, "kind": "trending", "frequency": "weekly"}
    r = v.post("/subscriptions/manage", {**fields, "timezone": "Atlantis/Capital"})
    assert r.status_code == 400 and "Unknown time zone &#39;Atlantis/Capital&#39;" in r.text
    assert 'value="Atlantis/Capital"' in r.text  # what they typed, to correct
    assert store.mail.get_subscription(sub.id).timezone == "Europe/Oslo"
    assert v.post("/subscriptions/manage", {**fields, "timezone": "asia/seoul"}).status_code == 303
    assert store.mail.get_subscription(sub.id).timezone == "Asia/Seoul"
