"""A filed request as FHIR R4: a ``Task`` (the default) or a ``Communication``.

The Task carries the request the way a care team's other systems expect it:
``for`` the patient (the child when a parent filed it, with the parent as
``requester``), ``owner`` the care team, ``code`` the intent, ``status`` from
the queue (open → requested, claimed → in-progress, done → completed), the due
time as ``restriction.period.end`` and one ``input`` per collected SPEC §2
field, plus the patient's own words and the triage screening outcome.

Identifiers and code systems live under the gateway's base URL: these are the
clinic's own codes, not a national terminology.
"""

from __future__ import annotations

from typing import Any, Mapping

from .queue import INTENT_FIELDS

INTENT_LABELS = {"appointment": "Appointment request", "refill": "Medication refill request",
                 "results": "Test results request", "immunization_copy": "Immunization record copy request",
                 "symptom": "Non-urgent symptom question", "other": "Message to the care team"}
TASK_STATUS = {"open": "requested", "claimed": "in-progress", "closed": "completed"}


def _ref(kind: str, rid: str | None, display: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"reference": f"{kind}/{rid}"}
    if display:
        out["display"] = display
    return out


def task(item: Mapping[str, Any], *, base_url: str, patient_id: str, filer_id: str | None) -> dict[str, Any]:
    """``item`` is the staff view of a request (``StaffQueue.detail``)."""
    system = f"{base_url}/fhir"
    patient = item["patient"]
    inputs: list[dict[str, Any]] = []
    for name in item["field_order"]:
        inputs.append({"type": {"coding": [{"system": f"{system}/CodeSystem/request-field", "code": name}],
                                "text": name},
                       "valueString": str(item["fields"][name])})
    for words in item["patient_words"]:
        inputs.append({"type": {"coding": [{"system": f"{system}/CodeSystem/request-field",
                                            "code": "patient_words"}], "text": "patient's own words"},
                       "valueString": words})
    inputs.append({"type": {"coding": [{"system": f"{system}/CodeSystem/request-field", "code": "triage"}],
                            "text": "triage screening outcome"}, "valueString": item["triage"]})
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": item["id"],
        "identifier": [{"system": f"{system}/request-reference", "value": item["reference"]}],
        "status": TASK_STATUS[item["status"]],
        "intent": "order",
        "priority": "routine",
        "code": {"coding": [{"system": f"{system}/CodeSystem/intent", "code": item["intent"],
                             "display": INTENT_LABELS.get(item["intent"], item["intent"])}],
                 "text": INTENT_LABELS.get(item["intent"], item["intent"])},
        "description": INTENT_LABELS.get(item["intent"], item["intent"]),
        "for": _ref("Patient", patient_id, patient.get("name")),
        "authoredOn": item["filed_at"],
        "restriction": {"period": {"end": item["due_at"]}},
        "input": inputs,
    }
    if item.get("team"):
        resource["owner"] = _ref("CareTeam", item["team"]["id"], item["team"]["name"])
    if patient.get("filed_by") and filer_id:
        resource["requester"] = _ref("RelatedPerson", filer_id, patient["filed_by"]["name"])
    else:
        resource["requester"] = _ref("Patient", patient_id, patient.get("name"))
    if item.get("closed_at"):
        resource["executionPeriod"] = {"start": item["claimed_at"] or item["filed_at"], "end": item["closed_at"]}
    elif item.get("claimed_at"):
        resource["executionPeriod"] = {"start": item["claimed_at"]}
    if item.get("assignee"):
        resource["note"] = [{"authorString": item["assignee"]["name"] or "staff",
                             "text": "Claimed by this care-team member."}]
    return resource


def communication(item: Mapping[str, Any], *, base_url: str, patient_id: str, filer_id: str | None
                  ) -> dict[str, Any]:
    """The patient's message itself: from the patient (or parent) to the care team."""
    system = f"{base_url}/fhir"
    patient = item["patient"]
    sender = (_ref("RelatedPerson", filer_id, patient["filed_by"]["name"]) if patient.get("filed_by") and filer_id
              else _ref("Patient", patient_id, patient.get("name")))
    payload = [{"contentString": f"{name}: {item['fields'][name]}"} for name in item["field_order"]]
    payload += [{"contentString": words} for words in item["patient_words"]]
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "id": item["id"],
        "identifier": [{"system": f"{system}/request-reference", "value": item["reference"]}],
        "status": "completed",
        "category": [{"coding": [{"system": f"{system}/CodeSystem/intent", "code": item["intent"],
                                  "display": INTENT_LABELS.get(item["intent"], item["intent"])}]}],
        "subject": _ref("Patient", patient_id, patient.get("name")),
        "sender": sender,
        "sent": item["filed_at"],
        "payload": payload or [{"contentString": INTENT_LABELS.get(item["intent"], item["intent"])}],
    }
    if item.get("team"):
        resource["recipient"] = [_ref("CareTeam", item["team"]["id"], item["team"]["name"])]
    return resource


__all__ = ["INTENT_FIELDS", "communication", "task"]
