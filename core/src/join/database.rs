//! The join pushed down into PostGIS (`join = "database"` on a `PG:` point layer).
//!
//! buurtmeter keeps the areas, the protection and everything after the join; the database
//! does only the part that grows with the points. The project's areas go into a table of
//! that database (`buurtmeter_areas_<content hash>`, made once per set of areas, cut into
//! pieces of at most 64 vertices with `ST_Subdivide`, with a GiST index; a Citus reference
//! table when Citus is there), and one aggregation query comes back with a small table:
//!
//! - **groups**: per area the point was looked up in (the finest level, and a coarser one
//!   only for points its child level has no area for, as the in-process join does), date,
//!   category and usable weight: the number of records, the weight sum, the largest
//!   |weight| and the sum of the cell-key record keys modulo 2⁶⁴, computed in SQL with the
//!   same keyed hash as in Rust ([`crate::indicators::ckm::record_key_sql`]);
//! - **raw points**: the few points the database cannot decide with certainty the way
//!   buurtmeter decides (within 1 µm of an area's edge, in two areas at once, in an area
//!   whose parents are found by polygon, or in no area but near the edge of one around
//!   the region): their coordinates, which buurtmeter joins itself with the exact
//!   predicate of [`crate::index`]. So the tie rules (a point on a shared edge in exactly
//!   one area, overlapping areas: the first) are the in-process ones, not PostGIS's
//!   floating-point ones;
//! - **rejected rows** by reason (no geometry, empty, not a point).
//!
//! Every group is a row of a [`PointLayer`] with [`Groups`]: the indicators count its
//! records and add its keys as if they were points (`indicators::eval`), so roll-up,
//! protection, rates, trends and hot spots are unchanged. Only what needs each point's
//! position is not there: the layer has no point tiles.
//!
//! The SQL uses what Citus distributes: the points table joined to a reference table,
//! and count / sum / max, which combine across shards. GDAL's PostgreSQL driver carries
//! the connection (libpq: `PGPASSWORD`, `~/.pgpass`, `PGSERVICE`, `sslmode`, …).

use std::fmt::Write as _;

use gdal::vector::{FieldValue, LayerAccess, ToGdal};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};

use super::NONE;
use crate::index::AreaIndex;
use crate::model::{Accounting, CategoryIndex, Date, Groups, Level, PointLayer, RejectReason};

/// What went wrong, in the user's terms: which database, what to do.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct DatabaseError {
    /// The connection string (never holds a password: the project refuses one) and table.
    pub what: String,
    pub message: String,
}

type Result<T, E = DatabaseError> = std::result::Result<T, E>;

/// A point layer in a database: the connection, the table or query, the columns.
#[derive(Debug, Clone)]
pub struct DatabaseSource {
    /// `PG:host=… dbname=…`
    pub conninfo: String,
    /// `schema.table` or `table`
    pub table: Option<String>,
    pub sql: Option<String>,
    pub date: Option<String>,
    pub category: Option<String>,
    pub weight: Option<String>,
    pub id_column: Option<String>,
    /// The layer id: part of every record key.
    pub layer_id: String,
    /// The project's time zone, for timestamps with a zone.
    pub timezone: String,
}

impl DatabaseSource {
    fn what(&self) -> String {
        match (&self.table, &self.sql) {
            (Some(t), _) => format!("{}, table {t}", self.conninfo),
            _ => format!("{}, query", self.conninfo),
        }
    }

    fn err(&self, message: impl Into<String>) -> DatabaseError {
        DatabaseError { what: self.what(), message: message.into() }
    }

    /// The rows as a FROM item.
    fn rows_sql(&self) -> String {
        match (&self.table, &self.sql) {
            (Some(t), _) => format!("{} AS src", quote_table(t)),
            (None, Some(q)) => format!("({}) AS src", q.trim().trim_end_matches(';')),
            (None, None) => "(SELECT NULL::geometry AS geom WHERE false) AS src".into(),
        }
    }
}

/// `schema.table` as quoted identifiers (a name from the project file never becomes SQL).
pub fn quote_table(t: &str) -> String {
    t.split('.').map(quote_ident).collect::<Vec<_>>().join(".")
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Open a connection. Errors say what the user can do.
pub fn connect(conninfo: &str) -> Result<Dataset> {
    let options = DatasetOptions { open_flags: GdalOpenFlags::GDAL_OF_VECTOR, ..Default::default() };
    Dataset::open_ex(conninfo, options).map_err(|e| DatabaseError { what: conninfo.to_string(), message: explain(&e.to_string()) })
}

/// A PostgreSQL message in the user's terms (the message itself follows).
pub fn explain(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    let hint = if m.contains("password authentication failed") || m.contains("no password supplied") || m.contains("authentication failed")
    {
        "the database refused the login: check the user in the connection string and the password in PGPASSWORD or ~/.pgpass"
    } else if m.contains("could not connect")
        || m.contains("connection refused")
        || m.contains("could not translate host name")
        || m.contains("timeout expired")
    {
        "cannot reach the database server: is it running, are host and port right, and may this machine connect?"
    } else if m.contains("database") && m.contains("does not exist") {
        "no such database on the server: check dbname in the connection string"
    } else if m.contains("type \"geometry\" does not exist") || (m.contains("function st_") && m.contains("does not exist")) {
        "PostGIS is not installed in this database: run CREATE EXTENSION postgis (as its owner)"
    } else if m.contains("relation") && m.contains("does not exist") {
        "no such table (or no right to see it): check layer = \"schema.table\""
    } else if m.contains("column") && m.contains("does not exist") {
        "a column named in the project is not in the table or query"
    } else if m.contains("statement timeout") {
        "the query ran longer than the statement timeout; raise it (options='-c statement_timeout=10min' in the connection string) or narrow the query"
    } else if m.contains("permission denied") {
        "the database user may not do this: it needs SELECT on the points and CREATE in its schema (for the areas table)"
    } else {
        "the database said"
    };
    format!("{hint} ({})", message.trim().replace('\n', " "))
}

fn exec(ds: &Dataset, src: &DatabaseSource, sql: &str) -> Result<()> {
    ds.execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT).map(|_| ()).map_err(|e| src.err(explain(&e.to_string())))
}

/// Rows of a query, each as its fields.
fn query(ds: &Dataset, src: &DatabaseSource, sql: &str) -> Result<Vec<Vec<Option<FieldValue>>>> {
    let rs = ds.execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT).map_err(|e| src.err(explain(&e.to_string())))?;
    let Some(mut rs) = rs else { return Ok(Vec::new()) };
    let n = rs.defn().fields().count();
    let mut out = Vec::new();
    for f in rs.features() {
        out.push((0..n).map(|i| f.field(i).ok().flatten()).collect());
    }
    Ok(out)
}

fn text(v: &Option<FieldValue>) -> Option<String> {
    match v.as_ref()? {
        FieldValue::StringValue(s) => Some(s.clone()),
        FieldValue::IntegerValue(i) => Some(i.to_string()),
        FieldValue::Integer64Value(i) => Some(i.to_string()),
        FieldValue::RealValue(r) => Some(r.to_string()),
        _ => None,
    }
}

fn int(v: &Option<FieldValue>) -> Option<i64> {
    match v.as_ref()? {
        FieldValue::IntegerValue(i) => Some(i64::from(*i)),
        FieldValue::Integer64Value(i) => Some(*i),
        FieldValue::RealValue(r) => Some(*r as i64),
        FieldValue::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn real(v: &Option<FieldValue>) -> Option<f64> {
    match v.as_ref()? {
        FieldValue::IntegerValue(i) => Some(f64::from(*i)),
        FieldValue::Integer64Value(i) => Some(*i as f64),
        FieldValue::RealValue(r) => Some(*r),
        FieldValue::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The content version of a database layer: for a table, its row count and the newest
/// transaction that wrote a row (`xmin`: an insert or update moves it, a delete the
/// count); for a query, its row count and a hash of every row. Equal content (a reload
/// that changed nothing) gives the same version.
pub fn content_version(src: &DatabaseSource) -> Result<String> {
    let ds = connect(&src.conninfo)?;
    let sql = match &src.table {
        Some(t) => format!("SELECT count(*)::text || ':' || coalesce(max(xmin::text::bigint), 0)::text AS v FROM {}", quote_table(t)),
        None => {
            format!("SELECT count(*)::text || ':' || coalesce(sum(hashtext(src::text)::bigint), 0)::text AS v FROM {}", src.rows_sql())
        }
    };
    let rows = query(&ds, src, &sql)?;
    Ok(rows.first().and_then(|r| text(&r[0])).unwrap_or_default())
}

/// A cheap sign that a database layer may have changed, for the file watcher's poll:
/// PostgreSQL's own counts of rows inserted, updated and deleted (of the table, or for a
/// query of every table of the database), from its statistics, without reading a row.
/// When it moves, the server rebuilds and [`content_version`] decides the data version.
/// (PostgreSQL publishes these counts when a writing session ends or idles a moment.)
pub fn change_counter(src: &DatabaseSource) -> Result<String> {
    let ds = connect(&src.conninfo)?;
    let only = match &src.table {
        Some(t) => format!(" WHERE relid = to_regclass({})", quote_literal(&quote_table(t))),
        None => String::new(),
    };
    let sql = format!("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::text AS v FROM pg_stat_user_tables{only}");
    let rows = query(&ds, src, &sql)?;
    Ok(rows.first().and_then(|r| text(&r[0])).unwrap_or_default())
}

/// The join's inputs: the levels, their child-first order, and the areas around the region.
pub struct JoinAreas<'a> {
    pub levels: &'a [Level],
    pub indexes: &'a [AreaIndex],
    pub order: &'a [usize],
    pub around: &'a AreaIndex,
    pub around_geometry: &'a [&'a geo_types::MultiPolygon<f64>],
    /// The working CRS's EPSG code.
    pub srid: u32,
}

/// The level whose answer a level takes (its first child level), as the in-process join.
fn child_of(levels: &[Level], li: usize) -> Option<usize> {
    (0..levels.len()).find(|&c| levels[c].parent == Some(li))
}

/// An area whose chain of parents is not complete: the in-process join looks its points
/// up by polygon at the level above, so the database sends them back raw.
fn orphan(levels: &[Level], level: usize, area: usize) -> bool {
    let (mut li, mut a) = (level, area);
    while let Some(p) = levels[li].parent {
        if child_of(levels, p) != Some(li) {
            return false;
        }
        match levels[li].parent_area.get(a).copied().flatten() {
            Some(pa) => {
                li = p;
                a = pa as usize;
            }
            None => return true,
        }
    }
    false
}

/// The areas table: made once per content (its name holds the hash), filled under a
/// temporary name and renamed when complete, so a broken upload is never used.
fn areas_table(ds: &Dataset, src: &DatabaseSource, a: &JoinAreas) -> Result<String> {
    use xxhash_rust::xxh3::Xxh3;
    let mut rows: Vec<(i32, u32, bool, Vec<u8>)> = Vec::new();
    let mut h = Xxh3::new();
    h.update(&a.srid.to_le_bytes());
    let mut add = |lvl: i32, idx: u32, orphan: bool, g: &geo_types::MultiPolygon<f64>| -> Result<()> {
        let wkb = g.to_gdal().and_then(|g| g.wkb()).map_err(|e| src.err(format!("an area cannot be written as WKB: {e}")))?;
        h.update(&lvl.to_le_bytes());
        h.update(&idx.to_le_bytes());
        h.update(&[orphan as u8]);
        h.update(&wkb);
        rows.push((lvl, idx, orphan, wkb));
        Ok(())
    };
    for (li, l) in a.levels.iter().enumerate() {
        for (ai, area) in l.areas.iter().enumerate() {
            let o = orphan(a.levels, li, ai);
            add(li as i32, ai as u32, o, &area.geometry)?;
        }
    }
    for (ai, g) in a.around_geometry.iter().enumerate() {
        add(-1, ai as u32, false, g)?;
    }
    // The layout of the table is part of its name: a new layout is a new table.
    h.update(b"pieces of 64 vertices");
    let name = format!("buurtmeter_areas_{:016x}", h.digest());
    let have = query(ds, src, &format!("SELECT (to_regclass({}) IS NOT NULL)::int AS have", quote_literal(&name)))?;
    if have.first().and_then(|r| int(&r[0])) == Some(1) {
        tracing::info!(table = %name, "areas already in the database");
        return Ok(name);
    }
    let tmp = format!("{name}_{}", std::process::id());
    let t = quote_ident(&tmp);
    exec(ds, src, &format!("DROP TABLE IF EXISTS {t}"))?;
    exec(
        ds,
        src,
        &format!(
            "CREATE TABLE {t} (lvl integer NOT NULL, idx integer NOT NULL, orphan boolean NOT NULL, geom geometry NOT NULL, bnd geometry)"
        ),
    )?;
    let mut sql = String::new();
    let flush = |sql: &mut String| -> Result<()> {
        if !sql.is_empty() {
            exec(ds, src, sql)?;
            sql.clear();
        }
        Ok(())
    };
    for (lvl, idx, orphan, wkb) in &rows {
        if sql.is_empty() {
            let _ = write!(sql, "INSERT INTO {t} (lvl, idx, orphan, geom) VALUES ");
        } else {
            sql.push(',');
        }
        let _ = write!(sql, "({lvl},{idx},{orphan},ST_GeomFromWKB('\\x");
        for b in wkb {
            let _ = write!(sql, "{b:02x}");
        }
        let _ = write!(sql, "'::bytea,{}))", a.srid);
        if sql.len() > 4 << 20 {
            flush(&mut sql)?;
        }
    }
    flush(&mut sql)?;
    // Cut into pieces of at most 64 vertices (ST_Subdivide): each test of a point looks at
    // a few dozen edges instead of a buurt's thousands, and the index is more selective.
    // A point near a cut is within 1 µm of two pieces' edges and comes back raw, so the
    // cuts never decide anything.
    let pieces = quote_ident(&format!("{tmp}_p"));
    exec(ds, src, &format!("DROP TABLE IF EXISTS {pieces}"))?;
    exec(ds, src, &format!("CREATE TABLE {pieces} AS SELECT lvl, idx, orphan, ST_Subdivide(geom, 64) AS geom FROM {t}"))?;
    exec(ds, src, &format!("DROP TABLE {t}"))?;
    exec(ds, src, &format!("ALTER TABLE {pieces} ADD bnd geometry"))?;
    exec(ds, src, &format!("UPDATE {pieces} SET bnd = ST_Boundary(geom)"))?;
    exec(ds, src, &format!("CREATE INDEX ON {pieces} USING gist (geom)"))?;
    exec(ds, src, &format!("ANALYZE {pieces}"))?;
    exec(ds, src, &format!("ALTER TABLE {pieces} RENAME TO {}", quote_ident(&name)))?;
    // A Citus cluster: the areas are a reference table (a copy on every worker).
    let citus = query(ds, src, "SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'citus'")?;
    if citus.first().and_then(|r| int(&r[0])) == Some(1) {
        exec(ds, src, &format!("SELECT create_reference_table({})", quote_literal(&name)))?;
    }
    tracing::info!(table = %name, areas = rows.len(), "areas written to the database");
    Ok(name)
}

/// What the query needs to know of the source's columns.
struct Columns {
    geometry: String,
    date: Option<String>,
    category: Option<String>,
    weight: Option<String>,
    id: Option<String>,
}

/// The source's columns, checked against the project: which is the geometry, whether
/// the named ones exist, and the SQL that turns each into what the join needs.
fn columns(ds: &Dataset, src: &DatabaseSource) -> Result<Columns> {
    let probe = format!("SELECT * FROM {} LIMIT 0", src.rows_sql());
    let rs = ds.execute_sql(&probe, None, gdal::vector::sql::Dialect::DEFAULT).map_err(|e| src.err(explain(&e.to_string())))?;
    let Some(rs) = rs else { return Err(src.err("the query returns no columns")) };
    let fields: Vec<(String, u32)> = rs.defn().fields().map(|f| (f.name(), f.field_type())).collect();
    let geoms: Vec<String> = rs.defn().geom_fields().map(|g| g.name()).collect();
    drop(rs);
    let listing = || fields.iter().map(|(n, _)| n.as_str()).chain(geoms.iter().map(String::as_str)).collect::<Vec<_>>().join(", ");
    let Some(geometry) = geoms.first().cloned() else {
        return Err(src.err(format!(
            "no PostGIS geometry column (the columns are: {}); make one in `sql` with ST_SetSRID(ST_MakePoint(x, y), 28992)",
            listing()
        )));
    };
    let find = |name: &Option<String>, what: &str| -> Result<Option<(String, u32)>> {
        let Some(n) = name else { return Ok(None) };
        fields
            .iter()
            .find(|(f, _)| f == n)
            .or_else(|| fields.iter().find(|(f, _)| f.eq_ignore_ascii_case(n)))
            .cloned()
            .map(Some)
            .ok_or_else(|| src.err(format!("{what} column '{n}' is not there; the columns are: {}", listing())))
    };
    use gdal::vector::OGRFieldType as T;
    let date = match find(&src.date, "date")? {
        None => None,
        Some((c, t)) if t == T::OFTDate => Some(format!("(src.{})::date", quote_ident(&c))),
        Some((c, t)) if t == T::OFTDateTime => {
            // A timestamp with a zone is taken to the project's zone; one without is local.
            let rows = query(ds, src, &format!("SELECT pg_typeof(src.{})::text AS t FROM {} LIMIT 1", quote_ident(&c), src.rows_sql()))?;
            let with_zone = rows.first().and_then(|r| text(&r[0])).is_some_and(|t| t.contains("with time zone"));
            Some(if with_zone {
                format!("(src.{} AT TIME ZONE {})::date", quote_ident(&c), quote_literal(&src.timezone))
            } else {
                format!("(src.{})::date", quote_ident(&c))
            })
        }
        Some((c, _)) => {
            return Err(src.err(format!(
                "date column '{c}' is text; a layer joined in the database needs a date or timestamp column: cast it in `sql` (to_date({c}, 'DD-MM-YYYY') AS {c})"
            )));
        }
    };
    let weight = match find(&src.weight, "weight")? {
        None => None,
        Some((c, T::OFTInteger | T::OFTInteger64 | T::OFTReal)) => Some(format!("(src.{})::float8", quote_ident(&c))),
        Some((c, _)) => return Err(src.err(format!("weight column '{c}' is not a number; cast it in `sql` ({c}::numeric AS {c})"))),
    };
    let category = find(&src.category, "category")?.map(|(c, _)| format!("coalesce(btrim((src.{})::text), '')", quote_ident(&c)));
    let id = find(&src.id_column, "id")?.map(|(c, _)| format!("src.{}", quote_ident(&c)));
    Ok(Columns { geometry, date, category, weight, id })
}

/// Per level, in child-first order: the SQL condition under which the level looks the
/// point up in its own polygons, as the in-process join does (a level with a child level
/// takes the child's answer, and looks up only the points the child found no area for).
fn gates(levels: &[Level], order: &[usize]) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for &li in order {
        let gate = match child_of(levels, li) {
            None => "q.bad = 0".to_string(),
            Some(c) => {
                let g = &out.iter().find(|(l, _)| *l == c).expect("child first").1;
                format!("{g} AND l{c}.n = 0")
            }
        };
        out.push((li, gate));
    }
    out
}

/// Levels at the top of their chain: no parent, or a parent that takes its answer from
/// another child level.
fn tops(levels: &[Level]) -> Vec<usize> {
    (0..levels.len()).filter(|&li| levels[li].parent.is_none_or(|p| child_of(levels, p) != Some(li))).collect()
}

/// The aggregation query (see the module documentation).
fn aggregation_sql(src: &DatabaseSource, cols: &Columns, table: &str, a: &JoinAreas, secret: Option<&[u8; 16]>) -> String {
    const EPS: &str = "1e-6";
    const M: &str = "18446744073709551616";
    let srid = a.srid;
    let t = quote_ident(table);
    let g = format!("src.{}", quote_ident(&cols.geometry));
    let key = match (secret, &cols.id) {
        (Some(s), Some(id)) => crate::indicators::ckm::record_key_sql(s, &src.layer_id, &crate::indicators::ckm::identity_sql(id)),
        _ => "0::bigint".into(),
    };
    let gates = gates(a.levels, a.order);
    let mut s = String::new();
    let _ = write!(
        s,
        "WITH p AS (SELECT CASE WHEN ST_SRID({g}) IN (0, {srid}) THEN ST_SetSRID({g}, {srid}) ELSE ST_Transform({g}, {srid}) END AS g, \
         {} AS d, {} AS c, {} AS w, {key} AS k FROM {}), ",
        cols.date.as_deref().unwrap_or("NULL::date"),
        cols.category.as_deref().unwrap_or("''::text"),
        cols.weight.as_deref().unwrap_or("1::float8"),
        src.rows_sql()
    );
    let _ = write!(
        s,
        "q AS (SELECT p.*, CASE WHEN g IS NULL THEN 1 WHEN ST_IsEmpty(g) THEN 2 WHEN GeometryType(g) <> 'POINT' THEN 3 \
         WHEN ST_X(g) IN ('NaN', 'Infinity', '-Infinity') OR ST_Y(g) IN ('NaN', 'Infinity', '-Infinity') THEN 4 ELSE 0 END AS bad FROM p), "
    );
    // Per level it looks the point up at: the areas within 1 µm, how many hold it well
    // inside (not within 1 µm of their edge), the first, and whether its parents need polygons.
    let _ = write!(s, "j AS (SELECT q.*");
    for (li, gate) in &gates {
        let _ = write!(s, ", ({gate}) AS u{li}, l{li}.n AS n{li}, l{li}.i AS i{li}, l{li}.a AS a{li}, l{li}.o AS o{li}");
    }
    let _ = write!(s, ", lz.n AS lz_n, lz.i AS lz_i FROM q");
    for (li, gate) in &gates {
        let _ = write!(
            s,
            " LEFT JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE ST_Contains(t.geom, q.g) AND NOT ST_DWithin(t.bnd, q.g, {EPS})) AS i, \
             min(t.idx) AS a, coalesce(bool_or(t.orphan), false) AS o FROM {t} t WHERE {gate} AND t.lvl = {li} AND ST_DWithin(t.geom, q.g, {EPS})) l{li} ON true"
        );
    }
    // A point in no area at all: is it in an area around the region (outside the region,
    // not outside every area)? Near such an area's edge, buurtmeter decides.
    let nowhere: Vec<String> = tops(a.levels)
        .iter()
        .map(|li| format!("({} AND l{li}.n = 0)", gates.iter().find(|(l, _)| l == li).map_or("true", |(_, g)| g.as_str())))
        .collect();
    let nowhere = if nowhere.is_empty() { "q.bad = 0".to_string() } else { nowhere.join(" AND ") };
    let _ = write!(
        s,
        " LEFT JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE ST_Contains(t.geom, q.g) AND NOT ST_DWithin(t.bnd, q.g, {EPS})) AS i \
         FROM {t} t WHERE {nowhere} AND t.lvl = -1 AND ST_DWithin(t.geom, q.g, {EPS})) lz ON true"
    );
    // Raw: a level that looked and found the point near an edge, in two areas, or in an
    // area whose parents go by polygon; or near the edge of an area around the region.
    let _ = write!(s, "), r AS (SELECT j.*, lz_i > 0 AS ar, (bad = 0 AND (lz_n > 0 AND lz_i = 0");
    for (li, _) in &gates {
        let _ = write!(s, " OR (u{li} AND n{li} > 0 AND (n{li} <> 1 OR i{li} <> 1 OR o{li}))");
    }
    let _ = write!(s, ")) AS raw FROM j) ");
    let area_exprs: Vec<String> = gates.iter().map(|(li, _)| format!("CASE WHEN u{li} AND n{li} = 1 THEN a{li} END AS a{li}")).collect();
    let area_cols: Vec<String> = gates.iter().map(|(li, _)| format!("a{li}")).collect();
    let _ = write!(
        s,
        "SELECT 0 AS raw, bad, {}, d::text AS d, c, (w IS NOT NULL AND w <> 'NaN') AS wok, count(*)::bigint AS n, \
         sum(w) FILTER (WHERE w IS NOT NULL AND w <> 'NaN') AS ws, max(abs(w)) FILTER (WHERE w IS NOT NULL AND w <> 'NaN') AS wm, \
         (((sum(k::numeric) % {M}) + {M}) % {M})::text AS ks, NULL::float8 AS x, NULL::float8 AS y, ar \
         FROM (SELECT bad, {}, d, c, w, k, ar FROM r WHERE NOT raw) s GROUP BY bad, {}, d, c, wok, ar ",
        area_cols.join(", "),
        area_exprs.join(", "),
        area_cols.join(", ")
    );
    let nulls: Vec<String> = gates.iter().map(|(li, _)| format!("NULL::integer AS a{li}")).collect();
    let _ = write!(
        s,
        "UNION ALL SELECT 1, 0, {}, d::text, c, (w IS NOT NULL AND w <> 'NaN'), 1, w, abs(w), (((k::numeric % {M}) + {M}) % {M})::text, ST_X(g), ST_Y(g), false \
         FROM r WHERE raw",
        nulls.join(", ")
    );
    s
}

/// The result of the pushed-down join: a layer whose rows are groups (and raw points)
/// and each row's area at every level, as the in-process join gives them.
pub struct Pushed {
    pub layer: PointLayer,
    pub assigned: Vec<Vec<u32>>,
    /// Per row: the sum of its records' keys (protected layers).
    pub key_sums: Option<Vec<u64>>,
}

/// Run the join in the database. `secret`: the cell-key secret of a protected layer.
pub fn join(src: &DatabaseSource, a: &JoinAreas, secret: Option<&[u8; 16]>) -> Result<Pushed> {
    let ds = connect(&src.conninfo)?;
    let postgis = query(&ds, src, "SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'postgis'")?;
    if postgis.first().and_then(|r| int(&r[0])) != Some(1) {
        return Err(src.err("PostGIS is not installed in this database: run CREATE EXTENSION postgis (as its owner)"));
    }
    let cols = columns(&ds, src)?;
    let table = areas_table(&ds, src, a)?;
    let sql = aggregation_sql(src, &cols, &table, a, secret);
    tracing::debug!(%sql, "pushed-down join");
    let started = std::time::Instant::now();
    let rows = query(&ds, src, &sql)?;
    tracing::info!(rows = rows.len(), seconds = started.elapsed().as_secs_f64(), "pushed-down join: aggregates received");
    Ok(assemble(src, a, &rows, secret.is_some(), cols.weight.is_some(), cols.date.is_some(), cols.category.is_some()))
}

/// The rows of the aggregation query into a layer, and the areas of its rows.
#[allow(clippy::too_many_arguments)]
fn assemble(
    src: &DatabaseSource,
    a: &JoinAreas,
    rows: &[Vec<Option<FieldValue>>],
    protected: bool,
    weighted: bool,
    dated: bool,
    categorised: bool,
) -> Pushed {
    // Column positions: raw, bad, one area per level (in child-first order), d, c, wok,
    // n, ws, wm, ks, x, y, ar (in an area around the region).
    let nl = a.order.len();
    let (c_d, c_c, c_wok, c_n, c_ws, c_wm, c_ks, c_x, c_y) = (2 + nl, 3 + nl, 4 + nl, 5 + nl, 6 + nl, 7 + nl, 8 + nl, 9 + nl, 10 + nl);
    let c_ar = 11 + nl;
    let mut around_rows: Vec<bool> = Vec::new();
    let mut layer = PointLayer { id: src.layer_id.clone(), ..Default::default() };
    let mut acc = Accounting::default();
    let mut cat_lookup = CategoryIndex::default();
    let (mut dates, mut cats, mut weights, mut records, mut largest, mut keys) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut own_area: Vec<Vec<u32>> = vec![Vec::new(); nl];
    let mut raw_rows: Vec<usize> = Vec::new();
    for r in rows {
        let n = int(&r[c_n]).unwrap_or(0).max(0) as u64;
        acc.rows += n;
        let bad = int(&r[1]).unwrap_or(0);
        if bad != 0 {
            let reason = match bad {
                1 => RejectReason::NoGeometry,
                2 => RejectReason::MissingCoordinate,
                3 => RejectReason::NotAPoint,
                _ => RejectReason::NotFinite,
            };
            *acc.rejected.entry(reason).or_insert(0) += n;
            continue;
        }
        let wok = truthy(&r[c_wok]);
        if weighted && !wok {
            *acc.field_issues.entry(crate::model::FieldIssue::WeightEmpty).or_insert(0) += n;
        }
        let i = layer.xs.len();
        let is_raw = int(&r[0]) == Some(1);
        if is_raw {
            raw_rows.push(i);
        }
        layer.xs.push(if is_raw { real(&r[c_x]).unwrap_or(f64::NAN) } else { f64::NAN });
        layer.ys.push(if is_raw { real(&r[c_y]).unwrap_or(f64::NAN) } else { f64::NAN });
        layer.rows.push(i as u64 + 1);
        for (k, col) in own_area.iter_mut().enumerate() {
            col.push(if is_raw { NONE } else { int(&r[2 + k]).map_or(NONE, |x| x as u32) });
        }
        dates.push(text(&r[c_d]).and_then(|t| parse_iso_date(&t)));
        cats.push(cat_lookup.index(&text(&r[c_c]).unwrap_or_default(), &mut layer.categories));
        weights.push(if wok { real(&r[c_ws]).unwrap_or(0.0) } else { f64::NAN });
        records.push(n);
        largest.push(if wok { real(&r[c_wm]).unwrap_or(0.0) } else { 0.0 });
        keys.push(text(&r[c_ks]).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0));
        around_rows.push(truthy(&r[c_ar]));
    }
    layer.dates = dated.then_some(dates);
    layer.category_idx = categorised.then_some(cats);
    layer.weights = weighted.then_some(weights);
    layer.groups = Some(Groups { records, largest });
    // Every row's area at every level, as the in-process join gives it: the child level's
    // answer taken up the hierarchy, else the level's own lookup; raw points by the
    // in-process join itself.
    let levels = a.levels;
    let mut assigned: Vec<Vec<u32>> = vec![Vec::new(); levels.len()];
    for (k, &li) in a.order.iter().enumerate() {
        let own = &own_area[k];
        assigned[li] = match child_of(levels, li) {
            None => own.clone(),
            Some(c) => assigned[c]
                .iter()
                .zip(own)
                .map(|(&x, &o)| if x == NONE { o } else { levels[c].parent_area[x as usize].unwrap_or(o) })
                .collect(),
        };
    }
    if !raw_rows.is_empty() {
        let raw = PointLayer {
            xs: raw_rows.iter().map(|&i| layer.xs[i]).collect(),
            ys: raw_rows.iter().map(|&i| layer.ys[i]).collect(),
            ..Default::default()
        };
        let (raw_assigned, overlaps) = super::join_hierarchy(levels, a.indexes, a.order, &raw);
        for (li, col) in raw_assigned.iter().enumerate() {
            for (k, &i) in raw_rows.iter().enumerate() {
                assigned[li][i] = col[k];
            }
        }
        acc.warnings.extend(super::overlap_warnings(levels, &src.layer_id, &overlaps));
    }
    // Accounting in records: joined = in some area at some level.
    let n_rows = layer.xs.len();
    let recs = layer.groups.as_ref().map(|g| g.records.as_slice()).unwrap_or_default();
    for i in 0..n_rows {
        if assigned.iter().any(|col| col[i] != NONE) {
            acc.joined += recs[i];
        } else {
            acc.outside += recs[i];
            if around_rows[i] || (!layer.xs[i].is_nan() && a.around.locate(layer.xs[i], layer.ys[i]).is_some()) {
                acc.outside_region += recs[i];
            }
        }
    }
    acc.notes.push(format!(
        "joined in the database ({}): {} rows of aggregates, {} points decided by buurtmeter",
        src.conninfo,
        n_rows,
        raw_rows.len()
    ));
    layer.accounting = acc;
    Pushed { layer, assigned, key_sums: protected.then_some(keys) }
}

/// A boolean as GDAL reads it from PostgreSQL (an integer 0/1, or `t`/`f` as text).
fn truthy(v: &Option<FieldValue>) -> bool {
    match v {
        Some(FieldValue::StringValue(s)) => s.starts_with('t') || s == "1",
        other => int(other).is_some_and(|x| x != 0),
    }
}

fn parse_iso_date(t: &str) -> Option<Date> {
    let mut it = t.trim().splitn(3, '-');
    let year = it.next()?.parse().ok()?;
    let month = it.next()?.parse().ok()?;
    let day = it.next()?.get(..2)?.parse().ok()?;
    Some(Date { year, month, day })
}
