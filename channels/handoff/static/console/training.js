// Training examples: the rules the API checks (docs/api.md, "POST .../training-examples"),
// entity spans from (name, value) rows, and the Training view (trainers, supervisors,
// admins): the stored examples of GET agent/training-examples, each accepted, rejected
// or edited with PATCH agent/training-examples/{id}.

import { PaneView } from "./pane.js";
import { clock, el, fullTime, icon, setIcon } from "./ui.js";

const $ = (id) => document.getElementById(id);

export const INTENT_PATTERN = /^[A-Za-z0-9_/.-]{1,100}$/;
export const ENTITY_PATTERN = /^[A-Za-z0-9_]{1,64}$/;
export const MAX_ENTITIES = 20;
export const TRAINER_ROLES = ["trainer", "supervisor", "admin"];

const STATUS_LABELS = { pending: "Pending", accepted: "Accepted", rejected: "Rejected" };

/** The server counts characters (code points); JavaScript strings count UTF-16 units. */
export function codePoints(text) {
  return Array.from(text).length;
}

/** A UTF-16 index of `text` as a code point offset. */
function pointOffset(text, index) {
  return codePoints(text.slice(0, index));
}

/** A code point offset of `text` as a UTF-16 index. */
function unitIndex(text, offset) {
  return Array.from(text).slice(0, offset).join("").length;
}

/**
 * Entity spans of `text` from rows of {name, value, at}: `at` is where the agent
 * selected the value (a UTF-16 index), else the value's first occurrence is taken.
 * Gives {entities} or {error, row} (the row's index) for the first problem.
 */
export function entitySpans(text, rows) {
  const spans = [];
  for (const [index, row] of rows.entries()) {
    const name = row.name.trim();
    const value = row.value;
    const label = `Entity ${index + 1}`;
    if (!name && !value.trim()) continue;
    if (!ENTITY_PATTERN.test(name)) {
      return { row: index, field: "name", error: `${label}: the name may hold only letters, digits and _ (at most 64), no spaces.` };
    }
    if (!value.trim()) return { row: index, field: "value", error: `${label}: give the value, a part of the example text.` };
    let start = Number.isInteger(row.at) && text.slice(row.at, row.at + value.length) === value ? row.at : -1;
    if (start < 0) start = text.indexOf(value);
    if (start < 0) return { row: index, field: "value", error: `${label}: “${value}” does not occur in the example text.` };
    const from = pointOffset(text, start);
    spans.push({ entity: name, value, start: from, end: from + codePoints(value) });
  }
  if (spans.length > MAX_ENTITIES) return { row: MAX_ENTITIES, field: "name", error: `At most ${MAX_ENTITIES} entities.` };
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i += 1) {
    if (sorted[i].start < sorted[i - 1].end) {
      const row = spans.indexOf(sorted[i]);
      return {
        row,
        field: "value",
        error: `Entity ${row + 1}: “${sorted[i].value}” overlaps “${sorted[i - 1].value}”; entities must not overlap.`,
      };
    }
  }
  return { entities: spans };
}

/** The example's text with its entities marked. */
function markedText(text, entities) {
  const points = Array.from(text);
  const parts = [];
  let at = 0;
  for (const entity of [...entities].sort((a, b) => a.start - b.start)) {
    if (entity.start < at) continue;
    parts.push(points.slice(at, entity.start).join(""));
    parts.push(el("mark", { class: "entity-mark", title: entity.entity }, points.slice(entity.start, entity.end).join("")));
    at = entity.end;
  }
  parts.push(points.slice(at).join(""));
  return parts;
}

/** The entities that still fit a new text: each value's first occurrence there. */
function movedEntities(text, entities) {
  const kept = [];
  const dropped = [];
  for (const entity of entities) {
    const result = entitySpans(text, [{ name: entity.entity, value: entity.value }]);
    const span = result.entities && result.entities[0];
    if (span && kept.every((other) => span.end <= other.start || span.start >= other.end)) kept.push(span);
    else dropped.push(entity.value);
  }
  return { kept, dropped };
}

export class TrainingView extends PaneView {
  /**
   * @param {object} options
   * @param {import("./api.js").AgentApi} options.api
   * @param {(id: string) => void} options.openConversation  opens a conversation (leaves this view)
   * @param {() => Promise<string[]>} options.intents  the domain's intents
   * @param {(failure: Error) => boolean} options.failed  handles a sign-out; true when it did
   * @param {(open: boolean) => void} options.onToggle  the workspace shows the pane (phones)
   */
  constructor({ api, openConversation, intents, failed, onToggle }) {
    super({ view: "training-view", button: "training-button", title: "training-view-title", onToggle });
    Object.assign(this, { api, openConversation, intents, failed });
    this.examples = [];
    this.editing = null; // id of the example being edited
    this.loading = false;
    this.domain = [];
    this.button.prepend(icon("tag"));
    this.button.hidden = false;
    setIcon($("training-close"), "close", "Close training");
    $("training-refresh").prepend(icon("refresh"));
    $("training-close").addEventListener("click", () => this.close());
    $("training-refresh").addEventListener("click", () => this.refresh());
    $("training-status-filter").addEventListener("change", () => {
      this.editing = null;
      this.refresh();
    });
  }

  get filter() {
    return $("training-status-filter").value;
  }

  opened() {
    this.refresh();
    this.intents()
      .then((intents) => {
        this.domain = intents;
        $("training-intents").replaceChildren(...intents.map((intent) => el("option", { value: intent })));
      })
      .catch(() => {}); // the intent field still takes any name
  }

  closed() {
    this.editing = null;
  }

  async refresh({ focus = null } = {}) {
    if (this.loading) return;
    this.loading = true;
    $("training-refresh").disabled = true;
    const list = $("example-list");
    list.setAttribute("aria-busy", "true");
    try {
      this.examples = await this.api.trainingExamples(this.filter);
      $("training-view-error").hidden = true;
      this.render(focus);
    } catch (failure) {
      if (this.failed(failure)) return;
      const error = $("training-view-error");
      error.textContent = `Cannot load the examples: ${failure.message}`;
      error.hidden = false;
      $("training-summary").textContent = "";
    } finally {
      this.loading = false;
      $("training-refresh").disabled = false;
      list.removeAttribute("aria-busy");
    }
  }

  /** Draws the list; `focus` ({id, action}) names the control to focus afterwards. */
  render(focus = null) {
    const list = $("example-list");
    const active = list.contains(document.activeElement) ? document.activeElement : null;
    const kept = focus || (active && active.dataset.action && { id: active.closest("li").dataset.id, action: active.dataset.action });
    const conflicts = this.examples.filter((e) => e.conflict).length;
    const shown = this.filter === "all" ? "" : `${STATUS_LABELS[this.filter].toLowerCase()} `;
    $("training-summary").textContent =
      `${this.examples.length} ${shown}example${this.examples.length === 1 ? "" : "s"}` +
      (conflicts ? ` · ${conflicts} with a conflict` : "");
    list.replaceChildren(...this.examples.map((example, index) => this.item(example, index)));
    const empty = $("example-empty");
    empty.hidden = this.examples.length > 0;
    empty.textContent =
      this.filter === "pending"
        ? "Nothing waits for review. Examples wait here when Review training examples is on in the desk settings."
        : "No examples here yet. Agents add them with Add to training on a customer message.";
    if (kept) {
      const target =
        list.querySelector(`li[data-id="${CSS.escape(kept.id)}"] [data-action="${kept.action}"]:not([hidden])`) ||
        list.querySelector(`li[data-id="${CSS.escape(kept.id)}"] [data-action]:not([hidden])`) ||
        list.querySelector("[data-action]:not([hidden])") ||
        $("training-view-title");
      target.focus();
    }
  }

  item(example, index) {
    const textId = `example-text-${index}`;
    const item = el("li", { class: "example-item", dataset: { id: example.id, status: example.status } });
    if (this.editing === example.id) return this.editForm(item, example, index);
    const tags = el(
      "div",
      { class: "example-tags" },
      el("span", { class: `badge example-status example-status--${example.status}` }, STATUS_LABELS[example.status] || example.status),
      el("span", { class: "example-intent" }, el("span", { class: "visually-hidden" }, "Intent: "), example.intent),
      example.proposed_intent
        ? el("span", { class: "badge example-new-intent", title: "Not an intent of the domain yet" }, "New intent")
        : null,
      example.entities.map((entity) =>
        el("span", { class: "entity-chip" }, el("span", { class: "entity-name" }, entity.entity), ` = ${entity.value}`),
      ),
    );
    const others = (example.contributors || []).filter((agent) => agent !== example.agent);
    const meta = el(
      "p",
      { class: "example-meta" },
      `Added by ${example.agent}`,
      others.length ? ` (and ${others.join(", ")})` : "",
      " in ",
      el(
        "button",
        {
          type: "button",
          class: "link-button",
          title: "Open the conversation",
          onclick: () => this.openConversation(example.conversation),
        },
        example.conversation,
      ),
      " · ",
      el("time", { datetime: new Date(example.added_at).toISOString(), title: fullTime(example.added_at) }, clock(example.added_at)),
      example.reviewed_by ? ` · reviewed by ${example.reviewed_by}, ${clock(example.reviewed_at)}` : "",
    );
    const conflict = example.conflict
      ? el(
          "p",
          { class: "example-conflict" },
          el("strong", {}, "Conflict: "),
          `the same text trains “${example.conflict.intent}” ${
            example.conflict.source === "data" ? "in the NLU data (data/)" : "in another example"
          }; it is not exported while the conflict lasts.`,
        )
      : null;
    const action = (name, label, onclick, hidden = false) =>
      el("button", { type: "button", class: "button button--small", dataset: { action: name }, "aria-describedby": textId, hidden, onclick }, label);
    const actions = el(
      "div",
      { class: "example-actions" },
      action("accept", "Accept", () => this.review(example, { status: "accepted" }, "accept"), example.status === "accepted"),
      action("reject", "Reject", () => this.review(example, { status: "rejected" }, "reject"), example.status === "rejected"),
      action("edit", "Edit", () => {
        this.editing = example.id;
        this.render({ id: example.id, action: "edit-text" });
      }),
    );
    actions.firstChild.classList.add("button--accept");
    item.append(
      ...[
        el("q", { class: "example-text", id: textId }, markedText(example.text, example.entities)),
        tags,
        meta,
        conflict,
        actions,
        el("p", { class: "form-error", role: "alert", dataset: { error: example.id } }),
      ].filter(Boolean),
    );
    return item;
  }

  editForm(item, example, index) {
    const textInput = el("textarea", { id: `example-edit-text-${index}`, rows: 2, maxlength: 4096, dataset: { action: "edit-text" } });
    textInput.value = example.text;
    const intentInput = el("input", {
      id: `example-edit-intent-${index}`,
      list: "training-intents",
      autocomplete: "off",
      spellcheck: "false",
      maxlength: 100,
      "aria-describedby": `example-edit-hint-${index}`,
    });
    intentInput.value = example.intent;
    const error = el("p", { class: "form-error", role: "alert" });
    const form = el(
      "form",
      { class: "example-edit", novalidate: true, "aria-label": `Edit the example “${example.text}”` },
      el("label", { for: textInput.id }, "Example text"),
      textInput,
      el("label", { for: intentInput.id }, "Intent"),
      intentInput,
      el(
        "p",
        { class: "field-hint", id: `example-edit-hint-${index}` },
        "One of the domain’s intents, or a new one (letters, digits and _ / . -). A new text keeps the entities whose values it still holds.",
      ),
      error,
      el(
        "div",
        { class: "example-actions" },
        el("button", { type: "submit", class: "button button--small button--primary", dataset: { action: "save" } }, "Save"),
        el(
          "button",
          {
            type: "button",
            class: "button button--small",
            dataset: { action: "cancel" },
            onclick: () => {
              this.editing = null;
              this.render({ id: example.id, action: "edit" });
            },
          },
          "Cancel",
        ),
      ),
    );
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        this.editing = null;
        this.render({ id: example.id, action: "edit" });
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = textInput.value.trim();
      const intent = intentInput.value.trim();
      if (!text) return void (error.textContent = "The example text is empty.");
      if (!INTENT_PATTERN.test(intent)) {
        error.textContent = "The intent may hold only letters, digits and _ / . - (at most 100), no spaces.";
        intentInput.focus();
        return;
      }
      const changes = {};
      let note = "";
      if (text !== example.text) {
        changes.text = text;
        const { kept, dropped } = movedEntities(text, example.entities);
        if (example.entities.length) changes.entities = kept;
        if (dropped.length) note = ` Dropped the entities no longer in the text: ${dropped.join(", ")}.`;
      }
      if (intent !== example.intent) changes.intent = intent;
      if (!Object.keys(changes).length) {
        this.editing = null;
        this.render({ id: example.id, action: "edit" });
        return;
      }
      this.review(example, changes, "edit", { error, note });
    });
    item.classList.add("example-item--editing");
    item.append(form);
    return item;
  }

  /** PATCHes the example, then shows the list again (the id changes with a new text or intent). */
  async review(example, changes, action, { error = null, note = "" } = {}) {
    const item = $("example-list").querySelector(`li[data-id="${CSS.escape(example.id)}"]`);
    const shownError = error || (item && item.querySelector("[data-error]"));
    const buttons = item ? [...item.querySelectorAll("button")] : [];
    for (const button of buttons) button.disabled = true;
    try {
      const reviewed = await this.api.reviewTrainingExample(example.id, changes);
      this.editing = null;
      const what =
        action === "accept"
          ? `Accepted “${reviewed.text}” as ${reviewed.intent}.`
          : action === "reject"
            ? `Rejected “${reviewed.text}”.`
            : `Saved “${reviewed.text}” as ${reviewed.intent}.${note}`;
      await this.refresh({ focus: { id: reviewed.id, action: action === "edit" ? "edit" : "accept" } });
      $("training-summary").textContent = `${what} ${$("training-summary").textContent}`;
    } catch (failure) {
      if (this.failed(failure)) return;
      for (const button of buttons) button.disabled = false;
      if (shownError) shownError.textContent = `Not saved: ${failure.message}`;
      if (failure.status === 404) this.refresh();
    }
  }
}
