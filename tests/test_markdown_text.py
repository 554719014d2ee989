"""A comment's words without its Markdown (core/markdown.py): what a notification quotes."""

from __future__ import annotations

import pytest

from paperwire.core.markdown import plain_text


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("**Key claim**: *fast*", "Key claim: fast"),
        ("See [the code](https://example.org/x) and ![fig](a.png)", "See the code and fig"),
        ("We get $\\mathcal{O}(n^2)$ time", "We get 𝒪(n²) time"),
        ("> quoted\n\n- one\n- two", "quoted one two"),
        ("```python\nx = 1\n```\nafter", "x = 1 after"),
        ("`code` and <script>alert(1)</script>", "code and <script>alert(1)</script>"),
        ("a\\, b \\{c\\}", "a, b {c}"),
        ("", ""),
    ],
)
def test_plain_text_keeps_the_words(markdown, text):
    assert plain_text(markdown) == text
