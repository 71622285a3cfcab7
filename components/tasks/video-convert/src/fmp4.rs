//! Just enough ISO BMFF to cut a fragmented MP4 (one track, as ffmpeg's
//! `mp4` muxer writes it with `frag_keyframe`/`frag_duration`) into the
//! initialization segment and its media segments, with each segment's
//! start and duration, and the track's RFC 6381 codec string.
//!
//! Only box headers, `moov` and the `moof`s are read into the guest; the
//! media data stays in the host until a segment is copied out.

use std::ops::Range;

use drake_sdk::Input;

/// Largest `moov` or `moof` read whole: ffmpeg's are a few kilobytes (a
/// `moof` lists one GOP's samples); anything larger is not ffmpeg's.
const MAX_META_BOX: u64 = 4 << 20;

/// One media segment: a `moof` (and whatever precedes it since the last
/// `mdat`) through its `mdat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Bytes of the file.
    pub bytes: Range<u64>,
    /// Decode time of its first sample, in [`Fmp4::timescale`] units.
    pub start: u64,
    /// Sum of its sample durations, in [`Fmp4::timescale`] units.
    pub duration: u64,
}

/// A fragmented MP4 cut into segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmp4 {
    /// `ftyp` + `moov`: the initialization segment.
    pub init: Range<u64>,
    /// The track's ticks per second.
    pub timescale: u32,
    /// RFC 6381 `codecs` value of the track (`avc1.64001f`, `vp09.00.31.08`,
    /// `av01.0.08M.08`, `mp4a.40.2`, `opus`).
    pub codec: String,
    /// Media segments in order.
    pub segments: Vec<Segment>,
}

impl Fmp4 {
    /// Seconds of `ticks`.
    pub fn seconds(&self, ticks: u64) -> f64 {
        ticks as f64 / f64::from(self.timescale.max(1))
    }

    /// Seconds of the whole track.
    pub fn duration(&self) -> f64 {
        self.seconds(self.segments.iter().map(|s| s.duration).sum())
    }
}

/// A box: its type, and where its body lies in the parent's bytes.
struct Child<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

/// The boxes of `data` (a box body), in order; stops at the first box
/// whose header does not fit.
fn children(data: &[u8]) -> impl Iterator<Item = Child<'_>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let head = data.get(at..at + 8)?;
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = [head[4], head[5], head[6], head[7]];
        let (header, size) = match size32 {
            0 => (8, data.len() - at),
            1 => {
                let large = data.get(at + 8..at + 16)?;
                let n = u64::from_be_bytes(large.try_into().ok()?);
                (16, usize::try_from(n).ok()?)
            }
            n => (8, n),
        };
        if size < header {
            return None;
        }
        let body = data.get(at + header..at.checked_add(size)?)?;
        at += size;
        Some(Child { kind, body })
    })
}

/// The body of the first child of `data` of type `kind`.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(data).find(|c| &c.kind == kind).map(|c| c.body)
}

/// Follow a path of box types from `data`.
fn path<'a>(data: &'a [u8], kinds: &[&[u8; 4]]) -> Option<&'a [u8]> {
    kinds.iter().try_fold(data, |d, k| child(d, k))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A top-level box header read from the host: type, start, end.
fn header_at(input: &dyn Input, at: u64, size: u64) -> Result<([u8; 4], u64), String> {
    let head = input.read(at, 16);
    let bad = || format!("a box header at byte {at} is cut short");
    let size32 = u32_at(&head, 0).ok_or_else(bad)?;
    let kind: [u8; 4] = head
        .get(4..8)
        .and_then(|k| k.try_into().ok())
        .ok_or_else(bad)?;
    let len = match size32 {
        0 => size - at,
        1 => u64_at(&head, 8).ok_or_else(bad)?,
        n => u64::from(n),
    };
    if len < 8 || at.saturating_add(len) > size {
        return Err(format!(
            "the {} box at byte {at} does not fit in the file",
            String::from_utf8_lossy(&kind)
        ));
    }
    Ok((kind, at + len))
}

/// Read a metadata box whole (header included).
fn read_box(input: &dyn Input, range: Range<u64>) -> Result<Vec<u8>, String> {
    let len = range.end - range.start;
    if len > MAX_META_BOX {
        return Err(format!("a {len}-byte metadata box"));
    }
    let mut out = Vec::with_capacity(len as usize);
    while (out.len() as u64) < len {
        let chunk = input.read(
            range.start + out.len() as u64,
            (len - out.len() as u64) as u32,
        );
        if chunk.is_empty() {
            return Err("the file ended inside a box".into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// What the `moov` says about its one track.
struct TrackInfo {
    timescale: u32,
    codec: String,
    default_duration: u32,
}

fn track_info(moov: &[u8]) -> Option<TrackInfo> {
    let trak = child(moov, b"trak")?;
    let mdia = child(trak, b"mdia")?;
    let mdhd = child(mdia, b"mdhd")?;
    let timescale = match mdhd.first()? {
        1 => u32_at(mdhd, 20)?,
        _ => u32_at(mdhd, 12)?,
    };
    let stsd = path(mdia, &[b"minf", b"stbl", b"stsd"])?;
    // Full box header and entry count, then the first sample entry.
    let entry = children(stsd.get(8..)?).next()?;
    let codec = codec_string(&entry.kind, entry.body)?;
    let default_duration = path(moov, &[b"mvex", b"trex"])
        .and_then(|trex| u32_at(trex, 12))
        .unwrap_or(0);
    Some(TrackInfo {
        timescale,
        codec,
        default_duration,
    })
}

/// The RFC 6381 codec string of a sample entry.
fn codec_string(kind: &[u8; 4], entry: &[u8]) -> Option<String> {
    // A visual sample entry's fields take 78 bytes before its boxes, an
    // audio one's 28.
    let visual = entry.get(78..);
    Some(match kind {
        b"avc1" | b"avc3" => {
            let avcc = child(visual?, b"avcC")?;
            format!(
                "{}.{:02x}{:02x}{:02x}",
                String::from_utf8_lossy(kind),
                avcc.get(1)?,
                avcc.get(2)?,
                avcc.get(3)?
            )
        }
        b"vp09" => {
            let vpcc = child(visual?, b"vpcC")?;
            format!(
                "vp09.{:02}.{:02}.{:02}",
                vpcc.get(4)?,
                vpcc.get(5)?,
                vpcc.get(6)? >> 4
            )
        }
        b"av01" => {
            let av1c = child(visual?, b"av1C")?;
            let (a, b) = (*av1c.get(1)?, *av1c.get(2)?);
            let depth = match (b & 0x40 != 0, b & 0x20 != 0) {
                (true, true) => 12,
                (true, false) => 10,
                _ => 8,
            };
            format!(
                "av01.{}.{:02}{}.{depth:02}",
                a >> 5,
                a & 0x1f,
                if b & 0x80 != 0 { 'H' } else { 'M' }
            )
        }
        // ffmpeg's `aac` encoder writes AAC-LC (object type 2).
        b"mp4a" => "mp4a.40.2".into(),
        b"Opus" => "opus".into(),
        b"hvc1" | b"hev1" => String::from_utf8_lossy(kind).into_owned(),
        _ => return None,
    })
}

/// Decode time and summed duration of the samples of a `moof`'s first
/// track fragment.
fn fragment_timing(moof: &[u8], default_duration: u32) -> Option<(u64, u64)> {
    let traf = child(moof, b"traf")?;
    let tfhd = child(traf, b"tfhd")?;
    let flags = u32_at(tfhd, 0)? & 0x00ff_ffff;
    // version/flags, track id, then the optional fields in order.
    let mut at = 8;
    if flags & 0x01 != 0 {
        at += 8;
    }
    if flags & 0x02 != 0 {
        at += 4;
    }
    let default_duration = if flags & 0x08 != 0 {
        u32_at(tfhd, at)?
    } else {
        default_duration
    };
    let tfdt = child(traf, b"tfdt")?;
    let start = match tfdt.first()? {
        1 => u64_at(tfdt, 4)?,
        _ => u64::from(u32_at(tfdt, 4)?),
    };
    let mut duration = 0u64;
    for trun in children(traf).filter(|c| &c.kind == b"trun") {
        let b = trun.body;
        let flags = u32_at(b, 0)? & 0x00ff_ffff;
        let count = u32_at(b, 4)?;
        let mut at: usize = 8;
        if flags & 0x01 != 0 {
            at += 4;
        }
        if flags & 0x04 != 0 {
            at += 4;
        }
        let per_sample = [0x100, 0x200, 0x400, 0x800]
            .iter()
            .filter(|f| flags & **f != 0)
            .count()
            * 4;
        if flags & 0x100 == 0 {
            duration += u64::from(count) * u64::from(default_duration);
            continue;
        }
        // The whole table must be there before it is summed.
        b.get(at..at.checked_add(per_sample.checked_mul(count as usize)?)?)?;
        for i in 0..count as usize {
            duration += u64::from(u32_at(b, at + i * per_sample)?);
        }
    }
    Some((start, duration))
}

/// Cut `input`, a one-track fragmented MP4, into its init segment and
/// media segments. Errors name what is wrong (they are the task's bugs
/// or ffmpeg's, not the user's: the file is ffmpeg's output).
pub fn parse(input: &dyn Input) -> Result<Fmp4, String> {
    let size = input.size();
    let mut at = 0u64;
    let mut init: Option<(Range<u64>, TrackInfo)> = None;
    let mut segments = Vec::new();
    let mut segment_start = 0u64;
    let mut timing: Option<(u64, u64)> = None;
    while at < size {
        let (kind, end) = header_at(input, at, size)?;
        match &kind {
            b"moov" => {
                let moov = read_box(input, at..end)?;
                let info = track_info(moov.get(8..).unwrap_or_default())
                    .ok_or("the moov box describes no track drake can stream")?;
                init = Some((0..end, info));
                segment_start = end;
            }
            b"moof" => {
                let (_, info) = init.as_ref().ok_or("a moof before the moov")?;
                let moof = read_box(input, at..end)?;
                timing = Some(
                    fragment_timing(moof.get(8..).unwrap_or_default(), info.default_duration)
                        .ok_or_else(|| format!("the moof at byte {at} is malformed"))?,
                );
            }
            b"mdat" if init.is_some() => {
                let (start, duration) = timing
                    .take()
                    .ok_or_else(|| format!("the mdat at byte {at} follows no moof"))?;
                segments.push(Segment {
                    bytes: segment_start..end,
                    start,
                    duration,
                });
                segment_start = end;
            }
            // `mfra` (the random access index) ends the file: not media.
            b"mfra" => break,
            _ => {}
        }
        at = end;
    }
    let (init, info) = init.ok_or("no moov box")?;
    Ok(Fmp4 {
        init,
        timescale: info.timescale,
        codec: info.codec,
        segments,
    })
}

/// Fragmented MP4s made by hand, for tests of this module and the task.
#[cfg(test)]
pub(crate) mod fixture {
    pub fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    pub fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
        let mut b = (u32::from(version) << 24 | flags).to_be_bytes().to_vec();
        b.extend_from_slice(body);
        boxed(kind, &b)
    }

    pub fn moov() -> Vec<u8> {
        let mut mdhd = vec![0u8; 8];
        mdhd.extend_from_slice(&12_800u32.to_be_bytes());
        mdhd.extend_from_slice(&[0; 8]);
        let avcc = boxed(b"avcC", &[1, 0x64, 0x00, 0x1f, 0xff]);
        let mut entry = vec![0u8; 78];
        entry.extend_from_slice(&avcc);
        let mut stsd = 1u32.to_be_bytes().to_vec();
        stsd.extend_from_slice(&boxed(b"avc1", &entry));
        let stbl = boxed(b"stbl", &full(b"stsd", 0, 0, &stsd));
        let minf = boxed(b"minf", &stbl);
        let mdia = boxed(b"mdia", &[full(b"mdhd", 0, 0, &mdhd), minf].concat());
        let trak = boxed(b"trak", &mdia);
        let mut trex = vec![0, 0, 0, 1, 0, 0, 0, 1];
        trex.extend_from_slice(&512u32.to_be_bytes());
        trex.extend_from_slice(&[0; 8]);
        let mvex = boxed(b"mvex", &full(b"trex", 0, 0, &trex));
        boxed(b"moov", &[trak, mvex].concat())
    }

    /// A fragment of `count` samples at `start`: per-sample durations of
    /// 512 when `explicit`, else the `trex` default (also 512).
    pub fn fragment(start: u64, count: u32, explicit: bool) -> Vec<u8> {
        let tfhd = full(b"tfhd", 0, 0x02_0000, &1u32.to_be_bytes());
        let tfdt = full(b"tfdt", 1, 0, &start.to_be_bytes());
        let mut trun = count.to_be_bytes().to_vec();
        if explicit {
            for _ in 0..count {
                trun.extend_from_slice(&512u32.to_be_bytes());
                trun.extend_from_slice(&100u32.to_be_bytes());
            }
        }
        let flags = if explicit { 0x300 } else { 0 };
        let trun = full(b"trun", 0, flags, &trun);
        let traf = boxed(b"traf", &[tfhd, tfdt, trun].concat());
        let moof = boxed(
            b"moof",
            &[full(b"mfhd", 0, 0, &[0, 0, 0, 1]), traf].concat(),
        );
        [moof, boxed(b"mdat", &vec![7; 100 * count as usize])].concat()
    }

    /// A whole file: `ftyp`, `moov`, then fragments of `counts` samples
    /// (512 ticks of 12,800 each).
    pub fn file(counts: &[u32]) -> Vec<u8> {
        let mut out = [boxed(b"ftyp", b"isom\0\0\x02\0"), moov()].concat();
        let mut start = 0;
        for (i, n) in counts.iter().enumerate() {
            out.extend(fragment(start, *n, i % 2 == 0));
            start += u64::from(*n) * 512;
        }
        out
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::fixture::*;
    use super::*;
    use drake_sdk::MemInput;

    #[test]
    fn cuts_init_and_segments_with_their_times() {
        let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0");
        let init = [ftyp, moov()].concat();
        let f1 = fragment(0, 25, true);
        let f2 = fragment(25 * 512, 10, false);
        let file = [
            init.clone(),
            f1.clone(),
            f2.clone(),
            boxed(b"mfra", &[0; 8]),
        ]
        .concat();
        let parsed = parse(&MemInput::new("video/mp4", file)).unwrap();
        let n = init.len() as u64;
        assert_eq!(parsed.init, 0..n);
        assert_eq!(parsed.timescale, 12_800);
        assert_eq!(parsed.codec, "avc1.64001f");
        let f1_end = n + f1.len() as u64;
        assert_eq!(
            parsed.segments,
            [
                Segment {
                    bytes: n..f1_end,
                    start: 0,
                    duration: 25 * 512,
                },
                Segment {
                    bytes: f1_end..f1_end + f2.len() as u64,
                    start: 25 * 512,
                    duration: 10 * 512,
                },
            ]
        );
        assert!((parsed.duration() - 35.0 * 512.0 / 12_800.0).abs() < 1e-9);
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        let init = [boxed(b"ftyp", b"isom"), moov()].concat();
        let whole = [init.clone(), fragment(0, 5, true)].concat();
        // Every truncation and a few corrupted bytes: an error or a
        // shorter parse, never a panic.
        for cut in 0..whole.len() {
            let _ = parse(&MemInput::new("", whole[..cut].to_vec()));
        }
        for i in (0..whole.len()).step_by(7) {
            let mut bad = whole.clone();
            bad[i] ^= 0xff;
            let _ = parse(&MemInput::new("", bad));
        }
        assert!(parse(&MemInput::new("", fragment(0, 1, true))).is_err());
    }

    #[test]
    fn codec_strings() {
        let mut entry = vec![0u8; 78];
        entry.extend_from_slice(&boxed(b"vpcC", &[1, 0, 0, 0, 0, 31, 0x80, 1, 1, 1, 0, 0]));
        assert_eq!(codec_string(b"vp09", &entry).unwrap(), "vp09.00.31.08");
        let mut entry = vec![0u8; 78];
        entry.extend_from_slice(&boxed(b"av1C", &[0x81, 0x08, 0x0c, 0]));
        assert_eq!(codec_string(b"av01", &entry).unwrap(), "av01.0.08M.08");
        assert_eq!(codec_string(b"Opus", &[0; 28]).unwrap(), "opus");
        assert!(codec_string(b"mp4v", &[0; 28]).is_none());
    }
}
