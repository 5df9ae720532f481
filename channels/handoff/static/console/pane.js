// A view that takes the conversation pane's place (Stats, Settings, Training): its
// header button opens and closes it, and opening one leaves the conversation.

const $ = (id) => document.getElementById(id);

export class PaneView {
  /**
   * @param {object} options
   * @param {string} options.view  id of the view's element
   * @param {string} options.button  id of the header button that toggles it
   * @param {string} options.title  id of the heading that takes the focus on opening
   * @param {(open: boolean) => void} options.onToggle  the workspace shows the pane (phones)
   */
  constructor({ view, button, title, onToggle }) {
    this.viewId = view;
    this.titleId = title;
    this.onToggle = onToggle;
    this.visible = false;
    this.button = $(button);
    this.button.addEventListener("click", () => (this.visible ? this.close() : this.show()));
  }

  show() {
    this.visible = true;
    $("placeholder").hidden = true;
    $("conversation-view").hidden = true;
    $(this.viewId).hidden = false;
    this.button.setAttribute("aria-pressed", "true");
    this.onToggle(true);
    $(this.titleId).focus({ preventScroll: true });
    this.opened();
  }

  /** Leaves the view; `showPlaceholder` when nothing else takes its place. */
  hide({ showPlaceholder = false } = {}) {
    if (!this.visible) return;
    this.visible = false;
    this.closed();
    $(this.viewId).hidden = true;
    this.button.setAttribute("aria-pressed", "false");
    if (showPlaceholder) $("placeholder").hidden = false;
  }

  close() {
    this.hide({ showPlaceholder: true });
    this.onToggle(false);
    this.button.focus();
  }

  /** What the view does once shown (load its figures, ...). */
  opened() {}

  /** What the view does on leaving (stop its timers, ...). */
  closed() {}
}
