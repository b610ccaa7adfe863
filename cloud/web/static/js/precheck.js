// A predictive ticket's pre-check on the engineer's phone: the checklist, its answers, and the finish form.
// engineer.js owns the page (loading, the bottom sheet, live updates); this module renders and calls the API.
import { api, esc, formatTime, metricName, t } from "./desk_common.js";

export const OUTCOMES = ["fault_confirmed", "false_alarm", "fixed"];

export function loadPrecheck(ticketId) {
  return api(`/api/v1/tickets/${ticketId}/precheck`);
}

export function answerCheck(ticketId, itemId, body) {
  return api(`/api/v1/tickets/${ticketId}/precheck/items/${itemId}`, { method: "PATCH", json: body });
}

export function finishPrecheck(ticketId, body) {
  return api(`/api/v1/tickets/${ticketId}/precheck/finish`, { method: "POST", json: body });
}

function answerButton(item, answer, editable) {
  const pressed = item.answer === answer;
  return `<button type="button" class="pc-btn pc-${answer}${pressed ? " on" : ""}" data-pc-answer="${answer}"`
    + ` aria-pressed="${pressed}"${editable ? "" : " disabled"}>${esc(t(`precheck.${answer}`))}</button>`;
}

// Under a check: who answered it when, and its note (the phone and the console).
export function checkMetaHtml(item) {
  const who = item.answered_at
    ? `<div class="pc-meta muted small">${esc(item.answered_by_name || "")} · ${esc(formatTime(item.answered_at))}</div>` : "";
  return who + (item.note ? `<div class="pc-note">${esc(t("Note"))}：${esc(item.note)}</div>` : "");
}

// A finished pre-check's outcome, its note, who finished it when (the phone and the console); "" while open.
export function outcomeHtml(task, id) {
  if (!task.outcome) return "";
  return `<div class="pc-outcome pc-outcome-${esc(task.outcome)}" id="${id}" data-outcome="${esc(task.outcome)}">`
    + `<strong>${esc(t("Pre-check finished"))}：${esc(t(`precheck.${task.outcome}`))}</strong>`
    + (task.outcome_note ? `<div class="pc-outcome-note">${esc(task.outcome_note)}</div>` : "")
    + `<div class="muted small">${esc(task.finished_by_name || "")} · ${esc(formatTime(task.finished_at))}</div></div>`;
}

function itemHtml(item, editable) {
  const buttons = editable || item.answer
    ? `<div class="pc-buttons">${answerButton(item, "done", editable)}${answerButton(item, "not_applicable", editable)}`
      + (editable ? `<button type="button" class="pc-btn pc-note-btn" data-pc-note>${esc(t(item.note ? "Edit note" : "Add note"))}</button>` : "")
      + "</div>"
    : "";
  return `<li class="pc-item" data-item-id="${item.id}" data-answer="${esc(item.answer || "")}">`
    + `<div class="pc-text"><span class="pc-no">${item.position}</span>${esc(t(item.text))}</div>${checkMetaHtml(item)}${buttons}</li>`;
}

// The whole section: heading with progress and the alert chart, the checks, then the finish button or the outcome.
export function precheckHtml(task) {
  const editable = task.can_work;
  const chart = task.chart_url
    ? `<a class="pc-chart" id="pc-chart" href="${esc(task.chart_url)}">${esc(t("Alert chart"))} ›</a>` : "";
  // Each alert with why it was raised; one alert's name is already the chart link's.
  const several = task.alerts.length > 1;
  const lines = task.alerts.filter((a) => several || a.why).map((a) => `<div class="pc-alert" data-alert-id="${a.id}">`
    + (several ? `<a href="${esc(a.chart_url)}" title="${esc(a.metric)}">${esc(metricName(a.metric))}</a> ` : "")
    + (a.why ? `<span class="pc-why">${esc(a.why)}</span>` : "") + "</div>");
  const alerts = lines.length ? `<div class="pc-alerts small">${lines.join("")}</div>` : "";
  const footer = outcomeHtml(task, "pc-outcome") || (editable
    ? `<button type="button" class="weui-btn weui-btn_primary pc-finish" id="pc-finish" data-pc-finish>${esc(t("Finish pre-check"))}</button>` : "");
  return `<div class="weui-cells__title pc-title"><span>${esc(t("Pre-check checklist"))}</span>`
    + `<span class="pc-progress" id="pc-progress">${task.answered}/${task.total} ${esc(t("answered"))}</span>${chart}</div>`
    + `<section class="pc-box" id="precheck" data-version="${task.version}">${alerts}`
    + `<ol class="pc-list">${task.items.map((item) => itemHtml(item, editable)).join("")}</ol>${footer}</section>`;
}

export function noteFormHtml(item) {
  return `<div class="pc-sheet-check">${esc(t(item.text))}</div>`
    + `<label for="s-note">${esc(t("Note on this check (optional)"))}</label>`
    + `<textarea id="s-note" name="note" rows="3" maxlength="1000">${esc(item.note || "")}</textarea>`;
}

export function finishFormHtml(task) {
  const open = task.items.filter((item) => !item.answer).length;
  const warning = open
    ? `<div class="pc-warning" id="pc-open">${open} ${esc(t("unanswered"))} · ${esc(t("Answer every check first (done or not applicable)."))}</div>` : "";
  return `${warning}<div class="pc-outcomes" role="radiogroup" aria-label="${esc(t("Outcome"))}">`
    + OUTCOMES.map((outcome) => `<label class="pc-outcome-choice"><input type="radio" name="outcome" value="${outcome}">`
      + `<span><strong>${esc(t(`precheck.${outcome}`))}</strong><span class="muted small">${esc(t(`precheck.${outcome}.hint`))}</span></span></label>`).join("")
    + `</div><label for="s-finish-note">${esc(t("Findings / note"))}</label>`
    + '<textarea id="s-finish-note" name="note" rows="4" maxlength="5000"></textarea>'
    // Fixed: what the fault was (engineer.js fills it in); a false alarm is filed as no fault found by itself.
    + `<div id="pc-fault" class="muted small" hidden>${esc(t("Loading…"))}</div>`
    + `<div id="pc-no-fault" class="pc-warning" hidden>${esc(t("A false alarm is filed under 'no fault found'."))}</div>`;
}

// What is wrong with a finish form before it is sent (null: send it).
export function finishProblem(task, outcome, note) {
  if (!outcome) return t("Required");
  if (outcome === "false_alarm") return note ? null : t("A false alarm needs a note saying why.");
  if (task.items.some((item) => !item.answer)) return t("Answer every check first (done or not applicable).");
  if (outcome === "fixed" && !note) return t("Required");
  return null;
}
