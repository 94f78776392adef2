"""Metadata: the version root, global describe and `sobjects/<Object>/describe`.

Shaped like Salesforce's DescribeSObjectResult, because tools generate code and validators
from it (and simple-salesforce users read it): object-level `label`, `labelPlural`,
`keyPrefix`, `urls`, the CRUD flags (`createable`, `updateable`, `deletable`, …) and
`childRelationships`; per field its real `type` (`id`, `boolean`, `datetime`, `reference`
with `referenceTo` and `relationshipName`, …), `soapType`, `length`/`byteLength` or
`precision`/`scale`/`digits`, `nameField`, `nillable`, `createable`, `updateable`,
`defaultedOnCreate`, `externalId`, `custom` and the picklist values of restricted picklists.
"""

from __future__ import annotations

from aiohttp import web

from mediator.sandbox.base import json_response
from mediator.sandbox.salesforce.fields import Field, name_field
from mediator.sandbox.salesforce.schema import STAGES, SYSTEM_FIELDS, ObjectSchema
from mediator.sandbox.salesforce.store import SalesforceStore

__all__ = ["add_describe_routes"]

_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
}
_NOT_GROUPABLE = ("double", "currency", "percent", "datetime", "textarea")
_PLURALS = {"Opportunity": "Opportunities"}
_PICKLISTS: dict[str, tuple[str, ...]] = {
    "StageName": tuple(s.name for s in STAGES.values()),
    "ForecastCategory": ("Omitted", "Pipeline", "BestCase", "Forecast", "Closed"),
}
_CONTRACT_STATUS = ("Draft", "In Approval Process", "Activated")


def _label(schema: ObjectSchema) -> str:
    """Return the object's label (`Milestone__c` → `Milestone`)."""
    return schema.name.removesuffix("__c").replace("_", " ")


def _label_plural(schema: ObjectSchema) -> str:
    """Return the object's plural label (`Opportunity` → `Opportunities`)."""
    return _PLURALS.get(schema.name, _label(schema) + "s")


def _object_summary(schema: ObjectSchema, root: str) -> dict[str, object]:
    """Return the object-level properties global describe lists (describe adds fields)."""
    return {
        "name": schema.name,
        "label": _label(schema),
        "labelPlural": _label_plural(schema),
        "keyPrefix": schema.prefix,
        "custom": schema.name.endswith("__c"),
        "customSetting": False,
        "activateable": schema.name == "Contract",
        "createable": True,
        "updateable": True,
        "deletable": True,
        "undeletable": True,
        "mergeable": schema.name == "Account",
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "layoutable": True,
        "replicateable": True,
        "triggerable": True,
        "feedEnabled": False,
        "mruEnabled": True,
        "deprecatedAndHidden": False,
        "hasSubtypes": False,
        "isSubtype": False,
        "isInterface": False,
        "urls": {
            "sobject": f"{root}/{schema.name}",
            "describe": f"{root}/{schema.name}/describe",
            "rowTemplate": f"{root}/{schema.name}/{{ID}}",
        },
    }


def _describe_field(schema: ObjectSchema, field: Field) -> dict[str, object]:
    """Return one field's DescribeFieldResult."""
    system = field.name in SYSTEM_FIELDS
    derived = field.name in schema.read_only
    name = field.name == name_field(schema)
    owner = field.name == "OwnerId"
    boolean = field.type == "boolean"
    text_like = field.type not in _SOAP
    picklist = _PICKLISTS.get(field.name, ())
    if schema.name == "Contract" and field.name == "Status":
        picklist = _CONTRACT_STATUS
    label_text = f"{_label(schema)} ID" if field.name == "Id" else field.label
    return {
        "name": field.name,
        "label": label_text,
        "type": field.type,
        "soapType": _SOAP.get(field.type, "xsd:string"),
        "length": field.length if text_like or field.type in ("id", "reference") else 0,
        "byteLength": (field.length * 3 if text_like else field.length)
        if field.type not in ("boolean", "date", "datetime", *_NUMERIC)
        else 0,
        "precision": field.precision if field.type in _NUMERIC and field.type != "int" else 0,
        "scale": field.scale,
        "digits": field.precision if field.type == "int" else 0,
        "referenceTo": list(field.reference_to),
        "relationshipName": field.relationship,
        "relationshipOrder": None,
        "nameField": name,
        "idLookup": field.name == "Id" or name or field.name in schema.external_ids,
        "externalId": field.name in schema.external_ids,
        "unique": False,
        "custom": field.name.endswith("__c"),
        "calculated": False,
        "autoNumber": field.name == "ContractNumber",
        "nillable": not (system or boolean or owner or derived)
        and field.name not in schema.required,
        "createable": not system and not derived,
        "updateable": not system and not derived,
        "defaultedOnCreate": system or boolean or owner or derived,
        "filterable": field.type != "textarea" or field.length <= 255,
        "sortable": field.type != "textarea" or field.length <= 255,
        "groupable": field.type not in _NOT_GROUPABLE,
        "aggregatable": True,
        "caseSensitive": False,
        "htmlFormatted": False,
        "restrictedPicklist": field.name == "StageName",
        "dependentPicklist": False,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in picklist
        ],
        "defaultValue": False if boolean else None,
        "deprecatedAndHidden": False,
        "cascadeDelete": False,
        "restrictedDelete": False,
        "polymorphicForeignKey": False,
        "permissionable": not (system or name or field.name in schema.required or derived),
        "encrypted": False,
    }


_NUMERIC = ("double", "currency", "percent", "int")


def _child_relationships(store: SalesforceStore, schema: ObjectSchema) -> list[dict[str, object]]:
    """Return the lookups other objects hold to `schema` (Account → Opportunities, …)."""
    out: list[dict[str, object]] = []
    for child in store.objects.values():
        for field, target in child.references.items():
            if target != schema.name:
                continue
            if field.endswith("__c"):
                relationship = _label_plural(child).replace(" ", "_") + "__r"
            elif field == "ParentId":
                relationship = "Child" + _label_plural(child)
            else:
                relationship = _label_plural(child)
            out.append(
                {
                    "childSObject": child.name,
                    "field": field,
                    "relationshipName": relationship,
                    "cascadeDelete": False,
                    "restrictedDelete": False,
                    "deprecatedAndHidden": False,
                    "junctionIdListNames": [],
                    "junctionReferenceTo": [],
                }
            )
    return out


def add_describe_routes(app: web.Application, base: str, store: SalesforceStore) -> None:
    """Add the version root, global describe and each object's describe under `base`."""

    async def describe(request: web.Request) -> web.Response:
        schema = store.schema(request.match_info["obj"])
        root = f"/services/data/v{request.match_info['version']}/sobjects"
        return json_response(
            {
                **_object_summary(schema, root),
                "childRelationships": _child_relationships(store, schema),
                "recordTypeInfos": [],
                "fields": [_describe_field(schema, f) for f in store.fields(schema.name).values()],
            }
        )

    async def resources(request: web.Request) -> web.Response:
        root = f"/services/data/v{request.match_info['version']}"
        return json_response(
            {name: f"{root}/{name}" for name in ("sobjects", "query", "queryAll", "limits")}
        )

    async def global_describe(request: web.Request) -> web.Response:
        root = f"/services/data/v{request.match_info['version']}/sobjects"
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [_object_summary(o, root) for o in store.objects.values()],
            }
        )

    app.router.add_get(base, resources)
    for suffix in ("", "/"):
        app.router.add_get(base + "/sobjects" + suffix, global_describe)
        app.router.add_get(base + "/sobjects/{obj}/describe" + suffix, describe)
