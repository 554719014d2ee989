"""GitHub links in abstracts and comments; the stars refresher against a local server."""

import json
from datetime import datetime

import pytest

from paperwire.core.records import PaperRecord
from paperwire.ingest.github import GitHubStars, canonical_repo, find_repo, refresh_stars

from .replay import ReplayServer, Reply, fixture
from .storekit import TRUST


@pytest.mark.parametrize(
    "text, repo",
    [
        ("Code: https://github.com/hustvl/Vim.", "hustvl/Vim"),
        ("available at github.com/microsoft/Cream/tree/main/EfficientViT", "microsoft/Cream"),
        ("https://github.com/zkkli/I-ViT.git", "zkkli/I-ViT"),
        (
            "(https://github.com/openraiser/awesome-world-model-evolution)",
            "openraiser/awesome-world-model-evolution",
        ),
        (
            "https://github.com/huggingface https://github.com/google-research/envharness",
            "google-research/envharness",
        ),
        ("see https://github.com/features/copilot", None),
        ("no code here", None),
        ("https://github.com/a_b/c", None),
    ],
)
def test_canonical_repo(text, repo):
    assert canonical_repo(text) == repo


def test_find_repo_prefers_first_text():
    assert find_repo(None, "", "https://github.com/x/y", "https://github.com/z/w") == "x/y"


def seed(store):
    store.papers.upsert(
        [
            PaperRecord(
                id="2207.01405", title="I-ViT", github_repo="zkkli/i-vit", source="demo"
            ).validated(),
            PaperRecord(
                id="2401.09417", title="Vision Mamba", github_repo="gone/repo", source="demo"
            ).validated(),
            PaperRecord(id="2305.07027", title="No code", source="demo").validated(),
        ],
        TRUST,
    )


def github_server(state):
    body = fixture("github", "repos_zkkli_I-ViT.json")

    def handler(path, query):
        state.append(path)
        if path == "/repos/zkkli/i-vit":
            return Reply(200, body, {"ETag": 'W/"v1"'}, "application/json")
        return Reply(404, b'{"message":"Not Found"}', content_type="application/json")

    return ReplayServer(handler)


def test_refresh_stars_with_etags_and_gone_repos(store, fast_client):
    seed(store)
    state: list = []
    with github_server(state) as server:
        gh = GitHubStars(fast_client, server.url, token="t0k")
        report = refresh_stars(store, gh, limit=10)
        assert server.requests[0].headers["authorization"] == "Bearer t0k"
        assert (report.checked, report.updated, report.gone) == (2, 1, 1)
        p = store.papers.get("2207.01405")
        assert (p.github_stars, p.github_repo, p.github_etag) == (
            156,
            "zkkli/I-ViT",
            'W/"v1"',
        )
        assert store.papers.get("2401.09417").github_stars is None
        # Fresh within max_age: nothing to do; with max_age 0 the ETag is sent back.
        assert refresh_stars(store, gh, limit=10).checked == 0


def test_conditional_request_and_rate_limit(store, fast_client):
    seed(store)
    store.papers.record_github("2207.01405", stars=150, etag='W/"v1"')

    def handler(path, query):
        return Reply(304, b"", {"ETag": 'W/"v1"'}, "application/json")

    with ReplayServer(handler) as server:
        report = refresh_stars(
            store, GitHubStars(fast_client, server.url), limit=10, max_age_hours=0
        )
    sent = {r.path: r.headers.get("if-none-match") for r in server.requests}
    assert sent["/repos/zkkli/i-vit"] == 'W/"v1"'
    assert report.not_modified == 2 and store.papers.get("2207.01405").github_stars == 150

    def limited(path, query):
        return Reply(
            403,
            b'{"message":"API rate limit exceeded"}',
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4102444800"},
            "application/json",
        )

    with ReplayServer(limited) as server:
        report = refresh_stars(
            store, GitHubStars(fast_client, server.url), limit=10, max_age_hours=0
        )
    assert report.checked == 0 and report.rate_limited_until == datetime(2100, 1, 1).astimezone(
        report.rate_limited_until.tzinfo
    )
    assert len(server.requests) == 1  # stops at the first rate-limit answer


def test_unexpected_answers_are_errors_not_crashes(store, fast_client):
    seed(store)
    with ReplayServer(
        lambda p, q: Reply(200, json.dumps({"x": 1}).encode(), content_type="application/json")
    ) as s:
        report = refresh_stars(store, GitHubStars(fast_client, s.url), limit=10)
    assert report.checked == 0 and len(report.errors) == 2
