//! Progress output: a live bar with the running loss on a terminal, one plain
//! line per epoch otherwise (logs, CI, `nohup`).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub enum Progress {
    Bar(ProgressBar),
    Plain,
    Quiet,
}

impl Progress {
    /// A bar when stdout is a terminal, plain lines when it is not.
    pub fn auto(total_steps: usize) -> Self {
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::new(total_steps as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}",
                )
                .expect("valid template"),
            );
            Progress::Bar(bar)
        } else {
            Progress::Plain
        }
    }

    /// A resumed run starts its bar at `step`.
    pub fn start_at(&self, step: usize) {
        if let Progress::Bar(bar) = self {
            bar.set_position(step as u64);
        }
    }

    /// After a logging interval.
    pub fn step(&self, step: usize, epoch: usize, loss: f64, kl: f64, beta: f64, ips: f64) {
        if let Progress::Bar(bar) = self {
            bar.set_position(step as u64);
            bar.set_message(format!(
                "epoch {epoch}  loss {loss:.2}  KL {kl:.2}  β {beta:.3}  {ips:.0} ex/s"
            ));
        }
    }

    /// A line at the end of every epoch.
    pub fn epoch(&self, line: &str) {
        match self {
            Progress::Bar(bar) => bar.println(line),
            Progress::Plain => println!("{line}"),
            Progress::Quiet => {}
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
