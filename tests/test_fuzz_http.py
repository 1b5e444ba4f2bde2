"""Schema-driven HTTP fuzz: schemathesis generates requests for every operation of the
node's own `/openapi.json` and sends them to a real node on 127.0.0.1 (admin token
included). No answer may be a 5xx; every error is `application/problem+json` with a
`code`; an undeclared method on a known path is a 405 with `Allow`.

BADGECHAIN_FUZZ_EXAMPLES sets the examples per operation (default: a quick CI run).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # jsonschema ships no type information
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.core import NOT_SET

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.images import default_png, render_badge_svg
from badgechain.chain.keys import (
    KeyPair,
    PublicKey,
    did_key_from_public_key,
    public_key_from_did_key,
)
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.node.app import Node, RunningNode
from badgechain.node.config import NodeConfig
from badgechain.node.openapi import build_document, registered_routes
from badgechain.node.web import parse_uid
from tests.bns.network import TEST_SETTINGS

TOKEN = "fuzz-admin-token-" + "0123456789abcdef" * 2
EXAMPLES = int(os.environ.get("BADGECHAIN_FUZZ_EXAMPLES", "25"))
PROBLEM = "application/problem+json"
JSON_MEDIA = "application/json"
pytestmark = pytest.mark.filterwarnings(
    # The nodes' thread draws from `random` (kademlia) while Hypothesis generates a case.
    "ignore:Do not use the `random` module:hypothesis.errors.HypothesisDeprecationWarning"
)
CALL_TIMEOUT_S = 40  # above the node's own 30 s request limit: a hang is a failure, not a wait

# The document a full node serves: every route module registered.
DOCUMENT = build_document(
    Node(Path("/nonexistent"), KeyPair.generate(), NodeConfig(), TOKEN).build_app()
)


def _uids() -> st.SearchStrategy[str]:
    return st.binary(min_size=64, max_size=64).map(multibase_encode_b58)


def _did_keys() -> st.SearchStrategy[str]:
    return st.binary(min_size=32, max_size=32).map(
        lambda raw: did_key_from_public_key(PublicKey(raw))
    )


def _register_formats() -> None:
    """Strategies for the string formats node/openapi.py names (what a regex cannot say)."""
    schemathesis.openapi.format("bns-uid", _uids())
    schemathesis.openapi.format("did-key", _did_keys())
    schemathesis.openapi.format("bns-subject", _did_keys() | _uids().map("urn:bns:{}".format))
    images = [
        default_png(),
        render_badge_svg(name="x", issuer="y", earner="z", revoked=False).encode(),
    ]
    schemathesis.openapi.format(
        "badge-image", st.sampled_from([base64.b64encode(image).decode() for image in images])
    )
    schemathesis.openapi.format(
        "future-date-time",
        st.datetimes(min_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)).map(
            dt.datetime.isoformat
        ),
    )
    schemathesis.openapi.format(
        "utf8-256",
        st.text(min_size=1, max_size=256).filter(
            lambda text: bool(text.strip()) and len(text.encode()) <= 256
        ),
    )


_register_formats()
schemathesis.serializer.alias(["application/vc+jwt", "application/jwt"], "text/plain")
# A schema-violating request is refused, 413 being a refusal too. Schema-valid ones are
# checked by `schema_valid_accepted` below, which knows the document's formats.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "404", "405", "409", "413", "415", "422"]
            },
        }
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


class ThreadedNetwork:
    """Real Nodes serving from one event loop in a thread, so that schemathesis' blocking
    client can call them from the test's thread. The second joins the first, so that DHT
    writes have somewhere to go."""

    def __init__(self, root: Path, count: int = 2) -> None:
        self.root, self.count = root, count
        self.nodes: list[RunningNode] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> list[RunningNode]:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)
        return self.nodes

    async def _start(self) -> None:
        for number in range(self.count):
            home = self.root / f"node{number}"
            home.mkdir()
            seeds = tuple(node.dht_address for node in self.nodes)
            config = NodeConfig(name=home.name, dht_port=0, http_port=0, bootstrap=seeds)
            node = Node(home, KeyPair.generate(), config, TOKEN, dht_settings=TEST_SETTINGS)
            self.nodes.append(await node.start())

    async def _stop(self) -> None:
        for node in self.nodes:
            await node.stop()

    def __exit__(self, *_: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


# Names the live node holds (filled by `live_node`): the fuzz sends them now and then, so
# that it reaches past "not found" into the handlers' real work.
KNOWN: dict[str, list[str]] = {}
SENT: Counter[str] = Counter()  # requests per operation, printed at the end (pytest -s)


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield session


@pytest.fixture(scope="module")
def live_node(
    tmp_path_factory: pytest.TempPathFactory, http: requests.Session
) -> Iterator[RunningNode]:
    with ThreadedNetwork(tmp_path_factory.mktemp("fuzz-net")) as nodes:
        _seed(nodes[0], nodes[-1], http)
        yield nodes[-1]
        KNOWN.clear()
    if SENT:
        print(f"\nfuzz: {sum(SENT.values())} requests, {dict(sorted(SENT.items()))}")


def _post(http: requests.Session, node: RunningNode, path: str, body: dict[str, Any]) -> Any:
    response = http.post(f"{node.gateway_url}{path}", json=body, timeout=CALL_TIMEOUT_S)
    assert response.status_code in (201, 202), response.text
    return response.json()


def _seed(other: RunningNode, node: RunningNode, http: requests.Session) -> None:
    """A class, badges issued by the node and delivered to it, a persona, a collection and
    a batch: what the fuzz's generated names rarely hit."""
    course = {"name": "Fuzzing", "description": "Sends odd requests", "criteria": "Lab 1"}
    class_id = _post(http, node, "/admin/classes", course)["id"]
    issued = [
        _post(http, node, "/admin/issue", {"class_id": class_id, "to": other.did}) for _ in range(2)
    ]
    foreign_class = _post(http, other, "/admin/classes", course)["id"]
    _post(http, other, "/admin/issue", {"class_id": foreign_class, "to": node.did})
    persona = _post(http, node, "/admin/personas", {"name": "fuzz"})
    uids = [item["uid"] for item in issued]
    collection = _post(http, node, "/admin/collections", {"name": "fuzz", "uids": uids})
    rows = [{"to": other.did}, {"email": "a@example.org"}]
    batch = _post(http, node, "/admin/batches", {"class_id": class_id, "rows": rows})
    status_url = issued[0]["credential"]["credentialStatus"]["statusListCredential"]
    inbox = _eventually_in_inbox(node, http)
    KNOWN.update(
        uid=[*uids, persona["uid"], *inbox],
        class_id=[class_id],
        batch_id=[batch["batch_id"]],
        list_id=[status_url.rsplit("/", 1)[-1]],
        id=[collection["id"], other.did],
        did=[node.did, other.did],
    )


def _eventually_in_inbox(node: RunningNode, http: requests.Session) -> list[str]:
    """The UIDs delivered to `node` (delivery runs in the background; 30 s at most)."""
    for _ in range(600):
        badges = http.get(f"{node.gateway_url}/admin/inbox", timeout=CALL_TIMEOUT_S).json()
        if badges["badges"]:
            return [item["uid"] for item in badges["badges"]]
        threading.Event().wait(0.05)
    raise AssertionError("the badge issued to the fuzzed node never reached its inbox")


def _swap(name: str, value: object, subschema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """`value`, or now and then a name the node holds. Only a valid value is swapped, and
    only for a valid one, so that a negative case keeps its violation."""
    if not _valid(value, subschema):
        return st.just(value)
    held = [known for known in KNOWN.get(name, []) if _valid(known, subschema)]
    return st.sampled_from([value, value, *held])


def _operation(context: Any) -> dict[str, Any]:
    return dict(DOCUMENT["paths"][context.operation.path][context.operation.method.lower()])


@schema.hook
def flatmap_path_parameters(context: Any, parameters: dict[str, Any]) -> st.SearchStrategy[Any]:
    schemas = {p["name"]: p["schema"] for p in _operation(context).get("parameters", [])}
    swapped = {
        name: _swap(name, value, schemas[name]) if name in schemas else st.just(value)
        for name, value in (parameters or {}).items()
    }
    return st.fixed_dictionaries(swapped)


@schema.hook
def filter_query(context: Any, query: dict[str, Any] | None) -> bool:
    """The node ignores query parameters it does not know, as HTTP servers do: a request
    with them is not a violation worth a failure."""
    declared = {p["name"] for p in _operation(context).get("parameters", []) if p["in"] == "query"}
    return set(query or {}) <= declared


def _body_fields(context: Any) -> dict[str, Any]:
    body = _operation(context).get("requestBody", {}).get("content", {}).get(JSON_MEDIA)
    if body is None:
        return {}
    named = DOCUMENT["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[-1]]
    return dict(named.get("properties", {}))


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    fields = _body_fields(context)
    if not isinstance(body, dict) or not {"uid", "class_id", "uids"} & body.keys() & fields.keys():
        return st.just(body)
    swapped = {
        name: _swap(name, value, fields[name]) if name in ("uid", "class_id") else st.just(value)
        for name, value in body.items()
    }
    if "uids" in body and _valid(body["uids"], fields["uids"]):
        swapped["uids"] = st.sampled_from([body["uids"], KNOWN.get("uid", [])[:3] or body["uids"]])
    return st.fixed_dictionaries(swapped)


@schemathesis.check
def problem_reports(ctx: Any, response: schemathesis.Response, case: Case[Any]) -> bool | None:
    """Every error is an RFC 9457 problem report with a stable `code`."""
    if response.status_code < 400:
        return None
    media = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    assert media == PROBLEM, f"{response.status_code} answered as {media!r}"
    body = json.loads(response.content)
    assert isinstance(body.get("code"), str) and body["code"], f"no code in {body!r:.200}"
    assert body.get("status") == response.status_code
    return None


def _is_uid(text: object) -> bool:
    try:
        parse_uid(str(text))
    except BadgeChainError:
        return False
    return True


def _is_did_key(text: object) -> bool:
    try:
        public_key_from_did_key(str(text))
    except BadgeChainError:
        return False
    return True


def _is_image(text: object) -> bool:
    """Base64 of a PNG or an SVG (node/issuer.py image_data_uri); not base64: ValueError."""
    raw = base64.b64decode(str(text), validate=True)
    svg = b"<svg" in raw[:4096] and raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
    return len(raw) <= 256 * 1024 and (raw.startswith(b"\x89PNG\r\n\x1a\n") or svg)


def _is_future(text: object) -> bool:
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return False
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return moment > dt.datetime.now(dt.UTC)


FORMATS = jsonschema.FormatChecker([])
FORMATS.checks("bns-uid")(_is_uid)
FORMATS.checks("did-key")(_is_did_key)
FORMATS.checks("bns-subject")(lambda text: _is_did_key(text) or _is_uid(text))
FORMATS.checks("badge-image", raises=ValueError)(_is_image)  # binascii.Error too
FORMATS.checks("future-date-time")(_is_future)
FORMATS.checks("utf8-256")(lambda text: len(str(text).encode()) <= 256)
# What no JSON Schema here says: a credential's rules (VC data model, chain/structure.py),
# the BNS location's shared budget of 448 characters for its URLs, and that a form's file
# comes among its first 8 parts and its field names are ASCII (aiohttp refuses others).
CONTENT_CODES = {
    ("POST", "/verify"): {"file_missing", "form_invalid"},
    ("POST", "/credentials/issue"): {"credential_invalid"},
    ("POST", "/admin/move"): {"url_invalid"},
    # Webmention §3.2.3: a target that is no badge here, a source that is the target, fails
    # or does not link to it, is a 400 (the spec's status), whatever the form's shape.
    ("POST", "/webmention"): {
        "webmention_target_unknown",
        "webmention_url_invalid",
        "webmention_source_failed",
        "webmention_no_link",
    },
}


def _valid(instance: object, subschema: dict[str, Any]) -> bool:
    """`instance` meets `subschema` of the document, formats included."""
    root = subschema | {"components": DOCUMENT["components"]}  # where "#/components/…" points
    validator = jsonschema.Draft202012Validator(root, format_checker=FORMATS)
    return bool(validator.is_valid(instance))


def _schema_valid(case: Case[Any], sent_media: str) -> bool:
    operation = DOCUMENT["paths"][case.operation.path][case.method.lower()]
    for parameter in operation.get("parameters", []):
        where = case.path_parameters if parameter["in"] == "path" else case.query
        if parameter["name"] in (where or {}):
            value = where[parameter["name"]]
            if parameter["schema"].get("type") == "integer":
                value = int(value) if str(value).isdigit() else value
            if not _valid(value, parameter["schema"]):
                return False
        elif parameter.get("required"):
            return False
    body = operation.get("requestBody")
    if body is None:
        return True
    if case.body is NOT_SET:
        return not body["required"]
    media = body["content"].get(sent_media)
    return media is not None and _valid(case.body, media["schema"])


@schemathesis.check
def schema_valid_accepted(
    ctx: Any, response: schemathesis.Response, case: Case[Any]
) -> bool | None:
    """A request the document allows (formats included) is never refused for its shape."""
    header = response.request.headers.get("Content-Type", "")
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    sent_media = text.split(";")[0].strip()
    if response.status_code not in (400, 413, 415) or not _schema_valid(case, sent_media):
        return None
    code = json.loads(response.content).get("code")
    assert code in CONTENT_CODES.get((case.method, case.operation.path), set()), (
        f"a schema-valid request refused with {response.status_code} {code}"
    )
    return None


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("BADGECHAIN_FUZZ_RANDOM") is None,
)
def test_every_operation(case: Case[Any], live_node: RunningNode, http: requests.Session) -> None:
    SENT[f"{case.method} {case.operation.path}"] += 1
    case.call_and_validate(
        base_url=live_node.gateway_url,
        session=http,
        timeout=CALL_TIMEOUT_S,
        additional_checks=[problem_reports, schema_valid_accepted],
    )


def test_the_fuzzed_document_is_the_served_one(
    live_node: RunningNode, http: requests.Session
) -> None:
    served = http.get(f"{live_node.gateway_url}/openapi.json", timeout=CALL_TIMEOUT_S).json()
    assert served == json.loads(json.dumps(DOCUMENT))


def test_every_route_is_in_the_document_and_back(tmp_path: Path) -> None:
    app = Node(tmp_path, KeyPair.generate(), NodeConfig(), TOKEN).build_app()
    documented = {
        (method.upper(), path)
        for path, operations in DOCUMENT["paths"].items()
        for method in operations
    }
    assert documented == registered_routes(app)


def test_an_undeclared_method_is_405_with_allow(
    live_node: RunningNode, http: requests.Session
) -> None:
    response = http.delete(f"{live_node.gateway_url}/admin/personas", timeout=CALL_TIMEOUT_S)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}
    assert response.headers["Content-Type"].startswith(PROBLEM)


def test_a_null_url_in_a_move_is_refused(live_node: RunningNode, http: requests.Session) -> None:
    """Found by the fuzz: `[null]` slipped past the URL check and answered 500."""
    uid = multibase_encode_b58(bytes(64))
    body: dict[str, Any] = {"uid": uid, "urls": [None]}
    response = http.post(f"{live_node.gateway_url}/admin/move", json=body, timeout=CALL_TIMEOUT_S)
    assert response.status_code == 400 and response.json()["code"] == "url_invalid"


def test_a_class_image_that_is_not_text_is_a_bad_request(
    live_node: RunningNode, http: requests.Session
) -> None:
    """Found by the fuzz: a number for `image` answered 413 image_too_large."""
    body: dict[str, Any] = {"name": "n", "description": "d", "criteria": "c", "image": 5}
    url = f"{live_node.gateway_url}/admin/classes"
    response = http.post(url, json=body, timeout=CALL_TIMEOUT_S)
    assert response.status_code == 400 and response.json()["code"] == "image_invalid"


def test_a_persona_body_the_schema_forbids_is_refused(
    live_node: RunningNode, http: requests.Session
) -> None:
    url = f"{live_node.gateway_url}/admin/personas"
    bodies: tuple[Any, ...] = ({"name": "x", "extra": 1}, {"name": "   "}, {"name": 5}, [], "x")
    for body in bodies:
        assert not _valid(body, DOCUMENT["components"]["schemas"]["PersonaRequest"])
        response = http.post(url, json=body, timeout=CALL_TIMEOUT_S)
        assert response.status_code == 400, body
