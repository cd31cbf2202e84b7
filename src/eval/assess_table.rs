//! An [`Assessment`] as people read it: the confusion matrix and the scores, as
//! text (`geomaml assess`) and HTML (the QGIS provider's report).

use super::assess::Assessment;

impl Assessment {
    /// A readable report: confusion matrix and scores.
    pub fn table(&self) -> String {
        let names: Vec<String> = self.classes.iter().map(|c| format!("{}", c.id)).collect();
        let mut s = format!("map        {}\nreference  {}\n\n", self.map, self.reference);
        s += "confusion matrix (rows: reference, columns: map)\n";
        s += &format!("{:>22}", "");
        for n in &names {
            s += &format!("{n:>8}");
        }
        s += "\n";
        for (i, c) in self.classes.iter().enumerate() {
            s += &format!("{:>22}", format!("{} {}", c.id, truncate(&c.name, 18)));
            for v in &self.confusion.counts[i] {
                s += &format!("{v:>8}");
            }
            s += "\n";
        }
        s += &format!(
            "\n{:<22}{:>10}{:>10}{:>8}{:>8}{:>9}\n",
            "class", "producer's", "user's", "F1", "IoU", "support"
        );
        let pct = |v: Option<f64>| {
            v.map(|x| format!("{:.1}%", 100.0 * x))
                .unwrap_or_else(|| "-".into())
        };
        for (c, sc) in self.classes.iter().zip(&self.scores.per_class) {
            s += &format!(
                "{:<22}{:>10}{:>10}{:>8}{:>8}{:>9}\n",
                format!("{} {}", c.id, truncate(&c.name, 18)),
                pct(sc.producers_accuracy),
                pct(sc.users_accuracy),
                sc.f1
                    .map(|x| format!("{x:.3}"))
                    .unwrap_or_else(|| "-".into()),
                sc.iou
                    .map(|x| format!("{x:.3}"))
                    .unwrap_or_else(|| "-".into()),
                sc.support
            );
        }
        s += &format!(
            "\noverall accuracy {:.1}%   kappa {:.3}   mIoU {:.3}   ({} samples; {} skipped as nodata, {} outside the overlap)\n",
            100.0 * self.scores.overall_accuracy,
            self.scores.kappa,
            self.scores.mean_iou,
            self.scores.samples,
            self.skipped_nodata,
            self.outside_overlap
        );
        if !self.reference_only.is_empty() {
            s += &format!(
                "warning: the map has no class for reference classes {}: its samples count as \
                 errors (if the map names them otherwise, pass --class-map)\n",
                self.reference_only
                    .iter()
                    .map(|c| format!("{} ({})", c.name, c.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        s
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
