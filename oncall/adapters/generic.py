"""Generic JSON: oncall's own alert format, for tools and scripts that can post any JSON.

Fields read: `severity` and `summary` (required), `source`, `details`, `host`, `dedup_key`,
`status` (triggered/resolved), exactly as `POST /alerts/<client>` reads them
(`oncall.intake.generic_alert`); and, for the shared URL only, `organization`: a name or id
listed in a client's SOP under `[intake]`.
"""

from __future__ import annotations

from oncall.adapters.base import Adapter, ToolAlert, json_object, org_names, text
from oncall.intake import generic_alert

TOOL = "generic"


def parse(raw: bytes) -> list[ToolAlert]:
    body = json_object(raw)
    alert = generic_alert("", body)
    org = org_names(text(body.get("organization"), "organization"))
    return [ToolAlert(org=org, alert=alert, raw=raw)]


ADAPTER = Adapter(tool=TOOL, title="Generic JSON", org_fields="organization", parse=parse)
