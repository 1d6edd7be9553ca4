// Switchboard's browser dashboard. It speaks the dashboard protocol of
// docs/protocol.md over /ws/dashboard and nothing else.

import { Connection, dashboardURL } from './conn.js';
import { flow, stats } from './term.js';
import { h, setText, statusBadge, stateBadge, isFinal, commandText, relTime, duration, agentLook, commandLook } from './view.js';
import { initPanes, open, updatePane, renderTabs, layoutTerms, termSize } from './panes.js';
import { initSignIn, showLogin, login, logout, begin } from './signin.js';
import { initAttention, renderAttention, noteAgent, snapshotShown } from './attention.js';
import { initSearch, searchResult, searchError } from './search.js';

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
  allCommands: false, // list every agent's commands although agents are selected
  reopen: new Set(), // agents whose restarted session opens when it starts
};

const conn = new Connection(dashboardURL(), {
  onState: connState,
  onMessage: receive,
  onOutput: (id, offset, data) => state.terms.get(id)?.output(offset, data),
});

initPanes({ state, conn, request, canOperate, scheduleRender,
  markOpen: () => { for (const e of commandEls.values()) e.classList.toggle('open', state.terms.has(e.dataset.id)); } });

initSignIn({ state, conn, render, renderConn, updatePane });
initAttention({ state, request, open, canOperate, showNotice: (t) => showNotice(t) });
initSearch({ state, request, open });

// For tests and the curious: the live state, read-only by convention.
window.switchboard = { state, terminals: state.terms, agents: state.agents, commands: state.commands, conn, flow, stats, open,
  looks: { agentLook, commandLook } };

// ---- protocol ------------------------------------------------------------

function receive(m) {
  switch (m.type) {
    case 'snapshot':
      return snapshotPart(m);
    case 'agent':
    case 'agent.removed':
    case 'command':
    case 'command.removed':
      return event(m);
    case 'run.accepted':
      return runAccepted(m);
    case 'history.result':
      return historyResult(m);
    case 'search.result':
      return searchResult(m);
    case 'quick_reply.sent':
      return void state.requests.delete(m.request_id);
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
  const before = new Map(state.agents); // agents that began waiting while disconnected notify too
  state.agents.clear();
  for (const a of snap.agents) (noteAgent(before.get(a.id), a), state.agents.set(a.id, a));
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
  snapshotShown();
}

// event applies an agent or command event (or an agent's or a finished
// command's removal) in relay order, once. A removed command whose
// terminal is open stays until it is closed: what it shows is all there
// was.
function event(m) {
  if (state.loading) return void state.loading.events.push(m);
  if (m.seq <= state.seq) return;
  state.seq = m.seq;
  if (m.type === 'agent') (noteAgent(state.agents.get(m.agent.id), m.agent), state.agents.set(m.agent.id, m.agent));
  else if (m.type === 'agent.removed') {
    state.agents.delete(m.agent_id);
    state.selected.delete(m.agent_id);
  } else if (m.type === 'command.removed') {
    if (!state.terms.has(m.command_id)) state.commands.delete(m.command_id);
  } else setCommand(m.command);
  scheduleRender();
}

function setCommand(c) {
  const prev = state.commands.get(c.id);
  state.commands.set(c.id, c);
  const t = state.terms.get(c.id);
  if (t && c.state === 'running' && prev?.state !== 'running') t.syncSize();
  if (t) updatePane(t);
  if (!t && c.session && c.state === 'running' && state.reopen.delete(c.agent_id)) open(c.id);
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
  if (searchError(m)) return void state.requests.delete(m.request_id);
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

// ---- rendering -----------------------------------------------------------

let renderTimer = 0;
function scheduleRender() {
  // A timer, not requestAnimationFrame: background tabs must stay current.
  if (!renderTimer) renderTimer = setTimeout(render, 16);
}

function render() {
  clearTimeout(renderTimer);
  renderTimer = 0;
  renderAttention();
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
  return [a.name, a.id, a.hostname, a.status, a.attention, agentLook(a).word, a.os, a.arch, ...labels]
    .some((s) => s && s.toLowerCase().includes(q));
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
  renderAgentsMore();
  const hidden = [...state.selected].filter((id) => !shown.some((a) => a.id === id)).length;
  setText($('sel-count'), state.selected.size
    ? `${state.selected.size} selected${hidden ? ` (${hidden} hidden by the filter)` : ''}`
    : 'None selected');
}

// renderAgentsMore says how many agents are below the list's fold.
function renderAgentsMore() {
  const list = $('agents');
  const bottom = list.scrollTop + list.clientHeight;
  const below = [...list.children].filter((e) => e.offsetTop - list.offsetTop >= bottom - 4).length;
  $('agents-more').hidden = below === 0;
  setText($('agents-more'), `${below} more agent${below === 1 ? '' : 's'} below ↓`);
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
  const st = statusBadge(a);
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
  const scope = state.allCommands ? new Set() : state.selected;
  const inScope = (c) => !scope.size || scope.has(c.agent_id);
  renderCommandsHidden([...state.commands.values()].filter((c) => !inScope(c)).length);
  const cmds = [...state.commands.values()]
    .filter(inScope)
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

// renderCommandsHidden says what selecting agents hides from the list,
// with a way to show it all.
function renderCommandsHidden(hidden) {
  const box = $('cmds-hidden');
  box.hidden = !state.selected.size || (!hidden && !state.allCommands);
  setText(box.querySelector('span'), state.allCommands ? 'Showing every agent\'s commands.'
    : `Only the selected agents' commands: ${hidden} command${hidden === 1 ? '' : 's'} of other agents hidden.`);
  setText(box.querySelector('button'), state.allCommands ? 'Only selected' : 'Show all');
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
  e.querySelector('button').setAttribute('aria-label', `Open ${commandText(c)} on ${c.agent_name ?? c.agent_id}, ${st.word}`);
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

let noticeTimer = 0;
function showNotice(text) {
  const n = $('notice');
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (n.hidden = true), 8000);
}

// canOperate: the session's role may run, type, resize and cancel.
function canOperate() {
  return state.me?.role !== 'viewer';
}

function connState(s) {
  if (s !== 'connected') state.loading = null; // a snapshot cut short starts over
  renderConn();
  if (s === 'refused') showLogin(conn.lastClose);
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
  $('agents').addEventListener('scroll', renderAgentsMore, { passive: true });
  $('cmds-hidden').querySelector('button').addEventListener('click', () => {
    state.allCommands = !state.allCommands;
    renderCommands();
  });
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
