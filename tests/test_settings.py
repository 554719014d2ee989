"""Settings: the README documents every one; sources apply in the documented order."""

from pathlib import Path

import pytest

from paperwire.cli.catalogue import settings_markdown
from paperwire.core.errors import ConfigError
from paperwire.core.settings import SETTINGS, Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_documents_every_setting():
    text = README.read_text()
    block = text.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0].strip()
    assert block == settings_markdown(), "run `paperwire settings --markdown` and update README"
    for s in SETTINGS:
        assert f"`{s.env}`" in block and s.help


def test_precedence_flags_env_file_default(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('http_retries = 7\nhttp_timeout = 5\ndatabase_url = "sqlite:///file.db"\n')
    env = {"PAPERWIRE_HTTP_TIMEOUT": "9.5"}
    c = Settings.load(toml, {"database_url": "sqlite:///flag.db"}, environ=env)
    assert (c.sources.http_retries, c.sources.http_timeout) == (7, 9.5)
    assert c.store.database_url == "sqlite:///flag.db"
    assert Settings.load(environ={}).sources.http_retries == 4


@pytest.mark.parametrize(
    "content, message",
    [
        ("http_retries = 'x'", "expected int"),
        ("nope = 1", "unknown setting"),
        ("[[", "cannot read"),
    ],
)
def test_bad_config_files(tmp_path, content, message):
    toml = tmp_path / "p.toml"
    toml.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Settings.load(toml, environ={})


def test_bad_environment_value():
    with pytest.raises(ConfigError, match="PAPERWIRE_ARXIV_MIN_INTERVAL"):
        Settings.load(environ={"PAPERWIRE_ARXIV_MIN_INTERVAL": "fast"})


def test_sections_snapshot_and_changes():
    """Each subsystem reads its own section; a worker process gets the exact settings its
    parent resolved (types included), and a copy with changes is checked like any input."""
    s = Settings.load(environ={"PAPERWIRE_SMTP_PORT": "2525", "PAPERWIRE_COOKIE_SECURE": "yes"})
    assert s.mail.smtp_port == 2525 and s.site.cookie_secure is True
    assert Settings.from_json(s.to_json()) == s
    changed = s.replace(page_size=12)
    assert changed.site.page_size == 12 and s.site.page_size == 30
    with pytest.raises(ConfigError, match="expected int"):
        s.replace(page_size="many")
    with pytest.raises(ConfigError, match="unknown setting"):
        s.replace(nope=1)
    assert {setting.section for setting in SETTINGS} == {
        "store",
        "sources",
        "site",
        "search",
        "mail",
        "digests",
        "jobs",
        "thumbnails",
        "ops",
    }
