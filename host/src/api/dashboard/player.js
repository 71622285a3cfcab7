// drake's adaptive streaming player: plays the HLS (fMP4) and DASH ladders
// video.convert writes, through Media Source Extensions, from the same
// origin (the dashboard's Content-Security-Policy allows no other script).
//
// It reads what drake writes — an HLS master with one audio group, or a
// static MPD of SegmentTemplate + SegmentTimeline — not every manifest on
// the web. Renditions share their segment boundaries, so switching is
// appending the new rendition's init segment before the next segment.
// Adaptation: start on the lowest rendition, then after each segment take
// the highest one whose bandwidth fits 70 % of the measured throughput.
//
// A subtitle track (an HLS SUBTITLES rendition, a DASH text/vtt set) is
// shown through a <track> of the WebVTT file, fetched here and handed
// over as a blob (the page's CSP allows blob: media, whatever the
// bucket's origin).
//
// drakePlayer.attach(video, url) → a controller; video.dataset gets
// `renditions` (every video rendition a segment was requested from, in
// order), `subtitles` (the WebVTT URL, once its track is added) and
// `error`.
"use strict";

(function () {
  const AHEAD = 12; // seconds buffered ahead of the playhead
  const FIT = 0.7; // share of the measured throughput a rendition may use

  async function fetchOk(url, kind) {
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`${resp.status} for ${url}`);
    return kind === "text" ? resp.text() : resp.arrayBuffer();
  }

  // ---- manifests --------------------------------------------------------

  function hlsAttrs(line) {
    const out = {};
    for (const m of line.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) out[m[1]] = m[2].replace(/^"|"$/g, "");
    return out;
  }

  async function hlsMedia(url) {
    const text = await fetchOk(url, "text");
    const lines = text.split("\n");
    let init = null, dur = 0, t = 0;
    const segments = [];
    for (const line of lines) {
      if (line.startsWith("#EXT-X-MAP:")) init = new URL(hlsAttrs(line.slice(11)).URI, url).href;
      else if (line.startsWith("#EXTINF:")) dur = parseFloat(line.slice(8));
      else if (line && !line.startsWith("#")) {
        segments.push({ url: new URL(line, url).href, start: t, duration: dur });
        t += dur;
      }
    }
    return { init, segments, duration: t };
  }

  async function hls(url) {
    const text = await fetchOk(url, "text");
    const lines = text.split("\n");
    const video = [];
    let audio = null, subtitles = null;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.startsWith("#EXT-X-MEDIA:")) {
        const a = hlsAttrs(line.slice(13));
        if (a.TYPE === "AUDIO" && a.URI) audio = { url: new URL(a.URI, url).href, codecs: null };
        if (a.TYPE === "SUBTITLES" && a.URI && !subtitles) subtitles = new URL(a.URI, url).href;
      } else if (line.startsWith("#EXT-X-STREAM-INF:")) {
        const a = hlsAttrs(line.slice(18));
        const codecs = (a.CODECS || "").split(",");
        video.push({
          id: a.RESOLUTION || String(video.length),
          bandwidth: Number(a.BANDWIDTH) || 0,
          codecs: codecs.find((c) => !/^(mp4a|opus)/.test(c)) || codecs[0],
          audioCodecs: codecs.find((c) => /^(mp4a|opus)/.test(c)),
          url: new URL(lines[++i], url).href,
        });
      }
    }
    for (const v of video) Object.assign(v, await hlsMedia(v.url));
    // MPEG-TS media playlists have no init segment (no EXT-X-MAP).
    if (video.length && !video[0].init) {
      throw new Error("MPEG-TS segments (segment_format: ts) do not play through Media Source " +
        "Extensions: Safari plays this playlist itself, other browsers through hls.js; " +
        "this preview plays fMP4 ladders");
    }
    const tracks = [{ kind: "video", mime: "video/mp4", reps: video }];
    if (audio) {
      Object.assign(audio, await hlsMedia(audio.url));
      audio.id = "audio";
      audio.codecs = video[0].audioCodecs;
      tracks.push({ kind: "audio", mime: "audio/mp4", reps: [audio] });
    }
    // drake's subtitle playlist is the whole WebVTT file as one segment.
    if (subtitles) subtitles = (await hlsMedia(subtitles)).segments.map((s) => s.url)[0] || null;
    return { duration: video[0].duration, tracks, subtitles };
  }

  function dash(url, text) {
    const doc = new DOMParser().parseFromString(text, "application/xml");
    const all = [...doc.getElementsByTagName("AdaptationSet")];
    const isText = (set) => set.getAttribute("contentType") === "text" || /^text\//.test(set.getAttribute("mimeType") || "");
    const textSet = all.find(isText);
    const base = textSet && textSet.getElementsByTagName("BaseURL")[0];
    const subtitles = base ? new URL(base.textContent.trim(), url).href : null;
    const sets = all.filter((set) => !isText(set));
    const tracks = sets.map((set) => {
      const kind = set.getAttribute("contentType") || (set.getAttribute("mimeType") || "").split("/")[0];
      const reps = [...set.getElementsByTagName("Representation")].map((rep) => {
        const tpl = rep.getElementsByTagName("SegmentTemplate")[0];
        const scale = Number(tpl.getAttribute("timescale")) || 1;
        const media = tpl.getAttribute("media");
        let n = Number(tpl.getAttribute("startNumber") || 1), t = 0;
        const segments = [];
        for (const s of tpl.getElementsByTagName("S")) {
          if (s.hasAttribute("t")) t = Number(s.getAttribute("t"));
          const d = Number(s.getAttribute("d")), r = Number(s.getAttribute("r") || 0);
          for (let k = 0; k <= r; k++, n++, t += d) {
            const path = media.replace("$Number$", String(n)).replace("$RepresentationID$", rep.getAttribute("id"));
            segments.push({ url: new URL(path, url).href, start: t / scale, duration: d / scale });
          }
        }
        return {
          id: rep.getAttribute("id"),
          bandwidth: Number(rep.getAttribute("bandwidth")) || 0,
          codecs: rep.getAttribute("codecs"),
          init: new URL(tpl.getAttribute("initialization"), url).href,
          segments,
        };
      });
      return { kind, mime: set.getAttribute("mimeType") || kind + "/mp4", reps };
    });
    const last = tracks[0].reps[0].segments.at(-1);
    return { duration: last ? last.start + last.duration : 0, tracks, subtitles };
  }

  async function manifest(url) {
    const text = await fetchOk(url, "text");
    return text.trimStart().startsWith("#EXTM3U") ? hls(url) : dash(url, text);
  }

  // ---- playback ---------------------------------------------------------

  function appended(buffer, data) {
    return new Promise((resolve, reject) => {
      buffer.addEventListener("updateend", resolve, { once: true });
      buffer.addEventListener("error", () => reject(new Error("the browser refused a segment")), { once: true });
      buffer.appendBuffer(data);
    });
  }

  function attach(video, url) {
    const requested = [];
    const shared = { throughput: 0, stopped: false };
    // The reason shown under the video, and kept for the tests.
    const fail = (e) => {
      const message = String(e && e.message || e);
      if (video.dataset.error) return;
      video.dataset.error = message;
      const note = document.createElement("p");
      note.className = "stream-error";
      note.textContent = `cannot play: ${message}`;
      video.after(note);
    };
    const mediaSource = new MediaSource();
    video.src = URL.createObjectURL(mediaSource);

    // One track (the video renditions, or the audio): fetch and append
    // segment after segment, a few seconds ahead of the playhead.
    async function feed(track, buffer, pick) {
      let current = null, next = 0;
      video.addEventListener("seeking", () => {
        const segs = track.reps[0].segments;
        const i = segs.findIndex((s) => s.start + s.duration > video.currentTime);
        next = i < 0 ? segs.length : i;
      });
      while (!shared.stopped) {
        const segs = track.reps[0].segments;
        if (next >= segs.length) return;
        if (segs[next].start > video.currentTime + AHEAD) {
          await new Promise((r) => setTimeout(r, 250));
          continue;
        }
        const rep = pick(track.reps);
        if (rep !== current) {
          const type = `${track.mime}; codecs="${rep.codecs}"`;
          if (current && buffer.changeType) buffer.changeType(type);
          await appended(buffer, await fetchOk(rep.init));
          current = rep;
        }
        if (track.kind === "video" && !requested.includes(rep.id)) {
          requested.push(rep.id);
          video.dataset.renditions = requested.join(",");
        }
        const began = performance.now();
        const data = await fetchOk(rep.segments[next].url);
        const seconds = Math.max((performance.now() - began) / 1000, 0.001);
        if (track.kind === "video") {
          const rate = (data.byteLength * 8) / seconds;
          shared.throughput = shared.throughput ? 0.7 * shared.throughput + 0.3 * rate : rate;
        }
        await appended(buffer, data);
        next++;
      }
    }

    // The highest rendition that fits; the lowest until a measure exists.
    const pick = (reps) => {
      const byRate = [...reps].sort((a, b) => a.bandwidth - b.bandwidth);
      if (!shared.throughput) return byRate[0];
      const fits = byRate.filter((r) => r.bandwidth <= FIT * shared.throughput);
      return fits.length ? fits.at(-1) : byRate[0];
    };

    mediaSource.addEventListener("sourceopen", async () => {
      try {
        const m = await manifest(url);
        mediaSource.duration = m.duration;
        if (m.subtitles) subtitleTrack(video, m.subtitles).catch(fail);
        const feeds = m.tracks.map((track) => {
          const type = `${track.mime}; codecs="${track.reps[0].codecs}"`;
          // (Debian's Chromium, for one, has no H.264.)
          if (!MediaSource.isTypeSupported(type)) throw new Error(`this browser does not play ${type}`);
          const buffer = mediaSource.addSourceBuffer(type);
          return feed(track, buffer, pick);
        });
        await Promise.all(feeds);
        if (!shared.stopped && mediaSource.readyState === "open") mediaSource.endOfStream();
      } catch (e) {
        fail(e);
      }
    }, { once: true });
    return { stop: () => { shared.stopped = true; }, requested };
  }

  // The WebVTT file at `url` as the video's showing subtitle track.
  async function subtitleTrack(video, url) {
    const vtt = await fetchOk(url, "text");
    const track = document.createElement("track");
    track.kind = "subtitles";
    track.label = "captions";
    track.default = true;
    track.src = URL.createObjectURL(new Blob([vtt], { type: "text/vtt" }));
    video.appendChild(track);
    track.track.mode = "showing";
    video.dataset.subtitles = url;
  }

  // Whether `url` names a manifest this player reads.
  const isManifest = (url) => /\.(m3u8|mpd)$/i.test(new URL(url, location.href).pathname);

  window.drakePlayer = { attach, isManifest };
})();
