// Small DOM and formatting helpers for the page.

// h makes an element: h('span', {class: 'x', onclick: f}, 'text', child).
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  e.append(...children.filter((c) => c != null));
  return e;
}

// setText changes text only when it differs, so screen readers and
// selection are not disturbed by identical updates.
export function setText(e, s) {
  if (e.textContent !== s) e.textContent = s;
}

// The status vocabulary, the same in the TUI and the CLI (internal/status;
// README, "Status at a glance"): a symbol, a word and a tone for every
// status, never colour alone. A browser test holds this table to Go's.
export const LOOKS = {
  idle: { sym: '●', word: 'idle', tone: 'green' },
  busy: { sym: '▶', word: 'busy', tone: 'blue' },
  waiting: { sym: '◆', word: 'waiting', tone: 'yellow' },
  quiet: { sym: '◇', word: 'quiet', tone: 'grey' },
  offline: { sym: '○', word: 'offline', tone: 'grey' },
  queued: { sym: '◌', word: 'queued', tone: 'grey' },
  running: { sym: '▶', word: 'running', tone: 'blue' },
  succeeded: { sym: '✓', word: 'exit 0', tone: 'green' },
  failed: { sym: '✗', word: 'exit N', tone: 'red' },
  cancelled: { sym: '⊘', word: 'cancelled', tone: 'yellow' },
  timed_out: { sym: '⏱', word: 'timed out', tone: 'red' },
  lost: { sym: '?', word: 'lost', tone: 'red' },
  rejected: { sym: '✗', word: 'rejected', tone: 'red' },
};

// agentLook is how an agent is shown; waiting: one of its commands waits
// for a person.
export function agentLook(a, waiting = false) {
  if (a.status === 'offline') return LOOKS.offline;
  if (waiting || a.attention === 'waiting') return LOOKS.waiting;
  if (a.attention === 'quiet') return LOOKS.quiet;
  if (a.attention === 'idle') return LOOKS.idle; // nothing running, or every command finished its turn
  if (a.status === 'busy' || a.running > 0) return LOOKS.busy;
  if (a.status === 'idle') return LOOKS.idle;
  return { sym: '?', word: a.status || 'unknown', tone: 'grey' };
}

// commandLook is how a command is shown; waiting applies to a running one.
export function commandLook(c, waiting = false) {
  switch (c.state) {
    case 'running':
      if (waiting || c.attention === 'waiting') return LOOKS.waiting;
      if (c.attention === 'quiet') return LOOKS.quiet;
      if (c.attention === 'idle') return LOOKS.idle;
      return LOOKS.running;
    case 'exited':
      if (c.exit_code === 0) return LOOKS.succeeded;
      return { ...LOOKS.failed, word: c.exit_code != null ? `exit ${c.exit_code}` : c.signal || 'exited' };
    case 'queued':
    case 'cancelled':
    case 'timed_out':
    case 'lost':
    case 'rejected':
      return LOOKS[c.state];
    default:
      return { sym: '?', word: c.state || 'unknown', tone: 'grey' };
  }
}

function badge(base, l) {
  return { cls: `${base} tone-${l.tone}`, text: `${l.sym} ${l.word}`, sym: l.sym, word: l.word };
}

export function statusBadge(a, waiting = false) {
  return badge('status', agentLook(a, waiting));
}

// stateBadge describes a command's state with a symbol, a word and a class.
export function stateBadge(c, waiting = false) {
  return badge('st', commandLook(c, waiting));
}

export function isFinal(c) {
  return c && c.state !== 'queued' && c.state !== 'running';
}

// commandText is what a command runs, as a person would type it.
export function commandText(c) {
  if (c.shell) return c.shell;
  return (c.argv ?? []).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

export function relTime(iso, now = Date.now()) {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'unknown';
  const s = Math.round((now - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

export function duration(ms) {
  if (ms == null) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60000);
  return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function bytes(n) {
  if (!n) return '0 B';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  const i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  return `${(n / 1024 ** i).toFixed(i ? 1 : 0)} ${units[i]}`;
}
