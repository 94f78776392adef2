"""The Salesforce REST sandbox: OAuth2 client credentials, sObjects, SOQL, limits."""

from __future__ import annotations

import random
import re
import string
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from mediator.clock import Clock
from mediator.sandbox.base import Handler, Sandbox, json_response
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.salesforce.body import read_object
from mediator.sandbox.salesforce.changes import add_change_routes
from mediator.sandbox.salesforce.collections import add_collection_routes
from mediator.sandbox.salesforce.describe import add_describe_routes
from mediator.sandbox.salesforce.query import run_query, shape_record
from mediator.sandbox.salesforce.schema import ObjectSchema
from mediator.sandbox.salesforce.soql import parse_soql
from mediator.sandbox.salesforce.store import ApiError, SalesforceStore, not_found

__all__ = ["SalesforceSandbox"]

_DAY = 86_400.0
_LOCATOR_IDLE = 15 * 60.0  # query locators expire after 15 minutes without use
_ORG_ID = "00D5g000004SANDBX"
_DIGITS = re.compile(r"\A[0-9]{1,9}\Z")


class SalesforceSandbox(Sandbox):
    """A Salesforce org over REST, in memory.

    `clients` maps OAuth client ids to secrets; tokens live `token_ttl` seconds, then calls
    answer 401 INVALID_SESSION_ID. `daily_api_requests` is the rolling 24-hour allocation
    reported in `Sforce-Limit-Info` and enforced with 403 REQUEST_LIMIT_EXCEEDED.
    `query_batch_size` caps each SOQL page (the `Sforce-Query-Options` header can only lower
    it, and not below 200, as in Salesforce). The org is multi-currency with `currency` as its
    corporate currency: every record carries `CurrencyIsoCode`, that one unless given.
    `strict_custom_fields` refuses writes of custom fields the schema does not declare
    (400 INVALID_FIELD, per record in a collection), as an org does; see `SalesforceStore`.
    """

    product: ClassVar[str] = "salesforce"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        faults: FaultPlan | None = None,
        clients: Mapping[str, str] | None = None,
        token_ttl: float = 7200.0,
        daily_api_requests: int = 100_000,
        query_batch_size: int = 2000,
        currency: str = "USD",
        max_body: int | None = None,
        strict_custom_fields: bool = False,
    ) -> None:
        super().__init__(clock=clock, seed=seed, faults=faults, max_body=max_body)
        self.store = SalesforceStore(
            self.clock, currency=currency, strict_custom_fields=strict_custom_fields
        )
        self.clients = dict(clients or {"mediator": "sandbox-secret"})
        self.token_ttl = token_ttl
        self.daily_api_requests = daily_api_requests
        self.query_batch_size = query_batch_size
        self._tokens: dict[str, float] = {}
        self._calls: deque[float] = deque()
        self._cursors: dict[str, tuple[list[dict[str, object]], int, float]] = {}
        self._rng = random.Random(seed)
        self._locators = 0

    # -- Python accessors -------------------------------------------------------------------

    def issue_token(self, *, ttl: float | None = None) -> str:
        """Mint a session token (what the token endpoint returns), valid for `ttl` seconds."""
        alphabet = string.ascii_letters + string.digits
        token = f"{_ORG_ID}!" + "".join(self._rng.choice(alphabet) for _ in range(40))
        self._tokens[token] = self.clock.time() + (self.token_ttl if ttl is None else ttl)
        return token

    def api_usage(self) -> int:
        """Return the API calls counted in the last 24 hours."""
        cutoff = self.clock.time() - _DAY
        while self._calls and self._calls[0] <= cutoff:
            self._calls.popleft()
        return len(self._calls)

    def state(self) -> dict[str, object]:
        """Return every live record by object, and the API usage."""
        return {"objects": self.store.snapshot(), "api_usage": self.api_usage()}

    # -- vendor-style answers ---------------------------------------------------------------

    def limit_response(self, retry_after: float) -> web.Response:
        """Answer 403 REQUEST_LIMIT_EXCEEDED, Salesforce's signal for a spent allowance."""
        return json_response(
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            status=403,
            headers=self._limit_header(),
        )

    def error_response(self, status: int, message: str) -> web.Response:
        """Answer an error array with the code Salesforce uses for `status`."""
        code = {
            404: "NOT_FOUND",
            405: "METHOD_NOT_ALLOWED",
            413: "EXCEEDED_MAX_SIZE_REQUEST",
            503: "SERVER_UNAVAILABLE",
        }.get(status, "UNKNOWN_EXCEPTION")
        if status == 404:
            message = "The requested resource does not exist"
        return json_response(
            [{"message": message, "errorCode": code}], status=status, headers=self._limit_header()
        )

    # -- routes -----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Add the OAuth token endpoint and the REST resources under `/services/data/vNN.0/`."""
        app.middlewares.append(self._api)
        app.router.add_post("/services/oauth2/token", self._token)
        app.router.add_get("/services/data", self._versions)
        app.router.add_get("/services/data/", self._versions)
        base = r"/services/data/v{version:\d+\.\d}"
        routes = [
            ("GET", "/limits", self._limits),
            ("GET", "/query", self._query),
            ("GET", "/queryAll", self._query),
            ("GET", "/query/{locator}", self._more),
            ("GET", "/queryAll/{locator}", self._more),
            ("POST", "/sobjects/{obj}", self._create),
            ("GET", "/sobjects/{obj}/{id}", self._read),
            ("PATCH", "/sobjects/{obj}/{id}", self._update),
            ("DELETE", "/sobjects/{obj}/{id}", self._delete),
            ("GET", "/sobjects/{obj}/{field}/{value}", self._read_by_external_id),
            ("PATCH", "/sobjects/{obj}/{field}/{value}", self._upsert),
        ]
        # before `<obj>/<id>` would catch them
        add_change_routes(app, base, self.store, self.clock)
        add_describe_routes(app, base, self.store)
        for method, path, handler in routes:
            app.router.add_route(method, base + path, handler)
            app.router.add_route(method, base + path + "/", handler)
        add_collection_routes(app, base, self.store)

    @web.middleware
    async def _api(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/services/data/v"):
            return await handler(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        expires = self._tokens.get(token)
        if expires is None or expires <= self.clock.time():
            return json_response(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                status=401,
                headers={"WWW-Authenticate": "Token", **self._limit_header()},
            )
        if self.api_usage() >= self.daily_api_requests:
            return self.limit_response(0.0)
        self._calls.append(self.clock.time())
        try:
            response = await handler(request)
        except ApiError as exc:
            response = json_response(exc.body(), status=exc.status)
        except msgspec.DecodeError as exc:
            response = json_response(
                [{"message": f"JSON parser error: {exc}", "errorCode": "JSON_PARSER_ERROR"}],
                status=400,
            )
        response.headers.update(self._limit_header())
        return response

    def _limit_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.api_usage()}/{self.daily_api_requests}"}

    async def _token(self, request: web.Request) -> web.Response:
        # Read as a form whatever the declared type: aiohttp's `post()` raises on a broken
        # multipart body, and Salesforce answers a bad grant with 400 whatever was sent.
        body = (await request.read()).decode("utf-8", "replace")
        form = dict(parse_qsl(body, keep_blank_values=True))
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                status=400,
            )
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if not isinstance(client_id, str) or self.clients.get(client_id) != secret:
            return json_response(
                {"error": "invalid_client", "error_description": "invalid client credentials"},
                status=400,
            )
        token = self.issue_token()
        instance = f"{request.scheme}://{request.host}"
        return json_response(
            {
                "access_token": token,
                "instance_url": instance,
                "api_instance_url": instance,
                "id": f"{instance}/id/{_ORG_ID}/0055g0000000001AAA",
                "token_type": "Bearer",
                "issued_at": str(int(self.clock.time() * 1000)),
                "signature": "".join(self._rng.choice(string.ascii_letters) for _ in range(43))
                + "=",
                "scope": "api",
                "token_format": "opaque",
            }
        )

    async def _versions(self, request: web.Request) -> web.Response:
        return json_response(
            [
                {"label": f"v{v}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(55, 63)
            ]
        )

    async def _limits(self, request: web.Request) -> web.Response:
        used = self.api_usage()
        return json_response(
            {
                "DailyApiRequests": {
                    "Max": self.daily_api_requests,
                    "Remaining": max(self.daily_api_requests - used, 0),
                },
                "DataStorageMB": {"Max": 5120, "Remaining": 5120},
            }
        )

    # -- SOQL -------------------------------------------------------------------------------

    async def _query(self, request: web.Request) -> web.Response:
        text = request.query.get("q")
        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        version = request.match_info["version"]
        today = datetime.fromtimestamp(self.clock.time(), UTC).date()
        query = parse_soql(text, today=today)
        total, rows = run_query(
            self.store,
            query,
            version=version,
            include_deleted=request.path.rstrip("/").endswith("queryAll"),
        )
        return self._page(request, total, rows, 0)

    async def _more(self, request: web.Request) -> web.Response:
        locator, _, position = request.match_info["locator"].partition("-")
        cursor = self._cursors.get(locator)
        if cursor is None or cursor[2] <= self.clock.monotonic() or not _DIGITS.match(position):
            self._cursors.pop(locator, None)
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        rows, total, _ = cursor
        return self._page(request, total, rows, int(position), locator=locator)

    def _page(
        self,
        request: web.Request,
        total: int,
        rows: list[dict[str, object]],
        start: int,
        *,
        locator: str | None = None,
    ) -> web.Response:
        batch = self.query_batch_size
        options = request.headers.get("Sforce-Query-Options", "")
        if "batchSize=" in options:
            wanted = options.split("batchSize=")[1].split(",")[0].strip()
            if _DIGITS.match(wanted):
                batch = min(batch, max(200, min(int(wanted), 2000)))
        end = start + batch
        body: dict[str, object] = {
            "totalSize": total,
            "done": end >= len(rows),
            "records": rows[start:end],
        }
        if end < len(rows):
            if locator is None:
                self._locators += 1
                locator = f"01g5g000{self._locators:07d}AAA"
            self._cursors[locator] = (rows, total, self.clock.monotonic() + _LOCATOR_IDLE)
            kind = "queryAll" if "/queryAll" in request.path else "query"
            version = request.match_info["version"]
            body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{locator}-{end}"
        elif locator is not None:
            self._cursors.pop(locator, None)
        return json_response(body)

    # -- sObjects ---------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        values = read_object(await request.read())
        record_id = self.store.create(request.match_info["obj"], values)
        return json_response({"id": record_id, "success": True, "errors": []}, status=201)

    async def _read(self, request: web.Request) -> web.Response:
        schema = self.store.schema(request.match_info["obj"])
        record = self.store.get(schema.name, request.match_info["id"])
        return json_response(
            _select(schema, shape_record(schema, record, request.match_info["version"]), request)
        )

    async def _update(self, request: web.Request) -> web.Response:
        values = read_object(await request.read())
        self.store.update(request.match_info["obj"], request.match_info["id"], values)
        return web.Response(status=204)

    async def _delete(self, request: web.Request) -> web.Response:
        self.store.delete(request.match_info["obj"], request.match_info["id"])
        return web.Response(status=204)

    async def _read_by_external_id(self, request: web.Request) -> web.Response:
        schema, field = self._external_field(request)
        matches = self.store.find_by(schema.name, field, request.match_info["value"])
        version = request.match_info["version"]
        if not matches:
            raise not_found()
        if len(matches) > 1:
            return json_response(
                [f"/services/data/v{version}/sobjects/{schema.name}/{m['Id']}" for m in matches],
                status=300,
            )
        return json_response(_select(schema, shape_record(schema, matches[0], version), request))

    async def _upsert(self, request: web.Request) -> web.Response:
        schema, field = self._external_field(request)
        value = request.match_info["value"]
        values = read_object(await request.read())
        version = request.match_info["version"]
        matches = self.store.find_by(schema.name, field, value)
        if len(matches) > 1:
            return json_response(
                [f"/services/data/v{version}/sobjects/{schema.name}/{m['Id']}" for m in matches],
                status=300,
            )
        if matches:
            record_id = str(matches[0]["Id"])
            self.store.update(schema.name, record_id, values)
            if float(version) < 46.0:
                return web.Response(status=204)
            return json_response({"id": record_id, "success": True, "errors": [], "created": False})
        if request.query.get("updateOnly", "").lower() == "true":
            raise not_found()
        record_id = self.store.create(schema.name, {**values, field: value})
        return json_response(
            {"id": record_id, "success": True, "errors": [], "created": True}, status=201
        )

    def _external_field(self, request: web.Request) -> tuple[ObjectSchema, str]:
        schema = self.store.schema(request.match_info["obj"])
        wanted = request.match_info["field"].lower()
        for name in schema.external_ids:
            if name.lower() == wanted:
                return schema, name
        raise ApiError(
            404,
            "NOT_FOUND",
            "Provided external ID field does not exist or is not accessible: "
            + request.match_info["field"],
        )


def _select(
    schema: ObjectSchema, record: dict[str, object], request: web.Request
) -> dict[str, object]:
    # `?fields=Name,Industry`: each must be a field of the object, as in a SOQL SELECT.
    wanted = request.query.get("fields")
    if not wanted:
        return record
    names = set()
    for raw in wanted.split(","):
        name = raw.strip()
        if schema.canonical(name) is None and not name.lower().endswith("__c"):
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"No such column '{name[:255]}' on entity '{schema.name}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the "
                "custom field name.",
            )
        names.add(name.lower())
    return {k: v for k, v in record.items() if k == "attributes" or k.lower() in names}
