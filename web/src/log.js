// Forwards the page's errors and warnings to the relay's log, tagged with
// a random id for this page load. A classic script, loaded before the
// modules, so that it sees their errors too.
(function () {
  'use strict';
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  const session = 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const endpoint = new URL('api/client-log', document.baseURI).href;
  const maxPerMinute = 30;
  let windowStart = Date.now();
  let sent = 0;
  let suppressed = 0;

  function describe(v) {
    if (v instanceof Error) return v.stack || `${v.name}: ${v.message}`;
    if (typeof v === 'string') return v;
    try {
      return JSON.stringify(v);
    } catch {
      return String(v);
    }
  }

  function post(level, parts) {
    const now = Date.now();
    if (now - windowStart > 60000) {
      if (suppressed) parts = [...parts, `(${suppressed} earlier messages were not sent: rate limit)`];
      windowStart = now;
      sent = 0;
      suppressed = 0;
    }
    if (++sent > maxPerMinute) {
      suppressed++;
      return;
    }
    const message = parts.map(describe).join(' ').slice(0, 8000);
    const body = JSON.stringify({ session, level, message });
    fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, keepalive: true })
      .catch(() => {}); // the relay is away; the console still has it
  }

  // xterm.js warns when its idle-time work overran a frame's deadline: a
  // busy machine, not a fault of the page; the console keeps it.
  const notProblems = [/^task queue exceeded allotted deadline by \d+ms$/];

  for (const level of ['error', 'warn']) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      original(...args);
      if (typeof args[0] === 'string' && notProblems.some((re) => re.test(args[0]))) return;
      post(level, args);
    };
  }
  window.addEventListener('error', (ev) => {
    const where = ev.filename ? ` (${ev.filename}:${ev.lineno}:${ev.colno})` : '';
    post('error', [ev.error ?? ev.message, where]);
  });
  document.addEventListener('securitypolicyviolation', (ev) =>
    post('error', [`content security policy blocked ${ev.blockedURI || 'inline code'} (${ev.violatedDirective})`]));
  window.addEventListener('unhandledrejection', (ev) => post('error', ['unhandled rejection:', ev.reason]));
  window.switchboardLog = { session, post };
})();
