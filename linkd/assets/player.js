// The watch page's player: plays the gated HLS stream, follows the link's
// session, and tells the viewer what is going on in plain words.
//
// Plain ES2017, no build step. It runs under a strict Content-Security-Policy
// (script-src 'self', no inline code), so its configuration comes from the
// <script type="application/json" id="watch-config"> block on the page:
//   { "play_url": "/play/index.m3u8", "session_url": "/play/_session",
//     "expires_at": <Unix seconds> | null }
//
// The page's state machine, in one place (STATES below). The current state is
// mirrored on document.body.dataset.state, the link's expiry on the expiry
// line's data-expires-at.
//
//   state        entered when                                left when
//   connecting   the page opens; linkd answers again after   the video advances (playing);
//                being unreachable                           an attempt fails (offline)
//   playing      the video's time advances                   it stops advancing (offline or
//                                                            unreachable); the link ends
//   offline      an attempt failed or stalled, or the        the video advances (playing)
//                session says the stream is not live
//                (keeps retrying)
//   unreachable  linkd has not answered for UNREACHABLE_MS   linkd answers (connecting)
//                and the video is not advancing (keeps
//                retrying)
//   expired      the session says so, or the time is up      final
//   disabled     the session says the link was switched off  final
//   invalid      the session is unknown, reopening refused   final
//   error        no configuration, or no HLS in the browser  final
//   kicked, rotated, taken, in_use: a sharing limit ended it   final
//
// session.js follows the link's session (polls, renewal, reopening) and
// reports here; it loads before this file.
(function () {
  'use strict';

  // Timings, in milliseconds.
  const RETRY_MS = 3000; // recreate the player this long after a failure
  const ADVANCE_MS = 1500; // currentTime moved this recently = advancing
  const STALL_MS = 6000; // playing, but nothing moved for this long = offline
  const NO_PROGRESS_MS = 10000; // an attempt that never started playing
  const UNREACHABLE_MS = 3000; // linkd silent this long, video stopped = unreachable
  const TICK_MS = 500; // watchdog
  const EXPIRY_REFRESH_MS = 30000;

  // Every state: what the viewer reads, the hint below it, the label over the
  // video while it does not play, and whether it is final (nothing runs any more).
  const STATES = {
    connecting: { message: 'Connecting to the stream\u2026', label: 'Connecting\u2026' },
    playing: { message: 'Live', label: '' },
    offline: {
      message: 'The stream is offline. It will start by itself when the broadcast begins.',
      label: 'Offline' },
    unreachable: {
      message: 'The server cannot be reached. Trying again\u2026', label: 'Reconnecting\u2026',
      hint: 'The stream continues by itself when the connection is back.' },
    expired: {
      message: 'This link has expired.', label: 'Link expired', final: true,
      hint: 'Ask the person who sent it for a new link.' },
    disabled: {
      message: 'This link was switched off.', label: 'Link switched off', final: true,
      hint: 'If you think this is a mistake, ask the person who sent it.' },
    invalid: {
      message: 'This link is not valid.', label: 'Link not valid', final: true,
      hint: 'Check that you opened the whole link, or ask the person who sent it for a new one.' },
    error: {
      message: 'Something went wrong. Reload the page to try again.', label: 'Cannot play',
      final: true }
  };
  // How a link can end, as linkd names it (sharing limits' words: session.js).
  const ENDINGS = (window.TempstreamSession && window.TempstreamSession.ENDINGS) || {};
  Object.assign(STATES, ENDINGS);
  const ENDED = ['expired', 'disabled', 'invalid'].concat(Object.keys(ENDINGS));

  // hls.js retries a request that got no answer at all (linkd restarting) like
  // one that got a 5xx, for about 10 s: the player keeps its buffer meanwhile.
  function retryUnanswered(cfg, count, isTimeout, response, retry) {
    return retry || (count < cfg.maxNumRetry && (!response || !response.code));
  }
  function loadPolicy(firstByteMs, loadMs) {
    return { default: {
      maxTimeToFirstByteMs: firstByteMs, maxLoadTimeMs: loadMs,
      timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
      errorRetry: { maxNumRetry: 8, retryDelayMs: 500, maxRetryDelayMs: 2000, shouldRetry: retryUnanswered }
    } };
  }

  const video = document.getElementById('video');
  const statusEl = document.getElementById('status');
  const hintEl = document.getElementById('hint');
  const overlayEl = document.getElementById('overlay');
  const expiryEl = document.getElementById('expiry');
  const unmuteEl = document.getElementById('unmute');

  let config = null;
  let state = document.body.dataset.state || 'connecting';
  let finished = false; // a final state was reached: nothing runs any more

  // Player.
  let hls = null;
  let attempt = null; // { startedAt, failedAt, recoveredMedia }
  let lastTime = 0;
  let lastAdvanceAt = 0;
  let blocked = false; // autoplay refused: waiting for the viewer to press play

  // Session.
  let expiresAt = null;
  let liveFalseCount = 0;
  let unansweredSince = 0; // first unanswered poll since linkd last answered

  let tickTimer = null;
  let expiryTimer = null;
  let expiryPollTimer = null;

  function setText(el, text) {
    if (el) el.textContent = text;
  }

  function setHidden(el, hidden) {
    if (el) el.hidden = hidden;
  }

  function setState(next, message) {
    if (finished) return;
    const s = STATES[next];
    state = next;
    document.body.dataset.state = next;
    setText(statusEl, message || s.message);
    setText(hintEl, s.hint || '');
    setText(overlayEl, s.label);
    if (s.final) finish();
  }

  // The state to show while the video does not advance and the link plays.
  function stoppedState() {
    return linkdUnreachable() ? 'unreachable' : 'offline';
  }

  function linkdUnreachable() {
    return unansweredSince !== 0 && Date.now() - unansweredSince >= UNREACHABLE_MS;
  }

  function readConfig() {
    const el = document.getElementById('watch-config');
    if (!el) return null;
    let parsed;
    try {
      parsed = JSON.parse(el.textContent);
    } catch (e) {
      return null;
    }
    if (!parsed || typeof parsed.play_url !== 'string' || typeof parsed.session_url !== 'string') {
      return null;
    }
    if (typeof parsed.expires_at !== 'number') parsed.expires_at = null;
    return parsed;
  }

  // ---- playback -----------------------------------------------------------

  function hlsJsUsable() {
    return typeof window.Hls === 'function' && window.Hls.isSupported();
  }

  function nativeUsable() {
    return video.canPlayType('application/vnd.apple.mpegurl') !== '';
  }

  function unloadVideo() {
    video.pause();
    video.removeAttribute('src');
    video.load();
  }

  function stopPlayer() {
    if (hls) {
      hls.destroy();
      hls = null;
    }
    attempt = null;
  }

  function tryPlay() {
    const p = video.play();
    if (p && typeof p.then === 'function') {
      p.then(function () {
        blocked = false;
      }, function (err) {
        // Some browsers refuse to start even a muted video by itself
        // (power saving, user settings): the viewer has to press play.
        if (err && err.name === 'NotAllowedError' && !finished && state !== 'playing') {
          blocked = true;
          setState('connecting', 'The stream is ready. Press play to start watching.');
          setText(overlayEl, 'Press play');
        }
      });
    }
  }

  function startPlayer() {
    if (finished) return;
    stopPlayer();
    attempt = { startedAt: Date.now(), failedAt: 0, recoveredMedia: false };
    lastTime = 0;
    if (hlsJsUsable()) {
      const Hls = window.Hls;
      hls = new Hls({
        lowLatencyMode: true,
        backBufferLength: 30,
        manifestLoadPolicy: loadPolicy(10000, 20000),
        playlistLoadPolicy: loadPolicy(10000, 20000),
        fragLoadPolicy: loadPolicy(10000, 120000)
      });
      const own = hls;
      hls.on(Hls.Events.ERROR, function (event, data) {
        if (own === hls) onHlsError(data);
      });
      hls.on(Hls.Events.MANIFEST_PARSED, function () {
        if (own === hls) tryPlay();
      });
      hls.on(Hls.Events.MEDIA_ATTACHED, function () {
        // Recovering from a media error re-attaches the video, which pauses it.
        if (own === hls && attempt && attempt.recoveredMedia) tryPlay();
      });
      hls.loadSource(config.play_url);
      hls.attachMedia(video);
    } else {
      // Safari and iOS play HLS by themselves.
      video.src = config.play_url;
      video.load();
      tryPlay();
    }
  }

  function attemptFailed() {
    if (!attempt || attempt.failedAt) return;
    attempt.failedAt = Date.now();
    if (state !== 'playing' || !advancing()) setState(stoppedState());
  }

  function onHlsError(data) {
    const Hls = window.Hls;
    const code = data.response && typeof data.response.code === 'number' ? data.response.code : 0;
    if (code === 401 || code === 403 || code === 410) {
      // The gate refused a request: the link may have ended just now.
      pollNow();
    }
    if (!data.fatal) return;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && attempt && !attempt.recoveredMedia) {
      attempt.recoveredMedia = true;
      hls.recoverMediaError();
      return;
    }
    // Manifest 404/401/5xx, a network failure or an unrecoverable media
    // error: treat the stream as offline and start over shortly.
    attemptFailed();
  }

  function onVideoError() {
    // With hls.js attached, hls.js reports the error itself.
    if (hls || !attempt || !video.getAttribute('src')) return;
    attemptFailed();
  }

  function advancing() {
    return Date.now() - lastAdvanceAt < ADVANCE_MS;
  }

  function onTimeUpdate() {
    if (finished) return;
    const t = video.currentTime;
    if (t > lastTime && !video.paused && !video.seeking) {
      lastAdvanceAt = Date.now();
      blocked = false;
      if (state !== 'playing') setState('playing');
    }
    lastTime = t;
  }

  function onPause() {
    if (!finished && state === 'playing') setText(statusEl, 'Paused');
  }

  function onPlaying() {
    if (!finished && state === 'playing') setText(statusEl, STATES.playing.message);
  }

  // Watchdog: decides when the stream is offline and when to start over.
  function tick() {
    if (finished || !config) return;
    if (advancing()) return;
    if (blocked) return; // waiting for the viewer to press play
    const now = Date.now();
    const sessionSaysOff = liveFalseCount >= 2;
    if (linkdUnreachable() && state !== 'unreachable') setState('unreachable');

    if (state === 'playing') {
      if (video.paused) return; // paused by the viewer: not a stall
      if (attempt && attempt.failedAt) {
        // The buffer left after a failure has run out.
        setState(stoppedState());
      } else if (sessionSaysOff || now - lastAdvanceAt > STALL_MS) {
        setState(stoppedState());
        startPlayer();
        return;
      } else {
        return;
      }
    }
    if (state === 'connecting' && sessionSaysOff) setState('offline');

    if (!attempt) {
      startPlayer();
      return;
    }
    const age = now - attempt.startedAt;
    const quiet = now - Math.max(attempt.startedAt, lastAdvanceAt);
    if (attempt.failedAt) {
      if (now - attempt.failedAt >= RETRY_MS) startPlayer();
    } else if (state === 'offline' && sessionSaysOff && age >= RETRY_MS) {
      startPlayer();
    } else if (quiet >= NO_PROGRESS_MS) {
      setState(stoppedState());
      startPlayer();
    }
  }

  // ---- session (session.js polls linkd; here is what the page makes of it) --

  let session = null;

  function pollNow() {
    if (session && !finished) session.pollNow();
  }

  function unanswered() {
    if (!unansweredSince) unansweredSince = Date.now();
  }

  function answered() {
    unansweredSince = 0;
    if (state === 'unreachable') {
      setState(liveFalseCount >= 2 ? 'offline' : 'connecting');
      resume();
    }
  }

  // The link plays on (linkd answered, or a new session was opened).
  function resume() {
    if (!finished && (!attempt || attempt.failedAt)) startPlayer();
  }

  function onActiveSession(body) {
    if (body.live === false) {
      liveFalseCount += 1;
    } else if (body.live === true) {
      const wasOff = liveFalseCount >= 2;
      liveFalseCount = 0;
      // The broadcast is back: do not wait for the next retry slot.
      if (wasOff && state === 'offline' && (!attempt || attempt.failedAt)) startPlayer();
    }
    if (body.expires_at === null || typeof body.expires_at === 'number') {
      if (body.expires_at !== expiresAt) {
        expiresAt = body.expires_at;
        renderExpiry();
      }
    }
  }

  // A final state: stop everything and say why.
  function end(next) {
    setState(ENDED.indexOf(next) !== -1 ? next : 'invalid');
  }

  function finish() {
    finished = true;
    if (session) session.stop();
    clearTimeout(expiryPollTimer);
    clearInterval(tickTimer);
    clearInterval(expiryTimer);
    stopPlayer();
    unloadVideo();
    video.controls = false;
    setHidden(unmuteEl, true);
    setHidden(expiryEl, true);
  }

  // ---- expiry -------------------------------------------------------------

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() &&
      a.getDate() === b.getDate();
  }

  function inWords(ms) {
    const minutes = Math.floor(ms / 60000);
    if (minutes < 1) return 'in less than a minute';
    if (minutes < 60) return 'in ' + minutes + ' min';
    const hours = Math.floor(minutes / 60);
    if (hours < 48) {
      const rest = minutes % 60;
      return 'in ' + hours + ' h' + (rest ? ' ' + rest + ' min' : '');
    }
    return 'in ' + Math.floor(hours / 24) + ' days';
  }

  // Asks linkd at the moment the link expires, so the page says so at once.
  function armExpiryPoll() {
    clearTimeout(expiryPollTimer);
    if (typeof expiresAt !== 'number' || finished) return;
    const ms = expiresAt * 1000 - Date.now();
    // Timers of more than about 24 days fire at once; the next change re-arms it.
    if (ms > 0 && ms < 0x7fffffff) expiryPollTimer = setTimeout(pollNow, ms + 50);
  }

  function renderExpiry() {
    if (!expiryEl || finished) return;
    expiryEl.dataset.expiresAt = expiresAt === null ? 'never' : String(expiresAt);
    armExpiryPoll();
    if (expiresAt === null) {
      expiryEl.textContent = 'This link does not expire.';
      return;
    }
    const at = new Date(expiresAt * 1000);
    const now = new Date();
    const time = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' }).format(at);
    let when = 'at ' + time;
    if (!sameDay(at, now)) {
      const day = new Intl.DateTimeFormat(undefined, {
        weekday: 'short', day: 'numeric', month: 'short'
      }).format(at);
      when = 'on ' + day + ' at ' + time;
    }
    const left = at.getTime() - now.getTime();
    if (left <= 0) {
      expiryEl.textContent = 'Link expired ' + when + '.';
      pollNow();
      return;
    }
    expiryEl.textContent = 'Link expires ' + when + ', ' + inWords(left) + '.';
  }

  // ---- sound --------------------------------------------------------------

  function renderUnmute() {
    setHidden(unmuteEl, finished || !video.muted);
  }

  function unmute() {
    video.muted = false;
    const p = video.play();
    if (p && typeof p.catch === 'function') p.catch(function () {});
  }

  // ---- start --------------------------------------------------------------

  function main() {
    if (!video) return;
    config = readConfig();
    if (!config) {
      setState('error');
      return;
    }
    video.muted = true;
    video.playsInline = true;
    video.setAttribute('playsinline', '');
    video.addEventListener('timeupdate', onTimeUpdate);
    video.addEventListener('pause', onPause);
    video.addEventListener('playing', onPlaying);
    video.addEventListener('error', onVideoError);
    video.addEventListener('play', function () {
      blocked = false;
    });
    video.addEventListener('volumechange', renderUnmute);
    if (unmuteEl) unmuteEl.addEventListener('click', unmute);
    renderUnmute();

    expiresAt = config.expires_at;
    renderExpiry();
    expiryTimer = setInterval(renderExpiry, EXPIRY_REFRESH_MS);

    if (!hlsJsUsable() && !nativeUsable()) {
      setState('error', 'This browser cannot play the stream. Try a recent Firefox, Chrome or Safari.');
      return;
    }
    session = window.TempstreamSession(config.session_url, {
      active: onActiveSession,
      ended: end,
      answered: answered,
      unanswered: unanswered,
      resume: resume,
      expiresAt: function () { return expiresAt; }
    });
    session.pollNow();
    setState('connecting');
    startPlayer();
    tickTimer = setInterval(tick, TICK_MS);
  }

  main();
}());
