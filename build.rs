//! Embeds MapLibre GL JS (installed from npm into web/node_modules by `.ci/setup`) so the
//! web map works offline, from the binary alone. Without it, a stub tells the user what
//! to run.

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    let dist = Path::new("web/node_modules/maplibre-gl/dist");
    println!("cargo:rerun-if-changed=web/node_modules/maplibre-gl/package.json");
    println!("cargo:rerun-if-changed=build.rs");
    for (file, stub) in [
        (
            "maplibre-gl.js",
            "document.addEventListener('DOMContentLoaded',function(){document.body.innerHTML='<p style=\"padding:2rem\">MapLibre GL JS is not installed: run <code>sh .ci/setup</code> (npm install in web/) and rebuild.</p>';});",
        ),
        ("maplibre-gl.css", ""),
    ] {
        let src = dist.join(file);
        let dst = Path::new(&out).join(file);
        if src.exists() {
            std::fs::copy(&src, &dst).expect("copy MapLibre");
        } else {
            println!("cargo:warning=web/node_modules/maplibre-gl is missing: the web map will ask for `sh .ci/setup`");
            std::fs::write(&dst, stub).expect("write stub");
        }
    }
}
