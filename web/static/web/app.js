// The web client: a small router over the public API. Views live in their own modules.
import { api, ApiError, Live, refresh, session, sessionCall } from './api.js';
import { fill, clear, field, h, toast } from './dom.js';

const main = document.getElementById('main');
const sidebar = document.getElementById('sidebar');
export const live = new Live();
let cleanup = null; // the current view's teardown
let view = main; // the current view's container: a view that lost the race writes to a detached one
let routeSeq = 0;

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-link]');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(link.getAttribute('href'));
});
window.addEventListener('popstate', () => route());

export function setTitle(text) {
  document.title = text ? `${text} · WebUI` : 'WebUI';
}

export function showError(error, where) {
  const text = error instanceof ApiError ? error.message : `Something went wrong: ${error.message}`;
  if (where) {
    fill(where, text);
    where.hidden = false;
  } else toast(text, 'error');
}

function chrome(signedIn) {
  document.getElementById('topbar').hidden = !signedIn;
  const admin = signedIn && session.user && session.user.role === 'admin';
  document.getElementById('nav-dashboard').hidden = !admin;
  for (const link of document.querySelectorAll('.topnav a')) {
    const here = link.getAttribute('href');
    const path = location.pathname;
    const current = here === '/' ? path === '/' || path.startsWith('/c/') : path.startsWith(here);
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const path = location.pathname;
  const mine = ++routeSeq;
  view = h('div', { class: 'view' });
  fill(main, view);
  const show = async (load, start) => {
    const module = await load();
    if (mine !== routeSeq) return;
    const teardown = await start(module);
    if (mine !== routeSeq) { if (teardown) teardown(); return; }
    cleanup = teardown;
  };
  if (path.startsWith('/s/')) {
    chrome(Boolean(session.user));
    sidebar.hidden = true;
    await show(() => import('./share.js'), (m) => m.shareView(view, decodeURIComponent(path.slice(3))));
    return;
  }
  if (!session.user) {
    chrome(false);
    sidebar.hidden = true;
    authView();
    return;
  }
  if (session.user.role === 'pending') {
    chrome(false);
    sidebar.hidden = true;
    pendingView();
    return;
  }
  chrome(true);
  live.start();
  if (path === '/auth') { navigate('/', { replace: true }); return; }
  if (path === '/account') {
    sidebar.hidden = true;
    cleanup = accountView();
  } else if (path.startsWith('/knowledge')) {
    sidebar.hidden = true;
    await show(() => import('./knowledge.js'), (m) => m.knowledgeView(view, path.split('/')[2] || ''));
  } else if (path === '/dashboard') {
    sidebar.hidden = true;
    await show(() => import('./dashboard.js'), (m) => m.dashboardView(view));
  } else if (path === '/' || path.startsWith('/c/')) {
    await show(() => import('./chat.js'), (m) => m.chatView(view, sidebar, path.startsWith('/c/') ? path.slice(3) : ''));
  } else {
    sidebar.hidden = true;
    fill(view, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '/', 'data-link': true }, 'Back to the chats')));
  }
  if (mine === routeSeq && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
}

function fieldErrors(error) {
  if (!(error instanceof ApiError) || !error.fields) return error.message;
  const parts = Object.entries(error.fields).map(([name, errs]) => `${name}: ${[errs].flat().join(' ')}`);
  return `${error.message} ${parts.join('; ')}`;
}

function authView() {
  setTitle('Sign in');
  let mode = new URLSearchParams(location.search).get('mode') === 'signup' ? 'signup' : 'signin';
  const render = () => {
    const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
    const name = h('input', { name: 'name', autocomplete: 'name', required: true, maxlength: 255 });
    const email = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true });
    const password = h('input', {
      name: 'password', type: 'password', required: true,
      autocomplete: mode === 'signup' ? 'new-password' : 'current-password',
    });
    const submit = h('button', { type: 'submit', class: 'primary' }, mode === 'signup' ? 'Create account' : 'Sign in');
    const form = h('form', { class: 'card narrow', 'aria-labelledby': 'auth-title' },
      h('h1', { id: 'auth-title' }, mode === 'signup' ? 'Create an account' : 'Sign in'),
      mode === 'signup' ? field('Name', name) : null,
      field('Email', email),
      field('Password', password, mode === 'signup' ? 'At least 8 characters, not a common one.' : null),
      alert, submit,
      h('p', {}, h('button', {
        type: 'button', class: 'link-button',
        onclick: () => { mode = mode === 'signup' ? 'signin' : 'signup'; render(); },
      }, mode === 'signup' ? 'I have an account: sign in' : 'No account yet? Create one')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      submit.disabled = true;
      alert.hidden = true;
      try {
        const body = { email: email.value, password: password.value };
        if (mode === 'signup') body.name = name.value;
        await sessionCall(mode, body);
        const next = new URLSearchParams(location.search).get('next');
        navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
      } catch (error) {
        showError({ message: fieldErrors(error) }, alert);
      } finally {
        submit.disabled = false;
      }
    });
    fill(view, form);
    (mode === 'signup' ? name : email).focus();
  };
  render();
}

function pendingView() {
  setTitle('Awaiting approval');
  fill(view, h('section', { class: 'card narrow' },
    h('h1', {}, 'Awaiting approval'),
    h('p', {}, `Your account (${session.user.email}) was created and is awaiting approval by an administrator. `
      + 'Come back once it has been approved.'),
    h('button', { type: 'button', onclick: () => signOut() }, 'Sign out'),
    h('button', { type: 'button', onclick: () => boot() }, 'Check again')));
}

function accountView() {
  setTitle('Account');
  const alert = h('p', { class: 'alert', role: 'alert', hidden: true });
  const done = h('p', { class: 'success', role: 'status' });
  const current = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { type: 'password', autocomplete: 'new-password', required: true });
  const form = h('form', { class: 'card narrow' },
    h('h2', {}, 'Change password'),
    field('Current password', current), field('New password', next), alert, done,
    h('button', { type: 'submit', class: 'primary' }, 'Change password'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    alert.hidden = true;
    done.textContent = '';
    try {
      await sessionCall('password', { password: current.value, new_password: next.value });
      form.reset();
      done.textContent = 'Password changed. Other devices must sign in again.';
    } catch (error) {
      showError({ message: fieldErrors(error) }, alert);
    }
  });
  const user = session.user;
  fill(view, h('h1', {}, 'Account'),
    h('section', { class: 'card narrow' },
      h('h2', {}, 'You'),
      h('dl', { class: 'facts' }, h('dt', {}, 'Name'), h('dd', {}, user.name),
        h('dt', {}, 'Email'), h('dd', {}, user.email), h('dt', {}, 'Role'), h('dd', {}, user.role))),
    form);
  return null;
}

export async function signOut() {
  live.stop();
  try { await sessionCall('signout'); } catch { /* the cookie is gone either way */ }
  location.assign('/auth');
}

document.getElementById('signout').addEventListener('click', () => signOut());
document.getElementById('menu-toggle').addEventListener('click', (event) => {
  const open = document.body.classList.toggle('menu-open');
  event.currentTarget.setAttribute('aria-expanded', String(open));
});

async function boot() {
  try {
    await refresh();
  } catch {
    session.user = null;
  }
  if (!session.user && !location.pathname.startsWith('/s/') && location.pathname !== '/auth') {
    const next = location.pathname + location.search;
    history.replaceState(null, '', next === '/' ? '/auth' : `/auth?next=${encodeURIComponent(next)}`);
  }
  await route();
}

boot();
