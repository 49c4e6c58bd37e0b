//! What a guest says during one invocation — `logging.log` lines and what it prints to
//! stdout and stderr — kept up to [`OUTPUT_LIMIT`] bytes per invocation, so host memory
//! stays bounded whatever a guest prints. Past the limit, output is counted and dropped and
//! the log ends with a truncation marker. Writes never fail: a guest that prints too much
//! loses output, not its invocation.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Most bytes of output kept per invocation (log lines, stdout and stderr together).
pub const OUTPUT_LIMIT: usize = 256 * 1024;

/// What each line costs beyond its text (so a flood of empty lines is bounded too).
const LINE_COST: usize = 32;

/// How much a guest may write at once (`check-write`).
const WRITE_PERMIT: usize = 64 * 1024;

/// One log line from a guest (`logging.log`, or a line it printed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// "TRACE", "DEBUG", "INFO", "WARN" or "ERROR" (printed output: "STDOUT" / "STDERR").
    pub level: &'static str,
    pub message: String,
}

#[derive(Debug)]
struct Captured {
    limit: usize,
    left: usize,
    dropped: u64,
    logs: Vec<LogLine>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// One invocation's output, shared by its `logging` host and its stdout/stderr streams.
#[derive(Clone, Debug)]
pub struct Output(Arc<Mutex<Captured>>);

#[derive(Clone, Copy, Debug)]
enum Stream {
    Stdout,
    Stderr,
}

impl Output {
    pub fn new(limit: usize) -> Output {
        Output(Arc::new(Mutex::new(Captured {
            limit,
            left: limit,
            dropped: 0,
            logs: Vec::new(),
            stdout: Vec::new(),
            stderr: Vec::new(),
        })))
    }

    /// A `logging.log` line: kept whole, cut to what is left, or dropped.
    pub fn log(&self, level: &'static str, mut message: String) {
        let mut c = self.0.lock();
        let total = message.len().saturating_add(LINE_COST);
        if total > c.left {
            let room = c.left.saturating_sub(LINE_COST);
            let mut cut = room.min(message.len());
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            c.dropped = c.dropped.saturating_add((message.len() - cut) as u64);
            if room == 0 {
                c.left = 0;
                return;
            }
            message.truncate(cut);
        }
        c.left = c
            .left
            .saturating_sub(message.len().saturating_add(LINE_COST));
        c.logs.push(LogLine { level, message });
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        let mut c = self.0.lock();
        let mut kept = 0;
        let mut left = c.left;
        for b in bytes {
            let cost = if *b == b'\n' { 1 + LINE_COST } else { 1 };
            if cost > left {
                break;
            }
            left -= cost;
            kept += 1;
        }
        c.left = left;
        c.dropped = c.dropped.saturating_add((bytes.len() - kept) as u64);
        let buf = match stream {
            Stream::Stdout => &mut c.stdout,
            Stream::Stderr => &mut c.stderr,
        };
        buf.extend_from_slice(&bytes[..kept]);
    }

    /// The guest's stdout, for `WasiCtxBuilder::stdout`.
    pub fn stdout(&self) -> impl StdoutStream + 'static {
        Pipe {
            output: self.clone(),
            stream: Stream::Stdout,
        }
    }

    /// The guest's stderr, for `WasiCtxBuilder::stderr`.
    pub fn stderr(&self) -> impl StdoutStream + 'static {
        Pipe {
            output: self.clone(),
            stream: Stream::Stderr,
        }
    }

    /// The log: `logging.log` lines, then printed lines (stdout, then stderr), then a
    /// truncation marker if output was dropped.
    pub fn take(&self) -> Vec<LogLine> {
        let mut c = self.0.lock();
        let mut logs = std::mem::take(&mut c.logs);
        for (level, bytes) in [
            ("STDOUT", std::mem::take(&mut c.stdout)),
            ("STDERR", std::mem::take(&mut c.stderr)),
        ] {
            for line in String::from_utf8_lossy(&bytes).lines() {
                logs.push(LogLine {
                    level,
                    message: line.to_owned(),
                });
            }
        }
        if c.dropped > 0 {
            logs.push(LogLine {
                level: "WARN",
                message: format!(
                    "[output truncated: {} more bytes were dropped; at most {} bytes of output are kept per invocation]",
                    c.dropped, c.limit
                ),
            });
        }
        c.dropped = 0;
        c.left = c.limit;
        logs
    }
}

/// stdout or stderr of one guest.
#[derive(Clone)]
struct Pipe {
    output: Output,
    stream: Stream,
}

impl IsTerminal for Pipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Pipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Pipe {
    async fn ready(&mut self) {}
}

impl OutputStream for Pipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.output.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.output.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(lines: &[LogLine]) -> usize {
        lines.iter().map(|l| l.message.len() + LINE_COST).sum()
    }

    #[test]
    fn output_is_capped_with_a_marker() {
        let out = Output::new(1024);
        // 16,000 lines of 64 KiB would be a gigabyte.
        let big = "x".repeat(64 * 1024);
        for _ in 0..16 {
            out.log("INFO", big.clone());
        }
        out.write(Stream::Stdout, big.as_bytes());
        let logs = out.take();
        let (marker, kept) = logs.split_last().expect("lines");
        assert!(total(kept) <= 1024, "{}", total(kept));
        assert_eq!(marker.level, "WARN");
        assert!(
            marker.message.starts_with("[output truncated: ")
                && marker.message.contains("at most 1024 bytes"),
            "{}",
            marker.message
        );
    }

    #[test]
    fn small_output_is_kept_in_order() {
        let out = Output::new(OUTPUT_LIMIT);
        out.log("INFO", "one".into());
        out.write(Stream::Stdout, b"two\nthree\n");
        out.write(Stream::Stderr, b"four");
        let logs = out.take();
        let text: Vec<(&str, &str)> = logs.iter().map(|l| (l.level, l.message.as_str())).collect();
        assert_eq!(
            text,
            [
                ("INFO", "one"),
                ("STDOUT", "two"),
                ("STDOUT", "three"),
                ("STDERR", "four")
            ]
        );
    }

    #[test]
    fn empty_lines_cost_too_and_cuts_respect_characters() {
        let out = Output::new(4096);
        out.write(Stream::Stdout, &[b'\n'; 100_000]);
        let logs = out.take();
        assert!(logs.len() < 4096 / LINE_COST + 2, "{}", logs.len());
        let out = Output::new(LINE_COST + 5);
        out.log("INFO", "ééééé".into());
        let logs = out.take();
        assert_eq!(logs[0].message, "éé");
        assert!(logs[1].message.contains("6 more bytes"));
    }
}
