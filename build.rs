//! Embeds MapLibre GL JS, uPlot (the time-series charts) and the pmtiles protocol (the
//! published site's map), installed from npm into
//! web/node_modules by `.ci/setup`, so the web map works offline, from the binary alone.
//! Without them, a stub tells the user what to run.

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    println!("cargo:rerun-if-changed=web/node_modules/maplibre-gl/package.json");
    println!("cargo:rerun-if-changed=web/node_modules/uplot/package.json");
    println!("cargo:rerun-if-changed=web/node_modules/pmtiles/package.json");
    println!("cargo:rerun-if-changed=build.rs");
    for (package, file, stub) in [
        (
            "maplibre-gl",
            "maplibre-gl.js",
            "document.addEventListener('DOMContentLoaded',function(){document.body.innerHTML='<p style=\"padding:2rem\">MapLibre GL JS is not installed: run <code>sh .ci/setup</code> (npm install in web/) and rebuild.</p>';});",
        ),
        ("maplibre-gl", "maplibre-gl.css", ""),
        // Without uPlot the map works; the details panel shows the series as a table.
        ("uplot", "uPlot.iife.min.js", ""),
        ("uplot", "uPlot.min.css", ""),
        // The pmtiles protocol, for the map of a published site (`buurtmeter publish`).
        (
            "pmtiles",
            "pmtiles.js",
            "console.error('the pmtiles protocol is not installed: run sh .ci/setup (npm install in web/) and rebuild');",
        ),
    ] {
        let src = Path::new("web/node_modules").join(package).join("dist").join(file);
        let dst = Path::new(&out).join(file);
        if src.exists() {
            std::fs::copy(&src, &dst).expect("copy MapLibre");
        } else {
            println!("cargo:warning=web/node_modules/{package} is missing: run `sh .ci/setup`");
            std::fs::write(&dst, stub).expect("write stub");
        }
    }
}
