// The watch page's link session: asks linkd once a second how the viewer's
// link stands, and tells player.js (which loads after this file and owns the
// page's states).
//
// The playback cookie is short-lived: every answer to an active session renews
// it (linkd sets a new one, never past the link's current expiry). A page whose
// session is lost while its link may still play (a long sleep, a new signing
// key) opens its own URL again, at most once per REOPEN_MS, to get a new one;
// that answer (200, 404, 410) also says how the link ended when the session
// can no longer tell.
//
//   const s = window.TempstreamSession(sessionUrl, hooks); s.pollNow(); s.stop();
//   hooks.active(body)   the link plays: body is {state, live, expires_at}
//   hooks.ended(state)   it ended: 'expired', 'disabled' or 'invalid', or by a
//                        sharing limit: a name of ENDINGS below
//   hooks.answered()     linkd answered (after not answering, it is back)
//   hooks.unanswered()   no answer, or 502/503/504 from a proxy in front
//   hooks.resume()       a new session was opened: play on
//   hooks.expiresAt()    the link's expiry as last known (Unix seconds or null)
//
// TempstreamSession.ENDINGS: how the sharing limits end a viewer's session, in
// the player's words (player.js adds them to its final states).
(function () {
  'use strict';

  const ENDINGS = {
    kicked: {
      message: 'The person who shared this link ended your viewing.', label: 'Viewing ended',
      final: true, hint: 'Open the link again to watch.' },
    rotated: {
      message: 'This link was replaced by a new one.', label: 'Link replaced', final: true,
      hint: 'Ask the person who sent it for the new link.' },
    taken: {
      message: 'This link is already being watched on another device.', label: 'Watched elsewhere',
      final: true, hint: 'It is a one-time link. Ask the person who sent it for a link of your own.' },
    in_use: {
      message: 'This link is already in use on as many devices as it allows.', label: 'Link in use',
      final: true, hint: 'Try again when someone stops watching.' }
  };

  const POLL_MS = 1000; // also while linkd does not answer
  const POLL_BACKOFF_MS = 5000; // after a 429 or a 500
  const REOPEN_MS = 10000;

  window.TempstreamSession = function (sessionUrl, hooks) {
    let stopped = false;
    let timer = null;
    let polling = false;
    let again = false;
    let reopenedAt = 0;

    function schedule(ms) {
      if (stopped) return;
      clearTimeout(timer);
      timer = setTimeout(poll, ms);
    }

    function pollNow() {
      if (stopped) return;
      if (polling) {
        again = true;
        return;
      }
      clearTimeout(timer);
      poll();
    }

    async function poll() {
      if (stopped) return;
      polling = true;
      let next = POLL_MS;
      try {
        next = await check();
      } catch (e) {
        next = POLL_BACKOFF_MS;
      }
      polling = false;
      if (again) {
        again = false;
        next = 0;
      }
      schedule(next);
    }

    // Returns the delay before the next poll.
    async function check() {
      let res;
      try {
        res = await fetch(sessionUrl, {
          credentials: 'same-origin',
          cache: 'no-store',
          headers: { Accept: 'application/json' }
        });
      } catch (e) {
        hooks.unanswered();
        return POLL_MS;
      }
      if (res.status === 502 || res.status === 503 || res.status === 504) {
        hooks.unanswered();
        return POLL_MS;
      }
      hooks.answered();
      let body = null;
      try {
        body = await res.json();
      } catch (e) {
        body = null;
      }
      if (stopped) return POLL_MS;
      if (body && typeof body.state === 'string') {
        if (body.state === 'active') {
          hooks.active(body);
        } else if (body.state === 'expired' || body.state === 'disabled' ||
                   Object.prototype.hasOwnProperty.call(ENDINGS, body.state)) {
          hooks.ended(body.state);
        } else {
          await lost();
        }
        return POLL_MS;
      }
      // No usable answer: decide from the status code alone.
      if (res.status === 410) {
        hooks.ended('expired');
      } else if (res.status === 401 || res.status === 403 || res.status === 404) {
        await lost();
      } else if (res.status === 429 || res.status >= 500) {
        return POLL_BACKOFF_MS;
      }
      return POLL_MS;
    }

    // linkd no longer knows this session. Either the link ended when the
    // session did, or the session lapsed while the link still plays: opening
    // the link again tells which, and in the second case renews it.
    async function lost() {
      const now = Date.now();
      const expiresAt = hooks.expiresAt();
      const timeUp = typeof expiresAt === 'number' && now / 1000 >= expiresAt - 1;
      if (now - reopenedAt < REOPEN_MS) {
        hooks.ended(timeUp ? 'expired' : 'invalid');
        return;
      }
      reopenedAt = now;
      let res;
      try {
        res = await fetch(window.location.href, { credentials: 'same-origin', cache: 'no-store' });
      } catch (e) {
        if (timeUp) hooks.ended('expired');
        return;
      }
      if (stopped) return;
      if (res.ok) {
        hooks.resume();
        return;
      }
      let ended = timeUp ? 'expired' : 'invalid';
      if (res.status === 410 || res.status === 403) {
        // The error page names the state on its body element.
        const html = await res.text().catch(function () { return ''; });
        const m = /data-state="(expired|disabled|taken|in_use)"/.exec(html);
        ended = m ? m[1] : (res.status === 410 ? 'expired' : ended);
      }
      hooks.ended(ended);
    }

    function stop() {
      stopped = true;
      clearTimeout(timer);
    }

    return { pollNow: pollNow, stop: stop };
  };
  window.TempstreamSession.ENDINGS = ENDINGS;
}());
