"""The runbook by SMS: the part of a client's runbook a tech needs for one incident.

`SOP 12` answers with the runbook section whose heading names the incident's emergency rule
(e.g. `### production-stopped (P1) — …` or `### ransomware / edr-critical (P1)`), flattened
to plain text and cut to a few SMS segments; the whole runbook stays in `oncall sop show`.
"""

from __future__ import annotations

import re

# Four SMS segments' worth: enough for the first steps, short enough to read at 3 AM.
SMS_LIMIT = 600

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def section(runbook: str, rule_id: str) -> str | None:
    """The body of the first heading that names `rule_id` as a whole word, up to the next
    heading of the same or a higher level; None if no heading names it."""
    lines = runbook.splitlines()
    word = re.compile(rf"(?<![\w-]){re.escape(rule_id)}(?![\w-])", re.IGNORECASE)
    for start, line in enumerate(lines):
        match = _HEADING.match(line)
        if not match or not word.search(match.group(2)):
            continue
        level = len(match.group(1))
        body: list[str] = [match.group(2)]
        for following in lines[start + 1 :]:
            deeper = _HEADING.match(following)
            if deeper and len(deeper.group(1)) <= level:
                break
            body.append(following)
        return "\n".join(body).strip()
    return None


def plain(markdown: str) -> str:
    """Markdown emphasis and code marks dropped, white space folded to single spaces."""
    text = re.sub(r"[*_`]+", "", markdown)
    text = re.sub(r"^\s*#+\s*", "", text, flags=re.MULTILINE)
    return re.sub(r"\s+", " ", text).strip()


def runbook_text(
    number: int, client_id: str, client_name: str, runbook: str, rule_id: str | None
) -> str:
    """The SMS answer to `SOP <number>`."""
    found = section(runbook, rule_id) if rule_id else None
    full = f"Full runbook: oncall sop show {client_id}"
    if found is None:
        what = f"rule {rule_id}" if rule_id else "this incident"
        return f"#{number} {client_name}: the runbook has no section for {what}. {full}"
    text = f"#{number} {client_name} runbook: {plain(found)}"
    if len(text) <= SMS_LIMIT:
        return text
    cut = text[: SMS_LIMIT - len(full) - 3].rsplit(" ", 1)[0]
    return f"{cut}… {full}"
