"""Which document a snapshot file is, and each entry of it as one MMS-form service record.

Azure returns a v1 service in two forms: the Model Management Service's (`computeType` and
the rest at the top level, as `gen-iac export` saves it) and the ARM form of the
`Microsoft.MachineLearningServices/workspaces/services` API (2020-05-01-preview to
2021-04-01: `{id, name, type, properties: {computeType, ...}}`), each single or listed
(`{"value": [...], "nextLink": ...}`). Both become the same record here, so the same service
gives the same output. A document holding no v1 service at all (v2 online endpoints, an
empty or unknown document) is refused with one line that names what it looks like.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from generator.diagnostics import InputError
from generator.sources.untrusted import shown, valid_text

ARM_SERVICE_TYPE = "microsoft.machinelearningservices/workspaces/services"
# ARM types people save by mistake instead of v1 services, in words.
_KNOWN_TYPES = {
    "microsoft.machinelearningservices/workspaces/onlineendpoints": "v2 online endpoint",
    "microsoft.machinelearningservices/workspaces/onlineendpoints/deployments": (
        "v2 online deployment"
    ),
    "microsoft.machinelearningservices/workspaces/batchendpoints": "v2 batch endpoint",
    "microsoft.machinelearningservices/workspaces/computes": "workspace compute",
    "microsoft.machinelearningservices/workspaces": "workspace",
}
EXPECTED = (
    'expected a snapshot {"workspace": ..., "services": [...]}, a list of v1 services (MMS '
    'or ARM form, bare or as {"value": [...]}) or one v1 service'
)


@dataclass(frozen=True)
class Document:
    workspace: dict[str, Any] | None
    entries: list[Any]
    next_link: str | None = None  # a saved list page whose later pages are not in the file


def split_document(data: Any, file: str) -> Document:
    """The workspace object (when the document has one) and the service entries; raises
    InputError for a document that holds no v1 service."""
    if isinstance(data, dict) and "services" in data:
        if not isinstance(data["services"], list):
            raise InputError(f"{file}: field 'services': expected a list of service objects")
        workspace = data.get("workspace")
        if workspace is not None and not isinstance(workspace, dict):
            raise InputError(f"{file}: field 'workspace': expected an object")
        return Document(workspace, data["services"])  # gen-iac's own snapshot, possibly empty
    if isinstance(data, dict) and "value" in data:
        if not isinstance(data["value"], list):
            raise InputError(f"{file}: field 'value': expected a list of service objects")
        link = data.get("nextLink")
        document = Document(None, data["value"], link if isinstance(link, str) and link else None)
    elif isinstance(data, list):
        document = Document(None, data)
    elif isinstance(data, dict) and data and is_service(data):
        return Document(None, [data])  # one service, as GET /services/{name} returns it
    else:
        raise InputError(f"{file}: {looks_like(data)}, not v1 services; {EXPECTED}")
    if not document.entries and document.next_link is None:
        raise InputError(f"{file}: an empty list: it holds no v1 service to migrate")
    if document.entries and not any(is_service(e) for e in document.entries):
        raise InputError(f"{file}: {looks_like(document.entries)}, not v1 services; {EXPECTED}")
    return document


def is_service(entry: Any) -> bool:
    """An entry in either form of a v1 service (whatever its compute type)."""
    return isinstance(entry, dict) and "computeType" in as_record(entry)


def as_record(entry: dict[str, Any]) -> dict[str, Any]:
    """The MMS-form record of an entry: an ARM resource's `properties` with its `name`."""
    if "computeType" in entry:
        return entry
    props = entry.get("properties")
    if not (isinstance(props, dict) and "computeType" in props and _arm_service_type(entry)):
        return entry
    record = dict(props)
    if "name" in entry:
        record["name"] = entry["name"]
    return record


def unrecognised(entry: dict[str, Any]) -> str:
    """Why an entry is not read as a v1 service, in words."""
    arm_type = entry.get("type")
    if isinstance(arm_type, str) and "/" in arm_type and not _arm_service_type(entry):
        return (
            f"an ARM resource of type {_shown_type(arm_type)!r}{_what(arm_type)}, not a v1 service"
        )
    return (
        "no computeType, neither at the top level (the MMS form gen-iac export saves) nor "
        "under properties (the ARM form): not recognisable as a v1 service"
    )


def looks_like(data: Any) -> str:
    """What a document (or the entries of a list) looks like, for a one-line refusal."""
    if data is None or data in ("", {}, []):
        return "an empty document"
    if isinstance(data, list):
        kind, _ = Counter(_kind(e, plural=True) for e in data).most_common(1)[0]
        return f"a list of {kind}"
    if isinstance(data, dict):
        return _kind(data, plural=False)
    kinds = {bool: "true or false", int: "number", float: "number", str: "string"}
    return f"a JSON {kinds.get(type(data), type(data).__name__)}"


def _kind(entry: Any, plural: bool) -> str:
    s = "s" if plural else ""
    if not isinstance(entry, dict):
        return "non-objects" if plural else "a non-object"
    arm_type = entry.get("type")
    if isinstance(arm_type, str) and arm_type:
        words = _KNOWN_TYPES.get(arm_type.lower())
        if words:
            return (
                f"{words}{s} ({_shown_type(arm_type)})"
                if plural
                else (f"a {words} ({_shown_type(arm_type)})")
            )
        return f"{'' if plural else 'an '}ARM resource{s} of type {_shown_type(arm_type)!r}"
    return f"{'' if plural else 'an '}object{s} without a computeType"


def _what(arm_type: str) -> str:
    words = _KNOWN_TYPES.get(arm_type.lower())
    return f" (a {words})" if words else ""


def _shown_type(arm_type: str) -> str:
    return shown(arm_type)[:100] if valid_text(arm_type) else "(invalid text)"


def _arm_service_type(entry: dict[str, Any]) -> bool:
    """No `type` (some saved copies drop it) or the v1 services type."""
    arm_type = entry.get("type")
    return arm_type is None or (isinstance(arm_type, str) and arm_type.lower() == ARM_SERVICE_TYPE)
