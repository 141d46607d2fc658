//! `shale demo`: starts the Bedrock emulator in-process, then the gateway on it with the built-in
//! demo config, and prints a ready-to-paste curl line with a freshly generated key.
//! This is an explicit mode: the normal command never falls back to the emulator.

use crate::cli::DemoArgs;

pub async fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("the demo needs the emulator, which is not built into this binary yet")
}
