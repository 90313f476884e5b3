//! A small MaxMind DB file for tests, written with maxminddb-writer: each network with a
//! country and an AS number, in the field names of GeoLite2's Country and ASN databases.

use maxminddb_writer::metadata::IpVersion;
use maxminddb_writer::paths::IpAddrWithMask;
use maxminddb_writer::Database;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct Country<'a> {
    iso_code: &'a str,
}

#[derive(Serialize)]
struct Record<'a> {
    country: Country<'a>,
    autonomous_system_number: u32,
}

/// Writes (replacing) `path` with `networks`: (IPv4 network, country code, AS number).
pub fn write_geo_db(path: &Path, networks: &[(&str, &str, u32)]) {
    let mut db = Database::default();
    db.metadata.ip_version = IpVersion::V4;
    db.metadata.binary_format_major_version = 2;
    db.metadata.database_type = "Spectra-Test".into();
    for (net, country, asn) in networks {
        let data = db
            .insert_value(Record {
                country: Country { iso_code: country },
                autonomous_system_number: *asn,
            })
            .unwrap();
        db.insert_node(net.parse::<IpAddrWithMask>().unwrap(), data);
    }
    // Written aside and renamed, as a database update should be: never half a file.
    let tmp = path.with_extension("tmp");
    db.write_to(std::fs::File::create(&tmp).unwrap()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
