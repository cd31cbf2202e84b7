//! Which regions to synthesise: explicit ids (`57,91`) or a count per split
//! (`train:8,val:3,test:3`, drawn by seed from the paper author's split table).

use super::rng::{rng, tag};
use crate::catalog::regions::{region, regions_in, Split};
use crate::error::{Error, Result};
use rand::seq::SliceRandom;

/// The default choice: a mix of meta-train, meta-val and meta-test regions.
pub const DEFAULT_REGIONS: &str = "train:8,val:3,test:3";

/// Resolves a `--regions` value to sorted, distinct region ids.
pub fn choose_regions(spec: &str, seed: u64) -> Result<Vec<u32>> {
    let bad = |why: String| Error::config("--regions", why);
    let mut ids = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some((split, n)) = item.split_once(':') {
            let split: Split = split
                .parse()
                .map_err(|e| Error::config_source("--regions", "", e))?;
            let n: usize = n
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{item}`: count is not a number")))?;
            let mut pool: Vec<u32> = regions_in(split).map(|r| r.id).collect();
            if n > pool.len() {
                return Err(bad(format!(
                    "`{item}`: the {split} split has only {} regions",
                    pool.len()
                )));
            }
            pool.shuffle(&mut rng(&[seed, tag::LAYOUT, split as u64, 0xC0]));
            ids.extend_from_slice(&pool[..n]);
        } else {
            let id: u32 = item
                .parse()
                .map_err(|_| bad(format!("`{item}` is neither a region id nor SPLIT:COUNT")))?;
            if region(id).is_none() {
                return Err(bad(format!("no Sen12MS region with id {id}")));
            }
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(bad("no regions chosen".into()));
    }
    Ok(ids)
}

/// Resolves a `--seasons` value (`spring,summer,fall,winter`; `autumn` = fall) to
/// season indices in folder order.
pub fn choose_seasons(spec: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for item in spec
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
    {
        let name = if item == "autumn" {
            "fall".to_string()
        } else {
            item
        };
        let i = super::look::SEASONS
            .iter()
            .position(|s| *s == name)
            .ok_or_else(|| {
                Error::config(
                    "--seasons",
                    format!("unknown season `{name}` (spring, summer, fall, winter)"),
                )
            })?;
        out.push(i);
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err(Error::config("--seasons", "no seasons chosen"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_split_draw_from_that_split() {
        let ids = choose_regions("train:3,test:2", 4).unwrap();
        assert_eq!(ids.len(), 5);
        let tests = ids
            .iter()
            .filter(|&&i| region(i).unwrap().split == Split::Test)
            .count();
        assert_eq!(tests, 2);
        assert_eq!(ids, choose_regions("train:3,test:2", 4).unwrap());
        assert_ne!(ids, choose_regions("train:3,test:2", 5).unwrap());
    }

    #[test]
    fn explicit_ids_and_errors() {
        assert_eq!(choose_regions("91, 57,57", 0).unwrap(), vec![57, 91]);
        assert!(choose_regions("2", 0)
            .unwrap_err()
            .to_string()
            .contains("--regions"));
        assert!(choose_regions("train:80", 0).is_err());
        assert_eq!(choose_seasons("winter,autumn").unwrap(), vec![2, 3]);
        assert!(choose_seasons("monsoon").is_err());
    }
}
