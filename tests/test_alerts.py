"""Nightly alerts (pipeline/qa/alerts.py): a batch over the sample transcripts plus a corrupt
file sends exactly one digest per run to a local HTTP receiver and a local SMTP server
(aiosmtpd), both started here; unreachable channels never fail the batch; a run with
nothing new sends nothing (or a "nothing new" digest, per config)."""

from __future__ import annotations

import email
import json
import logging
import shutil
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from callqa.pipeline.batch import run_batch
from callqa.pipeline.config import load_config
from callqa.pipeline.errors import ConfigError
from callqa.pipeline.store.db import Store

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is in the test extra")

SAMPLES = Path(__file__).resolve().parent.parent / "sample_calls" / "transcripts"
HIGH_FLAGS = {("en_bad_inbound_tx", "forbidden_phrase"), ("ru_bad_inbound_tx", "forbidden_phrase")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """A local webhook: records every POST body, answers `status`."""

    def __init__(self, status: int = 200):
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.bodies.append(json.loads(body))
                outer.headers.append(dict(self.headers))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/callqa"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """A local SMTP server (aiosmtpd): records every message; with `login`, requires AUTH."""

    def __init__(self, login: tuple[str, str] | None = None):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                outer.envelopes.append(envelope)
                outer.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        kwargs = {}
        if login is not None:
            from aiosmtpd.smtp import AuthResult

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = (auth_data.login.decode(), auth_data.password.decode()) == login
                return AuthResult(success=ok)

            kwargs = {"authenticator": authenticator, "auth_require_tls": False, "auth_required": True}
        self.port = free_port()
        self.controller = aiosmtpd_controller.Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def close(self):
        self.controller.stop()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def mailbox():
    m = Mailbox()
    yield m
    m.close()


def sample_inbox(box: Path) -> Path:
    """The six sample transcripts, one corrupt recording, and an earlier week's good call of
    op-102 (whose sample call this week is the bad one)."""
    box.mkdir(parents=True)
    for f in SAMPLES.glob("*.json"):
        shutil.copy(f, box / f.name)
    earlier = json.loads((SAMPLES / "en_good_inbound_tx.json").read_text(encoding="utf-8"))
    earlier.update(call_id="op102_previous_week", operator_id="op-102", team="team-a",
                   started_at="2024-05-07T10:00:00")
    (box / "op102_previous_week.json").write_text(json.dumps(earlier, ensure_ascii=False), encoding="utf-8")
    (box / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk, not audio")
    return box


def alerts_config(path: Path, *, webhook: str | None = None, smtp_port: int | None = None, **extra) -> Path:
    alerts = {"score_drop": {"points": 10, "period": "week", "min_calls": 1}, **extra}
    if webhook is not None:
        alerts["webhook"] = {"url": webhook, "retries": 0, "timeout_s": 5}
    if smtp_port is not None:
        alerts["email"] = {"host": "127.0.0.1", "port": smtp_port, "starttls": False,
                           "from": "callqa@example.test", "to": ["qa-lead@example.test", "ops@example.test"],
                           "timeout_s": 5, **alerts.pop("email", {})}
    path.write_text(yaml.safe_dump({"alerts": alerts}), encoding="utf-8")
    return path


def stored_alerts(store: Path, run_id: str) -> dict:
    rows = Store(store).query("SELECT summary FROM runs WHERE run_id = ?", [run_id])
    return json.loads(rows[0]["summary"])["extra"]["alerts"]


@pytest.mark.parametrize("send_empty", [False, True])
def test_each_run_sends_exactly_one_digest_by_webhook_and_email(tmp_path, receiver, mailbox, send_empty, capsys):
    box = sample_inbox(tmp_path / "inbox")
    cfg = alerts_config(tmp_path / "alerts.yaml", webhook=receiver.url, smtp_port=mailbox.port,
                        send_empty=send_empty)
    store = tmp_path / "store"

    first = run_batch([box], store, cfg)
    assert (first.processed, first.failed) == (7, 1)
    assert len(receiver.bodies) == 1 and len(mailbox.messages) == 1
    digest = receiver.bodies[0]
    assert digest["kind"] == "callqa.nightly_digest" and digest["run_id"] == first.run_id and not digest["empty"]
    assert [f["path"] for f in digest["failed_files"]["items"]] == [str(box.resolve() / "corrupt.wav")]
    assert "not a readable audio file" in digest["failed_files"]["items"][0]["reason"]
    flags = {(f["call_id"], f["flag_id"]) for f in digest["high_severity_flags"]["items"]}
    assert flags == HIGH_FLAGS  # medium flags and the corrupt file's processing_error are not listed
    assert all(f["severity"] == "high" and "quote" not in f for f in digest["high_severity_flags"]["items"])
    # op-102: a good call in 2024-W19, the bad sample call in 2024-W20; one call each, so the
    # period's overall score is the call's own overall score
    overall = {r["call_id"]: r["processing"]["scoring"]["overall_score"] for r in Store(store).results()}
    [drop] = digest["score_drops"]["items"]
    assert (drop["operator_id"], drop["period"], drop["previous_period"]) == ("op-102", "2024-W20", "2024-W19")
    assert drop["overall"] == pytest.approx(overall["en_bad_inbound_tx"], abs=0.06)
    assert drop["previous_overall"] == pytest.approx(overall["op102_previous_week"], abs=0.06)
    assert drop["drop"] >= 10
    # category spikes: the sample calls are the store's first (no earlier days), and no category
    # has 3 calls of one team
    assert digest["category_spikes"]["available"] is True and digest["category_spikes"]["items"] == []
    assert digest["category_spikes"]["day"] == "2024-05-15"

    mail = mailbox.messages[0]
    assert sorted(mailbox.envelopes[0].rcpt_tos) == ["ops@example.test", "qa-lead@example.test"]
    assert mail["Subject"].startswith("[callqa] run " + first.run_id)
    assert "2 high-severity flags" in mail["Subject"] and "1 failed file" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "corrupt.wav" in body and "forbidden_phrase" in body and "op-102" in body
    [attachment] = list(mail.iter_attachments())
    assert json.loads(attachment.get_content()) == digest
    recorded = stored_alerts(store, first.run_id)
    assert recorded["status"] == "sent" and [c["channel"] for c in recorded["channels"]] == ["webhook", "email"]
    assert json.loads(Path(recorded["file"]).read_text(encoding="utf-8")) == digest
    from callqa.commands.batch import print_summary

    capsys.readouterr()
    print_summary(first.serialize())  # what `callqa batch` prints after the table
    printed = capsys.readouterr().out
    assert f"alerts: digest sent by webhook, email: run {first.run_id}: 2 high-severity flags" in printed

    second = run_batch([box], store, cfg)  # nothing new: every call already stored, the bad file known
    assert (second.processed, second.skipped, second.failed) == (0, 8, 0)
    if send_empty:
        assert len(receiver.bodies) == 2 and len(mailbox.messages) == 2
        quiet = receiver.bodies[1]
        assert quiet["run_id"] == second.run_id and quiet["empty"] and quiet["headline"].endswith("nothing new")
        assert quiet["high_severity_flags"]["total"] == quiet["failed_files"]["total"] == 0
        assert "Nothing new" in mailbox.messages[1].get_body(("plain",)).get_content()
        assert stored_alerts(store, second.run_id)["status"] == "sent"
    else:
        assert len(receiver.bodies) == 1 and len(mailbox.messages) == 1
        recorded = stored_alerts(store, second.run_id)
        assert recorded["status"] == "skipped" and "nothing new" in recorded["reason"]


def test_unreachable_channels_never_fail_the_batch(tmp_path, caplog):
    box = sample_inbox(tmp_path / "inbox")
    closed = free_port()  # nothing listens there
    cfg = alerts_config(tmp_path / "alerts.yaml", webhook=f"http://127.0.0.1:{closed}/hook", smtp_port=closed)
    with caplog.at_level(logging.WARNING, logger="callqa.alerts"):
        summary = run_batch([box], tmp_path / "store", cfg)
    assert (summary.processed, summary.failed) == (7, 1)  # the batch itself is complete
    assert {c["call_id"] for c in Store(tmp_path / "store").calls(status="ok")} >= {"en_bad_inbound_tx"}
    recorded = stored_alerts(tmp_path / "store", summary.run_id)
    assert recorded == summary.extra["alerts"]
    assert recorded["status"] == "failed"
    errors = {c["channel"]: c["error"] for c in recorded["channels"] if not c["ok"]}
    assert set(errors) == {"webhook", "email"}
    assert f"127.0.0.1:{closed}" in errors["webhook"] and f"SMTP 127.0.0.1:{closed}" in errors["email"]
    from callqa.pipeline.qa.alerts import describe

    assert describe(recorded).startswith("alerts: NOT sent by webhook") and "email (SMTP" in describe(recorded)
    logged = [r.getMessage() for r in caplog.records if r.name == "callqa.alerts"]
    assert any("webhook not sent" in m for m in logged) and any("email not sent" in m for m in logged)


def test_a_webhook_error_answer_is_recorded_while_the_mail_goes_out(tmp_path, mailbox):
    failing = Receiver(status=500)
    try:
        box = tmp_path / "inbox"
        box.mkdir()
        shutil.copy(SAMPLES / "en_bad_inbound_tx.json", box)
        cfg = alerts_config(tmp_path / "alerts.yaml", webhook=failing.url, smtp_port=mailbox.port)
        summary = run_batch([box], tmp_path / "store", cfg)
    finally:
        failing.close()
    assert len(failing.bodies) == 1 and len(mailbox.messages) == 1  # retries: 0 -> one attempt
    alerts = summary.extra["alerts"]
    assert alerts["status"] == "partly_sent"
    assert [(c["channel"], c["ok"]) for c in alerts["channels"]] == [("webhook", False), ("email", True)]
    assert "HTTP 500" in alerts["channels"][0]["error"]
    # the secret-looking path of the webhook URL never reaches the record
    assert "/hooks/callqa" not in json.dumps(alerts)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # a local test server
def test_smtp_login_and_webhook_header_come_from_environment_variables(tmp_path, receiver, monkeypatch):
    box = tmp_path / "inbox"
    box.mkdir()
    shutil.copy(SAMPLES / "ru_bad_inbound_tx.json", box)
    server = Mailbox(login=("alerts-bot", "s3cret-from-env"))
    try:
        cfg = alerts_config(tmp_path / "alerts.yaml", smtp_port=server.port,
                            email={"user_env": "CALLQA_TEST_SMTP_USER", "password_env": "CALLQA_TEST_SMTP_PASSWORD"})
        text = yaml.safe_load(cfg.read_text())
        text["alerts"]["webhook"] = {"url": receiver.url, "retries": 0,
                                     "headers_env": {"Authorization": "CALLQA_TEST_HOOK_AUTH"}}
        cfg.write_text(yaml.safe_dump(text))
        assert "s3cret" not in cfg.read_text()
        monkeypatch.setenv("CALLQA_TEST_SMTP_USER", "alerts-bot")
        monkeypatch.delenv("CALLQA_TEST_SMTP_PASSWORD", raising=False)
        monkeypatch.setenv("CALLQA_TEST_HOOK_AUTH", "Bearer t0ken")
        first = run_batch([box], tmp_path / "store", cfg)
        email_record = first.extra["alerts"]["channels"][1]
        assert not email_record["ok"] and "CALLQA_TEST_SMTP_PASSWORD is not set" in email_record["error"]
        assert server.messages == [] and receiver.headers[0]["Authorization"] == "Bearer t0ken"

        monkeypatch.setenv("CALLQA_TEST_SMTP_PASSWORD", "s3cret-from-env")
        (box / "ru_bad_inbound_tx.json").unlink()
        shutil.copy(SAMPLES / "en_bad_inbound_tx.json", box)  # something new for the second run
        second = run_batch([box], tmp_path / "store", cfg)
        assert second.extra["alerts"]["status"] == "sent" and len(server.messages) == 1
        assert "en_bad_inbound_tx" in server.messages[0].get_body(("plain",)).get_content()
    finally:
        server.close()


def test_changing_the_alerts_section_reprocesses_nothing(tmp_path, receiver):
    box = tmp_path / "inbox"
    box.mkdir()
    shutil.copy(SAMPLES / "en_bad_inbound_tx.json", box)
    first = run_batch([box], tmp_path / "store", alerts_config(tmp_path / "a.yaml", webhook=receiver.url))
    assert first.processed == 1 and len(receiver.bodies) == 1
    changed = alerts_config(tmp_path / "b.yaml", webhook=receiver.url, send_empty=True, min_severity="medium")
    second = run_batch([box], tmp_path / "store", changed)
    assert (second.processed, second.skipped) == (0, 1)
    assert len(receiver.bodies) == 2 and receiver.bodies[1]["empty"]


def test_nothing_is_built_or_sent_without_a_channel(tmp_path):
    box = tmp_path / "inbox"
    box.mkdir()
    shutil.copy(SAMPLES / "en_bad_inbound_tx.json", box)
    summary = run_batch([box], tmp_path / "store", None)  # the defaults: no webhook, no SMTP host
    assert summary.extra["alerts"] == {"status": "not_configured"}
    assert not list((tmp_path / "store" / "reports").glob("digest-*.json"))


@pytest.mark.parametrize("alerts, key", [
    ({"email": {"host": "smtp.example.test", "to": ["a@example.test"]}}, "alerts.email"),
    ({"email": {"host": "h", "from": "a@b", "to": ["c@d"], "starttls": True, "ssl": True}}, "alerts.email"),
    ({"email": {"user_env": "SMTP_USER"}}, "alerts.email"),
    ({"webhook": {"url": "ftp://example.test/x"}}, "alerts.webhook.url"),
    ({"webhook": {"url_env": "not a name"}}, "alerts.webhook.url_env"),
    ({"min_severity": "urgent"}, "alerts.min_severity"),
    ({"email": {"password": "inline"}}, "alerts.email.password"),  # no secrets in the config
    ({"category_spike": {"ratio": 1}}, "alerts.category_spike.ratio"),
    ({"category_spike": {"days": 2, "min_baseline_days": 3}}, "alerts.category_spike"),
    ({"category_spike": {"compare": "mean"}}, "alerts.category_spike.compare"),
])
def test_invalid_alert_settings_fail_at_load_naming_the_key(tmp_path, alerts, key):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"alerts": alerts}))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.file == str(path) and e.value.key == key


def test_threshold_quotes_and_links_are_configurable(tmp_path, capsys):
    from callqa.commands.batch import print_summary
    from callqa.pipeline.qa.alerts import AlertsConfig, build_digest

    box = tmp_path / "inbox"
    box.mkdir()
    shutil.copy(SAMPLES / "en_bad_inbound_tx.json", box)
    summary = run_batch([box], tmp_path / "store", None, report=False)
    store, config = Store(tmp_path / "store"), load_config()
    high = build_digest(store, summary, AlertsConfig(), config)
    assert [f["flag_id"] for f in high.high_severity_flags] == ["forbidden_phrase"]
    medium = build_digest(store, summary, AlertsConfig.model_validate(
        {"min_severity": "medium", "include_quotes": True, "web_url": "https://qa.example.test/"}), config)
    flags = medium.high_severity_flags
    assert {"forbidden_phrase", "escalation"} <= {f["flag_id"] for f in flags} and len(flags) > 1
    assert flags[0]["flag_id"] == "forbidden_phrase"  # most severe first
    stored = {f["flag_id"]: f["quote"] for f in store.flags(call_id="en_bad_inbound_tx")}
    assert flags[0]["quote"] == stored["forbidden_phrase"] and flags[0]["quote"] in medium.text()
    assert flags[0]["url"] == "https://qa.example.test/calls/en_bad_inbound_tx"
    odd = json.loads((SAMPLES / "en_bad_inbound_tx.json").read_text(encoding="utf-8"))
    odd["call_id"] = "case #7?x"  # '#' and '?' would cut the link at the call id
    (box / "odd.json").write_text(json.dumps(odd), encoding="utf-8")
    again = run_batch([box], tmp_path / "store", None, report=False)
    odd_flags = build_digest(store, again, AlertsConfig.model_validate({"web_url": "https://qa.example.test"}),
                             config).high_severity_flags
    assert [f["url"] for f in odd_flags] == ["https://qa.example.test/calls/case%20%237%3Fx"]
    capsys.readouterr()
    print_summary(summary.serialize())  # `callqa batch` says nothing about alerts that are not configured
    assert "alerts" not in capsys.readouterr().out


def test_a_digest_that_cannot_be_built_is_recorded_and_the_batch_still_finishes(tmp_path, receiver, caplog):
    box = tmp_path / "inbox"
    box.mkdir()
    shutil.copy(SAMPLES / "en_bad_inbound_tx.json", box)
    cfg = alerts_config(tmp_path / "alerts.yaml", webhook=receiver.url)

    def break_config(outcome):  # the config file is edited into an invalid one while the run goes on
        cfg.write_text("alerts: {webhook: {url: ftp://nowhere}}\n", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="callqa.alerts"):
        summary = run_batch([box], tmp_path / "store", cfg, report=False, on_call=break_config)
    assert summary.processed == 1 and receiver.bodies == []
    assert summary.extra["alerts"]["status"] == "error" and "alerts.webhook.url" in summary.extra["alerts"]["reason"]
    assert stored_alerts(tmp_path / "store", summary.run_id)["status"] == "error"
    assert any("could not be built" in r.getMessage() for r in caplog.records)


def test_phone_like_call_ids_and_file_names_never_leave_in_the_digest(tmp_path, receiver, mailbox):
    """Issue 10: a call id that is a phone number is masked in the webhook JSON, the e-mail and
    the stored digest, and its link uses the web app's opaque key (not the number)."""
    phone = "79161234567"
    box = tmp_path / "inbox"
    box.mkdir()
    call = json.loads((SAMPLES / "en_bad_inbound_tx.json").read_text(encoding="utf-8"))
    call["call_id"] = phone
    (box / f"{phone}.json").write_text(json.dumps(call, ensure_ascii=False), encoding="utf-8")
    (box / "+79169876543.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk, not audio")
    cfg = alerts_config(tmp_path / "alerts.yaml", webhook=receiver.url, smtp_port=mailbox.port,
                        web_url="https://qa.example.test")
    store = tmp_path / "store"

    run = run_batch([box], store, cfg)
    assert (run.processed, run.failed) == (1, 1)
    assert len(receiver.bodies) == 1 and len(mailbox.messages) == 1
    digest = receiver.bodies[0]
    [flag] = [f for f in digest["high_severity_flags"]["items"] if f["flag_id"] == "forbidden_phrase"]
    assert flag["call_id"] == "*********67"
    [failed] = digest["failed_files"]["items"]
    assert Path(failed["path"]).name == "+*********43.wav" and "not a readable audio file" in failed["reason"]

    mail = mailbox.messages[0]
    stored = Path(stored_alerts(store, run.run_id)["file"]).read_text(encoding="utf-8")
    assert json.loads(stored) == digest
    for text in (json.dumps(digest), mail.as_string(), stored):
        for digits in ("9161234", "9169876"):
            assert digits not in text
    body = mail.get_body(("plain",)).get_content()
    assert "*********67" in body and "+*********43.wav" in body and flag["url"] in body

    # the link names the call by the web app's key, which opens that call
    key = flag["url"].rsplit("/", 1)[1]
    assert flag["url"].startswith("https://qa.example.test/calls/c-") and len(key) == 26 and key.isascii()
    pytest.importorskip("fastapi", reason="the web app is in the web extra")
    from callqa.web.app import CallKeys
    from callqa.web.security import load_or_create_secret

    keys = CallKeys(Store(store), load_config(), load_or_create_secret(store))
    assert keys.key(phone) == key and keys.call_id(key) == phone


# ------------------------------------------------------------------ category spikes (issue 13's categories)

def _call(call_id: str, team: str, day: str, categories: list[str]) -> dict:
    from test_store import make_result

    result = make_result(call_id)
    result.update(team=team, started_at=f"{day}T10:00:00",
                  categories=[{"id": c, "name": c, "source": "config",
                               "evidence": [{"start": 12.0 + i, "end": 14.0 + i, "speaker": "client",
                                             "quote": f"{c} words, turn {i}"}]}
                              for i, c in enumerate(categories)])
    return result


def _night(store: Store, run_id: str, calls: list[dict]):
    """Save tonight's calls as a run would and return that run's summary."""
    from callqa.pipeline.batch import BatchSummary, CallOutcome

    store.save_many([{"result": c} for c in calls], run_id=run_id)
    outcomes = tuple(CallOutcome(call_id=c["call_id"], path=f"/inbox/{c['call_id']}.json", status="processed")
                     for c in calls)
    return BatchSummary(run_id=run_id, store=str(store.path), inboxes=("/inbox",), started_at="2026-12-01T01:00:00",
                        finished_at="2026-12-01T01:10:00", wall_s=600.0, discovered=len(calls),
                        processed=len(calls), skipped=0, failed=0, flagged=0, nominated=0, audio_s=0.0, workers=1,
                        calls=outcomes)


@pytest.fixture()
def spike_store(tmp_path) -> Store:
    """Five earlier days (2026-11-23..27) of 10 calls a day for teams north and south:
    north has churn_threat on 1 call a day and refund_request on 3; south churn_threat on 5.
    A month earlier north had churn_threat on every call (outside the 7-day window)."""
    store = Store(tmp_path / "store")
    for day in range(23, 28):
        calls = [_call(f"n-{day}-{i}", "north", f"2026-11-{day}",
                       (["churn_threat"] if i == 0 else []) + (["refund_request"] if i < 3 else [])) for i in range(10)]
        calls += [_call(f"s-{day}-{i}", "south", f"2026-11-{day}", ["churn_threat"] if i < 5 else []) for i in range(10)]
        store.save_many([{"result": c} for c in calls], run_id=f"r-{day}")
    store.save_many([{"result": _call(f"old-{i}", "north", "2026-10-30", ["churn_threat"])} for i in range(10)],
                    run_id="r-old")
    return store


def test_a_category_that_spikes_tonight_is_in_the_digest_with_its_baseline_and_an_example(spike_store):
    from callqa.pipeline.qa.alerts import AlertsConfig, build_digest

    config = load_config()
    north = [_call(f"+7916555{i:04d}", "north", "2026-11-30",
                   (["churn_threat"] if i < 4 else []) + (["refund_request"] if 3 <= i < 7 else [])
                   + (["complaint_threat"] if i >= 7 else []) + (["manager_request"] if i in (0, 9) else []))
             for i in range(10)]
    south = [_call(f"s-tonight-{i:02d}", "south", "2026-11-30", ["churn_threat"] if i % 2 else []) for i in range(20)]
    east = [_call(f"e-tonight-{i}", "east", "2026-11-30", ["churn_threat"]) for i in range(4)]  # a new team
    summary = _night(spike_store, "r-30", north + south + east)
    options = AlertsConfig.model_validate({"web_url": "https://qa.example.test", "include_quotes": True})

    digest = build_digest(spike_store, summary, options, config)
    spikes = digest.category_spikes
    assert spikes["day"] == "2026-11-30" and spikes["window"] == ["2026-11-23", "2026-11-29"]
    # north: churn 4 of 10 tonight (40 %) against 1 a day (10 %): 4x; complaints 3, never before;
    # refunds 40 % against 30 % and a manager on 2 calls are no spike; south: 50 % as usual
    # (though twice the calls of a usual day); east has no earlier days
    assert [(i["team"], i["category"]) for i in spikes["items"]] == [("north", "complaint_threat"),
                                                                     ("north", "churn_threat")]
    new, churn = spikes["items"]
    assert (new["calls"], new["baseline_calls"], new["ratio"]) == (3, 0, None)
    assert churn["name"] == "Churn threat"
    assert (churn["calls"], churn["team_calls"], churn["share"]) == (4, 10, 0.4)
    assert (churn["baseline_per_day"], churn["baseline_share"], churn["baseline_days"], churn["baseline_calls"]) \
        == (1.0, 0.1, 5, 5)
    assert churn["ratio"] == 4.0
    example = churn["example"]  # the first of tonight's churn calls, its id masked, linked by the web app's key
    assert example["call_id"] == "+*********00" and example["start"] == 12.0
    assert example["url"].startswith("https://qa.example.test/calls/c-") and "7916555" not in example["url"]
    assert example["quote"] == "churn_threat words, turn 0"
    assert spikes["no_baseline"] == ["east"]

    assert "2 category spikes" in digest.headline() and not digest.empty
    text = digest.text()
    assert ("Churn threat (churn_threat), team north: 4 of 10 calls tonight (40%); usually 1 a day "
            "(10% of calls, 5 days): 4x; e.g. call +*********00 at 12 s") in text
    assert "Complaint threat (complaint_threat), team north: 3 of 10 calls tonight (30%); none in the previous" in text
    assert example["url"] in text and "no baseline yet for team east" in text
    assert "7916555" not in json.dumps(digest.serialize()) + text
    assert digest.serialize()["category_spikes"]["items"] == spikes["items"]

    # counted in calls a day instead of shares, south's busy night (10 churn calls, usually 5) spikes
    by_count = build_digest(spike_store, summary, AlertsConfig.model_validate(
        {"category_spike": {"compare": "count"}}), config).category_spikes["items"]
    assert {(i["team"], i["category"]) for i in by_count} == {("north", "complaint_threat"), ("north", "churn_threat"),
                                                              ("south", "churn_threat")}
    assert next(i["ratio"] for i in by_count if i["team"] == "south") == 2.0
    # thresholds are configuration: 5x is more than north's 4x; 5 calls more than its 4
    strict = build_digest(spike_store, summary, AlertsConfig.model_validate(
        {"category_spike": {"ratio": 5}}), config).category_spikes["items"]
    assert [(i["team"], i["category"]) for i in strict] == [("north", "complaint_threat")]
    assert build_digest(spike_store, summary, AlertsConfig.model_validate(
        {"category_spike": {"min_calls": 5}}), config).category_spikes["items"] == []


def test_a_night_like_the_previous_days_has_no_category_spike(spike_store):
    from callqa.pipeline.qa.alerts import AlertsConfig, build_digest

    quiet = [_call(f"n-quiet-{i}", "north", "2026-11-28",
                   (["churn_threat"] if i == 0 else []) + (["refund_request"] if i < 3 else [])) for i in range(10)]
    quiet += [_call(f"s-quiet-{i}", "south", "2026-11-28", ["churn_threat"] if i < 6 else []) for i in range(10)]
    digest = build_digest(spike_store, _night(spike_store, "r-28", quiet), AlertsConfig(), load_config())
    assert digest.category_spikes["items"] == [] and digest.category_spikes["no_baseline"] == []
    assert digest.empty and "Nothing new" in digest.text() and "Categories that spiked" not in digest.text()


def test_the_nightly_run_sends_the_categories_its_calls_spiked(tmp_path, receiver):
    """End to end: categories found by the batch's own analysis of tonight's calls, against a
    store that already holds the team's earlier days."""
    store = Store(tmp_path / "store")
    for day in range(9, 14):  # team-a, 2024-05-09..13: 4 calls a day, a manager asked for on 3, a refund on 1
        store.save_many([{"result": _call(f"a-{day}-{i}", "team-a", f"2024-05-{day:02d}",
                                          (["manager_request"] if i < 3 else []) + (["refund_request"] if i == 0 else []))}
                         for i in range(4)], run_id=f"r-{day}")
    box = tmp_path / "inbox"
    box.mkdir()
    bad = json.loads((SAMPLES / "en_bad_inbound_tx.json").read_text(encoding="utf-8"))
    for i in range(1, 4):  # three angry clients tonight
        (box / f"night-{i}.json").write_text(json.dumps(
            {**bad, "call_id": f"night-{i}", "team": "team-a", "started_at": "2024-05-14T20:00:00"}), encoding="utf-8")
    run = run_batch([box], store.path, alerts_config(tmp_path / "alerts.yaml", webhook=receiver.url,
                                                     web_url="https://qa.example.test"), report=False)
    assert run.processed == 3 and len(receiver.bodies) == 1
    spikes = receiver.bodies[0]["category_spikes"]
    assert receiver.bodies[0]["settings"]["category_spike"]["ratio"] == 2.0
    # churn and complaints never seen on the previous days; refunds 3 of 3 against 1 of 4 a day;
    # a manager 3 of 3 against 3 of 4 a day is no spike
    assert [(i["category"], i["ratio"]) for i in spikes["items"]] == [
        ("churn_threat", None), ("complaint_threat", None), ("refund_request", 4.0)]
    refund = spikes["items"][2]
    assert (refund["team"], refund["calls"], refund["baseline_per_day"], refund["baseline_days"]) == ("team-a", 3, 1.0, 5)
    stored = {c["id"]: c for c in store.get("night-1")["categories"]}
    assert refund["example"]["call_id"] == "night-1"
    assert refund["example"]["start"] == stored["refund_request"]["evidence"][0]["start"]
    assert refund["example"]["url"] == "https://qa.example.test/calls/night-1"
    assert "3 category spikes" in receiver.bodies[0]["headline"]
