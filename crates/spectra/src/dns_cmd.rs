//! `spectra dns records`: what a node publishes in DNS for a zone's app hostnames.

use crate::app_cmd::Connection;

#[derive(clap::Subcommand)]
pub enum DnsCommand {
    /// The A and AAAA records published for the zone's apps (live listeners only).
    Records(Connection),
}

pub fn run(command: DnsCommand) -> anyhow::Result<()> {
    let DnsCommand::Records(connection) = command;
    tokio::runtime::Runtime::new()?.block_on(async move {
        let (client, zone) = connection.client().await?;
        let records = client.dns_records().list(&zone).await?;
        if connection.output_json {
            let value: Vec<serde_json::Value> = records
                .iter()
                .map(|r| serde_json::json!({"id": r.id, "name": r.name, "type": r.kind, "content": r.content, "ttl": r.ttl}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&value)?);
            return Ok(());
        }
        println!("{:<40}  {:<4}  {:<6}  CONTENT", "NAME", "TYPE", "TTL");
        for r in records {
            println!("{:<40}  {:<4}  {:<6}  {}", r.name, r.kind, r.ttl, r.content);
        }
        Ok(())
    })
}
