"""CURVE keys: the ``keys`` command, key loading errors, encrypted round trips on 127.0.0.1."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import zmq

from pipeline.config import ZmqConfig
from pipeline.errors import ConfigError
from pipeline.publish.curve import check_clients_dir, create_keypair, load_public_key, load_secret_pair
from pipeline.publish.publisher import ZmqPublisher
from tests.helpers.procs import free_port


@pytest.fixture
def keys(tmp_path) -> Path:
    folder = tmp_path / "keys"
    for name in ("server", "client", "other"):
        create_keypair(folder, name)
    return folder


def curve_sub(ctx: zmq.Context, ep: str, server_public: Path, client_secret: Path) -> zmq.Socket:
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.curve_serverkey = load_public_key(server_public, "server")
    s.curve_publickey, s.curve_secretkey = load_secret_pair(client_secret, "client")
    s.connect(ep)
    s.setsockopt(zmq.SUBSCRIBE, b"parts.")
    return s


def received_within(pub: ZmqPublisher, sub: zmq.Socket, seconds: float) -> list[list[bytes]]:
    """Publish a record every 20 ms for ``seconds`` (or until one arrives); what the subscriber got."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pub.publish("parts.enc", json.dumps({"secret": "infant data"}).encode())
        if sub.poll(20):
            return [sub.recv_multipart()]
    return []


def test_keys_command_creates_pair_and_refuses_overwrite(tmp_path, infant_stream):
    out = tmp_path / "k"
    run = subprocess.run([*infant_stream, "keys", str(out), "--name", "cam"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (out / "cam.key").is_file() and (out / "cam.key_secret").is_file()
    assert (out / "cam.key_secret").stat().st_mode & 0o077 == 0
    assert "secret-key" not in (out / "cam.key").read_text()
    assert len(load_public_key(out / "cam.key", "x")) == 40
    public, secret = load_secret_pair(out / "cam.key_secret", "x")
    assert public == load_public_key(out / "cam.key", "x") and len(secret) == 40
    before = (out / "cam.key_secret").read_bytes()
    again = subprocess.run(
        [*infant_stream, "keys", str(out), "--name", "cam"], capture_output=True, text=True
    )
    assert again.returncode == 2
    assert (
        again.stderr.count("\n") == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
    )
    assert (out / "cam.key_secret").read_bytes() == before


def test_keys_default_name_and_bad_name(tmp_path):
    public, secret = create_keypair(tmp_path)
    assert (public.name, secret.name) == ("server.key", "server.key_secret")
    with pytest.raises(ConfigError, match="--name"):
        create_keypair(tmp_path, "../evil")


def test_key_loading_errors_name_the_file(tmp_path, keys):
    with pytest.raises(ConfigError, match=r"^--k .*missing.key: no such key file$"):
        load_public_key(tmp_path / "missing.key", "--k")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("hello\n")
    with pytest.raises(ConfigError, match=r"^--k .*garbage.key: not a CURVE key file"):
        load_public_key(garbage, "--k")
    short = tmp_path / "short.key"
    short.write_text('curve\n    public-key = "abc"\n')
    with pytest.raises(ConfigError, match="40 Z85 characters"):
        load_public_key(short, "--k")
    with pytest.raises(ConfigError, match=r"server.key: has no secret key"):
        load_secret_pair(keys / "server.key", "--k")
    with pytest.raises(ConfigError, match="no such folder"):
        check_clients_dir(tmp_path / "nope", "--c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty: no client public keys"):
        check_clients_dir(tmp_path / "empty", "--c")


def test_publisher_key_errors_are_config_errors(tmp_path, keys):
    ep = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=r"^--zmq-curve-key .*server.key: has no secret key"):
        ZmqPublisher(ZmqConfig(endpoint=ep, curve_secret_key=str(keys / "server.key")))
    with pytest.raises(ConfigError, match=r"^--zmq-curve-clients .*: needs --zmq-curve-key"):
        ZmqPublisher(ZmqConfig(endpoint=ep, curve_clients_dir=str(keys)))
    with pytest.raises(ConfigError, match=r"^--zmq-curve-clients .*nope: no such folder"):
        ZmqPublisher(
            ZmqConfig(
                endpoint=ep,
                curve_secret_key=str(keys / "server.key_secret"),
                curve_clients_dir=str(keys / "nope"),
            )
        )


def test_curve_round_trip_and_wrong_server_key(ctx, keys):
    ep = f"tcp://127.0.0.1:{free_port()}"
    cfg = ZmqConfig(endpoint=ep, curve_secret_key=str(keys / "server.key_secret"))
    with ZmqPublisher(cfg) as pub:
        good = curve_sub(ctx, ep, keys / "server.key", keys / "client.key_secret")
        got = received_within(pub, good, 5.0)
        assert got and got[0][0] == b"parts.enc" and json.loads(got[0][1]) == {"secret": "infant data"}
        wrong = curve_sub(ctx, ep, keys / "other.key", keys / "client.key_secret")
        assert received_within(pub, wrong, 1.0) == []
        plain = ctx.socket(zmq.SUB)
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(ep)
        plain.setsockopt(zmq.SUBSCRIBE, b"")
        assert received_within(pub, plain, 1.0) == []
        assert received_within(pub, good, 2.0)  # the right one still works


def test_curve_clients_dir_allows_only_listed_clients(ctx, keys, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(keys / "client.key", allowed / "client.key")
    ep = f"tcp://127.0.0.1:{free_port()}"
    cfg = ZmqConfig(
        endpoint=ep, curve_secret_key=str(keys / "server.key_secret"), curve_clients_dir=str(allowed)
    )
    with ZmqPublisher(cfg) as pub:
        listed = curve_sub(ctx, ep, keys / "server.key", keys / "client.key_secret")
        assert received_within(pub, listed, 5.0)
        unlisted = curve_sub(ctx, ep, keys / "server.key", keys / "other.key_secret")
        assert received_within(pub, unlisted, 1.0) == []


def test_curve_on_all_interfaces_does_not_warn(keys, caplog):
    cfg = ZmqConfig(endpoint=f"tcp://*:{free_port()}", curve_secret_key=str(keys / "server.key_secret"))
    with caplog.at_level("WARNING", logger="pipeline.publish.publisher"):
        ZmqPublisher(cfg).close()
    assert not caplog.records
