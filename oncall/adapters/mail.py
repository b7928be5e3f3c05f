"""E-mail alerts: a raw RFC 5322 message to an `Alert`, and a recipient address to a client.

Pure functions over the stdlib `email` package (policy=default), used by the SMTP listener in
`oncall.email_intake`. What is read:
- the recipient: its local part, without a `+tag`, is the client id (`acme@alerts.example`,
  `acme+backup@…`); the domain is not looked at.
- the subject: the summary; its status words set severity and triggered/resolved (see
  `subject_status`); its normalised form, with the sender, is the dedup key, so the
  "RESOLVED"/"OK" mail for a condition resolves the incident its "FAILED" mail opened.
- the body: the text/plain part, else the text/html part as text (quoted-printable, base64 and
  charsets decoded by the stdlib); it becomes the details, and a `Host:`/`Device:` line in it
  the host.
- the sender: its address, display name or X-Mailer names the tool (`ninjaone`, `datto`, …),
  which becomes the source, so SOP rules written for a tool's webhook match its e-mail too;
  otherwise the source is "email".
This is not a webhook adapter: it is not in `oncall.adapters.ADAPTERS`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser

from oncall.adapters.base import MAX_TEXT, clip
from oncall.intake import Alert, AlertError

SOURCE = "email"

# Subject words, checked in this order: the first group with a word in the subject wins, so
# "RESOLVED: server DOWN" resolves and "backup FAILED with warnings" is an error.
RESOLVED_WORDS = (
    "resolved",
    "recovered",
    "recovery",
    "cleared",
    "ok",
    "reset",
    "up",
    "succeeded",
    "success",
    "successful",
    "completed successfully",
    "back online",
)
STATUS_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("critical", ("critical", "emergency", "down", "offline", "outage", "fatal", "disaster")),
    ("error", ("failed", "failure", "failing", "error", "errors", "major", "problem")),
    ("warning", ("warning", "warnings", "warn", "degraded", "minor", "moderate")),
)
# Sender names, display names or X-Mailer fragments that identify a tool (lower case).
TOOL_SENDERS: tuple[tuple[str, str], ...] = (
    ("ninjarmm", "ninjaone"),
    ("ninjaone", "ninjaone"),
    ("centrastage", "datto"),
    ("datto", "datto"),
    ("n-able", "ncentral"),
    ("n-central", "ncentral"),
    ("ncentral", "ncentral"),
    ("connectwise", "automate"),
    ("labtech", "automate"),
    ("syncro", "syncro"),
    ("veeam", "veeam"),
    ("acronis", "acronis"),
    ("alertmanager", "alertmanager"),
    ("nagios", "nagios"),
    ("zabbix", "zabbix"),
    ("paessler", "prtg"),
    ("prtg", "prtg"),
)
_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|wg|tr)\s*:\s*)+", re.IGNORECASE)
_TAG = re.compile(r"\[[^\]]*\]")  # [Veeam], [Success], [ALERT]: the tool's own labels
_NUMBERISH = re.compile(r"^[\d%:.,/\-+#()]*\d[\d%:.,/\-+#()]*$")  # 91%, 2026-11-28, 03:00:12
_HOST_LINE = re.compile(
    r"^\s*(?:host|hostname|host name|device|device name|computer|server|machine)\s*[:=]\s*"
    r"(\S[^\r\n]*?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def _word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(word).replace(r"\ ", r"\s+") for word in words)
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


_RESOLVED = _word_pattern(RESOLVED_WORDS)
_SEVERITIES = tuple((severity, _word_pattern(words)) for severity, words in STATUS_WORDS)
_ANY_STATUS = _word_pattern(
    RESOLVED_WORDS + tuple(word for _, words in STATUS_WORDS for word in words)
)


# --------------------------------------------------------------------------- recipients


def client_for_recipient(address: str, clients: Collection[str]) -> str | None:
    """The client an envelope recipient is for: local part (without +tag) = client id."""
    local = address.strip().strip("<>").rpartition("@")[0] if "@" in address else ""
    local = local.split("+", 1)[0].strip().casefold()
    return next((client for client in clients if client.casefold() == local), None)


# --------------------------------------------------------------------------- subjects


def subject_status(subject: str) -> tuple[str, str]:
    """(severity, status) from the subject's words: resolution words, then CRITICAL/DOWN,
    FAILED/ERROR, WARNING; a subject with none of them is an info alert."""
    if _RESOLVED.search(subject):
        return "info", "resolved"
    for severity, pattern in _SEVERITIES:
        if pattern.search(subject):
            return severity, "triggered"
    return "info", "triggered"


def normalise_subject(subject: str) -> str:
    """The condition a subject names, the same in its problem and its recovery mail:
    no Re:/Fwd:, no [tags], no status words, numbers (counts, percentages, dates) as '#'."""
    text = _REPLY_PREFIX.sub("", subject)
    text = _ANY_STATUS.sub(" ", _TAG.sub(" ", text))
    words: list[str] = []
    for word in text.split():
        word = "#" if _NUMBERISH.match(word) else word
        if word.strip("()*:-!|") and not (word == "#" and words and words[-1] == "#"):
            words.append(word)
    text = " ".join(words)
    return text.casefold().strip(" -:*|")


# --------------------------------------------------------------------------- bodies


class _HtmlText(HTMLParser):
    """The visible text of an HTML body, a line per block element."""

    BLOCKS = frozenset(
        {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"}
    )
    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return tidy("".join(parser.parts))


def tidy(text: str) -> str:
    """Lines stripped of spacing, runs of blank lines as one."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def body_text(message: EmailMessage) -> str:
    """The message's text: its text/plain part, else its text/html part as text."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError) as exc:  # an unknown charset, a broken encoding
        raise AlertError(f"cannot decode the message body: {exc}") from exc
    if not isinstance(content, str):
        return ""
    return html_to_text(content) if part.get_content_subtype() == "html" else tidy(content)


# --------------------------------------------------------------------------- the alert


def sender_tool(message: EmailMessage) -> str:
    """The monitoring tool that sent the mail, from its sender or mailer, else 'email'."""
    names = " ".join(
        f"{name} {address}" for name, address in getaddresses([str(message.get("from", ""))])
    )
    names = f"{names} {message.get('x-mailer', '')}".casefold()
    return next((tool for fragment, tool in TOOL_SENDERS if fragment in names), SOURCE)


def parse_mail(client: str, raw: bytes) -> Alert:
    """The alert a mail to `client` reports, or an AlertError when it has nothing to read."""
    if not raw.strip():
        raise AlertError("the message is empty")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not isinstance(message, EmailMessage):  # pragma: no cover - policy.default guarantees it
        raise AlertError("not an e-mail message")
    try:
        subject = " ".join(str(message.get("subject", "")).split())
        sender = " ".join(str(message.get("from", "")).split())
    except (LookupError, ValueError) as exc:
        raise AlertError(f"cannot read the message headers: {exc}") from exc
    text = body_text(message)
    summary = subject or next((line for line in text.splitlines() if line.strip()), "")
    if not summary:
        raise AlertError("the message has no subject and no text to read")
    severity, status = subject_status(subject)
    addresses = getaddresses([sender])
    sender_address = addresses[0][1].casefold() if addresses and addresses[0][1] else sender
    host = _HOST_LINE.search(text)
    condition = normalise_subject(subject) or normalise_subject(summary) or summary.casefold()
    return Alert(
        client=client,
        source=sender_tool(message),
        severity=severity,
        summary=clip(summary),
        details=clip(f"from: {sender}\n\n{text}" if sender else text),
        host=clip(host.group(1)) if host else "",
        dedup_key=clip(f"email:{sender_address}:{condition}")[:MAX_TEXT],
        status=status,
    )
