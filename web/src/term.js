// A terminal for one command: an xterm.js Terminal fed from the command's
// output stream, with resume by offset and flow control.

import { Terminal } from './vendor/xterm.mjs';
import { FitAddon } from './vendor/addon-fit.mjs';

// Flow control: bytes handed to xterm but not yet parsed. Above the high
// watermark the page unsubscribes and drops what still arrives; once xterm
// has worked the backlog below the low one, it subscribes again from the
// next offset it needs, so nothing is lost and memory stays bounded.
export const flow = { high: 4 << 20, low: 512 << 10 };

export const stats = { pauses: 0, resumes: 0, dropped: 0, maxPending: 0 };

// A terminal opened on a command that printed more than startSkipOver
// starts startKeep bytes before its end: the scrollback holds no more
// than that, and replaying megabytes to reach the end showed the middle
// of the output for as long as it took.
export const startSkipOver = 1 << 20;
export const startKeep = 256 << 10;

export const theme = {
  background: '#0b0e14', foreground: '#d6dde6', cursor: '#d6dde6', selectionBackground: '#2f81f766',
  black: '#1c2128', red: '#f47067', green: '#57ab5a', yellow: '#c69026', blue: '#539bf5',
  magenta: '#b083f0', cyan: '#39c5cf', white: '#adbac7', brightBlack: '#636e7b', brightRed: '#ff938a',
  brightGreen: '#6bc46d', brightYellow: '#daaa3f', brightBlue: '#6cb6ff', brightMagenta: '#dcbdfb',
  brightCyan: '#56d4dd', brightWhite: '#cdd9e5',
};

export const TERM_FONT = 'ui-monospace, "SF Mono", "Cascadia Mono", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace';

// The page never answers a program's terminal queries: it shows output
// that is often replayed, and several pages may watch one command, so its
// answers would reach the program as if typed (docs/protocol.md, "Input").
// xterm.js answers these by itself; a handler that reports them handled
// stops it. Only a person's keys, pastes and mouse clicks are sent.
const FOCUS_IN = '\x1b[I';
const FOCUS_OUT = '\x1b[O';
const COLOUR_QUERIES = [4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]; // OSC n;…;? asks for a colour
const WINDOW_REPORTS = new Set([11, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23]); // CSI n t that answer

export function muteQueries(term) {
  const p = term.parser;
  const handled = () => true;
  for (const id of [
    { final: 'c' }, { prefix: '>', final: 'c' }, { prefix: '=', final: 'c' }, // device attributes
    { final: 'n' }, { prefix: '?', final: 'n' }, // status and cursor position reports
    { intermediates: '$', final: 'p' }, { prefix: '?', intermediates: '$', final: 'p' }, // DECRQM
    { prefix: '>', final: 'q' }, { prefix: '?', final: 'u' }, // terminal version, keyboard flags
  ]) p.registerCsiHandler(id, handled);
  p.registerCsiHandler({ final: 't' }, (params) => WINDOW_REPORTS.has(params[0]));
  p.registerDcsHandler({ intermediates: '$', final: 'q' }, handled); // DECRQSS
  p.registerDcsHandler({ intermediates: '+', final: 'q' }, handled); // XTGETTCAP
  for (const n of COLOUR_QUERIES) p.registerOscHandler(n, (data) => data.split(';').includes('?'));
}

export class TermView {
  // conn is the Connection. getCommand() returns the command's latest
  // state, canType() whether this page may send it input and resizes, and
  // onChange() is called when the stream's state changes.
  constructor(commandID, host, conn, { getCommand, canType, onChange }) {
    this.id = commandID;
    this.conn = conn;
    this.getCommand = getCommand;
    this.canType = canType;
    this.onChange = onChange;
    this.offset = 0; // the next output byte this terminal needs
    this.pending = 0; // bytes written to xterm, not yet parsed
    this.subscribed = false;
    // The relay's 'subscribed' marker for the last subscribe came: output
    // before it was sent for an earlier subscription (one this terminal
    // paused), and using it would skip bytes.
    this.confirmed = false;
    this.subscribedFrom = 0;
    this.started = false; // subscribed once: later subscribes resume where it stands
    this.paused = false;
    this.ended = false;
    this.lost = 0;
    this.error = '';
    this.term = new Terminal({
      scrollback: 10000, convertEol: false, cursorBlink: true, fontFamily: TERM_FONT, fontSize: 13,
      theme, allowProposedApi: false,
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(host);
    muteQueries(this.term);
    this.term.onData((s) => {
      if (s !== FOCUS_IN && s !== FOCUS_OUT) this.input(s);
    });
    this.term.onBinary((s) => this.input(Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff)));
    this.term.onResize(({ cols, rows }) => this.sendResize(cols, rows));
  }

  get running() {
    return this.getCommand()?.state === 'running' && this.canType();
  }

  // subscribe (re)starts the output stream from the next needed offset.
  subscribe() {
    if (this.ended || this.paused || !this.conn.connected) return;
    if (!this.started) this.startNearEnd();
    this.started = true;
    this.confirmed = false;
    this.subscribedFrom = this.offset;
    this.subscribed = this.conn.send({ type: 'subscribe', command_id: this.id, offset: this.offset });
  }

  // disconnected forgets the subscription; the relay forgot it too.
  disconnected() {
    this.subscribed = false;
  }

  // confirm handles the relay's 'subscribed' marker.
  confirm(offset) {
    if (this.subscribed && offset === this.subscribedFrom) this.confirmed = true;
  }

  output(offset, data) {
    if (!this.subscribed || !this.confirmed || this.paused) {
      stats.dropped += data.length;
      return; // fetched again from this.offset on resubscribe
    }
    const end = offset + data.length;
    if (end <= this.offset) return; // already have it
    if (offset > this.offset) {
      this.lost += offset - this.offset;
      this.write(`\r\n\x1b[2m[switchboard: ${offset - this.offset} bytes of output were lost]\x1b[0m\r\n`);
    } else if (offset < this.offset) {
      data = data.subarray(this.offset - offset);
    }
    this.offset = end;
    this.write(data);
  }

  write(data) {
    const n = data.length;
    this.pending += n;
    stats.maxPending = Math.max(stats.maxPending, this.pending);
    this.term.write(data, () => {
      this.pending -= n;
      if (this.paused && this.pending <= flow.low) this.resume();
    });
    if (!this.paused && this.pending > flow.high) this.pause();
  }

  pause() {
    this.paused = true;
    stats.pauses++;
    if (this.subscribed) this.conn.send({ type: 'unsubscribe', command_id: this.id });
    this.subscribed = false;
    this.onChange();
  }

  resume() {
    this.paused = false;
    stats.resumes++;
    this.subscribe();
    this.onChange();
  }

  // end handles output.end: complete once every byte up to offset is here.
  end(offset) {
    if (!this.subscribed || !this.confirmed || offset > this.offset) return;
    this.ended = true;
    this.subscribed = false;
    this.term.write('\x1b[?25l'); // a finished command has no cursor
    this.onChange();
  }

  // startNearEnd skips to the last startKeep bytes of a long output.
  startNearEnd() {
    const total = this.getCommand()?.output_bytes ?? 0;
    if (this.offset !== 0 || total <= startSkipOver) return;
    this.offset = total - startKeep;
    this.write(`\x1b[2m[switchboard: skipped ${this.offset} bytes; tui logs ${this.id} prints them all]\x1b[0m\r\n`);
  }

  // skipToEnd jumps a final command's terminal to its last bytes.
  skipToEnd(keep = 256 << 10) {
    const total = this.getCommand()?.output_bytes ?? 0;
    const to = total - keep;
    if (to <= this.offset) return;
    if (this.subscribed) this.conn.send({ type: 'unsubscribe', command_id: this.id });
    this.subscribed = false;
    this.write(`\r\n\x1b[2m[switchboard: skipped ${to - this.offset} bytes]\x1b[0m\r\n`);
    this.offset = to;
    this.paused = false;
    this.subscribe();
    this.onChange();
  }

  input(data) {
    if (this.running) this.conn.sendInput(this.id, data);
  }

  sendResize(cols, rows) {
    if (this.running) this.conn.send({ type: 'resize', command_id: this.id, cols, rows });
  }

  // layout fits the terminal to its box, if the box is shown.
  layout() {
    if (!this.term.element?.offsetParent) return;
    const b = this.term.buffer.active;
    const following = b.viewportY >= b.baseY; // at the end: stay there
    try {
      this.fit.fit();
    } catch (err) {
      console.warn('fit terminal', this.id, err);
    }
    if (following) this.term.scrollToBottom();
  }

  // syncSize tells the PTY the terminal's size (after it starts running).
  syncSize() {
    this.sendResize(this.term.cols, this.term.rows);
  }

  // text returns the terminal's buffer as lines, wrapped lines joined.
  text() {
    const buf = this.term.buffer.active;
    const lines = [];
    for (let y = 0; y < buf.length; y++) {
      const line = buf.getLine(y);
      if (!line) continue;
      const s = line.translateToString(true);
      if (line.isWrapped && lines.length) lines[lines.length - 1] += s;
      else lines.push(s);
    }
    while (lines.length && lines[lines.length - 1] === '') lines.pop();
    return lines;
  }

  dispose() {
    if (this.subscribed) this.conn.send({ type: 'unsubscribe', command_id: this.id });
    this.term.dispose();
  }
}
