//! The command line (clap derive): what each subcommand takes. The flags of `count`
//! are a contract other tooling relies on.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "buurtmeter",
    version,
    about = "Neighbourhood indicators from CBS boundaries, CBS statistics and your own point registers",
    long_about = "buurtmeter joins municipal point registers (vacant buildings, flood reports, any CSV, \
GeoPackage, GeoJSON or Shapefile with points) to CBS buurten, wijken and gemeenten (or any polygon \
layer), and computes indicators per area: counts, per 1,000 inhabitants, per km² of land, share of the \
housing stock, per year, quarter or month.\n\n\
Every input row is accounted for: joined to an area, outside all areas, or rejected with a reason.\n\n\
Without --project, the built-in demo project (a synthetic municipality) is used.",
    after_help = "Examples:\n  \
buurtmeter serve                                  web server on the demo project\n  \
buurtmeter count --areas wijkenbuurten_2024.gpkg --areas-layer buurten --points meldingen.csv --x x --y y\n  \
buurtmeter compute --project mijnproject.toml --out resultaten/\n  \
buurtmeter check --project mijnproject.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output (-v info, -vv debug); or set RUST_LOG.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Count points in polygons (like QGIS "Count points in polygon"), with full accounting.
    Count(Box<CountArgs>),
    /// Compute every indicator of a project and write CSV tables and a GeoPackage.
    Compute(ComputeArgs),
    /// Read everything, print the accounting of every point layer and every warning.
    Check(ProjectArgs),
    /// Serve the web map, vector tiles, OGC API – Features, styles and indicators over HTTP.
    #[command(after_help = "Secrets, from the environment (never in the project file):\n  \
        BUURTMETER_API_KEYS_FILE  one SHA-256 per line of the API keys that open restricted layers,\n                            \
        optionally with a role: protected (default) or exact[:layer,...]\n  \
        BUURTMETER_ADMIN_TOKEN    opens POST /admin/reload and the details on /health\n  \
        BUURTMETER_SDC_SECRET     the secret behind the cell-key record keys of protected layers\n                            \
        (default: one per installation in ~/.config/buurtmeter; replicas must share it)")]
    Serve(ServeArgs),
    /// Write every level with its indicators: GeoPackage (QGIS styles embedded), CSV, GeoJSON, FlatGeobuf, styles.
    Export(ExportArgs),
    /// Conversion table between two editions of boundaries (CBS redraws buurten and wijken
    /// almost every year): the share of each old area that went to each new area, weighted
    /// by population points (the CBS 100 m grid) or by area; converts counts too.
    #[command(after_help = "Example (wijken 2022 → 2024, weighted by the CBS 100 m grid's inhabitants):\n  \
buurtmeter crosswalk --from wijken_2022.gpkg --from-layer wijken --from-id code \\\n    \
--to wijkenbuurten_2024.gpkg --to-layer wijken --to-within GM0599,GM0489 \\\n    \
--weights wijkenbuurten_2024.gpkg --weights-layer vierkant_100m --weight aantal_inwoners \\\n    \
--values population --out crosswalk.csv --converted inwoners_2024.csv")]
    Crosswalk(Box<CrosswalkArgs>),
    /// The area profile as a PDF to hand to a council (A4: map, every indicator compared
    /// with the wijk, the gemeente and all areas, trends, sources), printed with headless
    /// Chromium; the same page as /areas/{level}/{code} in the web server.
    #[command(after_help = "Examples:\n  \
buurtmeter report --project examples/heerlen.toml --level buurten --area BU09171000 --out profiel.pdf\n  \
buurtmeter report --project examples/heerlen.toml --level wijken --all --out profielen/\n\n\
Needs Chromium (Debian/Ubuntu: sudo apt-get install chromium); or set BUURTMETER_CHROMIUM to its path.")]
    Report(ReportArgs),
    /// A ready project for your gemeente(n) from the official sources: the buurten, wijken
    /// and gemeente from PDOK (CBS Wijk- en Buurtkaart) and the Kerncijfers wijken en
    /// buurten from CBS, with indicators. Downloads are cached; a second run works offline.
    #[command(after_help = "Example:\n  \
buurtmeter init --gemeente GM0917 && buurtmeter serve --project buurtmeter-GM0917/project.toml\n\n\
Sources (for a mirror or proxy): BUURTMETER_CBS_ODATA_URL (default https://opendata.cbs.nl/ODataApi/odata),\n\
BUURTMETER_PDOK_URL (default https://api.pdok.nl). Cache: $XDG_CACHE_HOME/buurtmeter/sources (~/.cache/...).")]
    Init(InitArgs),
    /// The public part of a project as plain files for any web space or bucket that answers
    /// HTTP Range requests: PMTiles per level, styles, the web map, CSV downloads and
    /// metadata, with no server to run. Restricted layers are never written.
    #[command(after_help = "Example:\n  \
buurtmeter publish --project examples/heerlen.toml --out site/\n  \
then copy site/ to the bucket or web space as it is (index.json last) and open index.html there.\n\n\
File names carry the data version: a new publication adds files beside the old ones, so a reader\n\
halfway through the old one is not disturbed; delete older versions when nobody reads them.")]
    Publish(PublishArgs),
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The folder to write the site into (created when missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The lowest zoom in the archives. Default: 0.
    #[arg(long, value_name = "N")]
    pub minzoom: Option<u8>,
    /// The highest zoom in the archives. Default: each tileset's own (as its TileJSON says);
    /// maps overzoom beyond it.
    #[arg(long, value_name = "N")]
    pub maxzoom: Option<u8>,
    /// The URL the site will be read at (https://kaart.example.nl/buurtmeter): the styles'
    /// pmtiles:// sources become absolute (for QGIS and other maps); relative otherwise.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The gemeente's CBS code (GM0917); repeat for several gemeenten in one region.
    #[arg(long = "gemeente", value_name = "GMnnnn", required = true)]
    pub gemeenten: Vec<String>,
    /// The year of the boundaries and the Kerncijfers (2017-2025).
    #[arg(long, default_value_t = 2024, value_name = "YEAR")]
    pub year: u16,
    /// The folder to write the project into. Default: buurtmeter-GM0917.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Download again even when the cache has the data.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The level of the area(s): buurten, wijken, gemeenten or any level id.
    #[arg(long, value_name = "LEVEL")]
    pub level: String,
    /// The area's code (BU09171000).
    #[arg(long, value_name = "CODE", required_unless_present = "all", conflicts_with = "all")]
    pub area: Option<String>,
    /// Every area of the level, one PDF each, into the folder --out.
    #[arg(long)]
    pub all: bool,
    /// A period where the indicators have it (2023, 2024-Q1); the latest otherwise.
    #[arg(long, value_name = "PERIOD")]
    pub period: Option<String>,
    /// The PDF to write (--area), or the folder (--all).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// The language of the profile: nl (Nederlands), de (Deutsch) or en (English).
    #[arg(long, value_name = "LANG", default_value = "nl", value_parser = ["nl", "de", "en"])]
    pub lang: String,
}

#[derive(Debug, Args)]
pub struct CrosswalkArgs {
    /// The old boundaries (any polygon file GDAL reads).
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
    #[arg(long, value_name = "NAME")]
    pub from_layer: Option<String>,
    /// The old areas' id field; detected for CBS files.
    #[arg(long, value_name = "FIELD")]
    pub from_id: Option<String>,
    /// The new boundaries.
    #[arg(long, value_name = "PATH")]
    pub to: PathBuf,
    #[arg(long, value_name = "NAME")]
    pub to_layer: Option<String>,
    #[arg(long, value_name = "FIELD")]
    pub to_id: Option<String>,
    /// Keep only these new areas (CBS codes nest: GM0599 keeps its wijken); the old areas
    /// kept are those whose interior point lies in a kept new area.
    #[arg(long, value_name = "CODE,...", value_delimiter = ',')]
    pub to_within: Vec<String>,
    /// Points that say where people or addresses are (the CBS 100 m grid, BAG): shares
    /// by their weight instead of by area.
    #[arg(long, value_name = "PATH", requires = "weight")]
    pub weights: Option<PathBuf>,
    #[arg(long, value_name = "NAME")]
    pub weights_layer: Option<String>,
    /// The weight field of --weights (aantal_inwoners); points with no weight count 0.
    #[arg(long, value_name = "FIELD")]
    pub weight: Option<String>,
    /// Counts or sums of the old areas to convert (their own fields), comma-separated.
    /// Never rates or averages: recompute those from converted counts.
    #[arg(long, value_name = "FIELD,...", value_delimiter = ',')]
    pub values: Vec<String>,
    /// Write the crosswalk here (CSV: from_code,to_code,share,method,intersection_m2,weight).
    #[arg(long, value_name = "FILE.csv")]
    pub out: PathBuf,
    /// Write the converted --values here (CSV: code,field,value,converted,sources).
    #[arg(long, value_name = "FILE.csv", requires = "values")]
    pub converted: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// GeoPackage with every level, its indicators and a QGIS style per indicator (layer_styles).
    #[arg(long, value_name = "FILE")]
    pub gpkg: Option<PathBuf>,
    /// Directory for one CSV per level (long format: indicator, area, period, value).
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// Write the CSVs the way Dutch Excel opens them: ';' between fields, decimal comma.
    #[arg(long, requires = "csv")]
    pub excel_nl: bool,
    /// Directory for one GeoJSON (CRS84) per level with the latest indicator values.
    #[arg(long, value_name = "DIR")]
    pub geojson: Option<PathBuf>,
    /// Directory for a MapLibre style (.json) and a QGIS style (.qml) per indicator.
    #[arg(long, value_name = "DIR")]
    pub styles: Option<PathBuf>,
    /// Directory for one FlatGeobuf (EPSG:4326, with its spatial index) per level with the
    /// latest indicator values: the OGC API's features as a file for QGIS and GDAL.
    #[arg(long, value_name = "DIR")]
    pub fgb: Option<PathBuf>,
    /// Also write the indicators of restricted point layers (left out by default: a file
    /// cannot check an API key).
    #[arg(long)]
    pub include_restricted: bool,
    /// Base URL written into the MapLibre styles' tile sources.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub base_url: String,
}

#[derive(Debug, Args)]
pub struct ProjectArgs {
    /// The project file (TOML). Default: the built-in demo project.
    #[arg(long, env = "BUURTMETER_PROJECT", value_name = "FILE")]
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ComputeArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Directory for the output (created when missing).
    #[arg(long, default_value = "out", value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Address and port to listen on.
    #[arg(long, env = "BUURTMETER_BIND", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub bind: SocketAddr,
    /// The URL clients use to reach the server (behind a proxy); taken from each request otherwise.
    #[arg(long, env = "BUURTMETER_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Take the host and scheme for links from X-Forwarded-Host/-Proto (only behind a
    /// proxy that sets them; ignored otherwise, and when --public-url is given).
    #[arg(long, env = "BUURTMETER_TRUST_FORWARDED_HEADERS")]
    pub trust_forwarded_headers: bool,
    /// Upper bound of the in-memory tile cache, in MB.
    #[arg(long, env = "BUURTMETER_TILE_CACHE_MB", default_value_t = 256, value_name = "MB")]
    pub tile_cache_mb: u64,
    /// Seconds between checks of the input files for changes (hot reload); 0 = never.
    /// SIGHUP and POST /admin/reload (with BUURTMETER_ADMIN_TOKEN) always reload.
    #[arg(long, env = "BUURTMETER_WATCH_SECONDS", default_value_t = 2.0, value_name = "S")]
    pub watch_seconds: f64,
    /// Analyses (weights, hot spots, trends) computed at the same time, at most; more
    /// requests wait briefly, then get 503 with Retry-After. Default: half the cores.
    #[arg(long, env = "BUURTMETER_ANALYSIS_WORKERS", value_name = "N")]
    pub analysis_workers: Option<usize>,
}

#[derive(Debug, Args)]
pub struct CountArgs {
    /// The polygons: any vector file GDAL reads (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, ...).
    #[arg(long, value_name = "PATH")]
    pub areas: PathBuf,
    /// The layer in the areas file (needed when it has more than one).
    #[arg(long, value_name = "NAME")]
    pub areas_layer: Option<String>,
    /// The field with the area id; detected for CBS files (buurtcode, BU_CODE, ...).
    #[arg(long, value_name = "FIELD")]
    pub id_field: Option<String>,
    /// The points: CSV, a spreadsheet (.xlsx, .xls, .ods), or any vector file GDAL reads.
    #[arg(long, value_name = "PATH")]
    pub points: PathBuf,
    /// The layer (or the spreadsheet's sheet) in the points file (needed when it has more than one).
    #[arg(long, value_name = "NAME")]
    pub points_layer: Option<String>,
    /// Column with x (in --crs; RD New by default).
    #[arg(long, value_name = "FIELD", requires = "y", conflicts_with_all = ["lon", "lat"])]
    pub x: Option<String>,
    /// Column with y (in --crs; RD New by default).
    #[arg(long, value_name = "FIELD", requires = "x")]
    pub y: Option<String>,
    /// CRS of --x/--y, e.g. EPSG:28992 (default) or EPSG:25832.
    #[arg(long, value_name = "EPSG:N")]
    pub crs: Option<String>,
    /// Column with WGS84 longitude.
    #[arg(long, value_name = "FIELD", requires = "lat")]
    pub lon: Option<String>,
    /// Column with WGS84 latitude.
    #[arg(long, value_name = "FIELD", requires = "lon")]
    pub lat: Option<String>,
    /// One column with the location as text: WKT `POINT(x y)`, EWKT `SRID=28992;POINT(x y)`
    /// or `x y` (detected by name: Coördinaten, geometrie, wkt, locatie, ...).
    #[arg(long, value_name = "FIELD", conflicts_with_all = ["x", "lon"])]
    pub geometry: Option<String>,
    /// Spreadsheets: the row with the column names (1-based); found when not given.
    #[arg(long, value_name = "N")]
    pub header_row: Option<u32>,
    /// A BAG address file (PDOK's GeoPackage of verblijfsobjecten): rows with postcode +
    /// huisnummer (or a BAG id) and no coordinates get the point of that address.
    #[arg(long, value_name = "PATH")]
    pub addresses: Option<std::path::PathBuf>,
    /// The layer of the --addresses file (when it has several).
    #[arg(long, value_name = "NAME", requires = "addresses")]
    pub addresses_layer: Option<String>,
    /// Write every rejected and partly used row (with its fields, the reason and what to
    /// do) to this CSV file, to hand back to whoever made the input.
    #[arg(long, value_name = "FILE.csv")]
    pub rejected: Option<std::path::PathBuf>,
    /// Column with a weight to sum per area (adds the weight_sum column).
    #[arg(long, value_name = "FIELD")]
    pub weight: Option<String>,
    /// Write the counts here (CSV: area_id,count[,weight_sum]); stdout when not given.
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
    /// Write the accounting (rows, joined, outside, rejected per reason) as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub summary: Option<PathBuf>,
}
