// The page's only link to the server: the public API with an access token kept in memory,
// and the cookie session routes (/api/web/session/*) that hold the refresh token.

export class ApiError extends Error {
  constructor(status, data) {
    super((data && data.detail) || `Request failed (${status})`);
    this.status = status;
    this.code = (data && data.code) || '';
    this.fields = (data && data.fields) || null;
  }
}

const state = { access: null, expiresAt: 0, user: null };
export const session = state;

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

async function readJson(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { detail: text.slice(0, 200) }; }
}

// POST to a cookie session route (signin, signup, refresh, signout, password).
export async function sessionCall(route, body) {
  const headers = { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() };
  if (route === 'password' && state.access) headers.Authorization = `Bearer ${state.access}`;
  const response = await fetch(`/api/web/session/${route}`, {
    method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify(body || {}),
  });
  const data = await readJson(response);
  if (!response.ok) throw new ApiError(response.status, data);
  if (data && data.token) {
    state.access = data.token;
    state.expiresAt = data.expires_at || 0;
    if (data.user) state.user = data.user;
  }
  if (route === 'signout' || (route === 'refresh' && !data)) { state.access = null; state.user = null; }
  if (route === 'refresh' && !data) throw new ApiError(401, { detail: 'Not signed in.', code: 'not_authenticated' });
  return data;
}

// Refreshes are serialised across this browser's tabs (the cookie rotates on each one: two
// tabs trading the same cookie at once would spend it twice).
let refreshing = null;
export function refresh() {
  if (!refreshing) {
    const run = () => sessionCall('refresh');
    const task = navigator.locks ? navigator.locks.request('webui-refresh', run) : run();
    refreshing = task.finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function freshToken() {
  if (state.access && state.expiresAt && state.expiresAt - Date.now() / 1000 < 30) {
    try { await refresh(); } catch { /* the request below answers 401 */ }
  }
}

export async function api(path, { method = 'GET', body, headers = {}, raw = false, signal } = {}) {
  await freshToken();
  const init = { method, headers: { ...headers }, signal, credentials: 'same-origin' };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const send = () => {
    if (state.access) init.headers.Authorization = `Bearer ${state.access}`;
    return fetch(path, init);
  };
  let response = await send();
  if (response.status === 401 && state.access) {
    try { await refresh(); response = await send(); } catch { /* stays 401 */ }
  }
  if (raw) {
    if (!response.ok) throw new ApiError(response.status, await readJson(response));
    return response;
  }
  const data = await readJson(response);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Server-Sent Events from a fetch response (so the Authorization header can be sent).
export async function* sseEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      let event = 'message';
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        else if (line.startsWith('event:')) event = line.slice(6).trim();
      }
      if (data.length) yield { event, data: data.join('\n') };
    }
  }
}

// The plain websocket /ws/: one per page, reconnecting; the user's room comes with it,
// chat rooms are joined with join_chat (and `since`, so nothing is missed).
export class Live {
  constructor() {
    this.listeners = new Set();
    this.rooms = new Map(); // chat_id -> last seq seen
    this.socket = null;
    this.closed = false;
    this.retry = 500;
  }

  on(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); }

  start() {
    if (this.socket || this.closed || !state.access) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/ws/`);
    this.socket = socket;
    socket.addEventListener('open', () => {
      socket.send(JSON.stringify({ type: 'auth', data: { token: state.access } }));
    });
    socket.addEventListener('message', (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch { return; }
      if (frame.type === 'authenticated') {
        this.retry = 500;
        for (const [chatId, since] of this.rooms) this.sendJoin(chatId, since);
        return;
      }
      const data = frame.data || {};
      if (data.chat_id && typeof data.seq === 'number' && this.rooms.has(data.chat_id)) {
        if (data.seq <= this.rooms.get(data.chat_id)) return; // seen already
        this.rooms.set(data.chat_id, data.seq);
      }
      for (const listener of this.listeners) listener(frame.type, data);
    });
    socket.addEventListener('close', (event) => {
      this.socket = null;
      if (this.closed) return;
      // Only a refused token (4401) is traded for a new one. Trading the cookie on every
      // reconnect would rotate it needlessly, and a page reloaded while a trade is in flight
      // is left holding the spent cookie: signed out.
      const refused = event.code === 4401;
      setTimeout(async () => {
        if (refused) {
          try { await refresh(); } catch { return; }
        } else {
          await freshToken();
        }
        this.start();
      }, this.retry);
      this.retry = Math.min(this.retry * 2, 15000);
    });
  }

  sendJoin(chatId, since) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      const data = since ? { chat_id: chatId, since } : { chat_id: chatId };
      this.socket.send(JSON.stringify({ type: 'join_chat', data }));
    }
  }

  join(chatId, since = 0) {
    this.rooms.set(chatId, since);
    this.sendJoin(chatId, since);
  }

  leave(chatId) {
    this.rooms.delete(chatId);
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: 'leave_chat', data: { chat_id: chatId } }));
    }
  }

  stop() {
    this.closed = true;
    if (this.socket) this.socket.close();
  }
}
