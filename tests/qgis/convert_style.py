"""Converts buurtmeter's MapLibre styles with QGIS's own converter (QgsMapBoxGlStyleConverter,
what QGIS uses for a vector tile layer's style URL) and prints, per file, one JSON line:
the converter's result, its warnings and the number of renderer styles it produced.
Usage: python3 tests/qgis/convert_style.py STYLE.json...   (Debian's python3-qgis)"""
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import QgsApplication, QgsMapBoxGlStyleConversionContext, QgsMapBoxGlStyleConverter  # noqa: E402

app = QgsApplication([], False)
app.initQgis()
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        style = json.load(f)
    conv = QgsMapBoxGlStyleConverter()
    ctx = QgsMapBoxGlStyleConversionContext()
    result = conv.convert(style, ctx)
    renderer = conv.renderer()
    styles = renderer.styles() if renderer else []
    fills = [s for s in styles if s.symbol() is not None and s.symbol().type() == 2]
    print(json.dumps({
        "file": path,
        "result": int(result),
        "error": conv.errorMessage(),
        "warnings": list(conv.warnings()) + list(ctx.warnings()),
        "styles": len(styles),
        "fill_styles": len(fills),
        "data_defined_fill_colour": sum(1 for s in fills if s.symbol().symbolLayer(0).dataDefinedProperties().hasActiveProperties()),
    }))
app.exitQgis()
