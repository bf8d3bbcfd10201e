"""Redis URLs: passwords never printed, however badly encoded; cluster URLs
with seed nodes, one of them down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

import rivulet
from rivulet import cli as cli_module
from rivulet.cli import cli
from rivulet.deadline import DeadlineConnection, DeadlineSSLConnection
from rivulet.urls import mask_url, parse, redis_from_url

from ..conftest import RedisServer, free_port

#: The secret's pieces; neither may be printed, whole or alone.
SECRET = ("hunter", "zebra", "kiwi")
SPECIALS = ["/", "#", "?", "@", ":", "%", " "]
#: URLs whose user name or password holds an unencoded special character
#: (``{port}`` is filled in by each test): 7 + 7 + 1 variants.
VARIANTS = (
    [f"redis://:hunter{c}zebra@127.0.0.1:{{port}}/0" for c in SPECIALS]
    + [f"redis://ad{c}min:hunter-zebra@127.0.0.1:{{port}}/0" for c in SPECIALS]
    + ["redis://127.0.0.1:{port}/0?password=hunter/zebra#kiwi"]
)
VARIANT_IDS = [f"password {c!r}" for c in SPECIALS] + [f"user {c!r}" for c in SPECIALS] + [
    "query password="
]


def assert_no_secret(text: str) -> None:
    for piece in SECRET:
        assert piece not in text, text


def test_variants_are_fifteen() -> None:
    assert len(VARIANTS) == len(VARIANT_IDS) == 15


@pytest.mark.parametrize("template", VARIANTS, ids=VARIANT_IDS)
def test_mask_url_never_prints_the_password(template: str) -> None:
    assert_no_secret(mask_url(template.format(port=6379)))


@pytest.mark.parametrize("template", VARIANTS, ids=VARIANT_IDS)
def test_invalid_url_error_quotes_no_secret(template: str) -> None:
    # Either the URL parses (a client comes back) or the error is safe to print.
    try:
        redis_from_url(template.format(port=6379)).close()
    except ValueError as error:
        assert "percent-encode" in str(error)
        assert_no_secret(str(error))


#: Passwords with an unencoded "@" and then "/", "#" or "?": redis-py reads
#: them, but a piece of the password as the host (``zebra`` below).
MISREAD = [
    "redis://:hunter@zebra/kiwi@127.0.0.1:{port}/0",
    "redis://:hunter@zebra#kiwi@127.0.0.1:{port}/0",
    "redis://:hunter@zebra?kiwi@127.0.0.1:{port}/0",
    "redis://user:hunter@zebra/kiwi#x?y@127.0.0.1:{port}/0",
]


@pytest.mark.parametrize("template", MISREAD)
def test_a_password_redis_py_would_misread_is_refused_with_the_hint(template: str) -> None:
    url = template.format(port=6379)
    with pytest.raises(ValueError, match="percent-encode") as raised:
        parse(url)
    assert_no_secret(str(raised.value))
    assert_no_secret(mask_url(url))
    with pytest.raises(ValueError, match="percent-encode"):
        rivulet.connect(url, client_id="c")


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379/",
                                 "redis://:pa%23s%40s@h:1/3?socket_timeout=2",
                                 "redis://:pass@h:1/0?client_name=me@host",
                                 "unix:///tmp/a@b.sock?db=1"])
def test_well_formed_urls_still_parse(url: str) -> None:
    parse(url)


@pytest.mark.parametrize("template", VARIANTS, ids=VARIANT_IDS)
def test_cli_error_line_has_no_secret(template: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module, "RETRY", rivulet.RetryPolicy(budget_s=0.1))
    url = template.format(port=free_port())  # nothing listens there
    result = CliRunner().invoke(cli, ["channels"], env={"RIVULET_REDIS_URL": url})
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: ") or "Error: " in result.stderr
    assert_no_secret(result.stderr + result.stdout)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:secret@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:secret@host/1", "redis://user:***@host:6379/1"),
        ("rediss://user:p%40ss@host:6380", "rediss://user:***@host:6380/0"),
        ("redis://secret@host", "redis://***@host:6379/0"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("redis://host/0?password=secret", "redis://:***@host:6379/0"),
        ("redis://[::1]:6380/2", "redis://[::1]:6380/2"),
        ("unix:///tmp/r.sock?db=1&password=secret", "unix:///tmp/r.sock?db=1&password=***"),
        ("redis+cluster://u:secret@h1:7000?node=h2:7001&node=[::1]:7002",
         "redis+cluster://u:***@h1:7000?node=h2:7001&node=[::1]:7002"),
        ("rediss+cluster://:secret@h1:7000", "rediss+cluster://:***@h1:7000"),
        ("http://user:secret@host", "(unparseable Redis URL)"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_cluster_url_parses_to_seed_nodes() -> None:
    target = parse("REDIS+CLUSTER://u:p%2Fw@h1:7000?node=h2:7001&node=[::1]:7002")
    assert target.cluster and target.scheme == "redis+cluster"
    assert target.seeds == (("h1", 7000), ("h2", 7001), ("::1", 7002))
    assert target.options["username"] == "u" and target.options["password"] == "p/w"
    assert "node" not in target.options
    assert parse("rediss+cluster://h1").seeds == (("h1", 6379),)
    assert not parse("redis://h1:7000").cluster


@pytest.mark.parametrize("url", [
    "redis+cluster://h1:7000/1",  # a cluster has database 0 only
    "redis+cluster://h1:7000?node=h2",
    "redis+cluster://h1:7000?node=h2:port",
    "redis+cluster://h1:7000?node=:7001",
    "redis+cluster://h1:7000?node=h2:70000",
    "redis+cluster:/h1:7000",
    "ftp://h1",
])
def test_bad_cluster_urls_are_value_errors(url: str) -> None:
    with pytest.raises(ValueError, match="invalid Redis URL"):
        parse(url)
    with pytest.raises(ValueError, match="invalid Redis URL"):
        redis_from_url(url)


def test_connection_class_follows_the_scheme() -> None:
    plain = redis_from_url("redis://127.0.0.1:1/0")
    tls = redis_from_url("rediss://127.0.0.1:1/0")
    assert plain.connection_pool.connection_class is DeadlineConnection
    assert tls.connection_pool.connection_class is DeadlineSSLConnection
    plain.close()
    tls.close()


@pytest.fixture
def cluster_url(cluster_server: RedisServer) -> Iterator[str]:
    """The one-node cluster behind a dead seed node listed first."""
    yield f"redis+cluster://127.0.0.1:{free_port()}?node=127.0.0.1:{cluster_server.port}"


def test_cluster_url_with_a_dead_first_seed(cluster_url: str) -> None:
    from redis.cluster import RedisCluster

    client: Any = redis_from_url(cluster_url)
    try:
        assert isinstance(client, RedisCluster)
        assert client.ping()
        # redis-py's own cluster retries are off: rivulet retries itself.
        # (get_retries() came with redis-py 5.1; 5.0 has only the attribute.)
        assert getattr(client.retry, "_retries", None) == 0
        node = client.get_default_node()
        pool = node.redis_connection.connection_pool
        assert pool.connection_class is DeadlineConnection
    finally:
        client.close()
    # Closing the client closes its sockets (redis-py leaves pools it was handed open).
    assert all(c._sock is None for c in pool._available_connections)


def test_connect_and_admin_take_a_cluster_url(cluster_url: str) -> None:
    with rivulet.connect(cluster_url, client_id="urls-reader", channel_ids="urls/1") as reader:
        reader.write("urls/1", ["x"])
        assert [m["data"] for m in reader.read()["urls/1"]] == ["x"]
    admin = rivulet.Admin(cluster_url)
    try:
        assert "urls/1" in [row.name for row in admin.channels()]
        admin.delete_channel("urls/1")
    finally:
        admin.close()


def test_every_seed_down_is_a_connection_error() -> None:
    url = f"redis+cluster://:hunter-zebra@127.0.0.1:{free_port()}?node=127.0.0.1:{free_port()}"
    with pytest.raises(rivulet.ConnectionError) as raised:
        redis_from_url(url, socket_connect_timeout=0.5)
    assert "seed node" in str(raised.value)
    assert_no_secret(str(raised.value))


def test_cli_and_dashboard_take_a_cluster_url(cluster_url: str) -> None:
    from dashboard import create_app

    with rivulet.connect(cluster_url, client_id="urls-cli", channel_ids="urls/2") as client:
        client.write("urls/2", ["x"])
        result = CliRunner().invoke(cli, ["channels", "--json"],
                                    env={"RIVULET_REDIS_URL": cluster_url})
        assert result.exit_code == 0, result.output
        assert "urls/2" in result.stdout
        app = create_app({"TESTING": True, "REDIS_URL": cluster_url, "AUTH": False})
        browser = app.test_client()
        assert browser.get("/healthz").status_code == 200
        page = browser.get("/")
        assert page.status_code == 200 and "urls/2" in page.get_data(as_text=True)
        for found in (app.extensions["rivulet"].admin, app.extensions["rivulet"].health):
            found.close()
        client.unsubscribe("urls/2")


def test_cli_with_every_cluster_seed_down_fails_in_one_line() -> None:
    url = f"redis+cluster://:hunter-zebra@127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["channels"], env={"RIVULET_REDIS_URL": url})
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot reach any seed node of redis+cluster://:***@")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert_no_secret(result.stderr)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "no-such-codec"])
def test_a_client_that_does_not_encode_as_utf8_is_refused(encoding: str) -> None:
    # Its messages would be stored, then skipped by every reader as malformed.
    import fakeredis

    r = fakeredis.FakeRedis(encoding=encoding)
    with pytest.raises(ValueError, match="encodes as UTF-8"):
        rivulet.Client(redis=r, client_id="w")
    with pytest.raises(ValueError, match="encodes as UTF-8"):
        rivulet.Admin(r)
    with pytest.raises(ValueError, match="encodes as UTF-8"):
        rivulet.connect("redis://127.0.0.1:1/0", client_id="w", encoding=encoding)
    for fine in ("utf-8", "UTF8", "utf_8"):
        rivulet.Client(redis=fakeredis.FakeRedis(encoding=fine), client_id="w").close()
