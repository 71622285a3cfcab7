//! WAV files joined end to end: the speech of a voice said one sentence
//! at a time (`auto_captions`) becomes one asset again.

/// WAVs of one format, their sample data joined.
#[derive(Debug, Default)]
pub struct Joined {
    /// The first file's `fmt ` chunk body; later files must match it.
    fmt: Vec<u8>,
    data: Vec<u8>,
}

impl Joined {
    /// Append `wav`'s samples.
    pub fn push(&mut self, wav: &[u8]) -> Result<(), String> {
        let (fmt, data) = chunks(wav)?;
        if self.fmt.is_empty() {
            self.fmt = fmt.to_vec();
        } else if self.fmt != fmt {
            return Err("the WAV parts differ in format".into());
        }
        let align = usize::from(u16::from_le_bytes([fmt[12], fmt[13]])).max(1);
        self.data
            .extend_from_slice(&data[..data.len() - data.len() % align]);
        Ok(())
    }

    /// Seconds of sound so far.
    pub fn seconds(&self) -> f64 {
        match self.fmt.get(8..12) {
            Some(b) => {
                let rate = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if rate == 0 {
                    0.0
                } else {
                    self.data.len() as f64 / f64::from(rate)
                }
            }
            None => 0.0,
        }
    }

    /// The joined file.
    pub fn finish(self) -> Result<Vec<u8>, String> {
        if self.fmt.is_empty() {
            return Err("nothing was spoken".into());
        }
        let size = |n: usize| u32::try_from(n).map_err(|_| "the speech is over 4 GiB".to_owned());
        let mut out = Vec::with_capacity(20 + self.fmt.len() + self.data.len());
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&size(4 + 8 + self.fmt.len() + 8 + self.data.len())?.to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&size(self.fmt.len())?.to_le_bytes());
        out.extend_from_slice(&self.fmt);
        out.extend_from_slice(b"data");
        out.extend_from_slice(&size(self.data.len())?.to_le_bytes());
        out.extend_from_slice(&self.data);
        Ok(out)
    }
}

/// The `fmt ` body and the samples of a WAV (a `data` length of 0 or
/// past the end, as streamed WAVs state, is the rest of the file).
fn chunks(wav: &[u8]) -> Result<(&[u8], &[u8]), String> {
    if wav.len() < 12 || &wav[0..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return Err("not a WAV file".into());
    }
    let mut at = 12usize;
    let mut fmt = None;
    while let Some(head) = wav.get(at..at + 8) {
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let body_at = at + 8;
        let rest = wav.len() - body_at;
        match &head[0..4] {
            b"fmt " if (16..=rest).contains(&len) => fmt = Some(&wav[body_at..body_at + len]),
            b"data" => {
                let fmt = fmt.ok_or("a WAV without a fmt chunk before its data")?;
                let len = if len == 0 || len > rest { rest } else { len };
                return Ok((fmt, &wav[body_at..body_at + len]));
            }
            _ => {}
        }
        at = body_at
            .checked_add(len + (len & 1))
            .ok_or("a WAV chunk past the end")?;
    }
    Err("a WAV without data".into())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    fn wav(samples: &[i16]) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&1u16.to_le_bytes()); // PCM
        fmt.extend_from_slice(&1u16.to_le_bytes()); // mono
        fmt.extend_from_slice(&16_000u32.to_le_bytes());
        fmt.extend_from_slice(&32_000u32.to_le_bytes());
        fmt.extend_from_slice(&2u16.to_le_bytes());
        fmt.extend_from_slice(&16u16.to_le_bytes());
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut j = Joined { fmt, data };
        std::mem::take(&mut j).finish().unwrap()
    }

    #[test]
    fn parts_join_into_one_wav() {
        let mut j = Joined::default();
        j.push(&wav(&[1; 16_000])).unwrap();
        assert!((j.seconds() - 1.0).abs() < 1e-9);
        j.push(&wav(&[2; 8_000])).unwrap();
        assert!((j.seconds() - 1.5).abs() < 1e-9);
        let out = j.finish().unwrap();
        assert_eq!(out.len(), 44 + 48_000);
        assert_eq!(
            drake_sdk::media::wav_seconds(&out[..44], out.len() as u64),
            Some(1.5)
        );
    }

    #[test]
    fn broken_parts_are_errors() {
        let mut j = Joined::default();
        assert!(j.push(b"RIFF").is_err());
        assert!(j.push(b"RIFF\0\0\0\0WAVEdata\0\0\0\0").is_err());
        let mut odd = wav(&[1; 4]);
        odd[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(j.push(&odd).is_err());
        assert!(Joined::default().finish().is_err());
    }
}
