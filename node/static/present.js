// The web page's presentation panel (issue 14 item 1, docs/presentations.md): ask this node
// for a challenge, then paste or choose a VerifiablePresentation; the node verifies it
// (POST /presentations/verify) and the panel shows the holder, the challenge and domain, each
// credential's verdict and whether the holder's staple answered for it. The presentation is
// hostile input: every text goes in through textContent, every link is built from encoded parts.
"use strict";

(() => {
  const MAX_PRESENTATION_BYTES = 2 * 1024 * 1024; // node/presentation_routes.py
  const VERDICTS = { valid: "Valid", invalid: "Not valid", indeterminate: "Could not be decided" };
  const $ = (id) => document.getElementById(id);
  const text = (value) => (typeof value === "string" ? value : "");

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

  /** [status, JSON answer or null]; status 0 when the node could not be reached. */
  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      return [0, null];
    }
    try {
      return [response.status, await response.json()];
    } catch {
      return [response.status, null];
    }
  }

  function problemText(status, answer) {
    if (status === 0) return "The node could not be reached. Check your connection and try again.";
    if (!answer || typeof answer !== "object") return `The node refused the request (HTTP ${status}).`;
    const code = text(answer.code);
    return `${text(answer.title) || "HTTP " + status}: ${text(answer.detail) || "no details were given."}` + (code ? ` [${code}]` : "");
  }

  // -- the challenge -----------------------------------------------------------------------------

  let asked = null; // {challenge, domain, expires} this page asked for

  async function askChallenge() {
    const box = $("vp-challenge");
    box.replaceChildren(el("p", { class: "busy" }, "Asking for a challenge…"));
    box.hidden = false;
    const [status, answer] = await post("/presentations/challenge", {});
    if (status !== 201 || !answer || !text(answer.challenge)) {
      asked = null;
      box.replaceChildren(el("p", { class: "error", role: "alert" }, problemText(status, answer)));
      return;
    }
    asked = { challenge: text(answer.challenge), domain: text(answer.domain), expires: text(answer.expires) };
    const command = `badgechain present UID --challenge ${asked.challenge} --domain ${asked.domain}`;
    box.replaceChildren(
      el("p", {}, "Give the holder this challenge and domain. It can be used once, until ", asked.expires, "."),
      el(
        "dl",
        { class: "facts" },
        el("dt", {}, "Challenge"),
        el("dd", {}, el("code", { id: "vp-challenge-value" }, asked.challenge)),
        el("dt", {}, "Domain"),
        el("dd", {}, el("code", { id: "vp-domain-value" }, asked.domain)),
      ),
      el("p", {}, "The holder runs: ", el("code", { id: "vp-command" }, command)),
    );
  }

  // -- verifying ---------------------------------------------------------------------------------

  let latest = 0; // answers to older requests are dropped: only the newest is shown

  function showError(message) {
    $("vp-error").replaceChildren(el("strong", {}, "Could not verify the presentation. "), message);
    $("vp-error").hidden = false;
    $("vp-report").hidden = true;
  }

  /** The challenge to verify against: the one asked for here, else the presentation's own
   * (the node still accepts only a challenge it handed out, once). */
  function challengeFor(presentation) {
    if (asked) return { challenge: asked.challenge, domain: asked.domain };
    const proof = Array.isArray(presentation.proof) ? presentation.proof[0] : presentation.proof;
    const challenge = proof && typeof proof === "object" ? text(proof.challenge) : "";
    return challenge ? { challenge } : null;
  }

  async function verifyText(source) {
    const ticket = ++latest;
    const result = $("vp-result");
    $("vp-error").hidden = true;
    $("vp-report").hidden = true;
    let presentation;
    try {
      presentation = JSON.parse(source);
    } catch {
      showError("That is not JSON: paste or choose the presentation's JSON.");
      return;
    }
    if (!presentation || typeof presentation !== "object" || Array.isArray(presentation)) {
      showError("A presentation is a JSON object.");
      return;
    }
    const options = challengeFor(presentation);
    if (!options) {
      showError("The presentation names no challenge, and none was asked for here: ask for one first.");
      return;
    }
    result.setAttribute("aria-busy", "true");
    $("vp-busy").hidden = false;
    const [status, answer] = await post("/presentations/verify", { verifiablePresentation: presentation, options });
    if (ticket !== latest) return;
    $("vp-busy").hidden = true;
    result.setAttribute("aria-busy", "false");
    if (options.challenge === (asked && asked.challenge)) asked = null; // used up, whatever the verdict
    if (!answer || typeof answer !== "object" || !answer.report) {
      showError(problemText(status, answer));
      return;
    }
    $("vp-report").replaceChildren(renderResult(answer, status));
    $("vp-report").hidden = false;
  }

  function checkOf(answer, name) {
    const checks = answer.report && Array.isArray(answer.report.checks) ? answer.report.checks : [];
    return checks.find((check) => check && check.name === name) || {};
  }

  function renderResult(answer, status) {
    const verdict = VERDICTS[answer.report.verdict] ? answer.report.verdict : "indeterminate";
    const proof = checkOf(answer, "proof");
    const chain = checkOf(answer, "chain");
    const box = el("div", { class: `report verdict-${verdict}` });
    const summary = answer.verified
      ? "The holder signed this presentation for this verifier, and every badge in it holds."
      : `Not verified${text(answer.code) ? " [" + text(answer.code) + "]" : ""}: ${text(answer.detail) || "see below."}`;
    box.append(
      el("h4", { id: "vp-verdict", class: "verdict", "data-verdict": verdict, "data-status": status }, VERDICTS[verdict]),
      el("p", { class: "verdict-summary" }, summary),
    );
    const bound = proof.status === "passed";
    box.append(
      el(
        "dl",
        { class: "facts" },
        el("dt", {}, "Holder"),
        el("dd", { id: "vp-holder" }, text(answer.holder) || "not named"),
        el("dt", {}, "Challenge and domain"),
        el(
          "dd",
          { id: "vp-binding", "data-status": text(proof.status) || "skipped" },
          bound
            ? `Signed for challenge ${text(answer.challenge)} and domain ${text(answer.domain)}.`
            : `Not accepted: ${text(proof.message) || "the holder's proof was not checked"}${text(proof.code) ? " [" + text(proof.code) + "]" : ""}.`,
        ),
        el("dt", {}, "Stapled status"),
        el("dd", { id: "vp-staples" }, stapleText(answer, chain)),
      ),
    );
    const credentials = Array.isArray(answer.credentials) ? answer.credentials : [];
    box.append(
      el("h5", {}, `Badges in it (${credentials.length})`),
      el("ol", { id: "vp-credentials", class: "checks" }, ...credentials.map(renderCredential)),
    );
    return box;
  }

  function stapleText(answer, chain) {
    const message = text(chain.message);
    const note = message.includes("from the holder's staple") ? message.slice(message.indexOf(";") + 1).trim() : "";
    const credentials = Array.isArray(answer.credentials) ? answer.credentials : [];
    const carried = credentials.filter((item) => item && item.stapled === true).length;
    if (note) return `${carried} stapled; ${note}.`;
    if (carried) return `${carried} of ${credentials.length} badges carry the holder's staple; the network answered, so it was not needed.`;
    return "No staple: the network answered for each badge.";
  }

  function renderCredential(item) {
    const credential = item && typeof item === "object" ? item : {};
    const verdict = VERDICTS[credential.verdict] ? credential.verdict : null;
    const uid = text(credential.uid);
    const problem = credential.problem && typeof credential.problem === "object" ? credential.problem : null;
    const name = text(credential.name) || "A badge";
    const row = el(
      "li",
      { class: "check credential", "data-uid": uid, "data-verdict": verdict || "unchecked", "data-stapled": credential.stapled === true },
      el("span", { class: "check-name" }, uid ? el("a", { href: "#/badge/" + encodeURIComponent(uid) }, name) : name),
      el("span", { class: "check-status" }, verdict ? VERDICTS[verdict] : "Not checked"),
    );
    const lines = [];
    if (text(credential.issuer)) lines.push(`Issued by ${text(credential.issuer)}.`);
    if (problem) lines.push(`${text(problem.name)}: ${text(problem.message)} [${text(problem.code)}]`);
    lines.push(credential.stapled === true ? "The holder stapled its status." : "No staple.");
    row.append(el("span", { class: "check-message" }, lines.join(" ")));
    return row;
  }

  function verifyFile(file) {
    if (!file) return;
    if (file.size > MAX_PRESENTATION_BYTES) {
      showError(`The file is larger than ${MAX_PRESENTATION_BYTES / 1024 / 1024} MiB.`);
      return;
    }
    file.text().then(verifyText, () => showError("The file could not be read."));
  }

  function start() {
    if (!$("vp-form")) return;
    $("vp-ask").addEventListener("click", askChallenge);
    $("vp-form").addEventListener("submit", (event) => {
      event.preventDefault();
      verifyText($("vp-input").value);
    });
    $("vp-file").addEventListener("change", (event) => {
      verifyFile(event.target.files && event.target.files[0]);
      event.target.value = "";
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
