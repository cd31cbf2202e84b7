//! `TileIndex`: tile footprints in an R-tree plus the facts tasks are drawn by.
//!
//! Footprints are EPSG:4326 boxes (`[min lon, min lat, max lon, max lat]`),
//! bulk-loaded once into an `rstar` tree of `GeomWithData<Rectangle, TileId>`;
//! tiles without a footprint (DeepGlobe) are queryable by everything but space.
//! Two tiles *overlap* when they are the same tile, when they come from the same
//! patch and their pixel windows overlap, or when their footprints share more than
//! [`OVERLAP_FRACTION`] of the smaller box (reprojected boxes of adjacent tiles
//! touch in slivers; Sen12MS patches overlapping by 50 % give shares >= 25 %).

use super::split::Splits;
use crate::catalog::footprint::boxes_overlap;
use crate::catalog::{Catalog, PixelWindow, Season, Split, TileId, TileRecord, TileRole};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

/// Share of the smaller footprint two boxes must have in common to overlap.
pub const OVERLAP_FRACTION: f64 = 0.1;

/// An indexed footprint: the box and the tile's id.
pub type Footprint = GeomWithData<Rectangle<[f64; 2]>, TileId>;

/// What the index keeps of each tile (compact: no paths).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileKey {
    /// Season, if the dataset has them.
    pub season: Option<Season>,
    /// Region (scene or image id).
    pub region: u32,
    /// Patch within the region.
    pub patch: u32,
    /// Label, if any.
    pub label: Option<u16>,
    /// Split of the region, if it is in one.
    pub split: Option<Split>,
    /// EPSG:4326 footprint, if georeferenced.
    pub bbox: Option<[f64; 4]>,
    /// Pixel window in the patch's sources.
    pub window: PixelWindow,
    /// DeepGlobe support/query role.
    pub role: Option<TileRole>,
}

/// A conjunction of filters; `None` fields match everything.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TileQuery {
    /// Footprint intersects this EPSG:4326 box.
    pub bbox: Option<[f64; 4]>,
    /// Region id.
    pub region: Option<u32>,
    /// Season.
    pub season: Option<Season>,
    /// Split.
    pub split: Option<Split>,
    /// Label (class id).
    pub class: Option<u16>,
}

impl TileQuery {
    fn matches(&self, k: &TileKey) -> bool {
        self.region.is_none_or(|r| k.region == r)
            && self.season.is_none_or(|s| k.season == Some(s))
            && self.split.is_none_or(|s| k.split == Some(s))
            && self.class.is_none_or(|c| k.label == Some(c))
    }
}

/// Spatial and attribute index over a catalog's tiles.
#[derive(Debug, Clone)]
pub struct TileIndex {
    tree: RTree<Footprint>,
    keys: Vec<TileKey>,
}

fn rect(b: &[f64; 4]) -> Rectangle<[f64; 2]> {
    Rectangle::from_corners([b[0], b[1]], [b[2], b[3]])
}

impl TileIndex {
    /// Indexes a catalog with `splits` deciding each region's split.
    pub fn new(catalog: &Catalog, splits: &Splits) -> Self {
        Self::from_records(&catalog.tiles, splits)
    }

    /// Indexes records; ids are positions in `tiles`.
    pub fn from_records(tiles: &[TileRecord], splits: &Splits) -> Self {
        let keys: Vec<TileKey> = tiles
            .iter()
            .map(|t| TileKey {
                season: t.season,
                region: t.region,
                patch: t.patch,
                label: t.label,
                split: splits.split_of(t.region),
                bbox: t.bbox_wgs84,
                window: t.window,
                role: t.role,
            })
            .collect();
        let footprints = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.bbox.map(|b| GeomWithData::new(rect(&b), i as TileId)))
            .collect();
        TileIndex {
            tree: RTree::bulk_load(footprints),
            keys,
        }
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no tiles.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Facts of tile `id`.
    pub fn key(&self, id: TileId) -> &TileKey {
        &self.keys[id as usize]
    }

    /// All tile facts, by id.
    pub fn keys(&self) -> &[TileKey] {
        &self.keys
    }

    /// Tiles matching every filter of `q`, in id order.
    pub fn query(&self, q: &TileQuery) -> Vec<TileId> {
        let mut out: Vec<TileId> = match q.bbox {
            Some(b) => {
                let env = AABB::from_corners([b[0], b[1]], [b[2], b[3]]);
                self.tree
                    .locate_in_envelope_intersecting(&env)
                    .map(|f| f.data)
                    .filter(|&id| q.matches(self.key(id)))
                    .collect()
            }
            None => (0..self.keys.len() as TileId)
                .filter(|&id| q.matches(self.key(id)))
                .collect(),
        };
        out.sort_unstable();
        out
    }

    /// Tiles whose footprint intersects `bbox` (`[min lon, min lat, max lon, max lat]`).
    pub fn in_bbox(&self, bbox: [f64; 4]) -> Vec<TileId> {
        self.query(&TileQuery {
            bbox: Some(bbox),
            ..Default::default()
        })
    }

    /// Tiles of a region.
    pub fn in_region(&self, region: u32) -> Vec<TileId> {
        self.query(&TileQuery {
            region: Some(region),
            ..Default::default()
        })
    }

    /// Tiles of a season.
    pub fn in_season(&self, season: Season) -> Vec<TileId> {
        self.query(&TileQuery {
            season: Some(season),
            ..Default::default()
        })
    }

    /// Tiles of a split.
    pub fn in_split(&self, split: Split) -> Vec<TileId> {
        self.query(&TileQuery {
            split: Some(split),
            ..Default::default()
        })
    }

    /// Tiles labelled `class`.
    pub fn of_class(&self, class: u16) -> Vec<TileId> {
        self.query(&TileQuery {
            class: Some(class),
            ..Default::default()
        })
    }

    /// The `n` tiles whose footprints are nearest to `(lon, lat)` (distance in
    /// degrees; 0 inside a footprint), nearest first.
    pub fn nearest(&self, lon: f64, lat: f64, n: usize) -> Vec<TileId> {
        self.tree
            .nearest_neighbor_iter(&[lon, lat])
            .take(n)
            .map(|f| f.data)
            .collect()
    }

    /// Whether tiles `a` and `b` overlap (see the module docs).
    pub fn overlap(&self, a: TileId, b: TileId) -> bool {
        if a == b {
            return true;
        }
        let (ka, kb) = (self.key(a), self.key(b));
        if ka.region == kb.region && ka.season == kb.season && ka.patch == kb.patch {
            return ka.window.to_window().overlaps(&kb.window.to_window());
        }
        match (&ka.bbox, &kb.bbox) {
            (Some(x), Some(y)) => boxes_overlap(x, y, OVERLAP_FRACTION),
            _ => false,
        }
    }

    /// Other tiles overlapping tile `id`, in id order.
    pub fn overlapping(&self, id: TileId) -> Vec<TileId> {
        let k = self.key(id);
        let mut out: Vec<TileId> = match k.bbox {
            Some(b) => {
                let env = AABB::from_corners([b[0], b[1]], [b[2], b[3]]);
                self.tree
                    .locate_in_envelope_intersecting(&env)
                    .map(|f| f.data)
                    .filter(|&o| o != id && self.overlap(id, o))
                    .collect()
            }
            None => (0..self.keys.len() as TileId)
                .filter(|&o| o != id && self.overlap(id, o))
                .collect(),
        };
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::Sources;

    /// A labelled tile at `(x, y)` degrees, 1 x 1 degree, in a 2x2 grid of its patch.
    pub(crate) fn tile(
        region: u32,
        patch: u32,
        index: u32,
        label: Option<u16>,
        x: f64,
        y: f64,
    ) -> TileRecord {
        TileRecord {
            season: Some(Season::Spring),
            region,
            patch,
            tile: index,
            label,
            unlabelled_reason: None,
            purity: 1.0,
            bbox_wgs84: Some([x, y, x + 1.0, y + 1.0]),
            window: PixelWindow::new(32 * (index % 2), 32 * (index / 2), 32, 32),
            sources: Sources::default(),
            role: None,
        }
    }

    fn index() -> TileIndex {
        let tiles = vec![
            tile(3, 1, 0, Some(1), 0.0, 0.0),
            tile(3, 1, 1, Some(2), 1.0, 0.0),
            tile(3, 2, 0, Some(1), 0.5, 0.5), // overlaps tiles 0 and 1 of patch 1
            tile(8, 1, 0, Some(1), 50.0, 50.0),
        ];
        TileIndex::from_records(&tiles, &Splits::sen12ms_default())
    }

    #[test]
    fn queries_combine_space_and_attributes() {
        let ix = index();
        assert_eq!(ix.in_bbox([0.6, 0.6, 0.7, 0.7]), vec![0, 2]);
        assert_eq!(ix.in_region(8), vec![3]);
        assert_eq!(ix.in_split(Split::Test), vec![3]);
        assert_eq!(ix.in_split(Split::Train), vec![0, 1, 2]);
        assert_eq!(ix.of_class(2), vec![1]);
        assert_eq!(ix.in_season(Season::Spring).len(), 4);
        let q = TileQuery {
            bbox: Some([-1.0, -1.0, 60.0, 60.0]),
            class: Some(1),
            split: Some(Split::Train),
            ..Default::default()
        };
        assert_eq!(ix.query(&q), vec![0, 2]);
        assert_eq!(ix.nearest(50.2, 50.2, 1), vec![3]);
        assert_eq!(ix.nearest(1.9, 0.1, 2)[0], 1);
    }

    #[test]
    fn adjacent_tiles_do_not_overlap_but_shifted_patches_do() {
        let ix = index();
        assert!(!ix.overlap(0, 1), "touching edges");
        assert!(ix.overlap(0, 2) && ix.overlap(1, 2));
        assert!(ix.overlap(3, 3));
        assert_eq!(ix.overlapping(2), vec![0, 1]);
        assert!(ix.overlapping(3).is_empty());
    }
}
