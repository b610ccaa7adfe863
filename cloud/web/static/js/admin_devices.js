// Admin device pages: departments follow the chosen hospital, a move shows what it will do before it happens,
// and devices picked in the list are combined into a group.
import { submit } from "/static/js/admin_forms.js";

function followHospital(form) {
  const hospital = form.querySelector("[data-hospital-select]");
  const department = form.querySelector("[data-department-select]");
  if (!hospital || !department) return;
  const sync = (keep) => {
    for (const option of department.querySelectorAll("option[data-hospital]")) {
      option.hidden = option.dataset.hospital !== hospital.value;
      if (option.hidden && option.selected && !keep) department.value = "";
    }
  };
  hospital.addEventListener("change", () => sync(false));
  sync(true);
}

function enableMove(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const params = new URLSearchParams(new FormData(form));
    const response = await fetch(`${form.dataset.plan}?${params}`, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    const box = form.querySelector(".form-error");
    if (!response.ok || !body.ok) {
      box.textContent = body.detail || response.statusText;
      box.hidden = false;
      return;
    }
    box.hidden = true;
    form.dataset.confirm = body.text; // the confirmation says what happens to the group and gateway mappings
    await submit(form);
  });
}

function enableCombine() {
  const open = document.getElementById("combine-open");
  const dialog = document.getElementById("combine-dialog");
  if (!open || !dialog) return;
  const picked = () => [...document.querySelectorAll("#device-table input.pick[data-kind=device]:checked")]
    .map((box) => box.value);
  const refresh = () => {
    const count = picked().length;
    document.querySelectorAll(".pick-count-group").forEach((el) => { el.textContent = String(count); });
    open.disabled = count === 0;
  };
  document.addEventListener("change", (event) => {
    if (event.target.matches("input.pick, #pick-all")) setTimeout(refresh, 0);
  });
  open.addEventListener("click", () => {
    dialog.querySelector("input[name=device_ids]").value = picked().join(",");
    dialog.showModal();
    dialog.querySelector("input[name=name]").focus();
  });
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  refresh();
}

document.querySelectorAll("form").forEach(followHospital);
const move = document.getElementById("move-form");
if (move) enableMove(move);
enableCombine();
