"""Settings: the README documents every one; sources apply in the documented order."""

from pathlib import Path

import pytest

from paperwire.cli import settings_markdown
from paperwire.config import SETTINGS, Config, ConfigError

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
    c = Config.load(toml, {"database_url": "sqlite:///flag.db"}, environ=env)
    assert (c.http_retries, c.http_timeout, c.database_url) == (7, 9.5, "sqlite:///flag.db")
    assert Config.load(environ={}).http_retries == 4


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
        Config.load(toml, environ={})


def test_bad_environment_value():
    with pytest.raises(ConfigError, match="PAPERWIRE_ARXIV_MIN_INTERVAL"):
        Config.load(environ={"PAPERWIRE_ARXIV_MIN_INTERVAL": "fast"})
