//! What each subcommand does: glue between the CLI, the pipeline and the writers.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::api::{self, AppState};
use crate::cli::{Cli, Command, ComputeArgs, CountArgs, ExportArgs, InitArgs, ProjectArgs, ServeArgs};
use crate::config::Project;
use crate::error::{Error, Result};
use crate::export::ExportError;
use crate::index::AreaIndex;
use crate::ingest::{self, Coords, PointSource, vector};
use crate::model::Accounting;
use crate::snapshot::{self, Snapshot, timed};
use crate::{crs, demo, export, join};

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Count(a) => count(*a),
        Command::Compute(a) => compute(a),
        Command::Check(a) => check(a),
        Command::Serve(a) => serve(a),
        Command::Export(a) => export_cmd(a),
        Command::Crosswalk(a) => crosswalk(*a),
        Command::Report(a) => report(a),
        Command::Init(a) => init_cmd(a),
        Command::Publish(a) => crate::publish::run(a),
    }
}

fn init_cmd(a: InitArgs) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| {
        let first = a.gemeenten.first().and_then(|g| crate::init::gemeente_code(g)).unwrap_or_else(|| "project".into());
        PathBuf::from(format!("buurtmeter-{first}"))
    });
    crate::init::run(&crate::init::Request { gemeenten: a.gemeenten, year: a.year, out, refresh: a.refresh })?;
    Ok(())
}

/// The accounting as JSON: `rows = joined + outside + rejected`.
pub fn accounting_json(a: &Accounting) -> Value {
    let by_reason: serde_json::Map<String, Value> = a.rejected.iter().map(|(r, n)| (r.key().to_string(), json!(n))).collect();
    let examples: Vec<Value> = a
        .examples
        .iter()
        .map(|e| json!({"row": e.row, "reason": e.reason.key(), "explanation": e.reason.describe(), "detail": e.detail}))
        .collect();
    let partly: serde_json::Map<String, Value> = a.field_issues.iter().map(|(r, n)| (r.key().to_string(), json!(n))).collect();
    let partly_examples: Vec<Value> = a
        .field_examples
        .iter()
        .map(|(row, issue, detail)| json!({"row": row, "reason": issue.key(), "explanation": issue.describe(), "detail": detail}))
        .collect();
    json!({
        "rows": a.rows,
        "joined": a.joined,
        "outside": a.outside,
        "outside_region": a.outside_region,
        "outside_all_areas": a.outside - a.outside_region,
        "rejected": a.rejected_total(),
        "rejected_by_reason": by_reason,
        "rejected_examples": examples,
        "partly_used_by_reason": partly,
        "partly_used_examples": partly_examples,
        "not_records": a.not_records,
        "warnings": a.warnings,
        "notes": a.notes,
        "duplicate_rows": a.duplicate_rows,
    })
}

/// One line for people: "1,234 rows: 1,200 joined, 30 outside all areas, 4 rejected (...)".
pub fn accounting_line(a: &Accounting) -> String {
    let outside = if a.outside_region > 0 {
        format!("{} outside the project's region, {} outside all areas", a.outside_region, a.outside - a.outside_region)
    } else {
        format!("{} outside all areas", a.outside)
    };
    let mut s = format!("{} rows: {} joined, {outside}, {} rejected", a.rows, a.joined, a.rejected_total());
    if !a.rejected.is_empty() {
        let parts: Vec<String> = a.rejected.iter().map(|(r, n)| format!("{n} {}", r.key())).collect();
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    s
}

fn print_rejections(a: &Accounting) {
    for n in &a.notes {
        eprintln!("  {n}");
    }
    for e in &a.examples {
        eprintln!("  rejected {}: {} — {}", e.detail, e.reason.key(), e.reason.describe());
    }
    for (issue, n) in &a.field_issues {
        eprintln!("  partly used: {n} rows {} — {}", issue.key(), issue.describe());
    }
    for (_, issue, detail) in &a.field_examples {
        eprintln!("    {detail}: {}", issue.key());
    }
}

fn count(a: CountArgs) -> Result<()> {
    let area_src = vector::AreaSource {
        path: a.areas.clone(),
        layer: a.areas_layer.clone(),
        id_field: a.id_field.clone(),
        name_field: None,
        level_hint: None,
    };
    // Work in the areas' own CRS (any CRS works for point-in-polygon); RD New if none.
    let mut timings = Vec::new();
    let read = timed(&mut timings, "read areas", || vector::read_areas(&area_src, None))?;
    let working = crs::spatial_ref(&read.working_wkt).map_err(crate::ingest::IngestError::crs(&a.areas))?;
    for w in &read.warnings {
        eprintln!("warning: {w}");
    }
    let coords = Coords::from_columns(&a.x, &a.y, &a.lon, &a.lat, &a.geometry, &a.crs);
    let source = PointSource {
        path: a.points.clone(),
        layer: a.points_layer.clone(),
        coords,
        weight: a.weight.clone(),
        header_row: a.header_row,
        hand_back: a.rejected.is_some(),
        addresses: a.addresses.clone().map(|path| ingest::AddressSource { path, layer: a.addresses_layer.clone() }),
        ..Default::default()
    };
    let mut layer = timed(&mut timings, "read points", || ingest::read_points(&source, &working, "points"))?;
    let index = timed(&mut timings, "index areas", || AreaIndex::build(read.areas.iter().map(|x| &x.geometry)));
    let (assigned, overlaps) = timed(&mut timings, "join", || join::locate_all_checked(&index, &layer.xs, &layer.ys));
    if let Some(w) = join::overlap_warning(&overlaps, &read.areas, &a.areas) {
        layer.accounting.warnings.push(w);
    }
    let (counts, sums) = join::count_per_area(&assigned, layer.weights.as_deref(), read.areas.len());
    layer.accounting.joined = counts.iter().sum();
    layer.accounting.outside = layer.len() as u64 - layer.accounting.joined;
    let acc = &layer.accounting;
    debug_assert!(acc.balances());

    let level = crate::model::Level {
        id: "areas".into(),
        title: "areas".into(),
        cbs_kind: None,
        by_code: Default::default(),
        parent: None,
        parent_area: Vec::new(),
        stats: Default::default(),
        areas: read.areas,
        groups: None,
        grid: None,
    };
    let sums_opt = a.weight.as_ref().map(|_| sums.as_slice());
    match &a.out {
        Some(p) => {
            let mut f = std::fs::File::create(p).map_err(ExportError::write(p))?;
            export::write_counts(&mut f, &level, &counts, sums_opt).map_err(ExportError::write(p))?;
        }
        None => {
            export::write_counts(&mut std::io::stdout().lock(), &level, &counts, sums_opt).map_err(ExportError::write("standard output"))?
        }
    }
    eprintln!("{}: {}", a.points.display(), accounting_line(acc));
    print_rejections(acc);
    if let (Some(p), Some(h)) = (&a.rejected, &acc.handback) {
        export::write_hand_back(p, h).map_err(ExportError::write(p))?;
        eprintln!("  {} rejected or partly used rows written to {}", h.rows.len(), p.display());
    }
    for w in &acc.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(p) = &a.summary {
        let mut v = accounting_json(acc);
        v["points"] = json!(a.points.display().to_string());
        v["areas"] = json!(a.areas.display().to_string());
        v["areas_layer"] = json!(read.layer);
        v["id_field"] = json!(read.id_field);
        v["n_areas"] = json!(level.areas.len());
        v["area_warnings"] = json!(read.warnings);
        write_json(p, &v)?;
    }
    Ok(())
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| ExportError::write(path)(e.into()))?;
    Ok(std::fs::write(path, text + "\n").map_err(ExportError::write(path))?)
}

/// The project file: the one given, or the built-in demo project.
pub fn load_project(args: &ProjectArgs) -> Result<Project> {
    let path: PathBuf = match &args.project {
        Some(p) => p.clone(),
        None => demo::extract()?,
    };
    crate::init::load_project(&path)
}

/// The report of a snapshot: accounting per point layer, warnings, timings.
pub fn snapshot_report(snap: &Snapshot) -> Value {
    let layers: Vec<Value> = snap
        .points
        .iter()
        .map(|p| {
            let mut v = accounting_json(&p.layer.accounting);
            v["id"] = json!(p.layer.id);
            v["source"] = json!(p.source.display().to_string());
            v["per_level"] = per_level_json(snap, p);
            v
        })
        .collect();
    let levels: Vec<Value> =
        snap.levels.iter().map(|l| json!({"id": l.id, "areas": l.areas.len(), "parent": l.parent.map(|p| &snap.levels[p].id)})).collect();
    json!({
        "project": snap.name,
        "project_file": snap.project_file.display().to_string(),
        "data_version": snap.version,
        "crs": snap.working_crs,
        "levels": levels,
        "points": layers,
        "warnings": snap.warnings,
        "timings_s": snap.timings.iter().map(|(k, v)| json!({"stage": k, "seconds": v})).collect::<Vec<_>>(),
    })
}

/// Per level: the points in one of its areas and those outside all of them.
fn per_level_json(snap: &Snapshot, p: &crate::snapshot::JoinedLayer) -> Value {
    let points = p.layer.records();
    snap.levels.iter().zip(&p.joined_per_level).map(|(l, &j)| json!({"level": l.id, "joined": j, "outside": points - j})).collect()
}

fn print_check(snap: &Snapshot) {
    eprintln!("project: {} ({})", snap.name, snap.project_file.display());
    eprintln!("working CRS: {}", snap.working_crs);
    for l in &snap.levels {
        let parent = l.parent.map(|p| format!(", in {}", snap.levels[p].id)).unwrap_or_default();
        eprintln!("level {}: {} areas, {} statistics{parent}", l.id, l.areas.len(), l.stats.columns.len());
    }
    for p in &snap.points {
        eprintln!("points {} ({}): {}", p.layer.id, p.source.display(), accounting_line(&p.layer.accounting));
        let per_level: Vec<String> = snap.levels.iter().zip(&p.joined_per_level).map(|(l, j)| format!("{j} in {}", l.id)).collect();
        eprintln!("  per level: {}", per_level.join(", "));
        print_rejections(&p.layer.accounting);
    }
    for i in &snap.indicators {
        let periods = i.per_level.first().map(|v| v.periods.len()).unwrap_or(0);
        let periods = if periods == 1 { "1 period".to_string() } else { format!("{periods} periods") };
        eprintln!("indicator {}: {} — {} ({periods})", i.def.id, i.def.title, i.def.definition());
    }
    if snap.warnings.is_empty() {
        eprintln!("no warnings");
    }
    for w in &snap.warnings {
        eprintln!("warning: {w}");
    }
}

fn check(a: ProjectArgs) -> Result<()> {
    let project = load_project(&a)?;
    let snap = snapshot::build(&project)?;
    print_check(&snap);
    Ok(())
}

fn compute(a: ComputeArgs) -> Result<()> {
    let project = load_project(&a.project)?;
    let snap = snapshot::build(&project)?;
    print_check(&snap);
    std::fs::create_dir_all(&a.out).map_err(ExportError::write(&a.out))?;
    let mut written = Vec::new();
    for (li, level) in snap.levels.iter().enumerate() {
        let path = a.out.join(format!("indicators_{}.csv", level.id));
        let mut f = std::fs::File::create(&path).map_err(ExportError::write(&path))?;
        export::write_indicator_csv(&mut f, &snap, li).map_err(ExportError::write(&path))?;
        written.push(path);
    }
    let gpkg = a.out.join("buurtmeter.gpkg");
    export::gpkg::write_snapshot(&gpkg, &snap)?;
    written.push(gpkg);
    let summary = a.out.join("summary.json");
    write_json(&summary, &snapshot_report(&snap))?;
    written.push(summary);
    for p in written {
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn serve(a: ServeArgs) -> Result<()> {
    let project = load_project(&a.project)?;
    let (api_key_hashes, exact_keys) = api::load_api_key_hashes()?;
    let snap = snapshot::build(&project)?;
    print_check(&snap);
    if snap.points.iter().any(|p| p.access == crate::config::Access::Restricted) && api_key_hashes.is_empty() {
        eprintln!("warning: the project has restricted layers but no API keys are set (BUURTMETER_API_KEYS_FILE): nobody can see them");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Error::Server)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.bind)
            .await
            .map_err(|e| Error::Usage(format!("cannot listen on {}: {e} (choose another with --bind)", a.bind)))?;
        let addr = listener.local_addr().map_err(Error::Server)?;
        let shown = if addr.ip().is_unspecified() { format!("127.0.0.1:{}", addr.port()) } else { addr.to_string() };
        let base = a.public_url.clone().map(|u| u.trim_end_matches('/').to_string()).unwrap_or_else(|| format!("http://{shown}"));
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "\nbuurtmeter is serving '{}' (data version {})", snap.name, snap.version);
        let _ = writeln!(out, "  web map:       {base}/");
        let _ = writeln!(out, "  OGC API:       {base}/ogc   (QGIS: Add WFS / OGC API - Features layer with this URL)");
        let _ = writeln!(out, "  vector tiles (QGIS: Add Vector Tiles layer, XYZ, max zoom {}):", crate::tiles::grid::MAX_ZOOM);
        for t in &snap.tiles.tilesets {
            let _ = writeln!(out, "    {}", api::tiles::xyz_template(&base, &t.id, &snap.version));
        }
        let _ = writeln!(out, "  styles:        {base}/styles");
        let _ = writeln!(out, "  indicators:    {base}/indicators");
        let _ = writeln!(out, "  health:        {base}/health   metrics: {base}/metrics");
        let _ = writeln!(out, "press Ctrl-C to stop");
        drop(out);
        let options = api::ServerOptions {
            public_url: a.public_url.clone(),
            tile_cache_bytes: a.tile_cache_mb << 20,
            api_key_hashes,
            trust_forwarded_headers: a.trust_forwarded_headers,
            exact_keys,
        };
        let admin = std::env::var("BUURTMETER_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()).map(|t| api::reload::sha256_hex(&t));
        let mut analysis = api::AnalysisOptions::default();
        if let Some(n) = a.analysis_workers {
            analysis.workers = n;
        }
        let state = AppState::with_options(snap, options)
            .with_analysis(analysis)
            .with_reloader(api::reload::Reloader::new(project.file.clone(), admin));
        if a.watch_seconds > 0.0 {
            tokio::spawn(api::reload::watch(state.clone(), std::time::Duration::from_secs_f64(a.watch_seconds)));
        }
        tokio::spawn(api::reload::on_sighup(state.clone()));
        api::serve(state, listener).await.map_err(Error::Server)?;
        Ok(())
    })
}

fn export_cmd(a: ExportArgs) -> Result<()> {
    if a.gpkg.is_none() && a.csv.is_none() && a.geojson.is_none() && a.fgb.is_none() && a.styles.is_none() {
        return Err(Error::Usage("say what to write: --gpkg FILE, --csv DIR, --geojson DIR, --fgb DIR and/or --styles DIR".into()));
    }
    let project = load_project(&a.project)?;
    let mut snap = snapshot::build(&project)?;
    for w in &snap.warnings {
        eprintln!("warning: {w}");
    }
    // Files travel: restricted indicators stay out unless asked for by name of the flag.
    let restricted: Vec<String> = snap.indicators.iter().filter(|i| i.restricted).map(|i| i.def.id.clone()).collect();
    if !restricted.is_empty() && !a.include_restricted {
        snap.indicators.retain(|i| !i.restricted);
        eprintln!("left out (restricted layers; --include-restricted writes them): {}", restricted.join(", "));
    }
    if let Some(p) = &a.gpkg {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(ExportError::write(dir))?;
        }
        export::gpkg::write_snapshot(p, &snap)?;
        eprintln!("wrote {} ({} levels, QGIS styles in layer_styles)", p.display(), snap.levels.len());
    }
    if let Some(dir) = &a.csv {
        std::fs::create_dir_all(dir).map_err(ExportError::write(dir))?;
        for (li, level) in snap.levels.iter().enumerate() {
            let path = dir.join(format!("indicators_{}.csv", level.id));
            let mut buf = Vec::new();
            export::write_indicator_csv(&mut buf, &snap, li).map_err(ExportError::write(&path))?;
            if a.excel_nl {
                buf = export::csv_out::to_dutch_excel(&buf);
            }
            std::fs::write(&path, buf).map_err(ExportError::write(&path))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if let Some(dir) = &a.geojson {
        std::fs::create_dir_all(dir).map_err(ExportError::write(dir))?;
        for li in 0..snap.levels.len() {
            let path = dir.join(format!("{}.geojson", snap.levels[li].id));
            std::fs::write(&path, export::geojson_out::level_collection(&snap, li).to_string()).map_err(ExportError::write(&path))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if let Some(dir) = &a.fgb {
        std::fs::create_dir_all(dir).map_err(ExportError::write(dir))?;
        for li in 0..snap.levels.len() {
            let path = dir.join(format!("{}.fgb", snap.levels[li].id));
            let file = std::fs::File::create(&path).map_err(ExportError::write(&path))?;
            let mut out = std::io::BufWriter::new(file);
            export::fgb::write_level_fgb(&snap, li, a.include_restricted, &mut out).map_err(|e| match e {
                ExportError::Write { source, .. } => ExportError::Write { path: path.clone(), source },
                other => other,
            })?;
            out.flush().map_err(ExportError::write(&path))?;
            eprintln!("wrote {} ({} areas)", path.display(), snap.levels[li].areas.len());
        }
    }
    if let Some(dir) = &a.styles {
        std::fs::create_dir_all(dir).map_err(ExportError::write(dir))?;
        for ind in &snap.indicators {
            let json_path = dir.join(format!("{}.json", ind.def.id));
            let style = export::styles::maplibre_style(&snap, ind, a.base_url.trim_end_matches('/'));
            let text = serde_json::to_string_pretty(&style).map_err(|e| ExportError::write(&json_path)(e.into()))?;
            std::fs::write(&json_path, text + "\n").map_err(ExportError::write(&json_path))?;
            let qml_path = dir.join(format!("{}.qml", ind.def.id));
            std::fs::write(&qml_path, export::styles::qml_style(ind, 0)).map_err(ExportError::write(&qml_path))?;
            eprintln!("wrote {} and {}", json_path.display(), qml_path.display());
        }
    }
    Ok(())
}

fn crosswalk(a: crate::cli::CrosswalkArgs) -> Result<()> {
    use crate::crosswalk::{self, WeightPoints};
    let source = |path: &Path, layer: &Option<String>, id: &Option<String>| vector::AreaSource {
        path: path.to_path_buf(),
        layer: layer.clone(),
        id_field: id.clone(),
        name_field: None,
        level_hint: None,
    };
    let mut timings = Vec::new();
    let mut new = timed(&mut timings, "read new areas", || vector::read_areas(&source(&a.to, &a.to_layer, &a.to_id), None))?;
    let working = crs::spatial_ref(&new.working_wkt).map_err(crate::ingest::IngestError::crs(&a.to))?;
    let old = timed(&mut timings, "read old areas", || vector::read_areas(&source(&a.from, &a.from_layer, &a.from_id), Some(&working)))?;
    for w in new.warnings.iter().chain(&old.warnings) {
        eprintln!("warning: {w}");
    }
    if !a.to_within.is_empty() {
        new.areas.retain(|x| crate::region::code_in(&x.code, &a.to_within));
        if new.areas.is_empty() {
            return Err(Error::Usage(format!("--to-within {}: no area of {} has such a code", a.to_within.join(","), a.to.display())));
        }
    }
    let keep = crosswalk::old_areas_within(&old.areas, &new.areas);
    let old_areas: Vec<crate::model::Area> = keep.iter().map(|&i| old.areas[i].clone()).collect();
    let weights = weighting_points(&a, &working, &mut timings)?;
    let points = weights.as_ref().map(|l| WeightPoints { xs: &l.xs, ys: &l.ys, weights: l.weights.as_deref().unwrap_or(&[]) });
    let cw = timed(&mut timings, "crosswalk", || crosswalk::build(&old_areas, &new.areas, points.as_ref()));
    let mut f = std::fs::File::create(&a.out).map_err(ExportError::write(&a.out))?;
    export::csv_out::write_crosswalk(&mut f, &cw, &old_areas, &new.areas).map_err(ExportError::write(&a.out))?;
    let count = |m: crosswalk::Method| cw.method.iter().filter(|x| **x == m).count();
    eprintln!(
        "{} old areas → {} new areas: {} unchanged, {} weighted by points, {} by area; wrote {}",
        old_areas.len(),
        new.areas.len(),
        count(crosswalk::Method::Unchanged),
        count(crosswalk::Method::Points),
        count(crosswalk::Method::Area),
        a.out.display()
    );
    let outside: Vec<String> = (0..old_areas.len())
        .filter(|&i| cw.uncovered[i] > 0.01)
        .map(|i| format!("{} ({:.0} %)", old_areas[i].code, cw.uncovered[i] * 100.0))
        .collect();
    if !outside.is_empty() {
        eprintln!(
            "warning: {} old areas lie partly outside the new areas ({}): {}{}; all of their counts go to the part inside",
            outside.len(),
            if points.is_some() { "by their weighting points, or by area where they have none" } else { "by area" },
            outside[..outside.len().min(10)].join(", "),
            if outside.len() > 10 { ", ..." } else { "" }
        );
    }
    if let Some(path) = &a.converted {
        write_converted_values(&a, path, &old.attributes, &keep, &cw, &new.areas)?;
    }
    Ok(())
}

/// `crosswalk --weights FILE --weight FIELD`: the weighting points, with every row that
/// is no point named.
fn weighting_points(
    a: &crate::cli::CrosswalkArgs,
    working: &crs::SpatialRef,
    timings: &mut Vec<(String, f64)>,
) -> Result<Option<crate::model::PointLayer>> {
    let (Some(path), Some(field)) = (&a.weights, &a.weight) else { return Ok(None) };
    let src = PointSource { path: path.clone(), layer: a.weights_layer.clone(), weight: Some(field.clone()), ..Default::default() };
    let layer = timed(timings, "read weighting points", || ingest::read_points(&src, working, "weights"))?;
    let weighted = layer.weights.as_ref().map_or(0, |w| w.iter().filter(|x| **x > 0.0).count());
    let acc = &layer.accounting;
    eprintln!(
        "{}: {} rows, {} points ({weighted} with a weight), {} rejected",
        path.display(),
        acc.rows,
        layer.len(),
        acc.rejected_total()
    );
    // Rows that are no point are named, as `count` does: nothing is lost without a word.
    print_rejections(acc);
    for w in &acc.warnings {
        eprintln!("warning: {w}");
    }
    Ok(Some(layer))
}

/// `crosswalk --converted FILE --values …`: the old areas' values on the new areas.
fn write_converted_values(
    a: &crate::cli::CrosswalkArgs,
    path: &Path,
    old: &crate::model::StatColumns,
    keep: &[usize],
    cw: &crate::crosswalk::Crosswalk,
    new: &[crate::model::Area],
) -> Result<()> {
    let mut converted = Vec::new();
    for field in &a.values {
        let Some((name, values)) = crate::indicators::stats::find_column(old, field) else {
            let known: Vec<&str> = old.columns.keys().map(String::as_str).collect();
            let message = format!("no numeric field '{field}'; the numeric fields are: {}", known.join(", "));
            return Err(crate::ingest::IngestError::input(&a.from, message).into());
        };
        let values: Vec<Option<f64>> = keep.iter().map(|&i| values[i]).collect();
        converted.push((name.to_string(), crate::crosswalk::convert(cw, &values, new.len())));
    }
    let mut f = std::fs::File::create(path).map_err(ExportError::write(path))?;
    export::csv_out::write_converted(&mut f, new, &converted).map_err(ExportError::write(path))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Chromium's path: BUURTMETER_CHROMIUM, else the usual names on the PATH.
fn chromium() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("BUURTMETER_CHROMIUM") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        if let Some(p) = std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()) {
            return Ok(p);
        }
    }
    Err(Error::Usage(
        "printing a profile to PDF needs Chromium: install it (Debian/Ubuntu: sudo apt-get install chromium) or set BUURTMETER_CHROMIUM to its path; the same page is at /areas/{level}/{code} of `buurtmeter serve` to print from any browser".into(),
    ))
}

fn report(a: crate::cli::ReportArgs) -> Result<()> {
    let browser = chromium()?;
    let project = load_project(&a.project)?;
    let snap = snapshot::build(&project)?;
    let li = snap
        .level_index(&a.level)
        .or_else(|| {
            snap.levels.iter().position(|l| l.cbs_kind.is_some_and(|k| k.plural().trim_end_matches('n') == a.level.trim_end_matches('n')))
        })
        .ok_or_else(|| {
            let ids: Vec<&str> = snap.levels.iter().map(|l| l.id.as_str()).collect();
            Error::Usage(format!("--level {}: the levels are {}", a.level, ids.join(", ")))
        })?;
    let level = &snap.levels[li];
    let areas: Vec<(String, PathBuf)> = match &a.area {
        Some(code) => {
            if !level.by_code.contains_key(code.trim()) {
                return Err(Error::Usage(format!("--area {code}: no such area in level '{}'", level.id)));
            }
            vec![(code.trim().to_string(), a.out.clone())]
        }
        None => {
            std::fs::create_dir_all(&a.out).map_err(ExportError::write(&a.out))?;
            level.areas.iter().map(|x| (x.code.clone(), a.out.join(format!("profiel_{}_{}.pdf", level.id, x.code)))).collect()
        }
    };
    let level_id = level.id.clone();
    let period = a.period.clone();
    let lang = a.lang.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Error::Server)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(Error::Server)?;
        let addr = listener.local_addr().map_err(Error::Server)?;
        let state = AppState::new(snap);
        let server = tokio::spawn(api::serve(state, listener));
        let progress = ingest::Progress::items(areas.len() as u64, "printing profiles");
        for (i, (code, out)) in areas.iter().enumerate() {
            let query = period.as_deref().map(|p| format!("&period={p}")).unwrap_or_default();
            // The language always given: Chromium's own Accept-Language is its locale's.
            let url = format!("http://{addr}/areas/{level_id}/{code}?f=html&lang={lang}{query}");
            let (b, target, u) = (browser.clone(), out.clone(), url.clone());
            let status = tokio::task::spawn_blocking(move || {
                std::process::Command::new(&b)
                    .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
                    .arg("--no-pdf-header-footer")
                    .arg("--virtual-time-budget=5000")
                    .arg(format!("--print-to-pdf={}", target.display()))
                    .arg(&u)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
            })
            .await
            .map_err(|e| Error::Program { program: browser.clone(), message: format!("was interrupted while printing {url}: {e}") })?
            .map_err(|e| Error::Program { program: browser.clone(), message: format!("cannot be run: {e}") })?;
            if !status.success() || !out.exists() {
                return Err(Error::Program { program: browser.clone(), message: format!("did not print {url} to {}", out.display()) });
            }
            progress.set(i as u64 + 1);
            if areas.len() == 1 {
                eprintln!("wrote {}", out.display());
            }
        }
        progress.finish();
        if areas.len() > 1 {
            eprintln!("wrote {} profiles into {}", areas.len(), a.out.display());
        }
        server.abort();
        Ok(())
    })
}
