"""Each security promise relay makes, checked (docs/security.md lists them with these tests)."""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import ipaddress
import json
import logging
import os
import socket
import stat
import threading
from pathlib import Path

import httpx
import pytest
import uvicorn

from relay.agent import Agent, make_http_client
from relay.config import from_dict, load
from relay.errors import ConfigError, EnvironmentProblem
from relay.formats.csv_reader import FileRejected, RowReject, open_csv
from relay.formats.csv_records import FIELD_LIMIT, HEADER_LIMIT, MAX_COLUMNS
from relay.formats.json_reader import MAX_DEPTH, MAX_ITEMS, BodyRejected, read_json
from relay.ingest.listener_app import TokenGate
from relay.logs import setup as setup_logs
from relay.samples import SIMPLE_REPORT_COLUMNS, simple_report_rows
from tests.chaos.support import wait_until
from tests.helpers.stub_server import http_client, stub_server

INTAKE_TOKEN = "intake-secret-token-0123456789"
LISTENER_TOKEN = "listener-secret-token-0123456789"


def agent_config(tmp_path, **sections):
    raw = {"store": {"path": str(tmp_path / "outbox.db")}, "listener": {"enabled": False}, **sections}
    return from_dict(raw, None)


def private(path: Path) -> bool:
    return path.stat().st_mode & 0o077 == 0


# -- the listener stays on this machine -----------------------------------------------------------


def test_listener_is_on_loopback_by_default(tmp_path):
    config = agent_config(tmp_path, listener={"port": 0})
    assert config.listener.host == "127.0.0.1"
    with Agent(config) as agent:
        address = agent.listener._sock.getsockname()[0]
        assert ipaddress.ip_address(address).is_loopback


def test_listener_for_other_machines_without_a_token_is_refused_before_it_binds(tmp_path):
    config = agent_config(tmp_path, listener={"host": "0.0.0.0", "port": 0})
    with Agent(config) as agent:  # the agent runs on; the listener is not started and a person is told
        assert agent.listener is None
        assert any("other machines" in p and "listener.token" in p for p in agent.stats()["problems"])


def test_listener_for_other_machines_with_a_token_is_warned_about(tmp_path, caplog):
    # 192.0.2.10 (TEST-NET-1) is no address of this machine: the warning comes before binding, and
    # the bind then fails, so no test ever listens beyond loopback.
    config = agent_config(tmp_path, listener={"host": "192.0.2.10", "port": 0, "token": LISTENER_TOKEN})
    caplog.set_level(logging.WARNING, logger="relay")
    with Agent(config) as agent:
        assert agent.listener is None
    assert "accepts connections from other machines" in caplog.text
    assert "not an address of this machine" in caplog.text


def test_a_page_pointing_its_own_name_at_loopback_is_turned_away(tmp_path):
    """DNS rebinding: a browser sends the attacker's host name in the Host header."""
    with Agent(agent_config(tmp_path, listener={"port": 0})) as agent, \
            http_client(agent.listener.url, timeout=10) as http:
        body = json.dumps({"Result_ID": "r-1", "Patient_last_name": "Doe"}).encode()
        for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "[::2]"):
            r = http.post("/v1/results", content=body, headers={"content-type": "application/json", "host": host})
            assert r.status_code == 403, host
            assert http.get("/healthz", headers={"host": host}).status_code == 403
        assert agent.stats()["pending"] == 0
        for host in (f"127.0.0.1:{agent.listener.port}", f"localhost:{agent.listener.port}", "localhost"):
            assert http.get("/healthz", headers={"host": host}).status_code == 200


# -- listener token: constant-time check, every path ----------------------------------------------


WRONG_AUTHORIZATION = [
    None, "", "Bearer", "Bearer x", f"Bearer {LISTENER_TOKEN[:-1]}", f"Bearer {LISTENER_TOKEN}x",
    f"Bearer {LISTENER_TOKEN.upper()}", f"Bearer {'y' * len(LISTENER_TOKEN)}", f"Bearer {LISTENER_TOKEN * 4}",
    f"Basic {LISTENER_TOKEN}", f"Token {LISTENER_TOKEN}", LISTENER_TOKEN, f"Bearer  {LISTENER_TOKEN[1:]}",
]


def test_wrong_missing_or_other_length_listener_tokens_are_401_everywhere(tmp_path):
    config = agent_config(tmp_path, listener={"port": 0, "token": LISTENER_TOKEN})
    body = json.dumps({"Result_ID": "r-1", "Patient_last_name": "Doe"}).encode()
    with Agent(config) as agent, http_client(agent.listener.url, timeout=10) as http:
        for authorization in WRONG_AUTHORIZATION:
            headers = {} if authorization is None else {"authorization": authorization}
            answers = [
                http.post("/v1/results", content=body, headers={"content-type": "application/json", **headers}),
                http.get("/v1/results/1", headers=headers),
                http.get("/healthz", headers=headers),
                http.get("/nothing-here", headers=headers),
            ]
            assert [a.status_code for a in answers] == [401] * 4, authorization
            assert LISTENER_TOKEN not in answers[0].text
        assert agent.stats()["pending"] == 0
        good = {"authorization": f"Bearer {LISTENER_TOKEN}"}
        assert http.post("/v1/results", content=body, headers={"content-type": "application/json", **good}
                         ).status_code == 202
    assert "hmac.compare_digest" in inspect.getsource(TokenGate)  # the comparison takes the same time


# -- files only the user can read ---------------------------------------------------------------------


def test_outbox_and_its_journal_files_are_private(tmp_path):
    config = agent_config(tmp_path, store={"path": str(tmp_path / "new-folder" / "outbox.db")})
    with Agent(config) as agent:
        agent.box.add_items([], source="test", client="c", now=agent.clock.now())
        files = [p for p in (tmp_path / "new-folder").iterdir() if p.name.startswith("outbox.db")]
        assert {p.name for p in files} >= {"outbox.db", "outbox.db-wal", "outbox.db-shm"}
        for path in files:
            if path.name != "outbox.db.lock":  # holds only the process id
                assert private(path), f"{path.name} is {stat.filemode(path.stat().st_mode)}"


def test_log_files_are_private_also_after_rotation(tmp_path):
    path = setup_logs(to_file=True)
    try:
        assert path is not None and private(path) and private(path.parent)
        handler = next(h for h in logging.getLogger().handlers
                       if getattr(h, "relay_handler", False) and hasattr(h, "doRollover"))
        logging.getLogger("relay.test").info("before rotation")
        handler.doRollover()
        logging.getLogger("relay.test").info("after rotation")
        rotated = path.with_name(path.name + ".1")
        assert rotated.exists() and private(rotated)
        assert private(path), f"the new log file is {stat.filemode(path.stat().st_mode)}"
    finally:
        for h in list(logging.getLogger().handlers):
            if getattr(h, "relay_handler", False):
                logging.getLogger().removeHandler(h)
                h.close()


def test_config_file_written_by_relay_is_private(tmp_path):
    from relay.ui.toml_write import write_file

    path = tmp_path / "config" / "relay.toml"
    write_file(path, {"listener": {"token": LISTENER_TOKEN}})
    assert private(path)
    os.chmod(path, 0o644)  # made readable by hand, then saved again from the settings window
    backup = write_file(path, {"listener": {"token": LISTENER_TOKEN}})
    assert private(path) and backup is not None and private(backup)


# -- no patient data in logs ------------------------------------------------------------------------


def marked_rows(count: int) -> list[dict[str, str]]:
    """Generated rows whose identifying fields are unique markers, easy to find in a log."""
    rows = []
    for n, row in enumerate(simple_report_rows(count, seed=404)):
        row.update({
            "Patient_last_name": f"Qzlastname{n:03d}", "Patient_first_name": f"Qzfirstname{n:03d}",
            "Patient_DOB": f"1911{n // 28 + 1:02d}{n % 28 + 1:02d}", "Patient_phone_number": f"(205) 555-{7000 + n}",
            "Patient_street": f"{n} Qzstreet Road", "Patient_email": f"qzmail{n}@example.org",
        })
        rows.append(row)
    return rows


def sensitive_values(rows: list[dict[str, str]]) -> set[str]:
    keys = ("Patient_last_name", "Patient_first_name", "Patient_DOB", "Patient_phone_number", "Patient_street",
            "Patient_email", "Patient_ID", "Result_ID")
    return {row[k] for row in rows for k in keys} | {INTAKE_TOKEN, LISTENER_TOKEN}


def write_rows(path: Path, rows: list[dict[str, str]], extra_lines: str = "") -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(SIMPLE_REPORT_COLUMNS), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        fh.write(extra_lines)
    return path


@pytest.mark.slow
def test_a_full_delivery_logs_no_patient_data_and_no_secret(tmp_path):
    rows = marked_rows(60)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    log_path = setup_logs(verbose=True, to_file=True)
    try:
        # the intake refuses one result by its content, so item errors travel back too
        with stub_server(subprocess=True, token=INTAKE_TOKEN, fail_rate=0.2, seed=2,
                         reject_when=["Patient_last_name=^Qzlastname007$"]) as stub:
            config = agent_config(
                tmp_path, intake={"url": stub.url, "batch_max_items": 10, "timeout_s": 5},
                watch=[{"folder": str(inbox), "settle_s": 0}],
                listener={"port": 0, "token": LISTENER_TOKEN},
                delivery={"retry_initial_s": 0.05, "retry_max_s": 0.3})
            agent = Agent(config, token=lambda: INTAKE_TOKEN)
            agent.start()
            try:
                broken_row = '"Qzlastname900,"unterminated, 19110101\r\n' + ",".join(rows[0].values()) + ",extra\r\n"
                write_rows(tmp_path / "a.csv", rows[:20], broken_row).rename(inbox / "a.csv")
                write_rows(tmp_path / "b.csv", rows[10:30]).rename(inbox / "b.csv")  # overlaps a.csv
                (tmp_path / "c.csv").write_bytes(b"\x00\x01" + rows[0]["Patient_last_name"].encode() + b"\x00")
                (tmp_path / "c.csv").rename(inbox / "c.csv")  # not CSV at all
                auth = {"authorization": f"Bearer {LISTENER_TOKEN}"}
                with http_client(agent.listener.url, timeout=10, headers=auth) as http:
                    assert http.post("/v1/results", json=rows[30:40]).status_code == 202
                    ndjson = "\n".join(json.dumps(r) for r in rows[40:50]).encode()
                    assert http.post("/v1/results", content=ndjson,
                                     headers={"content-type": "application/x-ndjson"}).status_code == 202
                    body = write_rows(tmp_path / "post.csv", rows[50:60]).read_bytes()
                    assert http.post("/v1/results", content=body, headers={"content-type": "text/csv"}
                                     ).status_code == 202
                    assert http.post("/v1/results", json=rows[30:32]).status_code == 200  # duplicates
                    refused = [
                        http.post("/v1/results", json={**rows[0], "Patient_last_name": {"nested": rows[1]["Patient_DOB"]}}),
                        http.post("/v1/results", content=body.replace(b"\r\n", b',"\r\n', 3),
                                  headers={"content-type": "text/csv"}),
                        http.post("/v1/results", content=json.dumps(rows[3])[:-5].encode(),
                                  headers={"content-type": "application/json"}),
                    ]
                    assert all(r.status_code == 400 for r in refused), [(r.status_code, r.text[:300]) for r in refused]
                    assert http.get("/v1/results/1", params={"wait": 5}).status_code == 200
                    assert http.get("/healthz").status_code == 200
                wait_until(lambda: not (inbox / "a.csv").exists() and not (inbox / "c.csv").exists()
                           and (s := agent.stats())["pending"] == s["sending"] == 0 and s["sent"] > 0, 60,
                           "everything handled")
                snap = agent.stats()
            finally:
                agent.stop()
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = log_path.read_text(encoding="utf-8")
    finally:
        for h in list(logging.getLogger().handlers):
            if getattr(h, "relay_handler", False):
                logging.getLogger().removeHandler(h)
                h.close()
    assert snap["failed"] == 1 and snap["sent"] == 59 and snap["files_rejected"] == 1
    assert "listener: post refused with 400" in text and "batch" in text and "rejected whole" in text
    found = sorted(v for v in sensitive_values(rows) | {"Qzlastname900"} if v in text)
    assert not found, f"the log holds patient data or a secret: {found[:10]}"


# -- secrets stay out of the config file --------------------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ('[intake]\ntoken = "abc"\n', "intake.token"),
    ('[intake]\nkey = "abc"\n', "intake.key"),
    ('[intake]\npassword = "abc"\n', "intake.password"),
    ('[intake]\nsecret = "abc"\n', "intake.secret"),
    ('[intake]\nurl = "https://lab:hunter2@intake.example.org/api/waters"\n', "intake.url"),
    ('[intake]\nurl = "https://intake.example.org/api/waters?code=abc123"\n', "intake.url"),
])
def test_secrets_in_the_config_file_are_refused(tmp_path, text, words):
    path = tmp_path / "relay.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert words in str(info.value) and "secret" in str(info.value)
    assert "abc" not in str(info.value) and "hunter2" not in str(info.value)


def test_listener_token_in_a_file_others_can_read_is_warned_about(tmp_path, caplog):
    path = tmp_path / "relay.toml"
    path.write_text(f'[listener]\ntoken = "{LISTENER_TOKEN}"\n', encoding="utf-8")
    caplog.set_level(logging.WARNING, logger="relay")
    os.chmod(path, 0o644)
    assert load(path).listener.token == LISTENER_TOKEN  # allowed (INTERFACE §2), but said
    assert "other users" in caplog.text and str(path) in caplog.text and LISTENER_TOKEN not in caplog.text
    caplog.clear()
    os.chmod(path, 0o600)
    load(path)
    assert "other users" not in caplog.text


def test_config_file_size_is_limited(tmp_path):
    path = tmp_path / "relay.toml"
    path.write_text("# " + "x" * (2 * 1024 * 1024) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="too large"):
        load(path)


# -- TLS: verified by default, with an extra CA when configured ------------------------------------------


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay test intake")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "intake-cert.pem", tmp_path / "intake-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TlsIntake:
    """The receiving stub's app served over HTTPS on 127.0.0.1 with the given certificate."""

    def __init__(self, tmp_path: Path, cert: Path, key: Path) -> None:
        from server_stub import Settings, create_app

        app = create_app(Settings(host="127.0.0.1", port=0, db=str(tmp_path / "stub.db"), token=INTAKE_TOKEN,
                                  log=str(tmp_path / "stub.log")))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}/api/waters"
        config = uvicorn.Config(app, ssl_certfile=str(cert), ssl_keyfile=str(key), log_config=None,
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> TlsIntake:
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), 20, "the TLS intake started")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        self.sock.close()


def deliver_one(tmp_path: Path, url: str, ca_file: Path | None, name: str) -> dict:
    intake = {"url": url, "timeout_s": 5, **({"ca_file": str(ca_file)} if ca_file else {})}
    config = agent_config(tmp_path, store={"path": str(tmp_path / f"{name}.db")}, intake=intake,
                          delivery={"retry_initial_s": 0.05, "retry_max_s": 0.2})
    with Agent(config, token=lambda: INTAKE_TOKEN) as agent:
        row = next(simple_report_rows(1, seed=77))
        from relay.formats.json_reader import read_json as items_of

        agent.box.add_items(items_of(json.dumps(row).encode(), intake_format="csv", tracking_column=None),
                            source="test", client="simple_report.default", now=agent.clock.now())
        agent.new_work()
        wait_until(lambda: (item := agent.box.get_item(1)).state == "sent" or item.attempts >= 2, 30,
                   "an answer or two failed attempts")
        item = agent.box.get_item(1)
        return {"state": item.state, "last_error": item.last_error}


@pytest.mark.slow
def test_tls_to_a_self_signed_intake_is_refused_unless_its_ca_is_configured(tmp_path):
    cert, key = self_signed(tmp_path)
    with TlsIntake(tmp_path, cert, key) as intake:
        refused = deliver_one(tmp_path, intake.url, None, "without-ca")
        accepted = deliver_one(tmp_path, intake.url, cert, "with-ca")
    assert refused["state"] == "pending" and "certificate" in refused["last_error"], refused
    assert "intake.ca_file" in refused["last_error"]
    assert accepted == {"state": "sent", "last_error": None}


def test_tls_verification_cannot_be_switched_off_in_the_config(tmp_path):
    for key, value in (("verify", False), ("insecure", True), ("tls_verify", False)):
        with pytest.raises(ConfigError, match=f"unknown key intake.{key}"):
            from_dict({"intake": {key: value}}, None)


def test_extra_ca_adds_to_the_default_trust(tmp_path):
    import ssl

    cert, _ = self_signed(tmp_path)
    plain = make_http_client(agent_config(tmp_path, intake={"url": "https://127.0.0.1:9/x"}))
    extra = make_http_client(agent_config(tmp_path, intake={"url": "https://127.0.0.1:9/x", "ca_file": str(cert)}))
    try:
        ctx: ssl.SSLContext = extra._transport._pool._ssl_context  # the context httpx verifies with
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        base = plain._transport._pool._ssl_context.cert_store_stats()["x509_ca"]
        assert ctx.cert_store_stats()["x509_ca"] == base + 1  # the public CAs and the configured one
    finally:
        plain.close()
        extra.close()


def test_a_missing_or_unreadable_ca_file_is_a_plain_config_error(tmp_path):
    (tmp_path / "not-pem.pem").write_text("this is not a certificate", encoding="utf-8")
    for name in ("missing.pem", "not-pem.pem"):
        config = agent_config(tmp_path, intake={"url": "https://127.0.0.1:9/x", "ca_file": str(tmp_path / name)})
        with pytest.raises(ConfigError, match="intake.ca_file"):
            make_http_client(config)


def test_plain_http_to_another_machine_is_warned_about(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="relay")
    make_http_client(agent_config(tmp_path, intake={"url": "http://127.0.0.1:8080/api/waters"})).close()
    assert "unencrypted" not in caplog.text
    make_http_client(agent_config(tmp_path, intake={"url": "http://intake.example.org/api/waters"})).close()
    assert "unencrypted" in caplog.text


# -- size limits wherever input enters ----------------------------------------------------------------


def test_csv_field_row_header_and_column_limits(tmp_path):
    big_field = tmp_path / "big-field.csv"
    big_field.write_text("Result_ID,Note\r\nr1," + "x" * (FIELD_LIMIT + 1) + "\r\nr2,ok\r\n", encoding="utf-8")
    records = list(open_csv(big_field))
    assert [type(r).__name__ for r in records] == ["RowReject", "Row"] and "longer than" in records[0].reason
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)) + "\r\n" + "1," * MAX_COLUMNS + "1\r\n",
                    encoding="utf-8")
    long_header = tmp_path / "long-header.csv"
    long_header.write_text("Result_ID," + "h" * (HEADER_LIMIT + 1) + "\r\nr1,x\r\n", encoding="utf-8")
    for path in (wide, long_header):
        with pytest.raises(FileRejected):
            list(open_csv(path))


def test_json_item_count_and_depth_limits():
    too_many = json.dumps([{"Result_ID": str(i)} for i in range(MAX_ITEMS + 1)]).encode()
    with pytest.raises(BodyRejected, match="more than"):
        read_json(too_many, intake_format="csv", tracking_column=None)
    deep: object = "x"
    for _ in range(MAX_DEPTH + 2):
        deep = {"a": deep}
    with pytest.raises(BodyRejected, match="nested"):
        read_json(json.dumps({"Result_ID": "1", "d": deep}).encode(), intake_format="json", tracking_column=None)


def test_listener_body_limit(tmp_path):
    config = agent_config(tmp_path, listener={"port": 0, "max_body_bytes": 4096})
    with Agent(config) as agent, http_client(agent.listener.url, timeout=10) as http:
        r = http.post("/v1/results", content=json.dumps({"Result_ID": "1", "n": "x" * 5000}).encode(),
                      headers={"content-type": "application/json"})
        assert r.status_code == 413 and agent.stats()["pending"] == 0


def test_an_intake_answer_is_read_only_up_to_a_limit(tmp_path):
    """An intake gone wrong that answers with an endless body cannot fill relay's memory."""
    from relay.clock import FakeClock
    from relay.delivery.sender import MAX_ANSWER_BYTES, Sender
    from relay.store.outbox import Outbox
    from tests.helpers.builders import new_item

    sent: list[int] = []

    def endless():
        while len(sent) < 10_000:  # 10 GB if it were all read
            sent.append(1)
            yield b"x" * (1024 * 1024)

    transport = httpx.MockTransport(lambda request: httpx.Response(201, content=endless()))
    config = agent_config(tmp_path, intake={"url": "http://127.0.0.1:9/api/waters"})
    with Outbox(config.store.path) as box:
        clock = FakeClock()
        box.add_items([new_item(1)], source="test", client="c", now=clock.now())
        sender = Sender(box, config, client=httpx.Client(transport=transport), clock=clock, token=lambda: "t")
        sender.step()
        item = box.get_item(1)
    assert item.state == "sent" and len(item.receipt) <= 4000
    assert len(sent) <= MAX_ANSWER_BYTES // (1024 * 1024) + 1


# -- the intake credential: OS keyring or the environment, never a file, never the command line ---------


class MemoryKeyring:
    """Stands in for the OS keyring (which cannot be real in a test)."""

    @staticmethod
    def make():
        from keyring.backend import KeyringBackend
        from keyring.errors import PasswordDeleteError

        class Memory(KeyringBackend):
            priority = 1  # type: ignore[assignment]

            def __init__(self) -> None:
                super().__init__()
                self.store: dict[tuple[str, str], str] = {}

            def get_password(self, service, username):
                return self.store.get((service, username))

            def set_password(self, service, username, password):
                self.store[(service, username)] = password

            def delete_password(self, service, username):
                if self.store.pop((service, username), None) is None:
                    raise PasswordDeleteError("not stored")

        return Memory()


@pytest.fixture
def keyring_backend():
    import keyring

    before = keyring.get_keyring()
    yield lambda backend: keyring.set_keyring(backend)
    keyring.set_keyring(before)


def test_intake_credential_goes_to_the_keyring_from_stdin_and_the_environment_wins(
        tmp_path, monkeypatch, capsys, keyring_backend):
    import io
    import sys

    from relay import credentials
    from relay.cli import main

    memory = MemoryKeyring.make()
    keyring_backend(memory)
    monkeypatch.setattr(sys, "stdin", io.StringIO(INTAKE_TOKEN + "\n"))
    assert main(["--config", str(tmp_path / "none.toml"), "token", "set"]) == 0
    assert memory.store == {("relay", "intake"): INTAKE_TOKEN}
    assert INTAKE_TOKEN not in capsys.readouterr().out
    assert credentials.get_token({}) == INTAKE_TOKEN
    assert credentials.get_token({"RELAY_TOKEN": "from-the-environment-0123"}) == "from-the-environment-0123"
    with pytest.raises(SystemExit):  # there is no way to give it on the command line
        main(["token", "set", INTAKE_TOKEN])
    for bad in ("two words", "a\nb", "x" * (credentials.MAX_LENGTH + 1), " "):
        with pytest.raises(ValueError):
            credentials.set_token(bad)


def test_without_a_keyring_the_credential_is_refused_not_written_to_a_file(tmp_path, keyring_backend):
    from keyring.backends import fail

    from relay import credentials
    from relay.errors import CredentialStoreUnavailable

    keyring_backend(fail.Keyring())
    with pytest.raises(CredentialStoreUnavailable, match="RELAY_TOKEN"):
        credentials.set_token(INTAKE_TOKEN)
    assert credentials.get_token({}) is None
    home = Path(os.environ["RELAY_HOME"])
    written = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    assert not any(INTAKE_TOKEN.encode() in p.read_bytes() for p in written)
