// Device photos: the admin's photo page, and "拍照识别设备" on the backup-report pages.

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

const HEADERS = { "X-Requested-With": "medfix" };
const MAX_SIDE = 2000;  // phone photos are 4000 px and more: smaller uploads faster, and OCR needs no more

async function shrink(file) {
  // Re-encode large photos in the browser; anything that fails goes up as it is (the server checks it).
  try {
    if (!file.type.startsWith("image/") || file.type === "image/gif") return file;
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && file.size < 2_000_000) return file;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
    return blob || file;
  } catch {
    return file;
  }
}

// ---- admin: a device's photos ----

export function startDevicePhotos(photos, texts) {
  const grid = document.getElementById("photo-grid");
  const input = document.getElementById("photo-input");
  const error = document.getElementById("photo-error");
  const deviceId = grid.dataset.device;
  const canEdit = grid.dataset.edit === "1";
  let list = photos;

  function draw() {
    grid.innerHTML = list.length ? list.map((p) => `
      <figure class="photo-card" data-photo="${p.id}">
        <a href="${esc(p.url)}" target="_blank" rel="noopener"><img src="${esc(p.thumbnail_url)}" alt="" loading="lazy"></a>
        <figcaption class="photo-meta"><span>${p.width}×${p.height}</span>
          ${canEdit ? `<button type="button" data-remove="${p.id}">${esc(texts["Remove"])}</button>` : ""}</figcaption>
      </figure>`).join("") : `<div class="empty">${esc(texts["No photos yet."])}</div>`;
  }

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
  }

  grid.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-remove]");
    if (!button || !confirm(texts["Remove this photo?"])) return;
    const response = await fetch(`/api/v1/devices/${deviceId}/photos/${button.dataset.remove}`,
      { method: "DELETE", headers: HEADERS });
    if (!response.ok) { fail(texts["Could not remove"]); return; }
    list = list.filter((p) => String(p.id) !== button.dataset.remove);
    draw();
  });

  input?.addEventListener("change", async () => {
    error.hidden = true;
    for (const file of [...input.files]) {
      const pending = document.createElement("div");
      pending.className = "photo-card pending";
      pending.textContent = texts["Uploading…"];
      grid.querySelector(".empty")?.remove();
      grid.append(pending);
      const form = new FormData();
      form.append("photo", file);
      const response = await fetch(`/api/v1/devices/${deviceId}/photos`, { method: "POST", headers: HEADERS, body: form });
      const data = await response.json().catch(() => ({}));
      pending.remove();
      if (!response.ok) { fail(`${file.name}: ${data.detail || texts["Upload failed"]}`); continue; }
      list = [...list, data];
      draw();
    }
    input.value = "";
  });
  draw();
}

// ---- backup-report pages: find a device from a photo ----

function candidateCard(match, texts, single) {
  const picture = match.thumbnail_url
    ? `<img src="${esc(match.thumbnail_url)}" alt="">`
    : `<span class="idp-card__noimg" aria-hidden="true">▣</span>`;
  const score = single ? texts.byNameplate : `${texts.similarity} ${Math.round(match.score * 100)}%`;
  return `
    <a class="idp-card" href="${esc(match.url)}" data-device="${match.device_id}">
      <div class="idp-card__img">${picture}</div>
      <div class="idp-card__body">
        <div class="idp-card__no mono">${esc(match.system_number)}</div>
        <div>${esc(match.manufacturer)} ${esc(match.model)}</div>
        <div class="muted">${esc(match.department || "")}</div>
        <div class="idp-card__score">${esc(score)}</div>
      </div>
      <div class="idp-card__go">${esc(texts.report)} ›</div>
    </a>`;
}

export function startPhotoIdentify(context = () => ({})) {
  const input = document.getElementById("identify-photo");
  const box = document.getElementById("identify-result");
  if (!input || !box) return;
  const texts = JSON.parse(document.getElementById("identify-box").dataset.texts);
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    box.innerHTML = `<div class="idp-wait"><i class="weui-loading"></i> ${esc(texts.reading)}</div>`;
    const form = new FormData();
    form.append("photo", await shrink(file), "photo.jpg");
    for (const [key, value] of Object.entries(context() || {})) {
      if (value !== null && value !== undefined) form.append(key, value);
    }
    let data = {};
    let ok = false;
    try {
      const response = await fetch("/api/v1/identify/photo", { method: "POST", headers: HEADERS, body: form });
      data = await response.json().catch(() => ({}));
      ok = response.ok;
    } catch {
      data = { detail: texts.failed };
    }
    input.value = "";
    if (!ok) {
      box.innerHTML = `<div class="form-error idp-error" role="alert">${esc(data.detail || texts.failed)}</div>`;
      return;
    }
    if (!data.matches.length) {
      box.innerHTML = `<div class="form-error idp-error" role="alert">${esc(data.message)}</div>`;
      return;
    }
    const single = data.method === "nameplate";
    box.innerHTML = `
      <div class="weui-cells__title">${esc(single ? texts.found : texts.pick)}</div>
      <div class="idp-list">${data.matches.map((m) => candidateCard(m, texts, single)).join("")}</div>
      ${single && data.text ? `<details class="idp-text"><summary>${esc(texts.ocrText)}</summary><pre>${esc(data.text)}</pre></details>` : ""}`;
  });
}

// On the by-hospital page the button appears once the user has picked the hospital and passed the geofence
// (backup.js announces that with the event below): the photo is then matched against that hospital's devices.
export function startHospitalPhotoIdentify() {
  let where = null;
  document.addEventListener("medfix:hospital-located", (event) => {
    where = event.detail;
    document.getElementById("identify-box").hidden = false;
  });
  startPhotoIdentify(() => where);
}
