// The BadgeChain web page: verify a badge (file, pasted JSON or VC-JWT, or UID), show a
// badge (#/badge/<UID>), an issuer's or an earner's badges (#/issuer/<DID>, #/earner/<DID>), a
// collection (#/collection/<id>), and on the home page whose node this is and what it shows.
// It talks only to this node's public JSON API. Badge data is hostile input: every text goes in
// through textContent, and every link is built here from encoded parts, never taken as given.
"use strict";

(() => {
  const MAX_UPLOAD_BYTES = 10 * 1024 * 1024; // chain/verify.py MAX_INPUT_BYTES
  const UPLOAD_TYPES = {
    png: "image/png",
    svg: "image/svg+xml",
    json: "application/json",
    jsonld: "application/ld+json",
    jwt: "application/jwt",
  };
  const UID_PATTERN = /^(urn:bns:)?z[1-9A-HJ-NP-Za-km-z]{40,100}$/;

  // Each check of a verification report (chain/verify.py CHECK_NAMES), in plain words.
  const CHECKS = {
    input: ["Reading the badge", "Could the badge be read: JSON, a VC-JWT, or baked into a PNG or SVG?"],
    vc_model: ["Credential format", "Is it a well-formed W3C Verifiable Credential?"],
    ob_structure: ["Open Badge", "Does it have every part an Open Badges 3.0 credential needs?"],
    issuer_key: ["Issuer's key", "Was it signed with a key its issuer controls?"],
    proof: ["Signature", "Is the issuer's signature intact, so nothing was changed after signing?"],
    uid: ["Badge ID", "Does it carry its unique ID, the issuer's signature value?"],
    chain: ["Badge chain", "If it was issued to another badge (a persona), does that badge hold too?"],
    bns: ["Badge Name Server", "Does the public BNS entry name the same issuer and earner?"],
    revocation: ["Revocation", "Has its issuer revoked it in the Badge Name Server?"],
    status: ["Status list", "Does the issuer's status list mark it revoked or suspended?"],
    validity: ["Dates", "Is today within the period it is valid for?"],
    trust: ["Trusted issuer", "Is the issuer one this node trusts?"],
  };
  const STATUS_WORDS = { passed: "Passed", failed: "Failed", skipped: "Skipped" };
  const STATUS_MARKS = { passed: "✓", failed: "✗", skipped: "–" };
  const VERDICT_WORDS = { valid: "Valid", invalid: "Not valid", indeterminate: "Could not be decided" };

  // -- small helpers -----------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  /** An element with attributes and children (strings become text nodes, never HTML). */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  const text = (value) => (typeof value === "string" ? value : "");
  const badgeHref = (uid) => "#/badge/" + encodeURIComponent(uid);
  const issuerHref = (did) => "#/issuer/" + encodeURIComponent(did);
  const earnerHref = (did) => "#/earner/" + encodeURIComponent(did);

  /** A message as a sentence: a capital first letter and a full stop. */
  function sentence(message) {
    const words = text(message).trim();
    if (!words) return "";
    const capital = words.charAt(0).toUpperCase() + words.slice(1);
    return /[.!?…]$/.test(capital) ? capital : capital + ".";
  }

  /** Only http(s) URLs may become links: a javascript: or data: URL from a record may not. */
  function webUrl(value) {
    try {
      const url = new URL(text(value));
      return url.protocol === "http:" || url.protocol === "https:" ? url : null;
    } catch {
      return null;
    }
  }

  // -- the node's API ------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem, message) {
      super(message);
      this.status = status;
      this.problem = problem;
    }
  }

  /** The JSON answer of the node, or an ApiError naming what went wrong in plain words. */
  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { ...options, headers: { Accept: "application/json", ...(options.headers || {}) } });
    } catch {
      throw new ApiError(0, null, "The node could not be reached. Check your connection and try again.");
    }
    const type = response.headers.get("Content-Type") || "";
    let data = null;
    if (type.includes("json")) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    if (response.ok && data !== null) return data;
    if (response.ok) throw new ApiError(response.status, null, "The node answered with something that is not JSON.");
    const problem = data && typeof data === "object" ? data : null;
    throw new ApiError(response.status, problem, problemText(response, problem));
  }

  function problemText(response, problem) {
    if (!problem) return `The node refused the request (HTTP ${response.status} ${response.statusText}).`;
    const title = text(problem.title) || `HTTP ${response.status}`;
    const detail = sentence(problem.detail);
    const code = text(problem.code);
    return `${title}: ${detail || "no details were given."}` + (code ? ` [${code}]` : "");
  }

  /** [value, null] when the promise keeps it, [null, error] when it fails. */
  async function settle(promise) {
    try {
      return [await promise, null];
    } catch (error) {
      return [null, error];
    }
  }

  /** The answer, or null when the node knows nothing by that name (404). */
  async function apiOrNull(path) {
    try {
      return await api(path);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }

  // -- a verification report ------------------------------------------------------------------

  function firstFailed(report) {
    return report.checks.find((check) => check.status === "failed") || null;
  }

  function checkTitle(name) {
    return (CHECKS[name] || [name])[0];
  }

  function checkMessage(check) {
    if (check.code === "not_reached") return "Not checked: an earlier check already decided the verdict.";
    return sentence(check.message);
  }

  function verdictSummary(report) {
    if (report.verdict === "valid") return "This badge is genuine and in good standing: every check that applies passed.";
    if (report.verdict === "invalid") {
      const failed = firstFailed(report);
      return "This badge is not valid. " + (failed ? `${checkTitle(failed.name)}: ${checkMessage(failed)}` : "");
    }
    return "Some checks could not be completed (a server did not answer, or a key could not be fetched), so no verdict can be given.";
  }

  /** Keep only what a report is known to hold, as strings: the input is not trusted. */
  function cleanReport(data) {
    const checks = Array.isArray(data && data.checks) ? data.checks : [];
    return {
      verdict: text(data && data.verdict),
      uid: text(data && data.uid),
      format: text(data && data.format),
      checks: checks
        .filter((check) => check && typeof check === "object")
        .map((check) => ({
          name: text(check.name),
          status: text(check.status),
          code: text(check.code),
          message: text(check.message),
        })),
    };
  }

  function renderCheck(check) {
    const [title, question] = CHECKS[check.name] || [check.name, ""];
    const status = STATUS_WORDS[check.status] ? check.status : "skipped";
    return el(
      "li",
      { class: `check check-${status}`, "data-name": check.name, "data-status": status, "data-code": check.code },
      el(
        "div",
        { class: "check-head" },
        el("span", { class: "check-mark", "aria-hidden": "true" }, STATUS_MARKS[status]),
        el("strong", { class: "check-title" }, title),
        el("span", { class: "check-status" }, STATUS_WORDS[status]),
      ),
      question ? el("p", { class: "check-question" }, question) : null,
      el("p", { class: "check-message" }, checkMessage(check)),
    );
  }

  /** The report: the verdict, a summary in plain words, then every check in order. */
  function renderReport(data, withIds) {
    const report = cleanReport(data);
    const verdict = VERDICT_WORDS[report.verdict] ? report.verdict : "indeterminate";
    const box = el("div", { class: `report verdict-${verdict}` });
    box.append(
      el("h2", { id: withIds ? "verdict" : null, class: "verdict", "data-verdict": verdict }, VERDICT_WORDS[verdict]),
      el("p", { id: withIds ? "verdict-summary" : null, class: "verdict-summary" }, verdictSummary(report)),
    );
    if (report.uid) {
      box.append(el("p", { class: "report-uid" }, "Badge ID: ", el("a", { href: badgeHref(report.uid) }, report.uid)));
    }
    if (report.format) box.append(el("p", { class: "report-format" }, `Read as: ${report.format}`));
    box.append(el("ol", { id: withIds ? "checks" : null, class: "checks" }, ...report.checks.map(renderCheck)));
    return box;
  }

  // -- the verify view ---------------------------------------------------------------------------

  let latestRequest = 0; // answers to older requests are dropped: only the newest is shown

  async function verify(what, request) {
    const ticket = ++latestRequest;
    const result = $("result");
    result.setAttribute("aria-busy", "true");
    $("busy").textContent = `Verifying ${what}…`;
    $("busy").hidden = false;
    $("error").hidden = true;
    $("report").hidden = true;
    try {
      const report = await request();
      if (ticket !== latestRequest) return;
      $("report").replaceChildren(renderReport(report, true));
      $("report").hidden = false;
    } catch (error) {
      if (ticket !== latestRequest) return;
      showError(error);
    } finally {
      if (ticket === latestRequest) {
        $("busy").hidden = true;
        result.setAttribute("aria-busy", "false");
      }
    }
  }

  function showError(error) {
    const message = error instanceof Error ? error.message : String(error);
    $("error").replaceChildren(el("strong", {}, "Could not verify. "), message);
    $("error").hidden = false;
    $("report").hidden = true;
    $("busy").hidden = true;
  }

  /** The media type POST /verify reads a file as: its own, or its extension's. */
  function uploadType(file) {
    if (Object.values(UPLOAD_TYPES).includes(file.type)) return file.type;
    const extension = file.name.toLowerCase().split(".").pop();
    return UPLOAD_TYPES[extension] || "text/plain"; // the node sniffs the bytes either way
  }

  function verifyFile(file) {
    if (!file) return;
    if (file.size > MAX_UPLOAD_BYTES) {
      showError(new Error(`The file is over ${MAX_UPLOAD_BYTES / 1024 / 1024} MiB, too large to be a badge.`));
      return;
    }
    verify(`“${file.name}”`, () =>
      api("/verify", { method: "POST", headers: { "Content-Type": uploadType(file) }, body: file }),
    );
  }

  /** A UID from what a person typed: bare, urn:bns:, or inside a badge URL. */
  function uidFrom(input) {
    let value = input.trim();
    const url = webUrl(value);
    if (url) {
      const parts = (url.hash.replace(/^#\/badge\//, "/") || url.pathname).split("/");
      const last = parts[parts.length - 1] || "";
      let decoded = last;
      try {
        decoded = decodeURIComponent(last);
      } catch {
        // a malformed %-escape: keep the text as typed, and let the UID check refuse it
      }
      value = decoded.replace(/\.(json|png|svg)$/, "");
    }
    return value.replace(/^urn:bns:/, "");
  }

  function verifyUid(input) {
    const uid = uidFrom(input);
    if (!uid) {
      showError(new Error("Type a badge UID first (it starts with z)."));
      return;
    }
    verify("the badge", () => api("/verify/" + encodeURIComponent(uid)));
  }

  function verifyPasted(pasted) {
    const body = pasted.trim();
    if (!body) {
      showError(new Error("Paste a badge's JSON or a VC-JWT first."));
      return;
    }
    if (UID_PATTERN.test(body)) {
      verifyUid(body);
      return;
    }
    const type = body.startsWith("{") || body.startsWith("[") ? "application/json" : "text/plain";
    verify("the pasted badge", () => api("/verify", { method: "POST", headers: { "Content-Type": type }, body }));
  }

  function setUpVerify() {
    const zone = $("drop-zone");
    const over = (event) => {
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    };
    zone.addEventListener("dragenter", over);
    zone.addEventListener("dragover", over);
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const files = event.dataTransfer ? event.dataTransfer.files : null;
      if (files && files.length) verifyFile(files[0]);
      else showError(new Error("Nothing was dropped: drop a badge file (PNG, SVG or JSON)."));
    });
    // A file dropped beside the zone must not make the browser leave the page to open it.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());

    $("file-input").addEventListener("change", (event) => {
      verifyFile(event.target.files[0]);
      event.target.value = ""; // choosing the same file again verifies it again
    });
    $("paste-form").addEventListener("submit", (event) => {
      event.preventDefault();
      verifyPasted($("paste-input").value);
    });
    $("uid-form").addEventListener("submit", (event) => {
      event.preventDefault();
      verifyUid($("uid-input").value);
    });
  }

  // -- people, dates and statuses ------------------------------------------------------------

  /** "did:key:z6MkhaXg…2doK": enough to tell DIDs apart, short enough for a phone. */
  function shortDid(did) {
    const value = text(did);
    const cut = value.lastIndexOf(":") + 1;
    const tail = value.slice(cut);
    return tail.length <= 16 ? value : `${value.slice(0, cut)}${tail.slice(0, 8)}…${tail.slice(-4)}`;
  }

  /** A DID, shortened, with a button that copies it whole. */
  function didView(did, label) {
    const code = el("code", { class: "did", title: did, "data-did": did }, shortDid(did));
    const button = el("button", { type: "button", class: "copy", "aria-label": `Copy ${label || "the DID"}: ${did}` }, "Copy");
    button.addEventListener("click", () => copyText(did, button));
    return el("span", { class: "did-row" }, code, button);
  }

  async function copyText(value, button) {
    let done = false;
    try {
      await navigator.clipboard.writeText(value);
      done = true;
    } catch {
      done = false; // no clipboard here (an insecure origin): the DID is in the title to select
    }
    button.textContent = done ? "Copied" : "Copy failed";
    setTimeout(() => {
      button.textContent = "Copy";
    }, 2000);
  }

  /** A date from an XSD dateTime, or from Unix seconds (as the BNS keeps them). */
  function dateOf(value) {
    const moment = typeof value === "number" && Number.isFinite(value) ? new Date(value * 1000) : new Date(text(value));
    return Number.isNaN(moment.getTime()) ? null : moment;
  }

  function dateText(moment) {
    return moment ? moment.toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" }) : "";
  }

  const issuedOn = (credential) => dateOf(credential && (credential.validFrom || credential.issuanceDate));
  const expiresOn = (credential) => dateOf(credential && (credential.validUntil || credential.expirationDate));

  const STATUS_LABELS = { valid: "Valid", revoked: "Revoked", expired: "Expired", invalid: "Not valid", unknown: "Not verified" };

  /** The status of a badge in one word: revoked (BNS), not valid (a check failed), expired, valid. */
  function statusOf(record, credential, verdict, held) {
    if (record && record.revoked) return "revoked";
    if (verdict === "invalid") return "invalid";
    const expires = expiresOn(credential);
    if (expires && expires.getTime() < Date.now()) return "expired";
    if (verdict === "valid" || (held && record)) return "valid";
    return "unknown";
  }

  function statusPill(status, id) {
    const marks = { valid: "✓", revoked: "✗", invalid: "✗", expired: "!", unknown: "?" };
    return el(
      "span",
      { class: `status status-${status}`, id, "data-status": status },
      el("span", { "aria-hidden": "true" }, marks[status] + " "),
      STATUS_LABELS[status],
    );
  }

  // -- what the node knows of a badge ------------------------------------------------------------

  let nodeInfoPromise = null;

  /** This node's name and DID (GET /health), asked once. */
  function nodeInfo() {
    if (!nodeInfoPromise) {
      nodeInfoPromise = settle(api("/health")).then(([answer]) => ({ did: text(answer && answer.did), name: text(answer && answer.name) }));
    }
    return nodeInfoPromise;
  }

  function achievementOf(credential) {
    const subject = credential && credential.credentialSubject;
    const achievement = subject && typeof subject === "object" ? subject.achievement : null;
    return achievement && typeof achievement === "object" ? achievement : {};
  }

  function badgeName(credential) {
    return text(achievementOf(credential).name) || text(credential && credential.name);
  }

  function issuerOf(credential, record) {
    const issuer = credential ? credential.issuer : null;
    const id = text(issuer && typeof issuer === "object" ? issuer.id : issuer) || text(record && record.issuer);
    const name = issuer && typeof issuer === "object" ? text(issuer.name) : "";
    return { id, name };
  }

  function earnerOf(credential, record) {
    const subject = credential && credential.credentialSubject;
    return text(record && record.earner) || text(subject && typeof subject === "object" ? subject.id : "");
  }

  /** An image the badge itself embeds (data: PNG or SVG), which the page's policy allows. */
  function embeddedImage(credential) {
    const image = achievementOf(credential).image;
    const uri = text(image && typeof image === "object" ? image.id : image);
    return /^data:image\/(png|svg\+xml);base64,[A-Za-z0-9+/=]+$/.test(uri) ? uri : "";
  }

  /** What this node knows of a badge: held here (its JSON), else fetched from its location and
   *  verified (GET /verify/{uid}?include=credential); with its BNS record. Kept per page view. */
  const known = new Map();
  function badgeDetails(uid) {
    if (!known.has(uid)) known.set(uid, loadDetails(uid));
    return known.get(uid);
  }

  async function loadDetails(uid, verifyHeld = false) {
    const path = encodeURIComponent(uid);
    const verified = () => settle(api(`/verify/${path}?include=credential`));
    // A card trusts a badge held here (it was checked when it came in); the badge page checks it again.
    const [[held], [record, recordError], early] = await Promise.all([
      settle(apiOrNull(`/badges/${path}.json`)),
      settle(api(`/bns/${path}`)),
      verifyHeld ? verified() : null,
    ]);
    let credential = held && typeof held === "object" ? held : null;
    let [report, reportError] = early || [null, null];
    if (!credential && !early) [report, reportError] = await verified();
    if (!credential) {
      const fetched = report && report.credential;
      credential = fetched && typeof fetched === "object" ? fetched : null;
    }
    const verdict = report ? cleanReport(report).verdict : "";
    return { uid, held: !!held, credential, record, recordError, report, reportError, status: statusOf(record, credential, verdict, !!held) };
  }

  // -- the badge's image and its baked download, for a badge this node does not hold ------------

  const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    let c = 0xffffffff;
    for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
  const ascii = (value) => Uint8Array.from(value, (char) => char.charCodeAt(0));

  function pngChunk(type, data) {
    const chunk = new Uint8Array(12 + data.length);
    const view = new DataView(chunk.buffer);
    view.setUint32(0, data.length);
    chunk.set(ascii(type), 4);
    chunk.set(data, 8);
    view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
    return chunk;
  }

  /** `png` with one iTXt `openbadgecredential` chunk (OB 3.0 "Baking") before its first IDAT,
   *  and without the text chunks that carried a credential before; null if `png` is no PNG. */
  function bakePng(png, payload) {
    if (png.length < 8 || PNG_SIGNATURE.some((byte, i) => png[i] !== byte)) return null;
    const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
    const parts = [png.subarray(0, 8)];
    const body = new Uint8Array([...ascii("openbadgecredential"), 0, 0, 0, 0, 0, ...new TextEncoder().encode(payload)]);
    let baked = false;
    for (let at = 8; at + 12 <= png.length; ) {
      const size = view.getUint32(at);
      const end = at + 12 + size;
      if (end > png.length) return null;
      const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
      const keyword = String.fromCharCode(...png.subarray(at + 8, Math.min(at + 8 + 20, end)));
      if (type === "IDAT" && !baked) {
        parts.push(pngChunk("iTXt", body));
        baked = true;
      }
      if (!(/^(iTXt|tEXt|zTXt)$/.test(type) && /^openbadge/.test(keyword))) parts.push(png.subarray(at, end));
      if (type === "IEND") break;
      at = end;
    }
    if (!baked) return null;
    const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }

  /** A medal with the badge's initials, drawn on a canvas: the image of a badge with none. */
  function medalPng(name) {
    const canvas = el("canvas", { width: 256, height: 256 });
    const ctx = canvas.getContext("2d");
    const gradient = ctx.createLinearGradient(0, 0, 256, 256);
    gradient.addColorStop(0, "#2f6fd0");
    gradient.addColorStop(1, "#173f7a");
    ctx.fillStyle = gradient;
    ctx.beginPath();
    ctx.arc(128, 128, 120, 0, 2 * Math.PI);
    ctx.fill();
    ctx.lineWidth = 8;
    ctx.strokeStyle = "#f2c14e";
    ctx.stroke();
    ctx.fillStyle = "#ffffff";
    ctx.font = "bold 88px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(initials(name), 128, 134);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  }

  function initials(name) {
    const words = text(name).replace(/[^\p{L}\p{N} ]/gu, " ").split(/\s+/).filter(Boolean);
    return (words.slice(0, 2).map((word) => word[0].toUpperCase()).join("") || "★").slice(0, 2);
  }

  function dataBytes(uri) {
    const binary = atob(uri.slice(uri.indexOf(",") + 1));
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  }

  /** The credential baked into its own PNG image, or into a drawn medal: a PNG Blob. */
  async function bakedBadge(credential) {
    const payload = JSON.stringify(credential);
    const own = embeddedImage(credential);
    if (own.startsWith("data:image/png")) {
      const baked = bakePng(dataBytes(own), payload);
      if (baked) return new Blob([baked], { type: "image/png" });
    }
    const medal = new Uint8Array(await (await medalPng(badgeName(credential))).arrayBuffer());
    return new Blob([bakePng(medal, payload)], { type: "image/png" });
  }

  let blobUrls = []; // made for the current view; let go when the view changes
  function blobUrl(blob) {
    const url = URL.createObjectURL(blob);
    blobUrls.push(url);
    return url;
  }

  function fileName(name) {
    const slug = text(name).toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-+|-+$/g, "").slice(0, 60);
    return (slug || "badge") + ".png";
  }

  // -- a badge as a card, in a list ----------------------------------------------------------------

  function medal(name) {
    return el("span", { class: "medal", "aria-hidden": "true" }, initials(name));
  }

  function cardImage(details, name) {
    if (details.held) return el("img", { src: `/badges/${encodeURIComponent(details.uid)}.png`, alt: "", width: 96, height: 96, loading: "lazy" });
    const own = embeddedImage(details.credential);
    return own ? el("img", { src: own, alt: "", width: 96, height: 96 }) : medal(name);
  }

  /** Details are fetched when a card comes near the screen, a few at a time. */
  const queue = [];
  let running = 0;
  const MAX_RUNNING = 4;
  function whenFree(job) {
    queue.push(job);
    pump();
  }
  function pump() {
    while (running < MAX_RUNNING && queue.length) {
      const job = queue.shift();
      running += 1;
      job().finally(() => {
        running -= 1;
        pump();
      });
    }
  }

  const watcher =
    "IntersectionObserver" in window
      ? new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              if (!entry.isIntersecting) continue;
              watcher.unobserve(entry.target);
              entry.target.dispatchEvent(new Event("badge-visible"));
            }
          },
          { rootMargin: "400px" },
        )
      : null;

  /** A card for a listed badge: what the list says at once, the rest once it is in sight. */
  function badgeCard(uid, hint = {}, withIssuer = true) {
    const link = el("a", { href: badgeHref(uid), class: "card-name" }, text(hint.name) || "Badge");
    const figure = el("div", { class: "card-image" }, medal(hint.name));
    const meta = el("p", { class: "card-meta" }, hint.created ? `Issued ${dateText(dateOf(hint.created))}` : "Loading…");
    const issuer = el("p", { class: "card-issuer", hidden: !withIssuer });
    const status = el("span", { class: "card-status" });
    const card = el("li", { class: "card", "data-uid": uid, "data-loaded": "false" }, figure, el("div", { class: "card-text" }, el("h3", {}, link), issuer, meta, status));
    const fill = async () => {
      const details = await badgeDetails(uid);
      const credential = details.credential;
      const name = badgeName(credential) || text(hint.name);
      link.textContent = name || `Badge ${shortDid(uid)}`;
      figure.replaceChildren(cardImage(details, name));
      const who = issuerOf(credential, details.record);
      const self = await nodeInfo();
      const issuerName = who.name || (who.id && who.id === self.did ? self.name : "");
      if (withIssuer) issuer.replaceChildren(...(issuerName ? [`From ${issuerName}`] : who.id ? ["From ", el("code", { class: "did" }, shortDid(who.id))] : []));
      const issued = issuedOn(credential) || dateOf(hint.created) || dateOf(details.record && details.record.created);
      meta.textContent = issued ? `Issued ${dateText(issued)}` : "Date not known";
      status.replaceChildren(statusPill(details.status));
      card.dataset.status = details.status;
      card.dataset.loaded = "true";
      card.dispatchEvent(new CustomEvent("badge-loaded", { bubbles: true, detail: details }));
    };
    card.addEventListener("badge-visible", () => whenFree(fill), { once: true });
    if (watcher) watcher.observe(card);
    else card.dispatchEvent(new Event("badge-visible"));
    return card;
  }

  /** A list of cards, filled a page at a time from `pageAt(n)` ({items, next}): the next page
   *  loads when the end of the list comes into sight, or with the "Show more" button. */
  function pagedCards(prefix, route, pageAt, emptyText, withIssuer = true) {
    const list = el("ul", { id: `${prefix}-badges`, class: "cards" });
    const status = el("p", { id: `${prefix}-status`, class: "busy", role: "status" }, "Loading badges…");
    const more = el("button", { type: "button", id: `${prefix}-more`, class: "secondary", hidden: true }, "Show more badges");
    const end = el("div", { class: "list-end", "aria-hidden": "true" });
    let page = 0;
    let next = true;
    let loading = false;
    const load = async () => {
      if (loading || !next) return;
      loading = true;
      more.hidden = true;
      const [answer, error] = await settle(pageAt(page));
      loading = false;
      if (currentRoute() !== route) return;
      if (error) {
        const unsupported = error.problem && error.problem.code === "did_unsupported";
        status.textContent = unsupported ? "Badge lists are kept for did:key, did:web and persona (urn:bns:) identities; this is none of them." : error.message;
        status.className = "error";
        return;
      }
      const items = (Array.isArray(answer.items) ? answer.items : []).filter((item) => item && typeof item === "object" && text(item.uid));
      list.append(...items.map((item) => badgeCard(text(item.uid), item, withIssuer)));
      status.className = "count";
      const count = list.children.length;
      status.textContent = count ? `${count} badge${count === 1 ? "" : "s"}${answer.next ? " so far" : ""}.` : emptyText;
      page += 1;
      next = !!answer.next;
      more.hidden = !next;
      if (next && endWatcher) {
        endWatcher.unobserve(end);
        endWatcher.observe(end);
      }
    };
    const endWatcher =
      "IntersectionObserver" in window
        ? new IntersectionObserver((entries) => {
            if (entries.some((entry) => entry.isIntersecting)) load();
          })
        : null;
    more.addEventListener("click", load);
    load();
    return [status, list, end, more];
  }

  // -- the home view -------------------------------------------------------------------------------

  let homeShown = false;

  async function showHome() {
    if (homeShown) return;
    homeShown = true;
    const self = await nodeInfo();
    if (!self.did) return;
    const owner = self.name || "This";
    $("home-title").textContent = `${owner}’s badges`;
    $("home-lead").textContent = `This BadgeChain node belongs to ${owner}. It shows the badges ${owner} earned and issued, and anyone can verify a badge here.`;
    $("home-identity").replaceChildren("Node ID ", didView(self.did, `${owner}’s node ID`));
    const route = currentRoute();
    $("home-earned").replaceChildren(
      el("h2", { id: "home-earned-title" }, `Badges ${owner} earned`),
      ...pagedCards("home-earned", route, (page) => api(`/earners/${encodeURIComponent(self.did)}/badges?page=${page}`), "None yet."),
    );
    $("home-issued").replaceChildren(
      el("h2", { id: "home-issued-title" }, `Badges ${owner} issued`),
      ...pagedCards("home-issued", route, (page) => api(`/issuers/${encodeURIComponent(self.did)}/badges?page=${page}`), "None yet.", false),
    );
  }

  // -- the badge view ------------------------------------------------------------------------------

  function fact(term, id, ...value) {
    return [el("dt", {}, term), el("dd", { id }, ...value)];
  }

  function criteriaOf(credential) {
    const criteria = achievementOf(credential).criteria;
    if (typeof criteria === "string") return [criteria, null];
    if (!criteria || typeof criteria !== "object") return ["", null];
    return [text(criteria.narrative), webUrl(criteria.id)];
  }

  function whereItIs(uid, record) {
    const urls = (record && record.location && Array.isArray(record.location.urls) ? record.location.urls : []).map(webUrl).filter(Boolean);
    if (!urls.length) return null;
    return el(
      "p",
      { class: "note" },
      "Kept at ",
      ...urls.flatMap((url, i) => [i ? ", " : "", el("a", { href: url.origin + "/" + badgeHref(uid), rel: "noopener noreferrer" }, url.host)]),
      ". This node fetched it from there and checked it.",
    );
  }

  function embeddedEndorsements(credential) {
    const lists = [credential && credential.endorsement, achievementOf(credential).endorsement];
    return lists.flatMap((list) => (Array.isArray(list) ? list : [])).filter((item) => item && typeof item === "object");
  }

  function endorsementItem(issuerId, comment, uid) {
    return el(
      "li",
      { class: "endorsement" },
      "Endorsed by ",
      issuerId ? el("a", { href: issuerHref(issuerId), class: "did", title: issuerId, "data-did": issuerId }, shortDid(issuerId)) : "an unnamed issuer",
      comment ? el("q", {}, comment) : null,
      uid ? el("a", { href: badgeHref(uid), class: "endorsement-link" }, "See the endorsement") : null,
    );
  }

  function renderEndorsements(answer, credential) {
    const held = (Array.isArray(answer && answer.endorsements) ? answer.endorsements : []).filter((item) => item && typeof item === "object");
    const items = [
      ...held.map((item) => endorsementItem(text(item.issuer), text(item.comment), text(item.uid))),
      ...embeddedEndorsements(credential).map((item) => {
        const subject = item.credentialSubject && typeof item.credentialSubject === "object" ? item.credentialSubject : {};
        return endorsementItem(issuerOf(item, null).id, text(subject.endorsementComment), "");
      }),
    ];
    const section = el("section", { class: "panel endorsements", "aria-labelledby": "endorsements-title" }, el("h2", { id: "endorsements-title" }, "Endorsements"));
    section.append(items.length ? el("ul", { id: "endorsements" }, ...items) : el("p", { id: "endorsements-none" }, "No endorsements are known."));
    return section;
  }

  /** The posts that link to this badge (Webmentions this node verified, docs/courses.md);
   *  nothing when none. A mention's source is a stranger's page: linked with rel=ugc. */
  function renderMentions(answer) {
    const held = (Array.isArray(answer && answer.mentions) ? answer.mentions : []).filter(
      (item) => item && typeof item.source === "string" && /^https?:\/\//i.test(item.source),
    );
    if (!held.length) return null;
    const items = held.map((item) => {
      const when = dateText(dateOf(item.verified));
      return el(
        "li",
        { class: "mention" },
        el("a", { href: item.source, rel: "ugc nofollow noopener noreferrer", class: "mention-link" }, item.source),
        when ? ` (seen ${when})` : null,
      );
    });
    return el("section", { class: "panel mentions", "aria-labelledby": "mentions-title" }, el("h2", { id: "mentions-title" }, "Mentions"), el("ul", { id: "mentions" }, ...items));
  }

  /** Why the badge has its status, in a sentence (the status word is shown beside it). */
  function statusLine(details) {
    const record = details.record;
    if (record && record.revoked) {
      const revocation = record.revocation || {};
      const when = dateText(dateOf(revocation.revokedAt));
      const reason = text(revocation.reason);
      return `Revoked by its issuer${when ? ` on ${when}` : ""}${reason ? `: ${reason}` : ""}.`;
    }
    if (details.report) {
      const clean = cleanReport(details.report);
      if (clean.verdict === "invalid") {
        const failed = firstFailed(clean);
        return failed ? `${checkTitle(failed.name)}: ${checkMessage(failed)}` : "A check failed.";
      }
      if (clean.verdict === "valid" && details.status === "valid") return "This node checked its signature, its issuer and the Badge Name Server.";
      if (clean.verdict === "indeterminate" && details.status === "unknown") return verdictSummary(clean);
    }
    if (details.status === "expired") return "It was valid until " + dateText(expiresOn(details.credential)) + ".";
    if (details.status === "valid") return "Held by this node, and not revoked.";
    return details.reportError ? details.reportError.message : "The badge could not be checked.";
  }

  /** Why no badge can be shown, in words, by the problem code the node gave. */
  const NOT_SHOWN = {
    uid_invalid: ["This is not a badge ID", "A badge ID starts with z and is about 88 letters and digits long. Check that it was copied whole."],
    bns_not_found: ["No badge has this ID", "The Badge Name Server knows no badge by this ID. Check the ID, or ask the earner for a new link."],
    badge_hidden: ["A hidden badge", "Its earner has hidden this badge, so it is not shown publicly. What the Badge Name Server says of it is below."],
    location_missing: ["A badge not published", "Its earner has not published where the badge is kept, so it cannot be shown."],
    location_unreachable: ["The badge’s node did not answer", "The node that keeps this badge could not be reached. Try again later."],
    location_invalid: ["The badge could not be fetched", "The place its earner named does not serve this badge."],
  };

  function notShown(details) {
    const problem = [details.recordError, details.reportError].find((error) => error && error.problem);
    const code = problem ? text(problem.problem.code) : "";
    const [title, why] = NOT_SHOWN[code] || ["The badge could not be shown", problem ? problem.message : "The node could not fetch it."];
    return { code, title, why };
  }

  function recordFacts(details, self) {
    const record = details.record;
    if (!record) return null;
    const facts = el("dl", { class: "facts" });
    const issuer = text(record.issuer);
    const earner = text(record.earner);
    facts.append(
      ...fact("Status", "badge-status-line", statusPill(details.status, "badge-status"), el("span", { class: "status-text" }, " " + (record.revoked ? statusLine(details) : "Not checked: the badge itself could not be fetched."))),
      ...(issuer ? fact("Issued by", "badge-issuer", el("a", { href: issuerHref(issuer), class: "person" }, issuer === self.did ? self.name : "An unnamed issuer"), didView(issuer, "the issuer’s DID")) : []),
      ...(earner ? fact("Earned by", "badge-earner", el("a", { href: earnerHref(earner), class: "person" }, earner === self.did ? self.name : "An unnamed earner"), didView(earner, "the earner’s DID")) : []),
      ...fact("Published", "badge-issued", dateText(dateOf(record.created)) || "Not known"),
      ...fact("Badge ID", "badge-uid", didView(details.uid, "the badge ID")),
    );
    return el("div", { class: "panel badge-card" }, facts);
  }

  async function showBadge(uid) {
    const route = "badge/" + uid;
    const body = $("badge-body");
    $("badge-title").textContent = "Badge";
    body.replaceChildren(el("p", { class: "busy", role: "status" }, "Loading and checking the badge…"));
    const path = encodeURIComponent(uid);
    const [details, [endorsements], [mentions], self] = await Promise.all([
      loadDetails(uid, true),
      settle(apiOrNull(`/badges/${path}/endorsements`)),
      settle(apiOrNull(`/badges/${path}/mentions`)),
      nodeInfo(),
    ]);
    if (currentRoute() !== route) return; // the reader went elsewhere meanwhile
    if (!details.credential) {
      const { code, title, why } = notShown(details);
      $("badge-title").textContent = title;
      body.replaceChildren(
        el("p", { id: "badge-problem", class: "lead", "data-code": code }, why),
        ...(details.status === "revoked" ? [el("p", { id: "badge-revoked", class: "alert", role: "note" }, statusLine(details))] : []),
        recordFacts(details, self) || "",
        el("p", {}, el("a", { href: "#/verify" }, "Verify a badge file instead")),
      );
      return;
    }
    const credential = details.credential;
    const name = badgeName(credential);
    const issuer = issuerOf(credential, details.record);
    const issuerName = issuer.name || (issuer.id && issuer.id === self.did ? self.name : "");
    const earner = earnerOf(credential, details.record);
    const earnerName = earner && earner === self.did ? self.name : "";
    $("badge-title").textContent = name || "A badge this node could not read";

    const image = el("div", { class: "badge-image", "data-status": details.status });
    const download = el("p", { class: "download" });
    if (details.held) {
      image.append(el("img", { id: "badge-image", src: `/badges/${path}.png`, alt: `The badge “${name || uid}”`, width: 240, height: 240 }));
      download.append(el("a", { id: "badge-download", class: "button", href: `/badges/${path}.png`, download: fileName(name) }, "Download the badge"));
    } else if (credential && credential.proof) {
      image.append(el("p", { class: "busy" }, "Preparing the image…"));
      bakedBadge(credential).then((blob) => {
        if (currentRoute() !== route) return;
        const url = blobUrl(blob);
        const own = embeddedImage(credential);
        image.replaceChildren(el("img", { id: "badge-image", src: own && !own.startsWith("data:image/png") ? own : url, alt: `The badge “${name || uid}”`, width: 240, height: 240 }));
        download.prepend(el("a", { id: "badge-download", class: "button", href: url, download: fileName(name) }, "Download the badge"));
      });
    } else {
      image.append(medal(name)); // a VC-JWT badge: no proof to bake into an image
    }
    if (download.childElementCount || details.held || (credential && credential.proof)) {
      download.append(el("span", { class: "hint" }, " A PNG image with the credential inside: anyone can verify it."));
    }
    if (details.held) {
      // The credential with the issuer-signed status and BNS record stapled (docs/presentations.md):
      // a verifier without the network still gets a revocation answer.
      const stapledName = fileName(name).replace(/\.png$/, "-stapled.json");
      download.append(" ", el("a", { id: "badge-stapled", href: `/badges/${path}/stapled`, download: stapledName }, "Download it with its status stapled (JSON)"));
    }

    const [criteria, criteriaUrl] = criteriaOf(credential);
    const description = text(achievementOf(credential).description);
    const issued = issuedOn(credential) || dateOf(details.record && details.record.created);
    const expires = expiresOn(credential);
    const facts = el("dl", { class: "facts" });
    facts.append(
      ...fact("Name", "badge-name", name || "Not known: the badge could not be fetched"),
      ...fact("Status", "badge-status-line", statusPill(details.status, "badge-status"), el("span", { class: "status-text" }, " " + statusLine(details))),
      ...(description ? fact("Description", "badge-description", description) : []),
      ...(criteria || criteriaUrl
        ? fact("Criteria", "badge-criteria", criteria, criteriaUrl ? el("a", { href: criteriaUrl.href, rel: "noopener noreferrer" }, criteria ? " (more)" : criteriaUrl.host) : null)
        : []),
      ...fact(
        "Issued by",
        "badge-issuer",
        issuer.id ? el("a", { href: issuerHref(issuer.id), class: "person" }, issuerName || "An unnamed issuer") : "Not known",
        issuer.id ? didView(issuer.id, "the issuer’s DID") : null,
      ),
      ...fact(
        "Earned by",
        "badge-earner",
        earner ? el("a", { href: earnerHref(earner), class: "person" }, earnerName || "An unnamed earner") : "Not named by a key (issued to an e-mail address, or not known)",
        earner ? didView(earner, "the earner’s DID") : null,
      ),
      ...fact("Issued", "badge-issued", issued ? dateText(issued) : "Not known"),
      ...fact("Expires", "badge-expires", expires ? dateText(expires) : "Never"),
      ...fact("Badge ID", "badge-uid", didView(uid, "the badge ID")),
    );
    const parts = [];
    if (details.status === "revoked") parts.push(el("p", { id: "badge-revoked", class: "alert", role: "note" }, statusLine(details)));
    parts.push(el("div", { class: "panel badge-card" }, el("div", { class: "badge-side" }, image, download), facts));
    if (!details.held) {
      const where = whereItIs(uid, details.record);
      if (where) parts.push(where);
    }
    if (details.recordError) parts.push(el("p", { class: "error" }, "Badge Name Server: " + details.recordError.message));
    parts.push(renderEndorsements(endorsements, credential));
    const mentionList = renderMentions(mentions);
    if (mentionList) parts.push(mentionList);
    if (details.report) parts.push(el("details", { class: "badge-report" }, el("summary", {}, "How this badge was checked"), renderReport(details.report, false)));
    body.replaceChildren(...parts);
  }

  // -- the issuer and earner views -------------------------------------------------------------------

  async function showPerson(kind, did) {
    const route = `${kind}/${did}`;
    const self = await nodeInfo();
    if (currentRoute() !== route) return;
    const ownName = did === self.did ? self.name : "";
    const title = $(`${kind}-title`);
    title.textContent = ownName || (kind === "issuer" ? "An unnamed issuer" : "An unnamed earner");
    const listPath = kind === "issuer" ? "issuers" : "earners";
    const cards = pagedCards(kind, route, (page) => api(`/${listPath}/${encodeURIComponent(did)}/badges?page=${page}`), `No badges are listed for this ${kind}.`, kind !== "issuer");
    $(`${kind}-body`).replaceChildren(
      el("p", { class: "identity" }, kind === "issuer" ? "Issuer ID " : "Earner ID ", el("span", { id: `${kind}-did` }, didView(did, `the ${kind}’s DID`))),
      el("h2", {}, kind === "issuer" ? "Badges issued" : "Badges earned"),
      ...cards,
    );
    if (kind === "issuer" && !ownName) {
      // The issuer's name is in its badges' issuer profile: the first card loaded tells it.
      const list = cards[1];
      const named = (event) => {
        const profile = issuerOf(event.detail.credential, null);
        if (!profile.name || profile.id !== did || currentRoute() !== route) return;
        const name = profile.name;
        title.textContent = name;
        list.removeEventListener("badge-loaded", named);
      };
      list.addEventListener("badge-loaded", named);
    }
  }

  // -- the collection view -----------------------------------------------------------------------

  async function showCollection(id) {
    $("collection-title").textContent = "Collection";
    const status = el("p", { id: "collection-status", class: "busy", role: "status" }, "Loading the collection…");
    $("collection-body").replaceChildren(status);
    const [answer, error] = await settle(api(`/collections/${encodeURIComponent(id)}`));
    if (currentRoute() !== "collection/" + id) return;
    if (error) {
      status.textContent = error.message;
      status.className = "error";
      return;
    }
    $("collection-title").textContent = text(answer.name) || "Collection";
    const badges = (Array.isArray(answer.badges) ? answer.badges : []).filter((badge) => badge && typeof badge === "object" && text(badge.uid));
    const created = dateText(dateOf(answer.created));
    const self = await nodeInfo();
    if (currentRoute() !== "collection/" + id) return;
    $("collection-body").replaceChildren(
      text(answer.description) ? el("p", { id: "collection-description", class: "lead" }, answer.description) : "",
      self.did ? el("p", { id: "collection-owner", class: "identity" }, "Shared by ", el("a", { href: earnerHref(self.did), class: "person" }, self.name || "this node’s owner"), didView(self.did, `${self.name || "the owner"}’s DID`)) : "",
      el("p", { class: "count" }, `${badges.length} badge${badges.length === 1 ? "" : "s"}${created ? `, shared ${created}` : ""}.`),
      el("ul", { id: "collection-badges", class: "cards" }, ...badges.map((badge) => badgeCard(text(badge.uid), badge))),
    );
  }

  // -- routing by the URL's #fragment ------------------------------------------------------------

  function currentRoute() {
    const route = location.hash.replace(/^#\/?/, "");
    try {
      return decodeURIComponent(route);
    } catch {
      return route;
    }
  }

  const VIEWS = ["verify", "badge", "issuer", "earner", "collection"];

  let shownView = "";

  function showView(name) {
    for (const view of VIEWS) $(`${view}-view`).hidden = view !== name;
    shownView = name;
  }

  function route(moveFocus) {
    const route = currentRoute();
    known.clear(); // each view asks afresh: a badge may have been revoked meanwhile
    queue.length = 0;
    for (const url of blobUrls) URL.revokeObjectURL(url);
    blobUrls = [];
    let view = "verify";
    const [kind, ...rest] = route.split("/");
    const name = rest.join("/");
    // What the other views showed goes: no stale card stays in the page, hidden or not.
    for (const other of VIEWS.filter((each) => each !== "verify" && each !== kind)) $(`${other}-body`).replaceChildren();
    if (name && VIEWS.includes(kind)) {
      $("home-earned").replaceChildren();
      $("home-issued").replaceChildren();
    }
    if (name && kind === "badge") showBadge(name);
    else if (name && (kind === "issuer" || kind === "earner")) showPerson(kind, name);
    else if (name && kind === "collection") showCollection(name);
    else {
      if (shownView !== "verify") homeShown = false; // back home: its lists are made again
      showHome();
    }
    if (name && VIEWS.includes(kind)) view = kind;
    showView(view);
    document.title = view === "verify" ? "BadgeChain" : `${view[0].toUpperCase()}${view.slice(1)} — BadgeChain`;
    if (moveFocus || route === "verify") {
      const heading = $(route === "verify" ? "verify-title" : view === "verify" ? "home-title" : `${view}-title`);
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpVerify();
    // The skip link moves focus to the content; as a #fragment it would change the view.
    $("skip-link").addEventListener("click", (event) => {
      event.preventDefault();
      $("main").focus();
    });
    window.addEventListener("hashchange", () => route(true));
    route(false);
    document.body.setAttribute("data-ready", "true");
  });
})();
