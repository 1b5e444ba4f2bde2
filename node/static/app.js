// The BadgeChain web page: verify a badge (file, pasted JSON or VC-JWT, or UID), show a
// badge (#/badge/<UID>), an issuer's badges (#/issuer/<DID>) and a collection
// (#/collection/<id>). It talks only to this node's public JSON API. Badge data is hostile input: every text goes in through
// textContent, and every link is built here from encoded parts, never taken as given.
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

  // -- the badge view ------------------------------------------------------------------------------

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
    const id = text(record && record.issuer) || text(issuer && typeof issuer === "object" ? issuer.id : issuer);
    const name = issuer && typeof issuer === "object" ? text(issuer.name) : "";
    return { id, name };
  }

  function earnerOf(credential, record) {
    const subject = credential && credential.credentialSubject;
    return text(record && record.earner) || text(subject && typeof subject === "object" ? subject.id : "");
  }

  function badgeStatus(record, report, reportError) {
    if (record && record.revoked) {
      const reason = text(record.revocation && record.revocation.reason);
      return ["revoked", "Revoked by its issuer" + (reason ? `: ${reason}` : ".")];
    }
    if (report) {
      const clean = cleanReport(report);
      const verdict = VERDICT_WORDS[clean.verdict] ? clean.verdict : "indeterminate";
      const failed = firstFailed(clean);
      const why = verdict === "invalid" && failed ? ` — ${checkTitle(failed.name)}: ${checkMessage(failed)}` : "";
      return [verdict, VERDICT_WORDS[verdict] + why];
    }
    return ["indeterminate", "Could not be verified: " + (reportError ? reportError.message : "no report.")];
  }

  function fact(term, id, ...value) {
    return [el("dt", {}, term), el("dd", { id }, ...value)];
  }

  function badgeImage(uid, name, held) {
    const holder = el("figure", { class: "badge-image" });
    const missing = () => holder.replaceChildren(el("p", { class: "no-image" }, "No image of this badge is available here."));
    if (!held) {
      missing();
      return holder;
    }
    const image = el("img", { id: "badge-image", src: `/badges/${encodeURIComponent(uid)}.svg`, alt: `Image of the badge ${name || uid}`, width: 240 });
    image.addEventListener("error", missing);
    holder.append(image);
    return holder;
  }

  function whereItIs(uid, record) {
    const urls = (record && record.location && Array.isArray(record.location.urls) ? record.location.urls : [])
      .map(webUrl)
      .filter(Boolean);
    if (!urls.length) {
      const hidden = record && record.location && record.location.hidden;
      return el("p", { class: "note" }, hidden ? "Its earner has hidden this badge." : "This node does not hold this badge, and the BNS names no place that does.");
    }
    return el(
      "div",
      { class: "note" },
      el("p", {}, "This node does not hold this badge. It is kept at:"),
      el("ul", {}, ...urls.map((url) => el("li", {}, el("a", { href: url.origin + "/" + badgeHref(uid), rel: "noopener noreferrer" }, url.origin)))),
    );
  }

  function renderEndorsements(answer) {
    const list = Array.isArray(answer && answer.endorsements) ? answer.endorsements : [];
    const section = el("section", { class: "endorsements", "aria-labelledby": "endorsements-title" }, el("h2", { id: "endorsements-title" }, "Endorsements"));
    if (!list.length) {
      section.append(el("p", { id: "endorsements-none" }, "No endorsements are known."));
      return section;
    }
    const items = list
      .filter((item) => item && typeof item === "object")
      .map((item) =>
        el(
          "li",
          { class: "endorsement" },
          "Endorsed by ",
          text(item.issuer) ? el("a", { href: issuerHref(item.issuer), class: "did" }, item.issuer) : "an unnamed issuer",
          text(item.comment) ? el("q", {}, item.comment) : null,
          text(item.uid) ? el("a", { href: badgeHref(item.uid), class: "endorsement-link" }, "the endorsement") : null,
        ),
      );
    section.append(el("ul", { id: "endorsements" }, ...items));
    return section;
  }

  async function settle(promise) {
    try {
      return [await promise, null];
    } catch (error) {
      return [null, error];
    }
  }

  async function showBadge(uid) {
    const body = $("badge-body");
    $("badge-title").textContent = "Badge";
    body.replaceChildren(el("p", { class: "busy" }, "Loading the badge…"));
    const path = encodeURIComponent(uid);
    const [[credential], [record, recordError], [report, reportError], [endorsements]] = await Promise.all([
      settle(apiOrNull(`/badges/${path}.json`)),
      settle(api(`/bns/${path}`)),
      settle(api(`/verify/${path}`)),
      settle(apiOrNull(`/badges/${path}/endorsements`)),
    ]);
    if (currentRoute() !== "badge/" + uid) return; // the reader went elsewhere meanwhile
    const held = credential !== null && typeof credential === "object";
    const name = badgeName(credential);
    const issuer = issuerOf(credential, record);
    const earner = earnerOf(credential, record);
    const [status, statusText] = badgeStatus(record, report, reportError);
    $("badge-title").textContent = name || "Badge";

    const facts = el("dl", { class: "facts" });
    const description = text(achievementOf(credential).description);
    facts.append(
      ...fact("Name", "badge-name", name || "Not known to this node"),
      ...(description ? fact("Description", "badge-description", description) : []),
      ...fact(
        "Issuer",
        "badge-issuer",
        issuer.name ? issuer.name + " " : null,
        issuer.id ? el("a", { href: issuerHref(issuer.id), class: "did" }, issuer.id) : "Not known",
      ),
      ...fact("Earner", "badge-earner", earner ? el("span", { class: "did" }, earner) : "Not named by a key (issued to an e-mail address, or not known)"),
      ...fact("Status", "badge-status", statusText),
      ...fact("Badge ID", "badge-uid", el("span", { class: "did" }, uid)),
    );
    facts.querySelector("#badge-status").setAttribute("data-status", status);

    const parts = [el("div", { class: "badge-card" }, badgeImage(uid, name, held), facts)];
    if (held) {
      parts.push(
        el("p", {}, el("a", { id: "badge-download", class: "button", href: `/badges/${path}.png`, download: "badge.png" }, "Download the badge (PNG, with the credential baked in)")),
      );
    } else {
      parts.push(whereItIs(uid, record));
    }
    if (recordError) parts.push(el("p", { class: "error" }, "BNS lookup: " + recordError.message));
    parts.push(renderEndorsements(endorsements));
    if (report) {
      parts.push(el("details", { class: "badge-report" }, el("summary", {}, "How this badge was checked"), renderReport(report, false)));
    }
    body.replaceChildren(...parts);
  }

  // -- the issuer view ---------------------------------------------------------------------------

  /** A listed badge: its UID, and its name once this node turns out to hold it. */
  function issuedBadge(uid) {
    const link = el("a", { href: badgeHref(uid) }, uid);
    const item = el("li", { class: "issued-badge", "data-uid": uid }, link);
    settle(apiOrNull(`/badges/${encodeURIComponent(uid)}.json`)).then(([credential]) => {
      const name = badgeName(credential);
      if (!name) return;
      link.textContent = name;
      item.append(el("span", { class: "did" }, uid));
    });
    return item;
  }

  async function showIssuer(did) {
    $("issuer-title").textContent = "Issuer";
    const list = el("ul", { id: "issuer-badges", class: "badge-list" });
    const more = el("button", { type: "button", id: "issuer-more", hidden: true }, "Show more badges");
    const status = el("p", { id: "issuer-status", class: "busy" }, "Loading the issuer's badges…");
    $("issuer-body").replaceChildren(el("p", {}, "Badges issued by ", el("span", { id: "issuer-did", class: "did" }, did)), status, list, more);
    let page = 0;
    const loadPage = async () => {
      more.hidden = true;
      const [answer, error] = await settle(api(`/issuers/${encodeURIComponent(did)}/badges?page=${page}`));
      if (currentRoute() !== "issuer/" + did) return;
      if (error) {
        status.textContent = error.message;
        status.className = "error";
        return;
      }
      const items = (Array.isArray(answer.items) ? answer.items : []).map((item) => text(item && item.uid)).filter(Boolean);
      list.append(...items.map(issuedBadge));
      status.className = "";
      status.textContent = list.children.length ? `${list.children.length} badge(s) listed.` : "No badges are listed for this issuer.";
      page += 1;
      more.hidden = !answer.next;
    };
    more.addEventListener("click", loadPage);
    await loadPage();
  }

  // -- the collection view -----------------------------------------------------------------------

  /** One badge of a collection, as GET /collections/{id} describes it. */
  function collectedBadge(badge) {
    const uid = text(badge && badge.uid);
    return el(
      "li",
      { class: "collected-badge", "data-uid": uid },
      el("a", { href: badgeHref(uid) }, text(badge.name) || uid),
      text(badge.issuer) ? el("span", {}, " from ", el("a", { href: issuerHref(badge.issuer), class: "did" }, badge.issuer)) : null,
    );
  }

  async function showCollection(id) {
    $("collection-title").textContent = "Collection";
    const status = el("p", { id: "collection-status", class: "busy" }, "Loading the collection…");
    $("collection-body").replaceChildren(status);
    const [answer, error] = await settle(api(`/collections/${encodeURIComponent(id)}`));
    if (currentRoute() !== "collection/" + id) return;
    if (error) {
      status.textContent = error.message;
      status.className = "error";
      return;
    }
    $("collection-title").textContent = text(answer.name) || "Collection";
    const badges = (Array.isArray(answer.badges) ? answer.badges : []).filter((badge) => badge && typeof badge === "object");
    $("collection-body").replaceChildren(
      text(answer.description) ? el("p", { id: "collection-description" }, answer.description) : "",
      el("p", {}, `${badges.length} badge(s).`),
      el("ul", { id: "collection-badges", class: "badge-list" }, ...badges.map(collectedBadge)),
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

  function showView(name) {
    for (const view of ["verify", "badge", "issuer", "collection"]) $(`${view}-view`).hidden = view !== name;
  }

  function route(moveFocus) {
    const route = currentRoute();
    let view = "verify";
    if (route.startsWith("badge/") && route.length > 6) {
      view = "badge";
      showBadge(route.slice(6));
    } else if (route.startsWith("issuer/") && route.length > 7) {
      view = "issuer";
      showIssuer(route.slice(7));
    } else if (route.startsWith("collection/") && route.length > 11) {
      view = "collection";
      showCollection(route.slice(11));
    }
    showView(view);
    if (moveFocus) {
      const heading = $(`${view}-title`);
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUpVerify();
    window.addEventListener("hashchange", () => route(true));
    route(false);
    document.body.setAttribute("data-ready", "true");
  });
})();
