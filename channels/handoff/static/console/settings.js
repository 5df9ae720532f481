// The Settings view (admins only): every desk setting of GET agent/settings,
// changed with PUT agent/settings (docs/api.md, "Desk settings"). Only the settings
// that differ from the stored ones are sent; the server checks them all and either
// stores them all or refuses with a message, which is shown next to Save.

import { PaneView } from "./pane.js";
import { el, icon, setIcon } from "./ui.js";

const $ = (id) => document.getElementById(id);

const DAYS = [
  ["mon", "Monday"],
  ["tue", "Tuesday"],
  ["wed", "Wednesday"],
  ["thu", "Thursday"],
  ["fri", "Friday"],
  ["sat", "Saturday"],
  ["sun", "Sunday"],
];
const SWITCHES = ["enabled", "auto_assign", "review_training"];
const NUMBERS = {
  max_chats_per_agent: "Max chats per agent",
  claim_timeout_s: "Claim timeout",
  offline_grace_s: "Offline after",
};
// One line each: what the chosen policy does (README, "Desk settings, at run time").
const POLICIES = {
  out_of_hours_policy: {
    bot: "The customer is told the desk is closed and stays with the bot.",
    wait: "The customer is told the desk is closed and waits for the next opening.",
  },
  no_agents_policy: {
    wait: "The customer waits in the queue and is told nobody is online yet.",
    bot: "The customer is told nobody is online and stays with the bot.",
  },
  claim_timeout_policy: {
    wait: "The customer is told once that they are still waiting, and keeps waiting.",
    bot: "The customer goes back to the bot and is told nobody is available.",
  },
  agent_offline_policy: {
    wait: "Their customers go back to the top of Waiting and are told a colleague will come.",
    bot: "Their customers go back to the bot and are told nobody is available.",
  },
};
const FIRST_SPAN = ["09:00", "17:00"];

const savedFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** The browser's IANA time zone: the default for a new schedule. */
export function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch (_) {
    return "UTC";
  }
}

/** Office hours in one comparable shape: days in order, only days with spans, dates sorted. */
function canonicalHours(hours) {
  if (!hours) return null;
  const weekly = {};
  for (const [day] of DAYS) {
    const spans = (hours.weekly && hours.weekly[day]) || [];
    if (spans.length) weekly[day] = spans.map(([open, close]) => [open, close]);
  }
  const holidays = [...new Set(hours.holidays || [])].sort();
  return { timezone: hours.timezone, weekly, holidays };
}

/** "9:30" -> "09:30"; anything else is left for the server to judge. */
function paddedTime(text) {
  const value = text.trim();
  return /^\d:\d\d$/.test(value) ? `0${value}` : value;
}

function padTime(input) {
  const value = paddedTime(input.value);
  if (value !== input.value) input.value = value;
}

export class SettingsView extends PaneView {
  /**
   * @param {object} options
   * @param {import("./api.js").AgentApi} options.api
   * @param {(failure: Error) => boolean} options.failed  handles a sign-out; true when it did
   * @param {(open: boolean) => void} options.onToggle  the workspace shows the pane (phones)
   */
  constructor({ api, failed, onToggle }) {
    super({ view: "settings-view", button: "settings-button", title: "settings-title", onToggle });
    Object.assign(this, { api, failed });
    this.saved = null; // the settings as the server last gave them
    this.busy = false;
    this.button.prepend(icon("settings"));
    this.button.hidden = false;
    setIcon($("settings-close"), "close", "Close settings");
    $("settings-reload").prepend(icon("refresh"));
    this.buildWeek();
    this.fillTimeZones();
    this.wire();
  }

  wire() {
    $("settings-close").addEventListener("click", () => this.close());
    $("settings-reload").addEventListener("click", () => this.load());
    const form = $("settings-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    form.addEventListener("input", () => this.changed());
    form.addEventListener("change", () => this.changed());
    for (const radio of form.elements["office-hours-mode"]) {
      radio.addEventListener("change", () => this.modeChanged());
    }
    $("setting-holiday-add").addEventListener("click", () => this.addHoliday());
    $("setting-holiday-new").addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.addHoliday();
      }
    });
  }

  // -- showing -----------------------------------------------------------------------

  opened() {
    this.load();
  }

  // -- loading and saving ------------------------------------------------------------

  setBusy(busy) {
    this.busy = busy;
    $("settings-save").disabled = busy;
    $("settings-reload").disabled = busy;
    $("settings-form").setAttribute("aria-busy", String(busy));
  }

  async load() {
    if (this.busy) return;
    this.setBusy(true);
    this.showError("");
    this.showStatus("Loading…");
    try {
      const { data } = await this.api.request("GET", "agent/settings");
      this.render(data);
      this.showStatus("");
    } catch (failure) {
      if (this.failed(failure)) return;
      this.showStatus("");
      this.showError(`Cannot load the settings: ${failure.message}`);
    } finally {
      this.setBusy(false);
    }
  }

  async save() {
    if (this.busy || !this.saved) return;
    for (const input of $("settings-weekly").querySelectorAll("input")) padTime(input);
    const { values, problem } = this.collect();
    this.clearInvalid();
    if (problem) {
      this.showError(problem.message);
      this.markInvalid(problem.control);
      problem.control.focus();
      return;
    }
    const changes = {};
    for (const [name, value] of Object.entries(values)) {
      if (JSON.stringify(value) !== JSON.stringify(this.current(name))) changes[name] = value;
    }
    if (!Object.keys(changes).length) {
      this.showError("");
      this.showStatus("Nothing to save: no changes.");
      return;
    }
    this.setBusy(true);
    this.showError("");
    this.showStatus("Saving…");
    try {
      const { data } = await this.api.request("PUT", "agent/settings", changes);
      const focused = document.activeElement;
      this.render(data);
      const names = Object.keys(changes).length;
      this.showStatus(`Saved ${names === 1 ? "1 change" : `${names} changes`} at ${savedFormat.format(new Date())}.`);
      if (!focused || !focused.isConnected) $("settings-save").focus();
    } catch (failure) {
      if (this.failed(failure)) return;
      this.showStatus("");
      this.showError(`Not saved: ${failure.message}`);
      const field = failure.body && failure.body.field;
      if (field) this.markInvalid(this.controlFor(field));
    } finally {
      this.setBusy(false);
    }
  }

  /** A stored value in the shape the form produces. */
  current(name) {
    return name === "office_hours" ? canonicalHours(this.saved.office_hours) : this.saved[name];
  }

  showError(text) {
    $("settings-error").textContent = text;
  }

  showStatus(text, kind = "") {
    const status = $("settings-status");
    status.textContent = text;
    status.dataset.kind = kind;
  }

  /** After an edit: say whether anything differs from what is stored. */
  changed() {
    this.renderHints();
    if (!this.saved || this.busy) return;
    const { values } = this.collect();
    const dirty = Object.entries(values).some(
      ([name, value]) => JSON.stringify(value) !== JSON.stringify(this.current(name)),
    );
    this.showStatus(dirty ? "Unsaved changes" : "", dirty ? "dirty" : "");
  }

  controlFor(field) {
    if (field === "office_hours") return $("settings-group-hours");
    return $(`setting-${field}`);
  }

  markInvalid(control) {
    if (!control) return;
    control.setAttribute("aria-invalid", "true");
    const described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (!described.includes("settings-error")) control.setAttribute("aria-describedby", [...described, "settings-error"].join(" "));
  }

  clearInvalid() {
    for (const control of $("settings-view").querySelectorAll("[aria-invalid]")) {
      control.removeAttribute("aria-invalid");
      const described = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== "settings-error");
      if (described.length) control.setAttribute("aria-describedby", described.join(" "));
      else control.removeAttribute("aria-describedby");
    }
  }

  // -- the form <-> the settings ------------------------------------------------------

  render(settings) {
    this.saved = settings;
    this.clearInvalid();
    for (const name of SWITCHES) $(`setting-${name}`).checked = Boolean(settings[name]);
    for (const name of Object.keys(POLICIES)) $(`setting-${name}`).value = settings[name];
    for (const name of Object.keys(NUMBERS)) $(`setting-${name}`).value = String(settings[name]);
    const hours = canonicalHours(settings.office_hours);
    $(hours ? "setting-hours-schedule" : "setting-hours-always").checked = true;
    $("setting-timezone").value = hours ? hours.timezone : browserTimeZone();
    for (const [day] of DAYS) {
      const list = this.spanList(day);
      list.replaceChildren();
      for (const span of (hours && hours.weekly[day]) || []) list.append(this.spanItem(day, span));
      this.renumber(day);
    }
    $("settings-holidays").replaceChildren(...((hours && hours.holidays) || []).map((date) => this.holidayItem(date)));
    $("setting-holiday-new").value = "";
    this.renderMode();
    this.renderHints();
  }

  /** The form's values, or the first problem that cannot be sent as JSON at all. */
  collect() {
    const values = {};
    let problem = null;
    const fail = (control, message) => {
      if (!problem) problem = { control, message };
    };
    for (const name of SWITCHES) values[name] = $(`setting-${name}`).checked;
    if ($("setting-hours-schedule").checked) {
      const weekly = {};
      for (const [day, dayName] of DAYS) {
        const spans = [];
        for (const item of this.spanList(day).children) {
          const [open, close] = item.querySelectorAll("input");
          const times = [paddedTime(open.value), paddedTime(close.value)];
          if (!times[0]) fail(open, `${dayName}: give each opening time, or remove the hours.`);
          if (!times[1]) fail(close, `${dayName}: give each closing time, or remove the hours.`);
          spans.push(times);
        }
        if (spans.length) weekly[day] = spans;
      }
      const holidays = [...$("settings-holidays").children].map((item) => item.dataset.date);
      values.office_hours = { timezone: $("setting-timezone").value.trim(), weekly, holidays };
    } else {
      values.office_hours = null;
    }
    for (const name of Object.keys(POLICIES)) values[name] = $(`setting-${name}`).value;
    for (const [name, label] of Object.entries(NUMBERS)) {
      const input = $(`setting-${name}`);
      // An empty number input is also what the browser leaves of text it cannot read.
      if (input.value.trim() === "") fail(input, `${label}: enter a whole number, 0 or more.`);
      values[name] = Number(input.value);
    }
    return { values, problem };
  }

  renderMode() {
    const scheduled = $("setting-hours-schedule").checked;
    $("settings-schedule").hidden = !scheduled;
    if (scheduled && !$("setting-timezone").value.trim()) $("setting-timezone").value = browserTimeZone();
  }

  modeChanged() {
    this.renderMode();
    this.changed();
  }

  /** The line under each policy says what the chosen one does, and when it applies. */
  renderHints() {
    for (const [name, meanings] of Object.entries(POLICIES)) {
      let text = meanings[$(`setting-${name}`).value] || "";
      if (name === "out_of_hours_policy" && !$("setting-hours-schedule").checked) text += " Applies with a schedule only.";
      if (name === "claim_timeout_policy" && Number($("setting-claim_timeout_s").value) === 0) {
        text += " Never applies while the claim timeout is 0.";
      }
      $(`setting-${name}-hint`).textContent = text;
    }
    const scheduled = $("setting-hours-schedule").checked;
    const anyHours = DAYS.some(([day]) => this.spanList(day).children.length > 0);
    $("settings-closed-warning").hidden = !scheduled || anyHours;
  }

  // -- the weekly schedule -----------------------------------------------------------

  buildWeek() {
    $("settings-weekly").replaceChildren(
      ...DAYS.map(([day, dayName]) =>
        el(
          "li",
          { class: "day", dataset: { day } },
          el("span", { class: "day-name", id: `settings-day-${day}` }, dayName),
          el(
            "div",
            { class: "day-spans" },
            el("ul", { class: "span-list", "aria-labelledby": `settings-day-${day}` }),
            el("span", { class: "day-closed" }, "Closed"),
            el(
              "button",
              {
                type: "button",
                class: "link-button day-add",
                "aria-label": `Add opening hours on ${dayName}`,
                onclick: () => this.addSpan(day),
              },
              icon("plus", "icon icon--tiny"),
              "Add hours",
            ),
          ),
        ),
      ),
    );
  }

  spanList(day) {
    return document.querySelector(`#settings-weekly [data-day="${day}"] .span-list`);
  }

  spanItem(day, [open, close]) {
    // Text, not <input type="time">: that one shows a 12-hour clock in some locales,
    // and the API speaks HH:MM on a 24-hour clock.
    const time = (value, part) =>
      el("input", {
        type: "text",
        class: "setting-input time-input",
        value,
        dataset: { part },
        inputmode: "numeric",
        autocomplete: "off",
        spellcheck: "false",
        maxlength: 5,
        placeholder: "HH:MM",
        onblur: (event) => padTime(event.currentTarget),
      });
    const item = el(
      "li",
      { class: "span" },
      time(open, "open"),
      el("span", { class: "span-dash", "aria-hidden": "true" }, "–"),
      time(close, "close"),
    );
    item.append(
      el(
        "button",
        { type: "button", class: "icon-button span-remove", onclick: () => this.removeSpan(day, item) },
        icon("close", "icon icon--tiny"),
      ),
    );
    return item;
  }

  /** Labels every span of a day: "Monday opens", then "Monday opens (2)", … */
  renumber(day) {
    const dayName = DAYS.find(([key]) => key === day)[1];
    const items = [...this.spanList(day).children];
    items.forEach((item, index) => {
      const suffix = index === 0 ? "" : ` (${index + 1})`;
      const [open, close] = item.querySelectorAll("input");
      open.setAttribute("aria-label", `${dayName} opens${suffix}`);
      close.setAttribute("aria-label", `${dayName} closes${suffix}`);
      const remove = item.querySelector(".span-remove");
      remove.setAttribute("aria-label", `Remove ${dayName} hours${suffix}`);
      remove.title = "Remove these hours";
    });
    this.spanList(day).closest(".day").classList.toggle("day--closed", items.length === 0);
  }

  addSpan(day) {
    const list = this.spanList(day);
    const last = list.lastElementChild;
    // A further span starts where the last one closed; the first one is a working day.
    const lastClose = last ? last.querySelector('[data-part="close"]').value.trim() : "";
    const span = /^([01]\d|2[0-2]):[0-5]\d$/.test(lastClose) ? [lastClose, "23:59"] : FIRST_SPAN;
    const item = this.spanItem(day, span);
    list.append(item);
    this.renumber(day);
    item.querySelector("input").focus();
    this.changed();
  }

  removeSpan(day, item) {
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    this.renumber(day);
    const target = next ? next.querySelector(".span-remove") : document.querySelector(`#settings-weekly [data-day="${day}"] .day-add`);
    target.focus();
    this.changed();
  }

  // -- holidays ------------------------------------------------------------------------

  holidayItem(date) {
    const item = el("li", { class: "holiday", dataset: { date } }, el("span", { class: "holiday-date" }, date));
    item.append(
      el(
        "button",
        {
          type: "button",
          class: "icon-button holiday-remove",
          "aria-label": `Remove holiday ${date}`,
          title: "Remove this holiday",
          onclick: () => this.removeHoliday(item),
        },
        icon("close", "icon icon--tiny"),
      ),
    );
    return item;
  }

  addHoliday() {
    const input = $("setting-holiday-new");
    const date = input.value;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) {
      this.showError("Holiday date: pick a full date first.");
      this.markInvalid(input);
      input.focus();
      return;
    }
    const list = $("settings-holidays");
    const dates = [...list.children].map((item) => item.dataset.date);
    if (!dates.includes(date)) {
      const after = [...list.children].find((item) => item.dataset.date > date);
      list.insertBefore(this.holidayItem(date), after || null);
    }
    input.value = "";
    input.removeAttribute("aria-invalid");
    if ($("settings-error").textContent.startsWith("Holiday date")) this.showError("");
    input.focus();
    this.changed();
  }

  removeHoliday(item) {
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    (next ? next.querySelector(".holiday-remove") : $("setting-holiday-new")).focus();
    this.changed();
  }

  fillTimeZones() {
    let zones = [];
    try {
      zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    } catch (_) {
      zones = [];
    }
    const all = [...new Set(["UTC", browserTimeZone(), ...zones])].sort();
    $("settings-timezones").replaceChildren(...all.map((zone) => el("option", { value: zone })));
  }
}
