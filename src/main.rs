//! The `jbc` command: parse the flags, run one subcommand, print one error
//! chain and exit non-zero when something went wrong. Each subcommand group
//! lives in its own file under `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if args.only_prints() {
        // `jbc chain show | head` should end quietly when the pipe closes,
        // as command-line tools do, not panic on a failed print. Never for
        // a server: a client hanging up mid-answer would kill it.
        // SAFETY: restoring a signal's default action at startup, before
        // any thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line per cause, outermost first: what failed, then why.
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
