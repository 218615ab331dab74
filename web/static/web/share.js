// A shared chat, read-only: /s/{share_id}, signed in or not (as the owner chose).
import { api, ApiError, session } from './api.js';
import { fill, clear, contentText, h } from './dom.js';
import { loadMarkdown, renderMarkdown } from './md.js';
import { setTitle } from './app.js';
import { sourcesNode } from './chat.js';

export async function shareView(main, shareId) {
  fill(main, h('p', { class: 'muted' }, 'Loading…'));
  let shared;
  try {
    await loadMarkdown();
    shared = await api(`/api/chats/share/${encodeURIComponent(shareId)}`);
  } catch (error) {
    setTitle('Shared chat');
    const signIn = error instanceof ApiError && error.status === 401 && !session.user;
    fill(main, h('section', { class: 'card narrow' },
      h('h1', {}, signIn ? 'Sign in to read this chat' : 'This link does not work'),
      h('p', {}, signIn
        ? 'The owner shared this chat with signed-in users only.'
        : 'The chat was never shared under this link, or the link was revoked or has expired.'),
      signIn ? h('a', { class: 'button primary', href: `/auth?next=${encodeURIComponent(location.pathname)}` }, 'Sign in') : null));
    return null;
  }
  const body = shared.chat || shared;
  const title = shared.title || body.title || 'Shared chat';
  setTitle(title);
  const messages = body.messages || [];
  const thread = h('ol', { class: 'thread', 'aria-label': 'Messages' });
  for (const message of messages) {
    const content = h('div', { class: 'content' });
    const text = contentText(message.content);
    if (message.role === 'assistant') renderMarkdown(content, text);
    else content.append(h('p', { class: 'plain' }, text));
    thread.append(h('li', { class: `message ${message.role}` },
      h('div', { class: 'meta' }, h('strong', {}, message.role === 'assistant' ? (message.model || 'Assistant') : message.role === 'user' ? 'User' : message.role)),
      content, sourcesNode(message.sources)));
  }
  fill(main, 
    h('p', { class: 'badge' }, 'Shared chat · read-only'),
    h('h1', { class: 'chat-title' }, title),
    thread,
    session.user
      ? h('p', {}, h('a', { href: '/', 'data-link': true }, 'Back to my chats'))
      : h('p', { class: 'muted' }, h('a', { href: '/auth' }, 'Sign in'), ' to chat yourself.'));
  return null;
}
