//! The repository checks its own pin table.

use fetch::{Package, PinTable};

#[test]
fn every_pin_is_well_formed() {
    for pin in PinTable::builtin().all() {
        assert!(!pin.files.is_empty(), "{pin}: no files");
        for file in &pin.files {
            let hex = file.sha256.len() == 64
                && file.sha256.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
            assert!(hex, "{pin}: {} sha256 is not 64 lowercase hex digits", file.name);
            assert!(!file.urls.is_empty(), "{pin}: {} has no URL", file.name);
            for url in &file.urls {
                assert!(url.starts_with("https://"), "{pin}: not https: {url}");
                assert!(
                    url.ends_with(&format!("/{}", file.name)),
                    "{pin}: {url} is not named {}",
                    file.name
                );
            }
        }
    }
}

#[test]
fn each_package_has_exactly_one_default() {
    for package in Package::ALL {
        let defaults: Vec<String> = PinTable::builtin()
            .all()
            .iter()
            .filter(|pin| pin.package == package && pin.default)
            .map(|pin| pin.version.clone())
            .collect();
        assert_eq!(defaults.len(), 1, "{package} defaults: {defaults:?}");
    }
}
