"""Whose links a paper gives: the code host accounts (github.com/zju3dv) and project sites
(zju3dv.github.io) named in its abstract and arXiv comment, and its code repository's owner.
Two papers that link the same account or site most often come from the same group: For
you ranks new papers that share one with a reader's papers first, and says so."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ..core.models import PaperText

# A host with one of these endings, with or without a scheme, and its path's first part.
_LINK = re.compile(
    r"(?:https?://)?(?:www\.)?"
    r"(github\.com|gitlab\.com|huggingface\.co|bitbucket\.org|codeberg\.org"
    r"|[a-z0-9][a-z0-9.-]*\.github\.io"
    r"|[a-z0-9][a-z0-9.-]*\.(?:edu|ac\.[a-z]{2}|org|io|com|net|ai|cn|de|uk|fr|jp))"
    r"(/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)?)?",
    re.IGNORECASE,
)
# Where the account is the path's first part (huggingface.co/datasets/<account>/…: the second).
HOSTS = frozenset({"github.com", "gitlab.com", "huggingface.co", "bitbucket.org", "codeberg.org"})
_KINDS = frozenset({"datasets", "spaces", "models", "collections", "orgs", "papers"})
# Sites many unrelated papers link: they say nothing of who wrote a paper.
GENERIC = frozenset(
    "arxiv.org doi.org dx.doi.org zenodo.org osf.io youtube.com youtu.be openreview.net "
    "sites.google.com drive.google.com docs.google.com colab.research.google.com kaggle.com "
    "paperswithcode.com figshare.com bit.ly x.com twitter.com".split()
)
# A text without one of these has no link (most abstracts): no regular expression run.
_HINTS = ("http", "www.", ".com", ".io", ".org", ".edu", ".net", ".ai", ".co/", ".ac.", ".cn")


def link_keys(*texts: str | None) -> frozenset[str]:
    """The accounts and sites the texts link, as keys: ``github.com/<account>`` (lower
    case) on code hosts, the host name elsewhere (``www.`` left out); generic sites left
    out."""
    out: set[str] = set()
    for text in texts:
        if not text or not any(h in text for h in _HINTS):
            continue
        for host, path in _LINK.findall(text):
            host = host.lower()
            if host in HOSTS:
                parts = [p for p in path.lower().split("/") if p]
                if parts and parts[0] in _KINDS:
                    parts = parts[1:]
                account = parts[0].strip("._-") if parts else ""
                if account:
                    out.add(f"{host}/{account}")
            elif host not in GENERIC:
                out.add(host)
    return frozenset(out)


def repository_key(repo: str | None) -> frozenset[str]:
    """The owner of a GitHub repository noted as ``owner/name``, as a key."""
    owner = (repo or "").split("/", 1)[0].strip().lower()
    return frozenset({f"github.com/{owner}"}) if owner else frozenset()


def paper_keys(paper: PaperText) -> frozenset[str]:
    """Every key a paper gives: its title's, abstract's, comment's and project page's links
    and its repository's owner."""
    keys = link_keys(paper.title, paper.abstract, paper.comment, paper.project_page)
    return keys | repository_key(paper.github_repo)


def common_keys(papers: Sequence[frozenset[str]], share: float, floor: int) -> frozenset[str]:
    """Keys more than ``share`` of the papers link (and more than ``floor`` of them): a site
    that many papers link says little of who wrote one."""
    counted = Counter(k for keys in papers for k in keys)
    limit = max(floor, share * len(papers))
    return frozenset(k for k, n in counted.items() if n > limit)
