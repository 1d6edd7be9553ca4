// The search box: lines of stored output that match a query (the
// protocol's search request), newest first; a result opens its command's
// pane starting at the line that matched.

import { h, relTime } from './view.js';

const $ = (id) => document.getElementById(id);
const LIMIT = 50;

let app; // {state, request, open}
let pending = null; // request_id of the search in flight

export function initSearch(deps) {
  app = deps;
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const query = $('search-q').value.trim();
    if (!query) return;
    pending = app.request({ type: 'search', query, limit: LIMIT, context: 1 }, 'search');
    status(pending ? 'Searching…' : 'Not connected to the relay.');
  });
}

// searchResult shows a search.result; stale ones (a newer search was
// sent) are dropped.
export function searchResult(m) {
  app.state.requests.delete(m.request_id);
  if (m.request_id !== pending) return;
  pending = null;
  const hits = m.hits ?? [];
  const list = $('search-results');
  list.replaceChildren(...hits.map(hitItem));
  status(hits.length === 0 ? 'No line matches.' : `${hits.length}${m.next ? '+' : ''} lines, newest first`);
}

// searchError shows the relay's refusal of the search in flight (a bad
// query says why); it reports whether the error was that.
export function searchError(m) {
  if (!m.request_id || m.request_id !== pending) return false;
  pending = null;
  $('search-results').replaceChildren();
  status(m.message);
  return true;
}

function status(text) {
  const s = $('search-status');
  s.textContent = text;
  s.hidden = !text;
}

function hitItem(hit) {
  const b = h('button', { type: 'button', class: 'search-hit', title: `Open ${hit.command} at line ${hit.line + 1}` },
    h('span', { class: 'search-meta' }, `${hit.agent_name} · ${hit.command} · ${relTime(hit.created_at)}`),
    ...(hit.before ?? []).map((l) => h('span', { class: 'search-ctx' }, l)),
    h('span', { class: 'search-line' }, hit.text),
    ...(hit.after ?? []).map((l) => h('span', { class: 'search-ctx' }, l)));
  b.dataset.command = hit.command_id;
  b.dataset.offset = hit.offset;
  b.addEventListener('click', () => openAt(hit));
  return h('li', {}, b);
}

// openAt opens the hit's command in a pane whose output starts at the
// line that matched (a pane open already is opened anew).
function openAt(hit) {
  app.open(hit.command_id, { from: hit.offset, note: `from line ${hit.line + 1}, the search hit (offset ${hit.offset})` });
}
