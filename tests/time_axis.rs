//! A time axis says nothing about the records behind it: a category filter does not move
//! the first or last period (which would tell when the rarest records were made).

mod common;

use common::*;

#[test]
fn a_rare_categorys_axis_is_the_whole_layers() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    // Twelve ordinary reports, one a month in 2023, and one rare report in June.
    let mut csv = String::from("x;y;soort;datum\n");
    for m in 1..=12 {
        csv.push_str(&format!("186134;319251;gewoon;15-{m:02}-2023\n"));
    }
    csv.push_str("186134;319251;zeldzaam;15-06-2023\n");
    std::fs::write(dir.path().join("meldingen.csv"), csv).unwrap();
    let project = dir.path().join("p.toml");
    std::fs::write(
        &project,
        format!(
            "name = \"t\"\n[[levels]]\nid = \"buurten\"\npath = \"{gpkg}\"\nlayer = \"buurten\"\n\n\
             [[points]]\nid = \"meldingen\"\npath = \"meldingen.csv\"\ndate = \"datum\"\ncategory = \"soort\"\nmin_count = 3\n\n\
             [[indicators]]\nid = \"zeldzaam\"\ntitle = \"Zeldzaam\"\nnumerator = {{ points = \"meldingen\", categories = [\"zeldzaam\"] }}\nperiod = \"month\"\n\n\
             [[indicators]]\nid = \"alle\"\ntitle = \"Alle\"\nnumerator = {{ points = \"meldingen\" }}\nperiod = \"month\"\n",
            gpkg = data.join("demodorp.gpkg").display()
        ),
    )
    .unwrap();
    let snap = buurtmeter::snapshot::build(&buurtmeter::config::Project::load(&project).unwrap()).unwrap();
    let periods = |id: &str| snap.indicators.iter().find(|r| r.def.id == id).unwrap().per_level[0].periods.clone();
    assert_eq!(periods("alle").len(), 12);
    assert_eq!(periods("zeldzaam"), periods("alle"), "the rare category's axis is the layer's, not June alone");
}

/// A weighted sum says no more than the count of the same records: with every weight 1,
/// a protected layer's weighted indicator publishes exactly its count indicator's values,
/// withheld where the count is (by the published count, not the true one).
#[test]
fn a_weighted_sum_of_ones_publishes_what_the_count_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let data = demo_project().parent().unwrap().to_path_buf();
    // The demo's flood reports, each with weight 1.
    let text = std::fs::read_to_string(data.join("wateroverlast_demodorp.csv")).unwrap();
    let mut lines = text.lines();
    let mut csv = format!("{},gewicht\n", lines.next().unwrap());
    for l in lines {
        csv.push_str(&format!("{l},1\n"));
    }
    std::fs::write(dir.path().join("meldingen.csv"), csv).unwrap();
    let project = dir.path().join("p.toml");
    std::fs::write(
        &project,
        format!(
            "name = \"t\"\n[[levels]]\nid = \"buurten\"\npath = \"{gpkg}\"\nlayer = \"buurten\"\n[[levels]]\nid = \"wijken\"\npath = \"{gpkg}\"\nlayer = \"wijken\"\n\n\
             [[points]]\nid = \"meldingen\"\npath = \"meldingen.csv\"\nlon = \"lon\"\nlat = \"lat\"\ndate = \"melddatum\"\nweight = \"gewicht\"\nmin_count = 3\n\n\
             [[indicators]]\nid = \"aantal\"\ntitle = \"Aantal\"\nnumerator = {{ points = \"meldingen\" }}\nperiod = \"month\"\n\n\
             [[indicators]]\nid = \"som\"\ntitle = \"Som\"\nnumerator = {{ points = \"meldingen\", weighted = true }}\nperiod = \"month\"\n",
            gpkg = data.join("demodorp.gpkg").display()
        ),
    )
    .unwrap();
    let snap = buurtmeter::snapshot::build(&buurtmeter::config::Project::load(&project).unwrap()).unwrap();
    let values = |id: &str| snap.indicators.iter().find(|r| r.def.id == id).unwrap().per_level.clone();
    let (count, sum) = (values("aantal"), values("som"));
    let mut compared = 0;
    for (c, s) in count.iter().zip(&sum) {
        for k in 0..c.numerator.len() {
            let (cn, sn) = (c.numerator[k], s.numerator[k]);
            // Withheld sums: only where the published count is at most js + D (so that
            // whether a sum is shown says nothing the count does not).
            match (cn, sn) {
                (Some(a), Some(b)) => assert_eq!(a, b, "cell {k}: count {a}, weighted sum {b}"),
                // min_count 3: js = 2, D = 4; a sum is shown only where the count is 7 or more.
                (Some(a), None) => assert!(a <= 6.0, "cell {k}: the count {a} is shown, the sum of ones withheld ({:?})", s.suppressed[k]),
                (None, Some(b)) => panic!("cell {k}: a sum {b} where the count is withheld"),
                (None, _) => {}
            }
            compared += usize::from(cn.is_some() && sn.is_some());
        }
    }
    assert!(compared > 100, "{compared}");
}
