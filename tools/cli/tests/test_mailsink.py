"""The dev runner's mail server: a real SMTP server that keeps every message as an .eml file."""

from __future__ import annotations

import contextlib
import smtplib
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from steward.devtools import cli
from steward.devtools.mailsink import MailSink


def _mail(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "项目管家 <noreply@steward.local>"
    msg["To"] = f"person{n}@example.org"
    msg["Subject"] = f"新事项 #{n}"
    msg.set_content(f"第 {n} 封")
    return msg


def test_every_message_is_kept_whole_as_an_eml_file(tmp_path: Path) -> None:
    directory = tmp_path / "mail"
    with MailSink(directory) as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
        for n in range(3):  # one connection, several messages (as notify sends them)
            smtp.send_message(_mail(n))
        files = sorted(directory.glob("*.eml"))
        assert len(files) == 3 and len(sink.messages) == 3
        assert not list(directory.glob(".*")), "no partial file is left behind"
        read = [message_from_bytes(f.read_bytes(), policy=email_policy.default) for f in files]
        assert [m["To"] for m in read] == [f"person{n}@example.org" for n in range(3)]
        assert read[2]["Subject"] == "新事项 #2"
        assert read[2].get_content().strip() == "第 2 封"
        assert [m["To"] for m in sink.to("person1@example.org")] == ["person1@example.org"]


def test_without_a_directory_messages_stay_in_memory_only(tmp_path: Path) -> None:
    with MailSink() as sink, smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
        smtp.send_message(_mail(7))
    assert [m["Subject"] for m in sink.messages] == ["新事项 #7"]
    assert list(tmp_path.iterdir()) == []


def test_the_runner_points_notify_at_its_mail_server_unless_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STEWARD_SMTP_HOST", raising=False)
    with contextlib.ExitStack() as stack:
        mail = cli._start_mail(tmp_path / "mail", stack)
        assert mail is not None and mail.directory == tmp_path / "mail"
        with smtplib.SMTP("127.0.0.1", mail.port, timeout=10) as smtp:
            smtp.send_message(_mail(1))
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
    with pytest.raises(OSError):  # stopped with the platform
        smtplib.SMTP("127.0.0.1", mail.port, timeout=2)
    monkeypatch.setenv("STEWARD_SMTP_HOST", "mail.example.org")  # an operator's own relay: left alone
    with contextlib.ExitStack() as stack:
        assert cli._start_mail(tmp_path / "other", stack) is None
    assert not (tmp_path / "other").exists()
