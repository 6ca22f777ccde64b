// Plays a WHEP URL in headless Chromium, from a page on its own loopback origin, for some
// seconds, then ends the session with DELETE, and prints on stdout, as one JSON line, what
// the player saw: the POST's status, the picture's size, frames decoded, the mean brightness
// of the frame on screen, and how long after the POST the first frame showed.
//
//   node play-whep.mjs <WHEP URL> [seconds, default 2]
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const [url, seconds = '2'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node play-whep.mjs <WHEP URL> [seconds]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.REEL_CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
  ],
});
const site = createServer((_, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><video id="v" muted playsinline autoplay></video>');
});
try {
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${site.address().port}/`);
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
      let brightness = 0;
      if (v.videoWidth > 0) {
        const c = document.createElement('canvas');
        c.width = v.videoWidth;
        c.height = v.videoHeight;
        const ctx = c.getContext('2d');
        ctx.drawImage(v, 0, 0);
        const px = ctx.getImageData(0, 0, c.width, c.height).data;
        let sum = 0;
        for (let i = 0; i < px.length; i += 4) sum += px[i] + px[i + 1] + px[i + 2];
        brightness = sum / (px.length / 4) / 3;
      }
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
  console.log(JSON.stringify(seen));
} finally {
  site.close();
  await browser.close();
}
