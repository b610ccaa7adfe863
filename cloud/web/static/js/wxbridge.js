// Inside WeChat the repair form uses the JS-SDK (chooseImage/uploadImage, startRecord/uploadVoice,
// translateVoice); media_ids go to /wechat/media, which records them and answers like /api/v1/uploads (state
// "pending"); the server fetches and converts them in the background (cloud/wechat/media_worker.py).

export function inWeChat() {
  return /MicroMessenger/i.test(navigator.userAgent);
}

function call(name, options = {}) {
  return new Promise((resolve, reject) => {
    window.wx[name]({ ...options, success: resolve, fail: reject, cancel: () => reject(new Error("cancelled")) });
  });
}

function loadSdk(src) {
  if (window.wx) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error("the WeChat JS-SDK did not load"));
    document.head.append(script);
  });
}

export async function connect(sdkUrl) {
  await loadSdk(sdkUrl);
  const url = location.href.split("#")[0];
  const response = await fetch(`/wechat/jssdk-config?url=${encodeURIComponent(url)}`);
  if (!response.ok) throw new Error(`jssdk-config: HTTP ${response.status}`);
  const config = await response.json();
  await new Promise((resolve, reject) => {
    window.wx.config({ debug: false, ...config });
    window.wx.ready(resolve);
    window.wx.error(reject);
  });
}

async function keep(mediaId, kind, extra = {}) {
  const response = await fetch("/wechat/media", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Requested-With": "medfix" },
    body: JSON.stringify({ media_id: mediaId, kind, ...extra }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

export async function choosePhotos(room) {
  const chosen = await call("chooseImage", { count: room, sizeType: ["compressed"], sourceType: ["camera", "album"] });
  const results = [];
  for (const localId of chosen.localIds) {
    const { serverId } = await call("uploadImage", { localId, isShowProgressTips: 1 });
    results.push({ localId, stored: await keep(serverId, "photo") });
  }
  return results;
}

export function startRecording() {
  return call("startRecord");
}

export async function stopRecording(seconds) {
  const { localId } = await call("stopRecord");
  const [uploaded, words] = await Promise.all([
    call("uploadVoice", { localId, isShowProgressTips: 1 }),
    call("translateVoice", { localId, isShowProgressTips: 0 }).catch(() => ({ translateResult: "" })),
  ]);
  const transcript = (words.translateResult || "").trim();
  const stored = await keep(uploaded.serverId, "voice", { duration_s: seconds, transcript: transcript || null });
  return { localId, stored, transcript };
}

export function play(localId) {
  return call("playVoice", { localId });
}

export async function currentPosition() {
  const where = await call("getLocation", { type: "wgs84" });
  return { latitude: where.latitude, longitude: where.longitude };
}
