//! Fills a store with many apps for the scale benchmark (`bench/scale.py`), straight through
//! the `Store` trait: ZONES zones, APPS apps spread over them, each zone's apps on one dynamic
//! address of 127.96.0.0/16 (its hostname) and ports 10000 and up.
//!
//!     cargo run --release -p spectra --example populate -- STORE ZONES APPS
//!
//! STORE is a PostgreSQL URL or a data dir.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, store, zones, apps] = &args[..] else {
        eprintln!("usage: populate STORE ZONES APPS");
        std::process::exit(2);
    };
    let (zones, apps): (u32, u32) = (zones.parse().unwrap(), apps.parse().unwrap());
    let store: Box<dyn store::Store> = if store.starts_with("postgres") {
        Box::new(store::PgStore::connect(store).unwrap())
    } else {
        Box::new(store::SqliteStore::open(std::path::Path::new(store)).unwrap())
    };
    let started = Instant::now();
    let zone_ids: Vec<String> = (0..zones)
        .map(|z| store.create_zone(&format!("zone{z}.example")).unwrap().id)
        .collect();
    for i in 0..apps {
        let z = i % zones;
        let port = 10_000 + i / zones;
        let config = model::AppConfig::from_json(serde_json::json!({
            "protocol": format!("tcp/{port}"),
            "dns": {"type": "CNAME", "name": format!("zone{z}.example")},
            "origin_direct": ["tcp://127.0.0.1:9"],
            "edge_ips": {"type": "dynamic", "connectivity": "ipv4"},
        }))
        .unwrap();
        let address = IpAddr::V4(Ipv4Addr::new(127, 96, (z / 250) as u8, (z % 250 + 1) as u8));
        store
            .create_app(&zone_ids[z as usize], &config, &[address])
            .unwrap();
    }
    println!(
        "{zones} zones, {apps} apps written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
