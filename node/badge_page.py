"""The badge page a crawler or a blog's Webmention verifier can read without JavaScript: the
HTML that GET /badges/{uid} answers a client preferring text/html (node/badge_routes.py).

Pure rendering: the route gathers the facts (the credential, its revocation, its verified
mentions) and this module writes them down. Every value from the credential is HTML-escaped;
the credential itself is embedded as JSON-LD with `<`, `>` and `&` written as \\u escapes,
so no value can end its <script> element.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from badgechain.chain.credential import CredentialView
from badgechain.chain.images import badge_card

__all__ = ["MAX_LISTED", "BadgePage", "embedded_json", "render_badge_page", "wants_html"]

MAX_LISTED: Final = 100  # evidence items and mentions shown (the JSON has them all)
_ID_CHUNK: Final = 16  # characters of a long id between its possible line breaks
_MAX_ACCEPT_RANGES: Final = 32  # an Accept header is read this far, no further
_JSON_TYPES: Final = ("application/json", "application/ld+json")
_HTTP_URL: Final = re.compile(r"https?://[^\s<>\"'`\x00-\x1f\x7f]{1,2040}", re.IGNORECASE)
# Links a third party chose: search engines are told the node does not vouch for them.
_UGC: Final = ' rel="ugc nofollow"'


def wants_html(accept: str) -> bool:
    """Whether an Accept header (RFC 9110 §12.5.1) prefers text/html to JSON; a tie, or no
    header, is JSON (what the route answered before it had a page)."""
    ranges = _accept_ranges(accept)
    html_q = _quality(ranges, "text/html")
    return html_q > 0 and html_q > max(_quality(ranges, media) for media in _JSON_TYPES)


def _accept_ranges(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(",", _MAX_ACCEPT_RANGES)[:_MAX_ACCEPT_RANGES]:
        media, *params = part.split(";")
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = _q_value(value.strip())
        ranges.append((media.strip().lower(), quality))
    return ranges


def _q_value(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if 0.0 <= value <= 1.0 else 0.0  # NaN and out-of-range read as "not"


def _quality(ranges: Sequence[tuple[str, float]], media: str) -> float:
    """The q of the most specific range matching `media` (exact, type/*, */*); 0 for none."""
    kind = media.split("/", 1)[0]
    rank = {media: 3, f"{kind}/*": 2, "*/*": 1}
    matching = [(rank[name], q) for name, q in ranges if name in rank]
    if not matching:
        return 0.0
    best = max(specificity for specificity, _ in matching)
    return max(q for specificity, q in matching if specificity == best)


@dataclass(frozen=True, slots=True)
class BadgePage:
    """What the page shows: the credential as signed, where it is served (`base`, the node's
    gateway URL, and its UID), whether the BNS has it revoked, and its verified mentions."""

    credential: Mapping[str, Any]
    uid: str
    base: str
    revoked: bool
    mentions: Sequence[Mapping[str, Any]] = ()

    @property
    def url(self) -> str:
        return f"{self.base}/badges/{self.uid}"


def render_badge_page(page: BadgePage) -> bytes:
    """The whole HTML document, UTF-8."""
    view = CredentialView(page.credential)
    achievement = view.achievement
    name = badge_card(page.credential).name
    description = _text(achievement.get("description")) or _text(page.credential.get("description"))
    parts = [
        _head(page, name, description),
        '<body>\n<main id="main" class="badge-page">\n<article>\n',
        f"<h1>{_e(name)}</h1>\n",
        _status(page.revoked),
        # Relative: the page's own origin, which the policy's img-src 'self' admits.
        f'<p><img src="{_e(page.uid)}.png" alt="{_e(name)}" width="160" height="160"'
        ' class="badge-image"></p>\n',
        f"<p>{_e(description)}</p>\n" if description else "",
        _facts(page, view),
        _criteria(achievement.get("criteria")),
        _evidence(page, view),
        _mentions(page.mentions),
        _links(page),
        "</article>\n</main>\n</body>\n</html>\n",
    ]
    return "".join(parts).encode()


def _head(page: BadgePage, name: str, description: str) -> str:
    summary = description[:300] or f"An Open Badge: {name}"
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(name)} \u2014 BadgeChain</title>\n"
        f'<meta name="description" content="{_e(summary)}">\n'
        '<link rel="stylesheet" href="/static/style.css">\n'
        f'<link rel="canonical" href="{_e(page.url)}">\n'
        f'<link rel="alternate" type="application/ld+json" href="{_e(page.url)}.json">\n'
        f'<link rel="webmention" href="{_e(page.base)}/webmention">\n'
        '<meta property="og:type" content="website">\n'
        f'<meta property="og:title" content="{_e(name)}">\n'
        f'<meta property="og:description" content="{_e(summary)}">\n'
        f'<meta property="og:image" content="{_e(page.url)}.png">\n'
        f'<meta property="og:url" content="{_e(page.url)}">\n'
        f'<script type="application/ld+json">{embedded_json(page.credential)}</script>\n'
        "</head>\n"
    )


def embedded_json(credential: Mapping[str, Any]) -> str:
    """The credential as JSON safe inside <script>: `<`, `>` and `&` occur in JSON only inside
    strings, where their \\u escapes parse back to the same characters."""
    text = json.dumps(credential, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _status(revoked: bool) -> str:
    if revoked:
        return (
            '<p id="badge-status" class="status revoked" data-status="revoked">'
            "<strong>Revoked</strong>: its issuer revoked this badge.</p>\n"
        )
    return (
        '<p id="badge-status" class="status valid" data-status="valid">'
        "<strong>Not revoked</strong>: the Badge Name Server holds no revocation of it.</p>\n"
    )


def _facts(page: BadgePage, view: CredentialView) -> str:
    credential = page.credential
    issuer = credential.get("issuer")
    issuer_name = _text(issuer.get("name")) if isinstance(issuer, Mapping) else ""
    rows = [
        ("Issuer", _party(issuer_name, view.issuer_id)),
        ("Earner", _earner(page.credential, view.subject)),
        ("Issued", _date(credential.get("validFrom") or credential.get("issuanceDate"))),
        ("Valid until", _date(credential.get("validUntil") or credential.get("expirationDate"))),
        ("UID", f"<code>{_breakable(page.uid)}</code>"),
    ]
    shown = "".join(f"<dt>{label}</dt><dd>{value}</dd>\n" for label, value in rows if value)
    return f'<dl class="badge-facts">\n{shown}</dl>\n'


def _party(name: str, identifier: str) -> str:
    named = f"{_e(name)} " if name else ""
    return f"{named}<code>{_breakable(identifier)}</code>" if identifier else _e(name)


def _breakable(identifier: str) -> str:
    """A long id (a DID, a UID) that may wrap on a phone (<wbr>), copied whole all the same."""
    chunks = [identifier[i : i + _ID_CHUNK] for i in range(0, len(identifier), _ID_CHUNK)]
    return "<wbr>".join(_e(chunk) for chunk in chunks)


def _earner(credential: Mapping[str, Any], subject: Mapping[str, Any]) -> str:
    """As the badge says: the subject's name and id; else what its identifier is."""
    name, identifier = _text(subject.get("name")), _text(subject.get("id"))
    if name or identifier:
        return _party(name, identifier)
    return _e(badge_card(credential).earner)


def _date(value: object) -> str:
    text = _text(value)
    if not text:
        return ""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return _e(text)
    return f'<time datetime="{_e(text)}">{_e(text)}</time>'


def _criteria(criteria: object) -> str:
    if isinstance(criteria, str):
        criteria = {"narrative": criteria}
    if not isinstance(criteria, Mapping):
        return ""
    paragraphs = [p for p in re.split(r"\n\s*\n", _text(criteria.get("narrative"))) if p]
    body = "".join(f"<p>{_e(p.strip())}</p>\n" for p in paragraphs)
    url = _http_url(criteria.get("id"))
    if url:
        body += f'<p><a href="{_e(url)}">The criteria in full</a></p>\n'
    return f"<h2>Criteria</h2>\n{body}" if body else ""


def _evidence(page: BadgePage, view: CredentialView) -> str:
    found = page.credential.get("evidence")
    items = [i for i in (found if isinstance(found, list) else [found]) if i]
    lines = [_evidence_item(page, view, item) for item in items[:MAX_LISTED]]
    return _section("Evidence", [line for line in lines if line], len(items))


def _evidence_item(page: BadgePage, view: CredentialView, item: object) -> str:
    evidence = item if isinstance(item, Mapping) else {"id": item}
    url = _http_url(evidence.get("id"))
    label = _text(evidence.get("name")) or url or _text(evidence.get("id"))
    note = _text(evidence.get("narrative")) or _text(evidence.get("description"))
    shown = _e(label)
    if url:
        rel = "" if _vouched(url, page.base, view.issuer_id) else _UGC
        shown = f'<a href="{_e(url)}"{rel}>{shown}</a>'
    return f"{shown}: {_e(note)}" if note else shown


def _vouched(url: str, base: str, issuer: str) -> bool:
    """Evidence on this node, or on the host of the issuer's did:web, is the issuer's own;
    any other (a post, a repository) is taken as the earner's."""
    own = {urlsplit(base).netloc.lower()}
    if issuer.startswith("did:web:"):  # did:web:host%3Aport:path
        own.add(issuer.removeprefix("did:web:").split(":", 1)[0].replace("%3A", ":").lower())
    return urlsplit(url).netloc.lower() in own


def _mentions(mentions: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for mention in mentions[:MAX_LISTED]:
        source = _http_url(mention.get("source"))
        if source:
            when = _text(mention.get("verified"))
            line = f'<a href="{_e(source)}"{_UGC}>{_e(source)}</a>'
            lines.append(f"{line} (verified {_date(when)})" if when else line)
    return _section("Mentions", lines, len(mentions))


def _section(title: str, lines: list[str], total: int) -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{line}</li>\n" for line in lines)
    more = f"<p>And {total - len(lines)} more.</p>\n" if total > len(lines) else ""
    return f"<h2>{title}</h2>\n<ul>\n{items}</ul>\n{more}"


def _links(page: BadgePage) -> str:
    links = [
        (f"{page.url}.json", "The credential (JSON)"),
        (f"{page.url}.png", "The badge image, the credential baked in (PNG)"),
        (f"{page.url}.svg", "The badge card, the credential baked in (SVG)"),
        (f"{page.base}/#/badge/{page.uid}", "Verify it interactively"),
    ]
    items = [f'<a href="{_e(url)}">{label}</a>' for url, label in links]
    return _section("Get or check this badge", items, len(items))


def _http_url(value: object) -> str:
    text = _text(value)
    return text if _HTTP_URL.fullmatch(text) else ""


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _e(value: str) -> str:
    return html.escape(value, quote=True)
