"""Codecs: the canonical model, and each vendor's wire format mapped to it.

`mediator.codecs.canonical` holds the business entities, `Money`, the `Envelope` and its
payload versions, and the canonical commands; the most used are re-exported here. Each vendor
has one package with the same verbs: `mediator.codecs.harvest`, `.salesforce`, `.stripe`,
`.tryton`, each with `decode` (bytes to its wire types), the `<entity>_from_<vendor>` and
`<entity>_to_<vendor>` mappings, and `error_code` with the tables of what its error codes mean
(`errors`). Every decoder raises only `mediator.errors.DecodeError(system, path, reason)`;
vendor decimals and timestamps follow one rule (`scalars`), and a vendor's list decodes record
by record (`records`).
"""

from mediator.codecs import canonical
from mediator.codecs.canonical import *  # noqa: F403 -- the canonical model is the face
from mediator.codecs.page import Page
from mediator.codecs.records import Decoded, Undecodable, decode_each
from mediator.codecs.scalars import decimal_at, parse_decimal
from mediator.codecs.validation import WireDecoder, convert, decode_error

__all__ = [
    "Decoded",
    "Page",
    "Undecodable",
    "WireDecoder",
    "convert",
    "decimal_at",
    "decode_each",
    "decode_error",
    "parse_decimal",
]
__all__ += canonical.__all__
