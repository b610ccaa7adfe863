// Device import: every chosen file is checked as a dry run first; the import button works only on a clean check.
import { confirmDialog } from "/static/js/admin_forms.js";

const texts = JSON.parse(document.getElementById("import-texts").textContent);
const form = document.getElementById("import-form");
const input = form.querySelector("input[type=file]");
const check = document.getElementById("import-check");
const run = document.getElementById("import-run");
const summary = document.getElementById("import-summary");
const errorTable = document.getElementById("import-errors");
const preview = document.getElementById("import-preview");

function fill(table, rows) {
  const body = table.querySelector("tbody");
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      td.textContent = cell ?? "";
      tr.append(td);
    }
    return tr;
  }));
  table.hidden = rows.length === 0;
}

function say(text, ok) {
  summary.textContent = text;
  summary.className = `import-summary ${ok ? "ok" : "bad"}`;
  summary.hidden = false;
}

async function send(dryRun) {
  if (!input.files.length) return null;
  const data = new FormData();
  data.append("file", input.files[0]);
  data.append("dry_run", dryRun ? "1" : "0");
  try {
    const response = await fetch(form.action, { method: "POST", body: data,
      headers: { "X-Requested-With": "medfix", Accept: "application/json" } });
    return await response.json();
  } catch {
    say(texts.failed, false);
    return null;
  }
}

async function dryRun() {
  run.disabled = true;
  run.textContent = run.textContent.replace(/\d+/, "").trim();
  say(texts.checking, true);
  const body = await send(true);
  if (!body) return;
  fill(errorTable, (body.errors || []).map((e) => [e.row ?? "", e.field, e.message]));
  if (!body.ok) {
    fill(preview, []);
    say(body.detail, false);
    return;
  }
  fill(preview, body.rows.map((r, i) => [i + 1, `${r.manufacturer} ${r.model}`, r.serial, r.category,
    r.department ? `${r.hospital} / ${r.department}` : r.hospital]));
  const extra = body.created_departments.length ? ` ${texts.newDepartments}: ${body.created_departments.join("、")}` : "";
  say(body.message + extra, true);
  run.textContent = texts.importN.replace("{0}", body.count);
  run.disabled = body.count === 0;
}

input.addEventListener("change", dryRun);
check.addEventListener("click", dryRun);
run.addEventListener("click", async () => {
  if (!(await confirmDialog(run.textContent + "?", run.textContent))) return;
  run.disabled = true;
  say(texts.importing, true);
  const body = await send(false);
  if (!body) return;
  if (!body.ok) { say(body.detail, false); fill(errorTable, body.errors.map((e) => [e.row ?? "", e.field, e.message])); return; }
  say(body.message, true);
  setTimeout(() => window.location.assign(body.redirect), 800);
});
