// The roomsd meeting page: a client of the signaling protocol (see
// internal/signal). It joins with a client token, publishes the camera (as
// three simulcast encodings) and microphone with sendonly transceivers (or,
// with neither, only a data channel), makes the first offer, answers every
// offer of the server, and shows one <video> per remote participant, whose
// MediaStream id is that participant's id. It tells the server the size
// each remote video is shown at and whether it is visible, so that the
// server sends the layer that fits, or nothing. window.roomsd exposes its
// state for tests.
'use strict';

const $ = (id) => document.getElementById(id);
const form = $('join');
const statusLine = $('status');
const grid = $('grid');
const leaveButton = $('leave');
const self = { el: $('self'), video: $('self').querySelector('video') };

const tiles = new Map(); // remote participant id → { el, video, caption, name, videoTrack, visible, sent }
const owners = new Map(); // remote track id → participant id
let ws = null;
let pc = null;
let local = null;
let early = []; // candidates that came before the first remote description
let queue = Promise.resolve(); // server messages are handled one at a time
let target = null; // { url, token, name } of the meeting joined, for rejoining it
let retry = null; // { attempts } while joining again after a lost connection
let resuming = null; // { started, attempts } while resuming after a dropped connection

const live = () => ['joining', 'joined', 'reconnecting', 'leaving'].includes(state.state);

// The page's state, for people (the status line) and tests (window.roomsd).
const state = (window.roomsd = {
  state: 'idle', // idle, joining, joined, reconnecting, leaving, left, kicked, ended, disconnected, error
  resumeToken: null, // from joined: lets this page, and only it, resume its participant
  resumes: 0, // times the page resumed its participant after a dropped connection
  participantId: null,
  sessionId: null,
  roomId: null,
  connection: 'new', // the PeerConnection's connectionState
  rejoins: 0, // times the page joined again after losing its connection
  tokenRefreshes: 0, // times its token was renewed during the meeting
  get pc() { return pc; },
  remotes: () => [...tiles.keys()],
  speakers: [], // the last speakers message: who speaks, loudest first
  stats,
});

function setState(name, text) {
  state.state = name;
  document.body.dataset.state = name;
  if (text) say(text);
}

function say(text) { statusLine.textContent = text; }

function send(m) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m));
}

// The form is filled from ?room=&token=&name= in the query or the hash.
// A meeting link (#link=…) stands for room and token: each Join opens it
// for a fresh token.
let link = null;
for (const part of [location.search, location.hash]) {
  for (const [k, v] of new URLSearchParams(part.slice(1))) {
    if (['room', 'token', 'name'].includes(k)) form.elements[k].value = v;
    if (k === 'link') link = v;
  }
}
if (link) {
  for (const el of form.querySelectorAll('.credential')) {
    el.hidden = true;
    el.querySelector('input').required = false;
  }
  say('You are invited to a meeting: enter your name and press Join.');
  // Opened once now, to greet by name and to say at once if the link no
  // longer works.
  openLink().then((o) => {
    if (o.name && !form.elements.name.value) form.elements.name.value = o.name;
  }).catch((err) => say(err.message));
}

// openLink exchanges the meeting link for a fresh client token; its
// errors are the server's plain words.
async function openLink() {
  let res;
  try {
    res = await fetch('/roomsd/links/actions/open', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ link }),
    });
  } catch {
    throw new Error('Could not reach the server; check your connection and try again.');
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = (body.errors || [])[0] || {};
    throw new Error(e.detail || `The server refused the link (${res.status}).`);
  }
  return body.data;
}

// The token is refreshed before it expires, so that joining again (after
// a lost connection) works all through a long meeting: with the refresh
// token while it lasts, then by opening the meeting link again.
let refreshTimer = null;
function keepFresh(roomId, data) {
  clearTimeout(refreshTimer);
  const left = Date.parse(data.token_expires_at) - Date.now();
  refreshTimer = setTimeout(async () => {
    if (!target || !live()) return;
    try {
      let next;
      if (Date.parse(data.refresh_token_expires_at) - Date.now() > 60_000) {
        const res = await fetch(`/v2/rooms/${encodeURIComponent(roomId)}/actions/refresh_client_token`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refresh_token: data.refresh_token }),
        });
        if (!res.ok) throw new Error(`refresh refused (${res.status})`);
        next = { ...data, ...(await res.json()).data };
      } else if (link) {
        next = await openLink();
      } else {
        return;
      }
      target.token = next.token;
      state.tokenRefreshes++;
      keepFresh(roomId, next);
    } catch {
      refreshTimer = setTimeout(() => keepFresh(roomId, data), 30_000);
    }
  }, Math.max(left * 0.8, 5_000));
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  join().catch((err) => finish('error', `Could not join: ${err.message || err}`));
});
leaveButton.addEventListener('click', leave);
window.addEventListener('pagehide', () => send({ type: 'leave' }));

async function join() {
  let room = form.elements.room.value.trim();
  let token = form.elements.token.value.trim();
  const name = form.elements.name.value.trim();
  let fresh = null;
  if (link) {
    try {
      fresh = await openLink();
    } catch (err) {
      return finish('error', err.message);
    }
    ({ room_id: room, token } = fresh);
  }
  if (!room || !token) return say('A room id and a token are needed.');
  form.hidden = true;
  leaveButton.hidden = false;
  setState('joining', 'Starting camera and microphone…');
  local = await capture();
  if (state.state !== 'joining') return stopLocal(); // left meanwhile
  if (local) {
    self.el.querySelector('figcaption').textContent = name ? `You (${name})` : 'You';
    self.video.srcObject = local;
    self.el.hidden = false;
  }
  say(local ? 'Connecting…' : DEVICE_PROBLEMS[state.deviceProblem] || DEVICE_PROBLEMS.none);
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  target = { url: `${scheme}//${location.host}/v2/rooms/${encodeURIComponent(room)}/connect`, token, name };
  retry = null;
  if (fresh) keepFresh(room, fresh);
  connect(target.url, token, name, 0);
}

// dropped handles a signaling connection that went away while in the
// meeting: the server holds the participant for its grace period, so the
// page resumes it on a new connection, keeping its media and its tiles
// ("reconnecting…"); past about nine seconds it joins afresh (lost).
function dropped() {
  if (ws) { ws.onclose = null; ws.close(); ws = null; }
  resuming = resuming || { started: Date.now(), attempts: 0 };
  if (Date.now() - resuming.started > 9000) {
    resuming = null;
    return lost();
  }
  const wait = Math.min(250 * 2 ** resuming.attempts, 2000);
  resuming.attempts++;
  setState('reconnecting', 'Connection lost; reconnecting…');
  setTimeout(() => {
    if (state.state === 'reconnecting' && resuming) {
      connect(target.url, target.token, target.name, 0, { resume: state.participantId, resume_token: state.resumeToken });
    }
  }, wait);
}

// lost handles a connection that dropped without the server ending the
// meeting for us (its node stopped or died, the network went away): the
// page joins again, as a new participant, through the address it was
// loaded from (in a cluster, any node: it is sent to the one holding the
// meeting, or the meeting moves to a live node), keeping the camera.
// It gives up after about two minutes (a restarting server is given the
// time to come back).
function lost(why = 'Connection lost; joining again…') {
  resuming = null;
  if (ws) { ws.onclose = null; ws.close(); ws = null; }
  if (pc) { pc.close(); pc = null; }
  for (const id of [...tiles.keys()]) drop(id);
  owners.clear();
  early = [];
  retry = retry || { attempts: 0, why };
  if (retry.attempts >= 27) {
    retry = null;
    return finish('disconnected', 'The connection to the server was lost and could not be made again; join again later.');
  }
  const wait = Math.min(500 * 2 ** retry.attempts, 5000);
  retry.attempts++;
  setState('joining', retry.attempts > 1 ? `${retry.why} (try ${retry.attempts})` : retry.why);
  setTimeout(() => {
    if (state.state === 'joining' && retry) connect(target.url, target.token, target.name, 0);
  }, wait);
}

// connect opens the signaling socket and joins. In a cluster, a server
// that does not hold the room's meeting answers with a redirect to the
// one that does: the page joins there instead.
function connect(url, token, name, hops, resume = {}) {
  const sock = new WebSocket(url);
  ws = sock;
  sock.onopen = () => send({ type: 'join', token, context: name, ...resume });
  sock.onmessage = (e) => {
    if (sock !== ws) return;
    let m;
    try { m = JSON.parse(e.data); } catch { return; }
    if (m.type === 'redirect' && ['joining', 'reconnecting'].includes(state.state)) {
      sock.close();
      if (hops >= 3) return finish('error', 'Could not join: the servers keep sending the connection elsewhere; try again later.');
      return connect(m.url, token, name, hops + 1, resume);
    }
    queue = queue.then(() => handle(m)).catch((err) => say(`Error: ${err.message || err}`));
  };
  // In the queue too, so that a "kicked" or "closed" just before is shown.
  sock.onclose = (e) => {
    if (sock !== ws) return;
    queue = queue.then(() => {
      if (state.state === 'joined' || state.state === 'reconnecting') return dropped();
      if (state.state === 'joining' && retry) return lost();
      if (state.state === 'joining') finish('error', 'Could not reach the meeting: check the room id in the link, and that the server is running.');
      else if (live()) finish('disconnected', `Disconnected${e.reason ? `: ${e.reason}` : ''}.`);
    });
  };
}

// capture asks for camera and microphone, then either alone, then nothing.
async function capture() {
  state.deviceProblem = '';
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    state.deviceProblem = 'insecure';
    return null; // not a secure context
  }
  for (const want of [{ audio: true, video: { width: { ideal: 1280 }, height: { ideal: 720 } } }, { audio: true }, { video: true }]) {
    try {
      return await navigator.mediaDevices.getUserMedia(want);
    } catch (err) {
      // Denied once is denied for all: do not ask again.
      if (err && (err.name === 'NotAllowedError' || err.name === 'SecurityError')) {
        state.deviceProblem = 'denied';
        return null;
      }
      state.deviceProblem = 'none';
    }
  }
  return null;
}

// The media never connected: something between here and the server
// blocks it.
const MEDIA_BLOCKED = 'Your network blocks the meeting\'s audio and video (they travel over UDP to the server). Try another network, or ask whoever runs the server or your network to let it through.';

// Why the page has no camera or microphone, in words.
const DEVICE_PROBLEMS = {
  denied: 'Camera and microphone are blocked for this page: allow them in the browser (the camera icon in the address bar) and join again. Joining to watch and listen only…',
  insecure: 'The browser gives the camera and microphone only to pages on https:// (or this machine): joining to watch and listen only…',
  none: 'No camera or microphone found: joining to watch and listen only…',
};

// refusal turns the server's refusal of a join (its error code) into what
// happened and what to do.
function refusal(m) {
  switch (m.code) {
    case 'unauthorized':
      if (/expired/.test(m.message)) return 'Your invitation to this meeting has expired: ask for a new link.';
      if (/another room/.test(m.message)) return 'This invitation is for another meeting: check the link.';
      if (/no longer exists/.test(m.message)) return 'This meeting no longer exists.';
      return 'This invitation is not valid (it may have been cut short when copied): ask for a new link.';
    case 'room_full':
      return 'The meeting is full: it has as many participants as it allows. Try again when someone leaves, or ask the host to raise the limit.';
    case 'not_found':
      return 'This meeting no longer exists.';
    case 'kicked': {
      const at = Date.parse((m.message.match(/\d{4}-\d{2}-\d{2}T[\d:]+Z/) || [])[0]);
      const when = Number.isNaN(at) ? 'in a few minutes' : `from ${new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
      return `You were removed from this meeting. You can join again ${when}.`;
    }
    case 'unavailable':
      return 'The server is not taking participants right now: try again in a minute.';
  }
  return 'The server could not add you to the meeting: try again in a minute.';
}

async function handle(m) {
  if (!live()) return;
  switch (m.type) {
    case 'joined':
      if (state.state === 'reconnecting' && m.participant_id === state.participantId) return resumed(m);
      return joined(m);
    case 'state': {
      // After a resume: the room as it is now.
      const now = new Map((m.participants || []).map((x) => [x.participant_id, x]));
      for (const id of [...tiles.keys()]) if (!now.has(id)) drop(id);
      for (const x of now.values()) {
        const t = tile(x.participant_id, x.context);
        t.el.classList.toggle('muted', x.muted);
        t.el.classList.toggle('reconnecting', x.reconnecting);
      }
      return count();
    }
    case 'participant_reconnecting':
    case 'participant_reconnected': {
      const t = tiles.get(m.participant_id);
      if (t) t.el.classList.toggle('reconnecting', m.type === 'participant_reconnecting');
      return;
    }
    case 'answer':
      await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      return flush();
    case 'offer':
      await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
      await flush();
      await pc.setLocalDescription(await pc.createAnswer());
      return send({ type: 'answer', sdp: pc.localDescription.sdp });
    case 'candidate':
      if (!m.candidate) return;
      if (pc && pc.remoteDescription) return addCandidate(m.candidate);
      early.push(m.candidate);
      return;
    case 'participant_joined':
      tile(m.participant_id, m.context);
      return count();
    case 'participant_left':
      drop(m.participant_id);
      return count();
    case 'track_published': {
      const t = tile(m.participant_id);
      if (m.kind === 'video') {
        t.videoTrack = m.track_id;
        t.sent = '';
        report(t);
      }
      return;
    }
    case 'muted':
    case 'unmuted': {
      const t = m.participant_id === state.participantId ? self : tiles.get(m.participant_id);
      if (t) t.el.classList.toggle('muted', m.type === 'muted');
      if (t === self) say(m.type === 'muted' ? 'The host muted you: the others do not hear you.' : 'You are unmuted.');
      return;
    }
    case 'speakers': {
      // Who speaks now, loudest first: their tiles light up.
      const ids = m.speakers || [];
      for (const [id, t] of [[state.participantId, self], ...tiles]) {
        t.el.classList.toggle('speaking', ids.includes(id));
        t.el.classList.toggle('dominant', ids[0] === id);
      }
      state.speakers = ids;
      return;
    }
    case 'kicked': return finish('kicked', 'You were removed from this meeting.');
    case 'session_ended': return finish('ended', 'The meeting was ended.');
    case 'closed':
      if (m.reason === 'leave' || state.state === 'leaving') return finish('left', 'You left the room.');
      if (m.reason === 'disconnected' && state.state === 'joined' && !state.mediaConnected) {
        return finish('error', MEDIA_BLOCKED);
      }
      if (m.reason === 'disconnected' && state.state === 'joined') return lost();
      if (m.reason === 'server_shutdown' && state.state === 'joined') return lost('The server is restarting; joining again when it is back…');
      return finish('disconnected', m.reason === 'room_deleted' ? 'The meeting was deleted: it is over.' : 'You were disconnected from the meeting.');
    case 'error':
      // The server no longer holds us (the grace period passed): join afresh.
      if (state.state === 'reconnecting' && m.code === 'not_found') return lost();
      if (state.state === 'joining' && !pc) return finish('error', refusal(m));
      return say(`The server could not do that: ${m.message}`);
  }
}

// resumed carries on with the same participant and media after a
// resume; if the media path was lost too, ICE restarts.
async function resumed(m) {
  resuming = null;
  state.resumes++;
  setState('joined');
  count();
  if (pc && ['disconnected', 'failed'].includes(pc.iceConnectionState)) {
    await pc.setLocalDescription(await pc.createOffer({ iceRestart: true }));
    send({ type: 'offer', sdp: pc.localDescription.sdp });
  }
}

async function joined(m) {
  if (retry) {
    retry = null;
    state.rejoins++;
  }
  state.participantId = m.participant_id;
  state.mediaConnected = false;
  state.resumeToken = m.resume_token;
  state.sessionId = m.session_id;
  state.roomId = m.room_id;
  setState('joined', 'Joined; connecting media…');
  const iceServers = (m.ice_servers || []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
  pc = new RTCPeerConnection({ iceServers });
  pc.onicecandidate = (e) => { if (e.candidate) send({ type: 'candidate', candidate: e.candidate.toJSON() }); };
  pc.ontrack = attach;
  pc.onconnectionstatechange = () => {
    state.connection = pc.connectionState;
    if (pc.connectionState === 'connected') {
      state.mediaConnected = true;
      count();
    }
    if (pc.connectionState === 'failed') say(MEDIA_BLOCKED);
  };
  const tracks = local ? local.getTracks() : [];
  for (const t of tracks) {
    const init = { direction: 'sendonly', streams: [local] };
    // The camera goes out as three encodings (quarter, half and full
    // size); the server gives each viewer the one that fits its window
    // and its link. The browser drops the ones its uplink cannot carry.
    if (t.kind === 'video') init.sendEncodings = SIMULCAST;
    pc.addTransceiver(t, init);
  }
  // An offer needs something in it: a data channel when nothing is published.
  if (!tracks.length) pc.createDataChannel('roomsd');
  await pc.setLocalDescription(await pc.createOffer());
  send({ type: 'offer', sdp: pc.localDescription.sdp });
}

function addCandidate(c) {
  const init = { ...c };
  if (init.sdpMid === '') delete init.sdpMid; // pion sends "", which names no m-line
  return pc.addIceCandidate(init).catch(() => { /* a candidate the browser cannot use */ });
}

async function flush() {
  const cs = early;
  early = [];
  for (const c of cs) await addCandidate(c);
}

function count() {
  if (state.state !== 'joined') return;
  const n = tiles.size;
  const media = state.connection === 'connected' ? '' : ' (connecting media…)';
  // Blocked devices stay said: the others neither see nor hear this page.
  const blocked = state.deviceProblem === 'denied' ? ' Your camera and microphone are blocked: allow them in the browser (the camera icon in the address bar) and join again to be seen and heard.' : '';
  say((n ? `In the room with ${n} other${n > 1 ? 's' : ''}${media}.` : `In the room; nobody else is here yet${media}.`) + blocked);
}

// The simulcast encodings of the camera.
const SIMULCAST = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', maxBitrate: 1_500_000 },
];

// The size and visibility of each remote video, as the server should know
// them: observed, and sent when they change.
const sizes = new ResizeObserver((entries) => { for (const e of entries) reportElement(e.target); });
const seen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    const t = tiles.get(e.target.dataset.participant);
    if (t) { t.visible = e.isIntersecting; report(t); }
  }
});
document.addEventListener('visibilitychange', () => { for (const t of tiles.values()) report(t); });

function reportElement(el) {
  const t = tiles.get(el.dataset.participant);
  if (t) report(t);
}

// report sends track_settings for a tile's video if what the server knows
// is out of date: hidden when the tile is off screen or the tab is hidden,
// else the tile's size in device pixels.
function report(t) {
  if (!t.videoTrack) return;
  const visible = t.visible && document.visibilityState === 'visible';
  const dpr = window.devicePixelRatio || 1;
  const width = visible ? Math.round(t.el.clientWidth * dpr) : 0;
  const height = visible ? Math.round(t.el.clientHeight * dpr) : 0;
  const m = { type: 'track_settings', track_id: t.videoTrack, visible, width, height };
  const key = JSON.stringify(m);
  if (key === t.sent) return;
  t.sent = key;
  send(m);
}

function tile(id, name) {
  let t = tiles.get(id);
  if (!t) {
    const el = document.createElement('figure');
    el.className = 'tile';
    el.dataset.participant = id;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    const caption = document.createElement('figcaption');
    el.append(video, caption);
    grid.append(el);
    t = { el, video, caption, name: '', videoTrack: null, visible: true, sent: '' };
    tiles.set(id, t);
    sizes.observe(el);
    seen.observe(el);
  }
  if (name) t.name = name;
  t.caption.textContent = t.name || `Guest ${id.slice(-4)}`;
  return t;
}

// attach shows a received track in its publisher's tile.
function attach(e) {
  const stream = e.streams[0] || new MediaStream([e.track]);
  const t = tile(stream.id);
  owners.set(e.track.id, stream.id);
  if (t.video.srcObject !== stream) t.video.srcObject = stream;
  t.video.play().catch(() => {
    // Autoplay with sound was refused: play muted until a click.
    t.video.muted = true;
    t.el.classList.add('no-sound');
    t.el.onclick = () => { t.video.muted = false; t.el.classList.remove('no-sound'); t.video.play().catch(() => {}); };
    t.video.play().catch(() => {});
  });
}

function drop(id) {
  const t = tiles.get(id);
  if (!t) return;
  sizes.unobserve(t.el);
  seen.unobserve(t.el);
  t.video.srcObject = null;
  t.el.remove();
  tiles.delete(id);
}

function leave() {
  if (!ws || ws.readyState !== WebSocket.OPEN) return finish('left', 'You left the room.');
  setState('leaving', 'Leaving…');
  send({ type: 'leave' });
  // The server answers with "closed"; do not wait for it forever.
  setTimeout(() => { if (live()) finish('left', 'You left the room.'); }, 3000);
}

// finish tears everything down and shows the form again.
function finish(name, text) {
  setState(name, text);
  retry = null;
  resuming = null;
  clearTimeout(refreshTimer);
  if (ws) { ws.onclose = null; ws.close(); ws = null; }
  if (pc) { pc.close(); pc = null; }
  stopLocal();
  for (const id of [...tiles.keys()]) drop(id);
  owners.clear();
  early = [];
  self.el.hidden = true;
  self.el.classList.remove('muted');
  self.video.srcObject = null;
  leaveButton.hidden = true;
  form.hidden = false;
}

function stopLocal() {
  if (local) for (const t of local.getTracks()) t.stop();
  local = null;
}

// stats sums, per remote participant, the video frames decoded and the
// audio packets received, and gives the size of the frames received.
async function stats() {
  const out = { framesDecoded: 0, byParticipant: {}, audioPackets: {}, frameWidth: {}, frameHeight: {} };
  if (!pc) return out;
  for (const r of pc.getReceivers()) {
    const owner = r.track && owners.get(r.track.id);
    if (!owner) continue;
    (await r.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'audio') out.audioPackets[owner] = (out.audioPackets[owner] || 0) + (s.packetsReceived || 0);
      if (s.kind === 'video' && s.frameWidth) {
        out.frameWidth[owner] = s.frameWidth;
        out.frameHeight[owner] = s.frameHeight;
      }
      if (s.kind !== 'video' || !s.framesDecoded) return;
      out.framesDecoded += s.framesDecoded;
      out.byParticipant[owner] = (out.byParticipant[owner] || 0) + s.framesDecoded;
    });
  }
  return out;
}
