// What the fault was, on every form that resolves a ticket: the engineer completing on the phone (engineer.js),
// the pre-check finished as fixed (precheck.js), the desk resolving remotely in the console (console_detail.js).
// The category comes preselected with the server's suggestion and says where that came from; the root cause and
// the parts used (name, part number, quantity, one row each) are optional.
import { api, esc, t } from "./desk_common.js";

// The categories for the ticket's device and the suggestion; `text` is what the resolver typed so far.
export function loadFaultChoices(ticketId, text = "") {
  const query = text ? `?text=${encodeURIComponent(text.slice(0, 2000))}` : "";
  return api(`/api/v1/tickets/${ticketId}/fault-suggestion${query}`);
}

// Marks the suggested entry in the list itself: "温控 · 建议".
function suggestedMark() { return ` · ${t("Suggested")}`; }

function hintHtml(suggestion) {
  if (!suggestion) return `<span class="muted">${esc(t("No suggestion: choose what fits."))}</span>`;
  return `<span class="ff-badge">${esc(t("Suggested"))}</span> <strong class="ff-hint-name">${esc(suggestion.name)}</strong>`
    + ` <span class="muted">· ${esc(suggestion.source_label)}</span>`;
}

export function partRowHtml(part = {}) {
  return '<div class="ff-part" data-ff-part>'
    + `<input type="text" class="ff-part-name" name="part_name" maxlength="200" placeholder="${esc(t("Part name"))}" aria-label="${esc(t("Part name"))}" value="${esc(part.name || "")}">`
    + `<input type="text" class="ff-part-no" name="part_no" maxlength="100" placeholder="${esc(t("Part no. (optional)"))}" aria-label="${esc(t("Part no. (optional)"))}" value="${esc(part.part_no || "")}">`
    + `<input type="number" class="ff-part-qty" name="part_qty" min="1" max="999" step="1" inputmode="numeric" aria-label="${esc(t("Qty"))}" value="${esc(part.qty || 1)}">`
    + `<button type="button" class="ff-part-remove" data-ff-remove aria-label="${esc(t("Remove"))}" title="${esc(t("Remove"))}">×</button></div>`;
}

// The fields, once the choices are loaded. `current` preselects a code (a reopened ticket's earlier category)
// when there is no suggestion; `withCategory` false leaves the category out (a false alarm is filed by itself).
export function faultFieldsHtml(choices, { current = null, withCategory = true, prefix = "ff" } = {}) {
  const suggestion = choices.suggestion;
  const chosen = suggestion ? suggestion.code : current;
  const options = choices.categories.map((c) => `<option value="${esc(c.code)}"${c.code === chosen ? " selected" : ""}>`
    + `${esc(c.name)}${suggestion && c.code === suggestion.code ? esc(suggestedMark()) : ""}</option>`).join("");
  const category = withCategory
    ? `<div class="field ff-field"><label for="${prefix}-category">${esc(t("Fault category"))} *</label>`
      + `<select id="${prefix}-category" name="fault_category" required><option value=""${chosen ? "" : " selected"}>${esc(t("Choose…"))}</option>${options}</select>`
      + `<div class="ff-hint small" id="${prefix}-hint" aria-live="polite">${hintHtml(suggestion)}</div></div>`
    : "";
  return `<div class="ff" data-ff data-suggested="${esc(suggestion ? suggestion.code : "")}">${category}`
    + `<div class="field ff-field"><label for="${prefix}-root">${esc(t("Root cause (optional)"))}</label>`
    + `<textarea id="${prefix}-root" name="root_cause" rows="2" maxlength="2000" placeholder="${esc(t("Why it failed, if known"))}"></textarea></div>`
    + `<div class="field ff-field"><label>${esc(t("Parts used"))}</label><div class="ff-parts" data-ff-parts></div>`
    + `<button type="button" class="ff-add" data-ff-add>＋ ${esc(t("Add part"))}</button></div></div>`;
}

// Reads the fields: { fields } to send, or { error } to show (the category is required when it is shown).
export function readFaultFields(root) {
  const box = root.querySelector("[data-ff]");
  if (!box) return { fields: {} };
  const fields = {};
  const select = box.querySelector("select[name=fault_category]");
  if (select) {
    if (!select.value) { select.focus(); return { error: t("Choose the fault category.") }; }
    fields.fault_category = select.value;
  }
  const cause = box.querySelector("textarea[name=root_cause]").value.trim();
  if (cause) fields.root_cause = cause;
  const parts = [];
  for (const row of box.querySelectorAll("[data-ff-part]")) {
    const name = row.querySelector("[name=part_name]").value.trim();
    const partNo = row.querySelector("[name=part_no]").value.trim();
    const qtyText = row.querySelector("[name=part_qty]").value.trim();
    if (!name && !partNo) continue; // an empty row is no part
    if (!name) { row.querySelector("[name=part_name]").focus(); return { error: t("Name each part, or remove its row.") }; }
    const qty = Number(qtyText || 1);
    if (!Number.isInteger(qty) || qty < 1 || qty > 999) {
      row.querySelector("[name=part_qty]").focus();
      return { error: t("The quantity is a whole number from 1 to 999.") };
    }
    parts.push(partNo ? { name, part_no: partNo, qty } : { name, qty });
  }
  if (parts.length) fields.parts = parts;
  return { fields };
}

// Adding and removing part rows, and a fresh suggestion while the resolver types (`textSelector` names the text
// field to read, e.g. the findings): the hint follows the words, the choice too until the person picked a
// category themselves, which is never changed for them. Listeners sit on `root`, which outlives the forms.
export function installFaultFields(root, { ticketId, textSelector }) {
  let timer = null;
  let seq = 0;
  root.addEventListener("click", (event) => {
    const add = event.target.closest("[data-ff-add]");
    if (add) {
      const list = add.closest("[data-ff]").querySelector("[data-ff-parts]");
      list.insertAdjacentHTML("beforeend", partRowHtml());
      list.lastElementChild.querySelector("input").focus();
      return;
    }
    const remove = event.target.closest("[data-ff-remove]");
    if (remove) remove.closest("[data-ff-part]").remove();
  });
  root.addEventListener("change", (event) => {
    if (event.target.matches("[data-ff] select[name=fault_category]")) event.target.dataset.touched = "1";
  });
  root.addEventListener("input", (event) => {
    if (!textSelector || !event.target.matches(textSelector)) return;
    const box = root.querySelector("[data-ff]");
    const select = box && box.querySelector("select[name=fault_category]");
    if (!select) return;
    clearTimeout(timer);
    const text = event.target.value.trim();
    timer = setTimeout(async () => {
      const mine = ++seq;
      const id = ticketId();
      let choices;
      try { choices = await loadFaultChoices(id, text); } catch { return; }
      if (mine !== seq || !root.contains(select) || !choices.suggestion) return;
      const code = choices.suggestion.code;
      if (![...select.options].some((o) => o.value === code)) return;
      for (const option of select.options) {
        option.textContent = option.textContent.replace(suggestedMark(), "") + (option.value === code ? suggestedMark() : "");
      }
      if (!select.dataset.touched) select.value = code;
      box.dataset.suggested = code;
      const hint = box.querySelector(".ff-hint");
      if (hint) hint.innerHTML = hintHtml(choices.suggestion);
    }, 500);
  });
}

// A ticket's fault, parts and root cause as label/value pairs for the detail views ([] when none recorded).
export function faultSummary(ticket) {
  const rows = [];
  if (ticket.fault_category_name) rows.push([t("Fault category"), esc(ticket.fault_category_name)]);
  if (ticket.root_cause) rows.push([t("Root cause"), esc(ticket.root_cause)]);
  if (ticket.parts && ticket.parts.length) rows.push([t("Parts used"), partsText(ticket.parts)]);
  else if (ticket.parts_used) rows.push([t("Parts used"), esc(ticket.parts_used)]);
  return rows;
}

// Parts as escaped HTML: 温控传感器 (PN 05-123) ×1 · 保险丝 ×2
export function partsText(parts) {
  return parts.map((p) => `${esc(p.name)}${p.part_no ? ` <span class="mono">(${esc(p.part_no)})</span>` : ""} ×${esc(p.qty)}`).join(" · ");
}
