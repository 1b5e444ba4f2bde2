"use strict";
// The course pages (issue 15): the review queue (/review, admin token required) and a
// course's public page with its registration form (/courses/<id>). Everything a server
// or a feed gave is shown as text, never as markup.
(() => {
  const TOKEN_KEY = "badgechain-admin-token"; // sessionStorage: this tab only
  const $ = (id) => document.getElementById(id);

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    for (const child of children) node.append(child);
    return node;
  }

  function text(value) {
    return typeof value === "string" ? value : "";
  }

  function webUrl(value) {
    try {
      const url = new URL(text(value));
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  /** The node's JSON answer; a failure throws an Error saying what, in words. */
  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { ...options, headers: { Accept: "application/json", ...(options.headers || {}) } });
    } catch {
      throw new Error("The node could not be reached. Check your connection and try again.");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (response.ok && data !== null) return data;
    const detail = data && typeof data === "object" ? text(data.detail) : "";
    const code = data && typeof data === "object" ? text(data.code) : "";
    const error = new Error(`${detail || `HTTP ${response.status}`}${code ? ` [${code}]` : ""}`);
    error.status = response.status;
    throw error;
  }

  function showError(id, error) {
    const box = $(id);
    box.textContent = error ? error.message : "";
    box.hidden = !error;
  }

  // -- the review page -------------------------------------------------------------------------

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  function admin(path, options = {}) {
    const headers = { Authorization: `Bearer ${token()}`, ...(options.headers || {}) };
    return api(path, { ...options, headers });
  }

  async function loadCourses() {
    showError("review-error", null);
    $("submissions").replaceChildren();
    if (!token()) {
      $("course-form").hidden = true;
      $("review-status").textContent = "Give the node's admin token to review submissions.";
      return;
    }
    let answer;
    try {
      answer = await admin("/admin/courses");
    } catch (error) {
      $("course-form").hidden = true;
      $("review-status").textContent = "";
      showError("review-error", error);
      return;
    }
    const courses = Array.isArray(answer.courses) ? answer.courses : [];
    $("course-select").replaceChildren(...courses.map((course) => el("option", { value: text(course.id) }, text(course.name) || text(course.id))));
    $("course-form").hidden = courses.length === 0;
    $("review-status").textContent = courses.length ? "" : "This node has no courses yet.";
    if (courses.length) await loadSubmissions();
  }

  async function loadSubmissions() {
    const course = $("course-select").value;
    showError("review-error", null);
    $("review-status").textContent = "Loading…";
    let answer;
    try {
      answer = await admin(`/admin/courses/${encodeURIComponent(course)}/submissions`);
    } catch (error) {
      $("review-status").textContent = "";
      showError("review-error", error);
      return;
    }
    const pending = Array.isArray(answer.pending) ? answer.pending : [];
    $("submissions").replaceChildren(...pending.map(submissionItem));
    countPending();
  }

  function countPending() {
    const left = $("submissions").querySelectorAll("li[data-state='pending']").length;
    $("review-status").textContent = left === 0 ? "Nothing waits for review." : `${left} submission${left === 1 ? "" : "s"} to review.`;
  }

  function submissionItem(submission) {
    const id = text(submission.id);
    const domId = `submission-${id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const link = webUrl(submission.link);
    const title = text(submission.title) || "(untitled post)";
    const reasonId = `${domId}-reason`;
    const award = el("button", { type: "button", class: "award" }, "Award");
    const decline = el("button", { type: "button", class: "decline secondary" }, "Decline");
    const reason = el("input", { id: reasonId, type: "text", class: "reason", autocomplete: "off" });
    const outcome = el("p", { class: "outcome", role: "status" });
    const item = el(
      "li",
      { id: domId, class: "card submission", "data-id": id, "data-state": "pending", "aria-labelledby": `${domId}-title` },
      el(
        "div",
        { class: "card-text" },
        el("h2", { id: `${domId}-title`, class: "submission-title" }, link ? el("a", { href: link, rel: "noopener noreferrer" }, title) : title),
        el("p", {}, `#${text(submission.hashtag)} ${text(submission.task_name)} — by ${text(submission.participant_name)}`),
        text(submission.excerpt) ? el("p", { class: "excerpt" }, text(submission.excerpt)) : "",
        el("div", { class: "inline actions" }, award, el("label", { for: reasonId, class: "visually-hidden" }, `Reason for declining “${title}”`), reason, decline),
        outcome,
      ),
    );
    award.addEventListener("click", () => decide(item, "award", null));
    decline.addEventListener("click", () => {
      if (!reason.value.trim()) {
        outcome.textContent = "Give a reason to decline.";
        reason.focus();
        return;
      }
      decide(item, "decline", reason.value.trim());
    });
    return item;
  }

  async function decide(item, action, reason) {
    const outcome = item.querySelector(".outcome");
    const buttons = item.querySelectorAll("button");
    for (const button of buttons) button.disabled = true;
    outcome.textContent = action === "award" ? "Awarding…" : "Declining…";
    const options = { method: "POST" };
    if (reason !== null) {
      options.body = JSON.stringify({ reason });
      options.headers = { "Content-Type": "application/json" };
    }
    try {
      const done = await admin(`/admin/submissions/${encodeURIComponent(item.dataset.id)}/${action}`, options);
      item.dataset.state = text(done.state);
      item.querySelector(".actions").remove();
      if (done.state === "awarded") {
        outcome.replaceChildren("Awarded: ", el("a", { href: `/#/badge/${encodeURIComponent(text(done.uid))}`, class: "badge-link" }, "see the badge"));
      } else {
        outcome.textContent = `Declined: ${text(done.reason)}`;
      }
    } catch (error) {
      for (const button of buttons) button.disabled = false;
      outcome.textContent = error.message;
    }
    countPending();
  }

  function setUpReview() {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token-input").value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      $("token-input").value = "";
      loadCourses();
    });
    $("token-forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      loadCourses();
    });
    $("course-form").addEventListener("submit", (event) => {
      event.preventDefault();
      loadSubmissions();
    });
    $("course-select").addEventListener("change", loadSubmissions);
    return loadCourses();
  }

  // -- a course's public page ------------------------------------------------------------------

  function courseId() {
    const found = location.pathname.match(/^\/courses\/([A-Za-z0-9_-]{1,64})\/?$/);
    return found ? found[1] : "";
  }

  async function setUpCourse() {
    const id = courseId();
    $("join-form").addEventListener("submit", (event) => {
      event.preventDefault();
      join(id);
    });
    let course;
    try {
      course = await api(`/courses/${encodeURIComponent(id)}/about`);
    } catch (error) {
      $("join-form").hidden = true;
      showError("join-error", error);
      return;
    }
    $("course-title").textContent = text(course.name) || "Course";
    document.title = `${text(course.name) || "Course"} — BadgeChain`;
    $("course-description").textContent = text(course.description);
    const tasks = Array.isArray(course.tasks) ? course.tasks : [];
    $("course-tasks").replaceChildren(
      ...tasks.map((task) => el("li", { class: "card" }, el("div", { class: "card-text" }, el("h3", {}, text(task.name)), el("p", {}, `Tag your post #${text(task.hashtag)}`)))),
    );
    if (course.completion) $("course-tasks").append(el("li", { class: "card" }, el("div", { class: "card-text" }, el("h3", {}, text(course.completion.name)), el("p", {}, "Awarded when you have every task's badge."))));
  }

  async function join(id) {
    const identity = $("join-identity").value.trim();
    const body = { feed: $("join-feed").value.trim() };
    if (identity.includes("@")) body.email = identity;
    else body.did = identity;
    showError("join-error", null);
    $("join-done").hidden = true;
    try {
      await api(`/courses/${encodeURIComponent(id)}/participants`, {
        method: "POST",
        body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" },
      });
      $("join-done").textContent = "You have joined. Your tagged posts will be found at the next harvest.";
      $("join-done").hidden = false;
      $("join-form").reset();
    } catch (error) {
      showError("join-error", error);
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("skip-link").addEventListener("click", (event) => {
      event.preventDefault();
      $("main").focus();
    });
    if (document.body.dataset.page === "review") await setUpReview();
    else await setUpCourse();
    document.body.setAttribute("data-ready", "true");
  });
})();
