"""A node's home: its key, its settings (config.toml), its admin token and its database.

HOME/key.json       the node's Ed25519 key (encrypted unless made with --no-passphrase)
HOME/config.toml    ports, bootstrap peers, public or loopback gateway, the issuer's name
HOME/admin.token    the bearer token of the admin API (mode 0600)
HOME/db/            the LevelDB database
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from badgechain.chain.contexts import add_local_contexts
from badgechain.storage.files import write_atomic

from .errors import NodeError

__all__ = [
    "ADMIN_TOKEN_FILE",
    "CONFIG_FILE",
    "MAX_ISSUER_NAME_CHARS",
    "ConfigError",
    "NodeConfig",
    "SmtpConfig",
    "check_issuer_name",
    "create_admin_token",
    "load_config",
    "parse_peer",
    "read_admin_token",
    "render_config",
    "save_config",
]

CONFIG_FILE = "config.toml"
ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 (a file name, not a secret)
DB_DIR = "db"
MAX_JSON_BYTES = 1024 * 1024  # a JSON body the node reads: a request, an inbox delivery
_MAX_CONFIG_BYTES = 64 * 1024
MAX_ISSUER_NAME_CHARS = 200  # the issuer profile's name in every badge the node issues


class ConfigError(NodeError):
    code = "config_invalid"  # 400


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """The [smtp] table. The password is never in config.toml: BADGECHAIN_SMTP_PASSWORD, else
    `password_file` (relative to the home, mode 0600) holds it (node/mail.py reads it)."""

    host: str = ""
    port: int = 587
    starttls: bool = True
    user: str = ""
    sender: str = ""  # the From address; empty: the user, else badgechain@<host>
    password_file: str = ""


def _smtp(raw: dict[str, Any], path: Path) -> SmtpConfig:
    table = raw.get("smtp", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [smtp] must be a table")
    unknown = set(table) - {"host", "port", "starttls", "user", "from", "password_file"}
    if unknown:
        raise ConfigError(f"{path}: [smtp] has unknown settings {sorted(unknown)}")
    texts = [table.get(name, "") for name in ("host", "user", "from", "password_file")]
    if not all(isinstance(text, str) and len(text) <= 320 for text in texts):
        raise ConfigError(f"{path}: [smtp] host, user, from and password_file must be text")
    starttls = table.get("starttls", True)
    if not isinstance(starttls, bool):
        raise ConfigError(f"{path}: [smtp] starttls must be true or false")
    host, user, sender, password_file = texts
    port = _port(table.get("port", 587), "[smtp] port")
    return SmtpConfig(host, port, starttls, user, sender, password_file)


def _render_smtp(smtp: SmtpConfig) -> str:
    if smtp == SmtpConfig():
        return ""
    return (
        "[smtp]\n"
        f"host = {_toml_string(smtp.host)}\n"
        f"port = {smtp.port}\n"
        f"starttls = {'true' if smtp.starttls else 'false'}\n"
        f"user = {_toml_string(smtp.user)}\n"
        f"from = {_toml_string(smtp.sender)}\n"
        f"password_file = {_toml_string(smtp.password_file)}\n"
    )


def check_issuer_name(name: str) -> str:
    """`name`, stripped, if it can name the issuer in its badges: short text, one line."""
    name = name.strip()
    if len(name) > MAX_ISSUER_NAME_CHARS or not name.isprintable():
        raise ConfigError(
            f"the issuer name is one line of at most {MAX_ISSUER_NAME_CHARS} characters",
            code="issuer_name_invalid",
        )
    return name


def _issuer_name(raw: dict[str, Any], path: Path) -> str:
    table = raw.get("issuer", {})
    if not isinstance(table, dict) or set(table) - {"name"}:
        raise ConfigError(f"{path}: [issuer] is a table with one setting, name")
    name = table.get("name", "")
    if not isinstance(name, str):
        raise ConfigError(f"{path}: [issuer] name must be text", code="issuer_name_invalid")
    return check_issuer_name(name)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    name: str = "node"
    dht_host: str = "127.0.0.1"
    dht_port: int = 4800
    http_port: int = 4880
    public: bool = False  # bind the gateway beyond loopback
    public_url: str = ""  # how others reach the gateway; derived from host and port if empty
    bootstrap: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    pow_difficulty: int = 0  # must match the network's setting
    # A public node connects only to global addresses when it fetches or posts on the
    # network's say-so (node/outbound.py); True allows private ones (a private network).
    fetch_private: bool = False
    # Networks (CIDR) a guarded node may reach besides global addresses, e.g. a feed server
    # on an intranet or a test's loopback host; any other private address stays refused.
    fetch_allow: tuple[str, ...] = ()
    # Reverse proxies (CIDR) whose X-Forwarded-For names the client a rate limit counts
    # (node/course_limits.py); from any other peer the header is ignored.
    trusted_proxies: tuple[str, ...] = ()
    # An index (context URL → file beside it) of JSON-LD contexts trusted beyond the pinned
    # set, e.g. a test suite's example contexts; relative to the home. Empty: none.
    local_contexts: str = ""
    # The did:web this node issues as (`init --did-web`); empty: its did:key. The node
    # serves the matching DID document (node/didweb.py).
    did_web: str = ""
    # A PEM file of CA certificates trusted for outbound HTTPS besides the system's (a
    # private CA; tests). BADGECHAIN_TLS_CA_FILE overrides it (node/outbound.py).
    tls_ca_file: str = ""
    # Outbound mail for email claims (node/mail.py), from the [smtp] table; no host: no mail.
    smtp: SmtpConfig = field(default_factory=lambda: SmtpConfig())
    # [issuer] name: the issuer profile's name in every badge this node issues; empty: none
    # (other nodes then show the badge's issuer by its DID alone).
    issuer_name: str = ""

    @property
    def http_host(self) -> str:
        return "0.0.0.0" if self.public else "127.0.0.1"  # noqa: S104 (only with --public)

    @property
    def gateway_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://127.0.0.1:{self.http_port}"

    def with_overrides(self, **changes: Any) -> NodeConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def parse_peer(text: str) -> tuple[str, int]:
    """HOST:PORT with an IP address (a DHT contact is an address, never a name to resolve)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError as exc:
        raise ConfigError(f"bootstrap peer {text!r} is not IP:PORT", code="peer_invalid") from exc
    if not sep or not 0 < number < 65536:
        raise ConfigError(f"bootstrap peer {text!r} is not IP:PORT", code="peer_invalid")
    return host, number


def _port(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 65536:
        raise ConfigError(f"{what} must be a port number (0 picks a free one)")
    return value


def load_config(home: Path) -> NodeConfig:
    path = home / CONFIG_FILE
    try:
        data = path.read_bytes()[: _MAX_CONFIG_BYTES + 1]
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path} is missing: run `badgechain init` first", code="home_not_initialised"
        ) from exc
    if len(data) > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is larger than {_MAX_CONFIG_BYTES} bytes")
    try:
        raw = tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    node = raw.get("node", {})
    if not isinstance(node, dict):
        raise ConfigError(f"{path}: [node] must be a table")
    defaults = NodeConfig()
    peers = node.get("bootstrap", [])
    if not isinstance(peers, list) or not all(isinstance(p, str) for p in peers):
        raise ConfigError(f'{path}: bootstrap must be a list of "IP:PORT" strings')
    name = node.get("name", defaults.name)
    public_url = node.get("public_url", "")
    difficulty = node.get("pow_difficulty", 0)
    if not isinstance(name, str) or not isinstance(public_url, str):
        raise ConfigError(f"{path}: name and public_url must be strings")
    if not isinstance(difficulty, int) or not 0 <= difficulty <= 32:
        raise ConfigError(f"{path}: pow_difficulty must be 0 to 32")
    fetch_private = node.get("fetch_private", False)
    if not isinstance(fetch_private, bool):
        raise ConfigError(f"{path}: fetch_private must be true or false")
    fetch_allow = _networks(node.get("fetch_allow", []), path, "fetch_allow")
    trusted_proxies = _networks(node.get("trusted_proxies", []), path, "trusted_proxies")
    local_contexts = node.get("local_contexts", "")
    if not isinstance(local_contexts, str):
        raise ConfigError(f"{path}: local_contexts must be a path")
    did_web, tls_ca_file = node.get("did_web", ""), node.get("tls_ca_file", "")
    if not isinstance(did_web, str) or not isinstance(tls_ca_file, str):
        raise ConfigError(f"{path}: did_web and tls_ca_file must be strings")
    if did_web and not did_web.startswith("did:web:"):
        raise ConfigError(f"{path}: did_web must be a did:web")
    return NodeConfig(
        name=name,
        dht_host=str(node.get("dht_host", defaults.dht_host)),
        dht_port=_port(node.get("dht_port", defaults.dht_port), "dht_port"),
        http_port=_port(node.get("http_port", defaults.http_port), "http_port"),
        public=bool(node.get("public", False)),
        public_url=public_url,
        bootstrap=tuple(parse_peer(p) for p in peers),
        pow_difficulty=difficulty,
        fetch_private=fetch_private,
        fetch_allow=fetch_allow,
        trusted_proxies=trusted_proxies,
        local_contexts=local_contexts,
        did_web=did_web,
        tls_ca_file=tls_ca_file,
        smtp=_smtp(raw, path),
        issuer_name=_issuer_name(raw, path),
    )


def _networks(value: object, path: Path, name: str) -> tuple[str, ...]:
    """At most 16 networks in CIDR form ("10.1.2.0/24", "127.0.0.1/32")."""
    if not isinstance(value, list) or len(value) > 16:
        raise ConfigError(f"{path}: {name} must be a list of at most 16 networks")
    try:
        return tuple(str(ipaddress.ip_network(text, strict=False)) for text in value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {name}: {exc}"[:300]) from exc


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(config: NodeConfig) -> str:
    peers = ", ".join(_toml_string(f"{h}:{p}") for h, p in config.bootstrap)
    return (
        "# BadgeChain node settings; command-line options override them.\n"
        "[node]\n"
        f"name = {_toml_string(config.name)}\n"
        f"dht_host = {_toml_string(config.dht_host)}\n"
        f"dht_port = {config.dht_port}\n"
        f"http_port = {config.http_port}\n"
        f"public = {'true' if config.public else 'false'}\n"
        f"public_url = {_toml_string(config.public_url)}\n"
        f"bootstrap = [{peers}]\n"
        f"pow_difficulty = {config.pow_difficulty}\n"
        f"fetch_private = {'true' if config.fetch_private else 'false'}\n"
        f"fetch_allow = [{', '.join(_toml_string(net) for net in config.fetch_allow)}]\n"
        f"trusted_proxies = [{', '.join(_toml_string(n) for n in config.trusted_proxies)}]\n"
        f"local_contexts = {_toml_string(config.local_contexts)}\n"
        f"did_web = {_toml_string(config.did_web)}\n"
        f"tls_ca_file = {_toml_string(config.tls_ca_file)}\n"
    ) + _render_tables(config)


def _render_tables(config: NodeConfig) -> str:
    """[issuer], always written so the setting is there to fill in, and [smtp] when set."""
    issuer = "\n[issuer]\n# The name badges this node issues give their issuer.\n"
    return issuer + f"name = {_toml_string(config.issuer_name)}\n" + _render_smtp(config.smtp)


def save_config(home: Path, config: NodeConfig) -> None:
    write_atomic(home / CONFIG_FILE, render_config(config).encode())


def create_admin_token() -> str:
    return secrets.token_urlsafe(32)


def read_admin_token(home: Path) -> str:
    path = home / ADMIN_TOKEN_FILE
    try:
        token = path.read_text()[:200].strip()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path} is missing: run `badgechain init` first", code="home_not_initialised"
        ) from exc
    if len(token) < 32:
        raise ConfigError(f"{path} does not hold an admin token", code="admin_token_invalid")
    return token


_MAX_LOCAL_CONTEXT_BYTES = 1024 * 1024
_MAX_LOCAL_CONTEXTS = 64


def read_local_contexts(index: Path) -> dict[str, bytes]:
    """The contexts an index file names: a JSON object of context URL → file name, the files
    beside it (the layout of the installed set, and of ../shared/interop/contexts)."""
    try:
        raw = index.read_bytes()[: _MAX_LOCAL_CONTEXT_BYTES + 1]
        names = json.loads(raw) if len(raw) <= _MAX_LOCAL_CONTEXT_BYTES else None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"local contexts index {index}: {exc}", code="contexts_invalid") from exc
    if not isinstance(names, dict) or len(names) > _MAX_LOCAL_CONTEXTS:
        raise ConfigError(
            f"local contexts index {index} must be an object of at most "
            f"{_MAX_LOCAL_CONTEXTS} URL → file name pairs",
            code="contexts_invalid",
        )
    documents = {}
    for url, name in names.items():
        if not url.startswith(("https://", "http://")) or not isinstance(name, str):
            raise ConfigError(f"{index}: {url!r:.100} → {name!r:.100}", code="contexts_invalid")
        path = index.parent / Path(name).name  # files beside the index only
        try:
            documents[url] = path.read_bytes()[: _MAX_LOCAL_CONTEXT_BYTES + 1]
        except OSError as exc:
            raise ConfigError(f"{index}: {exc}", code="contexts_invalid") from exc
        if len(documents[url]) > _MAX_LOCAL_CONTEXT_BYTES:
            raise ConfigError(f"{path} is over 1 MiB", code="contexts_invalid")
    return documents


def install_local_contexts(home: Path, config: NodeConfig) -> None:
    """Trust the contexts the config names (relative to the home), for this process."""
    if config.local_contexts:
        add_local_contexts(read_local_contexts(home / config.local_contexts))
