// Times in the hospital's time zone (the server passes it; Asia/Shanghai by default), never the browser's own.
export const DEFAULT_TIME_ZONE = "Asia/Shanghai";

const formats = new Map();

function formatter(timeZone, withDate) {
  const key = `${timeZone}|${withDate}`;
  if (!formats.has(key)) {
    const options = { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
    formats.set(key, new Intl.DateTimeFormat("zh-CN", options));
  }
  return formats.get(key);
}

// An ISO string, epoch milliseconds or Date as "2026-12-02 18:30" (or "18:30" with withDate false).
export function formatTime(value, { timeZone = DEFAULT_TIME_ZONE, withDate = true } = {}) {
  if (value === null || value === undefined || value === "") return "";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  const parts = Object.fromEntries(formatter(timeZone, withDate).formatToParts(date).map((p) => [p.type, p.value]));
  const clock = `${parts.hour}:${parts.minute}`;
  return withDate ? `${parts.year}-${parts.month}-${parts.day} ${clock}` : clock;
}
