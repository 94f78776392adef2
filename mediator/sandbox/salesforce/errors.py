"""Salesforce's REST errors: an array of `{message, errorCode, fields}` with an HTTP status.

The messages are Salesforce's own wording, since clients (simple-salesforce, code generated
from describe) show them to people and sometimes match on them.
"""

from __future__ import annotations

__all__ = ["ApiError", "invalid_type", "malformed_id", "not_found"]


class ApiError(Exception):
    """A refused request: the HTTP status and one `{message, errorCode, fields}` entry."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, object]]:
        """Return the REST error array (`fields` only when the error names fields)."""
        entry: dict[str, object] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    """Return the 404 for a resource or record that does not exist."""
    return ApiError(404, "NOT_FOUND", message)


def invalid_type(name: str) -> ApiError:
    """Return the 400 INVALID_TYPE for an object name SOQL does not know."""
    return ApiError(
        400,
        "INVALID_TYPE",
        f"sObject type '{name[:255]}' is not supported. If you are attempting to use a custom "
        "object, be sure to append the '__c' after the entity name. Please reference your WSDL "
        "or the describe call for the appropriate names.",
    )


def malformed_id(label: str, value: object) -> ApiError:
    """Return the 400 MALFORMED_ID for an id that cannot be one (length, characters, prefix)."""
    return ApiError(400, "MALFORMED_ID", f"{label}: id value of incorrect type: {str(value)[:255]}")
