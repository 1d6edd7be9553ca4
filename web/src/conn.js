// The WebSocket connection to the relay's dashboard endpoint: hello,
// reconnect with backoff, and the binary frame format of docs/protocol.md.

export const PROTOCOL = 1;
export const CLIENT = 'switchboard-web/0.1';
export const MAX_CHUNK = 256 * 1024; // largest input payload in one frame

const FRAME_OUTPUT = 1;
const FRAME_INPUT = 2;
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;

const encoder = new TextEncoder();

// Connection keeps one dashboard connection up. Its state is one of
// 'connecting', 'connected', 'reconnecting' (retryAt says when), 'offline'
// (the browser has no network) and 'refused' (the relay refused the
// session's token: the page must log in again; lastClose says why).
// Handlers:
//   onState(state), onMessage(msg), onOutput(commandID, offset, bytes).
// onState('connected') fires after welcome; the snapshot follows.
export class Connection {
  constructor(url, handlers) {
    this.url = url;
    this.h = handlers;
    this.ws = null;
    this.state = 'connecting';
    this.retryAt = 0;
    this.attempt = 0;
    this.timer = 0;
    this.lastClose = '';
    this.stopped = true;
    window.addEventListener('online', () => this.retryNow());
    window.addEventListener('offline', () => this.ws?.close());
  }

  connect() {
    clearTimeout(this.timer);
    this.stopped = false;
    if (!navigator.onLine) {
      this.setState('offline');
      return;
    }
    this.setState('connecting');
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL, client: CLIENT }));
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => this.closed(ws, ev);
    this.ws = ws;
  }

  receive(data) {
    if (typeof data !== 'string') {
      const f = parseOutputFrame(data);
      if (f) this.h.onOutput(f.id, f.offset, f.data);
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (err) {
      console.warn('relay sent a text message that is not JSON', err);
      return;
    }
    if (msg.type === 'welcome') {
      this.attempt = 0;
      this.relayVersion = msg.relay;
      this.setState('connected');
    }
    this.h.onMessage(msg);
  }

  closed(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.lastClose = ev.code === 1006 ? '' : `${ev.code}${ev.reason ? ' ' + ev.reason : ''}`;
    if (ev.code === 4001) console.error('relay refused the protocol version:', ev.reason);
    if (this.stopped) return;
    if (ev.code === CLOSE_UNAUTHORIZED || ev.code === CLOSE_FORBIDDEN) {
      this.stopped = true;
      this.lastClose = ev.reason || (ev.code === CLOSE_FORBIDDEN ? 'forbidden' : 'unauthorized');
      this.setState('refused');
      return;
    }
    if (!navigator.onLine) {
      this.setState('offline');
      return;
    }
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.setState('reconnecting');
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // stop closes the connection and stops reconnecting until connect.
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, 'signed out');
  }

  retryNow() {
    if (this.ws || this.stopped) return;
    this.attempt = Math.max(this.attempt, 1);
    this.connect();
  }

  setState(s) {
    this.state = s;
    this.h.onState(s);
  }

  get connected() {
    return this.state === 'connected' && this.ws?.readyState === WebSocket.OPEN;
  }

  // send sends a JSON message; it reports false when not connected.
  send(msg) {
    if (!this.connected) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  // sendInput sends bytes (a string is UTF-8 encoded) to a command's PTY.
  sendInput(commandID, input) {
    if (!this.connected) return false;
    const data = typeof input === 'string' ? encoder.encode(input) : input;
    for (let at = 0; at < data.length; at += MAX_CHUNK) {
      this.ws.send(inputFrame(commandID, data.subarray(at, at + MAX_CHUNK)));
    }
    return true;
  }
}

// parseOutputFrame decodes [1][n][id][u64 offset][data]; null if malformed.
export function parseOutputFrame(buf) {
  const b = new Uint8Array(buf);
  if (b.length < 2 || b[0] !== FRAME_OUTPUT) return null;
  const n = b[1];
  if (n === 0 || b.length < 2 + n + 8) return null;
  const id = String.fromCharCode(...b.subarray(2, 2 + n));
  const offset = Number(new DataView(buf, 2 + n, 8).getBigUint64(0));
  return { id, offset, data: b.subarray(2 + n + 8) };
}

// inputFrame encodes [2][n][id][data].
export function inputFrame(commandID, data) {
  const id = encoder.encode(commandID);
  const out = new Uint8Array(2 + id.length + data.length);
  out[0] = FRAME_INPUT;
  out[1] = id.length;
  out.set(id, 2);
  out.set(data, 2 + id.length);
  return out;
}

// dashboardURL is the dashboard endpoint next to this page, ws: or wss:
// to match how the page was loaded.
export function dashboardURL(loc = window.location) {
  const u = new URL('ws/dashboard', loc.href);
  u.protocol = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  u.hash = '';
  u.search = '';
  return u.href;
}
