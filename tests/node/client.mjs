// The seed's client, as a frontend would use it: connect with auth.token, join a chat, send a
// message, and print what came back as one JSON line. Usage: node client.mjs URL TOKEN CHAT_ID
import { io } from "socket.io-client";

const [url, token, chatId] = process.argv.slice(2);
const seen = { connected: false, joined: null, ack: null, messages: [], joins: [] };
const socket = io(url, { auth: { token }, transports: ["websocket", "polling"] });

const finish = (code) => {
  console.log(JSON.stringify(seen));
  socket.close();
  process.exit(code);
};
setTimeout(() => finish(2), 10000);

socket.on("connect_error", (err) => {
  seen.error = err.message;
  finish(1);
});
socket.on("user_join", (data) => seen.joins.push(data));
const finishWhenDone = () => {
  if (seen.ack && seen.messages.length) finish(0);
};
socket.on("message", (data) => {
  seen.messages.push(data);
  finishWhenDone();
});
socket.on("connect", async () => {
  seen.connected = true;
  seen.joined = await socket.emitWithAck("join_chat", { chat_id: chatId });
  seen.ack = await socket.emitWithAck("message", {
    chat_id: chatId,
    message: { role: "user", content: "Hello from socket.io-client!" },
  });
  finishWhenDone();
});
