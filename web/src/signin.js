// Signing in: the session cookie, the sign-in form, sign-in links.

import { setText } from './view.js';

const $ = (id) => document.getElementById(id);

// app is what signing in uses of the page: {state, conn, render(),
// renderConn(), updatePane(t)}.
let app;

export function initSignIn(a) {
  app = a;
}

// whoami asks who the session cookie belongs to: the user, null when
// signed out, undefined when the relay has no such endpoint.
async function whoami() {
  const r = await fetch('api/whoami', { cache: 'no-store', credentials: 'same-origin' });
  if (r.status === 401) return null;
  return r.ok ? r.json() : undefined;
}

// scopeLabels names the labels a scoped token's agents carry (none: every
// agent), so that a user who sees few agents knows why.
function scopeLabels(scope) {
  const labels = Object.entries(scope ?? {}).map(([k, v]) => `${k}=${v}`).sort();
  return labels.length ? [`only ${labels.join(', ')}`] : [];
}

function setMe(me) {
  app.state.me = me ?? null;
  $('who').hidden = !me?.auth;
  setText($('who-text'), me ? [me.name, me.role, ...scopeLabels(me.scope)].join(' · ') : '');
  for (const t of app.state.terms.values()) app.updatePane(t);
  app.render();
}

export function showLogin(reason) {
  setMe(null);
  $('login').hidden = false;
  $('login-error').hidden = !reason;
  setText($('login-error'), reason ? `The relay refused this session: ${reason}` : '');
  app.renderConn();
  $('token').focus();
}

export async function login(ev) {
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
    setMe({ name: reply.name, role: reply.role, scope: reply.scope, auth: true });
    app.conn.attempt = 0;
    app.conn.connect();
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

export async function logout() {
  app.conn.stop();
  await fetch('api/logout', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}', credentials: 'same-origin',
  }).catch(() => {});
  app.renderConn();
  showLogin('');
}

// begin connects, or asks for a token first when the relay wants one.
export async function begin() {
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
  app.conn.connect();
}
