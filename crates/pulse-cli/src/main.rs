//! `pulse`: the operator's command line over a Pulse dead-letter store, a SQLite file or a
//! PostgreSQL database. Every command is one call into the `pulse` library, so it behaves as
//! the library and the admin API do.

mod args;
mod change;
mod failure;
mod open;
mod output;
mod read;
mod serve;
mod tokens;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, TokenCommand};
use crate::failure::Failure;
use crate::open::Opened;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(Failure::USAGE) } else { ExitCode::SUCCESS };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let out = Output::new(cli.json);
    match &cli.command {
        Command::Migrate { command } => return change::migrate(&cli.store, command, &out).await,
        Command::Token { command: TokenCommand::Hash } => return tokens::hash(&out),
        _ => {}
    }
    let opened = Opened::open(&cli.store).await?;
    let result = dispatch(&opened, cli.command, &out).await;
    opened.close().await;
    result
}

async fn dispatch(opened: &Opened, command: Command, out: &Output) -> Result<(), Failure> {
    let dead_letters = &opened.dead_letters;
    match command {
        Command::Stats => read::stats(dead_letters, out).await,
        Command::Groups { limit } => read::groups(dead_letters, limit, out).await,
        Command::List(list) => read::list(dead_letters, list, out).await,
        Command::Show { id } => read::show(dead_letters, id, out).await,
        Command::Replay(replay) => change::replay(dead_letters, replay, out).await,
        Command::Requests { command } => change::requests(dead_letters, command, out).await,
        Command::Dismiss(close) => change::close(dead_letters, close, change::Closing::Dismiss, out).await,
        Command::Resolve(close) => change::close(dead_letters, close, change::Closing::Resolve, out).await,
        Command::Purge { older_than, yes } => change::purge(dead_letters, older_than, yes, out).await,
        Command::Serve(serve) => serve::serve(dead_letters, serve).await,
        Command::Migrate { .. } | Command::Token { .. } => unreachable!("handled before the store opens"),
    }
}
