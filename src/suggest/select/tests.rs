use super::*;

/// A `w` x `h` grid of 3 classes: class by column third, margin growing with the
/// distance from the grid's centre column; `nodata` cells have no value.
fn grid(w: usize, h: usize, nodata: impl Fn(usize, usize) -> bool) -> CellGrid {
    let (mut probabilities, mut predicted) = (Vec::new(), Vec::new());
    for row in 0..h {
        for col in 0..w {
            let class = (3 * col / w).min(2);
            predicted.push([1, 2, 5][class]);
            if nodata(col, row) {
                probabilities.extend([f32::NAN; 3]);
                continue;
            }
            let sure =
                0.34 + 0.6 * (col as f32 - w as f32 / 2.0).abs() / w as f32 + 0.001 * row as f32;
            let mut p = [(1.0 - sure) / 2.0; 3];
            p[class] = sure;
            probabilities.extend(p);
        }
    }
    CellGrid {
        width: w,
        height: h,
        class_ids: vec![1, 2, 5],
        probabilities,
        predicted,
    }
}

/// Options for a tile classifier's cells (labels stand for whole windows).
fn opts(count: usize, spacing: usize, seed: u64) -> SelectOptions {
    SelectOptions {
        count,
        spacing,
        seed,
        whole_windows: true,
    }
}

#[test]
fn suggestions_avoid_nodata_and_labels_and_each_other() {
    let g = grid(60, 40, |c, r| c > r + 10);
    let labels = [
        LabelledCell {
            col: 30,
            row: 30,
            class_id: 2,
        },
        LabelledCell {
            col: 5,
            row: 20,
            class_id: 1,
        },
    ];
    let s = choose(&g, &labels, &opts(12, 3, 1), &Required::default());
    assert_eq!(s.len(), 12);
    for (k, a) in s.iter().enumerate() {
        assert!(g.cell(a.row * 60 + a.col).is_some(), "{a:?} is on nodata");
        for l in &labels {
            let d = (a.col as isize - l.col)
                .abs()
                .max((a.row as isize - l.row).abs());
            assert!(d > 3, "{a:?} is {d} cells from label {l:?}");
        }
        for b in &s[k + 1..] {
            let d = a.col.abs_diff(b.col).max(a.row.abs_diff(b.row));
            assert!(d > 3, "{a:?} and {b:?} are {d} cells apart");
        }
    }
    let ranks: Vec<usize> = s.iter().map(|x| x.rank).collect();
    assert_eq!(ranks, (1..=12).collect::<Vec<_>>());
    assert!(s.windows(2).all(|p| p[0].margin <= p[1].margin));
}

#[test]
fn every_predicted_class_gets_a_share_and_the_least_labelled_first() {
    let g = grid(60, 40, |_, _| false);
    // Class 1 (left third) already has 3 labels, class 2 none, class 5 one.
    let labels: Vec<LabelledCell> = [(2, 2, 1), (2, 20, 1), (2, 38, 1), (58, 2, 5)]
        .iter()
        .map(|&(col, row, class_id)| LabelledCell { col, row, class_id })
        .collect();
    let s = choose(&g, &labels, &opts(6, 2, 0), &Required::default());
    let count = |c: u16| s.iter().filter(|x| x.predicted == c).count();
    // Totals are levelled to 3 + 0, 0 + 4, 1 + 2; the last tie goes to the class
    // with the least certain cell (2, in the middle).
    assert_eq!((count(1), count(2), count(5)), (0, 4, 2), "{s:?}");
    let s = choose(&g, &[], &opts(3, 2, 0), &Required::default());
    assert_eq!(
        (count_of(&s, 1), count_of(&s, 2), count_of(&s, 5)),
        (1, 1, 1)
    );
}

#[test]
fn required_classes_get_a_place_even_when_well_labelled() {
    let g = grid(60, 40, |_, _| false);
    let labels: Vec<LabelledCell> = (0..5)
        .flat_map(|k| [(30, 2 + 8 * k, 2), (55, 2 + 8 * k, 5)])
        .map(|(col, row, class_id)| LabelledCell { col, row, class_id })
        .collect();
    let free = choose(&g, &labels, &opts(2, 2, 0), &Required::default());
    assert_eq!(count_of(&free, 1), 2, "{free:?}");
    let asked = choose(&g, &labels, &opts(2, 2, 0), &Required(vec![2, 5]));
    assert_eq!(
        (count_of(&asked, 2), count_of(&asked, 5)),
        (1, 1),
        "{asked:?}"
    );
}

fn count_of(s: &[Suggestion], c: u16) -> usize {
    s.iter().filter(|x| x.predicted == c).count()
}

#[test]
fn the_most_uncertain_cells_are_chosen_but_not_all_in_one_patch() {
    let g = grid(90, 30, |_, _| false);
    let s = choose(&g, &[], &opts(9, 2, 3), &Required::default());
    // The centre column holds the least certain cells of class 2 (the middle
    // third): its suggestions lie near it, and they are spread down the grid.
    let mid: Vec<&Suggestion> = s.iter().filter(|x| x.predicted == 2).collect();
    assert_eq!(mid.len(), 3);
    assert!(mid.iter().all(|x| x.col.abs_diff(45) <= 12), "{mid:?}");
    let rows: Vec<usize> = mid.iter().map(|x| x.row).collect();
    let spread = rows.iter().max().unwrap() - rows.iter().min().unwrap();
    assert!(spread >= 10, "rows {rows:?} bunch together");
}

#[test]
fn boundary_cells_are_left_while_whole_windows_of_one_class_remain() {
    // Two classes split at column 30; the model is least sure at the boundary.
    let (w, h) = (60, 20);
    let mut probabilities = Vec::new();
    let mut predicted = Vec::new();
    for _row in 0..h {
        for col in 0..w {
            let class = usize::from(col >= 30);
            let sure = 0.5 + 0.45 * (col as f32 - 29.5).abs() / 30.0;
            let mut p = [1.0 - sure; 2];
            p[class] = sure;
            probabilities.extend(p);
            predicted.push([3, 4][class]);
        }
    }
    let g = CellGrid {
        width: w,
        height: h,
        class_ids: vec![3, 4],
        probabilities,
        predicted,
    };
    let s = choose(&g, &[], &opts(6, 4, 0), &Required::default());
    assert_eq!(s.len(), 6);
    for x in &s {
        // Half the spacing (2 cells) of one class all around.
        assert!(x.col < 28 || x.col > 31, "{x:?} sits on the boundary");
    }
}

/// A 40 x 40 per-pixel map of class 3, sure of itself, except a 5 x 5 block of
/// class 4 in the top-left corner (sure) and isolated class-4 pixels every 4th
/// pixel of every 4th row elsewhere (unsure: 0.55 against 0.45), as a per-pixel
/// model gives a class it confuses with another.
fn speckled(w: usize) -> CellGrid {
    let (mut probabilities, mut predicted) = (Vec::new(), Vec::new());
    for row in 0..w {
        for col in 0..w {
            let block = row < 5 && col < 5;
            let speck = !block && row % 4 == 2 && col % 4 == 2;
            let (class, p) = match (block, speck) {
                (true, _) => (4, [0.02, 0.98]),
                (_, true) => (4, [0.45, 0.55]),
                _ => (3, [0.97, 0.03]),
            };
            predicted.push(class);
            probabilities.extend(p);
        }
    }
    CellGrid {
        width: w,
        height: w,
        class_ids: vec![3, 4],
        probabilities,
        predicted,
    }
}

#[test]
fn per_pixel_labels_may_go_where_a_class_is_scattered() {
    let g = speckled(40);
    let in_block = |x: &Suggestion| x.row < 5 && x.col < 5;
    let pick = |whole_windows| {
        let o = SelectOptions {
            whole_windows,
            ..opts(2, 2, 0)
        };
        let s = choose(&g, &[], &o, &Required(vec![4]));
        let of_4: Vec<Suggestion> = s.into_iter().filter(|x| x.predicted == 4).collect();
        assert_eq!(of_4.len(), 1, "{of_4:?}");
        of_4[0].clone()
    };
    // A tile classifier's label must describe its whole window: only the block's
    // interior qualifies while it has one.
    assert!(in_block(&pick(true)));
    // A per-pixel model's label describes its pixel: the scattered pixels, where
    // the model is unsure, are candidates too, and they are most of the class.
    let s = pick(false);
    assert!(!in_block(&s), "{s:?} is in the block");
    assert_eq!((s.row % 4, s.col % 4), (2, 2), "{s:?}");
}

#[test]
fn the_same_seed_gives_the_same_places() {
    let g = grid(50, 50, |c, r| (c + r) % 17 == 0);
    let a = choose(&g, &[], &opts(10, 2, 42), &Required::default());
    assert_eq!(a, choose(&g, &[], &opts(10, 2, 42), &Required::default()));
    assert_eq!(a.len(), 10);
}

#[test]
fn fewer_places_when_the_spacing_leaves_no_room() {
    let g = grid(10, 10, |_, _| false);
    let s = choose(&g, &[], &opts(50, 4, 0), &Required::default());
    assert!(!s.is_empty() && s.len() < 50, "{} places", s.len());
    let none = grid(10, 10, |_, _| true);
    assert!(choose(&none, &[], &opts(5, 1, 0), &Required::default()).is_empty());
}

#[test]
fn margin_is_top_two_difference() {
    assert_eq!(margin(&[0.1, 0.6, 0.3]), (0.3, 1));
    assert_eq!(margin(&[1.0]), (1.0, 0));
}
