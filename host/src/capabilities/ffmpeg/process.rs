//! A child process held by a pidfd, reaped with its resource usage.
//!
//! tokio's `Child::wait` reaps with `waitpid`, which drops the child's
//! `rusage`; usage accounting needs it. A pidfd names exactly one process
//! (no pid-reuse races), becomes readable when the process exits, and the
//! raw `waitid(P_PIDFD, …)` system call fills a `rusage` that covers the
//! process and every descendant it waited for (bwrap waits for ffmpeg).
//!
//! Dropping an unreaped [`Process`] kills it and reaps it in the
//! background, so a cancelled job never leaves a zombie.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;

/// `waitid`'s id type for a pidfd (Linux 5.4; not in the libc crate).
const P_PIDFD: libc::idtype_t = 3;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit status, or 128 + the signal that killed it (the shell's
    /// convention, which bwrap also uses for its child).
    pub code: i32,
    /// User + system CPU time of the process and its reaped descendants.
    /// (Not memory: its `ru_maxrss` would include drake's own high-water
    /// mark, which exec records from the old address space.)
    pub cpu: Duration,
}

/// A spawned child, owned through its pidfd.
pub struct Process {
    fd: Option<AsyncFd<OwnedFd>>,
}

impl Process {
    /// Take hold of the child `pid`, which must be this process's own
    /// unreaped child (just spawned).
    pub fn adopt(pid: u32) -> io::Result<Process> {
        let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd
        // or -1; no memory is passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(fd).map_err(io::Error::other)?;
        // SAFETY: `fd` was just returned by pidfd_open and is owned by
        // nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd moves into the AsyncFd and stays open until
        // the AsyncFd is dropped or unwrapped with `into_inner`.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Process { fd: Some(fd) })
    }

    /// Wait for the process to exit and reap it.
    pub async fn wait(&mut self) -> io::Result<Exit> {
        let Some(fd) = &self.fd else {
            return Err(io::Error::other("the process was already reaped"));
        };
        loop {
            let mut ready = fd.readable().await?;
            if let Some(exit) = waitid(fd.get_ref(), libc::WNOHANG)? {
                self.fd = None;
                return Ok(exit);
            }
            ready.clear_ready();
        }
    }

    /// Kill the process (SIGKILL) and reap it.
    pub async fn kill(&mut self) -> io::Result<Exit> {
        if let Some(fd) = &self.fd {
            sigkill(fd.get_ref());
        }
        self.wait().await
    }
}

/// SIGKILL through a pidfd of an unreaped process (so the signal cannot
/// reach a process that reused the pid).
fn sigkill(fd: &OwnedFd) {
    // SAFETY: the pidfd is valid; no memory is passed.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let Some(fd) = self.fd.take() else { return };
        let fd = fd.into_inner();
        sigkill(&fd);
        let reap = move || drop(waitid(&fd, 0));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(reap)),
            Err(_) => reap(),
        }
    }
}

/// `waitid(P_PIDFD, fd, WEXITED | flags)` with its rusage; `None` when
/// `WNOHANG` finds the process still running.
fn waitid(fd: &OwnedFd, flags: libc::c_int) -> io::Result<Option<Exit>> {
    // SAFETY: all-zero is a valid siginfo_t and rusage (plain C structs).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: the raw system call takes (idtype, id, *siginfo,
        // options, *rusage); both pointers are to live, writable structs
        // of the kernel's layout.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                P_PIDFD,
                fd.as_raw_fd(),
                &mut info as *mut libc::siginfo_t,
                libc::WEXITED | flags,
                &mut usage as *mut libc::rusage,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        break;
    }
    // SAFETY: the kernel filled `info` for a waitid call (SIGCHLD layout).
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    let code = match info.si_code {
        libc::CLD_EXITED => status,
        _ => 128 + status,
    };
    let micros = |t: libc::timeval| {
        u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec).unwrap_or(0)
    };
    Ok(Some(Exit {
        code,
        cpu: Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime)),
    }))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests: a failure is a panic")]
mod tests {
    use super::*;

    #[expect(clippy::zombie_processes, reason = "the pidfd reaps it")]
    fn spawn(script: &str) -> Process {
        let child = std::process::Command::new("sh")
            .args(["-c", script])
            .spawn()
            .unwrap();
        Process::adopt(child.id()).unwrap()
    }

    #[tokio::test]
    async fn exit_codes_signals_and_cpu() {
        assert_eq!(spawn("exit 3").wait().await.unwrap().code, 3);
        assert_eq!(spawn("kill -9 $$").wait().await.unwrap().code, 137);
        // A busy descendant's CPU time counts once it is waited for.
        let exit = spawn("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
            .wait()
            .await
            .unwrap();
        assert_eq!(exit.code, 0);
        assert!(exit.cpu > Duration::from_millis(20), "{exit:?}");
    }

    #[tokio::test]
    #[expect(clippy::zombie_processes, reason = "the pidfd reaps it")]
    async fn dropping_kills_and_reaps() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        drop(Process::adopt(pid).unwrap());
        // Reaped in the background: /proc/<pid> disappears.
        for _ in 0..200 {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("process {pid} still exists");
    }
}
