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
