// Small DOM helpers shared by the console: elements, icons, times, avatars.

const SVG = "http://www.w3.org/2000/svg";

// Stroke icons on a 24×24 grid: [element, attributes] pairs.
const ICONS = {
  bell: [
    ["path", { d: "M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" }],
    ["path", { d: "M10.3 21a1.94 1.94 0 0 0 3.4 0" }],
  ],
  bellOff: [
    ["path", { d: "M8.7 3A6 6 0 0 1 18 8c0 2.7.5 4.6 1.1 6" }],
    ["path", { d: "M17 17H3s3-2 3-9a4.7 4.7 0 0 1 .3-1.7" }],
    ["path", { d: "M10.3 21a1.94 1.94 0 0 0 3.4 0" }],
    ["path", { d: "m2 2 20 20" }],
  ],
  logout: [
    ["path", { d: "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4" }],
    ["path", { d: "m16 17 5-5-5-5" }],
    ["path", { d: "M21 12H9" }],
  ],
  close: [
    ["path", { d: "M18 6 6 18" }],
    ["path", { d: "m6 6 12 12" }],
  ],
  back: [
    ["path", { d: "M19 12H5" }],
    ["path", { d: "m12 19-7-7 7-7" }],
  ],
  info: [
    ["circle", { cx: 12, cy: 12, r: 10 }],
    ["path", { d: "M12 16v-4" }],
    ["path", { d: "M12 8h.01" }],
  ],
  bot: [
    ["rect", { x: 3, y: 8, width: 18, height: 12, rx: 3 }],
    ["path", { d: "M12 8V4" }],
    ["circle", { cx: 12, cy: 3, r: 1 }],
    ["path", { d: "M9 13v2" }],
    ["path", { d: "M15 13v2" }],
  ],
  user: [
    ["circle", { cx: 12, cy: 8, r: 4 }],
    ["path", { d: "M4 21a8 8 0 0 1 16 0" }],
  ],
  headset: [
    ["path", { d: "M3 14v-2a9 9 0 0 1 18 0v2" }],
    ["path", { d: "M21 14v3a2 2 0 0 1-2 2h-1v-7h3" }],
    ["path", { d: "M3 14v3a2 2 0 0 0 2 2h1v-7H3" }],
  ],
  send: [
    ["path", { d: "m22 2-7 20-4-9-9-4Z" }],
    ["path", { d: "M22 2 11 13" }],
  ],
  tag: [
    ["path", { d: "M12.6 2.6A2 2 0 0 0 11.2 2H4a2 2 0 0 0-2 2v7.2a2 2 0 0 0 .6 1.4l8.7 8.7a2.4 2.4 0 0 0 3.4 0l6.6-6.6a2.4 2.4 0 0 0 0-3.4Z" }],
    ["circle", { cx: 7.5, cy: 7.5, r: 1 }],
  ],
  check: [["path", { d: "M20 6 9 17l-5-5" }]],
  clock: [
    ["circle", { cx: 12, cy: 12, r: 10 }],
    ["path", { d: "M12 6v6l4 2" }],
  ],
  chart: [
    ["path", { d: "M3 3v18h18" }],
    ["path", { d: "M8 17v-5" }],
    ["path", { d: "M13 17V8" }],
    ["path", { d: "M18 17v-8" }],
  ],
  refresh: [
    ["path", { d: "M21 12a9 9 0 1 1-3-6.7L21 8" }],
    ["path", { d: "M21 3v5h-5" }],
  ],
  settings: [
    ["path", { d: "M12.22 2h-.44a2 2 0 0 0-2 2v.18a2 2 0 0 1-1 1.73l-.43.25a2 2 0 0 1-2 0l-.15-.08a2 2 0 0 0-2.73.73l-.22.38a2 2 0 0 0 .73 2.73l.15.1a2 2 0 0 1 1 1.72v.51a2 2 0 0 1-1 1.74l-.15.09a2 2 0 0 0-.73 2.73l.22.38a2 2 0 0 0 2.73.73l.15-.08a2 2 0 0 1 2 0l.43.25a2 2 0 0 1 1 1.73V20a2 2 0 0 0 2 2h.44a2 2 0 0 0 2-2v-.18a2 2 0 0 1 1-1.73l.43-.25a2 2 0 0 1 2 0l.15.08a2 2 0 0 0 2.73-.73l.22-.39a2 2 0 0 0-.73-2.73l-.15-.08a2 2 0 0 1-1-1.74v-.5a2 2 0 0 1 1-1.74l.15-.09a2 2 0 0 0 .73-2.73l-.22-.38a2 2 0 0 0-2.73-.73l-.15.08a2 2 0 0 1-2 0l-.43-.25a2 2 0 0 1-1-1.73V4a2 2 0 0 0-2-2z" }],
    ["circle", { cx: 12, cy: 12, r: 3 }],
  ],
  plus: [
    ["path", { d: "M5 12h14" }],
    ["path", { d: "M12 5v14" }],
  ],
  inbox: [
    ["path", { d: "M22 12h-6l-2 3h-4l-2-3H2" }],
    ["path", { d: "M5.45 5.11 2 12v6a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2v-6l-3.45-6.89A2 2 0 0 0 16.76 4H7.24a2 2 0 0 0-1.79 1.11z" }],
  ],
};

export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const [tag, attributes] of ICONS[name]) {
    const part = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) part.setAttribute(key, String(value));
    svg.appendChild(part);
  }
  return svg;
}

/** el("li", {class: "x", dataset: {id: 1}, onclick: f}, child, "text", …) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function setIcon(button, name, label) {
  button.replaceChildren(icon(name));
  if (label) {
    button.setAttribute("aria-label", label);
    button.title = label;
  }
}

// -- times -----------------------------------------------------------------------

export function duration(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, "0")}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${String(minutes % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function clock(at) {
  if (!at) return "";
  const date = new Date(at);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay ? clockFormat.format(date) : `${dayFormat.format(date)}, ${clockFormat.format(date)}`;
}

export function fullTime(at) {
  return at ? fullFormat.format(new Date(at)) : "—";
}

// -- ids ---------------------------------------------------------------------------

/** Stream ids ("<ms>-<seq>") compared in order. */
export function compareIds(a, b) {
  const [am, as] = String(a).split("-").map(Number);
  const [bm, bs] = String(b).split("-").map(Number);
  return am - bm || (as || 0) - (bs || 0);
}

const AVATAR_COLOURS = ["#2563eb", "#7c3aed", "#db2777", "#ea580c", "#0d9488", "#4f46e5", "#0891b2", "#65a30d"];

/** A coloured circle: a person's initials, or (for customers, known by an id) an icon. */
export function avatarFor(node, name, { initials = true } = {}) {
  const text = String(name || "?");
  let hash = 0;
  for (const char of text) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  if (initials) {
    const words = text.split(/[^A-Za-z0-9]+/).filter(Boolean);
    const letters = words.length > 1 ? words[0][0] + words[1][0] : (words[0] || "?").slice(0, 2);
    node.textContent = letters.toUpperCase();
  } else {
    node.replaceChildren(icon("user", "icon avatar-icon"));
  }
  node.style.setProperty("--avatar", AVATAR_COLOURS[hash % AVATAR_COLOURS.length]);
  return node;
}
