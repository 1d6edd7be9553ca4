// Who needs a person (docs/awareness.md): the agents whose commands wait,
// the one waiting longest first, each with what it asks and quick replies
// that answer it without opening its terminal; a "next waiting" button;
// the number waiting in the tab's title; desktop notifications when an
// agent starts waiting, once the user allows them.

import { h, setText, relTime } from './view.js';

const $ = (id) => document.getElementById(id);

// Quick replies: what each button sends. A reply is typed as is, then
// Enter: a program reading a line needs it, one reading keys ignores it.
const REPLIES = [['Enter', '\r'], ['y', 'y\r'], ['n', 'n\r'], ['1', '1\r'], ['2', '2\r'], ['3', '3\r']];

// app is what this module uses of the page: {state, request(msg, what),
// open(id), canOperate(), showNotice(text)}.
let app;
let state;
let ready = false; // a first snapshot was shown: later changes may notify
let cursor = null; // the agent "next waiting" went to last
const els = new Map(); // agent id -> list item

export function initAttention(a) {
  app = a;
  state = a.state;
  $('next-waiting').addEventListener('click', nextWaiting);
  $('notify-enable').addEventListener('click', async () => {
    await Notification.requestPermission();
    renderAttention();
  });
}

// waiting lists the agents that wait, the one waiting longest first.
export function waiting() {
  return [...state.agents.values()]
    .filter((a) => a.attention === 'waiting')
    .sort((a, b) => (Date.parse(a.attention_since) || 0) - (Date.parse(b.attention_since) || 0) || a.name.localeCompare(b.name));
}

// noteAgent is told of each agent event before it is applied: an agent
// that starts waiting gets a desktop notification.
export function noteAgent(prev, next) {
  if (!ready || next.attention !== 'waiting' || prev?.attention === 'waiting') return;
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
  const n = new Notification(`${next.name} is waiting`, { body: next.attention_reason || 'needs you', tag: `switchboard-${next.id}` });
  n.onclick = () => {
    window.focus();
    if (next.attention_command) app.open(next.attention_command);
    n.close();
  };
}

// snapshotShown: from now on, changes are news.
export function snapshotShown() {
  ready = true;
}

export function renderAttention() {
  const list = waiting();
  document.title = list.length ? `(${list.length}) Switchboard` : 'Switchboard';
  setText($('waiting-count'), list.length ? `${list.length} waiting` : '');
  $('next-waiting').disabled = !list.length;
  const notify = $('notify-enable');
  notify.hidden = typeof Notification === 'undefined' || Notification.permission !== 'default';
  const ul = $('waiting');
  for (const [id, e] of els) if (!list.some((a) => a.id === id)) (e.remove(), els.delete(id));
  list.forEach((a, i) => {
    const e = els.get(a.id) ?? makeItem(a);
    updateItem(e, a);
    if (ul.children[i] !== e) ul.insertBefore(e, ul.children[i] ?? null);
  });
  ul.querySelector('.placeholder')?.remove();
  if (!list.length) ul.append(h('li', { class: 'placeholder' }, 'Nobody is waiting for you.'));
}

function makeItem(a) {
  const form = h('form', { class: 'reply-line', autocomplete: 'off' },
    h('input', { class: 'reply-text', 'aria-label': `Reply to ${a.name}`, placeholder: 'Reply…', spellcheck: 'false' }),
    h('button', { type: 'submit', class: 'link' }, 'Send'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = form.querySelector('input');
    send(e, `${input.value}\r`);
    input.value = '';
  });
  const e = h('li', { class: 'waiting-item', dataset: { agent: a.id } },
    h('div', { class: 'waiting-top' },
      h('span', { class: 'status status-waiting' }, '◆'),
      h('span', { class: 'waiting-name' }),
      h('span', { class: 'waiting-since muted' }),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'link waiting-open', onclick: () => app.open(e.dataset.command) }, 'Open')),
    h('div', { class: 'waiting-reason' }),
    h('div', { class: 'replies' },
      ...REPLIES.map(([label, text]) => h('button', { type: 'button', class: 'reply', dataset: { key: label }, 'aria-label': `Reply ${label}`, onclick: () => send(e, text) }, label)),
      form));
  els.set(a.id, e);
  return e;
}

function updateItem(e, a) {
  e.dataset.command = a.attention_command ?? '';
  e.dataset.name = a.name;
  setText(e.querySelector('.waiting-name'), a.name);
  setText(e.querySelector('.waiting-since'), relTime(a.attention_since).replace(' ago', ''));
  setText(e.querySelector('.waiting-reason'), a.attention_reason || 'needs input');
  const ro = !app.canOperate();
  for (const b of e.querySelectorAll('.replies button, .replies input')) b.disabled = ro;
  e.querySelector('.waiting-open').setAttribute('aria-label', `Open what ${a.name} runs`);
}

// send answers the waiting command of an item.
function send(e, text) {
  const id = e.dataset.command;
  if (!id) return;
  if (!app.request({ type: 'quick_reply', command_id: id, text }, 'quick_reply')) {
    app.showNotice('Not connected to the relay; the reply was not sent.');
    return;
  }
  e.classList.add('answered');
}

// nextWaiting opens the next waiting agent's command: after the one it
// opened last, the one waiting longest first.
function nextWaiting() {
  const list = waiting();
  if (!list.length) return;
  const i = list.findIndex((a) => a.id === cursor);
  const a = list[(i + 1) % list.length];
  cursor = a.id;
  els.get(a.id)?.scrollIntoView({ block: 'nearest' });
  if (a.attention_command) app.open(a.attention_command);
}
