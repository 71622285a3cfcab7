//! `test.hostile`: a task that misbehaves on request, loaded only with
//! `test_tasks = true`. The sandbox tests use it to check that a runaway
//! guest ends in an `error` status while the host keeps serving.

use drake_sdk::{Ctx, Task, TaskError, Values};
use serde::Deserialize;

drake_sdk::task!(Hostile);

/// What to do.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Spin forever (the epoch deadline must stop it).
    Loop,
    /// Allocate until the memory cap refuses.
    Alloc,
    /// Sleep `ms` milliseconds, reporting progress, then succeed.
    Sleep,
    /// Panic (a trap).
    Panic,
    /// Publish `preview` and a partial value, sleep `ms`, then publish
    /// `output` (the partial-results path of video.create).
    Publish,
}

/// Parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The misbehaviour.
    pub mode: Mode,
    /// Milliseconds for `sleep`.
    #[serde(default)]
    pub ms: u64,
}

/// The task.
pub struct Hostile;

impl Task for Hostile {
    const NAME: &'static str = "test.hostile";
    const SUMMARY: &'static str = "Test-only: loops, allocates, sleeps or panics on request.";
    const VALUES: &'static [&'static str] = &["ms"];
    const FILES: &'static [&'static str] = &["output", "preview"];
    type Params = Params;

    fn run(ctx: &mut dyn Ctx, p: Params) -> Result<Values, TaskError> {
        match p.mode {
            Mode::Loop => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            Mode::Alloc => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 8 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::Sleep => {
                let steps = 10;
                for i in 0..steps {
                    ctx.progress((i * 100 / steps) as u8);
                    std::thread::sleep(std::time::Duration::from_millis(p.ms / steps));
                }
                Ok(drake_sdk::values([("ms", p.ms.into())]))
            }
            Mode::Panic => panic!("test.hostile was asked to panic"),
            Mode::Publish => {
                ctx.publish("preview", b"early", "text/plain", "txt")?;
                ctx.partial(&drake_sdk::values([("ms", p.ms.into())]));
                std::thread::sleep(std::time::Duration::from_millis(p.ms));
                ctx.publish("output", b"hello", "text/plain", "txt")?;
                Ok(drake_sdk::values([("ms", p.ms.into())]))
            }
        }
    }
}
