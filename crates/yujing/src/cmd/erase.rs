//! `yujing erase`: make every raw unit naming a person unreadable for good, and log it.

use anyhow::{Context, Result};
use yujing_engine::vault::{self, ErasureRequest};
use yujing_engine::{Built, Clock, EngineConfig, SystemClock};

use crate::open_log;

/// Who to erase and why.
#[derive(Debug, clap::Args)]
pub(crate) struct EraseArgs {
    /// A party key as yujing shows it: KIND:HASH (phone:…, id_number:…, name:…, account:…).
    #[arg(long = "party", value_name = "KIND:HASH")]
    parties: Vec<String>,
    /// A phone number.
    #[arg(long = "phone")]
    phones: Vec<String>,
    /// An 18-character ID number.
    #[arg(long = "id-number")]
    id_numbers: Vec<String>,
    /// A platform account id.
    #[arg(long = "account")]
    accounts: Vec<String>,
    /// A full personal name (a weak key: namesakes' raw units are erased too).
    #[arg(long = "name")]
    names: Vec<String>,
    /// Why: the request and its reference. Logged with the erasure (redacted).
    #[arg(long)]
    reason: String,
}

pub(crate) fn erase(config: &EngineConfig, built: &Built, args: EraseArgs) -> Result<()> {
    let request = ErasureRequest {
        parties: args
            .parties
            .iter()
            .map(|p| vault::parse_party(p))
            .collect::<Result<_, _>>()?,
        phones: args.phones,
        id_numbers: args.id_numbers,
        accounts: args.accounts,
        names: args.names,
        reason: args.reason,
    };
    let parties = request.party_keys(built.normalizer.hasher())?;
    let log = open_log(config).context(
        "beside a running `yujing run`, ask it instead: POST /api/v1/erasures with a centre token",
    )?;
    let actor = std::env::var("USER").unwrap_or_else(|_| "the command line".to_owned());
    let (erasure, offset) = vault::erase(log.as_ref(), &parties, &actor, &request.reason, SystemClock.now())
        .context("erasing")?;
    print!("{erasure}");
    println!("logged as {}@{offset}", vault::ERASURES);
    Ok(())
}
