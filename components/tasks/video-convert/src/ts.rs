//! Cut an MPEG-TS file into HLS segments at its video keyframes.
//!
//! ffmpeg's `mpegts` muxer writes the PAT and PMT again right before every
//! video keyframe, and marks the keyframe's first packet with the
//! random-access indicator: a segment is the run of table packets before
//! a keyframe through the packet before the next such run, so every
//! segment opens with the tables a player needs to start there. Times
//! come from the video PES headers' PTS (90 kHz).

use drake_sdk::Input;

/// A TS packet.
const PACKET: u64 = 188;
/// Bytes scanned per host read: a whole number of packets, 4 MiB or so.
const SLICE: u64 = PACKET * 22_310;
/// PIDs of the tables ffmpeg repeats: PAT, SDT; the PMT's is read from
/// the PAT.
const PAT_PID: u16 = 0;
const SDT_PID: u16 = 0x11;

/// A segment, timed in 90 kHz ticks: its keyframe's PTS, and the ticks
/// until the next one (the last: through its last frame).
pub use crate::fmp4::Segment;

/// A cut file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Segments in order.
    pub segments: Vec<Segment>,
    /// The H.264 codec string from the first sequence parameter set
    /// (`avc1.64001f`).
    pub codec: Option<String>,
}

/// The 33-bit PTS of a PES header at the start of `payload`.
fn pes_pts(payload: &[u8]) -> Option<u64> {
    if payload.get(..3)? != [0, 0, 1] || payload.get(7)? & 0x80 == 0 {
        return None;
    }
    let p = payload.get(9..14)?;
    Some(
        (u64::from(p[0] >> 1) & 0x07) << 30
            | u64::from(p[1]) << 22
            | (u64::from(p[2]) >> 1) << 15
            | u64::from(p[3]) << 7
            | u64::from(p[4]) >> 1,
    )
}

/// `avc1.PPCCLL` from the first SPS NAL unit in `data` (Annex B).
fn sps_codec(data: &[u8]) -> Option<String> {
    let at = data
        .windows(4)
        .position(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 7)?;
    let sps = data.get(at + 4..at + 7)?;
    Some(format!("avc1.{:02x}{:02x}{:02x}", sps[0], sps[1], sps[2]))
}

/// Cut `input`; `frame_ticks` (90 kHz) is one frame, the last segment's
/// tail.
pub fn cut(input: &dyn Input, frame_ticks: u64) -> Result<Cut, String> {
    let size = input.size();
    if !size.is_multiple_of(PACKET) {
        return Err(format!("{size} bytes is not a whole number of TS packets"));
    }
    let mut pmt_pid: Option<u16> = None;
    let mut video_pid: Option<u16> = None;
    // Where the current run of table packets began (reset by any other).
    let mut tables_from: Option<u64> = None;
    // (segment start byte, keyframe PTS)
    let mut starts: Vec<(u64, u64)> = Vec::new();
    let mut last_pts = 0u64;
    let mut first_payload: Vec<u8> = Vec::new();
    let mut codec = None;
    let mut offset = 0u64;
    while offset < size {
        let chunk = input.read(offset, (size - offset).min(SLICE) as u32);
        if chunk.is_empty() {
            return Err("the file ended early".into());
        }
        for (i, p) in chunk.chunks_exact(PACKET as usize).enumerate() {
            let at = offset + i as u64 * PACKET;
            if p[0] != 0x47 {
                return Err(format!("no sync byte at {at}"));
            }
            let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
            let unit_start = p[1] & 0x40 != 0;
            let control = (p[3] >> 4) & 3;
            let (adaptation, payload) = match control {
                1 => (&p[4..4], &p[4..]),
                3 => {
                    let len = usize::from(p[4]);
                    let end = (5 + len).min(p.len());
                    (&p[5..end], &p[end..])
                }
                2 => (&p[5..(5 + usize::from(p[4])).min(p.len())], &p[p.len()..]),
                _ => (&p[4..4], &p[p.len()..]),
            };
            if pid == PAT_PID || pid == SDT_PID || Some(pid) == pmt_pid {
                tables_from.get_or_insert(at);
                if pid == PAT_PID && unit_start && pmt_pid.is_none() {
                    // pointer field, then the section: 8 bytes of header,
                    // then (program number, PID) pairs; the first
                    // program's PMT.
                    let section = payload.get(1 + usize::from(*payload.first().unwrap_or(&0))..);
                    pmt_pid = section
                        .and_then(|s| s.get(10..12))
                        .map(|b| (u16::from(b[0] & 0x1f) << 8) | u16::from(b[1]));
                }
                continue;
            }
            let tables = tables_from.take();
            // The video stream: the first PES with a video stream id.
            if unit_start
                && video_pid.is_none()
                && payload.get(..3) == Some(&[0, 0, 1])
                && payload.get(3).is_some_and(|id| id & 0xf0 == 0xe0)
            {
                video_pid = Some(pid);
            }
            if Some(pid) != video_pid {
                continue;
            }
            if codec.is_none() && first_payload.len() < 4096 {
                first_payload.extend_from_slice(payload);
                codec = sps_codec(&first_payload);
            }
            if !unit_start {
                continue;
            }
            let Some(pts) = pes_pts(payload) else {
                continue;
            };
            last_pts = last_pts.max(pts);
            let random_access = adaptation.first().is_some_and(|flags| flags & 0x40 != 0);
            if random_access {
                let from = if starts.is_empty() {
                    0
                } else {
                    tables.unwrap_or(at)
                };
                starts.push((from, pts));
            }
        }
        offset += chunk.len() as u64;
    }
    if starts.is_empty() {
        return Err("no video keyframe".into());
    }
    let mut segments = Vec::with_capacity(starts.len());
    for (i, (from, pts)) in starts.iter().enumerate() {
        let (to, end) = match starts.get(i + 1) {
            Some((next, next_pts)) => (*next, *next_pts),
            None => (size, last_pts + frame_ticks),
        };
        segments.push(Segment {
            bytes: *from..to,
            start: *pts,
            duration: end.saturating_sub(*pts),
        });
    }
    Ok(Cut { segments, codec })
}

/// MPEG-TS files made by hand, for tests of this module and the task.
#[cfg(test)]
pub(crate) mod fixture {
    /// A 188-byte packet of `pid` with `payload` (stuffed by an
    /// adaptation field), the random-access flag when `key`.
    pub fn packet(pid: u16, start: bool, key: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x47,
            (if start { 0x40 } else { 0 }) | (pid >> 8) as u8,
            pid as u8,
        ];
        let room = 184 - payload.len();
        p.push(0x30);
        p.push((room - 1) as u8);
        if room > 1 {
            p.push(if key { 0x40 } else { 0 });
            p.extend(std::iter::repeat_n(0xff, room - 2));
        }
        p.extend_from_slice(payload);
        assert_eq!(p.len(), 188);
        p
    }

    pub fn pes(pts: u64, sps: bool) -> Vec<u8> {
        let mut h = vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5];
        h.extend([
            0x21 | ((pts >> 29) & 0x0e) as u8,
            (pts >> 22) as u8,
            ((pts >> 14) & 0xfe) as u8 | 1,
            (pts >> 7) as u8,
            ((pts << 1) & 0xfe) as u8 | 1,
        ]);
        if sps {
            h.extend([0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1e]);
        }
        h
    }

    pub fn pat() -> Vec<u8> {
        // pointer, table id, length, ts id, version, section numbers,
        // program 1 → PMT PID 0x1000.
        packet(
            0,
            true,
            false,
            &[
                0, 0, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0x00, 0, 0, 0, 0,
            ],
        )
    }

    /// A file of three 4-frame GOPs at 25 fps (3600 ticks a frame), each
    /// after a PAT and PMT, with an audio packet per frame.
    pub fn file() -> Vec<u8> {
        let mut file = Vec::new();
        file.extend(packet(0x11, true, false, &[0]));
        for gop in 0..3u64 {
            file.extend(pat());
            file.extend(packet(0x1000, true, false, &[0]));
            for frame in 0..4u64 {
                let pts = 126_000 + (gop * 4 + frame) * 3600;
                file.extend(packet(
                    0x100,
                    true,
                    frame == 0,
                    &pes(pts, gop == 0 && frame == 0),
                ));
                file.extend(packet(0x100, false, false, &[7; 20]));
                file.extend(packet(0x101, true, false, &[0, 0, 1, 0xc0, 0, 0]));
            }
        }
        file
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::fixture::*;
    use super::*;
    use drake_sdk::MemInput;

    #[test]
    fn segments_start_with_the_tables_before_each_keyframe() {
        let file = file();
        let cut = cut(&MemInput::new("", file.clone()), 3600).unwrap();
        assert_eq!(cut.codec.as_deref(), Some("avc1.64001e"));
        let g = 2 + 4 * 3;
        assert_eq!(
            cut.segments,
            [
                Segment {
                    bytes: 0..(1 + g) * 188,
                    start: 126_000,
                    duration: 14_400,
                },
                Segment {
                    bytes: (1 + g) * 188..(1 + 2 * g) * 188,
                    start: 140_400,
                    duration: 14_400,
                },
                Segment {
                    bytes: (1 + 2 * g) * 188..file.len() as u64,
                    start: 154_800,
                    duration: 14_400,
                },
            ]
        );
        // Garbage is an error, never a panic.
        assert!(super::cut(&MemInput::new("", vec![0; 188]), 1).is_err());
        assert!(super::cut(&MemInput::new("", vec![0x47; 100]), 1).is_err());
        for cut_at in (0..file.len()).step_by(188) {
            let _ = super::cut(&MemInput::new("", file[..cut_at].to_vec()), 1);
        }
    }
}
