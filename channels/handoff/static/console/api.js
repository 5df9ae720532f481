// The agent API (docs/api.md) over fetch, and the agents' live WebSocket.
// Both are addressed relative to this page: /webhooks/handoff/console/ -> /webhooks/handoff/.

export const API_BASE = new URL("../", window.location.href);

/** A refused request: `status`, the contract's machine `code`, the server's details. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The server answered ${status}.`);
    this.status = status;
    this.code = (body && body.error) || "http_" + status;
    this.body = body || {};
  }
}

export class AgentApi {
  constructor(token) {
    this.token = token;
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(new URL(path, API_BASE), init);
    } catch (failure) {
      throw new ApiError(0, { error: "network", message: "The server cannot be reached." });
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = { message: text };
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return { status: response.status, data };
  }

  me() {
    return this.request("GET", "agent/me").then((r) => r.data.agent);
  }
  list(view) {
    return this.request("GET", `agent/conversations?view=${encodeURIComponent(view)}&limit=500`).then(
      (r) => r.data.conversations,
    );
  }
  conversation(id) {
    return this.request("GET", `agent/conversations/${encodeURIComponent(id)}`).then((r) => r.data);
  }
  claim(id) {
    return this.request("POST", `agent/conversations/${encodeURIComponent(id)}/claim`).then((r) => r.data);
  }
  send(id, text) {
    return this.request("POST", `agent/conversations/${encodeURIComponent(id)}/messages`, { text }).then(
      (r) => r.data.message,
    );
  }
  release(id) {
    return this.request("POST", `agent/conversations/${encodeURIComponent(id)}/release`).then((r) => r.data);
  }
  intents() {
    return this.request("GET", "agent/intents").then((r) => r.data.intents);
  }
  takeover(id) {
    return this.request("POST", `agent/conversations/${encodeURIComponent(id)}/takeover`).then((r) => r.data);
  }
  transfer(id, agent, agentName) {
    const body = agent ? { agent, agent_name: agentName } : {};
    return this.request("POST", `agent/conversations/${encodeURIComponent(id)}/transfer`, body).then((r) => r.data);
  }
  agents() {
    return this.request("GET", "agent/agents").then((r) => r.data.agents);
  }
  setStatus(status) {
    return this.request("PUT", "agent/status", { status }).then((r) => r.data);
  }
  notes(id) {
    return this.request("GET", `agent/conversations/${encodeURIComponent(id)}/notes`).then((r) => r.data.notes);
  }
  addNote(id, text) {
    return this.request("POST", `agent/conversations/${encodeURIComponent(id)}/notes`, { text }).then(
      (r) => r.data.note,
    );
  }
  customer(id) {
    return this.request("GET", `agent/conversations/${encodeURIComponent(id)}/customer`).then((r) => r.data.customer);
  }
  saveCustomer(id, fields) {
    return this.request("PUT", `agent/conversations/${encodeURIComponent(id)}/customer`, fields).then(
      (r) => r.data.customer,
    );
  }
  cannedResponses() {
    return this.request("GET", "agent/canned-responses").then((r) => r.data.canned_responses);
  }
  saveCannedResponse(id, fields) {
    const path = id ? `agent/canned-responses/${encodeURIComponent(id)}` : "agent/canned-responses";
    return this.request(id ? "PUT" : "POST", path, fields).then((r) => r.data.canned_response);
  }
  deleteCannedResponse(id) {
    return this.request("DELETE", `agent/canned-responses/${encodeURIComponent(id)}`);
  }
  addTrainingExample(id, text, intent, entities = []) {
    return this.request("POST", `agent/conversations/${encodeURIComponent(id)}/training-examples`, {
      text,
      intent,
      entities,
    });
  }
  trainingExamples(status = "all") {
    return this.request("GET", `agent/training-examples?status=${encodeURIComponent(status)}`).then(
      (r) => r.data.examples,
    );
  }
  /** A trainer's review: any of text, intent, entities, status. */
  reviewTrainingExample(id, changes) {
    return this.request("PATCH", `agent/training-examples/${encodeURIComponent(id)}`, changes).then(
      (r) => r.data.example,
    );
  }
}

/**
 * The agents' live feed. The token goes in the first frame, never in the URL;
 * after a drop it reconnects with the last event id it saw, so nothing is missed.
 */
export class LiveFeed {
  constructor(token, { onReady, onEvent, onReset, onStatus, onRefused }) {
    this.token = token;
    this.handlers = { onReady, onEvent, onReset, onStatus, onRefused };
    this.lastEventId = null;
    this.socket = null;
    this.retryMs = 500;
    this.stopped = false;
    this.pingTimer = null;
  }

  get url() {
    const url = new URL("agent/ws", API_BASE);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.pingTimer);
    if (this.socket) this.socket.close(1000, "signed out");
    this.socket = null;
  }

  connect() {
    if (this.stopped) return;
    this.handlers.onStatus("connecting");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token: this.token, after: this.lastEventId }));
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (closed) => {
      clearInterval(this.pingTimer);
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      if (closed.code === 4401) return; // refused: onRefused already told the user
      this.handlers.onStatus("offline");
      const wait = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, 10000);
      setTimeout(() => this.connect(), wait);
    });
  }

  receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch (_) {
      return;
    }
    if (frame.type === "ready") {
      this.retryMs = 500;
      const resumed = this.lastEventId !== null;
      if (!resumed) this.lastEventId = frame.last_event_id;
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.ping(), 25000);
      this.handlers.onStatus("live");
      this.handlers.onReady(frame, resumed);
    } else if (frame.type === "event") {
      this.lastEventId = frame.id;
      this.handlers.onEvent(frame);
    } else if (frame.type === "reset") {
      this.handlers.onReset();
    } else if (frame.type === "error") {
      this.handlers.onRefused(frame);
    }
  }

  ping() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send('{"type":"ping"}');
  }
}
