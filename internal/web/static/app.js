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
const controls = $('controls');
const stage = $('stage');
const roomEl = $('room');
const micButton = $('mic');
const camButton = $('cam');
const shareButton = $('share');
const chatButton = $('chat-toggle');
const speakerButton = $('speaker-view');
const chatPanel = $('chat');
const chatList = $('messages');
const chatForm = $('chat-form');
const self = { el: $('self'), video: $('self').querySelector('video') };
self.el.dataset.name = 'You';

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
const senders = {}; // kind → the RTCRtpSender of the local microphone or camera
let screen = null; // { track, sender } while this page shares its screen
const screens = new Map(); // remote participant id → the track id of its screen
const remoteTracks = new Map(); // remote track id → MediaStreamTrack
let pinned = null; // the participant id shown large, or null
let wantOffer = false; // a local offer is to be made once signaling is stable
let offerFailures = 0; // local offers refused in a row

const live = () => ['joining', 'joined', 'reconnecting', 'leaving'].includes(state.state);

// The page's state, for people (the status line) and tests (window.roomsd).
const state = (window.roomsd = {
  state: 'idle', // idle, joining, joined, reconnecting, leaving, left, kicked, ended, disconnected, error
  resumeToken: null, // from joined: lets this page, and only it, resume its participant
  resumes: 0, // times the page resumed its participant after a dropped connection
  iceRestarts: 0, // times the page restarted ICE, its media path lost
  participantId: null,
  sessionId: null,
  roomId: null,
  connection: 'new', // the PeerConnection's connectionState
  rejoins: 0, // times the page joined again after losing its connection
  micOn: true, // the page's own microphone and camera switches
  camOn: true,
  sharing: false, // this page shares its screen
  chat: [], // chat messages heard: { from, text, sentAt }
  speakerView: false,
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

// The pre-join screen: a preview of the camera, and the choice of
// microphone, camera and speaker, remembered in this browser.
const preview = $('preview');
const devicesBox = $('devices');
const pick = { audioinput: $('mic-select'), videoinput: $('cam-select'), audiooutput: $('speaker-select') };
const canPickSpeaker = 'setSinkId' in HTMLMediaElement.prototype;
if (!canPickSpeaker) $('speaker-label').hidden = true;
let previewing = null; // the preview's MediaStream: it becomes the meeting's

function remembered() {
  try { return JSON.parse(localStorage.getItem('roomsd.devices') || '{}'); } catch { return {}; }
}

async function startPreview() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !navigator.mediaDevices.enumerateDevices) return;
  const want = remembered();
  if (previewing) for (const t of previewing.getTracks()) t.stop();
  previewing = null;
  const video = { width: { ideal: 1280 }, height: { ideal: 720 } };
  if (want.videoinput) video.deviceId = { exact: want.videoinput };
  try {
    previewing = await navigator.mediaDevices.getUserMedia({ audio: want.audioinput ? { deviceId: { exact: want.audioinput } } : true, video });
  } catch {
    return; // join asks again, and says why if it cannot have them
  }
  preview.srcObject = previewing;
  preview.hidden = false;
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [kind, select] of Object.entries(pick)) {
    select.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => new Option(d.label || `${kind} ${i + 1}`, d.deviceId)));
    const inUse = kind === 'audioinput' ? previewing.getAudioTracks()[0] : kind === 'videoinput' ? previewing.getVideoTracks()[0] : null;
    select.value = (inUse && inUse.getSettings().deviceId) || want[kind] || select.value;
  }
  devicesBox.hidden = false;
}

for (const [kind, select] of Object.entries(pick)) {
  select.addEventListener('change', () => {
    const want = remembered();
    want[kind] = select.value;
    localStorage.setItem('roomsd.devices', JSON.stringify(want));
    if (kind === 'audiooutput') return speakerTo(select.value);
    startPreview();
  });
}

// speakerTo plays every remote tile through the chosen speaker.
function speakerTo(id) {
  if (!canPickSpeaker || !id) return;
  for (const t of tiles.values()) t.video.setSinkId(id).catch(() => {});
}

startPreview();

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
micButton.addEventListener('click', () => setMic(!state.micOn));
camButton.addEventListener('click', () => setCam(!state.camOn));
shareButton.addEventListener('click', () => (screen ? stopShare() : startShare()));
chatButton.addEventListener('click', () => showChat(chatPanel.hidden));
speakerButton.addEventListener('click', () => {
  state.speakerView = !state.speakerView;
  speakerButton.setAttribute('aria-pressed', String(state.speakerView));
  arrange();
});
chatForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = chatForm.elements.text.value.trim();
  if (!text) return;
  send({ type: 'chat', text });
  chatForm.elements.text.value = '';
});
new ResizeObserver(() => arrange()).observe(roomEl);

// setMic and setCam switch the page's own microphone and camera: off,
// the track is taken off its sender (nothing is sent, not even silence
// or black frames) and the others are told.
async function setMic(on) { await setDevice('audio', on); }
async function setCam(on) { await setDevice('video', on); }

async function setDevice(kind, on) {
  const track = local && (kind === 'audio' ? local.getAudioTracks() : local.getVideoTracks())[0];
  if (kind === 'audio') state.micOn = on; else state.camOn = on;
  const button = kind === 'audio' ? micButton : camButton;
  button.setAttribute('aria-pressed', String(!on));
  button.textContent = kind === 'audio' ? (on ? 'Mute microphone' : 'Unmute microphone') : (on ? 'Turn camera off' : 'Turn camera on');
  self.el.classList.toggle(kind === 'audio' ? 'mic-off' : 'cam-off', !on);
  if (senders[kind] && track) await switchSender(senders[kind], on ? track : null);
  send({ type: 'self_mute', kind, muted: !on });
}

// switchSender puts a track on a sender, or none; with none, its
// encodings are stopped too, or the browser keeps sending padding to probe
// the link.
async function switchSender(sender, track) {
  await sender.replaceTrack(track).catch(() => {});
  const params = sender.getParameters();
  if (!params.encodings || !params.encodings.length) return;
  for (const e of params.encodings) e.active = Boolean(track);
  await sender.setParameters(params).catch(() => {});
}

// startShare publishes the screen as a second video, which the others
// show large; stopShare takes it back.
async function startShare() {
  if (!pc || !navigator.mediaDevices.getDisplayMedia) return say('This browser cannot share its screen.');
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
  } catch {
    return say('Screen sharing was not started.');
  }
  const track = stream.getVideoTracks()[0];
  const { sender } = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  screen = { track, sender };
  track.onended = () => stopShare();
  state.sharing = true;
  shareButton.setAttribute('aria-pressed', 'true');
  shareButton.textContent = 'Stop sharing';
  send({ type: 'screen_share', track_id: track.id });
  offerChange();
}

function stopShare() {
  if (!screen) return;
  const s = screen;
  screen = null;
  s.track.stop();
  if (pc) { try { pc.removeTrack(s.sender); } catch { /* closed */ } }
  state.sharing = false;
  shareButton.setAttribute('aria-pressed', 'false');
  shareButton.textContent = 'Share screen';
  send({ type: 'screen_share', track_id: '' });
  offerChange();
}

// offerChange offers what the page now publishes, in turn with the
// server's messages; if a server offer crosses it, the page answers that
// first and offers again (the page is the polite peer).
function offerChange() {
  wantOffer = true;
  queue = queue.then(makeOffer).catch((err) => say(`Could not change what you send: ${err.message || err}`));
}

async function makeOffer() {
  if (!pc || !wantOffer || pc.signalingState !== 'stable') return;
  wantOffer = false;
  await pc.setLocalDescription(await pc.createOffer());
  send({ type: 'offer', sdp: pc.localDescription.sdp });
}

function showChat(open) {
  chatPanel.hidden = !open;
  chatButton.setAttribute('aria-pressed', String(open));
  chatButton.classList.remove('unread');
  if (open) chatForm.elements.text.focus();
  arrange();
}

function heard(m) {
  const from = m.participant_id === state.participantId ? 'You' : (tiles.get(m.participant_id)?.name || `Guest ${m.participant_id.slice(-4)}`);
  state.chat.push({ from, text: m.text, sentAt: m.sent_at });
  const li = document.createElement('li');
  const who = document.createElement('b');
  who.textContent = `${from}: `;
  li.append(who, document.createTextNode(m.text));
  chatList.append(li);
  li.scrollIntoView({ block: 'end' });
  if (chatPanel.hidden) chatButton.classList.add('unread');
}

// arrange lays the tiles out: a screen share, or a pinned tile, or the
// active speaker in speaker view, is shown large (the stage) and the rest
// in a strip; otherwise every tile is in a grid sized to fill the space
// at the video's aspect ratio.
function arrange() {
  let star = null;
  for (const [id, t] of tiles) if (t.screen) star = id;
  if (!star && pinned && tiles.has(pinned)) star = pinned;
  if (!star && state.speakerView && state.speakers[0] && tiles.has(state.speakers[0])) star = state.speakers[0];
  for (const el of [...stage.children]) if (el.dataset.participant !== star) grid.append(el);
  if (star && tiles.get(star).el.parentElement !== stage) stage.append(tiles.get(star).el);
  stage.hidden = !star;
  roomEl.classList.toggle('staged', Boolean(star));
  // The grid: the number of columns that gives the largest 16:9 tiles.
  const phone = window.matchMedia('(max-width: 600px)').matches;
  const inGrid = [...grid.children].filter((el) => !el.hidden && !(phone && el === self.el));
  const gap = 8;
  const W = grid.clientWidth;
  const H = grid.clientHeight;
  let best = 160;
  for (let cols = 1; cols <= Math.max(1, inGrid.length); cols++) {
    const rows = Math.ceil(inGrid.length / cols);
    const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows) * 16 / 9);
    if (w > best) best = w;
  }
  grid.style.setProperty('--tile-w', `${Math.floor(best)}px`);
}
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
  setState('joining', 'Starting camera and microphone…');
  // The preview's camera and microphone, as chosen; else ask now.
  local = previewing || await capture();
  previewing = null;
  preview.srcObject = null;
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
  remoteTracks.clear();
  screens.clear();
  endShare();
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
        t.el.classList.toggle('mic-off', x.self_muted_audio);
        t.el.classList.toggle('cam-off', x.self_muted_video);
        if (x.screen_track_id) screens.set(x.participant_id, x.screen_track_id);
        else screens.delete(x.participant_id);
        placeAll(x.participant_id);
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
      offerFailures = 0;
      await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      await flush();
      return makeOffer(); // a change made while the offer was out
    case 'offer':
      // A local offer crossing it is rolled back by the browser, and made
      // again once this one is answered.
      if (pc.signalingState === 'have-local-offer') wantOffer = true;
      await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp });
      await flush();
      await pc.setLocalDescription(await pc.createAnswer());
      send({ type: 'answer', sdp: pc.localDescription.sdp });
      return makeOffer();
    case 'self_muted': {
      const t = tiles.get(m.participant_id);
      if (t) t.el.classList.toggle(m.kind === 'audio' ? 'mic-off' : 'cam-off', Boolean(m.muted));
      return;
    }
    case 'screen_share':
      if (m.track_id) screens.set(m.participant_id, m.track_id);
      else screens.delete(m.participant_id);
      return placeAll(m.participant_id);
    case 'chat': return heard(m);
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
      drop(`${m.participant_id}#screen`);
      screens.delete(m.participant_id);
      arrange();
      return count();
    case 'track_published': {
      if (m.kind === 'video') {
        const t = screens.get(m.participant_id) === m.track_id ? screenTile(m.participant_id) : tile(m.participant_id);
        t.videoTrack = m.track_id;
        t.sent = '';
        report(t);
      }
      return;
    }
    case 'track_unpublished':
      remoteTracks.delete(m.track_id);
      if (screens.get(m.participant_id) === m.track_id) drop(`${m.participant_id}#screen`);
      return arrange();
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
      if (state.speakerView) arrange();
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
      if (m.code === 'negotiation_failed' && pc && state.state === 'joined') {
        // The server's offer crossed ours and it refused ours: take ours
        // back (unless answering its offer did already) and offer again
        // once signaling is stable.
        if (pc.signalingState === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' });
        if (++offerFailures > 3) return say(`The server did not accept what this page sends: ${m.message}`);
        wantOffer = true;
        return makeOffer();
      }
      if (m.code === 'rate_limited') return say('Chat messages were sent too fast: the last one was not sent.');
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
  if (pc && ['disconnected', 'failed'].includes(pc.iceConnectionState)) restartIce();
}

// restartIce looks for a new media path (the old one is gone: the
// network changed, or a firewall started dropping it): the next offer
// carries new ICE credentials and candidates.
function restartIce() {
  if (!pc) return;
  state.iceRestarts++;
  pc.restartIce();
  wantOffer = true;
  queue = queue.then(makeOffer).catch((err) => say(`Error: ${err.message || err}`));
}

// watchICE restarts ICE when a media path that worked stops working for
// more than two seconds while signaling is up (during a resume, resumed
// does it); a path that never worked is a blocked network instead.
let iceTimer = null;
function watchICE() {
  clearTimeout(iceTimer);
  if (!['disconnected', 'failed'].includes(pc.iceConnectionState) || !state.mediaConnected) return;
  const which = pc;
  iceTimer = setTimeout(() => {
    if (pc !== which || state.state !== 'joined' || !['disconnected', 'failed'].includes(pc.iceConnectionState)) return;
    say('The media connection was lost; reconnecting it…');
    restartIce();
  }, pc.iceConnectionState === 'failed' ? 0 : 2000);
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
  pc.oniceconnectionstatechange = watchICE;
  pc.onconnectionstatechange = () => {
    state.connection = pc.connectionState;
    if (pc.connectionState === 'connected') {
      state.mediaConnected = true;
      count();
    }
    if (pc.connectionState === 'failed' && !state.mediaConnected) say(MEDIA_BLOCKED);
  };
  const tracks = local ? local.getTracks() : [];
  for (const t of tracks) {
    const init = { direction: 'sendonly', streams: [local] };
    // The camera goes out as three encodings (quarter, half and full
    // size); the server gives each viewer the one that fits its window
    // and its link. The browser drops the ones its uplink cannot carry.
    if (t.kind === 'video') init.sendEncodings = SIMULCAST;
    senders[t.kind] = pc.addTransceiver(t, init).sender;
    const on = t.kind === 'audio' ? state.micOn : state.camOn;
    if (!on) {
      await switchSender(senders[t.kind], null);
      send({ type: 'self_mute', kind: t.kind, muted: true });
    }
  }
  controls.hidden = false;
  micButton.disabled = !tracks.some((t) => t.kind === 'audio');
  camButton.disabled = !tracks.some((t) => t.kind === 'video');
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
  const n = [...tiles.values()].filter((t) => !t.screen).length;
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
    const quality = document.createElement('span');
    quality.className = 'quality';
    quality.setAttribute('role', 'img');
    quality.setAttribute('aria-label', 'connection: measuring');
    el.append(video, caption, quality);
    // Click, or Enter on a focused tile, shows it large (again: back).
    el.tabIndex = 0;
    const pin = () => { pinned = pinned === id ? null : id; arrange(); };
    el.addEventListener('click', pin);
    el.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pin(); } });
    grid.append(el);
    t = { el, video, caption, quality, name: '', videoTrack: null, visible: true, sent: '', tracks: [] };
    if (canPickSpeaker && remembered().audiooutput) video.setSinkId(remembered().audiooutput).catch(() => {});
    tiles.set(id, t);
    sizes.observe(el);
    seen.observe(el);
    arrange();
  }
  if (name) t.name = name;
  const shown = t.name || `Guest ${id.slice(-4)}`;
  t.caption.textContent = shown;
  t.el.dataset.name = shown;
  t.el.setAttribute('aria-label', `${shown}: press Enter to show large`);
  return t;
}

// screenTile is the tile of a participant's screen share.
function screenTile(pid) {
  const owner = tile(pid);
  const t = tile(`${pid}#screen`, `${owner.name || `Guest ${pid.slice(-4)}`}'s screen`);
  t.screen = true;
  t.el.classList.add('screen');
  return t;
}

// placeAll puts each of a participant's received tracks in its tile: its
// screen share in the screen tile, the rest in its own.
function placeAll(pid) {
  for (const [id, track] of remoteTracks) if (owners.get(id) === pid) place(pid, track);
  if (!screens.has(pid)) drop(`${pid}#screen`);
  arrange();
}

function place(pid, track) {
  const isScreen = track.kind === 'video' && screens.get(pid) === track.id;
  const t = isScreen ? screenTile(pid) : tile(pid);
  for (const other of [tiles.get(pid), tiles.get(`${pid}#screen`)]) {
    if (other && other !== t && other.tracks.includes(track)) {
      other.tracks = other.tracks.filter((x) => x !== track);
      other.video.srcObject = new MediaStream(other.tracks);
    }
  }
  if (!t.tracks.includes(track)) {
    // One video per tile: a new one replaces the last.
    t.tracks = t.tracks.filter((x) => track.kind !== 'video' || x.kind !== 'video').concat(track);
    t.video.srcObject = new MediaStream(t.tracks);
    play(t);
  }
  if (isScreen) arrange();
}

// attach shows a received track in its publisher's tile (the stream id is
// the publisher's participant id), or in its screen tile.
function attach(e) {
  const pid = e.streams[0] ? e.streams[0].id : e.track.id;
  owners.set(e.track.id, pid);
  remoteTracks.set(e.track.id, e.track);
  place(pid, e.track);
}

function play(t) {
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
  if (pinned === id) pinned = null;
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
  endShare();
  stopLocal();
  for (const id of [...tiles.keys()]) drop(id);
  owners.clear();
  remoteTracks.clear();
  screens.clear();
  early = [];
  self.el.hidden = true;
  self.el.classList.remove('muted', 'mic-off', 'cam-off');
  self.video.srcObject = null;
  controls.hidden = true;
  chatPanel.hidden = true;
  preview.hidden = true;
  stage.hidden = true;
  roomEl.classList.remove('staged');
  form.hidden = false;
}

// endShare forgets a screen share whose connection is gone.
function endShare() {
  if (!screen) return;
  screen.track.stop();
  screen = null;
  state.sharing = false;
  shareButton.setAttribute('aria-pressed', 'false');
  shareButton.textContent = 'Share screen';
}

function stopLocal() {
  if (local) for (const t of local.getTracks()) t.stop();
  local = null;
}

// stats sums, per remote participant, the video frames decoded and the
// audio packets received, and gives the size of the frames received.
async function stats() {
  const out = { framesDecoded: 0, byParticipant: {}, audioPackets: {}, frameWidth: {}, frameHeight: {}, screenFrames: {}, audioBytesSent: 0, videoBytesSent: 0 };
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
      if (screens.get(owner) === r.track.id) {
        out.screenFrames[owner] = (out.screenFrames[owner] || 0) + s.framesDecoded;
        return;
      }
      out.framesDecoded += s.framesDecoded;
      out.byParticipant[owner] = (out.byParticipant[owner] || 0) + s.framesDecoded;
    });
  }
  // What this page sends, for tests that check a switch stops it.
  (await pc.getStats()).forEach((s) => {
    if (s.type !== 'outbound-rtp') return;
    if (s.kind === 'audio') out.audioBytesSent += s.bytesSent || 0;
    if (s.kind === 'video') out.videoBytesSent += s.bytesSent || 0;
  });
  return out;
}

// Each remote tile's connection quality, from what its tracks report
// (loss, jitter, freezes) over the last two seconds: good, fair or poor.
const qualityPrev = new Map(); // track id → { lost, received, freezes }
setInterval(async () => {
  if (!pc || state.state !== 'joined') return;
  const per = new Map(); // participant id → { lost, received, jitter, freezes }
  for (const r of pc.getReceivers()) {
    const owner = r.track && owners.get(r.track.id);
    if (!owner) continue;
    (await r.getStats()).forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const prev = qualityPrev.get(r.track.id) || { lost: 0, received: 0, freezes: 0 };
      const now = { lost: s.packetsLost || 0, received: s.packetsReceived || 0, freezes: s.freezeCount || 0 };
      qualityPrev.set(r.track.id, now);
      const q = per.get(owner) || { lost: 0, received: 0, jitter: 0, freezes: 0 };
      q.lost += Math.max(0, now.lost - prev.lost);
      q.received += Math.max(0, now.received - prev.received);
      q.freezes += Math.max(0, now.freezes - prev.freezes);
      q.jitter = Math.max(q.jitter, s.jitter || 0);
      per.set(owner, q);
    });
  }
  for (const [id, q] of per) {
    const t = tiles.get(id);
    if (!t || !q.received) continue;
    const loss = q.lost / (q.lost + q.received);
    const level = loss < 0.02 && q.jitter < 0.03 && !q.freezes ? 'good' : loss < 0.08 && q.jitter < 0.1 ? 'fair' : 'poor';
    t.el.dataset.quality = level;
    t.quality.setAttribute('aria-label', `connection: ${level}`);
    t.quality.title = `Connection ${level}: ${(loss * 100).toFixed(1)} % lost, ${Math.round(q.jitter * 1000)} ms jitter`;
  }
}, 2000);
