// Replay of a finished command in its pane: the command's recording
// (GET api/commands/ID/asciicast, asciicast v2) played in a terminal of
// its own at its recorded times, with play/pause, speed, an idle limit,
// ±10 s, and a progress bar that seeks. A replay never sends anything to
// the relay: its terminal takes no input and answers no query.

import { Terminal } from './vendor/xterm.mjs';
import { TERM_FONT, theme, muteQueries } from './term.js';
import { h, setText } from './view.js';

export const SPEEDS = [0.5, 1, 2, 4, 8, 16];
export const IDLE_LIMITS = [0, 0.5, 1, 2, 5]; // seconds; 0: keep pauses
const SEEK_STEP = 10000; // ms
const REFRESH = 200; // ms between updates of the position shown
// MAX_REPLAY_BYTES is the most output the page replays: it holds the
// whole recording, as text and in the terminal's buffer.
export const MAX_REPLAY_BYTES = 64 << 20;
const MAX_FEED = 1 << 20; // characters; more at once are cut to their last TAIL
const TAIL = 256 << 10;

// parseCast reads an asciicast v2 file: its header and its output and
// resize events, times in ms.
export function parseCast(text) {
  const lines = text.split('\n').filter((l) => l.trim());
  if (!lines.length) throw new Error('empty recording');
  const header = JSON.parse(lines[0]);
  if (header.version !== 2) throw new Error(`asciicast version ${header.version}, not 2`);
  const events = [];
  for (const l of lines.slice(1)) {
    const [t, code, data] = JSON.parse(l);
    const ms = Math.round(t * 1000);
    if (code === 'o') events.push({ t: ms, data });
    else if (code === 'r') {
      const [cols, rows] = String(data).split('x').map(Number);
      if (cols > 0 && rows > 0) events.push({ t: ms, cols, rows });
    }
  }
  return { header, events };
}

// withIdleLimit gives each event its time with every pause longer than
// limit (ms) cut to limit, as asciinema's idle time limit does.
export function withIdleLimit(events, limit) {
  let prev = 0;
  let cut = 0;
  return events.map((e) => {
    const gap = e.t - prev;
    if (limit > 0 && gap > limit) cut += gap - limit;
    prev = e.t;
    return { ...e, at: e.t - cut };
  });
}

export class Replay {
  // host is the element the replay fills; onClose() is called when the
  // user closes it.
  constructor(commandID, host, onClose) {
    this.id = commandID;
    this.onClose = onClose;
    this.events = [];
    this.frames = [];
    this.next = 0; // the first frame not yet played
    this.pos = 0; // ms of recording time played
    this.duration = 0;
    this.speed = 1;
    this.idle = 0;
    this.playing = false;
    this.anchor = { wall: 0, pos: 0 };
    this.timer = 0;
    this.error = '';
    this.el = this.makeControls(host);
    this.term = new Terminal({ scrollback: 10000, fontFamily: TERM_FONT, fontSize: 13, theme, disableStdin: true, cursorBlink: false });
    this.term.open(this.el.querySelector('.replay-term'));
    muteQueries(this.term);
  }

  makeControls(host) {
    const opts = (values, label) => values.map((v) => h('option', { value: String(v) }, label(v)));
    const el = h('div', { class: 'replay', tabindex: -1 },
      h('div', { class: 'replay-bar' },
        h('button', { type: 'button', class: 'replay-play', onclick: () => this.toggle() }, '▶ Play'),
        h('button', { type: 'button', class: 'link replay-back', onclick: () => this.seek(this.now() - SEEK_STEP) }, '−10 s'),
        h('button', { type: 'button', class: 'link replay-fwd', onclick: () => this.seek(this.now() + SEEK_STEP) }, '+10 s'),
        h('label', {}, 'Speed ', h('select', { class: 'replay-speed', onchange: (ev) => this.setSpeed(Number(ev.target.value)) },
          ...opts(SPEEDS, (v) => `${v}×`))),
        h('label', {}, 'Pauses ', h('select', { class: 'replay-idle', onchange: (ev) => this.setIdle(Number(ev.target.value)) },
          ...opts(IDLE_LIMITS, (v) => (v ? `cut to ${v} s` : 'as recorded')))),
        h('span', { class: 'replay-time muted' }, 'loading…'),
        h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'link replay-close', onclick: () => this.onClose() }, 'Close replay')),
      h('input', { type: 'range', class: 'replay-progress', min: '0', max: '0', step: '10', value: '0',
        'aria-label': 'Position in the recording', oninput: (ev) => this.seek(Number(ev.target.value)) }),
      h('div', { class: 'replay-term' }));
    el.querySelector('.replay-speed').value = '1';
    el.addEventListener('keydown', (ev) => this.key(ev));
    host.append(el);
    return el;
  }

  // load fetches the recording of a command of size bytes of output and
  // starts playing it.
  async load(size = 0) {
    try {
      if (size > MAX_REPLAY_BYTES) {
        throw new Error(`${Math.round(size / (1 << 20))} MiB of output is more than the page replays ` +
          `(${MAX_REPLAY_BYTES >> 20} MiB): tui replay or tui export ${this.id}`);
      }
      const r = await fetch(`api/commands/${encodeURIComponent(this.id)}/asciicast`, { credentials: 'same-origin', cache: 'no-store' });
      if (!r.ok) throw new Error(`${r.status} ${(await r.text()).trim()}`);
      const { header, events } = parseCast(await r.text());
      if (header.width > 0 && header.height > 0) this.term.resize(header.width, header.height);
      this.size = { cols: this.term.cols, rows: this.term.rows };
      this.events = events;
      this.build();
      this.setPlaying(true);
    } catch (err) {
      this.error = `Cannot replay: ${err.message}`;
      setText(this.el.querySelector('.replay-time'), this.error);
    }
  }

  // build lays the frames out for the idle limit.
  build() {
    this.frames = withIdleLimit(this.events, this.idle * 1000);
    this.duration = this.frames.length ? this.frames[this.frames.length - 1].at : 0;
    this.el.querySelector('.replay-progress').max = String(this.duration);
  }

  // now is the recording time at this moment.
  now() {
    if (!this.playing) return this.anchor.pos;
    return this.anchor.pos + (performance.now() - this.anchor.wall) * this.speed;
  }

  setPlaying(on) {
    if (on && this.pos >= this.duration) this.seek(0); // at the end: from the start
    this.anchor = { wall: performance.now(), pos: this.now() };
    this.playing = on;
    this.tick();
  }

  toggle() {
    this.setPlaying(!this.playing);
  }

  setSpeed(s) {
    this.anchor = { wall: performance.now(), pos: this.now() };
    this.speed = s;
    this.tick();
  }

  // setIdle cuts pauses to s seconds, staying at the same output.
  setIdle(s) {
    const played = this.next;
    this.idle = s;
    this.build();
    const at = played > 0 ? this.frames[played - 1].at : 0;
    this.reset();
    this.seek(at);
  }

  reset() {
    this.term.reset();
    if (this.size) this.term.resize(this.size.cols, this.size.rows);
    this.next = 0;
    this.pos = 0;
  }

  // seek moves to recording time t (ms): forward by playing what lies
  // between, back by playing from the start into a cleared terminal.
  seek(t) {
    t = Math.max(0, Math.min(t, this.duration));
    if (t < this.pos) this.reset();
    this.play(t);
    this.anchor = { wall: performance.now(), pos: t };
    this.tick();
  }

  // play writes the frames due by t, consecutive output in one write.
  play(t) {
    let out = '';
    while (this.next < this.frames.length && this.frames[this.next].at <= t) {
      const f = this.frames[this.next++];
      if (f.data !== undefined) {
        out += f.data;
        continue;
      }
      this.write(out);
      out = '';
      this.term.resize(f.cols, f.rows);
    }
    this.write(out);
    this.pos = t;
  }

  // write gives xterm.js output; of a long run (a seek over megabytes),
  // only its last TAIL characters, from a line's start: the screen is what
  // they draw, and the page need not parse the rest.
  write(out) {
    if (out.length > MAX_FEED) {
      const from = out.length - TAIL;
      const nl = out.indexOf('\n', from);
      out = out.slice(nl >= 0 ? nl + 1 : from);
    }
    if (out) this.term.write(out);
  }

  // tick plays what is due, shows the position, and waits for the next
  // frame (or the next update of the position).
  tick() {
    clearTimeout(this.timer);
    this.timer = 0;
    const t = Math.min(this.now(), this.duration);
    if (this.playing) this.play(t);
    if (this.playing && t >= this.duration) {
      this.playing = false;
      this.anchor = { wall: performance.now(), pos: this.duration };
    }
    this.show();
    if (!this.playing) return;
    const next = this.next < this.frames.length ? (this.frames[this.next].at - t) / this.speed : REFRESH;
    this.timer = setTimeout(() => this.tick(), Math.max(0, Math.min(REFRESH, next)));
  }

  show() {
    const clock = (ms) => {
      const s = Math.max(0, ms) / 1000;
      return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;
    };
    const ended = !this.playing && this.pos >= this.duration;
    setText(this.el.querySelector('.replay-play'), this.playing ? '⏸ Pause' : ended ? '↻ Again' : '▶ Play');
    setText(this.el.querySelector('.replay-time'), `${clock(this.pos)} / ${clock(this.duration)}`);
    this.el.querySelector('.replay-progress').value = String(Math.round(this.pos));
  }

  // key: space plays or pauses, the arrows seek 10 s.
  key(ev) {
    if (ev.target.closest('select, button, input')) return;
    const act = { ' ': () => this.toggle(), ArrowLeft: () => this.seek(this.now() - SEEK_STEP),
      ArrowRight: () => this.seek(this.now() + SEEK_STEP) }[ev.key];
    if (!act) return;
    act();
    ev.preventDefault();
  }

  // text is the replay terminal's lines, wrapped lines joined.
  text() {
    const b = this.term.buffer.active;
    const out = [];
    for (let y = 0; y < b.length; y++) {
      const l = b.getLine(y);
      const s = l.translateToString(true);
      if (l.isWrapped && out.length) out[out.length - 1] += s;
      else out.push(s);
    }
    return out.join('\n');
  }

  dispose() {
    clearTimeout(this.timer);
    this.playing = false;
    this.term.dispose();
    this.el.remove();
  }
}
