// The terminals: one pane per open command, each with its tab, shown one
// at a time or in a grid.

import { TermView, TERM_FONT } from './term.js';
import { Replay } from './replay.js';
import { h, setText, stateBadge, isFinal, commandText, duration, bytes } from './view.js';

const $ = (id) => document.getElementById(id);

// app is what the panes use of the page: {state, conn, request(msg, what),
// canOperate(), scheduleRender(), markOpen()}.
let app;
let state;

export function initPanes(a) {
  app = a;
  state = a.state;
}

// open shows a command's terminal, creating it if needed.
// from, when set, starts the pane's output there (a search hit's line),
// with note written above it: a pane open already is opened anew.
export function open(id, { activate = true, focus = true, from = null, note = '' } = {}) {
  if (from !== null && state.terms.has(id)) closeTab(id);
  let t = state.terms.get(id);
  if (!t) {
    const pane = makePane(id);
    $('panes').append(pane);
    t = new TermView(id, pane.querySelector('.pane-term'), app.conn,
      { getCommand: () => state.commands.get(id), canType: app.canOperate, onChange: () => updatePane(t) });
    t.pane = pane;
    pane.addEventListener('focusin', () => state.active !== id && activateTab(id, false));
    t.term.attachCustomKeyEventHandler((ev) => {
      if (ev.key !== 'F6') return true;
      if (ev.type === 'keydown') $('command').focus();
      return false;
    });
    state.terms.set(id, t);
    updatePane(t);
    if (from !== null) {
      t.offset = from;
      t.started = true; // not skipped to near the end
      t.term.write(`\x1b[2m[switchboard: ${note}]\x1b[0m\r\n`);
    }
    t.subscribe();
    if (!state.commands.has(id)) app.request({ type: 'history', command_id: id }, 'refresh');
  }
  if (activate || !state.active) activateTab(id, focus);
  else renderTabs();
  return t;
}

function makePane(id) {
  return h('section', { class: 'pane', id: `pane-${id}`, role: 'tabpanel', 'aria-labelledby': `tab-${id}`, dataset: { id } },
    h('div', { class: 'pane-bar' },
      h('span', { class: 'pane-state' }),
      h('span', { class: 'pane-title' }),
      h('span', { class: 'pane-info muted' }),
      h('span', { class: 'spacer' }),
      h('span', { class: 'pane-flow', hidden: true }, 'catching up…'),
      h('button', { type: 'button', class: 'link pane-skip', hidden: true, onclick: () => state.terms.get(id)?.skipToEnd() }, 'Skip to end'),
      h('button', { type: 'button', class: 'link pane-replay', hidden: true, title: 'Play the command as it happened',
        onclick: () => startReplay(id) }, 'Replay'),
      h('button', { type: 'button', class: 'link pane-restart', hidden: true, onclick: () => askRestart(id) }, 'Restart session'),
      h('button', { type: 'button', class: 'danger pane-cancel', hidden: true, onclick: () => askCancel(id) }, 'Stop'),
      h('span', { class: 'pane-ask', role: 'alertdialog', hidden: true }),
      h('button', { type: 'button', class: 'icon pane-close', 'aria-label': 'Close this terminal', title: 'Close', onclick: () => closeTab(id) }, '✕')),
    h('div', { class: 'pane-term' }));
}

export function updatePane(t) {
  const c = state.commands.get(t.id) ?? { id: t.id, state: '' };
  const p = t.pane;
  if (!p) return;
  const st = stateBadge(c);
  const stEl = p.querySelector('.pane-state');
  stEl.className = `pane-state ${st.cls}`;
  setText(stEl, st.text);
  setText(p.querySelector('.pane-title'), c.title ? `${c.agent_name ?? c.agent_id ?? ''} · ${c.title}` : `${c.agent_name ?? c.agent_id ?? ''} $ ${commandText(c)}`);
  const info = [];
  if (c.session) info.push('session');
  if (c.duration_ms) info.push(duration(c.duration_ms));
  if (c.output_bytes) info.push(bytes(c.output_bytes));
  if (c.reason) info.push(c.reason);
  if (c.attention === 'waiting') info.push(`◆ ${c.attention_reason || 'waiting'}`);
  if (t.lost || c.lost_bytes) info.push(`${bytes(t.lost || c.lost_bytes)} lost`);
  if (t.error) info.push(t.error);
  setText(p.querySelector('.pane-info'), info.join(' · '));
  p.querySelector('.pane-flow').hidden = !t.paused;
  p.querySelector('.pane-skip').hidden = !(t.paused && isFinal(c));
  p.querySelector('.pane-replay').hidden = !isFinal(c) || !!t.replay;
  p.querySelector('.pane-cancel').hidden = t.asking || isFinal(c) || !c.state || !app.canOperate();
  const a = state.agents.get(c.agent_id);
  p.querySelector('.pane-restart').hidden = t.asking || !c.session || !a?.session?.length || a.status === 'offline' || !app.canOperate();
  app.scheduleRender(); // the tab's badge
}

function activateTab(id, focus) {
  state.active = id;
  for (const [tid, t] of state.terms) t.pane.classList.toggle('active', tid === id);
  renderTabs();
  layoutTerms();
  const t = state.terms.get(id);
  if (focus && t) t.term.focus();
}

function closeTab(id) {
  const t = state.terms.get(id);
  if (!t) return;
  const ids = [...state.terms.keys()];
  const i = ids.indexOf(id);
  t.replay?.dispose();
  t.dispose();
  t.pane.remove();
  state.terms.delete(id);
  if (state.active === id) {
    const next = ids[i + 1] ?? ids[i - 1];
    state.active = null;
    if (next && next !== id) activateTab(next, false);
  }
  renderTabs();
  (document.querySelector('#tabs [aria-selected="true"]') ?? $('command')).focus();
}

// ask puts a question in a pane's bar in place of its buttons, before
// something that cannot be undone: yes does it; "Keep it" keeps things
// as they are.
function ask(id, question, yesLabel, yes) {
  const t = state.terms.get(id);
  if (!t) return;
  const box = t.pane.querySelector('.pane-ask');
  const done = () => {
    t.asking = false;
    box.hidden = true;
    box.replaceChildren();
    updatePane(t);
  };
  box.replaceChildren(h('span', { class: 'pane-ask-q' }, question),
    h('button', { type: 'button', class: 'danger pane-yes', onclick: () => (done(), yes()) }, yesLabel),
    h('button', { type: 'button', class: 'link pane-no', onclick: done }, 'Keep it'));
  t.asking = true;
  box.hidden = false;
  updatePane(t);
  box.querySelector('.pane-no').focus();
}

function askCancel(id) {
  const c = state.commands.get(id);
  if (!c) return;
  const q = c.session ? `Stop the session of ${c.agent_name}? It runs again only when restarted.`
    : `Stop ${commandText(c)} on ${c.agent_name}?`;
  ask(id, q, 'Stop', () => app.request({ type: 'cancel', command_id: id }, 'cancel'));
}

// askRestart restarts the session of the agent a session pane belongs
// to; the new session opens in a pane of its own when it starts.
function askRestart(id) {
  const c = state.commands.get(id);
  if (!c) return;
  const q = c.state === 'running' ? `Restart the session of ${c.agent_name}? The running one is stopped first.`
    : `Start the session of ${c.agent_name} again?`;
  ask(id, q, 'Restart', () => {
    if (app.request({ type: 'session.restart', agent: c.agent_id }, 'restart')) state.reopen.add(c.agent_id);
  });
}

// startReplay plays a finished command's recording in its pane, in
// place of its terminal, until the replay is closed.
function startReplay(id) {
  const t = state.terms.get(id);
  if (!t || t.replay) return;
  t.replay = new Replay(id, t.pane, () => stopReplay(id));
  t.pane.classList.add('replaying');
  updatePane(t);
  t.replay.load(state.commands.get(id)?.output_bytes ?? 0);
  t.replay.el.focus();
}

function stopReplay(id) {
  const t = state.terms.get(id);
  if (!t?.replay) return;
  t.replay.dispose();
  t.replay = null;
  t.pane.classList.remove('replaying');
  updatePane(t);
  layoutTerms();
}

let layoutTimer = 0;
export function layoutTerms() {
  cancelAnimationFrame(layoutTimer);
  layoutTimer = requestAnimationFrame(() => {
    for (const t of state.terms.values()) t.layout();
  });
}

// termSize estimates the terminal a new command will be shown in.
export function termSize() {
  const t = state.terms.get(state.active);
  if (t) return { cols: t.term.cols, rows: t.term.rows };
  const box = $('panes').getBoundingClientRect();
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `13px ${TERM_FONT}`;
  const cell = ctx.measureText('W').width || 8;
  const cols = Math.floor((box.width - 24) / cell);
  const rows = Math.floor((box.height - 56) / 17);
  return { cols: Math.max(20, Math.min(500, cols || 80)), rows: Math.max(5, Math.min(200, rows || 24)) };
}

const tabEls = new Map();

export function renderTabs() {
  const bar = $('tabs');
  for (const [id, e] of tabEls) if (!state.terms.has(id)) (e.remove(), tabEls.delete(id));
  [...state.terms.keys()].forEach((id, i) => {
    const e = tabEls.get(id) ?? makeTab(id);
    const c = state.commands.get(id) ?? { id, state: '' };
    const st = stateBadge(c);
    const b = e.querySelector('[role=tab]');
    const sym = e.querySelector('.tab-state');
    sym.className = `tab-state ${st.cls}`;
    setText(sym, st.sym);
    setText(e.querySelector('.tab-label'), `${c.agent_name ?? ''}: ${commandText(c) || id}`);
    b.setAttribute('aria-selected', String(id === state.active));
    b.tabIndex = id === state.active ? 0 : -1;
    b.title = `${commandText(c)} on ${c.agent_name ?? c.agent_id ?? '?'} — ${st.text}`;
    if (bar.children[i] !== e) bar.insertBefore(e, bar.children[i] ?? null);
  });
  $('empty').hidden = state.terms.size > 0;
  $('grid').hidden = state.terms.size < 2 && !state.grid;
  app.markOpen();
}

function makeTab(id) {
  const e = h('div', { class: 'tab', dataset: { id } },
    h('button', { type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `pane-${id}`, onclick: () => activateTab(id, true), onkeydown: tabKeys },
      h('span', { class: 'tab-state' }), h('span', { class: 'tab-label' })),
    h('button', { type: 'button', class: 'icon tab-close', 'aria-label': 'Close tab', tabindex: -1, onclick: () => closeTab(id) }, '✕'));
  tabEls.set(id, e);
  return e;
}

// tabKeys: arrows move between tabs, Delete closes one, Enter opens it.
function tabKeys(ev) {
  const ids = [...state.terms.keys()];
  const i = ids.indexOf(state.active);
  const go = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: ids.length - 1 }[ev.key];
  if (go !== undefined) {
    const id = ids[(go + ids.length) % ids.length];
    activateTab(id, false);
    $(`tab-${id}`).focus();
    ev.preventDefault();
  } else if (ev.key === 'Delete') {
    closeTab(state.active);
    ev.preventDefault();
  } else if (ev.key === 'Enter') {
    state.terms.get(state.active)?.term.focus();
    ev.preventDefault();
  }
}
