//! The geolocation behind `country` and `asn` access rules: MaxMind DB files (GeoLite2, DB-IP
//! lite, or any file of that format), read whole, and read again when one changes on disk.

use arc_swap::ArcSwap;
use maxminddb::{path, Reader};
use model::Location;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often the files are checked for a change.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What tells a file's versions apart: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// One or more databases; a location takes each part from the first file that has it (a
/// country database and an ASN database side by side, or one file with both).
pub struct GeoIp {
    paths: Vec<PathBuf>,
    readers: ArcSwap<Vec<Reader<Vec<u8>>>>,
    stamps: Mutex<Vec<Stamp>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp").field("paths", &self.paths).finish()
    }
}

fn open(path: &Path) -> Result<Reader<Vec<u8>>, String> {
    Reader::open_readfile(path).map_err(|e| format!("{}: {e}", path.display()))
}

impl GeoIp {
    /// Reads every file now: a file that cannot be read is an error at start.
    pub fn open(paths: Vec<PathBuf>) -> Result<GeoIp, String> {
        let stamps = paths.iter().map(|p| stamp(p)).collect();
        let readers = paths.iter().map(|p| open(p)).collect::<Result<_, _>>()?;
        Ok(GeoIp {
            paths,
            readers: ArcSwap::from_pointee(readers),
            stamps: Mutex::new(stamps),
        })
    }

    /// Where `ip` is, as far as the databases know.
    pub fn locate(&self, ip: IpAddr) -> Location {
        let mut at = Location::default();
        for reader in self.readers.load().iter() {
            // An IPv6 address in an IPv4-only database is an error: it is just not known there.
            let Ok(found) = reader.lookup(ip.to_canonical()) else {
                continue;
            };
            if at.country.is_none() {
                let code: Option<&str> = found
                    .decode_path(&path!["country", "iso_code"])
                    .ok()
                    .flatten();
                at.country = code.map(str::to_ascii_uppercase);
            }
            if at.asn.is_none() {
                at.asn = found
                    .decode_path(&path!["autonomous_system_number"])
                    .ok()
                    .flatten();
            }
        }
        at
    }

    /// Reads the files again if one changed; a file that cannot be read keeps the old ones.
    pub fn reload_if_changed(&self) {
        let now: Vec<Stamp> = self.paths.iter().map(|p| stamp(p)).collect();
        let mut stamps = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        if *stamps == now {
            return;
        }
        match self.paths.iter().map(|p| open(p)).collect::<Result<_, _>>() {
            Ok(readers) => {
                self.readers.store(Arc::new(readers));
                *stamps = now;
                tracing::info!(files = self.paths.len(), "geolocation database reloaded");
            }
            Err(error) => {
                // Mid-copy, most likely: try again at the next check.
                tracing::warn!(%error, "cannot reload the geolocation database; keeping the last one");
            }
        }
    }
}

/// Checks the files for a change every `CHECK_EVERY` until `shutdown`.
pub(crate) async fn watch(geoip: Arc<GeoIp>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
        let g = geoip.clone();
        let _ = tokio::task::spawn_blocking(move || g.reload_if_changed()).await;
    }
}
