"""The Store Instances Response (PS3.18 10.5.3, Annex I) in DICOM JSON."""

from __future__ import annotations

from typing import Any

from pacs.ingest import StoreOutcome


def _uid(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def store_response(
    outcomes: list[StoreOutcome], base_url: str, study: str | None
) -> tuple[int, dict[str, Any]]:
    """HTTP status and body: 200 all stored, 202 some failed, 409 none stored (PS3.18 Table 10.5.3-1)."""
    referenced = []
    failed = []
    for out in outcomes:
        if out.ok:
            url = (
                f"{base_url}/studies/{out.study_instance_uid}/series/{out.series_instance_uid}"
                f"/instances/{out.sop_instance_uid}"
            )
            referenced.append(
                {
                    "00081150": _uid(out.sop_class_uid),
                    "00081155": _uid(out.sop_instance_uid),
                    "00081190": {"vr": "UR", "Value": [url]},
                }
            )
        else:
            item: dict[str, Any] = {
                "00081150": _uid(out.sop_class_uid),
                "00081155": _uid(out.sop_instance_uid),
                "00081197": {"vr": "US", "Value": [out.failure_status]},
            }
            if out.detail:
                # A human-readable reason beside the coded FailureReason, in Text Value (0040,A160).
                item["0040A160"] = {"vr": "UT", "Value": [out.detail[:1000]]}
            failed.append(item)
    body: dict[str, Any] = {}
    studies = {o.study_instance_uid for o in outcomes if o.ok}
    retrieve_study = study or (next(iter(studies)) if len(studies) == 1 else None)
    if retrieve_study:
        body["00081190"] = {"vr": "UR", "Value": [f"{base_url}/studies/{retrieve_study}"]}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if not failed:
        status = 200
    elif referenced:
        status = 202
    else:
        status = 409
    return status, dict(sorted(body.items()))
