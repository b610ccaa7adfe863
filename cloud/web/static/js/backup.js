// Backup reporting: hospital search inside its geofence, and "my devices".

import * as wxbridge from "/static/js/wxbridge.js";
import { weuiDialog } from "/static/js/weui_dialog.js";

// An API refusal in the page's language: the geofence one from its numbers, others by their known text.
function serverMessage(data, texts) {
  const known = texts.server || {};
  if (data.code === "outside_geofence" && known.outside_geofence) {
    const metres = (m) => (m >= 1000 ? `${(m / 1000).toFixed(m >= 10000 ? 0 : 1)} km` : `${m} m`);
    return known.outside_geofence.replace("{hospital}", data.hospital || "")
      .replace("{distance}", metres(data.distance_m)).replace("{radius}", metres(data.radius_m));
  }
  const hit = Object.keys(known).find((key) => String(data.detail || "").startsWith(key));
  return hit ? known[hit] : (known.fallback || data.detail || texts.outside);
}

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

const HEADERS = { "X-Requested-With": "medfix" };

let wechatReady = null;

async function position(sdk) {
  // Inside WeChat the browser's geolocation is often refused; WeChat's own getLocation is what works there.
  if (sdk && wxbridge.inWeChat()) {
    wechatReady = wechatReady || wxbridge.connect(sdk);
    try {
      await wechatReady;
      return await wxbridge.currentPosition();
    } catch {
      wechatReady = null;  // fall back to the browser's geolocation below
    }
  }
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) { reject(new Error("no geolocation")); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ latitude: p.coords.latitude, longitude: p.coords.longitude }),
      reject, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
}

function deviceRows(devices, texts) {
  const byDepartment = new Map();
  for (const d of devices) {
    const key = d.department || "—";
    if (!byDepartment.has(key)) byDepartment.set(key, []);
    byDepartment.get(key).push(d);
  }
  return [...byDepartment].map(([department, list]) => `
    <div class="weui-cells__title">${esc(department)}</div>
    <div class="weui-cells">${list.map((d) => `
      <a class="weui-cell weui-cell_access device-pick" href="/r/${esc(d.code)}">
        <div class="weui-cell__bd"><p><b>${esc(d.system_number)}</b> ${esc(d.manufacturer)} ${esc(d.model)}</p>
          <p class="muted">${esc(texts.serial)} ${esc(d.serial)}</p></div>
        <div class="weui-cell__ft"><span class="status status-${esc(d.status)}">${esc(texts.status[d.status] || d.status)}</span></div></a>`).join("")}
    </div>`).join("");
}

export function startHospitalSearch(texts) {
  const input = document.getElementById("hospital-q");
  const hits = document.getElementById("hospital-hits");
  const error = document.getElementById("geo-error");
  const list = document.getElementById("device-list");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      if (!q) { hits.innerHTML = ""; return; }
      const response = await fetch(`/api/v1/hospitals/search?q=${encodeURIComponent(q)}`, { headers: HEADERS });
      const found = response.ok ? await response.json() : [];
      hits.innerHTML = found.length ? found.map((h) => `
        <a class="weui-cell weui-cell_access hospital-hit" href="#" data-id="${h.id}">
          <div class="weui-cell__bd"><p>${esc(h.name)}</p><p class="muted">${esc(h.address)}</p></div>
          <div class="weui-cell__ft"></div></a>`).join("") : `<div class="weui-cell muted">${esc(texts.none)}</div>`;
    }, 250);
  });
  hits.addEventListener("click", async (event) => {
    const hit = event.target.closest(".hospital-hit");
    if (!hit) return;
    event.preventDefault();
    error.hidden = true;
    list.innerHTML = `<p class="muted center">${esc(texts.locating)}</p>`;
    let where;
    try {
      where = await position(document.getElementById("hospital-q").dataset.wechatSdk);
    } catch {
      list.innerHTML = "";
      error.textContent = texts.noLocation;
      error.hidden = false;
      return;
    }
    const response = await fetch(`/api/v1/hospitals/${hit.dataset.id}/nearby-devices`, {
      method: "POST", headers: { ...HEADERS, "Content-Type": "application/json" }, body: JSON.stringify(where),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      list.innerHTML = "";
      error.textContent = serverMessage(data, texts);
      error.hidden = false;
      return;
    }
    list.innerHTML = `<div class="weui-cells__title pick-title">${esc(texts.pick)}</div>${deviceRows(data, texts)}`;
    // identify.js offers "拍照识别设备" for this hospital now that the geofence check passed.
    document.dispatchEvent(new CustomEvent("medfix:hospital-located", { detail: { hospital_id: hit.dataset.id, ...where } }));
  });
}

export function startMyDevices(texts) {
  const box = document.getElementById("my-devices");
  async function load() {
    const response = await fetch("/api/v1/me/devices", { headers: HEADERS });
    const entries = response.ok ? await response.json() : [];
    if (!entries.length) { box.innerHTML = `<p class="muted center empty-note">${esc(texts.empty)}</p>`; return; }
    const status = (d) => `<span class="status status-${esc(d.status)}">${esc(texts.status[d.status] || d.status)}</span>`;
    // A device's card is named after the device already: its status sits in the head, not on a second line
    // repeating the name; a group's card lists its devices.
    box.innerHTML = entries.map((e) => `
      <div class="claim-card" data-claim="${e.id}" data-kind="${esc(e.kind)}">
        <div class="claim-card__head"><b>${esc(e.name)}</b>
          ${e.kind === "device" && e.devices.length ? status(e.devices[0]) : ""}
          ${e.open_tickets ? `<span class="badge-open">${e.open_tickets} ${esc(texts.open)}</span>` : ""}</div>
        ${e.kind === "device" ? "" : e.devices.map((d) => `<div class="claim-card__device"><span class="mono">${esc(d.system_number)}</span>
          ${esc(d.model)} ${status(d)}</div>`).join("")}
        ${e.last_ticket ? `<div class="muted small">${esc(texts.last)} <a href="/t/${encodeURIComponent(e.last_ticket)}">${esc(e.last_ticket)}</a></div>` : ""}
        <div class="claim-card__actions">
          <a class="weui-btn weui-btn_mini weui-btn_primary" href="/r/${esc(e.code)}">${esc(texts.report)}</a>
          ${e.devices.length === 1 ? `<a class="weui-btn weui-btn_mini weui-btn_default" href="/groups/device/${e.devices[0].id}">${esc(texts.ask)}</a>` : ""}
          <button class="weui-btn weui-btn_mini weui-btn_default" data-remove="${e.id}" data-name="${esc(e.name)}">${esc(texts.remove)}</button>
        </div></div>`).join("");
    box.querySelectorAll("[data-remove]").forEach((b) => b.addEventListener("click", async () => {
      const sure = await weuiDialog({ title: texts.remove, text: texts.removeAsk.replace("{name}", b.dataset.name),
        ok: texts.remove, cancel: texts.cancel, warn: true });
      if (!sure) return;
      await fetch(`/api/v1/me/claims/${b.dataset.remove}`, { method: "DELETE", headers: HEADERS });
      load();
    }));
  }
  load();
}

export async function claim(body, done) {
  const response = await fetch("/api/v1/me/claims", {
    method: "POST", headers: { ...HEADERS, "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  done(response.ok || response.status === 409);
}
