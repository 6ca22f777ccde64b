// Plays a WHEP URL in headless Chromium, from a page on its own loopback origin, for some
// seconds, then ends the session with DELETE, and prints on stdout, as one JSON line, what
// the player saw: the POST's status, the picture's size, frames decoded, the mean brightness
// of the frame on screen, and how long after the POST the first frame showed.
//
//   node play-whep.mjs <WHEP URL> [seconds, default 2]
import { launch, loopbackPage, report } from './lib.mjs';

const [url, seconds = '2'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node play-whep.mjs <WHEP URL> [seconds]');
  process.exit(2);
}
const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
await report(browser, async () => {
  const page = await loopbackPage(
    browser,
    '<!doctype html><video id="v" muted playsinline autoplay></video>',
  );
  const seen = await page.evaluate(
    async ({ url, seconds }) => {
      const v = document.getElementById('v');
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.ontrack = (e) => {
        v.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve();
        setTimeout(resolve, 3000);
      });
      const posted = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: pc.localDescription.sdp,
      });
      const body = await res.text();
      if (res.status !== 201) return { status: res.status, error: body };
      const location = new URL(res.headers.get('location'), url).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      let first = null;
      const start = performance.now();
      while (performance.now() - start < 20000) {
        if (v.videoWidth > 0 && first === null) first = performance.now() - posted;
        if (first !== null && v.currentTime >= seconds) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const brightness = reelBrightness(v);
      let decoded = 0;
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') decoded = s.framesDecoded;
      });
      const ended = await fetch(location, { method: 'DELETE' });
      pc.close();
      return {
        status: 201,
        width: v.videoWidth,
        height: v.videoHeight,
        played: v.currentTime,
        decoded,
        brightness,
        first_frame_ms: first,
        deleted: ended.status,
      };
    },
    { url, seconds: Number(seconds) },
  );
  return seen;
});
