// The Stats view: today's handoffs, the median wait, the queue, and the customer
// messages the bot did not understand, each one click from "Add to training".
// Figures come from GET agent/stats (docs/api.md); they are the same on every server.

import { PaneView } from "./pane.js";
import { duration, el, icon, setIcon } from "./ui.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 15000;
const AFTER_EVENT_MS = 1500;
const REASON_NOTES = [
  ["fallback", "not understood"],
  ["request_human", "asked for a person"],
  ["takeover", "taken over"],
  ["recovered", "recovered"],
  ["other", "other"],
];

const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

export class StatsView extends PaneView {
  /**
   * @param {object} options
   * @param {import("./api.js").AgentApi} options.api
   * @param {(id: string) => void} options.openConversation  opens a conversation (leaves this view)
   * @param {(message: {id: string, text: string}, trigger: Element, conversation: string) => void} options.addToTraining
   * @param {(id: string) => string | undefined} options.trainedAs  the intent given this session, if any
   * @param {(failure: Error) => boolean} options.failed  handles a sign-out; true when it did
   * @param {(open: boolean) => void} options.onToggle  the workspace shows the pane (phones)
   */
  constructor({ api, openConversation, addToTraining, trainedAs, failed, onToggle }) {
    super({ view: "stats-view", button: "stats-button", title: "stats-title", onToggle });
    Object.assign(this, { api, openConversation, addToTraining, trainedAs, failed });
    this.figures = null;
    this.timer = null;
    this.soon = null;
    this.loading = false;
    this.button.prepend(icon("chart"));
    setIcon($("stats-close"), "close", "Close stats");
    $("stats-refresh").prepend(icon("refresh"));
    $("stats-close").addEventListener("click", () => this.close());
    $("stats-refresh").addEventListener("click", () => this.refresh());
  }

  opened() {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    this.refresh();
  }

  closed() {
    clearInterval(this.timer);
    clearTimeout(this.soon);
  }

  /** Something happened on the live feed: the figures change a moment later. */
  eventArrived() {
    if (!this.visible) return;
    clearTimeout(this.soon);
    this.soon = setTimeout(() => this.refresh(), AFTER_EVENT_MS);
  }

  async refresh() {
    if (this.loading) return;
    this.loading = true;
    $("stats-refresh").disabled = true;
    try {
      const { data } = await this.api.request("GET", "agent/stats?top=10");
      this.figures = data;
      $("stats-error").hidden = true;
      this.render();
    } catch (failure) {
      if (this.failed(failure)) return;
      const error = $("stats-error");
      error.textContent = `Cannot load the figures: ${failure.message}`;
      error.hidden = false;
    } finally {
      this.loading = false;
      $("stats-refresh").disabled = false;
    }
  }

  render() {
    const f = this.figures;
    if (!f) return;
    const today = f.today;
    const updated = clockFormat.format(new Date(f.generated_at));
    $("stats-updated").textContent = `Today, ${today.date} (UTC) · updated ${updated}`;

    const reasons = REASON_NOTES.filter(([key]) => today.by_reason[key] > 0).map(
      ([key, label]) => `${today.by_reason[key]} ${label}`,
    );
    const rate = today.fallback_rate;
    const longest = f.queue.longest_wait_s;
    $("stats-cards").replaceChildren(
      card("handoffs", "Handoffs today", String(today.handoffs), reasons.join(" · ") || "None yet today"),
      card(
        "median-wait",
        "Median wait today",
        today.median_wait_s === null ? "—" : duration(today.median_wait_s * 1000),
        today.claims ? `Until Start Chat, over ${plural(today.claims, "chat")}` : "No chats taken yet today",
      ),
      card(
        "queue",
        "Waiting now",
        String(f.queue.length),
        longest === null ? "Nobody is waiting" : `Longest: ${duration(longest * 1000)}`,
      ),
      card(
        "fallback-rate",
        "Not understood today",
        rate === null ? "—" : `${Math.round(rate * 1000) / 10}%`,
        `${plural(today.by_reason.fallback, "fallback")} in ${plural(today.customer_messages_to_bot, "message")} to the bot`,
      ),
    );

    // A refresh must not take the focus away from the button an agent is on.
    const list = $("fallback-list");
    const active = list.contains(document.activeElement) ? document.activeElement : null;
    const focused = active && { text: active.closest("li").dataset.text, action: active.dataset.action };
    const items = f.top_fallbacks.map((entry, index) => this.fallbackItem(entry, index));
    list.replaceChildren(...items);
    $("fallback-empty").hidden = items.length > 0;
    if (focused) (this.buttonFor(focused.text, focused.action) || $("stats-title")).focus();
  }

  /** Focuses the "Add to training" button of a message (after the dialog closed). */
  focusItem(messageId) {
    const text = messageId.startsWith("fallback:") ? messageId.slice("fallback:".length) : null;
    const button = text === null ? null : this.buttonFor(text, "train");
    if (button) button.focus();
    return Boolean(button);
  }

  buttonFor(text, action) {
    const item = [...$("fallback-list").children].find((node) => node.dataset.text === text);
    return item ? item.querySelector(`[data-action="${action}"]`) : null;
  }

  fallbackItem(entry, index) {
    const textId = `fallback-text-${index}`;
    const message = { id: `fallback:${entry.normalized}`, text: entry.text };
    const tools = el("div", { class: "msg-tools" });
    const trained = this.trainedAs(message.id);
    if (trained) {
      tools.append(el("span", { class: "trained-tag" }, icon("check", "icon icon--tiny"), `Training: ${trained}`));
    }
    tools.append(
      el(
        "button",
        {
          type: "button",
          class: "link-button train-button",
          dataset: { action: "train" },
          "aria-describedby": textId,
          disabled: entry.conversation ? null : true,
          onclick: (event) => this.addToTraining(message, event.currentTarget, entry.conversation),
        },
        icon("tag", "icon icon--tiny"),
        "Add to training",
      ),
    );
    if (entry.conversation) {
      tools.append(
        el(
          "button",
          {
            type: "button",
            class: "link-button",
            dataset: { action: "open" },
            "aria-describedby": textId,
            title: `The latest time: ${entry.conversation}`,
            onclick: () => this.openConversation(entry.conversation),
          },
          "Open conversation",
        ),
      );
    }
    return el(
      "li",
      { class: "fallback-item", dataset: { text: entry.normalized } },
      el("span", { class: "fallback-count", title: "Times the bot gave up on it" }, `${entry.count}×`),
      el("div", { class: "fallback-main" }, el("q", { class: "fallback-text", id: textId }, entry.text), tools),
    );
  }
}

function card(name, label, value, note) {
  return el(
    "div",
    { class: "stat-card", dataset: { stat: name } },
    el("dt", { class: "stat-label" }, label),
    el("dd", { class: "stat-value" }, value),
    el("dd", { class: "stat-note" }, note),
  );
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}
