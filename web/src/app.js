// Switchboard's browser dashboard. It speaks the dashboard protocol of
// docs/protocol.md over /ws/dashboard and nothing else.

import { Connection, dashboardURL } from './conn.js';
import { TermView, flow, stats, TERM_FONT } from './term.js';
import { h, setText, statusBadge, stateBadge, isFinal, commandText, relTime, duration, bytes } from './view.js';

const $ = (id) => document.getElementById(id);
const MAX_LISTED = 200; // commands shown in the list

const state = {
  agents: new Map(), // id -> Agent
  commands: new Map(), // id -> Command
  selected: new Set(), // agent ids
  seq: 0, // last event applied
  loading: null, // snapshot parts being gathered: {seq, agents, commands, events}
  terms: new Map(), // command id -> TermView, in tab order
  active: null, // command id of the shown tab
  grid: false,
  requests: new Map(), // request_id -> what it was for
  nextRequest: 1,
  typed: [], // command lines run from this page, for the arrow keys
  typedAt: 0,
  me: null, // {name, role, auth} from api/whoami or api/login
};

const conn = new Connection(dashboardURL(), {
  onState: connState,
  onMessage: receive,
  onOutput: (id, offset, data) => state.terms.get(id)?.output(offset, data),
});

// For tests and the curious: the live state, read-only by convention.
window.switchboard = { state, terminals: state.terms, agents: state.agents, commands: state.commands, conn, flow, stats, open };

// ---- protocol ------------------------------------------------------------

function receive(m) {
  switch (m.type) {
    case 'snapshot':
      return snapshotPart(m);
    case 'agent':
    case 'command':
      return event(m);
    case 'run.accepted':
      return runAccepted(m);
    case 'history.result':
      return historyResult(m);
    case 'subscribed':
      return state.terms.get(m.command_id)?.confirm(m.offset);
    case 'output.end':
      return state.terms.get(m.command_id)?.end(m.offset);
    case 'error':
      return relayError(m);
    default:
      return; // welcome, and types a newer relay may add
  }
}

function snapshotPart(m) {
  if (!state.loading) state.loading = { seq: m.seq, agents: [], commands: [], events: [] };
  state.loading.agents.push(...(m.agents ?? []));
  state.loading.commands.push(...(m.commands ?? []));
  if (!m.partial) applySnapshot();
}

function applySnapshot() {
  const snap = state.loading;
  state.loading = null;
  state.agents.clear();
  for (const a of snap.agents) state.agents.set(a.id, a);
  for (const c of snap.commands) setCommand(c);
  state.seq = snap.seq;
  for (const e of snap.events) event(e);
  for (const [id, t] of state.terms) {
    if (!state.commands.has(id)) request({ type: 'history', command_id: id }, 'refresh');
    t.subscribe();
  }
  for (const id of state.selected) {
    if (state.agents.has(id)) fetchHistory(id);
    else state.selected.delete(id);
  }
  render();
}

// event applies an agent or command event in relay order, once.
function event(m) {
  if (state.loading) return void state.loading.events.push(m);
  if (m.seq <= state.seq) return;
  state.seq = m.seq;
  if (m.type === 'agent') state.agents.set(m.agent.id, m.agent);
  else setCommand(m.command);
  scheduleRender();
}

function setCommand(c) {
  const prev = state.commands.get(c.id);
  state.commands.set(c.id, c);
  const t = state.terms.get(c.id);
  if (t && c.state === 'running' && prev?.state !== 'running') t.syncSize();
  if (t) updatePane(t);
}

function request(msg, what) {
  const id = `web-${state.nextRequest++}`;
  if (!conn.send({ ...msg, request_id: id })) return null;
  state.requests.set(id, what);
  return id;
}

function fetchHistory(agentID) {
  request({ type: 'history', agent: agentID, limit: 100 }, 'history');
}

function historyResult(m) {
  const what = state.requests.get(m.request_id);
  state.requests.delete(m.request_id);
  for (const c of m.commands ?? []) {
    const known = state.commands.get(c.id);
    // Events are newer than a query's answer, except where the answer is final.
    if (!known || what === 'refresh' || (isFinal(c) && !isFinal(known))) setCommand(c);
  }
  scheduleRender();
}

function runAccepted(m) {
  const what = state.requests.get(m.request_id);
  state.requests.delete(m.request_id);
  const cmds = m.commands ?? [];
  for (const c of cmds) if (!state.commands.has(c.id)) setCommand(c);
  if (what === 'run') cmds.forEach((c, i) => open(c.id, { activate: i === 0, focus: false }));
  scheduleRender();
}

function relayError(m) {
  state.requests.delete(m.request_id);
  const t = m.command_id && state.terms.get(m.command_id);
  if (t && m.code === 'not_found') {
    t.error = 'The relay has no such command.';
    t.ended = true;
    updatePane(t);
  }
  if (m.code === 'not_running') return; // typing after the end: nothing to say
  showNotice(`${m.message} (${m.code})`);
}

// ---- terminals -----------------------------------------------------------

// open shows a command's terminal, creating it if needed.
function open(id, { activate = true, focus = true } = {}) {
  let t = state.terms.get(id);
  if (!t) {
    const pane = makePane(id);
    $('panes').append(pane);
    t = new TermView(id, pane.querySelector('.pane-term'), conn,
      { getCommand: () => state.commands.get(id), canType: canOperate, onChange: () => updatePane(t) });
    t.pane = pane;
    pane.addEventListener('focusin', () => state.active !== id && activateTab(id, false));
    t.term.attachCustomKeyEventHandler((ev) => {
      if (ev.key !== 'F6') return true;
      if (ev.type === 'keydown') $('command').focus();
      return false;
    });
    state.terms.set(id, t);
    t.subscribe();
    if (!state.commands.has(id)) request({ type: 'history', command_id: id }, 'refresh');
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
      h('button', { type: 'button', class: 'danger pane-cancel', hidden: true, onclick: () => cancel(id) }, 'Stop'),
      h('button', { type: 'button', class: 'icon pane-close', 'aria-label': 'Close this terminal', title: 'Close', onclick: () => closeTab(id) }, '✕')),
    h('div', { class: 'pane-term' }));
}

function updatePane(t) {
  const c = state.commands.get(t.id) ?? { id: t.id, state: '' };
  const p = t.pane;
  if (!p) return;
  const st = stateBadge(c);
  const stEl = p.querySelector('.pane-state');
  stEl.className = `pane-state ${st.cls}`;
  setText(stEl, st.text);
  setText(p.querySelector('.pane-title'), `${c.agent_name ?? c.agent_id ?? ''} $ ${commandText(c)}`);
  const info = [];
  if (c.session) info.push('session');
  if (c.duration_ms) info.push(duration(c.duration_ms));
  if (c.output_bytes) info.push(bytes(c.output_bytes));
  if (c.reason) info.push(c.reason);
  if (t.lost || c.lost_bytes) info.push(`${bytes(t.lost || c.lost_bytes)} lost`);
  if (t.error) info.push(t.error);
  setText(p.querySelector('.pane-info'), info.join(' · '));
  p.querySelector('.pane-flow').hidden = !t.paused;
  p.querySelector('.pane-skip').hidden = !(t.paused && isFinal(c));
  p.querySelector('.pane-cancel').hidden = isFinal(c) || !c.state || !canOperate();
  scheduleRender(); // the tab's badge
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

function cancel(id) {
  request({ type: 'cancel', command_id: id }, 'cancel');
}

let layoutTimer = 0;
function layoutTerms() {
  cancelAnimationFrame(layoutTimer);
  layoutTimer = requestAnimationFrame(() => {
    for (const t of state.terms.values()) t.layout();
  });
}

// ---- run -----------------------------------------------------------------

function run(ev) {
  ev.preventDefault();
  const input = $('command');
  const shell = input.value.trim();
  if (!shell) return;
  if (state.selected.size === 0) return showNotice('Select at least one agent first.');
  const { cols, rows } = termSize();
  const id = request({ type: 'run', targets: { agents: [...state.selected] }, shell, cols, rows }, 'run');
  if (!id) return showNotice('Not connected to the relay; the command was not sent.');
  state.typed.push(shell);
  state.typedAt = state.typed.length;
  input.value = '';
}

// commandKeys gives the command line a shell-like history on the arrows.
function commandKeys(ev) {
  if (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown') return;
  const n = state.typed.length;
  if (!n) return;
  state.typedAt = Math.max(0, Math.min(n, state.typedAt + (ev.key === 'ArrowUp' ? -1 : 1)));
  ev.target.value = state.typed[state.typedAt] ?? '';
  ev.preventDefault();
}

// termSize estimates the terminal a new command will be shown in.
function termSize() {
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

// ---- rendering -----------------------------------------------------------

let renderTimer = 0;
function scheduleRender() {
  // A timer, not requestAnimationFrame: background tabs must stay current.
  if (!renderTimer) renderTimer = setTimeout(render, 16);
}

function render() {
  clearTimeout(renderTimer);
  renderTimer = 0;
  renderAgents();
  renderCommands();
  renderRunTarget();
  renderTabs();
}

function renderConn() {
  const el = $('conn');
  const retry = $('conn-retry');
  let text;
  const signedOut = conn.state === 'refused' || !$('login').hidden;
  switch (signedOut ? 'refused' : conn.state) {
    case 'refused':
      text = '○ Signed out';
      break;
    case 'connected':
      text = `● Connected${conn.relayVersion ? ` · relay ${conn.relayVersion}` : ''}`;
      break;
    case 'connecting':
      text = conn.attempt ? '◌ Reconnecting…' : '◌ Connecting…';
      break;
    case 'reconnecting': {
      const s = Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000));
      text = `◌ Disconnected · reconnecting in ${s} s`;
      break;
    }
    default:
      text = '○ Offline · no network';
  }
  el.className = `conn conn-${signedOut ? 'refused' : conn.state}`;
  el.title = conn.lastClose ? `last close: ${conn.lastClose}` : '';
  setText($('conn-text'), text);
  retry.hidden = signedOut || (conn.state !== 'reconnecting' && conn.state !== 'offline');
  document.body.classList.toggle('disconnected', conn.state !== 'connected');
  if (conn.state !== 'connected') for (const t of state.terms.values()) t.disconnected();
}

function agentMatches(a, q) {
  if (!q) return true;
  const labels = Object.entries(a.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return [a.name, a.id, a.hostname, a.status, a.os, a.arch, ...labels].some((s) => s && s.toLowerCase().includes(q));
}

const agentEls = new Map();

function renderAgents() {
  const list = $('agents');
  const q = $('filter').value.trim().toLowerCase();
  const all = [...state.agents.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  const shown = all.filter((a) => agentMatches(a, q));
  const online = all.filter((a) => a.status !== 'offline').length;
  setText($('agent-count'), `${online} online · ${all.length} known`);
  for (const [id, e] of agentEls) if (!state.agents.has(id)) (e.remove(), agentEls.delete(id));
  shown.forEach((a, i) => {
    const e = agentEls.get(a.id) ?? makeAgent(a);
    updateAgent(e, a);
    if (list.children[i] !== e) list.insertBefore(e, list.children[i] ?? null);
  });
  while (list.children.length > shown.length) list.lastElementChild.remove();
  if (!all.length) list.append(h('li', { class: 'placeholder' }, `No agents yet. Start an agent with the relay address ${location.host}.`));
  else if (!shown.length) list.append(h('li', { class: 'placeholder' }, 'No agent matches the filter.'));
  const hidden = [...state.selected].filter((id) => !shown.some((a) => a.id === id)).length;
  setText($('sel-count'), state.selected.size
    ? `${state.selected.size} selected${hidden ? ` (${hidden} hidden by the filter)` : ''}`
    : 'None selected');
}

function makeAgent(a) {
  const box = h('input', { type: 'checkbox', class: 'agent-check', id: `agent-${a.id}` });
  box.addEventListener('change', () => toggleAgent(a.id, box.checked));
  const e = h('li', { class: 'agent', dataset: { id: a.id } },
    box,
    h('label', { for: `agent-${a.id}`, class: 'agent-body' },
      h('span', { class: 'agent-top' }, h('span', { class: 'agent-name' }), h('span', { class: 'status' })),
      h('span', { class: 'agent-meta muted' }),
      h('span', { class: 'labels' })));
  agentEls.set(a.id, e);
  return e;
}

function updateAgent(e, a) {
  const st = statusBadge(a.status);
  const s = e.querySelector('.status');
  s.className = st.cls;
  setText(s, st.text);
  e.dataset.status = a.status;
  e.dataset.name = a.name;
  setText(e.querySelector('.agent-name'), a.name);
  const meta = [`${a.running ?? 0} running`, a.status === 'offline' ? `last seen ${relTime(a.last_seen)}` : `seen ${relTime(a.last_seen)}`];
  if (a.hostname && a.hostname !== a.name) meta.push(a.hostname);
  setText(e.querySelector('.agent-meta'), meta.join(' · '));
  const labels = Object.entries(a.labels ?? {}).map(([k, v]) => `${k}=${v}`).sort();
  const lab = e.querySelector('.labels');
  if (lab.dataset.v !== labels.join('\n')) {
    lab.dataset.v = labels.join('\n');
    lab.replaceChildren(...labels.map((l) => h('span', { class: 'chip' }, l)));
  }
  const box = e.querySelector('input');
  box.checked = state.selected.has(a.id);
  e.classList.toggle('selected', box.checked);
}

function toggleAgent(id, on) {
  if (on) {
    state.selected.add(id);
    fetchHistory(id);
  } else {
    state.selected.delete(id);
  }
  render();
}

const commandEls = new Map();

function renderCommands() {
  const list = $('commands');
  const scope = state.selected;
  const cmds = [...state.commands.values()]
    .filter((c) => !scope.size || scope.has(c.agent_id))
    .sort((a, b) => (Date.parse(b.created_at) || 0) - (Date.parse(a.created_at) || 0) || b.id.localeCompare(a.id))
    .slice(0, MAX_LISTED);
  setText($('cmds-scope'), scope.size === 0 ? 'all agents' : scope.size === 1
    ? (state.agents.get([...scope][0])?.name ?? '1 agent') : `${scope.size} agents`);
  const keep = new Set(cmds.map((c) => c.id));
  for (const [id, e] of commandEls) if (!keep.has(id)) (e.remove(), commandEls.delete(id));
  cmds.forEach((c, i) => {
    const e = commandEls.get(c.id) ?? makeCommand(c);
    updateCommand(e, c);
    if (list.children[i] !== e) list.insertBefore(e, list.children[i] ?? null);
  });
  while (list.children.length > cmds.length) list.lastElementChild.remove();
  if (!cmds.length) list.append(h('li', { class: 'placeholder' }, scope.size ? 'No commands on the selected agents yet.' : 'No commands yet.'));
}

function makeCommand(c) {
  const e = h('li', { class: 'cmd', dataset: { id: c.id } },
    h('button', { type: 'button', class: 'cmd-open', onclick: () => open(c.id) },
      h('span', { class: 'cmd-top' }, h('span', { class: 'cmd-line' }), h('span', { class: 'st' })),
      h('span', { class: 'cmd-meta muted' })));
  commandEls.set(c.id, e);
  return e;
}

function updateCommand(e, c) {
  setText(e.querySelector('.cmd-line'), commandText(c));
  const st = stateBadge(c);
  const s = e.querySelector('.st');
  s.className = st.cls;
  setText(s, st.text);
  e.dataset.state = c.state;
  const meta = [c.agent_name ?? c.agent_id, relTime(c.created_at)];
  if (c.session) meta.push('session');
  if (c.duration_ms) meta.push(duration(c.duration_ms));
  setText(e.querySelector('.cmd-meta'), meta.join(' · '));
  e.classList.toggle('open', state.terms.has(c.id));
  e.querySelector('button').setAttribute('aria-label', `Open ${commandText(c)} on ${c.agent_name ?? c.agent_id}, ${st.text.slice(2)}`);
}

function renderRunTarget() {
  const n = state.selected.size;
  const names = [...state.selected].map((id) => state.agents.get(id)?.name ?? id);
  const ro = !canOperate();
  setText($('run-target'), ro ? `Read-only: role ${state.me.role}` : n === 0 ? 'Select agents to run a command'
    : n === 1 ? `Run on ${names[0]}` : `Run on ${n} agents`);
  $('run').disabled = n === 0 || ro;
  $('command').disabled = ro;
  $('run-form').title = names.join(', ');
}

const tabEls = new Map();

function renderTabs() {
  const bar = $('tabs');
  for (const [id, e] of tabEls) if (!state.terms.has(id)) (e.remove(), tabEls.delete(id));
  [...state.terms.keys()].forEach((id, i) => {
    const e = tabEls.get(id) ?? makeTab(id);
    const c = state.commands.get(id) ?? { id, state: '' };
    const st = stateBadge(c);
    const b = e.querySelector('[role=tab]');
    const sym = e.querySelector('.tab-state');
    sym.className = `tab-state ${st.cls}`;
    setText(sym, st.text.split(' ')[0]);
    setText(e.querySelector('.tab-label'), `${c.agent_name ?? ''}: ${commandText(c) || id}`);
    b.setAttribute('aria-selected', String(id === state.active));
    b.tabIndex = id === state.active ? 0 : -1;
    b.title = `${commandText(c)} on ${c.agent_name ?? c.agent_id ?? '?'} — ${st.text}`;
    if (bar.children[i] !== e) bar.insertBefore(e, bar.children[i] ?? null);
  });
  $('empty').hidden = state.terms.size > 0;
  $('grid').hidden = state.terms.size < 2 && !state.grid;
  for (const e of commandEls.values()) e.classList.toggle('open', state.terms.has(e.dataset.id));
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

let noticeTimer = 0;
function showNotice(text) {
  const n = $('notice');
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (n.hidden = true), 8000);
}

// ---- signing in ----------------------------------------------------------

// canOperate: the session's role may run, type, resize and cancel.
function canOperate() {
  return state.me?.role !== 'viewer';
}

function connState(s) {
  if (s !== 'connected') state.loading = null; // a snapshot cut short starts over
  renderConn();
  if (s === 'refused') showLogin(conn.lastClose);
}

// whoami asks who the session cookie belongs to: the user, null when
// signed out, undefined when the relay has no such endpoint.
async function whoami() {
  const r = await fetch('api/whoami', { cache: 'no-store', credentials: 'same-origin' });
  if (r.status === 401) return null;
  return r.ok ? r.json() : undefined;
}

function setMe(me) {
  state.me = me ?? null;
  $('who').hidden = !me?.auth;
  setText($('who-text'), me ? `${me.name} · ${me.role}` : '');
  for (const t of state.terms.values()) updatePane(t);
  render();
}

function showLogin(reason) {
  setMe(null);
  $('login').hidden = false;
  $('login-error').hidden = !reason;
  setText($('login-error'), reason ? `The relay refused this session: ${reason}` : '');
  renderConn();
  $('token').focus();
}

async function login(ev) {
  ev.preventDefault();
  const token = $('token').value.trim();
  if (token) await signIn({ token });
}

// signIn posts a token, or the code of a sign-in link, for a session
// cookie (which holds a session id, never the token).
async function signIn(body) {
  const fail = (msg) => {
    showLogin('');
    $('login-error').hidden = false;
    setText($('login-error'), msg);
    $('token').select();
  };
  $('login-submit').disabled = true;
  try {
    const r = await fetch('api/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin',
    });
    const reply = await r.json().catch(() => ({}));
    if (!r.ok) return fail(`Not signed in: ${reply.error ?? `HTTP ${r.status}`}`);
    $('token').value = '';
    $('login').hidden = true;
    $('login-error').hidden = true;
    setMe({ name: reply.name, role: reply.role, auth: true });
    conn.attempt = 0;
    conn.connect();
    $('command').focus();
  } catch {
    fail('The relay cannot be reached; try again in a moment.');
  } finally {
    $('login-submit').disabled = false;
  }
}

// linkCode takes the code of a sign-in link (#signin=CODE) out of the
// address, so that it is neither kept in history nor reused.
function linkCode() {
  const m = /^#signin=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (m) history.replaceState(null, '', location.pathname + location.search);
  return m?.[1];
}

async function logout() {
  conn.stop();
  await fetch('api/logout', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}', credentials: 'same-origin',
  }).catch(() => {});
  renderConn();
  showLogin('');
}

// begin connects, or asks for a token first when the relay wants one.
async function begin() {
  const code = linkCode();
  if (code) return signIn({ code });
  let me;
  try {
    me = await whoami();
  } catch {
    // The relay is unreachable: the connection's retries take over, and a
    // refused token brings the sign-in form up then.
  }
  if (me === null) return showLogin('');
  setMe(me);
  conn.connect();
}

// ---- start ---------------------------------------------------------------

function start() {
  $('run-form').addEventListener('submit', run);
  $('command').addEventListener('keydown', commandKeys);
  $('filter').addEventListener('input', () => renderAgents());
  $('sel-all').addEventListener('click', () => {
    const q = $('filter').value.trim().toLowerCase();
    for (const a of state.agents.values()) if (agentMatches(a, q) && !state.selected.has(a.id)) toggleAgent(a.id, true);
  });
  $('sel-none').addEventListener('click', () => (state.selected.clear(), render()));
  $('conn-retry').addEventListener('click', () => conn.retryNow());
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('grid').addEventListener('click', () => {
    state.grid = !state.grid;
    $('grid').setAttribute('aria-pressed', String(state.grid));
    $('panes').classList.toggle('grid', state.grid);
    layoutTerms();
  });
  $('notice').addEventListener('click', () => ($('notice').hidden = true));
  new ResizeObserver(layoutTerms).observe($('panes'));
  setInterval(() => {
    if (conn.state === 'reconnecting') renderConn();
    scheduleRender(); // relative times
  }, 1000);
  render();
  begin();
}

start();
