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

// Agent status: never colour alone — a symbol and a word too.
const agentStatus = {
  idle: { sym: '●', word: 'idle' },
  busy: { sym: '◆', word: 'busy' },
  offline: { sym: '○', word: 'offline' },
};

export function statusBadge(status) {
  const s = agentStatus[status] ?? { sym: '?', word: status || 'unknown' };
  return { cls: `status status-${agentStatus[status] ? status : 'unknown'}`, text: `${s.sym} ${s.word}` };
}

// stateBadge describes a command's state with a symbol, a word and a class.
export function stateBadge(c) {
  switch (c.state) {
    case 'queued':
      return { cls: 'st st-queued', text: '◌ queued' };
    case 'running':
      return { cls: 'st st-running', text: '▶ running' };
    case 'exited':
      if (c.signal) return { cls: 'st st-bad', text: `✗ ${c.signal}` };
      return c.exit_code === 0
        ? { cls: 'st st-ok', text: '✓ exit 0' }
        : { cls: 'st st-bad', text: `✗ exit ${c.exit_code ?? '?'}` };
    case 'cancelled':
      return { cls: 'st st-muted', text: '⊘ cancelled' };
    case 'timed_out':
      return { cls: 'st st-bad', text: '⏱ timed out' };
    case 'lost':
      return { cls: 'st st-muted', text: '? lost' };
    case 'rejected':
      return { cls: 'st st-bad', text: '✗ rejected' };
    default:
      return { cls: 'st st-muted', text: c.state || 'unknown' };
  }
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
