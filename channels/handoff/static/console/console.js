// The agent console: Waiting / Live / Mine / All, a conversation with its
// transcript, Start Chat, the composer, Assign to Bot and Add to training.
// It speaks only the public HTTP contract and the agents' WebSocket.

import { AgentApi, ApiError, LiveFeed } from "./api.js";
import { SettingsView } from "./settings.js";
import { StatsView } from "./stats.js";
import { INTENT_PATTERN, TRAINER_ROLES, TrainingView, entitySpans } from "./training.js";
import { avatarFor, clock, compareIds, duration, el, fullTime, icon, setIcon } from "./ui.js";

const TOKEN_KEY = "handoff.console.token";
const NOTICE_KEY = "handoff.console.signin-notice";
const MUTED_KEY = "handoff.console.muted";
const VIEWS = ["waiting", "live", "mine", "all"];
const TITLE = "Handoff console";
const REASONS = {
  nlu_fallback: "The bot did not understand",
  request_human: "Asked for a person",
  recovered: "Recovered handoff",
};
const EMPTY_TEXT = {
  waiting: "Nobody is waiting. New customers the bot cannot help appear here.",
  live: "The bot is not talking to anyone right now.",
  mine: "You are not chatting with anyone. Start a chat from Waiting.",
  all: "No conversations yet.",
};
const HINTS = {
  waiting: "Longest waiting first",
  live: "The bot is handling these now",
  mine: "Customers you are chatting with",
  all: "Every conversation, latest first",
};

const $ = (id) => document.getElementById(id);

const state = {
  api: null,
  feed: null,
  me: null,
  view: "waiting",
  lists: { waiting: [], live: [], mine: [], all: [] },
  loaded: false,
  openId: null,
  current: null, // the open conversation's summary
  messages: new Map(), // id -> message of the open conversation
  unread: new Set(),
  trained: new Map(), // message id -> intent (this session)
  intents: null,
  eventCount: 0,
  refreshTimer: null,
  deferred: 0,
  audio: null,
  muted: localStorage.getItem(MUTED_KEY) === "1",
  presence: "online", // the agent's own status as the server confirmed it: only online agents are notified
  trainingFor: null,
  stats: null, // the Stats view
  settings: null, // the Settings view (admins only)
  training: null, // the Training view (trainers, supervisors, admins)
  canned: null, // the canned responses, loaded on first use
  picker: { open: false, items: [], active: 0 },
  customer: {}, // the open conversation's customer details
  cannedEditing: null, // id of the canned response being edited
  claiming: new Set(), // ids this console is claiming (a claim of ours not among them was auto-assigned)
};

const STAFF = ["supervisor", "admin"];

// -- start ------------------------------------------------------------------------

function boot() {
  setIcon($("signout"), "logout", "Sign out");
  setIcon($("back-button"), "back", "Back to the list");
  setIcon($("close-button"), "close", "Close conversation");
  setIcon($("details-toggle"), "info", "Customer details");
  $("send-button").prepend(icon("send"));
  for (const node of document.querySelectorAll(".empty-illustration")) node.replaceChildren(icon("inbox"));
  renderSoundSwitch();
  wireStaticControls();
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) startSession(token);
  else showSignIn(sessionStorage.getItem(NOTICE_KEY));
  sessionStorage.removeItem(NOTICE_KEY);
  setInterval(tick, 1000);
}

function showSignIn(message) {
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("token-input").focus();
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token-input").value.trim();
  const error = $("signin-error");
  if (!token) {
    error.textContent = "Paste your agent token first.";
    return;
  }
  $("signin-button").disabled = true;
  error.textContent = "";
  try {
    const me = await new AgentApi(token).me();
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    await startSession(token, me);
  } catch (failure) {
    error.textContent =
      failure instanceof ApiError && failure.status === 401
        ? `That token was not accepted: ${failure.message}`
        : `Cannot sign in: ${failure.message}`;
  } finally {
    $("signin-button").disabled = false;
  }
}

async function startSession(token, knownMe) {
  state.api = new AgentApi(token);
  try {
    state.me = knownMe || (await state.api.me());
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) return signOut("Your token is no longer valid; sign in again.");
    showSignIn(`Cannot reach the server: ${failure.message}`);
    return;
  }
  $("signin").hidden = true;
  $("app").hidden = false;
  $("agent-name").textContent = state.me.name;
  $("agent-role").textContent = state.me.role;
  avatarFor($("agent-avatar"), state.me.name);
  $("canned-button").hidden = !STAFF.includes(state.me.role);
  loadPresence();
  selectView(state.view, { focus: false });
  state.stats = new StatsView({
    api: state.api,
    openConversation: (id) => openConversation(id, { focusPane: true }),
    addToTraining: (message, trigger, conversation) => openTraining(message, trigger, conversation),
    trainedAs: (id) => state.trained.get(id),
    failed: (failure) => failed(failure),
    onToggle: (open) => paneViewShown(open, state.stats),
  });
  if (state.me.role === "admin") {
    state.settings = new SettingsView({
      api: state.api,
      failed: (failure) => failed(failure),
      onToggle: (open) => paneViewShown(open, state.settings),
    });
  }
  if (TRAINER_ROLES.includes(state.me.role)) {
    state.training = new TrainingView({
      api: state.api,
      openConversation: (id) => openConversation(id, { focusPane: true }),
      intents: () => domainIntents(),
      failed: (failure) => failed(failure),
      onToggle: (open) => paneViewShown(open, state.training),
    });
  }
  state.feed = new LiveFeed(token, {
    onReady: () => refreshAll(),
    onEvent: onEvent,
    onReset: () => {
      refreshAll();
      if (state.openId) openConversation(state.openId);
    },
    onStatus: renderConnection,
    onRefused: (frame) => {
      if (["invalid_token", "token_expired", "missing_token"].includes(frame.error)) {
        signOut("Your token is no longer valid; sign in again.");
      } else {
        toast(frame.message || "The live feed refused the connection.", "error");
      }
    },
  });
  state.feed.start();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash) openConversation(fromHash);
}

function signOut(message) {
  if (state.feed) state.feed.stop();
  sessionStorage.removeItem(TOKEN_KEY);
  if (message) sessionStorage.setItem(NOTICE_KEY, message);
  location.replace(location.pathname);
}

function failed(failure, where) {
  if (failure instanceof ApiError && failure.status === 401) {
    signOut("Your token is no longer valid; sign in again.");
    return true;
  }
  if (where) toast(`${where}: ${failure.message}`, "error");
  return false;
}

// -- lists ------------------------------------------------------------------------

function normalize(raw) {
  const number = (value) => (value === undefined || value === null || value === "" ? null : Number(value));
  return {
    ...raw,
    agent: raw.agent || null,
    agent_name: raw.agent_name || null,
    waiting_since: number(raw.waiting_since),
    claimed_at: number(raw.claimed_at),
    last_message_at: number(raw.last_message_at),
    created_at: number(raw.created_at),
    updated_at: number(raw.updated_at),
    handoffs: number(raw.handoffs) || 0,
  };
}

function scheduleRefresh(delay = 250) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refreshAll, delay);
}

/** The four views from the server. Events that arrive meanwhile were already
 * applied locally; a list fetched before them could undo that, so it waits. */
async function refreshAll() {
  if (!state.api) return;
  const eventsBefore = state.eventCount;
  let results;
  try {
    results = await Promise.all(VIEWS.map((view) => state.api.list(view)));
  } catch (failure) {
    // While the feed is down, its reconnection refreshes the lists anyway.
    if (!failed(failure) && $("connection").dataset.status === "live") scheduleRefresh(3000);
    return;
  }
  if (state.eventCount !== eventsBefore && state.deferred < 5) {
    state.deferred += 1;
    scheduleRefresh(200);
    return;
  }
  state.deferred = 0;
  VIEWS.forEach((view, index) => {
    state.lists[view] = results[index].map(normalize);
  });
  state.loaded = true;
  renderLists();
  const open = state.openId && findSummary(state.openId);
  if (open && state.current && open.state !== state.current.state) openConversation(state.openId, { keepNotice: true });
}

function findSummary(id) {
  for (const view of VIEWS) {
    const found = state.lists[view].find((c) => c.id === id);
    if (found) return found;
  }
  return null;
}

function upsert(view, summary, order) {
  const list = state.lists[view].filter((c) => c.id !== summary.id);
  list.push(summary);
  if (order) list.sort(order);
  state.lists[view] = list;
}

function remove(view, id) {
  state.lists[view] = state.lists[view].filter((c) => c.id !== id);
}

const byWaiting = (a, b) => (a.waiting_since || 0) - (b.waiting_since || 0);
const byLatest = (a, b) => (b.updated_at || 0) - (a.updated_at || 0);

/** A conversation's new state, applied to every list at once (the server's
 * lists follow within a moment). */
function applySummary(summary) {
  remove("waiting", summary.id);
  remove("live", summary.id);
  remove("mine", summary.id);
  if (summary.state === "waiting") upsert("waiting", summary, byWaiting);
  if (summary.state === "bot") upsert("live", summary, byLatest);
  if (summary.state === "assigned" && summary.agent === state.me.id) upsert("mine", summary);
  upsert("all", summary, byLatest);
}

function renderLists() {
  for (const view of VIEWS) {
    const count = state.lists[view].length;
    const badge = document.querySelector(`[data-count="${view}"]`);
    badge.textContent = count >= 500 ? "500+" : String(count);
    badge.classList.toggle("count--alert", view === "waiting" && count > 0);
    const tab = $(`tab-${view}`);
    tab.setAttribute("aria-label", `${tab.querySelector(".tab-label").textContent}, ${count}`);
  }
  const waiting = state.lists.waiting.length;
  document.title = waiting > 0 ? `(${waiting}) ${TITLE}` : TITLE;

  const list = $("conversation-list");
  const items = state.lists[state.view];
  // The list is drawn anew on every change: a keyboard user keeps their place on it.
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : undefined;
  list.replaceChildren(...items.map((c) => listItem(c)));
  if (focused !== undefined) {
    const again = [...list.querySelectorAll(".item")].find((item) => item.dataset.id === focused);
    if (again) again.focus({ preventScroll: true });
  }
  $("empty-list").hidden = items.length > 0 || !state.loaded;
  $("empty-text").textContent = EMPTY_TEXT[state.view];
  $("list-hint").textContent = HINTS[state.view];
}

function listItem(c) {
  const waiting = c.state === "waiting";
  const timeLabel = waiting
    ? el("span", { class: "item-time wait", dataset: { since: c.waiting_since || "" }, title: "Waiting for" },
        icon("clock", "icon icon--tiny"), el("span", { class: "since" }, duration(Date.now() - (c.waiting_since || Date.now()))))
    : el("span", { class: "item-time" }, clock(c.last_message_at || c.updated_at));
  const meta = el("span", { class: "item-meta" }, stateBadge(c));
  if (waiting && c.reason) meta.append(el("span", { class: "item-reason" }, REASONS[c.reason] || c.reason));
  if (c.state === "assigned" && c.agent_name) {
    meta.append(el("span", { class: "item-agent" }, c.agent === state.me.id ? "You" : c.agent_name));
  }
  const button = el(
    "button",
    {
      type: "button",
      class: "item",
      dataset: { id: c.id },
      "aria-current": c.id === state.openId ? "true" : null,
      onclick: () => openConversation(c.id, { focusPane: true }),
    },
    avatarFor(el("span", { class: "avatar", "aria-hidden": "true" }), c.id, { initials: false }),
    el(
      "span",
      { class: "item-main" },
      el("span", { class: "item-top" }, el("span", { class: "item-name" }, c.id), timeLabel),
      el("span", { class: "item-last" }, c.last_message || "No messages yet"),
      meta,
    ),
    state.unread.has(c.id) ? el("span", { class: "unread-dot", title: "New messages" }, el("span", { class: "visually-hidden" }, "New messages")) : null,
  );
  if (waiting && c.waiting_since && Date.now() - c.waiting_since > 120000) button.classList.add("item--late");
  return el("li", {}, button);
}

function stateBadge(c) {
  const label = { waiting: "Waiting", assigned: "With agent", bot: "Bot" }[c.state] || c.state;
  return el("span", { class: `badge badge--${c.state}` }, label);
}

function selectView(view, { focus = true } = {}) {
  state.view = view;
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.dataset.view === view;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  }
  $("list-panel").setAttribute("aria-labelledby", `tab-${view}`);
  renderLists();
}

// -- live events ------------------------------------------------------------------

function onEvent(frame) {
  state.eventCount += 1;
  const { event, conversation: id, data } = frame;
  if (event === "message") onMessage(id, data);
  else if (["waiting", "claimed", "released", "transferred", "requeued"].includes(event)) onStateChange(event, id, normalize(data));
  else if (event === "reading" && id === state.openId) onReading(data);
  scheduleRefresh();
  state.stats?.eventArrived();
}

function onStateChange(event, id, summary) {
  const wasWaiting = state.lists.waiting.some((c) => c.id === id);
  applySummary(summary);
  if ((event === "waiting" || event === "requeued") && !wasWaiting) announceNewCustomer(summary);
  if (event !== "waiting" && event !== "requeued") {
    waitingToasts.get(id)?.remove();
    waitingToasts.delete(id);
  }
  if (event === "released" || (["claimed", "transferred"].includes(event) && summary.agent !== state.me.id)) state.unread.delete(id);
  const assignedToMe = event === "claimed" && summary.agent === state.me.id && !state.claiming.has(id);
  if ((event === "transferred" && summary.agent === state.me.id) || assignedToMe) {
    const how = assignedToMe ? "assigned" : "transferred";
    toast(`${id} was ${how} to you.`, "info", { action: { label: "Open", run: () => openConversation(id, { focusPane: true }) } });
    chime();
  }
  renderLists();
  if (id === state.openId) {
    const before = state.current;
    state.current = { ...state.current, ...summary };
    if (event === "claimed" && summary.agent !== state.me.id && before && before.state === "waiting") {
      showNotice(`${summary.agent_name || summary.agent} already took this conversation.`, "warning");
    }
    renderConversationState();
  }
}

function onMessage(id, message) {
  for (const view of VIEWS) {
    const found = state.lists[view].find((c) => c.id === id);
    if (found && message.from === "customer") {
      found.last_message = message.text;
      found.last_message_at = message.at;
    }
  }
  if (id === state.openId) addMessage(message);
  const mine = state.lists.mine.some((c) => c.id === id);
  if (message.from === "customer" && mine && (id !== state.openId || document.hidden)) {
    state.unread.add(id);
    if (notifying()) chime();
  }
  renderLists();
}

const waitingToasts = new Map(); // conversation id -> its "new customer" toast

/** Whether this agent wants to hear about new customers: not while they are Away. */
function notifying() {
  return state.presence === "online";
}

function announceNewCustomer(summary) {
  if (!notifying()) return; // the lists, counts and title still show the customer
  chime();
  waitingToasts.get(summary.id)?.remove();
  const box = toast(`New customer waiting: ${summary.id}`, "info", {
    detail: summary.last_message ? `“${summary.last_message}”` : REASONS[summary.reason] || "",
    action: { label: "Open", run: () => openConversation(summary.id, { focusPane: true }) },
    lifetimeMs: 15000,
  });
  waitingToasts.set(summary.id, box);
}

function renderConnection(status) {
  const box = $("connection");
  box.dataset.status = status;
  box.querySelector(".connection-text").textContent =
    { live: "Live", connecting: "Connecting…", offline: "Reconnecting…" }[status] || status;
}

// -- sound ------------------------------------------------------------------------

// Browsers let a page play sound only after the user interacted with it.
function unlockAudio() {
  if (!state.audio) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    state.audio = new Context();
  }
  if (state.audio.state === "suspended") state.audio.resume().catch(() => {});
}

function chime() {
  const audio = state.audio;
  if (state.muted || !audio || audio.state !== "running") return;
  const start = audio.currentTime + 0.01;
  [880, 1318.5].forEach((frequency, index) => {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    const at = start + index * 0.14;
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.18, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(at);
    oscillator.stop(at + 0.25);
  });
}

function renderSoundSwitch() {
  const button = $("sound-switch");
  button.setAttribute("aria-checked", String(!state.muted));
  const label = state.muted ? "Sound off for new customers" : "Sound on for new customers";
  button.replaceChildren(icon(state.muted ? "bellOff" : "bell"));
  button.title = label;
  button.setAttribute("aria-label", "Sound for new customers");
}

// -- one conversation ---------------------------------------------------------------

async function openConversation(id, { focusPane = false, keepNotice = false } = {}) {
  const switching = id !== state.openId;
  state.openId = id;
  if (switching) {
    state.current = findSummary(id) || { id, state: "loading" };
    state.messages = new Map();
    $("transcript").replaceChildren();
    closeMenu();
    closePicker();
    state.customer = {};
    renderCustomer();
    $("note-list").replaceChildren();
    $("note-error").textContent = "";
    $("customer-error").textContent = "";
  }
  if (!keepNotice && switching) hideNotice();
  state.unread.delete(id);
  history.replaceState(null, "", `#${encodeURIComponent(id)}`);
  state.stats?.hide();
  state.settings?.hide();
  state.training?.hide();
  $("placeholder").hidden = true;
  $("conversation-view").hidden = false;
  $("workspace").classList.add("show-conversation");
  $("conversation-name").textContent = id;
  avatarFor($("conversation-avatar"), id, { initials: false });
  renderConversationState();
  renderLists();
  if (focusPane) $("conversation").focus({ preventScroll: true });
  let loaded;
  try {
    loaded = await state.api.conversation(id);
  } catch (failure) {
    if (state.openId !== id || failed(failure)) return;
    showNotice(failure.status === 404 ? `There is no conversation “${id}”.` : failure.message, "error");
    return;
  }
  if (state.openId !== id) return;
  const { transcript, ...summary } = loaded;
  state.current = normalize(summary);
  for (const message of transcript) addMessage(message, { scroll: false });
  renderConversationState();
  scrollTranscript(true);
  loadSidePanel(id);
}

function closeConversation() {
  state.openId = null;
  state.current = null;
  history.replaceState(null, "", location.pathname);
  $("conversation-view").hidden = true;
  $("placeholder").hidden = false;
  $("workspace").classList.remove("show-conversation");
  renderLists();
  const first = document.querySelector(`#conversation-list .item`);
  (first || $(`tab-${state.view}`)).focus();
}

/** The Stats, Settings or Training view (`shown`) takes the conversation's place (and,
 * on a phone, the list's), and the place of the other two. */
function paneViewShown(open, shown) {
  if (open) for (const view of [state.stats, state.settings, state.training]) if (view && view !== shown) view.hide();
  if (open && state.openId) {
    state.openId = null;
    state.current = null;
    history.replaceState(null, "", location.pathname);
    closeMenu();
    renderLists();
  }
  $("workspace").classList.toggle("show-conversation", open);
}

function renderConversationState() {
  const c = state.current;
  if (!c) return;
  const mineNow = c.state === "assigned" && c.agent === state.me.id;
  const canRelease = c.state === "assigned" && (mineNow || ["supervisor", "admin"].includes(state.me.role));
  $("claim-button").hidden = c.state !== "waiting";
  $("takeover-button").hidden = c.state !== "bot";
  // Notes and details: anyone while waiting or with the bot; then its agent or staff.
  const canEdit = c.state !== "assigned" || mineNow || STAFF.includes(state.me.role);
  for (const form of [$("customer-form"), $("note-form")]) {
    for (const control of form.elements) control.disabled = !canEdit;
  }
  $("notes-hint").textContent = canEdit ? "Only agents see notes" : "Only agents see notes · only its agent can add one now";
  $("close-button").hidden = !canRelease;
  if (!canRelease) closeMenu();
  $("composer").hidden = !mineNow;

  const subtitle = $("conversation-subtitle");
  subtitle.replaceChildren(stateBadge(c));
  if (c.state === "waiting") {
    subtitle.append(
      el("span", { class: "wait", dataset: { since: c.waiting_since || "" } }, "Waiting ",
        el("span", { class: "since" }, duration(Date.now() - (c.waiting_since || Date.now())))),
    );
    if (c.reason) subtitle.append(el("span", {}, REASONS[c.reason] || c.reason));
  } else if (c.state === "assigned") {
    subtitle.append(el("span", {}, mineNow ? "You are chatting" : `${c.agent_name || c.agent} is chatting`));
  } else if (c.state === "bot") {
    subtitle.append(el("span", {}, "The bot is answering"));
  } else {
    subtitle.replaceChildren(el("span", {}, "Loading…"));
  }

  const composerState = $("composer-state");
  composerState.hidden = mineNow;
  composerState.textContent = mineNow
    ? ""
    : c.state === "waiting"
      ? "This customer is waiting for a person. Start Chat to take the conversation."
      : c.state === "assigned"
        ? `${c.agent_name || c.agent} is chatting with this customer.`
        : c.state === "bot"
          ? "The bot is handling this conversation. It comes back to Waiting if the bot cannot help."
          : "";
  renderDetails();
}

// Beside the transcript on wide screens, a drawer on narrow ones.
function detailsVisible() {
  return getComputedStyle($("details")).display !== "none";
}

function syncDetailsToggle() {
  if (!$("conversation-view").hidden) $("details-toggle").setAttribute("aria-expanded", String(detailsVisible()));
}

function renderDetails() {
  const c = state.current;
  const customerMessages = [...state.messages.values()].filter((m) => m.from === "customer").length;
  const rows = [
    ["Customer", c.id],
    ["Status", { waiting: "Waiting for an agent", assigned: "With an agent", bot: "With the bot" }[c.state] || c.state],
    ["Agent", c.agent_name ? (c.agent === state.me.id ? `${c.agent_name} (you)` : c.agent_name) : "—"],
    ["Handed over because", c.reason ? REASONS[c.reason] || c.reason : "—"],
    ["Waiting since", c.state === "waiting" ? fullTime(c.waiting_since) : "—"],
    ["Agent joined", c.state === "assigned" ? fullTime(c.claimed_at) : "—"],
    ["First contact", fullTime(c.created_at)],
    ["Last message", fullTime(c.last_message_at)],
    ["Messages from customer", String(customerMessages)],
    ["Handoffs", String(c.handoffs || 0)],
  ];
  const shown = rows.filter(([term, value]) => value !== "—" || term === "Agent");
  $("details-list").replaceChildren(...shown.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
  syncDetailsToggle();
}

function addMessage(message, { scroll = true } = {}) {
  if (!message || !message.id || state.messages.has(message.id)) return;
  state.messages.set(message.id, message);
  const item = messageItem(message);
  const transcript = $("transcript");
  const after = [...transcript.children].find((node) => compareIds(node.dataset.id, message.id) > 0);
  const nearBottom = isNearBottom();
  transcript.insertBefore(item, after || null);
  if (scroll) scrollTranscript(nearBottom || message.from === "agent");
  if (message.from === "customer") renderDetails();
}

function messageItem(m) {
  if (m.from === "system") {
    return el("li", { class: "msg msg--system", dataset: { id: m.id } },
      el("span", { class: "system-pill" }, m.text, el("time", { datetime: iso(m.at) }, clock(m.at))));
  }
  const author =
    m.from === "customer"
      ? ["Customer", "user"]
      : m.from === "bot"
        ? ["Bot", "bot"]
        : [m.agent === state.me.id ? `${m.agent_name || "You"} (you)` : m.agent_name || m.agent || "Agent", "headset"];
  const item = el(
    "li",
    { class: `msg msg--${m.from}`, dataset: { id: m.id } },
    el("div", { class: "msg-meta" }, icon(author[1], "icon icon--tiny"), el("span", { class: "msg-author" }, author[0]),
      el("time", { datetime: iso(m.at), title: fullTime(m.at) }, clock(m.at))),
    el("div", { class: "msg-bubble" }, m.text),
  );
  if (m.buttons && m.buttons.length) {
    item.append(el("div", { class: "msg-buttons" }, m.buttons.map((b) => el("span", { class: "chip" }, b.title || b.payload))));
  }
  if (m.from === "customer") {
    const reading = readingLine(m.reading);
    if (reading) item.append(reading);
    const tools = el("div", { class: "msg-tools" });
    const trainedAs = state.trained.get(m.id);
    if (trainedAs) tools.append(trainedTag(trainedAs));
    tools.append(
      el("button", { type: "button", class: "link-button train-button", onclick: (e) => openTraining(m, e.currentTarget) },
        icon("tag", "icon icon--tiny"), "Add to training"),
    );
    item.append(tools);
  }
  return item;
}

function trainedTag(intent) {
  return el("span", { class: "trained-tag" }, icon("check", "icon icon--tiny"), `Training: ${intent}`);
}

function iso(at) {
  return at ? new Date(at).toISOString() : "";
}

function isNearBottom() {
  const wrap = $("transcript-wrap");
  return wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 80;
}

function scrollTranscript(force) {
  const wrap = $("transcript-wrap");
  if (force) wrap.scrollTop = wrap.scrollHeight;
}

// -- actions ------------------------------------------------------------------------

async function claim() {
  const id = state.openId;
  const button = $("claim-button");
  button.disabled = true;
  hideNotice();
  state.claiming.add(id);
  try {
    const claimed = normalize(await state.api.claim(id));
    if (state.openId !== id) return;
    state.current = { ...state.current, ...claimed };
    applySummary(claimed);
    renderLists();
    renderConversationState();
    $("composer-input").focus();
  } catch (failure) {
    if (failed(failure)) return;
    if (failure.code === "already_assigned") {
      const winner = failure.body.agent_name || failure.body.agent;
      showNotice(`${winner} already took this conversation.`, "warning");
      remove("waiting", id);
      renderLists();
      openConversation(id, { keepNotice: true });
    } else if (failure.code === "not_waiting") {
      showNotice("This customer is no longer waiting: the bot is handling the conversation.", "warning");
      openConversation(id, { keepNotice: true });
    } else {
      showNotice(`Could not start the chat: ${failure.message}`, "error");
    }
  } finally {
    button.disabled = false;
    setTimeout(() => state.claiming.delete(id), 5000); // its "claimed" event has come by then
  }
}

async function send(event) {
  event.preventDefault();
  const input = $("composer-input");
  const text = input.value;
  if (!text.trim() || input.dataset.sending) return;
  const id = state.openId;
  input.dataset.sending = "1";
  $("send-button").disabled = true;
  try {
    const message = await state.api.send(id, text);
    if (state.openId === id) addMessage(message);
    input.value = "";
    autosize();
  } catch (failure) {
    if (!failed(failure)) showNotice(`Not sent: ${failure.message}`, "error");
  } finally {
    delete input.dataset.sending;
    $("send-button").disabled = false;
    input.focus();
  }
}

async function assignToBot() {
  const id = state.openId;
  closeMenu();
  try {
    const released = normalize(await state.api.release(id));
    applySummary(released);
    state.unread.delete(id);
    if (state.openId === id) state.current = { ...state.current, ...released };
    renderLists();
    renderConversationState();
    hideNotice();
    toast(`${id} is back with the bot.`, "success");
    $("conversation").focus({ preventScroll: true });
  } catch (failure) {
    if (!failed(failure)) showNotice(`Could not hand the customer back: ${failure.message}`, "error");
  }
}

function autosize() {
  const input = $("composer-input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

// -- the close menu -------------------------------------------------------------------

function openMenu() {
  $("close-menu").hidden = false;
  $("close-button").setAttribute("aria-expanded", "true");
  $("assign-to-bot").focus();
}

function closeMenu({ focusButton = false } = {}) {
  if ($("close-menu").hidden) return;
  $("close-menu").hidden = true;
  $("close-button").setAttribute("aria-expanded", "false");
  if (focusButton) $("close-button").focus();
}

// -- training -------------------------------------------------------------------------

const NEW_INTENT = "__new__"; // the intent picker's "Propose a new intent…"

/** The domain's intents, loaded once. */
async function domainIntents() {
  if (!state.intents) state.intents = await state.api.intents();
  return state.intents;
}

async function openTraining(message, trigger, conversation = state.openId) {
  state.trainingFor = { message, trigger, conversation };
  const dialog = $("training-dialog");
  $("training-text").value = message.text;
  $("training-error").textContent = "";
  $("training-new-intent").value = "";
  $("training-new-intent").removeAttribute("aria-invalid");
  $("training-entity-rows").replaceChildren();
  syncNewIntent();
  dialog.showModal();
  const select = $("training-intent");
  const proposeOption = () => el("option", { value: NEW_INTENT }, "Propose a new intent…");
  if (!state.intents) {
    select.replaceChildren(el("option", { value: "" }, "Loading intents…"));
    try {
      await domainIntents();
    } catch (failure) {
      if (failed(failure)) return;
      $("training-error").textContent = `Cannot load the intents: ${failure.message}`;
      select.replaceChildren(el("option", { value: "" }, "Intents not loaded"), proposeOption());
      return;
    }
  }
  const previous = state.trained.get(message.id) || "";
  const proposed = Boolean(previous) && !state.intents.includes(previous);
  select.replaceChildren(
    el("option", { value: "" }, "Choose an intent…"),
    ...state.intents.map((intent) => el("option", { value: intent, selected: intent === previous }, intent)),
    el("option", { value: NEW_INTENT, selected: proposed }, "Propose a new intent…"),
  );
  if (proposed) $("training-new-intent").value = previous;
  syncNewIntent();
  select.focus();
}

/** The new intent's field shows while "Propose a new intent…" is picked. */
function syncNewIntent() {
  $("training-new-intent-row").hidden = $("training-intent").value !== NEW_INTENT;
}

/** A row of the entities: name and value, the value prefilled with the text's selection. */
function addEntityRow() {
  const rows = $("training-entity-rows");
  const textBox = $("training-text");
  const number = rows.children.length + 1;
  const { selectionStart: from, selectionEnd: to, value: text } = textBox;
  const selected = to > from ? text.slice(from, to) : "";
  // The selection without its edge spaces, and where it starts (in the untrimmed text).
  const lead = selected.length - selected.trimStart().length;
  const value = selected.trim();
  const key = `${Date.now().toString(36)}${number}`;
  const name = el("input", { id: `entity-name-${key}`, class: "entity-name-input", autocomplete: "off", spellcheck: "false", maxlength: 64, placeholder: "order_id" });
  const valueInput = el("input", { id: `entity-value-${key}`, class: "entity-value-input", autocomplete: "off", spellcheck: "false", maxlength: 4096 });
  valueInput.value = value;
  const row = el(
    "li",
    { class: "entity-row", dataset: value ? { at: String(from + lead) } : {} },
    el("div", { class: "entity-field" }, el("label", { for: name.id }, `Entity ${number} name`), name),
    el("div", { class: "entity-field" }, el("label", { for: valueInput.id }, `Entity ${number} value`), valueInput),
    el(
      "button",
      {
        type: "button",
        class: "icon-button entity-remove",
        "aria-label": `Remove entity ${number}`,
        title: `Remove entity ${number}`,
        onclick: () => {
          const next = row.nextElementSibling || row.previousElementSibling;
          row.remove();
          renumberEntityRows();
          (next ? next.querySelector("input") : $("training-entity-add")).focus();
        },
      },
      icon("close", "icon icon--tiny"),
    ),
  );
  rows.append(row);
  name.focus();
}

function renumberEntityRows() {
  [...$("training-entity-rows").children].forEach((row, index) => {
    const [nameLabel, valueLabel] = row.querySelectorAll("label");
    nameLabel.textContent = `Entity ${index + 1} name`;
    valueLabel.textContent = `Entity ${index + 1} value`;
    const remove = row.querySelector(".entity-remove");
    remove.setAttribute("aria-label", `Remove entity ${index + 1}`);
    remove.title = `Remove entity ${index + 1}`;
  });
}

async function saveTraining(event) {
  event.preventDefault();
  const target = state.trainingFor;
  const raw = $("training-text").value;
  const text = raw.trim();
  const lead = raw.length - raw.trimStart().length;
  const picked = $("training-intent").value;
  const proposing = picked === NEW_INTENT;
  const newIntent = $("training-new-intent");
  const intent = proposing ? newIntent.value.trim() : picked;
  const error = $("training-error");
  newIntent.removeAttribute("aria-invalid");
  for (const input of $("training-entity-rows").querySelectorAll("input")) input.removeAttribute("aria-invalid");
  if (!text) return void (error.textContent = "The example text is empty.");
  if (!intent) {
    error.textContent = proposing ? "Name the new intent." : "Choose the intent this message should have meant.";
    (proposing ? newIntent : $("training-intent")).focus();
    return;
  }
  if (proposing && !INTENT_PATTERN.test(intent)) {
    error.textContent = "A new intent's name may hold only letters, digits and _ / . - (at most 100 characters), no spaces.";
    newIntent.setAttribute("aria-invalid", "true");
    newIntent.focus();
    return;
  }
  const rowNodes = [...$("training-entity-rows").children];
  const rows = rowNodes.map((row) => ({
    name: row.querySelector(".entity-name-input").value,
    value: row.querySelector(".entity-value-input").value.trim(),
    at: row.dataset.at === undefined ? null : Number(row.dataset.at) - lead,
  }));
  const spans = entitySpans(text, rows);
  if (spans.error) {
    error.textContent = spans.error;
    const input = rowNodes[spans.row]?.querySelector(spans.field === "name" ? ".entity-name-input" : ".entity-value-input");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    return;
  }
  error.textContent = "";
  $("training-save").disabled = true;
  try {
    const { status, data } = await state.api.addTrainingExample(target.conversation, text, intent, spans.entities);
    state.trained.set(target.message.id, intent);
    const node = document.querySelector(`#transcript [data-id="${CSS.escape(target.message.id)}"] .msg-tools`);
    if (node) {
      node.querySelector(".trained-tag")?.remove();
      node.prepend(trainedTag(intent));
    }
    state.stats?.render();
    if (state.training?.visible) state.training.refresh();
    closeTraining();
    const flagged = data && data.example && data.example.proposed_intent;
    toast(
      status === 201
        ? flagged
          ? `Added to training, proposing the new intent “${intent}”.`
          : `Added to training as “${intent}”.`
        : `Already in the training data as “${intent}”.`,
      "success",
    );
  } catch (failure) {
    if (!failed(failure)) {
      error.textContent = failure.status === 409 ? `Not added: ${failure.message} Try again.` : `Not added: ${failure.message}`;
      if (failure.body && failure.body.field === "intent") (proposing ? newIntent : $("training-intent")).focus();
    }
  } finally {
    $("training-save").disabled = false;
  }
}

function closeTraining() {
  const dialog = $("training-dialog");
  if (dialog.open) dialog.close();
}

// -- notices and toasts -------------------------------------------------------------

function showNotice(text, kind = "info") {
  const notice = $("notice");
  notice.className = `notice notice--${kind}`;
  notice.textContent = text;
  notice.hidden = false;
}

function hideNotice() {
  $("notice").hidden = true;
  $("notice").textContent = "";
}

function toast(text, kind = "info", { detail, action, lifetimeMs } = {}) {
  const box = el("div", { class: `toast toast--${kind}` },
    el("div", { class: "toast-text" }, el("strong", {}, text), detail ? el("span", {}, detail) : null));
  if (action) {
    box.append(el("button", { type: "button", class: "button button--small", onclick: () => { action.run(); box.remove(); } }, action.label));
  }
  box.append(el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: () => box.remove() }, icon("close", "icon icon--tiny")));
  $("toasts").append(box);
  setTimeout(() => box.remove(), lifetimeMs || (kind === "error" ? 10000 : 5000));
  return box;
}

// -- every second: the waiting times -------------------------------------------------

function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll("[data-since]")) {
    const since = Number(node.dataset.since);
    if (!since) continue;
    const label = node.querySelector(".since");
    if (label) label.textContent = duration(now - since);
    const item = node.closest(".item");
    if (item) item.classList.toggle("item--late", now - since > 120000);
  }
}

// -- wiring ----------------------------------------------------------------------------

function wireStaticControls() {
  $("signin-form").addEventListener("submit", signIn);
  $("token-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("signin-form").requestSubmit();
    }
  });
  $("signout").addEventListener("click", () => signOut());
  for (const kind of ["pointerdown", "keydown"]) document.addEventListener(kind, unlockAudio, { capture: true });

  $("sound-switch").addEventListener("click", () => {
    state.muted = !state.muted;
    localStorage.setItem(MUTED_KEY, state.muted ? "1" : "0");
    renderSoundSwitch();
    if (!state.muted) chime();
  });

  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectView(tab.dataset.view));
    tab.addEventListener("keydown", (event) => {
      const index = tabs.indexOf(tab);
      const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      selectView(tabs[(next + tabs.length) % tabs.length].dataset.view);
    });
  }

  $("claim-button").addEventListener("click", claim);
  $("back-button").addEventListener("click", closeConversation);
  $("details-toggle").addEventListener("click", () => {
    const body = document.querySelector(".conversation-body");
    const open = !detailsVisible();
    body.classList.toggle("details-open", open);
    body.classList.toggle("details-closed", !open);
    syncDetailsToggle();
  });
  window.addEventListener("resize", syncDetailsToggle);
  $("composer").addEventListener("submit", send);
  const input = $("composer-input");
  input.addEventListener("input", () => {
    autosize();
    updatePicker();
  });
  input.addEventListener("blur", () => setTimeout(() => {
    if (document.activeElement !== input) closePicker();
  }, 150));
  input.addEventListener("keydown", (event) => {
    if (pickerKey(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });

  $("close-button").addEventListener("click", () => ($("close-menu").hidden ? openMenu() : closeMenu()));
  $("assign-to-bot").addEventListener("click", assignToBot);
  wireDesk();
  document.addEventListener("click", (event) => {
    if (!event.target.closest(".menu-anchor")) closeMenu();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const body = document.querySelector(".conversation-body");
    if (!$("close-menu").hidden) {
      closeMenu({ focusButton: true });
    } else if (body.classList.contains("details-open") && window.matchMedia("(max-width: 1100px)").matches) {
      body.classList.remove("details-open");
      syncDetailsToggle();
      $("details-toggle").focus();
    }
  });

  $("training-form").addEventListener("submit", saveTraining);
  $("training-cancel").addEventListener("click", closeTraining);
  $("training-intent").addEventListener("change", syncNewIntent);
  $("training-entity-add").addEventListener("click", addEntityRow);
  $("training-dialog").addEventListener("close", () => {
    const trigger = state.trainingFor && state.trainingFor.trigger;
    if (trigger && trigger.isConnected) trigger.focus();
    else if (state.stats?.visible) state.stats.focusItem(state.trainingFor.message.id);
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.openId) {
      state.unread.delete(state.openId);
      renderLists();
    }
  });
}

// -- the desk: presence, the bot's reading, canned responses, notes, customer details,
// transfer and takeover ------------------------------------------------------------------

async function loadPresence() {
  try {
    const agents = await state.api.agents();
    const me = agents.find((a) => a.id === state.me.id);
    renderPresence(me && me.status === "away" ? "away" : "online");
  } catch (failure) {
    failed(failure);
  }
}

function renderPresence(status) {
  state.presence = status;
  $("status-select").value = status;
  $("presence-dot").dataset.status = status;
}

async function changePresence() {
  const select = $("status-select");
  const wanted = select.value;
  select.disabled = true;
  try {
    const answer = await state.api.setStatus(wanted);
    renderPresence(answer.status);
    toast(answer.status === "away" ? "You are Away." : "You are Online.", "success");
  } catch (failure) {
    renderPresence(wanted === "away" ? "online" : "away");
    failed(failure, "Could not change your status");
  } finally {
    select.disabled = false;
  }
}

function readingLine(reading) {
  if (!reading || !reading.intent) return null;
  const confidence = typeof reading.confidence === "number" ? reading.confidence.toFixed(2) : "";
  const entities = (reading.entities || []).map((e) => `${e.entity}=${e.value}`).join(", ");
  const others = (reading.intent_ranking || [])
    .filter((r) => r.name !== reading.intent)
    .map((r) => `${r.name} ${Number(r.confidence).toFixed(2)}`)
    .join(", ");
  return el(
    "div",
    { class: "msg-reading", title: others ? `Also: ${others}` : "The bot's reading of this message" },
    el("span", { class: "visually-hidden" }, "Bot's reading: "),
    el("span", { class: "reading-intent" }, reading.intent),
    confidence ? el("span", { class: "reading-confidence" }, ` ${confidence}`) : null,
    entities ? el("span", { class: "reading-entities" }, ` · ${entities}`) : null,
  );
}

function onReading(data) {
  const message = state.messages.get(data.message_id);
  if (!message) return;
  message.reading = data.reading;
  const node = document.querySelector(`#transcript [data-id="${CSS.escape(data.message_id)}"]`);
  if (!node) return;
  node.querySelector(".msg-reading")?.remove();
  const line = readingLine(data.reading);
  if (line) node.querySelector(".msg-bubble").after(line);
}

// -- canned responses in the composer ------------------------------------------------------

async function loadCanned(force = false) {
  if (state.canned && !force) return state.canned;
  try {
    state.canned = await state.api.cannedResponses();
  } catch (failure) {
    failed(failure, "Cannot load the canned responses");
    state.canned = state.canned || [];
  }
  return state.canned;
}

function pickerQuery() {
  const value = $("composer-input").value;
  const match = /^\/(\S*)$/.exec(value);
  return match ? match[1].toLowerCase() : null;
}

async function updatePicker() {
  const query = pickerQuery();
  if (query === null) return closePicker();
  // Fresh on each opening: a supervisor may have added one meanwhile.
  const all = await loadCanned(!state.picker.open);
  if (pickerQuery() !== query) return; // typed on meanwhile
  const items = all.filter((c) =>
    [c.shortcut, c.title, c.text].some((field) => String(field || "").toLowerCase().includes(query)),
  );
  state.picker = { open: true, items, active: 0 };
  renderPicker();
}

function renderPicker() {
  const list = $("canned-picker");
  const input = $("composer-input");
  const { items, active } = state.picker;
  list.hidden = false;
  input.setAttribute("aria-expanded", "true");
  if (!items.length) {
    list.replaceChildren(el("li", { class: "canned-empty", role: "presentation" }, state.canned.length ? "No canned response matches." : "No canned responses yet."));
    input.removeAttribute("aria-activedescendant");
    return;
  }
  list.replaceChildren(
    ...items.map((c, index) =>
      el(
        "li",
        {
          id: `canned-option-${index}`,
          role: "option",
          class: "canned-option",
          "aria-selected": String(index === active),
          onmousedown: (event) => event.preventDefault(),
          onclick: () => insertCanned(c),
        },
        el("span", { class: "canned-shortcut" }, `/${c.shortcut}`),
        el("span", { class: "canned-title" }, c.title || c.shortcut),
        el("span", { class: "canned-text" }, c.text),
      ),
    ),
  );
  input.setAttribute("aria-activedescendant", `canned-option-${active}`);
  document.getElementById(`canned-option-${active}`)?.scrollIntoView({ block: "nearest" });
}

function closePicker() {
  state.picker = { open: false, items: [], active: 0 };
  $("canned-picker").hidden = true;
  $("canned-picker").replaceChildren();
  $("composer-input").setAttribute("aria-expanded", "false");
  $("composer-input").removeAttribute("aria-activedescendant");
}

/** Keys while the picker is open; true when the key was the picker's. */
function pickerKey(event) {
  const picker = state.picker;
  if (!picker.open || event.isComposing) return false;
  const count = picker.items.length;
  if (event.key === "Escape") {
    event.preventDefault();
    event.stopPropagation();
    closePicker();
    return true;
  }
  if ((event.key === "ArrowDown" || event.key === "ArrowUp") && count) {
    event.preventDefault();
    picker.active = (picker.active + (event.key === "ArrowDown" ? 1 : -1) + count) % count;
    renderPicker();
    return true;
  }
  if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey && count) {
    event.preventDefault();
    insertCanned(picker.items[picker.active]);
    return true;
  }
  return false;
}

function fillPlaceholders(text) {
  const customerName = (state.customer && state.customer.name) || state.openId || "";
  return text.replaceAll("{customer_name}", customerName).replaceAll("{agent_name}", state.me.name || state.me.id);
}

function insertCanned(canned) {
  const input = $("composer-input");
  input.value = fillPlaceholders(canned.text);
  closePicker();
  autosize();
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

// -- the canned responses manager (supervisors and admins) -----------------------------------

async function openCannedManager() {
  $("canned-dialog").showModal();
  resetCannedForm();
  await loadCanned(true);
  renderCannedList();
}

function renderCannedList() {
  const list = $("canned-list");
  if (!state.canned.length) {
    list.replaceChildren(el("li", { class: "canned-empty" }, "No canned responses yet. Add the first one below."));
    return;
  }
  list.replaceChildren(
    ...state.canned.map((c) =>
      el(
        "li",
        { class: "canned-row", dataset: { id: c.id } },
        el("div", { class: "canned-row-main" },
          el("span", { class: "canned-shortcut" }, `/${c.shortcut}`),
          el("strong", {}, c.title || c.shortcut),
          el("span", { class: "canned-text" }, c.text)),
        el("div", { class: "canned-row-actions" },
          el("button", { type: "button", class: "button button--small", "aria-label": `Edit /${c.shortcut}`, onclick: () => editCanned(c) }, "Edit"),
          el("button", { type: "button", class: "button button--small button--danger", "aria-label": `Delete /${c.shortcut}`, onclick: () => deleteCanned(c) }, "Delete")),
      ),
    ),
  );
}

function resetCannedForm() {
  state.cannedEditing = null;
  $("canned-form-title").textContent = "New canned response";
  $("canned-shortcut").value = "";
  $("canned-title-input").value = "";
  $("canned-text").value = "";
  $("canned-error").textContent = "";
  $("canned-new").hidden = true;
  $("canned-save").textContent = "Save response";
}

function editCanned(c) {
  state.cannedEditing = c.id;
  $("canned-form-title").textContent = `Edit /${c.shortcut}`;
  $("canned-shortcut").value = c.shortcut;
  $("canned-title-input").value = c.title || "";
  $("canned-text").value = c.text;
  $("canned-error").textContent = "";
  $("canned-new").hidden = false;
  $("canned-save").textContent = "Save changes";
  $("canned-shortcut").focus();
}

async function saveCanned(event) {
  event.preventDefault();
  const shortcut = $("canned-shortcut").value.trim().replace(/^\//, "");
  const title = $("canned-title-input").value.trim();
  const text = $("canned-text").value;
  const error = $("canned-error");
  if (!shortcut) return void (error.textContent = "Give it a shortcut, e.g. hello.");
  if (!text.trim()) return void (error.textContent = "The text is empty.");
  $("canned-save").disabled = true;
  try {
    const fields = { shortcut, text };
    if (title) fields.title = title;
    const saved = await state.api.saveCannedResponse(state.cannedEditing, fields);
    toast(state.cannedEditing ? `Saved /${saved.shortcut}.` : `Added /${saved.shortcut}.`, "success");
    await loadCanned(true);
    renderCannedList();
    resetCannedForm();
    $("canned-shortcut").focus();
  } catch (failure) {
    if (!failed(failure)) error.textContent = failure.message;
  } finally {
    $("canned-save").disabled = false;
  }
}

async function deleteCanned(c) {
  if (!window.confirm(`Delete the canned response /${c.shortcut}?`)) return;
  try {
    await state.api.deleteCannedResponse(c.id);
    if (state.cannedEditing === c.id) resetCannedForm();
    await loadCanned(true);
    renderCannedList();
    toast(`Deleted /${c.shortcut}.`, "success");
    $("canned-shortcut").focus();
  } catch (failure) {
    if (!failed(failure)) $("canned-error").textContent = failure.message;
  }
}

// -- the side panel: customer details and private notes --------------------------------------

async function loadSidePanel(id) {
  try {
    const [customer, notes] = await Promise.all([state.api.customer(id), state.api.notes(id)]);
    if (state.openId !== id) return;
    state.customer = customer || {};
    renderCustomer();
    $("note-list").replaceChildren(...notes.map(noteItem));
    renderNotesEmpty();
  } catch (failure) {
    if (state.openId === id) failed(failure, "Cannot load the customer details");
  }
}

function renderCustomer() {
  const details = state.customer || {};
  $("customer-name").value = details.name || "";
  $("customer-email").value = details.email || "";
  const extra = Object.keys(details)
    .filter((key) => key !== "name" && key !== "email")
    .sort();
  $("customer-extra").replaceChildren(
    ...extra.flatMap((key) => [
      el("label", { for: `customer-field-${key}`, class: "field-label" }, key.replaceAll("_", " ")),
      el("input", { id: `customer-field-${key}`, dataset: { field: key }, value: details[key], autocomplete: "off", maxlength: 500 }),
    ]),
  );
  $("customer-new-key").value = "";
  $("customer-new-value").value = "";
}

async function saveCustomer(event) {
  event.preventDefault();
  const id = state.openId;
  const error = $("customer-error");
  error.textContent = "";
  const before = state.customer || {};
  const wanted = { name: $("customer-name").value.trim(), email: $("customer-email").value.trim() };
  for (const input of $("customer-extra").querySelectorAll("input[data-field]")) wanted[input.dataset.field] = input.value.trim();
  const newKey = $("customer-new-key").value.trim().toLowerCase();
  const newValue = $("customer-new-value").value.trim();
  if (newKey || newValue) {
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(newKey)) {
      error.textContent = "A field name is lower-case letters, digits and _, starting with a letter.";
      $("customer-new-key").focus();
      return;
    }
    wanted[newKey] = newValue;
  }
  const changes = {};
  for (const [key, value] of Object.entries(wanted)) {
    if (value === "" && before[key] !== undefined) changes[key] = null;
    else if (value !== "" && value !== before[key]) changes[key] = value;
  }
  if (!Object.keys(changes).length) {
    toast("Nothing changed.", "info");
    return;
  }
  $("customer-save").disabled = true;
  try {
    const saved = await state.api.saveCustomer(id, changes);
    if (state.openId !== id) return;
    state.customer = saved || {};
    renderCustomer();
    $("add-field-details")?.removeAttribute("open");
    document.querySelector(".add-field")?.removeAttribute("open");
    toast("Customer details saved.", "success");
  } catch (failure) {
    if (!failed(failure)) error.textContent = failure.message;
  } finally {
    $("customer-save").disabled = false;
  }
}

function noteItem(note) {
  return el(
    "li",
    { class: "note", dataset: { id: note.id } },
    el("div", { class: "note-meta" },
      el("span", { class: "note-author" }, note.agent === state.me.id ? `${note.agent_name || note.agent} (you)` : note.agent_name || note.agent),
      el("time", { datetime: iso(note.at), title: fullTime(note.at) }, clock(note.at))),
    el("p", { class: "note-text" }, note.text),
  );
}

function renderNotesEmpty() {
  const list = $("note-list");
  list.querySelector(".note-empty")?.remove();
  if (!list.children.length) list.append(el("li", { class: "note-empty" }, "No notes yet."));
}

async function addNote(event) {
  event.preventDefault();
  const id = state.openId;
  const input = $("note-input");
  const error = $("note-error");
  const text = input.value.trim();
  if (!text) return void (error.textContent = "Write the note first.");
  error.textContent = "";
  $("note-add").disabled = true;
  try {
    const note = await state.api.addNote(id, text);
    if (state.openId !== id) return;
    $("note-list").querySelector(".note-empty")?.remove();
    $("note-list").append(noteItem(note));
    input.value = "";
  } catch (failure) {
    if (!failed(failure)) error.textContent = failure.message;
  } finally {
    $("note-add").disabled = false;
  }
}

// -- takeover and transfer --------------------------------------------------------------------

async function takeover() {
  const id = state.openId;
  const button = $("takeover-button");
  button.disabled = true;
  hideNotice();
  try {
    const taken = normalize(await state.api.takeover(id));
    if (state.openId !== id) return;
    state.current = { ...state.current, ...taken };
    applySummary(taken);
    renderLists();
    renderConversationState();
    $("composer-input").focus();
  } catch (failure) {
    if (failed(failure)) return;
    const text =
      failure.code === "not_with_bot"
        ? "The bot is no longer handling this conversation."
        : failure.code === "capacity_reached"
          ? "You are at your maximum number of chats."
          : `Could not take over: ${failure.message}`;
    showNotice(text, "warning");
    openConversation(id, { keepNotice: true });
  } finally {
    button.disabled = false;
  }
}

const STATUS_LABEL = { online: "Online", away: "Away", offline: "Offline" };

async function openTransfer() {
  closeMenu();
  const dialog = $("transfer-dialog");
  const list = $("agent-list");
  $("transfer-error").textContent = "";
  list.replaceChildren(el("li", { class: "agent-empty" }, "Loading agents…"));
  dialog.showModal();
  const queue = el("li", {}, el("button", { type: "button", class: "agent-option", onclick: () => transfer(null) },
    icon("inbox", "icon"), el("span", { class: "agent-option-main" }, el("strong", {}, "Back to the queue"),
      el("span", { class: "agent-option-text" }, "The customer waits for the next free agent."))));
  let agents;
  try {
    agents = await state.api.agents();
  } catch (failure) {
    if (!failed(failure)) $("transfer-error").textContent = `Cannot load the agents: ${failure.message}`;
    list.replaceChildren(queue);
    return;
  }
  const order = { online: 0, away: 1, offline: 2 };
  const others = agents
    .filter((a) => a.id !== (state.current && state.current.agent))
    .sort((a, b) => (order[a.status] ?? 3) - (order[b.status] ?? 3) || String(a.name).localeCompare(String(b.name)));
  list.replaceChildren(
    ...others.map((a) =>
      el("li", {}, el("button", { type: "button", class: "agent-option", dataset: { agent: a.id }, onclick: () => transfer(a) },
        avatarFor(el("span", { class: "avatar avatar--small", "aria-hidden": "true" }), a.name || a.id),
        el("span", { class: "agent-option-main" }, el("strong", {}, a.name || a.id),
          el("span", { class: "agent-option-text" }, a.id === state.me.id ? "You" : a.role)),
        el("span", { class: `presence-badge presence-badge--${a.status}` }, STATUS_LABEL[a.status] || a.status))),
    ),
    queue,
  );
  if (!others.length) list.prepend(el("li", { class: "agent-empty" }, "No other agent has signed in yet."));
  list.querySelector("button")?.focus();
}

async function transfer(agent) {
  const id = state.openId;
  const error = $("transfer-error");
  error.textContent = "";
  for (const button of $("agent-list").querySelectorAll("button")) button.disabled = true;
  try {
    const moved = normalize(await state.api.transfer(id, agent && agent.id, agent && (agent.name || agent.id)));
    applySummary(moved);
    state.unread.delete(id);
    if (state.openId === id) state.current = { ...state.current, ...moved };
    renderLists();
    renderConversationState();
    $("transfer-dialog").close();
    toast(agent ? `${id} was transferred to ${agent.name || agent.id}.` : `${id} is back in the queue.`, "success");
    $("conversation").focus({ preventScroll: true });
  } catch (failure) {
    if (failed(failure)) return;
    error.textContent =
      failure.code === "capacity_reached"
        ? `${agent ? agent.name || agent.id : "That agent"} has no room for another chat.`
        : failure.message;
  } finally {
    for (const button of $("agent-list").querySelectorAll("button")) button.disabled = false;
  }
}

function wireDesk() {
  $("status-select").addEventListener("change", changePresence);
  $("takeover-button").addEventListener("click", takeover);
  $("transfer-item").addEventListener("click", openTransfer);
  $("transfer-cancel").addEventListener("click", () => $("transfer-dialog").close());
  $("transfer-dialog").addEventListener("close", () => {
    if (!$("close-button").hidden) $("close-button").focus();
  });
  $("customer-form").addEventListener("submit", saveCustomer);
  $("note-form").addEventListener("submit", addNote);
  $("note-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("note-form").requestSubmit();
    }
  });
  $("canned-button").addEventListener("click", openCannedManager);
  $("canned-form").addEventListener("submit", saveCanned);
  $("canned-close").addEventListener("click", () => $("canned-dialog").close());
  $("canned-new").addEventListener("click", () => {
    resetCannedForm();
    $("canned-shortcut").focus();
  });
  $("canned-dialog").addEventListener("close", () => $("canned-button").focus());
}

boot();
