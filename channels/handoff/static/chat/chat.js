// The customer chat page, on the customer contract only:
//   POST ../webhook                      send a message (Authorization: Bearer <customer_token> after the first)
//   GET  ../customer/messages?after=<id> the messages after an id, and the state (a catch-up without the socket)
//   POST ../customer/cancel              stop waiting for a colleague: back to the assistant
//   WebSocket ../customer/ws             bot, agent and system messages as they happen; first frame
//                                        {"type":"auth","token":…,"after":<last id>} resumes after a drop;
//                                        while waiting, {"type":"queue","position":n} frames give the place.
// The sender id, its customer token and the last message id live in localStorage.

const API = new URL("../", window.location.href);
const KEYS = {
  sender: "handoff.chat.sender",
  token: "handoff.chat.token",
  last: "handoff.chat.last",
  history: "handoff.chat.history",
};
const MAX_HISTORY = 200;
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

const chat = {
  sender: null,
  token: null,
  lastId: null, // the last id the socket delivered: everything up to it is here
  history: [], // rendered messages, oldest first, kept across reloads
  state: "bot",
  agentName: null,
  queuePosition: null, // 1 = next; null while unknown or not waiting
  queueFrames: 0, // queue frames the socket delivered (a later one beats an answer sent before it)
  cancelling: false,
  socket: null,
  retryMs: 500,
  pingTimer: null,
  sending: 0,
};

// -- storage ---------------------------------------------------------------------

function randomId(prefix) {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function load() {
  chat.sender = localStorage.getItem(KEYS.sender);
  if (!chat.sender) {
    chat.sender = randomId("web-");
    localStorage.setItem(KEYS.sender, chat.sender);
  }
  chat.token = localStorage.getItem(KEYS.token);
  chat.lastId = localStorage.getItem(KEYS.last);
  try {
    chat.history = JSON.parse(localStorage.getItem(KEYS.history) || "[]");
  } catch (_) {
    chat.history = [];
  }
  for (const m of chat.history) {
    if (m.agent_name && (m.from === "agent" || m.event === "agent_joined")) chat.agentName = m.agent_name;
  }
}

function save() {
  localStorage.setItem(KEYS.history, JSON.stringify(chat.history.filter((m) => !m.failed).slice(-MAX_HISTORY)));
  if (chat.lastId) localStorage.setItem(KEYS.last, chat.lastId);
}

function forget() {
  for (const key of Object.values(KEYS)) localStorage.removeItem(key);
  disconnect();
  chat.history = [];
  chat.token = null;
  chat.lastId = null;
  chat.agentName = null;
  chat.cancelling = false;
  $("messages").replaceChildren();
  load();
  setState("bot");
  welcome();
}

/** A local greeting for an empty chat (not part of the conversation). */
function welcome() {
  if (chat.history.length === 0) {
    show({ key: "welcome", from: "bot", text: "Hi! Ask me about your order, returns, shipping or payments." });
  }
}

// -- rendering -------------------------------------------------------------------

function icon(paths) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  for (const d of paths) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
  }
  return svg;
}

const BOT_ICON = ["M5 8h14a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2Z", "M12 8V4", "M9 13v2", "M15 13v2"];
const SEND_ICON = ["m22 2-7 20-4-9-9-4Z", "M22 2 11 13"];

function compareIds(a, b) {
  const [am, as] = String(a).split("-").map(Number);
  const [bm, bs] = String(b).split("-").map(Number);
  return am - bm || (as || 0) - (bs || 0);
}

const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function node(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

function initials(name) {
  const words = String(name || "?").split(/\s+/).filter(Boolean);
  return ((words[0] || "?")[0] + (words.length > 1 ? words[1][0] : "")).toUpperCase();
}

function messageNode(m) {
  const item = node("li", `message message--${m.from}${m.id || m.from === "customer" ? "" : " message--local"}`);
  item.dataset.key = m.id || m.key;
  if (m.from === "system") {
    item.append(node("span", "system-note", m.text));
    return item;
  }
  if (m.from === "bot" || m.from === "agent") {
    const avatar = node("span", "message-avatar");
    avatar.setAttribute("aria-hidden", "true");
    if (m.from === "bot") avatar.append(icon(BOT_ICON));
    else avatar.textContent = initials(m.agent_name);
    item.append(avatar);
  }
  const body = node("div", "message-body");
  const who = m.from === "bot" ? "Assistant" : m.from === "agent" ? m.agent_name || "Customer service" : "You";
  const meta = node("span", "message-meta", who);
  if (m.at) {
    const time = node("time", "", clockFormat.format(new Date(m.at)));
    time.dateTime = new Date(m.at).toISOString();
    meta.append(" · ", time);
  }
  body.append(meta, node("div", "bubble", m.text));
  if (m.from === "bot" && Array.isArray(m.buttons) && m.buttons.length) {
    const replies = node("div", "quick-replies");
    for (const button of m.buttons) {
      const choice = node("button", "quick-reply", button.title || button.payload);
      choice.type = "button";
      choice.addEventListener("click", () => send(button.payload || button.title, button.title));
      replies.append(choice);
    }
    body.append(replies);
  }
  if (m.failed) {
    const retry = node("button", "retry", "Not sent · Retry");
    retry.type = "button";
    retry.addEventListener("click", () => resend(m));
    body.append(retry);
  } else if (m.pending) {
    body.append(node("span", "message-state", "Sending…"));
  }
  item.append(body);
  return item;
}

/** Adds (or updates) a message, in id order; pending customer messages go last. */
function show(message) {
  const key = message.id || message.key;
  const list = $("messages");
  const existing = list.querySelector(`[data-key="${CSS.escape(key)}"]`) ||
    (message.key && list.querySelector(`[data-key="${CSS.escape(message.key)}"]`));
  const fresh = messageNode(message);
  if (existing) {
    existing.replaceWith(fresh);
  } else {
    const later = message.id
      ? [...list.children].find((li) => /^\d+-\d+$/.test(li.dataset.key) && compareIds(li.dataset.key, message.id) > 0)
      : null;
    list.insertBefore(fresh, later || null);
  }
  const wrap = $("messages-wrap");
  wrap.scrollTop = wrap.scrollHeight;
}

function remember(message) {
  const key = message.id || message.key;
  const index = chat.history.findIndex((m) => (m.id || m.key) === key || (message.key && m.key === message.key));
  if (index >= 0) chat.history[index] = message;
  else chat.history.push(message);
  chat.history.sort((a, b) => (a.id && b.id ? compareIds(a.id, b.id) : a.id ? -1 : b.id ? 1 : 0));
  save();
}

/** A message from the server (bot, agent or system). */
function receive(message) {
  if (message.from === "agent" && message.agent_name) chat.agentName = message.agent_name;
  if (message.from === "system" && message.agent_name && message.event === "agent_joined") chat.agentName = message.agent_name;
  const earlier = chat.history.find((m) => m.id === message.id);
  if (earlier) {
    if (!earlier.at && message.at) {
      earlier.at = message.at;
      save();
      show(earlier);
    }
    return;
  }
  const entry = {
    id: message.id,
    from: message.from,
    text: message.text,
    at: message.at,
    agent_name: message.agent_name,
    event: message.event,
    buttons: message.buttons,
  };
  remember(entry);
  show(entry);
  renderState();
}

// -- state -------------------------------------------------------------------------

function setState(state) {
  if (state) chat.state = state;
  if (chat.state !== "waiting") chat.queuePosition = null;
  renderState();
}

function setQueuePosition(position) {
  chat.queuePosition = Number.isInteger(position) && position > 0 ? position : null;
  renderState();
}

function queueText(position) {
  if (!position) return "";
  return position === 1 ? "You are number 1 in the queue: you're next." : `You are number ${position} in the queue`;
}

/** Sets a text only when it changed, so a live region announces changes, not repaints. */
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function renderState() {
  const status = $("chat-status");
  const avatar = $("chat-avatar");
  const banner = $("banner");
  const waiting = chat.state === "waiting";
  status.dataset.state = chat.state;
  $("waiting").dataset.active = String(waiting);
  setText($("queue-position"), waiting ? queueText(chat.queuePosition) : "");
  const stop = $("stop-waiting");
  stop.hidden = !waiting;
  stop.disabled = chat.cancelling;
  stop.setAttribute("aria-busy", String(chat.cancelling));
  stop.textContent = chat.cancelling ? "Stopping…" : "Stop waiting";
  if (chat.state === "assigned") {
    const name = chat.agentName || "A colleague";
    $("chat-title").textContent = name;
    $("chat-status-text").textContent = "Customer service · a real person";
    avatar.replaceChildren(document.createTextNode(initials(name)));
    avatar.classList.add("chat-avatar--person");
    banner.hidden = true;
  } else {
    $("chat-title").textContent = "Parcel & Co. assistant";
    avatar.replaceChildren(icon(BOT_ICON));
    avatar.classList.remove("chat-avatar--person");
    if (chat.state === "waiting") {
      $("chat-status-text").textContent = "Waiting for a colleague…";
      setText(banner, "A colleague will join this chat shortly. Please stay here.");
      banner.hidden = false;
    } else {
      $("chat-status-text").textContent = "Assistant · answers instantly";
      banner.hidden = true;
    }
  }
}

// -- sending ------------------------------------------------------------------------

async function post(body) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (chat.token) headers.Authorization = `Bearer ${chat.token}`;
  const response = await fetch(new URL("webhook", API), {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    cache: "no-store",
  });
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  return { status: response.status, data };
}

async function send(text, label) {
  const entry = {
    key: randomId("m-"),
    from: "customer",
    text: label || text,
    payload: text,
    at: Date.now(),
    pending: true,
  };
  show(entry);
  await deliver(entry);
}

function resend(entry) {
  entry.failed = false;
  entry.pending = true;
  show(entry);
  deliver(entry);
}

async function deliver(entry, retried = false) {
  $("chat-error").textContent = "";
  chat.sending += 1;
  if (chat.state === "bot") $("typing").hidden = false;
  const queueFrames = chat.queueFrames;
  let answer;
  try {
    answer = await post({ sender: chat.sender, message: entry.payload, message_id: entry.key });
  } catch (_) {
    answer = { status: 0, data: null };
  } finally {
    chat.sending -= 1;
    $("typing").hidden = chat.sending === 0 ? true : $("typing").hidden;
  }
  const { status, data } = answer;
  if (status === 401 && !retried) {
    // The server does not know this browser's chat (or its token) any more: start a new one.
    forget();
    show(entry);
    return deliver(entry, true);
  }
  if (status !== 200 || !data) {
    entry.pending = false;
    entry.failed = true;
    show(entry);
    $("chat-error").textContent =
      status === 0
        ? "You seem to be offline. Your message was not sent."
        : (data && data.message) || "Something went wrong; your message was not sent.";
    return;
  }
  if (data.customer_token) {
    chat.token = data.customer_token;
    localStorage.setItem(KEYS.token, chat.token);
  }
  const sent = { ...entry, id: data.message_id, pending: false, failed: false };
  delete sent.payload;
  $("messages").querySelector(`[data-key="${CSS.escape(entry.key)}"]`)?.remove();
  remember(sent);
  show(sent);
  for (const message of data.messages || []) receive(message);
  setState(data.state);
  // The answer's place, unless the socket told a newer one while the request ran.
  if (data.state === "waiting" && "queue_position" in data && chat.queueFrames === queueFrames) {
    setQueuePosition(data.queue_position);
  }
  if (!chat.socket) connect();
}

// -- stop waiting --------------------------------------------------------------------

async function stopWaiting() {
  if (chat.cancelling || chat.state !== "waiting" || !chat.token) return;
  const hadFocus = document.activeElement === $("stop-waiting");
  $("chat-error").textContent = "";
  chat.cancelling = true;
  renderState();
  let status = 0;
  let data = null;
  try {
    const response = await fetch(new URL("customer/cancel", API), {
      method: "POST",
      headers: { Authorization: `Bearer ${chat.token}`, Accept: "application/json" },
      cache: "no-store",
    });
    status = response.status;
    data = await response.json().catch(() => null);
  } catch (_) {
    status = 0;
  } finally {
    chat.cancelling = false;
  }
  if (status === 200) setState((data && data.state) || "bot");
  else renderState();
  // The socket brings the assistant's answer; without it (or after a refusal) ask for it.
  if (status !== 200 || !chat.socket || chat.socket.readyState !== WebSocket.OPEN) await catchUp();
  if (chat.state === "waiting") {
    $("chat-error").textContent =
      status === 0
        ? "You seem to be offline. Please try again."
        : (data && data.message) || "Something went wrong; please try again.";
  } else if (hadFocus) {
    $("chat-input").focus(); // the button is gone: the composer is where the customer goes on
  }
}

/** The messages after the last one here, and the current state, over HTTP. */
async function catchUp() {
  if (!chat.token) return;
  const url = new URL("customer/messages", API);
  if (chat.lastId) url.searchParams.set("after", chat.lastId);
  try {
    const response = await fetch(url, {
      headers: { Authorization: `Bearer ${chat.token}`, Accept: "application/json" },
      cache: "no-store",
    });
    if (!response.ok) return;
    const data = await response.json();
    for (const message of data.messages || []) {
      receive(message);
      if (!chat.lastId || compareIds(message.id, chat.lastId) > 0) chat.lastId = message.id;
    }
    save();
    setState(data.state);
  } catch (_) {
    // offline: the socket catches up when it reconnects
  }
}

// -- the live socket ----------------------------------------------------------------

function socketUrl() {
  const url = new URL("customer/ws", API);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function connect() {
  if (!chat.token || chat.socket) return;
  const socket = new WebSocket(socketUrl());
  chat.socket = socket;
  socket.addEventListener("open", () => {
    socket.send(JSON.stringify({ type: "auth", token: chat.token, after: chat.lastId || "0-0" }));
  });
  socket.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    if (frame.type === "ready") {
      chat.retryMs = 500;
      clearInterval(chat.pingTimer);
      chat.pingTimer = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send('{"type":"ping"}'), 25000);
      setState(frame.state);
    } else if (frame.type === "message") {
      receive(frame.message);
      if (!chat.lastId || compareIds(frame.message.id, chat.lastId) > 0) chat.lastId = frame.message.id;
      save();
    } else if (frame.type === "state") {
      setState(frame.state);
    } else if (frame.type === "queue") {
      chat.queueFrames += 1;
      setQueuePosition(frame.position);
    } else if (frame.type === "error") {
      socket.refused = frame.error;
    }
  });
  socket.addEventListener("close", () => {
    clearInterval(chat.pingTimer);
    if (chat.socket !== socket) return;
    chat.socket = null;
    if (socket.refused) return; // unknown or invalid: the next message starts over
    const wait = chat.retryMs;
    chat.retryMs = Math.min(chat.retryMs * 2, 10000);
    setTimeout(connect, wait);
  });
}

function disconnect() {
  const socket = chat.socket;
  chat.socket = null;
  clearInterval(chat.pingTimer);
  if (socket) socket.close(1000, "new chat");
}

// -- wiring ---------------------------------------------------------------------------

function autosize() {
  const input = $("chat-input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 140)}px`;
}

function boot() {
  load();
  $("chat-send").append(icon(SEND_ICON));
  for (const message of chat.history) show(message);
  renderState();
  connect();

  const input = $("chat-input");
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    autosize();
    send(text);
    input.focus();
  });
  input.addEventListener("input", autosize);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("chat-form").requestSubmit();
    }
  });
  $("stop-waiting").addEventListener("click", stopWaiting);
  $("new-chat").addEventListener("click", () => {
    forget();
    $("chat-error").textContent = "";
    input.focus();
  });
  welcome();
}

boot();
