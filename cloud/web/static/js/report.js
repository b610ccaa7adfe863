// The repair form: photos and a voice note upload at once; submission is idempotent across retries.
// Inside WeChat the same form uses the JS-SDK for the camera and the microphone (wxbridge.js).

import * as wxbridge from "/static/js/wxbridge.js";

const MAX_PHOTOS = 9;
const MAX_VOICE_SECONDS = 60;

function el(id) { return document.getElementById(id); }

function showError(text) {
  const box = el("form-error");
  box.textContent = text;
  box.hidden = !text;
}

// The server's messages in the page's language: the known ones by the English text they start with.
let SERVER = {};
export function localMessage(detail) {
  const text = String(detail || "");
  const hit = Object.keys(SERVER).find((key) => key !== "fallback" && text.startsWith(key));
  return hit ? SERVER[hit] : (SERVER.fallback && /^[\x00-\x7f]*$/.test(text) && document.documentElement.lang !== "en"
    ? SERVER.fallback : text);
}

// A mainland mobile or a landline with area code (as the server checks it, cloud/tickets/schemas.py).
function validPhone(text) {
  const compact = text.replace(/[\s()（）]/g, "").replace(/—/g, "-");
  return /^(?:\+?86)?1[3-9]\d{9}$/.test(compact.replace(/-/g, "")) || /^0\d{2,3}-?[1-9]\d{6,7}(?:-\d{1,6})?$/.test(compact);
}

function fieldError(name, text) {
  const box = el(`err-${name}`);
  if (!box) return;
  box.textContent = text || "";
  box.hidden = !text;
  el(`cell-${name}`)?.classList.toggle("weui-cell_warn", Boolean(text));
}

function checkContact(texts, body) {
  const problems = {};
  if (!body.reporter_name) problems.reporter_name = texts["contact.name_required"];
  if (!body.reporter_phone) problems.reporter_phone = texts["contact.phone_required"];
  else if (!validPhone(body.reporter_phone)) problems.reporter_phone = texts["contact.phone_format"];
  fieldError("reporter_name", problems.reporter_name);
  fieldError("reporter_phone", problems.reporter_phone);
  const first = Object.keys(problems)[0];
  if (first) el(first)?.focus();
  return !first;
}

async function upload(file, kind, extra = {}) {
  const body = new FormData();
  body.append("file", file, file.name || `${kind}.bin`);
  body.append("kind", kind);
  for (const [key, value] of Object.entries(extra)) {
    if (value !== undefined && value !== null && value !== "") body.append(key, String(value));
  }
  const response = await fetch("/api/v1/uploads", {
    method: "POST", body, headers: { "X-Requested-With": "medfix" },
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(localMessage(data.detail) || `HTTP ${response.status}`);
  return data;
}

// One key per filled-in form: a double tap or a retry after a lost answer repeats the same submission.
function idempotencyKey(code) {
  const name = `medfix-report:${code}`;
  let key = sessionStorage.getItem(name);
  if (!key) {
    key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
    sessionStorage.setItem(name, key);
  }
  return key;
}

function photos(texts, state) {
  const input = el("photo-input");
  const list = el("thumbs");
  const count = el("photo-count");
  const refresh = () => {
    count.textContent = `${state.photos.length}/${MAX_PHOTOS}`;
    el("add-photo").hidden = state.photos.length >= MAX_PHOTOS;
  };
  const addStored = (stored, src) => {
    const item = document.createElement("li");
    item.className = "thumb";
    item.dataset.uploadId = stored.id;
    item.innerHTML = `<img alt="">`;
    item.querySelector("img").src = src;
    const ref = { id: stored.id, key: stored.key };
    state.photos.push(ref);
    list.append(item);
    refresh();
  };
  if (state.wechat) {
    // WeChat's own picker (camera or album); the photos are fetched by the server from WeChat at once.
    el("add-photo").addEventListener("click", async (event) => {
      event.preventDefault();
      try {
        state.pending += 1;
        for (const { localId, stored } of await wxbridge.choosePhotos(MAX_PHOTOS - state.photos.length)) {
          addStored(stored, localId);
        }
      } catch (error) {
        if (error.message !== "cancelled") showError(`${texts.uploadFailed}: ${error.message || error.errMsg}`);
      } finally {
        state.pending -= 1;
      }
    });
  }
  input.addEventListener("change", async () => {
    const files = [...input.files].slice(0, MAX_PHOTOS - state.photos.length);
    input.value = "";
    for (const file of files) {
      const item = document.createElement("li");
      item.className = "thumb uploading";
      item.innerHTML = `<img alt=""><span class="thumb__state">${texts.uploading}</span>`;
      item.querySelector("img").src = URL.createObjectURL(file);
      list.append(item);
      state.pending += 1;
      try {
        const stored = await upload(file, "photo");
        const ref = { id: stored.id, key: stored.key };
        state.photos.push(ref);
        item.classList.remove("uploading");
        item.dataset.uploadId = stored.id;
        item.querySelector(".thumb__state").remove();
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "thumb__remove";
        remove.setAttribute("aria-label", texts.remove);
        remove.textContent = "×";
        remove.addEventListener("click", () => {
          state.photos = state.photos.filter((p) => p !== ref);
          item.remove();
          refresh();
        });
        item.append(remove);
      } catch (error) {
        item.classList.add("failed");
        item.querySelector(".thumb__state").textContent = texts.uploadFailed;
        showError(`${texts.uploadFailed}: ${error.message}`);
        setTimeout(() => item.remove(), 4000);
      } finally {
        state.pending -= 1;
        refresh();
      }
    }
  });
  refresh();
}

function voice(texts, state) {
  const button = el("record");
  const transcript = el("transcript");
  const hint = el("voice-hint");
  let recorder = null;
  let chunks = [];
  let started = 0;
  let timer = null;
  let recognition = null;

  const stop = () => {
    if (recorder && recorder.state === "recording") recorder.stop();
    if (recognition) { try { recognition.stop(); } catch { /* already stopped */ } }
    clearTimeout(timer);
    button.classList.remove("recording");
    button.textContent = texts.holdToTalk;
  };

  const start = async (event) => {
    event.preventDefault();
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      hint.textContent = texts.noRecording;
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      hint.textContent = texts.micDenied;
      return;
    }
    chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      const seconds = Math.max(1, Math.round((Date.now() - started) / 1000));
      const blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
      el("voice-audio").src = URL.createObjectURL(blob);
      el("voice").hidden = false;
      transcript.hidden = false;
      hint.textContent = texts.uploading;
      state.pending += 1;
      try {
        const stored = await upload(new File([blob], "voice.webm", { type: blob.type }), "voice",
          { duration_s: Math.min(seconds, MAX_VOICE_SECONDS) });
        state.voice = { id: stored.id, key: stored.key, seconds };
        hint.textContent = `${seconds}″`;
      } catch (error) {
        hint.textContent = `${texts.uploadFailed}: ${error.message}`;
        el("voice").hidden = true;
      } finally {
        state.pending -= 1;
      }
    };
    started = Date.now();
    recorder.start(250);
    button.classList.add("recording");
    button.textContent = texts.releaseToSend;
    timer = setTimeout(stop, MAX_VOICE_SECONDS * 1000);
    // The browser's own speech recognition, where it has one, pre-fills an editable transcript.
    const Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
    if (Recognition) {
      recognition = new Recognition();
      recognition.lang = document.documentElement.lang || "zh-CN";
      recognition.continuous = true;
      recognition.onresult = (e) => {
        transcript.value = [...e.results].map((r) => r[0].transcript).join("");
        transcript.hidden = false;
      };
      try { recognition.start(); } catch { recognition = null; }
    }
  };

  if (state.wechat) {
    let began = 0;
    button.addEventListener("pointerdown", async (event) => {
      event.preventDefault();
      began = Date.now();
      button.classList.add("recording");
      button.textContent = texts.releaseToSend;
      try { await wxbridge.startRecording(); } catch { hint.textContent = texts.micDenied; }
    });
    button.addEventListener("pointerup", async () => {
      button.classList.remove("recording");
      button.textContent = texts.holdToTalk;
      const seconds = Math.min(MAX_VOICE_SECONDS, Math.max(1, Math.round((Date.now() - began) / 1000)));
      hint.textContent = texts.uploading;
      state.pending += 1;
      try {
        const { localId, stored, transcript: words } = await wxbridge.stopRecording(seconds);
        state.voice = { id: stored.id, key: stored.key, seconds, localId };
        transcript.value = words;
        transcript.hidden = false;
        el("voice").hidden = false;
        el("voice-audio").hidden = true;  // WeChat plays its own recording
        hint.textContent = `${seconds}″`;
        hint.onclick = () => wxbridge.play(localId);
      } catch (error) {
        hint.textContent = `${texts.uploadFailed}: ${error.message || error.errMsg}`;
      } finally {
        state.pending -= 1;
      }
    });
    return;
  }
  button.addEventListener("pointerdown", start);
  button.addEventListener("pointerup", stop);
  button.addEventListener("pointerleave", stop);
  button.addEventListener("pointercancel", stop);
  el("voice-remove").addEventListener("click", () => {
    state.voice = null;
    el("voice").hidden = true;
    transcript.value = "";
    transcript.hidden = true;
    hint.textContent = texts.voiceHint;
  });
}

export async function startReportForm(texts) {
  const form = el("report-form");
  const state = { photos: [], voice: null, pending: 0, wechat: false };
  if (wxbridge.inWeChat() && form.dataset.wechatSdk) {
    try {
      await wxbridge.connect(form.dataset.wechatSdk);
      state.wechat = true;
    } catch (error) {
      console.warn("WeChat JS-SDK unavailable, using the browser's own pickers", error);
    }
  }
  SERVER = texts.server || {};
  photos(texts, state);
  voice(texts, state);
  // A field's message goes as soon as the field is changed.
  for (const name of ["description", "reporter_name", "reporter_phone"]) {
    el(name)?.addEventListener("input", () => fieldError(name, ""));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const data = new FormData(form);
    const description = (data.get("description") || "").trim();
    // Said at the field itself (the form's message sits by the button, off-screen once the field is focused).
    if (!description) { fieldError("description", texts.describe); el("description").focus(); return; }
    fieldError("description", "");
    if (state.pending > 0) { showError(texts.waitUploads); return; }
    const member = document.querySelector("input[name=member]:checked");
    const body = {
      qr_code: form.dataset.code,
      description,
      urgency: data.get("urgency"),
      reporter_name: (data.get("reporter_name") || "").trim(),
      reporter_phone: (data.get("reporter_phone") || "").trim(),
      attachments: state.photos.map(({ id, key }) => ({ id, key })),
    };
    const transcriptText = (data.get("transcript") || "").trim();
    if (state.voice) {
      body.attachments.push({ id: state.voice.id, key: state.voice.key, transcript: transcriptText || null });
    }
    if (!checkContact(texts, body)) return;
    if (form.dataset.groupId) {
      body.group_id = Number(form.dataset.groupId);
      if (member && member.value) body.device_id = Number(member.value);
    } else {
      body.device_id = Number(form.dataset.deviceId);
    }
    const button = el("submit");
    button.classList.add("weui-btn_loading");
    button.disabled = true;
    try {
      const response = await fetch("/api/v1/tickets", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Requested-With": "medfix",
          "Idempotency-Key": idempotencyKey(form.dataset.code) },
        body: JSON.stringify(body),
      });
      const result = await response.json().catch(() => ({}));
      if (!response.ok) {
        // Contact problems go next to their fields, in the page's language.
        const contact = (result.errors || []).filter((e) => e.field === "reporter_name" || e.field === "reporter_phone");
        for (const e of contact) {
          fieldError(e.field, e.field === "reporter_name" ? texts["contact.name_required"]
            : (/format|mainland/.test(e.message) ? texts["contact.phone_format"] : texts["contact.phone_required"]));
        }
        if (contact.length) {
          el(contact[0].field)?.focus();
          throw new Error(localMessage(result.detail));
        }
        const fields = (result.errors || []).map((e) => e.message).join("; ");
        throw new Error(localMessage(result.detail) || fields || `HTTP ${response.status}`);
      }
      sessionStorage.removeItem(`medfix-report:${form.dataset.code}`);
      const url = new URL(result.reporter_url);
      window.location.assign(url.pathname + url.search);
    } catch (error) {
      // Keep everything as it is: the retry reuses the same Idempotency-Key and creates no duplicate.
      showError(`${texts.submitFailed}: ${error.message}`);
      button.classList.remove("weui-btn_loading");
      button.disabled = false;
    }
  });
}
