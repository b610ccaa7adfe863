// The engineer's mobile pages: my tickets (live) and one ticket with accept / decline / arrive / complete,
// plus a predictive ticket's pre-check checklist (precheck.js).
import {
  ApiError, LiveSocket, actOn, ago, api, deviceLabel, enableLightbox, esc, formatTime, isConflict, mediaHtml,
  richText, setTexts, shortText, slaBadge, statusBadge, t, tickSla, timelineHtml,
} from "./desk_common.js";
import {
  answerCheck, finishFormHtml, finishPrecheck, finishProblem, loadPrecheck, noteFormHtml, precheckHtml,
} from "./precheck.js";
import { weuiDialog } from "./weui_dialog.js";
import { faultFieldsHtml, faultSummary, installFaultFields, loadFaultChoices, readFaultFields } from "./fault_fields.js";

// This page's own texts (declared in desk/engineer_ticket.html, translated in cloud/locale).
let OWN = {};
const own = (key) => OWN[key] ?? t(key);

// Photos the reporter sent (with the report or added later) come before the repair; the rest came with it.
function splitPhotos(ticket) {
  const before = new Set();
  for (const entry of ticket.timeline || []) {
    if (["submit", "add_info"].includes(entry.action)) (entry.details.attachments || []).forEach((i) => before.add(i));
  }
  const early = ticket.attachments.filter((a) => a.kind !== "photo" || before.has(a.id));
  return [early, ticket.attachments.filter((a) => !early.includes(a))];
}

// A map link that opens the phone's map app (Amap's URI works in a browser and in WeChat).
function mapLink(hospital) {
  if (hospital.latitude != null && hospital.longitude != null) {
    return `https://uri.amap.com/marker?position=${hospital.longitude},${hospital.latitude}&name=${encodeURIComponent(hospital.name)}&coordinate=wgs84&callnative=1`;
  }
  return `https://uri.amap.com/search?keyword=${encodeURIComponent(hospital.address || hospital.name)}&callnative=1`;
}

// People by their full name, system actors by what they are (never a username or a raw label).
function whoDid(entry) {
  if (entry.actor_name) return entry.actor_name;
  const key = `who.${entry.actor}`;
  return OWN[key] ?? own("who.system");
}

function hospitalHtml(hospital) {
  if (!hospital) return "";
  const rows = [];
  if (hospital.address) {
    rows.push(`<div class="weui-cell" id="eng-address"><div class="weui-cell__bd"><div class="muted small">${esc(own("Address"))}</div>`
      + `<div>${esc(hospital.address)}</div></div><div class="weui-cell__ft"><a class="weui-btn weui-btn_mini weui-btn_default" target="_blank" rel="noopener" href="${esc(mapLink(hospital))}">${esc(own("Open in map"))}</a></div></div>`);
  }
  if (hospital.hotline) {
    rows.push(`<div class="weui-cell" id="eng-hotline"><div class="weui-cell__bd"><div class="muted small">${esc(own("Hotline"))}</div>`
      + `<div class="mono">${esc(hospital.hotline)}</div></div><div class="weui-cell__ft"><a class="weui-btn weui-btn_mini weui-btn_default" href="tel:${esc(hospital.hotline.replace(/[^0-9+-]/g, ""))}">${esc(t("Call"))}</a></div></div>`);
  }
  return rows.length ? `<div class="weui-cells__title">${esc(hospital.name)}</div><div class="weui-cells">${rows.join("")}</div>` : "";
}

function historyHtml(ticket, history) {
  if (!ticket.device_id || !history) return "";
  const others = history.filter((x) => x.id !== ticket.id);
  const body = others.length ? others.map((x) => `<a class="weui-cell weui-cell_access" href="/engineer/tickets/${x.id}">`
    + `<div class="weui-cell__bd"><div><span class="mono">${esc(x.number)}</span> ${statusBadge(x.status)}`
    + (x.fault_category_name ? ` <span class="ff-tag">${esc(x.fault_category_name)}</span>` : "") + "</div>"
    + `<div class="muted small">${esc(shortText(x.findings || x.description))}</div></div>`
    + `<div class="weui-cell__ft muted small">${esc(formatTime(x.created_at))}</div></a>`).join("")
    : `<div class="weui-cell"><div class="weui-cell__bd muted small">${esc(own("No earlier repairs of this device."))}</div></div>`;
  // The device's numbers (score, risk, faults, repair times) one tap away (cloud/profiles).
  const profile = `<a class="weui-cell weui-cell_access" href="/engineer/devices/${ticket.device_id}" id="eng-profile">`
    + `<div class="weui-cell__bd">${esc(t("Maintenance profile"))}</div><div class="weui-cell__ft"></div></a>`;
  return `<div class="weui-cells__title">${esc(own("Device history"))}</div><div class="weui-cells" id="eng-history">${profile}${body}</div>`;
}

function setLive(state) {
  const el = document.getElementById("live");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = t(state === "open" ? "Live" : "Reconnecting…");
}

function toast(text, ok = true) {
  const el = document.createElement("div");
  el.setAttribute("role", "alert");
  el.innerHTML = `<div class="weui-mask_transparent"></div><div class="weui-toast${ok ? "" : " weui-toast_text"}">`
    + (ok ? '<i class="weui-icon-success-no-circle weui-icon_toast"></i>' : "")
    + `<p class="weui-toast__content">${esc(text)}</p></div>`;
  document.body.appendChild(el);
  setTimeout(() => el.remove(), 1400);
}

// ---- my tickets ----
export async function startEngineerList(config) {
  setTexts(config.texts);
  const list = document.getElementById("jobs");
  const fresh = new Set();
  let tickets = [];

  function render() {
    if (!tickets.length) {
      list.innerHTML = `<div class="h5-empty"><span class="icon" aria-hidden="true"></span>${esc(t("Nothing assigned to you right now."))}</div>`;
      return;
    }
    list.innerHTML = tickets.map((x) => `<a class="job p${x.priority}${fresh.has(x.id) ? " fresh" : ""}" href="/engineer/tickets/${x.id}" data-id="${x.id}" data-number="${esc(x.number)}">`
      + `<div class="job-row"><span class="prio prio-${x.priority}">P${x.priority}</span><span class="mono strong">${esc(x.number)}</span>`
      + `<span class="right">${statusBadge(x.status)}</span></div>`
      + `<div class="job-device">${esc(deviceLabel(x))}</div>`
      + `<div class="job-desc">${esc(shortText(x.description))}</div>`
      + `<div class="job-meta">${esc([x.hospital_name, x.device_department].filter(Boolean).join(" · "))}</div>`
      + `<div class="job-row job-meta">${slaBadge(x)}<span class="right">${esc(ago(x.created_at))}</span></div></a>`).join("");
  }

  async function load() {
    try {
      const page = await api("/api/v1/tickets?mine=true&open=true&limit=200");
      // Work to do first (newly dispatched, then in progress), then tickets awaiting the reporter.
      const rank = { dispatched: 0, on_site: 1, accepted: 2, resolved: 3 };
      tickets = page.items.sort((a, b) => (rank[a.status] ?? 2) - (rank[b.status] ?? 2) || a.priority - b.priority
        || (a.created_at < b.created_at ? -1 : 1));
    } catch { return; }
    render();
  }

  await load();
  new LiveSocket({
    onState: setLive,
    onReconnect: load,
    onMessage: async (message) => {
      if (message.type !== "ticket") return;
      if (message.event === "ticket.dispatch" && message.engineer_id === config.userId) {
        fresh.add(message.ticket_id);
        toast(t("New dispatch"));
        if (navigator.vibrate) navigator.vibrate(200);
      }
      await load();
    },
  });
  setInterval(() => tickSla((id) => tickets.find((x) => x.id === id)), 1000);
}

// ---- one ticket ----
const SHEETS = {
  decline: { title: "Decline", fields: [["reason", "Decline reason", "textarea", true]], warn: true },
  // What the fault was (category, root cause, parts: fault_fields.js) follows the findings.
  complete: { title: "Complete repair", photos: true, fault: true, fields: [["findings", "What did you find and fix?", "textarea", true]] },
};

export async function startEngineerTicket(config) {
  setTexts(config.texts);
  OWN = config.own || {};
  // An API message in the page's language: the known ones by the English text they start with.
  const server = config.server || {};
  const localDetail = (error, fallback) => {
    const detail = String((error && error.body && error.body.detail) || "");
    const hit = Object.keys(server).find((key) => detail && detail.startsWith(key));
    return hit ? server[hit] : (detail && document.documentElement.lang === "en" ? detail : fallback);
  };
  const root = document.getElementById("ticket");
  const bar = document.getElementById("actions");
  const sheet = document.getElementById("sheet");
  let ticket = null;
  let precheck = null; // a predictive ticket's pre-check
  let sheetTicket = null; // the version the open sheet acts on
  let uploads = [];
  let pendingUploads = 0;
  let hospital = null; // address, map and hotline of the ticket's hospital
  let history = null; // the device's other tickets
  let faultLoading = Promise.resolve(); // the open sheet's fault fields, while they load
  enableLightbox(root);

  function previewItem(label, value) {
    return `<div class="weui-form-preview__item"><label class="weui-form-preview__label">${esc(label)}</label>`
      + `<span class="weui-form-preview__value">${value}</span></div>`;
  }

  function render(notice) {
    const phone = ticket.reporter_phone
      ? `<a class="weui-btn weui-btn_mini weui-btn_default" href="tel:${esc(ticket.reporter_phone)}">${esc(t("Call"))}</a>` : "";
    const [early, late] = splitPhotos(ticket);
    const repairPhotos = late.length ? mediaHtml({ attachments: late }) : "";
    const outcome = ticket.findings || repairPhotos
      ? `<div class="weui-cells__title">${esc(ticket.findings ? t("Findings") : own("Repair photos"))}</div><div class="media-box" id="eng-repair">`
        + (ticket.findings ? `<div>${esc(ticket.findings)}</div>` : "")
        + faultSummary(ticket).map(([label, value]) => `<div class="muted small eng-fault-row">${esc(label)}：<span class="eng-fault-value">${value}</span></div>`).join("")
        + (["resolved", "closed"].includes(ticket.status)  // the service report PDF (cloud/reports)
          ? `<div class="small"><a id="eng-report" href="/t/${encodeURIComponent(ticket.number)}/report.pdf" target="_blank" rel="noopener">${esc(t("Service report"))}（PDF）</a></div>` : "")
        + (repairPhotos ? `<div class="muted small stage-label">${esc(own("After repair"))}</div>${repairPhotos}` : "") + "</div>"
      : "";
    root.innerHTML = (notice ? `<div class="h5-notice" id="notice">${esc(notice)}</div>` : "")
      + '<div class="weui-form-preview" style="margin-top:10px">'
      + `<div class="weui-form-preview__hd"><div class="weui-form-preview__item"><label class="weui-form-preview__label">${esc(t("Status"))}</label>`
      + `<em class="weui-form-preview__value" id="status" data-status="${esc(ticket.status)}">${statusBadge(ticket.status)} <span class="prio prio-${ticket.priority}">P${ticket.priority}</span></em></div></div>`
      + '<div class="weui-form-preview__bd">'
      + previewItem(t("Ticket"), `<span class="mono">${esc(ticket.number)}</span>`)
      + previewItem(t("Device"), esc(deviceLabel(ticket)))
      + previewItem(t("Hospital"), esc(ticket.hospital_name))
      + previewItem(t("Department"), esc(ticket.device_department || "—"))
      + previewItem(t("Urgency"), esc(t(ticket.urgency)))
      + previewItem(t("Created"), `${esc(formatTime(ticket.created_at))} ${slaBadge(ticket)}`)
      + "</div></div>"
      + (precheck ? `<div id="pc-wrap">${precheckHtml(precheck)}</div>` : "")
      + `<div class="weui-cells__title">${esc(t("Reporter"))}</div><div class="weui-cells"><div class="weui-cell">`
      + `<div class="weui-cell__bd">${esc(ticket.reporter_name || "—")}<div class="muted small mono">${esc(ticket.reporter_phone || "")}</div></div>`
      + `<div class="weui-cell__ft">${phone}</div></div></div>`
      + hospitalHtml(hospital)
      + `<div class="weui-cells__title">${esc(t("Description"))}</div><div class="media-box" id="eng-description"><div class="d-desc">${richText(ticket.description)}</div>`
      + (early.some((a) => a.kind === "photo") && late.length ? `<div class="muted small stage-label">${esc(own("Before repair"))}</div>` : "")
      + `${mediaHtml({ attachments: early })}</div>`
      + outcome
      + historyHtml(ticket, history)
      + `<div class="weui-cells__title">${esc(t("Timeline"))}</div><div class="timeline-box"><ol class="timeline">${timelineHtml(ticket.timeline.map((e) => ({ ...e, actor: whoDid(e) })))}</ol></div>`;
    const allowed = ticket.allowed_actions;
    const buttons = [];
    if (allowed.includes("decline")) buttons.push(["decline", "Decline", "weui-btn_default"]);
    if (allowed.includes("accept")) buttons.push(["accept", "Accept", "weui-btn_primary"]);
    if (allowed.includes("arrive")) buttons.push(["arrive", "Arrived on site", "weui-btn_primary"]);
    if (allowed.includes("complete")) buttons.push(["complete", "Complete repair", "weui-btn_primary"]);
    // The actions sit right under the summary, so they are on screen without scrolling.
    root.querySelector(".weui-form-preview").after(bar);
    bar.innerHTML = buttons.map(([action, label, cls]) => `<button type="button" class="weui-btn ${cls}" data-action="${action}">${esc(t(label))}</button>`).join("");
  }

  async function load(notice) {
    try { ticket = await api(`/api/v1/tickets/${config.ticketId}`); } catch (error) {
      root.innerHTML = `<div class="h5-empty">${esc(error instanceof ApiError ? error.message : t("Network error; try again."))}</div>`;
      return;
    }
    precheck = ticket.source === "predictive" ? await loadPrecheck(ticket.id).catch(() => null) : null;
    // Where to go and what happened to the device before: fetched once, they change rarely.
    if (!hospital) hospital = await api(`/api/v1/hospitals/${ticket.hospital_id}`).catch(() => null);
    if (!history && ticket.device_id) {
      history = await api(`/api/v1/tickets?device_id=${ticket.device_id}&limit=10`).then((page) => page.items).catch(() => null);
    }
    render(notice);
  }

  // A message about the whole form sits just above the Submit button, where the engineer's finger is.
  function sheetError(message) {
    const el = sheet.querySelector(".sheet-error");
    if (el && sheet.style.display !== "none") { el.textContent = message; el.hidden = false; } else toast(message, false);
  }

  // A message about one field is shown on that field: marked red, the message under it, scrolled to and focused.
  // The field is the control with its label (a field of its own, a fault field, a part row), else the control alone.
  function fieldError(control, message) {
    const field = control.closest(".sheet-field, [data-ff-part], .ff-field") || control;
    clearFieldError(field);
    field.classList.add("weui-cell_warn", "sheet-field_warn");
    const note = document.createElement("div");
    note.className = "sheet-field-error";
    note.id = `${control.id || control.name}-error`;
    note.setAttribute("role", "alert");
    note.textContent = message;
    if (field === control) field.after(note); else field.append(note);
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", note.id);
    control.focus({ preventScroll: true });
    if (field === control) note.scrollIntoView({ block: "nearest" });
    field.scrollIntoView({ block: "nearest" });
  }

  function clearFieldError(field) {
    field.classList.remove("weui-cell_warn", "sheet-field_warn");
    const controls = field.matches("[aria-invalid]") ? [field] : [...field.querySelectorAll("[aria-invalid]")];
    for (const control of controls) {
      document.getElementById(control.getAttribute("aria-describedby"))?.remove();
      control.removeAttribute("aria-invalid");
      control.removeAttribute("aria-describedby");
    }
  }

  // The fault fields' own check (fault_fields.js) focuses the field it is about: that one is marked.
  function faultError(form, message) {
    const control = document.activeElement;
    if (control && control !== form && form.contains(control)) fieldError(control, message); else sheetError(message);
  }

  // A pre-check call: "saved" with the fresh state, "reloaded" with the latest state and a notice when someone
  // changed it meanwhile, null when it failed (the message is shown).
  async function precheckCall(call) {
    try {
      const answer = await call();
      if (answer.precheck) { precheck = answer.precheck; ticket = answer.ticket; } else precheck = answer;
      closeSheet();
      render();
      return "saved";
    } catch (error) {
      if (isConflict(error)) {
        closeSheet();
        await load(t("The ticket was updated by someone else; the latest version is shown."));
        return "reloaded";
      }
      sheetError(localDetail(error, t("Network error; try again.")));
      return null;
    }
  }

  async function act(action, fields) {
    try {
      ticket = await actOn(sheetTicket || ticket, action, fields);
      closeSheet();
      render();
      toast(t("Done"));
      return true;
    } catch (error) {
      if (isConflict(error)) {
        closeSheet();
        await load(t("The ticket was updated by someone else; the latest version is shown."));
        return true;
      }
      sheetError(localDetail(error, t("Network error; try again.")));
      return false;
    }
  }

  function showSheet(title, body, { action = "", kind = "", warn = false, itemId = "" } = {}) {
    sheet.innerHTML = '<div class="weui-mask" data-close></div><div class="weui-half-screen-dialog" role="dialog">'
      + '<div class="weui-half-screen-dialog__hd"><div class="weui-half-screen-dialog__hd__side">'
      + `<button type="button" class="weui-icon-btn" data-close>${esc(t("Close"))}<i class="weui-icon-close-thin"></i></button></div>`
      + `<div class="weui-half-screen-dialog__hd__main"><strong class="weui-half-screen-dialog__title">${esc(t(title))}</strong></div></div>`
      + `<div class="weui-half-screen-dialog__bd"><form class="sheet-form" id="s-form" data-action="${action}" data-kind="${kind}" data-item-id="${itemId}" novalidate>${body}`
      + "</form></div>"
      + '<div class="weui-half-screen-dialog__ft"><div class="sheet-error" role="alert" hidden></div>'
      + `<div class="weui-half-screen-dialog__btn-area"><button type="submit" form="s-form" class="weui-btn ${warn ? "weui-btn_warn" : "weui-btn_primary"}">${esc(t("Submit"))}</button></div></div></div>`;
    sheet.style.display = "block";
    document.body.style.overflow = "hidden"; // the page behind the sheet stays put
  }

  function openSheet(action) {
    const spec = SHEETS[action];
    sheetTicket = { id: ticket.id, version: ticket.version };
    uploads = [];
    // A required field is marked as the fault category is ("故障类别 *").
    const fields = spec.fields.map(([name, label, kind, required]) => `<div class="sheet-field"><label for="s-${name}">${esc(t(label))}${required ? " *" : ""}</label>`
      + (kind === "textarea" ? `<textarea id="s-${name}" name="${name}" rows="4"${required ? " required" : ""}></textarea>`
        : `<input type="text" id="s-${name}" name="${name}">`) + "</div>").join("");
    const photos = spec.photos
      ? `<label>${esc(t("Add photos"))}</label><div class="sheet-photos" id="s-photos"><label class="add-photo">＋`
        + '<input type="file" accept="image/*" multiple id="s-file"></label></div>' : "";
    const fault = spec.fault ? `<div id="s-fault" class="muted small">${esc(t("Loading…"))}</div>` : "";
    showSheet(spec.title, fields + fault + photos, { action, warn: spec.warn });
    if (spec.fault) faultLoading = fillFault(sheet.querySelector("#s-fault"), { prefix: "s-ff" });
  }

  // The fault fields, preselected with the suggestion (what the findings typed so far say refines it).
  async function fillFault(box, options) {
    const form = box.closest("form");
    let choices;
    try { choices = await loadFaultChoices(ticket.id); } catch { box.textContent = t("Network error; try again."); return; }
    if (!form.isConnected) return;
    box.classList.remove("muted", "small");
    box.innerHTML = faultFieldsHtml(choices, { current: ticket.fault_category, ...options });
  }

  // ---- the pre-check ----
  function precheckItem(id) { return precheck && precheck.items.find((item) => item.id === Number(id)); }

  root.addEventListener("click", async (event) => {
    const target = event.target.closest("[data-pc-answer], [data-pc-note], [data-pc-finish]");
    if (!target || !precheck) return;
    if (target.hasAttribute("data-pc-finish")) {
      showSheet("Finish pre-check", finishFormHtml(precheck), { kind: "pc-finish" });
      faultLoading = fillFault(sheet.querySelector("#pc-fault"), { prefix: "pc-ff" });
      return;
    }
    const item = precheckItem(target.closest("[data-item-id]").dataset.itemId);
    if (!item) return;
    if (target.hasAttribute("data-pc-note")) {
      showSheet("Note", noteFormHtml(item), { kind: "pc-note", itemId: item.id });
      return;
    }
    // Tapping the chosen answer again takes it back.
    const answer = item.answer === target.dataset.pcAnswer ? null : target.dataset.pcAnswer;
    for (const button of target.parentElement.querySelectorAll("button")) button.disabled = true;
    if (!(await precheckCall(() => answerCheck(ticket.id, item.id, { answer })))) render();
  });

  async function submitPrecheck(form) {
    if (form.dataset.kind === "pc-note") {
      const item = precheckItem(form.dataset.itemId);
      return precheckCall(() => answerCheck(ticket.id, item.id, { answer: item.answer, note: form.note.value.trim() }));
    }
    const chosen = form.querySelector("input[name=outcome]:checked");
    const outcome = chosen ? chosen.value : "";
    const note = form.note.value.trim();
    const problem = finishProblem(precheck, outcome, note);
    if (problem) { sheetError(problem); return false; }
    // Fixed during the pre-check: what the fault was, as on completing (a false alarm is filed by itself).
    if (outcome === "fixed") await faultLoading;
    const fault = outcome === "fixed" ? readFaultFields(form.querySelector("#pc-fault")) : { fields: {} };
    if (fault.error) { faultError(form, fault.error); return false; }
    const result = await precheckCall(() => finishPrecheck(ticket.id, { outcome, note, version: precheck.version, ...fault.fields }));
    if (result === "saved") toast(t("Done"));
    return Boolean(result);
  }

  // Every action the engineer takes is confirmed in a WeUI dialog first: a mis-tap on a phone is easy.
  function confirmAction(action) {
    const titles = { accept: "Accept", arrive: "Arrived on site", complete: "Complete repair", decline: "Decline" };
    return weuiDialog({ title: t(titles[action] || action), text: own(`confirm.${action}`), ok: own("Confirm"),
      cancel: own("Cancel"), warn: action === "decline" });
  }

  function closeSheet() {
    sheet.style.display = "none";
    sheet.innerHTML = "";
    document.body.style.overflow = "";
    sheetTicket = null;
  }

  async function uploadPhotos(files) {
    const box = sheet.querySelector("#s-photos");
    for (const file of files) {
      const img = document.createElement("img");
      img.className = "ph";
      img.src = URL.createObjectURL(file);
      img.style.opacity = ".4";
      box.insertBefore(img, box.lastElementChild);
      const form = new FormData();
      form.append("kind", "photo");
      form.append("file", file);
      pendingUploads += 1;
      try {
        const stored = await api("/api/v1/uploads", { method: "POST", form });
        uploads.push({ id: stored.id, key: stored.key });
        img.style.opacity = "1";
        img.dataset.uploaded = String(stored.id);
      } catch (error) {
        img.remove();
        toast(localDetail(error, t("Upload failed")), false);
      } finally { pendingUploads -= 1; }
    }
  }

  bar.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (SHEETS[action]) { openSheet(action); return; }
    confirmAction(action).then((sure) => {
      if (!sure) return;
      button.disabled = true;
      act(action, {}).finally(() => { button.disabled = false; });
    });
  });
  sheet.addEventListener("click", (event) => { if (event.target.closest("[data-close]")) closeSheet(); });
  installFaultFields(sheet, { ticketId: () => ticket.id, textSelector: "#s-findings, #s-finish-note" });
  // The pre-check's fault fields only matter when it ends as fixed.
  sheet.addEventListener("change", (event) => {
    if (event.target.name !== "outcome") return;
    const box = sheet.querySelector("#pc-fault");
    if (box) box.hidden = event.target.value !== "fixed";
    const note = sheet.querySelector("#pc-no-fault");
    if (note) note.hidden = event.target.value !== "false_alarm";
  });
  // Changing a field takes its message back, and the form's.
  const clearErrors = (event) => {
    const field = event.target.closest && event.target.closest(".sheet-field_warn");
    if (field) clearFieldError(field);
    const el = sheet.querySelector(".sheet-error");
    if (el) el.hidden = true;
  };
  sheet.addEventListener("input", clearErrors);
  sheet.addEventListener("change", clearErrors);
  sheet.addEventListener("change", (event) => { if (event.target.id === "s-file") uploadPhotos([...event.target.files]); });
  sheet.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    if (form.dataset.kind) {
      const button = sheet.querySelector("button[type=submit]");
      button.disabled = true;
      if (!(await submitPrecheck(form))) button.disabled = false;
      return;
    }
    if (pendingUploads > 0) { sheetError(t("Uploading…")); return; }
    const fields = {};
    for (const el of form.querySelectorAll("textarea, input[type=text]")) {
      if (el.closest("[data-ff]")) continue; // the fault fields are read below
      const value = el.value.trim();
      if (el.required && !value) { fieldError(el, t("Required")); return; }
      if (value) fields[el.name] = value;
    }
    if (uploads.length) fields.attachments = uploads;
    if (SHEETS[form.dataset.action].fault) {
      await faultLoading; // a quick tap may come before the choices arrived
      if (!form.querySelector("[data-ff]")) { sheetError(t("Network error; try again.")); return; }
      const fault = readFaultFields(form);
      if (fault.error) { faultError(form, fault.error); return; }
      Object.assign(fields, fault.fields);
    }
    if (!(await confirmAction(form.dataset.action))) return;
    const submit = sheet.querySelector("button[type=submit]");
    submit.disabled = true;
    if (!(await act(form.dataset.action, fields))) submit.disabled = false;
  });

  await load();
  new LiveSocket({
    onState: setLive,
    onReconnect: () => load(),
    onMessage: (message) => {
      if (message.type !== "ticket" || message.ticket_id !== config.ticketId) return;
      // Keep an open form; its stale version then gets a clear 409 message instead of a silent overwrite.
      if (sheet.style.display === "block") return;
      load();
    },
  });
  setInterval(() => tickSla((id) => (ticket && ticket.id === id ? ticket : null)), 1000);
}
